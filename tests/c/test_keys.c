/* client.keys from C: one line, a whole buffer with line numbers, formatting a record. */
#include "testsupport.h"
#include "vectors.h"

static void vector_lines(void) {
    for (size_t i = 0; i < KEYS_LINE_CASES_LEN; i++) {
        const struct keys_line_case *c = &KEYS_LINE_CASES[i];
        ak_line line;
        CHECK_CODE(ak_keys_parse_line(c->line, c->line_len, &line), AK_OK);
        CHECK(line.kind == c->kind);
        if (line.kind == AK_LINE_AGENT) {
            CHECK(str_eq(line.record.id, c->id, c->id_len));
            CHECK(str_eq(line.record.name, c->name, c->name_len));
            CHECK(str_eq(line.record.ip, c->ip, c->ip_len));
            CHECK(str_eq(line.record.key, c->key, c->key_len));
            /* Formatting the record gives back the line. */
            char out[400];
            size_t n;
            CHECK_CODE(ak_record_format(&line.record, out, sizeof out, &n, NULL), AK_OK);
            CHECK(cstr_eq(out, c->line, c->line_len));
        } else if (line.kind == AK_LINE_REMOVED) {
            CHECK(str_eq(line.record.id, c->id, c->id_len));
            CHECK(str_eq(line.text, c->line, c->line_len));
            /* The loose fields are slices of the line, the name after its marker. */
            CHECK(line.record.name.ptr == line.text.ptr + c->id_len + 2);
        } else if (line.kind == AK_LINE_INVALID) {
            CHECK(line.error.code != AK_OK);
        }
    }
}

static void whole_buffer(void) {
    const char *file = "001 a1 any k1\r\n"
                       "# comment\n"
                       "\n"
                       "002 !gone any k2\n"
                       "003 bad 10.0.0.300 k3\n"
                       "004 a4 10.1.1.0/24 k4";
    const unsigned expected_kind[] = {AK_LINE_AGENT, AK_LINE_COMMENT, AK_LINE_INVALID, AK_LINE_REMOVED, AK_LINE_INVALID, AK_LINE_AGENT};
    ak_keys_iter it;
    ak_line line;
    unsigned count = 0;
    CHECK_CODE(ak_keys_iter_init(&it, file, strlen(file)), AK_OK);
    while (ak_keys_iter_next(&it, &line) == AK_OK) {
        CHECK(count < 6);
        if (count >= 6) {
            break;
        }
        CHECK(line.number == count + 1);
        CHECK(line.kind == expected_kind[count]);
        count++;
    }
    CHECK(count == 6);
    CHECK_CODE(ak_keys_iter_next(&it, &line), AK_END);

    /* The invalid lines report their line number and why. */
    CHECK_CODE(ak_keys_iter_init(&it, file, strlen(file)), AK_OK);
    for (int i = 0; i < 5; i++) {
        ak_keys_iter_next(&it, &line);
    }
    CHECK(line.kind == AK_LINE_INVALID && line.error.code == AK_INVALID_ADDR);
    CHECK(line.error.line == 5 && line.error.field == AK_FIELD_IP && line.error.offset == 8);
    /* \r before \n is not part of the key. */
    CHECK_CODE(ak_keys_iter_init(&it, file, strlen(file)), AK_OK);
    ak_keys_iter_next(&it, &line);
    CHECK(str_eq(line.record.key, "k1", 2));

    /* An empty buffer has no lines; a trailing newline adds none. */
    CHECK_CODE(ak_keys_iter_init(&it, NULL, 0), AK_OK);
    CHECK_CODE(ak_keys_iter_next(&it, &line), AK_END);
    CHECK_CODE(ak_keys_iter_init(&it, "001 a1 any k\n", 13), AK_OK);
    CHECK_CODE(ak_keys_iter_next(&it, &line), AK_OK);
    CHECK_CODE(ak_keys_iter_next(&it, &line), AK_END);
}

static void formatting(void) {
    ak_record rec = {cs("001"), cs("web-01"), cs("10.0.0.0/255.0.0.0"), cs("TopSecret")};
    char out[400];
    size_t n;
    CHECK_CODE(ak_record_format(&rec, out, sizeof out, &n, NULL), AK_OK);
    CHECK(strcmp(out, "001 web-01 10.0.0.0/8 TopSecret") == 0 && n == strlen(out));

    /* Too small: untouched, size reported. */
    memset(out, 'X', 10);
    CHECK_CODE(ak_record_format(&rec, out, 10, &n, NULL), AK_BUFFER_TOO_SMALL);
    CHECK(n == strlen("001 web-01 10.0.0.0/8 TopSecret") + 1 && out[0] == 'X');

    ak_error err;
    ak_record bad = {cs("001"), cs("web 01"), cs("any"), cs("k")};
    CHECK_CODE(ak_record_format(&bad, out, sizeof out, &n, &err), AK_INVALID_NAME);
    CHECK(err.field == AK_FIELD_NAME && err.offset == 3);
    ak_record missing = {cs("001"), cs("web"), mkstr(NULL, 0), cs("k")};
    CHECK_CODE(ak_record_format(&missing, out, sizeof out, &n, &err), AK_MISSING_FIELD);
    CHECK(err.field == AK_FIELD_IP);
    CHECK_CODE(ak_record_format(NULL, out, sizeof out, &n, &err), AK_NULL_PARAMETER);
}

static void hostile(void) {
    ak_line line;
    CHECK_CODE(ak_keys_parse_line(NULL, 3, &line), AK_NULL_PARAMETER);
    CHECK_CODE(ak_keys_parse_line("001 a any k", 11, NULL), AK_NULL_PARAMETER);
    CHECK_CODE(ak_keys_parse_line("001 \xff\xfe any k", 11, &line), AK_OK);
    CHECK(line.kind == AK_LINE_INVALID && line.error.code == AK_INVALID_NAME);
    char *big = filled(70 * 1024, 'a');
    big[3] = ' ';
    big[10] = ' ';
    big[14] = ' ';
    memcpy(big + 11, "any", 3);
    CHECK_CODE(ak_keys_parse_line(big, 70 * 1024, &line), AK_OK);
    CHECK(line.kind == AK_LINE_INVALID);
    ak_keys_iter it;
    CHECK_CODE(ak_keys_iter_init(&it, big, 70 * 1024), AK_OK);
    CHECK_CODE(ak_keys_iter_next(&it, &line), AK_OK);
    CHECK_CODE(ak_keys_iter_next(&it, &line), AK_END);
    free(big);
}

int main(void) {
    vector_lines();
    whole_buffer();
    formatting();
    hostile();
    return finish("test_keys");
}

/* Key-poll answers from C: parsing scripts' JSON, decoding messages, writing answers. */
#include "testsupport.h"
#include "vectors.h"

static void vectors(void) {
    for (size_t i = 0; i < KEYPOLL_CASES_LEN; i++) {
        const struct keypoll_case *c = &KEYPOLL_CASES[i];
        ak_keypoll_answer a;
        ak_error err;
        ak_result r = ak_keypoll_parse(c->output, c->output_len, &a, &err);
        if (c->ok) {
            char line[512];
            CHECK_CODE(r, AK_OK);
            CHECK(a.kind == AK_KEYPOLL_FOUND);
            snprintf(line, sizeof line, "%s %s %s %s", a.record.id, a.record.name, a.record.ip, a.record.key);
            CHECK(cstr_eq(line, c->record, c->record_len));
        } else if (c->has_script_error) {
            char msg[256];
            size_t n;
            CHECK_CODE(r, AK_OK);
            CHECK(a.kind == AK_KEYPOLL_REFUSED && a.code == c->code);
            CHECK_CODE(ak_keypoll_message(&a, msg, sizeof msg, &n), AK_OK);
            CHECK(cstr_eq(msg, c->message, c->message_len));
        } else {
            CHECK(r != AK_OK && err.code == r);
        }
    }
}

static void details(void) {
    ak_keypoll_answer a;
    ak_error err;
    const char *no_key = "{\"error\":0,\"data\":{\"id\":\"001\",\"name\":\"ab\",\"ip\":\"any\"}}";
    CHECK_CODE(ak_keypoll_parse(no_key, strlen(no_key), &a, &err), AK_MISSING_MEMBER);
    CHECK(err.field == AK_FIELD_KEY);
    const char *escaped = "{\"error\":7,\"message\":\"caf\\u00e9 \\\"x\\\"\"}";
    CHECK_CODE(ak_keypoll_parse(escaped, strlen(escaped), &a, &err), AK_OK);
    char msg[64];
    size_t n;
    CHECK_CODE(ak_keypoll_message(&a, msg, sizeof msg, &n), AK_OK);
    CHECK(strcmp(msg, "caf\xc3\xa9 \"x\"") == 0);
    CHECK_CODE(ak_keypoll_message(&a, msg, 3, &n), AK_BUFFER_TOO_SMALL);
    CHECK(n == strlen("caf\xc3\xa9 \"x\"") + 1);
    const char *php = "{\"error\":0,\"data\":{\"id\":\"0042\",\"name\":\"ab\",\"ip\":\"10.0.0.0\\/24\",\"key\":\"k\"}} trailing";
    CHECK_CODE(ak_keypoll_parse(php, strlen(php), &a, &err), AK_OK);
    CHECK(strcmp(a.record.ip, "10.0.0.0/24") == 0 && strcmp(a.record.id, "0042") == 0);
}

static void formatting(void) {
    ak_record rec = {cs("001"), cs("web"), cs("any"), cs("k\"1\\")};
    char out[512];
    size_t n;
    CHECK_CODE(ak_keypoll_format_success(&rec, out, sizeof out, &n, NULL), AK_OK);
    CHECK(strcmp(out, "{\"error\":0,\"data\":{\"id\":\"001\",\"name\":\"web\",\"ip\":\"any\",\"key\":\"k\\\"1\\\\\"}}") == 0);
    ak_keypoll_answer a;
    CHECK_CODE(ak_keypoll_parse(out, n, &a, NULL), AK_OK);
    CHECK(strcmp(a.record.key, "k\"1\\") == 0);
    CHECK_CODE(ak_keypoll_format_error(4, "No \"agent\"\n", 11, out, sizeof out, &n), AK_OK);
    CHECK(strcmp(out, "{\"error\":4,\"message\":\"No \\\"agent\\\"\\n\"}") == 0);
    CHECK_CODE(ak_keypoll_format_error(0, "x", 1, out, sizeof out, &n), AK_INVALID_ERROR_CODE);
    CHECK_CODE(ak_keypoll_format_error(1, "\xff", 1, out, sizeof out, &n), AK_INVALID_UTF8);
    /* A 1- or 2-digit ID is a valid agent ID but not a valid script answer: the encoder refuses to
     * write one (as in Rust and Python), and the parser refuses one written by hand. */
    ak_error err;
    ak_record bad = {cs("42"), cs("web"), cs("any"), cs("k")};
    CHECK_CODE(ak_keypoll_format_success(&bad, out, sizeof out, &n, &err), AK_SCRIPT_ID_TOO_SHORT);
    CHECK(err.field == AK_FIELD_ID);
    ak_record one = {cs("7"), cs("web"), cs("any"), cs("k")};
    CHECK_CODE(ak_keypoll_format_success(&one, out, sizeof out, &n, NULL), AK_SCRIPT_ID_TOO_SHORT);
    const char *by_hand = "{\"error\":0,\"data\":{\"id\":\"42\",\"name\":\"web\",\"ip\":\"any\",\"key\":\"k\"}}";
    CHECK_CODE(ak_keypoll_parse(by_hand, strlen(by_hand), &a, &err), AK_SCRIPT_ID_TOO_SHORT);
}

static void hostile(void) {
    ak_keypoll_answer a;
    ak_error err;
    size_t len = 70 * 1024;
    char *deep = filled(len, '[');
    CHECK_CODE(ak_keypoll_parse(deep, len, &a, &err), AK_INVALID_JSON);
    memcpy(deep, "{\"x\":", 5);
    CHECK_CODE(ak_keypoll_parse(deep, len, &a, &err), AK_JSON_TOO_DEEP);
    free(deep);
    CHECK_CODE(ak_keypoll_parse(NULL, 2, &a, &err), AK_NULL_PARAMETER);
    CHECK_CODE(ak_keypoll_parse("{}", 2, NULL, &err), AK_NULL_PARAMETER);
    CHECK_CODE(ak_keypoll_parse("{\"error\":1,\"message\":\"\xff\"}", 25, &a, &err), AK_INVALID_JSON);
}

int main(void) {
    vectors();
    details();
    formatting();
    hostile();
    return finish("test_keypoll");
}

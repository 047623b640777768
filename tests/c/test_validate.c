/* Value validation from C: names, IDs, keys, addresses, groups, result messages. */
#include "testsupport.h"
#include "vectors.h"

static void names(void) {
    for (size_t i = 0; i < NAME_CASES_LEN; i++) {
        const struct name_case *c = &NAME_CASES[i];
        ak_error err;
        ak_result r = ak_validate_name(c->name, c->name_len, &err);
        CHECK_CODE(r, c->valid ? AK_OK : AK_INVALID_NAME);
        if (!c->valid) {
            CHECK(err.code == AK_INVALID_NAME && err.field == AK_FIELD_NAME);
        }
    }
}

static void addresses(void) {
    for (size_t i = 0; i < IP_CASES_LEN; i++) {
        const struct ip_case *c = &IP_CASES[i];
        ak_addr addr;
        ak_result r = ak_validate_addr(c->input, c->input_len, &addr, NULL);
        CHECK_CODE(r, c->valid ? AK_OK : AK_INVALID_ADDR);
        if (c->valid && r == AK_OK) {
            CHECK(cstr_eq(addr.canonical, c->canonical, c->canonical_len));
            CHECK(cstr_eq(addr.file_form, c->file, c->file_len));
        }
    }
    ak_addr a;
    CHECK_CODE(ak_validate_addr("10.1.1.1/32", 11, &a, NULL), AK_OK);
    CHECK(a.family == 4 && a.prefix_len == 32 && a.single_host);
    CHECK_CODE(ak_validate_addr("::1", 3, &a, NULL), AK_OK);
    CHECK(a.family == 6 && a.prefix_len == 128 && !a.single_host);
    CHECK_CODE(ak_validate_addr("any", 3, NULL, NULL), AK_NULL_PARAMETER);
}

static void groups(void) {
    for (size_t i = 0; i < GROUPS_CASES_LEN; i++) {
        const struct groups_case *c = &GROUPS_CASES[i];
        char dedup[256];
        size_t n = 0;
        ak_error err;
        ak_result r = ak_validate_groups(c->groups, c->groups_len, dedup, sizeof dedup, &n, &err);
        if (c->ok) {
            CHECK_CODE(r, AK_OK);
            CHECK(n == c->dedup_len && cstr_eq(dedup, c->dedup, c->dedup_len));
        } else {
            char reply[512];
            char expected[512];
            CHECK(r != AK_OK && err.code == r);
            CHECK_CODE(ak_error_reply(&err, reply, sizeof reply, &n), AK_OK);
            snprintf(expected, sizeof expected, "%.*s. Unable to add agent", (int)c->error_len, c->error);
            CHECK(strcmp(reply, expected) == 0);
        }
    }
    /* The manager's stricter rules. */
    ak_error err;
    CHECK_CODE(ak_groups_check_manager_rules("default,web", 11, &err), AK_OK);
    CHECK_CODE(ak_groups_check_manager_rules("a,..", 4, &err), AK_INVALID_GROUP_NAME);
    CHECK(str_eq(err.subject, "..", 2));
}

static void buffers_and_nulls(void) {
    char buf[8];
    size_t n = 12345;
    memset(buf, 'X', sizeof buf);
    /* Too small: nothing written, needed capacity reported (text + NUL). */
    CHECK_CODE(ak_validate_groups("a,bb,a", 6, buf, 3, &n, NULL), AK_BUFFER_TOO_SMALL);
    CHECK(n == 5);
    CHECK(buf[0] == 'X' && buf[2] == 'X');
    /* Size query with a NULL buffer. */
    CHECK_CODE(ak_validate_groups("a,bb,a", 6, NULL, 0, &n, NULL), AK_BUFFER_TOO_SMALL);
    CHECK(n == 5);
    CHECK_CODE(ak_validate_groups("a,bb,a", 6, buf, 5, &n, NULL), AK_OK);
    CHECK(n == 4 && strcmp(buf, "a,bb") == 0);
    /* NULL pointers. */
    CHECK_CODE(ak_validate_name(NULL, 5, NULL), AK_NULL_PARAMETER);
    CHECK_CODE(ak_validate_name(NULL, 0, NULL), AK_INVALID_NAME);
    CHECK_CODE(ak_validate_groups("a", 1, buf, sizeof buf, NULL, NULL), AK_NULL_PARAMETER);
    /* Zero lengths. */
    CHECK_CODE(ak_validate_id("1", 0, NULL), AK_INVALID_ID);
    CHECK_CODE(ak_validate_key("k", 0, NULL), AK_INVALID_KEY);
    CHECK_CODE(ak_validate_groups("a", 0, buf, sizeof buf, &n, NULL), AK_EMPTY_GROUP);
    /* Invalid UTF-8 and non-ASCII. */
    ak_error err;
    CHECK_CODE(ak_validate_name("ab\xff\xfe", 4, &err), AK_INVALID_NAME);
    CHECK(err.offset == 2);
    CHECK_CODE(ak_validate_key("k\xc3\xa9y", 4, &err), AK_INVALID_KEY);
    /* 70 KB inputs. */
    char *big = filled(70 * 1024, 'a');
    CHECK_CODE(ak_validate_name(big, 70 * 1024, &err), AK_INVALID_NAME);
    CHECK_CODE(ak_validate_key(big, 70 * 1024, NULL), AK_INVALID_KEY);
    CHECK_CODE(ak_validate_addr(big, 70 * 1024, &(ak_addr){0}, NULL), AK_INVALID_ADDR);
    CHECK_CODE(ak_validate_groups(big, 70 * 1024, buf, sizeof buf, &n, &err), AK_GROUP_TOO_LARGE);
    free(big);
}

static void ids_keys_messages(void) {
    ak_error err;
    CHECK_CODE(ak_validate_id("001", 3, NULL), AK_OK);
    CHECK_CODE(ak_validate_id("000", 3, NULL), AK_RESERVED_ID);
    CHECK_CODE(ak_validate_id("12a", 3, &err), AK_INVALID_ID);
    CHECK(err.offset == 2 && err.field == AK_FIELD_ID);
    CHECK_CODE(ak_validate_key("TopSecret", 9, NULL), AK_OK);
    CHECK_CODE(ak_validate_key("a'b", 3, NULL), AK_INVALID_KEY);

    char text[256];
    size_t n;
    CHECK_CODE(ak_result_name(AK_INVALID_NAME, text, sizeof text, &n), AK_OK);
    CHECK(strcmp(text, "AK_INVALID_NAME") == 0);
    CHECK_CODE(ak_result_message(AK_INVALID_NAME, text, sizeof text, &n), AK_OK);
    CHECK(strncmp(text, "agent name must be", 18) == 0);
    CHECK_CODE(ak_result_message(999999, text, sizeof text, &n), AK_OK);
    CHECK(strcmp(text, "unknown error") == 0);
    CHECK_CODE(ak_result_message(AK_OK, text, 2, &n), AK_BUFFER_TOO_SMALL);
    CHECK(n == strlen("success") + 1);
    CHECK(AGENTKEYS_VERSION_MAJOR == 0 && strlen(AGENTKEYS_VERSION) > 0);
}

/* The loaded library says its version, equal to the header's; plain C strings pass as text. */
static void version_and_plain_strings(void) {
    CHECK(strcmp(ak_version(), AGENTKEYS_VERSION) == 0);
    const char *name = "web-01";
    CHECK_CODE(ak_validate_name(name, strlen(name), NULL), AK_OK);
    char line[] = "001 web-01 any 0123456789abcdef";
    ak_line parsed;
    CHECK_CODE(ak_keys_parse_line(line, strlen(line), &parsed), AK_OK);
}

int main(void) {
    version_and_plain_strings();
    names();
    addresses();
    groups();
    buffers_and_nulls();
    ids_keys_messages();
    return finish("test_validate");
}

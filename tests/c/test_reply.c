/* Replies from C: the manager's success and error replies, the agent's parse of every style. */
#include "testsupport.h"
#include "vectors.h"

static void vectors(void) {
    for (size_t i = 0; i < REPLY_CASES_LEN; i++) {
        const struct reply_case *c = &REPLY_CASES[i];
        ak_reply reply;
        ak_error err;
        ak_result r = ak_reply_parse(c->reply, c->reply_len, &reply, &err);
        if (c->ok) {
            CHECK_CODE(r, AK_OK);
            CHECK(reply.kind == AK_REPLY_KEY);
            CHECK(str_eq(reply.text, c->record, c->record_len));
            char line[400];
            size_t n;
            CHECK_CODE(ak_record_format(&reply.record, line, sizeof line, &n, NULL), AK_OK);
            CHECK(cstr_eq(line, c->record, c->record_len));
        } else if (c->server_error != NULL) {
            CHECK_CODE(r, AK_OK);
            CHECK(reply.kind == AK_REPLY_REFUSED);
            CHECK(str_eq(reply.server_error, c->server_error, c->server_error_len));
        } else {
            CHECK(r != AK_OK && err.code == r);
        }
    }
}

static void formatting(void) {
    ak_record rec = {cs("006"), cs("web"), cs("10.1.1.1/32"), cs("abc123")};
    char out[512];
    size_t n;
    CHECK_CODE(ak_reply_format_key(&rec, out, sizeof out, &n, NULL), AK_OK);
    CHECK(strcmp(out, "OSSEC K:'006 web 10.1.1.1/32 abc123'") == 0);

    /* A server builds its own refusals from a code and a subject. */
    ak_error e;
    memset(&e, 0, sizeof e);
    e.code = AK_DUPLICATE_NAME;
    e.subject = cs("web");
    CHECK_CODE(ak_error_reply(&e, out, sizeof out, &n), AK_OK);
    CHECK(strcmp(out, "ERROR: Duplicate agent name: web. Unable to add agent") == 0);
    e.code = AK_INVALID_PASSWORD;
    e.subject = mkstr(NULL, 0);
    CHECK_CODE(ak_error_reply(&e, out, sizeof out, &n), AK_OK);
    CHECK(strcmp(out, "ERROR: Invalid password. Unable to add agent") == 0);
    e.code = AK_PANIC;
    CHECK_CODE(ak_error_reply(&e, out, sizeof out, &n), AK_INVALID_PARAMETER);
    CHECK_CODE(ak_error_reply(NULL, out, sizeof out, &n), AK_NULL_PARAMETER);
}

static void hostile(void) {
    ak_reply reply;
    ak_error err;
    CHECK_CODE(ak_reply_parse("", 0, &reply, &err), AK_EMPTY_REPLY);
    CHECK_CODE(ak_reply_parse(NULL, 9, &reply, &err), AK_NULL_PARAMETER);
    CHECK_CODE(ak_reply_parse("OSSEC K:'001 ab any k\xff'", 23, &reply, &err), AK_INVALID_KEY);
    char *big = filled(70 * 1024, 'a');
    memcpy(big, "OSSEC K:'", 9);
    CHECK_CODE(ak_reply_parse(big, 70 * 1024, &reply, &err), AK_INVALID_REPLY);
    memcpy(big, "ERROR: ", 7);
    CHECK_CODE(ak_reply_parse(big, 70 * 1024, &reply, &err), AK_OK);
    CHECK(reply.kind == AK_REPLY_REFUSED && reply.server_error.len == 70 * 1024 - 7);
    free(big);
}

int main(void) {
    vectors();
    formatting();
    hostile();
    return finish("test_reply");
}

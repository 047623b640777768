/* Registration requests from C: the manager's parse with exact error replies, the agent's format. */
#include "testsupport.h"
#include "vectors.h"

static ak_request_options options(const struct request_case *c) {
    ak_request_options o;
    o.password = mkstr(c->password, c->password_len);
    o.manager_version = mkstr(c->manager_version, c->manager_version_len);
    o.source_ip = mkstr(c->source_ip, c->source_ip_len);
    o.use_source_ip = c->use_source_ip;
    return o;
}

static void vectors(void) {
    for (size_t i = 0; i < REQUEST_CASES_LEN; i++) {
        const struct request_case *c = &REQUEST_CASES[i];
        ak_request_options o = options(c);
        ak_request req;
        ak_error err;
        ak_result r = ak_request_parse(c->request, c->request_len, &o, &req, &err);
        if (!c->ok) {
            char reply[512], expected[512];
            size_t n;
            CHECK(r != AK_OK && err.code == r);
            CHECK_CODE(ak_error_reply(&err, reply, sizeof reply, &n), AK_OK);
            snprintf(expected, sizeof expected, "%.*s. Unable to add agent", (int)c->error_len, c->error);
            CHECK(strcmp(reply, expected) == 0);
            continue;
        }
        CHECK_CODE(r, AK_OK);
        CHECK(str_eq(req.name, c->name, c->name_len));
        if (c->ip != NULL) {
            CHECK(cstr_eq(req.addr, c->ip, c->ip_len));
        }
        if (c->groups != NULL) {
            char dedup[256];
            size_t n;
            CHECK_CODE(ak_validate_groups(req.groups.ptr, req.groups.len, dedup, sizeof dedup, &n, NULL), AK_OK);
            CHECK(cstr_eq(dedup, c->groups, c->groups_len));
        }
        if (c->key_hash != NULL) {
            CHECK(str_eq(req.key_hash, c->key_hash, c->key_hash_len));
        }
        if (c->version != NULL) {
            CHECK(str_eq(req.version, c->version, c->version_len));
        }
    }
}

static void agent_side_round_trip(void) {
    ak_enrollment e;
    e.password = cs("top secret");
    e.name = cs("web-01");
    e.version = cs("v4.14.7");
    e.groups = cs("default,linux");
    e.ip = cs("::ffff:10.1.2.3");
    e.key_hash = cs("0965e68d9935a35530910bf32d35052995efe7bd");
    char wire[512];
    size_t n;
    CHECK_CODE(ak_request_format(&e, wire, sizeof wire, &n, NULL), AK_OK);
    CHECK(strcmp(wire, "OSSEC PASS: top secret OSSEC A:'web-01' V:'v4.14.7' G:'default,linux' IP:'10.1.2.3' K:'0965e68d9935a35530910bf32d35052995efe7bd'\n") == 0);

    ak_request_options o = {cs("top secret"), cs("v4.14.7"), cs("192.0.2.1"), false};
    ak_request req;
    CHECK_CODE(ak_request_parse(wire, n, &o, &req, NULL), AK_OK);
    CHECK(str_eq(req.name, "web-01", 6) && req.ip_field == AK_IP_ADDR && strcmp(req.addr, "10.1.2.3") == 0);
    CHECK(str_eq(req.password, "top secret", 10));

    e.ip = cs("src");
    e.password = mkstr(NULL, 0);
    CHECK_CODE(ak_request_format(&e, wire, sizeof wire, &n, NULL), AK_OK);
    o.password = mkstr(NULL, 0);
    CHECK_CODE(ak_request_parse(wire, n, &o, &req, NULL), AK_OK);
    CHECK(req.ip_field == AK_IP_SOURCE && strcmp(req.addr, "192.0.2.1") == 0);

    ak_error err;
    e.version = cs("v'4");
    CHECK_CODE(ak_request_format(&e, wire, sizeof wire, &n, &err), AK_INVALID_VERSION);
    e.version = cs("v4");
    e.key_hash = cs("xyz");
    CHECK_CODE(ak_request_format(&e, wire, sizeof wire, &n, &err), AK_INVALID_KEY_HASH);
    e.key_hash = mkstr(NULL, 0);
    e.name = cs("a b");
    CHECK_CODE(ak_request_format(&e, wire, sizeof wire, &n, &err), AK_INVALID_NAME);
    e.name = cs("ab");
    CHECK_CODE(ak_request_format(&e, wire, 4, &n, &err), AK_BUFFER_TOO_SMALL);
    CHECK(n == strlen("OSSEC A:'ab' V:'v4' G:'default,linux' IP:'src'\n") + 1);
}

static void hostile(void) {
    ak_request_options o = {mkstr(NULL, 0), mkstr(NULL, 0), cs("127.0.0.1"), false};
    ak_request req;
    ak_error err;
    const char *prefixes[] = {"OSSEC A:'ab' V:'", "OSSEC A:'ab' G:'", "OSSEC A:'ab' IP:'", "OSSEC A:'ab' K:'"};
    const ak_result codes[] = {AK_UNTERMINATED_VERSION, AK_UNTERMINATED_GROUPS, AK_UNTERMINATED_IP, AK_UNTERMINATED_KEY_HASH};
    size_t big_len = 70 * 1024;
    char *big = filled(big_len, 'a');
    for (int i = 0; i < 4; i++) {
        size_t p = strlen(prefixes[i]);
        memset(big, 'a', big_len);
        memcpy(big, prefixes[i], p);
        CHECK_CODE(ak_request_parse(big, big_len, &o, &req, &err), codes[i]);
    }
    /* A 70 KB name is echoed in full in the reply; the size query reports it. */
    memset(big, 'a', big_len);
    memcpy(big, "OSSEC A:'", 9);
    big[big_len - 2] = '\'';
    big[big_len - 1] = '\n';
    big[20] = ' ';
    CHECK_CODE(ak_request_parse(big, big_len, &o, &req, &err), AK_INVALID_NAME);
    size_t n;
    CHECK_CODE(ak_error_reply(&err, NULL, 0, &n), AK_BUFFER_TOO_SMALL);
    CHECK(n == strlen("ERROR: Invalid agent name: ") + (big_len - 11) + strlen(". Unable to add agent") + 1);
    free(big);

    CHECK_CODE(ak_request_parse(NULL, 4, &o, &req, &err), AK_NULL_PARAMETER);
    CHECK_CODE(ak_request_parse("x", 1, NULL, &req, &err), AK_NULL_PARAMETER);
    CHECK_CODE(ak_request_parse("OSSEC A:'ab'", 12, &o, NULL, &err), AK_NULL_PARAMETER);
    ak_request_options bad_src = {mkstr(NULL, 0), mkstr(NULL, 0), cs("not-an-ip"), false};
    CHECK_CODE(ak_request_parse("OSSEC A:'ab'", 12, &bad_src, &req, &err), AK_INVALID_PARAMETER);
    ak_request_options no_src = {mkstr(NULL, 0), mkstr(NULL, 0), mkstr(NULL, 0), false};
    CHECK_CODE(ak_request_parse("OSSEC A:'ab'", 12, &no_src, &req, &err), AK_NULL_PARAMETER);
    const char *accented = "OSSEC A:'\xc3\xa9t\xc3\xa9'";
    CHECK_CODE(ak_request_parse(accented, strlen(accented), &o, &req, &err), AK_INVALID_NAME);
    /* IPv6 source, expanded like upstream. */
    ak_request_options v6 = {mkstr(NULL, 0), mkstr(NULL, 0), cs("::1"), true};
    CHECK_CODE(ak_request_parse("OSSEC A:'ab'\n", 13, &v6, &req, &err), AK_OK);
    CHECK(strcmp(req.addr, "0000:0000:0000:0000:0000:0000:0000:0001") == 0);
}

int main(void) {
    vectors();
    agent_side_round_trip();
    hostile();
    return finish("test_request");
}

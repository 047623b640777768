/* Wazuh 5.0 formats from C: key derivation, the enroll JWT, enrollment tokens, /enroll bodies.
 * Every case of wazuh5.json, and the five-line examples of ffi/README.md. */
#include "testsupport.h"
#include "vectors.h"

/* Hex text to bytes; returns the byte count. */
static size_t unhex(const char *hex, size_t len, uint8_t *out) {
    for (size_t i = 0; i + 1 < len; i += 2) {
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        out[i / 2] = (uint8_t)v;
    }
    return len / 2;
}

static ak_key_label label_of(const char *label) {
    if (strcmp(label, "WAZUH-ENROLL-JWT-KEY") == 0) {
        return AK_LABEL_PASSWORD;
    }
    return strcmp(label, "WAZUH-ENROLL-TOKEN-KEY") == 0 ? AK_LABEL_TOKEN : AK_LABEL_REENROLL;
}

static void hkdf(void) {
    for (size_t i = 0; i < HKDF_CASES_LEN; i++) {
        const struct hkdf_case *c = &HKDF_CASES[i];
        uint8_t ikm[64], want[32], got[32];
        size_t n = c->ikm_hex ? unhex(c->ikm_hex, c->ikm_hex_len, ikm) : c->ikm_utf8_len;
        const uint8_t *secret = c->ikm_hex ? ikm : u8(c->ikm_utf8);
        unhex(c->key_hex, c->key_hex_len, want);
        CHECK_CODE(ak_derive_key(label_of(c->label), secret, n, got), AK_OK);
        CHECK(memcmp(got, want, 32) == 0);
    }
}

static void jwt(void) {
    for (size_t i = 0; i < JWT_SIGN_CASES_LEN; i++) {
        const struct jwt_sign_case *c = &JWT_SIGN_CASES[i];
        uint8_t key[32], jti[16];
        unhex(c->key_hex, c->key_hex_len, key);
        unhex(c->jti_hex, c->jti_hex_len, jti);
        char bearer[512];
        size_t n;
        CHECK_CODE(ak_bearer_sign(key, c->kid, c->kid_len, c->iat, jti, bearer, sizeof bearer, &n), AK_OK);
        CHECK(cstr_eq(bearer, c->bearer, c->bearer_len));
        char tiny[8];
        CHECK_CODE(ak_bearer_sign(key, c->kid, c->kid_len, c->iat, jti, tiny, sizeof tiny, &n), AK_BUFFER_TOO_SMALL);
        CHECK(n == c->bearer_len + 1);
    }
    for (size_t i = 0; i < JWT_VERIFY_CASES_LEN; i++) {
        const struct jwt_verify_case *c = &JWT_VERIFY_CASES[i];
        uint8_t key[32];
        unhex(c->key_hex, c->key_hex_len, key);
        ak_bearer_info info;
        ak_error err;
        /* A bearer too long for a C literal comes as (NULL, length): any bytes of that length. */
        char *long_bearer = c->bearer == NULL ? filled(c->bearer_len, 'A') : NULL;
        const char *text = c->bearer == NULL ? long_bearer : c->bearer;
        ak_result r = ak_bearer_verify(text, c->bearer_len, key, c->now, 60, 30, &info, &err);
        free(long_bearer);
        if (c->ok) {
            CHECK_CODE(r, AK_OK);
            CHECK(cstr_eq(info.kid, c->kid, c->kid_len));
        } else {
            const char *class = ak_bearer_class(r);
            CHECK(r != AK_OK && err.code == r);
            CHECK(class != NULL && strlen(class) == c->error_len && memcmp(class, c->error, c->error_len) == 0);
            if (class == NULL || strlen(class) != c->error_len) {
                fprintf(stderr, "  case: %s\n", c->name);
            }
        }
    }
    CHECK(ak_bearer_class(AK_INVALID_NAME) == NULL);
}

static void tokens(void) {
    for (size_t i = 0; i < TOKEN_CASES_LEN; i++) {
        const struct token_case *c = &TOKEN_CASES[i];
        uint8_t scratch[4096];
        ak_token t;
        ak_error err;
        ak_result r = ak_token_decode(c->token, c->token_len, scratch, sizeof scratch, &t, &err);
        if (!c->ok) {
            CHECK(r != AK_OK && err.code == r);
            continue;
        }
        CHECK_CODE(r, AK_OK);
        CHECK(cstr_eq(t.host, c->host, c->host_len));
        CHECK(t.port == c->port);
        CHECK(str_eq(t.prefix, c->prefix, c->prefix_len));
        uint8_t pin[32];
        unhex(c->pin_hex, c->pin_hex_len, pin);
        CHECK(t.has_pin && memcmp(t.pin, pin, 32) == 0);
        CHECK(t.has_credential == c->credential);
        if (c->credential) {
            uint8_t secret[16];
            unhex(c->secret_hex, c->secret_hex_len, secret);
            CHECK(cstr_eq(t.kid, c->kid, c->kid_len));
            CHECK(memcmp(t.secret, secret, 16) == 0);
        }
        /* Encoding it again gives the same token. */
        char again[4096];
        size_t n;
        CHECK_CODE(ak_token_encode(t.address, strlen(t.address), t.pin, NULL, 0,
                                   t.has_credential ? t.token_id : NULL, t.has_credential ? t.secret : NULL,
                                   again, sizeof again, &n, &err),
                   AK_OK);
        CHECK(cstr_eq(again, c->token, c->token_len));
        char text[512];
        CHECK_CODE(ak_token_show(&t, text, sizeof text, &n), AK_OK);
        CHECK(strncmp(text, "ver: 1\nadr: ", 12) == 0 && strstr(text, "credential: ") != NULL);
    }
    /* Neither anchor, and a bad address, are refused with their codes. */
    char out[512];
    size_t n;
    ak_error err;
    CHECK_CODE(ak_token_encode("m.example", 9, NULL, NULL, 0, NULL, NULL, out, sizeof out, &n, &err), AK_TOKEN_ANCHOR);
    uint8_t pin[32] = {0};
    CHECK_CODE(ak_token_encode("m example", 9, pin, NULL, 0, NULL, NULL, out, sizeof out, &n, &err),
               AK_INVALID_TOKEN_ADDRESS);
    CHECK(err.field == AK_FIELD_ADDRESS);
}

static void bodies(void) {
    for (size_t i = 0; i < ENROLL_BODY_CASES_LEN; i++) {
        const struct enroll_body_case *c = &ENROLL_BODY_CASES[i];
        ak_enroll_request req;
        ak_error err;
        ak_result r = ak_enroll_request_parse(c->body, c->body_len, &req, &err);
        if (c->ok) {
            CHECK_CODE(r, AK_OK);
            CHECK(cstr_eq(req.name, c->name, c->name_len));
            CHECK(cstr_eq(req.version, c->version, c->version_len));
            CHECK(str_eq(req.groups, c->groups, c->groups_len));
            CHECK(c->ip == NULL ? req.ip_field == AK_IP_ABSENT
                                : (req.ip_field == AK_IP_SOURCE || cstr_eq(req.ip, c->ip, c->ip_len)));
        } else {
            const char *message = ak_enroll_error_message(r, err.field);
            CHECK(r != AK_OK);
            CHECK(strlen(message) == c->message_len && memcmp(message, c->message, c->message_len) == 0);
        }
    }
    /* Format a body, then a reply and an error envelope. */
    char body[256];
    size_t n;
    ak_error err;
    CHECK_CODE(ak_enroll_request_format("web-01", 6, "v5.0.0", 6, "default", 7, "src", 3, NULL, 0,
                                        body, sizeof body, &n, &err),
               AK_OK);
    CHECK(strcmp(body, "{\"name\":\"web-01\",\"version\":\"v5.0.0\",\"groups\":\"default\",\"ip\":\"src\"}") == 0);
    ak_record rec = {cs("003"), cs("web-01"), cs("10.0.0.9"), cs("6c6e2a0f")};
    uint8_t secret[32];
    memset(secret, 0xab, sizeof secret);
    char reply[512];
    CHECK_CODE(ak_enroll_reply_format(&rec, secret, reply, sizeof reply, &n, &err), AK_OK);
    ak_enroll_reply parsed;
    CHECK_CODE(ak_enroll_reply_parse(reply, n, &parsed, &err), AK_OK);
    CHECK(str_eq(parsed.record.name, "web-01", 6) && parsed.has_reenroll_secret);
    CHECK(memcmp(parsed.reenroll_secret, secret, 32) == 0);
    char envelope[256];
    CHECK_CODE(ak_enroll_error_format("stale_token", 11, 0, "Invalid client authentication", 29, envelope,
                                      sizeof envelope, &n),
               AK_OK);
    CHECK(strcmp(envelope, "{\"error\":{\"code\":\"stale_token\",\"message\":\"Invalid client authentication\"}}") == 0);
}

/* The README example: mint a token, then verify a bearer. */
static void readme_example(void) {
    uint8_t pin[32], id[16], secret[16], key[32], jti[16] = {0};
    ak_spki_pin(u8("spki-der-bytes"), 14, pin);
    memset(id, 1, sizeof id);
    memset(secret, 2, sizeof secret);
    char token[512], bearer[512];
    size_t n;
    CHECK_CODE(ak_token_encode("manager.example.com", 19, pin, NULL, 0, id, secret, token, sizeof token, &n, NULL),
               AK_OK);
    ak_derive_key(AK_LABEL_TOKEN, secret, sizeof secret, key);
    char kid[23];
    uint8_t scratch[512];
    ak_token t;
    CHECK_CODE(ak_token_decode(token, n, scratch, sizeof scratch, &t, NULL), AK_OK);
    memcpy(kid, t.kid, sizeof kid);
    CHECK_CODE(ak_bearer_sign(key, kid, strlen(kid), 1700000000, jti, bearer, sizeof bearer, &n), AK_OK);
    ak_bearer_info info;
    CHECK_CODE(ak_bearer_peek(bearer, n, &info, NULL), AK_OK);
    CHECK(info.kind == AK_BEARER_TOKEN && memcmp(info.token_id, id, 16) == 0);
    CHECK_CODE(ak_bearer_verify(bearer, n, key, 1700000010, 60, 30, &info, NULL), AK_OK);
    CHECK_CODE(ak_bearer_verify(bearer, n, key, 1700000100, 60, 30, &info, NULL), AK_STALE_BEARER);
    char credential[44];
    CHECK_CODE(ak_token_credential_text(id, secret, credential, sizeof credential, &n), AK_OK);
    CHECK(n == 43);
}

int main(void) {
    hkdf();
    jwt();
    tokens();
    bodies();
    readme_example();
    return finish("test_wazuh5");
}

/* Derived values and secrets from C: key hash, encryption key, export/import, keygen, compare. */
#include "testsupport.h"
#include "vectors.h"

static void hashes(void) {
    char out[64];
    size_t n;
    for (size_t i = 0; i < KEY_HASH_CASES_LEN; i++) {
        const struct key_hash_case *c = &KEY_HASH_CASES[i];
        CHECK_CODE(ak_key_hash(c->id, c->id_len, c->name, c->name_len, c->key, c->key_len, out, sizeof out, &n), AK_OK);
        CHECK(cstr_eq(out, c->hash, c->hash_len));
    }
    for (size_t i = 0; i < ENCRYPTION_KEY_CASES_LEN; i++) {
        const struct encryption_key_case *c = &ENCRYPTION_KEY_CASES[i];
        CHECK_CODE(ak_encryption_key(c->id, c->id_len, c->name, c->name_len, c->key, c->key_len, out, sizeof out, &n), AK_OK);
        CHECK(cstr_eq(out, c->encryption_key, c->encryption_key_len));
        CHECK(memcmp(out, c->aes_key, 32) == 0 && c->aes_key_len == 32);
    }
    CHECK_CODE(ak_key_hash("1", 1, "a", 1, "k", 1, out, 40, &n), AK_BUFFER_TOO_SMALL);
    CHECK(n == 41);
    CHECK_CODE(ak_key_hash(NULL, 1, "a", 1, "k", 1, out, sizeof out, &n), AK_NULL_PARAMETER);
}

static void export_import(void) {
    for (size_t i = 0; i < EXPORT_CASES_LEN; i++) {
        const struct export_case *c = &EXPORT_CASES[i];
        ak_record_buf rec;
        ak_error err;
        ak_result r = ak_import_key(c->base64, c->base64_len, &rec, &err);
        if (!c->ok) {
            CHECK(r != AK_OK);
            continue;
        }
        CHECK_CODE(r, AK_OK);
        char line[512];
        snprintf(line, sizeof line, "%s %s %s %s", rec.id, rec.name, rec.ip, rec.key);
        CHECK(cstr_eq(line, c->record, c->record_len));
        ak_record view = {cs(rec.id), cs(rec.name), cs(rec.ip), cs(rec.key)};
        char b64[512];
        size_t n;
        CHECK_CODE(ak_export_key(&view, b64, sizeof b64, &n, NULL), AK_OK);
        CHECK(cstr_eq(b64, c->base64, c->base64_len));
    }
    ak_record_buf rec;
    ak_error err;
    CHECK_CODE(ak_import_key("MDAx!IHNl", 9, &rec, &err), AK_INVALID_BASE64);
    CHECK(err.offset == 4);
}

static void secrets(void) {
    char a[65], b[65];
    size_t n;
    CHECK_CODE(ak_generate_key(a, sizeof a, &n), AK_OK);
    CHECK(n == 64 && strlen(a) == 64);
    CHECK_CODE(ak_generate_key(b, sizeof b, &n), AK_OK);
    CHECK(strcmp(a, b) != 0);
    CHECK_CODE(ak_validate_key(a, 64, NULL), AK_OK);
    CHECK_CODE(ak_generate_key(a, 64, &n), AK_BUFFER_TOO_SMALL);
    CHECK(n == 65);
    CHECK(ak_ct_equal(u8("pass"), 4, u8("pass"), 4));
    CHECK(!ak_ct_equal(u8("pass"), 4, u8("pasS"), 4));
    CHECK(!ak_ct_equal(u8("pass"), 4, u8("pass1"), 5));
    CHECK(ak_ct_equal(NULL, 0, u8(""), 0));
    CHECK(!ak_ct_equal(NULL, 3, u8("abc"), 3));
}

int main(void) {
    hashes();
    export_import();
    secrets();
    return finish("test_crypto");
}

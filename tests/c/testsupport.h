/* Minimal test support for the C tests: CHECK macros and a closing "N passed, M failed" line. */
#ifndef AGENTKEYS_TESTSUPPORT_H
#define AGENTKEYS_TESTSUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentkeys.h"

static int checks_passed;
static int checks_failed;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond) {                                                                      \
            checks_passed++;                                                             \
        } else {                                                                         \
            checks_failed++;                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);      \
        }                                                                                \
    } while (0)

/* Checks a call's ak_result, printing both codes' names when they differ. */
#define CHECK_CODE(expr, expected)                                                       \
    do {                                                                                 \
        ak_result got_ = (expr);                                                         \
        ak_result want_ = (expected);                                                    \
        if (got_ == want_) {                                                             \
            checks_passed++;                                                             \
        } else {                                                                         \
            char g_[64], w_[64];                                                         \
            size_t n_;                                                                   \
            ak_result_name(got_, g_, sizeof g_, &n_);                                    \
            ak_result_name(want_, w_, sizeof w_, &n_);                                   \
            checks_failed++;                                                             \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__,  \
                    #expr, g_, w_);                                                      \
        }                                                                                \
    } while (0)

/* An ak_str equal to (p, n)? A NULL p means "absent". */
static inline int str_eq(ak_str s, const char *p, size_t n) {
    if (p == NULL) {
        return s.ptr == NULL;
    }
    return s.ptr != NULL && s.len == n && (n == 0 || memcmp(s.ptr, p, n) == 0);
}

/* A NUL-terminated buffer equal to (p, n)? */
static inline int cstr_eq(const char *buf, const char *p, size_t n) {
    return strlen(buf) == n && memcmp(buf, p, n) == 0;
}

static inline const uint8_t *u8(const char *s) {
    return (const uint8_t *)s;
}

static inline ak_str mkstr(const char *p, size_t n) {
    ak_str s;
    s.ptr = p;
    s.len = n;
    return s;
}

static inline ak_str cs(const char *p) {
    return mkstr(p, p == NULL ? 0 : strlen(p));
}

/* A buffer of n copies of byte c, for oversized inputs (caller frees). */
static inline char *filled(size_t n, char c) {
    char *p = malloc(n);
    if (p == NULL) {
        abort();
    }
    memset(p, c, n);
    return p;
}

static inline int finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}

#endif

/* Shared by every csrc file: status codes, branch hints, fixed-width types. No Python.h. */
#ifndef EN_COMMON_H
#define EN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define EN_LIKELY(x) __builtin_expect(!!(x), 1)
#define EN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define EN_INLINE static inline __attribute__((always_inline))
#define EN_PREFETCH(p) __builtin_prefetch(p)
#define EN_ALIGNED(n) __attribute__((aligned(n)))
#else
#define EN_LIKELY(x) (x)
#define EN_UNLIKELY(x) (x)
#define EN_INLINE static inline
#define EN_PREFETCH(p) ((void)(p))
#define EN_ALIGNED(n)
#endif

#ifdef EN_DEBUG
#include <assert.h>
#define EN_ASSERT(x) assert(x)
#else
#define EN_ASSERT(x) ((void)0)
#endif

/* Every csrc function that can fail returns one of these; bindings/errors.pyx maps them. */
typedef enum {
    EN_OK = 0,
    EN_ENOMEM = 1,    /* allocation failed; nothing was changed */
    EN_EINVAL = 2,    /* malformed input (e.g. a non-decimal hash key) */
    EN_ERANGE = 3,    /* value out of range (e.g. hash key > 2^128-1) */
    EN_ETOOBIG = 4    /* one item larger than a chunk can ever hold */
} en_status;

/* Offsets of an Arrow binary (int32) or large_binary (int64) array. */
typedef struct {
    const void *offsets;
    const uint8_t *data;
    int wide;          /* 1: int64 offsets, 0: int32 offsets */
} en_binary_view;

EN_INLINE int64_t en_view_start(const en_binary_view *v, int64_t i) {
    return v->wide ? ((const int64_t *)v->offsets)[i] : (int64_t)((const int32_t *)v->offsets)[i];
}

/* n bytes at a and b equal: in overlapping words, inline (short names and keys: a call to
 * memcmp costs more than the compare). */
EN_INLINE int en_same_bytes(const uint8_t *a, const uint8_t *b, int64_t n) {
    uint64_t x, y;
    uint32_t u, v;
    if (n >= 8) {
        for (int64_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) return 0;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        if (u != v) return 0;
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return u == v;
    }
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

#endif

#include <string.h>

#include "hashkey.h"

EN_INLINE int u128_le(uint64_t ahi, uint64_t alo, uint64_t bhi, uint64_t blo) {
    return ahi < bhi || (ahi == bhi && alo <= blo);
}

en_status en_route(const uint64_t *hi, const uint64_t *lo, int64_t n,
                   const uint64_t *start_hi, const uint64_t *start_lo, int64_t m, int32_t *out) {
    if (m <= 0) return EN_EINVAL;
    for (int64_t i = 0; i < n; i++) {
        int64_t left = 0, right = m - 1;   /* invariant: starts[left] <= key */
        while (left < right) {
            int64_t mid = (left + right + 1) >> 1;
            if (u128_le(start_hi[mid], start_lo[mid], hi[i], lo[i])) left = mid;
            else right = mid - 1;
        }
        out[i] = (int32_t)left;
    }
    return EN_OK;
}

/* value = value * 10 + digit, on two 64-bit halves; returns 0 on overflow past 2^128-1. */
EN_INLINE int u128_mul10_add(uint64_t *hi, uint64_t *lo, unsigned digit) {
    unsigned __int128 v = ((unsigned __int128)*hi << 64) | *lo;
    const unsigned __int128 max_before = (~(unsigned __int128)0 - digit) / 10;
    if (v > max_before) return 0;
    v = v * 10 + digit;
    *hi = (uint64_t)(v >> 64);
    *lo = (uint64_t)v;
    return 1;
}

en_status en_parse_u128_batch(const en_binary_view *text, const uint8_t *validity, int64_t validity_offset,
                              int64_t n, uint64_t *hi, uint64_t *lo, int64_t *bad_row) {
    for (int64_t i = 0; i < n; i++) {
        if (validity) {
            int64_t bit = validity_offset + i;
            if (!(validity[bit >> 3] & (1u << (bit & 7)))) continue;
        }
        int64_t start = en_view_start(text, i), end = en_view_start(text, i + 1);
        const uint8_t *s = text->data + start;
        int64_t len = end - start;
        en_status rc = EN_OK;
        if (len == 0 || len > 39 || (len > 1 && s[0] == '0')) rc = EN_EINVAL;
        uint64_t h = 0, l = 0;
        for (int64_t k = 0; rc == EN_OK && k < len; k++) {
            unsigned d = (unsigned)s[k] - '0';
            if (d > 9) rc = EN_EINVAL;
            else if (!u128_mul10_add(&h, &l, d)) rc = EN_ERANGE;
        }
        if (rc != EN_OK) {
            *bad_row = i;
            return rc;
        }
        hi[i] = h;
        lo[i] = l;
    }
    return EN_OK;
}

en_status en_group(const int32_t *bucket, int64_t n, int64_t m, int64_t *bucket_starts, int64_t *order) {
    memset(bucket_starts, 0, sizeof(int64_t) * (size_t)(m + 1));
    for (int64_t i = 0; i < n; i++) {
        int32_t b = bucket[i];
        if (EN_UNLIKELY(b < 0 || b >= m)) return EN_ERANGE;
        bucket_starts[b + 1]++;
    }
    for (int64_t b = 0; b < m; b++) bucket_starts[b + 1] += bucket_starts[b];
    /* bucket_starts[b] doubles as the write cursor, then is restored. */
    for (int64_t i = 0; i < n; i++) order[bucket_starts[bucket[i]]++] = i;
    for (int64_t b = m; b > 0; b--) bucket_starts[b] = bucket_starts[b - 1];
    bucket_starts[0] = 0;
    return EN_OK;
}

/* 128-bit hash keys: routing to ranges, decimal parsing, grouping a batch by destination. */
#ifndef EN_HASHKEY_H
#define EN_HASHKEY_H

#include "common.h"

/* For each key, the index j of the last range start <= key (starts sorted ascending, starts[0] = 0). */
en_status en_route(const uint64_t *hi, const uint64_t *lo, int64_t n,
                   const uint64_t *start_hi, const uint64_t *start_lo, int64_t m, int32_t *out);

/* Parse decimal strings (pattern 0|[1-9][0-9]{0,38}) into 128-bit values; only rows whose
 * validity bit is set (validity may be NULL: all rows). *bad_row gets the first failing row. */
en_status en_parse_u128_batch(const en_binary_view *text, const uint8_t *validity, int64_t validity_offset,
                              int64_t n, uint64_t *hi, uint64_t *lo, int64_t *bad_row);

/* Counting sort: bucket_starts[m+1] and a stable order[n] of row indexes grouped by bucket. */
en_status en_group(const int32_t *bucket, int64_t n, int64_t m, int64_t *bucket_starts, int64_t *order);

#endif

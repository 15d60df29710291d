from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from includes.common cimport en_status, en_binary_view

cdef extern from "hashkey.h" nogil:
    en_status en_route(const uint64_t *hi, const uint64_t *lo, int64_t n,
                       const uint64_t *start_hi, const uint64_t *start_lo, int64_t m, int32_t *out)
    en_status en_parse_u128_batch(const en_binary_view *text, const uint8_t *validity, int64_t validity_offset,
                                  int64_t n, uint64_t *hi, uint64_t *lo, int64_t *bad_row)
    en_status en_group(const int32_t *bucket, int64_t n, int64_t m, int64_t *bucket_starts, int64_t *order)

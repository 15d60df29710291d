from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from includes.common cimport en_status, en_binary_view

cdef extern from "md5.h" nogil:
    void en_md5(const uint8_t *msg, size_t len, uint8_t *digest)
    en_status en_md5_batch(const en_binary_view *keys, int64_t n, uint64_t *hi, uint64_t *lo)
    en_status en_md5_batch_threads(const en_binary_view *keys, int64_t n, uint64_t *hi, uint64_t *lo, int threads)
    en_status en_md5_route_threads(const en_binary_view *keys, int64_t n, const uint64_t *start_hi,
                                   const uint64_t *start_lo, int64_t m, int32_t *out, int threads)

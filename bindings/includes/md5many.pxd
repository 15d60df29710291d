from libc.stdint cimport int64_t, uint8_t

cdef extern from "md5many.h" nogil:
    void en_md5_many(const uint8_t *const *msgs, const int64_t *lens, int64_t n, uint8_t *out)

from libc.stdint cimport int64_t, uint8_t

cdef extern from "lines.h" nogil:
    int64_t en_split_lines(const uint8_t *data, int64_t n, int final, int blank_records,
                           int64_t *offsets, int64_t *count)

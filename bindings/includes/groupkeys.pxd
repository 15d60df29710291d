from libc.stdint cimport int64_t, uint8_t
from includes.common cimport en_binary_view, en_status

cdef extern from "groupkeys.h" nogil:
    ctypedef struct en_gk_column:
        en_binary_view view
        const uint8_t *validity
        int64_t validity_offset

    en_status en_group_keys(const en_gk_column *cols, int ncols, int64_t n, int64_t *order, int64_t *bounds,
                            int64_t *firsts, int64_t *groups)

from libc.stdint cimport int64_t, uint8_t

cdef extern from "common.h" nogil:
    ctypedef enum en_status:
        EN_OK
        EN_ENOMEM
        EN_EINVAL
        EN_ERANGE
        EN_ETOOBIG

    ctypedef struct en_binary_view:
        const void *offsets
        const uint8_t *data
        int wide

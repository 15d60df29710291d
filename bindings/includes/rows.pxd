from libc.stdint cimport int64_t, uint8_t, uint64_t

cdef extern from "rows.h" nogil:
    ctypedef enum en_row_kind:
        EN_ROW_JSON
        EN_ROW_RAW
        EN_ROW_HEX12
        EN_ROW_NOISE64

    ctypedef struct en_row_field:
        en_row_kind kind
        const uint8_t *const *data
        const int64_t *lens
        const uint64_t *numbers
        uint64_t seed

    ctypedef struct en_row_template:
        const uint8_t *const *texts
        const int64_t *text_lens
        const en_row_field *fields
        int nfields

    int64_t en_row_length(const en_row_template *t, int64_t i)
    void en_row_write(const en_row_template *t, int64_t i, uint8_t *out)
    void en_noise64(uint64_t seed, uint64_t number, uint8_t *out)

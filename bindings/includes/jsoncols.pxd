from libc.stdint cimport int64_t, uint8_t
from includes.common cimport en_status, en_binary_view

cdef extern from "jsoncols.h" nogil:
    ctypedef enum en_jc_kind:
        EN_JC_STRING
        EN_JC_INT8
        EN_JC_INT16
        EN_JC_INT32
        EN_JC_INT64
        EN_JC_FLOAT32
        EN_JC_FLOAT64
        EN_JC_BOOL
        EN_JC_TIMESTAMP
        EN_JC_DATE32
        EN_JC_NONE

    ctypedef struct en_jc_field:
        const uint8_t *name
        int64_t name_len
        int kind
        int digits
        int key

    ctypedef struct en_jc_column:
        uint8_t *validity
        uint8_t *values
        uint8_t *data
        int64_t data_len
        int64_t data_cap
        int64_t null_count

    ctypedef struct en_jc_segment:
        en_binary_view view
        int64_t start
        int64_t count

    ctypedef struct en_jc_plan:
        pass

    en_jc_plan *en_jc_plan_new(const en_jc_field *fields, int nfields)
    void en_jc_plan_free(en_jc_plan *plan)
    en_status en_jc_columns_init(const en_jc_plan *plan, en_jc_column *cols, int64_t capacity)
    void en_jc_columns_free(const en_jc_plan *plan, en_jc_column *cols)
    en_status en_jc_parse(const en_jc_plan *plan, const en_jc_segment *segs, int nsegs, en_jc_column *cols,
                          int64_t *rows, uint8_t *doubt)

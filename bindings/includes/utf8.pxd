from libc.stdint cimport int64_t, uint8_t

cdef extern from "utf8.h" nogil:
    int en_xml_text_ok(const uint8_t *s, size_t n)
    int64_t en_utf8_count(const uint8_t *s, size_t n)

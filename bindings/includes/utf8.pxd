from libc.stdint cimport uint8_t

cdef extern from "utf8.h" nogil:
    int en_xml_text_ok(const uint8_t *s, size_t n)

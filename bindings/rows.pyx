# Rows of text from one template (csrc/rows.h): many documents that differ in a few fields, built
# in one pass per batch with no per-row Python work but the resulting bytes object.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from includes cimport rows as c_rows

ROW_JSON = c_rows.EN_ROW_JSON
ROW_RAW = c_rows.EN_ROW_RAW
ROW_HEX12 = c_rows.EN_ROW_HEX12
ROW_NOISE64 = c_rows.EN_ROW_NOISE64

DEF MAX_FIELDS = 16


def template_rows(texts, fields, Py_ssize_t n):
    """Build n rows: texts[0] F0(i) texts[1] ... texts[k] (k = len(fields)), as a list of bytes.

    texts: k + 1 bytes. fields: k tuples (kind, column) or (ROW_NOISE64, column, seed): a column
    holds n items, str for ROW_JSON (written as a JSON string literal), bytes for ROW_RAW, ints
    (0 <= v < 2**64) for ROW_HEX12 and ROW_NOISE64. A str that has no UTF-8 form (a lone
    surrogate) or an item of another type raises CoreValueError; nothing is built then."""
    cdef Py_ssize_t k = len(fields), f, i
    cdef list col
    cdef const uint8_t *tptr[MAX_FIELDS + 1]
    cdef int64_t tlen[MAX_FIELDS + 1]
    cdef c_rows.en_row_field fs[MAX_FIELDS]
    cdef c_rows.en_row_template t
    cdef const char *p
    cdef Py_ssize_t plen
    cdef object item
    cdef list out
    cdef int64_t size
    if k > MAX_FIELDS or len(texts) != k + 1:
        raise CoreValueError(f"a template has up to {MAX_FIELDS} fields and one text more than fields")
    if n < 0:
        raise CoreValueError("a negative row count")
    # per field n value lengths and pointers, then n row sizes and row pointers
    cdef int64_t *lens = <int64_t *>malloc(sizeof(int64_t) * (n * (k + 1) + 1))
    cdef const uint8_t **ptrs = <const uint8_t **>malloc(sizeof(uint8_t *) * (n * (k + 1) + 1))
    cdef int64_t *row_lens
    cdef uint8_t **row_ptrs
    cdef uint64_t *nums = <uint64_t *>malloc(sizeof(uint64_t) * (n * k + 1))
    if lens is NULL or ptrs is NULL or nums is NULL:
        free(lens)
        free(ptrs)
        free(nums)
        raise CoreMemoryError("cannot allocate a batch")
    keep = []   # the texts and columns, alive while their pointers are used
    try:
        for f in range(k + 1):
            b = texts[f]
            if not isinstance(b, bytes):
                raise CoreValueError("template texts must be bytes")
            keep.append(b)
            tptr[f] = <const uint8_t *>PyBytes_AS_STRING(b)
            tlen[f] = PyBytes_GET_SIZE(b)
        for f in range(k):
            spec = fields[f]
            kind = spec[0]
            col = spec[1] if type(spec[1]) is list else list(spec[1])
            keep.append(col)
            if len(col) != n:
                raise CoreValueError("every column holds one item per row")
            fs[f].kind = kind
            fs[f].data = ptrs + f * n
            fs[f].lens = lens + f * n
            fs[f].numbers = nums + f * n
            fs[f].seed = spec[2] if kind == c_rows.EN_ROW_NOISE64 else 0
            if kind == c_rows.EN_ROW_JSON:
                for i in range(n):
                    item = col[i]
                    if type(item) is not str:
                        raise CoreValueError("a JSON column holds str items")
                    try:
                        p = PyUnicode_AsUTF8AndSize(item, &plen)
                    except UnicodeEncodeError:
                        raise CoreValueError("a str without a UTF-8 form") from None
                    ptrs[f * n + i] = <const uint8_t *>p
                    lens[f * n + i] = plen
            elif kind == c_rows.EN_ROW_RAW:
                for i in range(n):
                    item = col[i]
                    if type(item) is not bytes:
                        raise CoreValueError("a raw column holds bytes items")
                    ptrs[f * n + i] = <const uint8_t *>PyBytes_AS_STRING(item)
                    lens[f * n + i] = PyBytes_GET_SIZE(item)
            elif kind == c_rows.EN_ROW_HEX12 or kind == c_rows.EN_ROW_NOISE64:
                for i in range(n):
                    item = col[i]
                    if type(item) is not int:
                        raise CoreValueError("a number column holds ints in [0, 2**64)")
                    try:
                        nums[f * n + i] = <uint64_t>item
                    except OverflowError:
                        raise CoreValueError("a number column holds ints in [0, 2**64)") from None
            else:
                raise CoreValueError(f"unknown field kind {kind!r}")
        t.texts = tptr
        t.text_lens = tlen
        t.fields = fs
        t.nfields = <int>k
        # measure, allocate the bytes objects, write: the C passes without the GIL
        row_lens = lens + k * n
        row_ptrs = <uint8_t **>(ptrs + k * n)
        with nogil:
            for i in range(n):
                row_lens[i] = c_rows.en_row_length(&t, i)
        out = []
        for i in range(n):
            row = PyBytes_FromStringAndSize(NULL, row_lens[i])
            row_ptrs[i] = <uint8_t *>PyBytes_AS_STRING(row)
            out.append(row)
        with nogil:
            for i in range(n):
                c_rows.en_row_write(&t, i, row_ptrs[i])
        return out
    finally:
        free(lens)
        free(ptrs)
        free(nums)


def noise64(uint64_t seed, uint64_t number) -> str:
    """The 64 characters a ROW_NOISE64 field writes for (seed, number)."""
    cdef uint8_t buf[64]
    c_rows.en_noise64(seed, number, buf)
    return (<char *>buf)[:64].decode("ascii")

# Rows of text from one template (csrc/rows.h): many documents that differ in a few fields, built
# in one pass per batch with no per-row Python work but the resulting bytes object (template_rows),
# or none at all (packed_rows: one buffer and its offsets).

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport Py_EQ, PyObject_RichCompareBool
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from includes cimport rows as c_rows

ROW_JSON = c_rows.EN_ROW_JSON
ROW_RAW = c_rows.EN_ROW_RAW
ROW_HEX12 = c_rows.EN_ROW_HEX12
ROW_NOISE64 = c_rows.EN_ROW_NOISE64

DEF MAX_FIELDS = 16


cdef class _RowTemplate:
    """texts and fields checked and held as pointers (the objects kept alive) for one batch."""
    cdef list keep
    cdef const uint8_t *tptr[MAX_FIELDS + 1]
    cdef int64_t tlen[MAX_FIELDS + 1]
    cdef c_rows.en_row_field fs[MAX_FIELDS]
    cdef c_rows.en_row_template t
    cdef Py_ssize_t n
    cdef int64_t *lens          # per field n value lengths, then n row lengths
    cdef const uint8_t **ptrs   # per field n value pointers
    cdef uint64_t *nums

    def __cinit__(self, texts, fields, Py_ssize_t n):
        cdef Py_ssize_t k = len(fields), f, i
        cdef list col
        cdef const char *p
        cdef Py_ssize_t plen
        cdef object item
        if k > MAX_FIELDS or len(texts) != k + 1:
            raise CoreValueError(f"a template has up to {MAX_FIELDS} fields and one text more than fields")
        if n < 0:
            raise CoreValueError("a negative row count")
        self.n = n
        self.lens = <int64_t *>malloc(sizeof(int64_t) * (n * (k + 1) + 1))
        self.ptrs = <const uint8_t **>malloc(sizeof(uint8_t *) * (n * k + 1))
        self.nums = <uint64_t *>malloc(sizeof(uint64_t) * (n * k + 1))
        if self.lens is NULL or self.ptrs is NULL or self.nums is NULL:
            raise CoreMemoryError("cannot allocate a batch")
        self.keep = []   # the texts and columns, alive while their pointers are used
        for f in range(k + 1):
            b = texts[f]
            if not isinstance(b, bytes):
                raise CoreValueError("template texts must be bytes")
            self.keep.append(b)
            self.tptr[f] = <const uint8_t *>PyBytes_AS_STRING(b)
            self.tlen[f] = PyBytes_GET_SIZE(b)
        for f in range(k):
            spec = fields[f]
            kind = spec[0]
            col = spec[1] if type(spec[1]) is list else list(spec[1])
            self.keep.append(col)
            if len(col) != n:
                raise CoreValueError("every column holds one item per row")
            self.fs[f].kind = kind
            self.fs[f].data = self.ptrs + f * n
            self.fs[f].lens = self.lens + f * n
            self.fs[f].numbers = self.nums + f * n
            self.fs[f].seed = spec[2] if kind == c_rows.EN_ROW_NOISE64 else 0
            if kind == c_rows.EN_ROW_JSON:
                for i in range(n):
                    item = col[i]
                    if type(item) is not str:
                        raise CoreValueError("a JSON column holds str items")
                    try:
                        p = PyUnicode_AsUTF8AndSize(item, &plen)
                    except UnicodeEncodeError:
                        raise CoreValueError("a str without a UTF-8 form") from None
                    self.ptrs[f * n + i] = <const uint8_t *>p
                    self.lens[f * n + i] = plen
            elif kind == c_rows.EN_ROW_RAW:
                for i in range(n):
                    item = col[i]
                    if type(item) is not bytes:
                        raise CoreValueError("a raw column holds bytes items")
                    self.ptrs[f * n + i] = <const uint8_t *>PyBytes_AS_STRING(item)
                    self.lens[f * n + i] = PyBytes_GET_SIZE(item)
            elif kind == c_rows.EN_ROW_HEX12 or kind == c_rows.EN_ROW_NOISE64:
                for i in range(n):
                    item = col[i]
                    if type(item) is not int:
                        raise CoreValueError("a number column holds ints in [0, 2**64)")
                    try:
                        self.nums[f * n + i] = <uint64_t>item
                    except OverflowError:
                        raise CoreValueError("a number column holds ints in [0, 2**64)") from None
            else:
                raise CoreValueError(f"unknown field kind {kind!r}")
        self.t.texts = self.tptr
        self.t.text_lens = self.tlen
        self.t.fields = self.fs
        self.t.nfields = <int>k

    def __dealloc__(self):
        free(self.lens)
        free(self.ptrs)
        free(self.nums)

    cdef int64_t *measure(self) noexcept nogil:
        """The n row lengths; returns them."""
        cdef int64_t *row_lens = self.lens + self.t.nfields * self.n
        cdef Py_ssize_t i
        for i in range(self.n):
            row_lens[i] = c_rows.en_row_length(&self.t, i)
        return row_lens


def template_rows(texts, fields, Py_ssize_t n):
    """Build n rows: texts[0] F0(i) texts[1] ... texts[k] (k = len(fields)), as a list of bytes.

    texts: k + 1 bytes. fields: k tuples (kind, column) or (ROW_NOISE64, column, seed): a column
    holds n items, str for ROW_JSON (written as a JSON string literal), bytes for ROW_RAW, ints
    (0 <= v < 2**64) for ROW_HEX12 and ROW_NOISE64. A str that has no UTF-8 form (a lone
    surrogate) or an item of another type raises CoreValueError; nothing is built then."""
    cdef _RowTemplate t = _RowTemplate(texts, fields, n)
    cdef int64_t *row_lens
    cdef uint8_t **row_ptrs = <uint8_t **>malloc(sizeof(uint8_t *) * (n + 1))
    cdef Py_ssize_t i
    cdef list out = []
    if row_ptrs is NULL:
        raise CoreMemoryError("cannot allocate a batch")
    try:
        # measure, allocate the bytes objects, write: the C passes without the GIL
        with nogil:
            row_lens = t.measure()
        for i in range(n):
            row = PyBytes_FromStringAndSize(NULL, row_lens[i])
            row_ptrs[i] = <uint8_t *>PyBytes_AS_STRING(row)
            out.append(row)
        with nogil:
            for i in range(n):
                c_rows.en_row_write(&t.t, i, row_ptrs[i])
        return out
    finally:
        free(row_ptrs)


cdef class PackedRows:
    """Rows of text in one buffer: row i is data[offsets[i]:offsets[i + 1]]. A batch of
    documents with no Python object per row (a row is copied out as bytes only when asked for:
    rows[i], iteration)."""
    cdef readonly bytes data
    cdef int64_t *offsets   # n + 1
    cdef readonly Py_ssize_t n

    def __dealloc__(self):
        free(self.offsets)

    def __len__(self):
        return self.n

    def __getitem__(self, Py_ssize_t i):
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError("row index out of range")
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(self.data) + self.offsets[i],
                                         self.offsets[i + 1] - self.offsets[i])


def packed_rows(texts, fields, Py_ssize_t n):
    """template_rows' rows in one buffer (a PackedRows): same arguments, same bytes."""
    cdef _RowTemplate t = _RowTemplate(texts, fields, n)
    cdef int64_t *row_lens
    cdef int64_t total = 0
    cdef Py_ssize_t i
    cdef uint8_t *base
    cdef PackedRows out = PackedRows.__new__(PackedRows)
    out.offsets = <int64_t *>malloc(sizeof(int64_t) * (n + 1))
    if out.offsets is NULL:
        raise CoreMemoryError("cannot allocate a batch")
    out.n = n
    with nogil:
        row_lens = t.measure()
        out.offsets[0] = 0
        for i in range(n):
            total += row_lens[i]
            out.offsets[i + 1] = total
    out.data = PyBytes_FromStringAndSize(NULL, total)
    base = <uint8_t *>PyBytes_AS_STRING(out.data)
    with nogil:
        for i in range(n):
            c_rows.en_row_write(&t.t, i, base + out.offsets[i])
    return out


def noise64(uint64_t seed, uint64_t number) -> str:
    """The 64 characters a ROW_NOISE64 field writes for (seed, number)."""
    cdef uint8_t buf[64]
    c_rows.en_noise64(seed, number, buf)
    return (<char *>buf)[:64].decode("ascii")


# --- a column of few distinct values, resolved once per value ------------------------------------
def map_recent(fn, items, Py_ssize_t window):
    """[fn(item) for item in items] with fn called only for an item not equal (==) to one of the
    last `window` distinct items it was called for: the others get that item's result. For columns
    that repeat a few unhashable values (the attribute maps of a bulk publish)."""
    cdef list seq = items if type(items) is list else list(items)
    cdef Py_ssize_t n = len(seq), i, j, seen
    cdef list out = [None] * n
    cdef list keys = []   # the latest distinct items first, and their results
    cdef list values = []
    cdef object item, value
    if window < 1:
        raise CoreValueError("window must be at least 1")
    for i in range(n):
        item = seq[i]
        seen = len(keys)
        for j in range(seen):
            if PyObject_RichCompareBool(keys[j], item, Py_EQ):
                value = values[j]
                break
        else:
            value = fn(item)
            if seen == window:
                keys.pop()
                values.pop()
            keys.insert(0, item)
            values.insert(0, value)
        out[i] = value
    return out


def str_length_bounds(items):
    """(shortest, longest) length in code points of the items of a list that are all exactly str
    ((0, 0) for none), or None when one is not: what a batch's checks need to know that every
    text is a non-empty str short enough, in one pass without a Python object per item."""
    cdef list seq = items if type(items) is list else list(items)
    cdef Py_ssize_t n = len(seq), i, length, shortest = 0, longest = 0
    cdef object item
    for i in range(n):
        item = seq[i]
        if type(item) is not str:
            return None
        length = len(<str>item)
        if i == 0 or length < shortest:
            shortest = length
        if length > longest:
            longest = length
    return shortest, longest

# JSON objects -> Arrow columns (csrc/jsoncols.h): records the C parser can't take exactly are
# marked doubtful for the caller's complete reader; the columns leave as pyarrow buffers that own
# the C memory, without a copy.

from libc.string cimport memset
from includes cimport jsoncols as c_jc

JC_STRING = c_jc.EN_JC_STRING
JC_INT8 = c_jc.EN_JC_INT8
JC_INT16 = c_jc.EN_JC_INT16
JC_INT32 = c_jc.EN_JC_INT32
JC_INT64 = c_jc.EN_JC_INT64
JC_FLOAT32 = c_jc.EN_JC_FLOAT32
JC_FLOAT64 = c_jc.EN_JC_FLOAT64
JC_BOOL = c_jc.EN_JC_BOOL
JC_TIMESTAMP = c_jc.EN_JC_TIMESTAMP
JC_DATE32 = c_jc.EN_JC_DATE32
JC_NONE = c_jc.EN_JC_NONE


cdef class _CMemory:
    """One malloc'ed block, freed when the last pyarrow buffer over it goes."""
    cdef void *ptr

    def __dealloc__(self):
        free(self.ptr)


cdef object _adopt(void *ptr, int64_t size):
    cdef _CMemory owner = _CMemory()
    owner.ptr = ptr
    return pa.foreign_buffer(<uintptr_t>ptr, size, base=owner)


cdef tuple _column_buffers(c_jc.en_jc_column *c, int kind, int64_t rows):
    """The column's memory as pyarrow buffers (the C column lets go of it)."""
    cdef int64_t width
    if kind == c_jc.EN_JC_BOOL:
        size = (rows + 7) // 8
    elif kind == c_jc.EN_JC_STRING:
        size = (rows + 1) * 4
    else:
        width = 1 if kind == c_jc.EN_JC_INT8 else 2 if kind == c_jc.EN_JC_INT16 else \
            4 if kind in (c_jc.EN_JC_INT32, c_jc.EN_JC_FLOAT32, c_jc.EN_JC_DATE32) else 8
        size = rows * width
    validity = _adopt(c.validity, (rows + 7) // 8)
    values = _adopt(c.values, size)
    c.validity = c.values = NULL
    data = None
    if kind == c_jc.EN_JC_STRING:
        data = _adopt(c.data, c.data_len)
        c.data = NULL
    return validity, values, data, c.null_count


cdef class JsonColumns:
    """A set of fields compiled once; parse() turns runs of records into their columns.

    fields: (name: bytes, kind: JC_*, digits: int, key: bool) tuples with distinct names;
    digits is the fraction digits of a JC_TIMESTAMP unit (0, 3, 6, 9); a key field also gives
    its value as text (a JSON string, or an integer's digits) and must have one in every record
    taken; kind JC_NONE: a key without a column."""
    cdef c_jc.en_jc_plan *plan
    cdef readonly int nfields
    cdef readonly tuple kinds

    def __cinit__(self, fields):
        cdef Py_ssize_t n = len(fields), f
        cdef c_jc.en_jc_field *specs = <c_jc.en_jc_field *>malloc(sizeof(c_jc.en_jc_field) * (n + 1))
        if specs is NULL:
            raise CoreMemoryError("cannot allocate a field table")
        names = []
        try:
            kinds = []
            for f in range(n):
                name, kind, digits, key = fields[f]
                if not isinstance(name, bytes):
                    raise CoreValueError("field names must be bytes")
                if not c_jc.EN_JC_STRING <= kind <= c_jc.EN_JC_NONE or digits not in (0, 3, 6, 9) or \
                        (kind == c_jc.EN_JC_NONE and not key):
                    raise CoreValueError(f"field {name!r}: unknown kind or unit")
                if name in names:
                    raise CoreValueError(f"field {name!r} named twice")
                names.append(name)
                kinds.append(kind)
                specs[f].name = <const uint8_t *>(<bytes>name)
                specs[f].name_len = len(name)
                specs[f].kind = kind
                specs[f].digits = digits
                specs[f].key = 1 if key else 0
            self.plan = c_jc.en_jc_plan_new(specs, <int>n)   # copies the names
            if self.plan is NULL:
                raise CoreMemoryError("cannot build the field table")
            self.nfields = <int>n
            self.kinds = tuple(kinds)
        finally:
            free(specs)

    def __dealloc__(self):
        c_jc.en_jc_plan_free(self.plan)

    def parse(self, arrays, int64_t start, int64_t count):
        """Records [start, start + count) of the binary arrays `arrays` taken end to end.

        -> (columns, rows, doubt): columns[f] = (column, key) for field f, each None or
        (validity, values, data, null_count) as pyarrow buffers for `rows` rows (data None but
        for strings; a key is a string column), doubt a numpy uint8 array with 1 for each record
        of the run left out. Raises CoreTooBigError when a string column would pass
        2 GiB (parse a shorter run)."""
        if start < 0 or count < 0:
            raise CoreValueError("negative start or count")
        views = []
        cdef int64_t skip = start, left = count, n, take
        for arr in arrays:
            if left == 0:
                break
            n = len(arr)
            if skip >= n:
                skip -= n
                continue
            take = min(n - skip, left)
            views.append((_view(arr, "records"), skip, take))
            left -= take
            skip = 0
        if left:
            raise CoreValueError("the run goes past the records")
        cdef int nsegs = len(views), s, f
        cdef c_jc.en_jc_segment *segs = <c_jc.en_jc_segment *>malloc(sizeof(c_jc.en_jc_segment) * (nsegs + 1))
        cdef c_jc.en_jc_column *cols = <c_jc.en_jc_column *>malloc(sizeof(c_jc.en_jc_column) * (2 * self.nfields + 1))
        if segs is NULL or cols is NULL:
            free(segs)
            free(cols)
            raise CoreMemoryError("cannot allocate a parse")
        memset(cols, 0, sizeof(c_jc.en_jc_column) * (2 * self.nfields + 1))
        doubt = np.zeros(count, dtype=np.uint8)
        cdef uint8_t[::1] doubt_v = doubt
        cdef uint8_t *doubt_p = &doubt_v[0] if count else NULL
        cdef int64_t rows = 0
        cdef en_status rc
        cdef BinaryView bv
        try:
            for s in range(nsegs):
                bv = views[s][0]
                segs[s].view = bv.view
                segs[s].start = views[s][1]
                segs[s].count = views[s][2]
            with nogil:
                rc = c_jc.en_jc_columns_init(self.plan, cols, count)
                if rc == EN_OK and count:
                    rc = c_jc.en_jc_parse(self.plan, segs, nsegs, cols, &rows, doubt_p)
            check(rc)
            out = []
            for f in range(self.nfields):
                column = None if self.kinds[f] == c_jc.EN_JC_NONE else _column_buffers(&cols[2 * f], self.kinds[f], rows)
                key = None if cols[2 * f + 1].values is NULL else _column_buffers(&cols[2 * f + 1], c_jc.EN_JC_STRING, rows)
                out.append((column, key))
            return out, rows, doubt
        finally:
            c_jc.en_jc_columns_free(self.plan, cols)   # what was not adopted
            free(cols)
            free(segs)

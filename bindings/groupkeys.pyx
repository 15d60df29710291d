# Rows grouped by a tuple of text columns (csrc/groupkeys.h): the partition keys of a Firehose
# buffer, in one pass without the GIL.

from includes cimport groupkeys as c_gk


def group_keys(columns):
    """columns: pyarrow string/binary arrays of one length (nulls allowed: a value of their own).
    -> (order, bounds, firsts): int64 numpy arrays; the rows of group g are
    order[bounds[g]:bounds[g + 1]] in ascending order, firsts[g] its first row, and the groups
    come in the order of their first rows."""
    cdef int ncols = len(columns), c
    if ncols == 0:
        raise CoreValueError("no columns to group by")
    cdef int64_t n = len(columns[0]), groups = 0
    views = []
    for arr in columns:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if len(arr) != n or not _binary_like(arr.type):
            raise CoreValueError("columns: string or binary arrays of one length")
        views.append(BinaryView(arr))
    order = np.empty(n, dtype=np.int64)
    bounds = np.empty(n + 1, dtype=np.int64)
    firsts = np.empty(max(n, 1), dtype=np.int64)
    cdef int64_t[::1] order_v = order, bounds_v = bounds, firsts_v = firsts
    cdef c_gk.en_gk_column *cols = <c_gk.en_gk_column *>malloc(sizeof(c_gk.en_gk_column) * ncols)
    if cols is NULL:
        raise CoreMemoryError("cannot allocate a grouping")
    cdef BinaryView bv
    cdef en_status rc = EN_OK
    try:
        for c in range(ncols):
            bv = views[c]
            cols[c].view = bv.view
            validity = bv.array.buffers()[0] if bv.array.null_count else None
            cols[c].validity = <const uint8_t *><uintptr_t>validity.address if validity is not None else NULL
            cols[c].validity_offset = bv.array.offset
        with nogil:
            rc = c_gk.en_group_keys(cols, ncols, n, &order_v[0] if n else NULL, &bounds_v[0], &firsts_v[0],
                                    &groups)
        check(rc)
    finally:
        free(cols)
    return order, bounds[:groups + 1], firsts[:groups]

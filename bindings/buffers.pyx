# Marshalling: lists, numpy arrays and pyarrow arrays of bytes/str -> Arrow binary views.

# A bare str/bytes/dict/set would be taken item by item (characters, ints, keys): never a batch.
_NOT_A_BATCH = (str, bytes, bytearray, memoryview, dict, set, frozenset)


def _binary_like(t) -> bool:
    return (pa.types.is_binary(t) or pa.types.is_string(t) or pa.types.is_large_binary(t)
            or pa.types.is_large_string(t))


def as_binary_array(values, str name="values"):
    """Return a pyarrow binary-like array (binary, string, large_*) for `values` without
    copying when it already is one. Lists of bytes/str, numpy bytes/str/object arrays and
    pyarrow (chunked, dictionary-encoded, view) arrays are accepted; nulls are refused."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        if isinstance(values, _NOT_A_BATCH):
            raise CoreValueError(f"{name}: expected a sequence of bytes or str items, got {type(values).__name__}")
        try:
            values = pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise CoreValueError(f"{name}: expected bytes or str items ({exc})") from None
    t = values.type
    if pa.types.is_dictionary(t) and _binary_like(t.value_type):
        values = values.dictionary_decode()
    elif pa.types.is_fixed_size_binary(t) or pa.types.is_binary_view(t):
        values = values.cast(pa.binary())
    elif pa.types.is_string_view(t):
        values = values.cast(pa.string())
    elif pa.types.is_null(t) and len(values) == 0:
        values = pa.array([], pa.binary())
    elif not _binary_like(t):
        raise CoreValueError(f"{name}: expected bytes or str items, got Arrow type {t}")
    if values.null_count:
        raise CoreValueError(f"{name}: null items are not allowed")
    return values


cdef class BinaryView:
    """Keeps an Arrow binary-like array alive and exposes it as an en_binary_view whose
    offsets have been checked: they never decrease and stay inside the data buffer, so no
    C loop over it can read out of bounds, whatever buffers the caller assembled."""
    cdef en_binary_view view
    cdef readonly object array
    cdef readonly int64_t length

    def __cinit__(self, array):
        self.array = array
        buffers = array.buffers()
        wide = pa.types.is_large_binary(array.type) or pa.types.is_large_string(array.type)
        cdef int64_t width = 8 if wide else 4
        self.view.wide = 1 if wide else 0
        self.length = len(array)
        offsets = buffers[1]
        if offsets is None or offsets.size < (array.offset + self.length + 1) * width:
            if self.length or (offsets is not None and offsets.size):
                raise CoreValueError("array offsets buffer is too short")
            self.view.offsets = &_ZERO_OFFSETS   # an empty array may come without offsets
        else:
            self.view.offsets = <const void *><uintptr_t>(offsets.address + array.offset * width)
        data = buffers[2]
        cdef int64_t data_len = data.size if data is not None else 0
        # an array of empty items may have no data buffer; point at a static byte
        self.view.data = <const uint8_t *><uintptr_t>data.address if data_len else &_EMPTY_BYTE
        cdef int64_t bad_row = -1
        cdef en_status rc
        with nogil:
            rc = c_shard.en_view_check(&self.view, self.length, data_len, &bad_row)
        if rc != EN_OK:
            raise CoreValueError(f"array offsets are out of order or out of bounds at row {bad_row}")


cdef uint8_t _EMPTY_BYTE = 0
cdef int64_t _ZERO_OFFSETS = 0

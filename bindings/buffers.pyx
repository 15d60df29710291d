# Marshalling: lists, numpy arrays and pyarrow arrays of bytes/str -> Arrow binary views.

_BINARY_TYPES = None


def as_binary_array(values, str name="values"):
    """Return a pyarrow binary-like array (binary, string, large_*) for `values` without
    copying when it already is one. Lists of bytes/str, numpy bytes/str/object arrays and
    pyarrow (chunked) arrays are accepted; nulls are refused."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        try:
            values = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise CoreValueError(f"{name}: expected bytes or str items ({exc})") from None
    t = values.type
    if pa.types.is_fixed_size_binary(t):
        values = values.cast(pa.binary())
    elif pa.types.is_null(t) and len(values) == 0:
        values = pa.array([], pa.binary())
    elif not (pa.types.is_binary(t) or pa.types.is_string(t) or pa.types.is_large_binary(t)
              or pa.types.is_large_string(t)):
        raise CoreValueError(f"{name}: expected bytes or str items, got Arrow type {t}")
    if values.null_count:
        raise CoreValueError(f"{name}: null items are not allowed")
    return values


cdef class BinaryView:
    """Keeps an Arrow binary-like array alive and exposes it as an en_binary_view."""
    cdef en_binary_view view
    cdef readonly object array
    cdef readonly int64_t length

    def __cinit__(self, array):
        self.array = array
        buffers = array.buffers()
        wide = pa.types.is_large_binary(array.type) or pa.types.is_large_string(array.type)
        self.view.wide = 1 if wide else 0
        self.length = len(array)
        cdef uintptr_t offsets_addr = buffers[1].address if buffers[1] is not None else 0
        offsets_addr += <uintptr_t>(array.offset * (8 if wide else 4))
        self.view.offsets = <const void *>offsets_addr
        cdef uintptr_t data_addr = buffers[2].address if buffers[2] is not None and buffers[2].size else 0
        self.view.data = <const uint8_t *>data_addr
        if self.length and offsets_addr == 0:
            raise CoreValueError("array without offsets")
        if data_addr == 0:
            # an array of empty items may have no data buffer; point at a static byte
            self.view.data = &_EMPTY_BYTE


cdef uint8_t _EMPTY_BYTE = 0

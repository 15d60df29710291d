# Text lines -> record boundaries (csrc/lines.h), zero-copy: the records are a pyarrow array over
# the caller's buffer.

from includes cimport lines as c_lines


def split_lines(buf, bint final=False, offsets=None):
    """-> (records, taken): the complete lines of a pyarrow Buffer as a large_binary array over
    it (each non-blank line with its line end, blank lines joined to the record before), and how
    many bytes of buf they cover (keep the rest for the next block; with `final`, all of it).
    `offsets`: an int64 numpy array the records' offsets go into (reused by the caller), with
    room for len(buf) // 2 + 2 entries."""
    cdef const uint8_t[::1] view = np.frombuffer(buf, dtype=np.uint8)
    cdef int64_t n = len(view), count = 0, taken = 0
    # a record holds at least one byte besides its '\n'
    if offsets is None:
        offsets = np.empty(n // 2 + 2, dtype=np.int64)
    elif offsets.dtype != np.int64 or len(offsets) < n // 2 + 2:
        raise CoreValueError("offsets: an int64 array with room for len(buf) // 2 + 2 entries")
    cdef int64_t[::1] off = offsets
    if n:
        with nogil:
            taken = c_lines.en_split_lines(&view[0], n, 1 if final else 0, &off[0], &count)
    else:
        offsets[0] = 0
    records = pa.Array.from_buffers(pa.large_binary(), count, [None, pa.py_buffer(offsets[:count + 1]), buf])
    return records, taken

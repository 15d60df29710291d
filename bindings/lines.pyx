# Text lines -> record boundaries (csrc/lines.h), zero-copy: the records are a pyarrow array over
# the caller's buffer.

from includes cimport lines as c_lines


def split_lines(buf, bint final=False, offsets=None, *, bint blank_records=False):
    """-> (records, taken): the complete lines of a pyarrow Buffer as a large_binary array over
    it, each with its line end, and how many bytes of buf they cover (keep the rest for the next
    block; with `final`, all of it). A blank line is a record of its own with `blank_records` (as
    the Kinesis Agent sends every line), else part of the record before it (JSON Lines readers
    skip blank lines; joined, they cost no copy and parse away as whitespace).
    `offsets`: an int64 numpy array the records' offsets go into (reused by the caller), with
    room for offsets_room(len(buf), blank_records) entries."""
    cdef const uint8_t[::1] view = np.frombuffer(buf, dtype=np.uint8)
    cdef int64_t n = len(view), count = 0, taken = 0
    cdef Py_ssize_t room = offsets_room(n, blank_records)
    if offsets is None:
        offsets = np.empty(room, dtype=np.int64)
    elif offsets.dtype != np.int64 or len(offsets) < room:
        raise CoreValueError(f"offsets: an int64 array with room for {room} entries")
    cdef int64_t[::1] off = offsets
    if n:
        with nogil:
            taken = c_lines.en_split_lines(&view[0], n, 1 if final else 0, 1 if blank_records else 0, &off[0],
                                           &count)
    else:
        offsets[0] = 0
    records = pa.Array.from_buffers(pa.large_binary(), count, [None, pa.py_buffer(offsets[:count + 1]), buf])
    return records, taken


def offsets_room(Py_ssize_t n, bint blank_records=False):
    """Offsets split_lines needs for n bytes: a record takes at least one byte ('\\n') when blank
    lines are records, two (a character besides its '\\n') when they are not."""
    return (n if blank_records else n // 2) + 2

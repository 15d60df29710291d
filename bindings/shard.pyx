# Shards: batch appends and zero-copy reads over the chunked log of csrc/shard.c.

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Copy, PyDict_SetItem
from cpython.list cimport PyList_Append
from cpython.pythread cimport PyThread_acquire_lock, PyThread_allocate_lock, PyThread_release_lock, \
    PyThread_type_lock, WAIT_LOCK
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcpy
import datetime as _datetime

cdef extern from "Python.h":
    # aliased C names: queue.pyx declares the same functions for its own use
    str _ascii_new "PyUnicode_New"(Py_ssize_t size, Py_UCS4 maxchar)
    void *_ascii_data "PyUnicode_DATA"(object s)

RECORD_SCHEMA = pa.schema([
    ("partition_key", pa.string()),
    ("data", pa.binary()),
    ("sequence_number", pa.int64()),
    ("approximate_arrival_timestamp", pa.timestamp("ms", tz="UTC")),
])


cdef class SequenceSource:
    """A counter shared by the shards of a stream: sequence numbers grow across all of them."""
    cdef int64_t value

    def __cinit__(self, int64_t start=0):
        if start < 0:
            raise CoreRangeError("sequence numbers start at 0 or above")
        self.value = start

    @property
    def next_value(self):
        return self.value

    def reserve(self, int64_t n=1):
        """Take n >= 0 numbers without appending (atomically); returns the first."""
        cdef int64_t first = 0
        check(c_shard.en_seq_reserve(&self.value, n, &first))
        return first


cdef BinaryView _view(values, str name):
    """A checked view over `values` (reused as is when the caller already made one)."""
    if isinstance(values, BinaryView):
        return <BinaryView>values
    return BinaryView(as_binary_array(values, name))


SPARE_CHUNKS_MIN = c_shard.EN_SPARE_CHUNKS_MIN   # spare chunks a shard keeps, at least and at most
SPARE_CHUNKS_MAX = c_shard.EN_SPARE_CHUNKS_MAX
BATCH_OK = c_shard.EN_BATCH_OK
BATCH_KEY_TEXT = c_shard.EN_BATCH_KEY_TEXT
BATCH_KEY_LENGTH = c_shard.EN_BATCH_KEY_LENGTH
BATCH_RECORD_SIZE = c_shard.EN_BATCH_RECORD_SIZE


cdef class BatchReport:
    """What check_batch found: `fault` (a BATCH_* value) at `row` (-1: none), the key + data
    bytes of the rows before it (all rows when the batch passed), and how many of those rows'
    data begins with the `mark` asked for (0 without one)."""
    cdef readonly int fault
    cdef readonly int64_t row
    cdef readonly int64_t bytes
    cdef readonly int64_t marked


def check_batch(keys, data, int64_t key_min_chars, int64_t key_max_chars, int64_t max_record_bytes,
                int threads=1, bytes mark=None):
    """Keys well-formed UTF-8 of key_min_chars..key_max_chars code points, and key + data
    bytes of each record at most max_record_bytes: one pass in C without the GIL, the rows
    split between `threads` threads. With `mark`, the records whose data begins with it are
    counted in the same pass."""
    cdef BinaryView kv = _view(keys, "partition_keys")
    cdef BinaryView dv = _view(data, "data")
    if kv.length != dv.length:
        raise CoreValueError("keys and data differ in length")
    cdef c_shard.en_batch_rules rules
    rules.key_min_chars = key_min_chars
    rules.key_max_chars = key_max_chars
    rules.max_record_bytes = max_record_bytes
    rules.mark = <const uint8_t *>mark if mark else NULL
    rules.mark_len = len(mark) if mark else 0
    cdef c_shard.en_batch_report report
    with nogil:
        c_shard.en_batch_check_threads(&kv.view, &dv.view, kv.length, &rules, &report, threads)
    cdef BatchReport out = BatchReport.__new__(BatchReport)
    out.fault = report.fault
    out.row = report.row
    out.bytes = report.bytes
    out.marked = report.marked
    return out


cdef class ChunkPin:
    """Owns one pin on a chunk; pyarrow buffers over the chunk keep this object alive."""
    cdef c_shard.en_chunk *chunk

    def __dealloc__(self):
        if self.chunk is not NULL:
            c_shard.en_chunk_unpin(self.chunk)
            self.chunk = NULL


cdef ChunkPin _pin(c_shard.en_chunk *chunk):
    cdef ChunkPin pin = ChunkPin.__new__(ChunkPin)
    pin.chunk = chunk
    return pin


cdef class Shard:
    """One shard's log. Writers are serialized inside C; reads are lock-free after a pin."""
    cdef c_shard.en_shard *s

    def __cinit__(self, int64_t min_chunk_records=1024, int64_t max_chunk_records=1 << 22,
                  int64_t min_chunk_bytes=64 << 10, int64_t max_chunk_bytes=16 << 20):
        # Chunk bytes count everything a chunk holds (data, keys, index); from 2 MiB on chunks
        # are whole huge pages, growing by doubling from min to max (csrc/shard.h). At most
        # 16 MiB: the shards of an evenly spread stream then need fresh chunks a few at a time
        # rather than all together, so the prefault thread keeps pace (smoother calls, and
        # less memory held in spares than with 64 MiB).
        cdef c_shard.en_shard_config cfg
        cfg.min_chunk_records = min_chunk_records
        cfg.max_chunk_records = max_chunk_records
        cfg.min_chunk_bytes = min_chunk_bytes
        cfg.max_chunk_bytes = max_chunk_bytes
        self.s = <c_shard.en_shard *>malloc(sizeof(c_shard.en_shard))
        if self.s is NULL:
            raise CoreMemoryError("cannot allocate a shard")
        cdef en_status rc = c_shard.en_shard_init(self.s, &cfg)
        if rc != EN_OK:
            free(self.s)
            self.s = NULL
            check(rc)

    def __dealloc__(self):
        if self.s is not NULL:
            c_shard.en_shard_destroy(self.s)
            free(self.s)
            self.s = NULL

    def append(self, SequenceSource seqs, int64_t ts_ms, keys, data):
        """Append a whole batch to this shard; returns the int64 sequence numbers."""
        cdef BinaryView kv = _view(keys, "partition_keys")
        cdef BinaryView dv = _view(data, "data")
        if kv.length != dv.length:
            raise CoreValueError("keys and data differ in length")
        out = np.empty(kv.length, dtype=np.int64)
        cdef int64_t[::1] out_v = out
        cdef int64_t n = kv.length
        if n:
            with nogil:
                check(c_shard.en_shard_append(self.s, &seqs.value, ts_ms, NULL, n, &kv.view, &dv.view, &out_v[0]))
        return out

    def read(self, int64_t start_seq, int64_t max_records=0, int64_t max_bytes=0):
        """Records with sequence number >= start_seq from one chunk, as a zero-copy
        pyarrow RecordBatch (RECORD_SCHEMA); None when there is nothing to read."""
        cdef c_shard.en_span span
        with nogil:
            check(c_shard.en_shard_read(self.s, start_seq, max_records, max_bytes, &span))
        if span.chunk is NULL:
            return None
        return _span_batch(span)

    def read_records(self, int64_t start_seq, int64_t max_records, int64_t max_bytes, change_seqs=None,
                     change_flags=None):
        """Records from start_seq as boto3 Record dicts, built here from the chunks' buffers
        in one call: up to max_records, and data bytes up to max_bytes (only the first record
        may pass it). change_seqs/change_flags (int64, bool; sorted by seq) say from which
        sequence number on records are encrypted: those get "EncryptionType": "KMS"."""
        if not _arena_hook_installed:
            _keep_emptied_arenas()
        cdef RecordsRead out = RecordsRead.__new__(RecordsRead)
        out.records = []
        out.position = start_seq
        out.nbytes = 0
        out.last_ts_ms = -1
        cdef const int64_t[::1] cseq
        cdef const uint8_t[::1] cflag
        cdef int64_t n_changes = 0, change = -1
        if change_seqs is not None and len(change_seqs):
            cseq = np.ascontiguousarray(change_seqs, dtype=np.int64)
            cflag = np.ascontiguousarray(change_flags, dtype=np.uint8)
            n_changes = cseq.shape[0]
        cdef c_shard.en_span span
        cdef c_shard.en_chunk *c
        cdef int64_t i, got = 0, span_bytes, ts, last_ts = -1, seq
        cdef int32_t koff, klen, doff, dlen
        cdef object stamp = None
        cdef list records = out.records
        cdef dict rec
        cdef bint kms
        while got < max_records and out.nbytes < max_bytes:
            with nogil:
                check(c_shard.en_shard_read(self.s, out.position, max_records - got, max_bytes - out.nbytes, &span))
            if span.chunk is NULL:
                break
            c = span.chunk
            span_bytes = c.data_offsets[span.end] - c.data_offsets[span.begin]
            if got and out.nbytes + span_bytes > max_bytes:
                c_shard.en_chunk_unpin(c)
                break
            try:
                for i in range(span.begin, span.end):
                    seq = c.seqs[i]
                    ts = c.timestamps[i]
                    if ts != last_ts:
                        stamp = _stamp(ts)
                        last_ts = ts
                    koff = c.key_offsets[i]
                    klen = c.key_offsets[i + 1] - koff
                    doff = c.data_offsets[i]
                    dlen = c.data_offsets[i + 1] - doff
                    rec = PyDict_Copy(_RECORD)   # a copy of a clean dict clones its table: no insertions
                    PyDict_SetItem(rec, _K_SEQ, _decimal(seq))
                    PyDict_SetItem(rec, _K_TS, stamp)
                    PyDict_SetItem(rec, _K_DATA, PyBytes_FromStringAndSize(<const char *>c.data + doff, dlen))
                    PyDict_SetItem(rec, _K_KEY, _text(c.keys + koff, klen))
                    if n_changes:
                        while change + 1 < n_changes and cseq[change + 1] <= seq:
                            change += 1
                        kms = change >= 0 and cflag[change]
                        if kms:
                            PyDict_SetItem(rec, _K_ENC, _KMS)
                    PyList_Append(records, rec)
                got += span.end - span.begin
                out.nbytes += span_bytes
                out.position = c.seqs[span.end - 1] + 1
                out.last_ts_ms = last_ts
            finally:
                c_shard.en_chunk_unpin(c)
        out.more = c_shard.en_shard_has_from(self.s, out.position)
        return out

    def seq_at_time(self, int64_t ts_ms):
        """First readable sequence number with arrival time >= ts_ms (or the next to come)."""
        cdef int64_t seq
        with nogil:
            seq = c_shard.en_shard_seq_at_time(self.s, ts_ms)
        return seq

    def has_from(self, int64_t seq):
        """Whether a readable record with sequence number >= seq exists."""
        cdef int out
        with nogil:
            out = c_shard.en_shard_has_from(self.s, seq)
        return bool(out)

    @property
    def last_seq(self):
        """The newest record's sequence number (-1 before the first)."""
        return c_shard.en_shard_last_seq(self.s)

    def seq_at_or_after(self, int64_t seq):
        cdef int64_t out
        with nogil:
            out = c_shard.en_shard_seq_at_or_after(self.s, seq)
        return out

    def trim(self, int64_t min_ts_ms, int64_t max_bytes=-1):
        """Hide records older than min_ts_ms, drop oldest chunks beyond max_bytes (-1: no cap)."""
        with nogil:
            c_shard.en_shard_trim(self.s, min_ts_ms, max_bytes)

    def release(self):
        """Hide every record and give the shard's memory back now (appends may follow)."""
        with nogil:
            c_shard.en_shard_release(self.s)

    def stats(self):
        cdef c_shard.en_shard_stats st
        with nogil:
            c_shard.en_shard_stats_get(self.s, &st)
        return {"first_seq": st.first_seq, "last_seq": st.last_seq, "records": st.records,
                "bytes_allocated": st.bytes_allocated, "spare_bytes": st.spare_bytes, "spares": st.n_spares,
                "chunks": st.n_chunks, "chunks_mapped": st.chunks_mapped,
                "last_ts": st.last_ts}


def prefault_wait_idle():
    """Wait until the background thread has made every spare chunk asked of it."""
    with nogil:
        c_shard.en_prefault_wait_idle()


cdef class RecordsRead:
    """What Shard.read_records returns: the Record dicts, the next position to read, the data
    bytes read, the arrival time (ms) of the last record (-1 when none), and whether more
    records follow."""
    cdef readonly list records
    cdef readonly int64_t position, nbytes, last_ts_ms
    cdef readonly bint more         # records remain from `position` on


# Dict keys made once (C-level names, no global lookup per record): each Record dict is built
# from the same hashed str objects.
cdef str _K_SEQ = "SequenceNumber"
cdef str _K_TS = "ApproximateArrivalTimestamp"
cdef str _K_DATA = "Data"
cdef str _K_KEY = "PartitionKey"
cdef str _K_ENC = "EncryptionType"
cdef str _KMS = "KMS"
cdef object _UTC = _datetime.timezone.utc
cdef object _FROM_TIMESTAMP = _datetime.datetime.fromtimestamp
cdef dict _RECORD = {_K_SEQ: None, _K_TS: None, _K_DATA: None, _K_KEY: None}   # a Record's keys, in order
cdef dict _STAMPS = {}     # arrival ms -> datetime, shared by reads
cdef Py_ssize_t _STAMPS_MAX = 4096


cdef object _stamp(int64_t ms):
    stamp = _STAMPS.get(ms)
    if stamp is None:
        if len(_STAMPS) >= _STAMPS_MAX:
            _STAMPS.clear()
        stamp = _FROM_TIMESTAMP(<double>ms / 1000.0, _UTC)
        _STAMPS[ms] = stamp
    return stamp


cdef str _decimal(int64_t v):
    """Decimal text of a non-negative int64 as a compact ASCII str."""
    cdef char buf[24]
    cdef int n = 0, k
    cdef uint64_t u = <uint64_t>v
    while True:
        buf[23 - n] = <char>(48 + u % 10)
        u //= 10
        n += 1
        if u == 0:
            break
    cdef str out = _ascii_new(n, 127)
    cdef char *dst = <char *>_ascii_data(out)
    for k in range(n):
        dst[k] = buf[24 - n + k]
    return out


cdef str _text(const uint8_t *p, int32_t n):
    """A key's UTF-8 bytes as str; ASCII (the common case) is copied without decoding."""
    cdef int32_t k
    cdef uint8_t high = 0
    for k in range(n):
        high |= p[k]
    if high < 0x80:
        out = _ascii_new(n, 127)
        memcpy(_ascii_data(out), p, n)
        return out
    return PyUnicode_DecodeUTF8(<const char *>p, n, "replace")


# --- emptied small-object arenas kept for the next read ---------------------------------------
# A 10,000-record page of Record dicts is ~5 MB of small objects (the dict, its keys table, the
# data bytes, two str) that the caller drops soon after. CPython's allocator maps 1 MiB arenas
# for them and unmaps each arena as soon as it is empty (it keeps one), so the next page maps
# fresh ones and the kernel zero-fills every page on first touch: 250-500 minor faults per page,
# a quarter to a third of its CPU time, more or fewer from run to run with how much room the
# process's older arenas happen to have. Emptied arenas are kept (up to ARENAS_KEPT) and handed out again,
# through CPython's arena allocator hook, chained to the allocator it replaces; the first
# read_records installs it, once, for the whole process.
cdef enum:
    ARENAS_KEPT = 8     # 8 MiB at most: one full page of small records
cdef extern from "Python.h":
    ctypedef struct PyObjectArenaAllocator:
        void *ctx
        void *(*alloc)(void *ctx, size_t size) noexcept nogil
        void (*free)(void *ctx, void *ptr, size_t size) noexcept nogil
    void PyObject_GetArenaAllocator(PyObjectArenaAllocator *allocator)
    void PyObject_SetArenaAllocator(PyObjectArenaAllocator *allocator)

cdef PyObjectArenaAllocator _arena_base
cdef PyThread_type_lock _arenas_lock   # (interpreters with their own GIL share the hook)
cdef void *_arenas[ARENAS_KEPT]
cdef size_t _arena_sizes[ARENAS_KEPT]
cdef int _arenas_kept = 0
cdef bint _arena_hook_installed = False


cdef void *_arena_alloc(void *ctx, size_t size) noexcept nogil:
    global _arenas_kept
    cdef void *arena = NULL
    cdef int i
    PyThread_acquire_lock(_arenas_lock, WAIT_LOCK)
    for i in range(_arenas_kept):
        if _arena_sizes[i] == size:
            arena = _arenas[i]
            _arenas_kept -= 1
            _arenas[i] = _arenas[_arenas_kept]
            _arena_sizes[i] = _arena_sizes[_arenas_kept]
            break
    PyThread_release_lock(_arenas_lock)
    return arena if arena is not NULL else _arena_base.alloc(_arena_base.ctx, size)


cdef void _arena_free(void *ctx, void *arena, size_t size) noexcept nogil:
    global _arenas_kept
    cdef bint kept = False
    PyThread_acquire_lock(_arenas_lock, WAIT_LOCK)
    if _arenas_kept < ARENAS_KEPT:
        _arenas[_arenas_kept] = arena
        _arena_sizes[_arenas_kept] = size
        _arenas_kept += 1
        kept = True
    PyThread_release_lock(_arenas_lock)
    if not kept:
        _arena_base.free(_arena_base.ctx, arena, size)


cdef void _keep_emptied_arenas() noexcept:
    cdef PyObjectArenaAllocator hook
    global _arenas_lock, _arena_hook_installed
    _arena_hook_installed = True
    _arenas_lock = PyThread_allocate_lock()
    if _arenas_lock is NULL:
        return   # (no lock, no hook: CPython's own behaviour)
    PyObject_GetArenaAllocator(&_arena_base)
    hook.ctx = NULL
    hook.alloc = _arena_alloc
    hook.free = _arena_free
    PyObject_SetArenaAllocator(&hook)


cdef object _span_batch(c_shard.en_span span):
    cdef c_shard.en_chunk *c = span.chunk
    cdef ChunkPin pin = _pin(c)
    cdef int64_t begin = span.begin, end = span.end, n = span.end - span.begin
    key_off = pa.foreign_buffer(<uintptr_t>c.key_offsets, (end + 1) * 4, base=pin)
    key_buf = pa.foreign_buffer(<uintptr_t>c.keys, c.key_offsets[end], base=pin)
    data_off = pa.foreign_buffer(<uintptr_t>c.data_offsets, (end + 1) * 4, base=pin)
    data_buf = pa.foreign_buffer(<uintptr_t>c.data, c.data_offsets[end], base=pin)
    seq_buf = pa.foreign_buffer(<uintptr_t>c.seqs, end * 8, base=pin)
    ts_buf = pa.foreign_buffer(<uintptr_t>c.timestamps, end * 8, base=pin)
    return pa.RecordBatch.from_arrays([
        pa.Array.from_buffers(pa.string(), n, [None, key_off, key_buf], offset=begin),
        pa.Array.from_buffers(pa.binary(), n, [None, data_off, data_buf], offset=begin),
        pa.Array.from_buffers(pa.int64(), n, [None, seq_buf], offset=begin),
        pa.Array.from_buffers(RECORD_SCHEMA.field(3).type, n, [None, ts_buf], offset=begin),
    ], schema=RECORD_SCHEMA)


cdef object _shard_positions(shard_index, int64_t n, int64_t m):
    """shard_index as int32, checked to hold n values in range(m) before any cast can wrap."""
    raw = np.asarray(shard_index)
    if raw.ndim != 1 or len(raw) != n or (n and raw.dtype.kind not in "iu"):
        raise CoreValueError("shard_index must hold one integer per record")
    if n and (m == 0 or raw.min() < 0 or raw.max() >= m):
        raise CoreRangeError("shard_index out of range")
    return np.ascontiguousarray(raw, dtype=np.int32)


def append_routed(list shards, SequenceSource seqs, int64_t ts_ms, shard_index, keys, data, int threads=1):
    """Append a batch whose rows are already routed (shard_index[i] in range(len(shards))):
    each shard gets its rows in row order under its write lock, all in one GIL-free pass
    over the batch; with threads > 1 the shards are split between that many threads (each
    shard still has one writer). Returns int64 sequence numbers in row order."""
    cdef BinaryView kv = _view(keys, "partition_keys")
    cdef BinaryView dv = _view(data, "data")
    cdef int64_t n = kv.length, m = len(shards), b
    if dv.length != n:
        raise CoreValueError("keys and data differ in length")
    idx = _shard_positions(shard_index, n, m)
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    cdef int32_t[::1] idx_v = idx
    cdef int64_t[::1] out_v = out
    cdef c_shard.en_shard **ptrs = <c_shard.en_shard **>malloc(sizeof(c_shard.en_shard *) * m)
    if ptrs is NULL:
        raise CoreMemoryError("cannot allocate shard table")
    cdef c_shard.en_routed_batch batch
    batch.shards = ptrs
    batch.m = m
    batch.seq_counter = &seqs.value
    batch.ts_ms = ts_ms
    batch.shard_of = &idx_v[0]
    batch.n = n
    batch.keys = &kv.view
    batch.data = &dv.view
    batch.out_seqs = &out_v[0]
    try:
        for b in range(m):
            ptrs[b] = (<Shard?>shards[b]).s
        with nogil:
            check(c_shard.en_append_routed(&batch, threads))
    finally:
        free(ptrs)
    return out

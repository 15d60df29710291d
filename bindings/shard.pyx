# Shards: batch appends and zero-copy reads over the chunked log of csrc/shard.c.

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


BATCH_OK = c_shard.EN_BATCH_OK
BATCH_KEY_TEXT = c_shard.EN_BATCH_KEY_TEXT
BATCH_KEY_LENGTH = c_shard.EN_BATCH_KEY_LENGTH
BATCH_RECORD_SIZE = c_shard.EN_BATCH_RECORD_SIZE


cdef class BatchReport:
    """What check_batch found: `fault` (a BATCH_* value) at `row` (-1: none), and the
    key + data bytes of the rows before it (all rows when the batch passed)."""
    cdef readonly int fault
    cdef readonly int64_t row
    cdef readonly int64_t bytes


def check_batch(keys, data, int64_t key_min_chars, int64_t key_max_chars, int64_t max_record_bytes):
    """Keys well-formed UTF-8 of key_min_chars..key_max_chars code points, and key + data
    bytes of each record at most max_record_bytes: one pass in C without the GIL."""
    cdef BinaryView kv = _view(keys, "partition_keys")
    cdef BinaryView dv = _view(data, "data")
    if kv.length != dv.length:
        raise CoreValueError("keys and data differ in length")
    cdef c_shard.en_batch_rules rules
    rules.key_min_chars = key_min_chars
    rules.key_max_chars = key_max_chars
    rules.max_record_bytes = max_record_bytes
    cdef c_shard.en_batch_report report
    with nogil:
        c_shard.en_batch_check(&kv.view, &dv.view, kv.length, &rules, &report)
    cdef BatchReport out = BatchReport.__new__(BatchReport)
    out.fault = report.fault
    out.row = report.row
    out.bytes = report.bytes
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

    def __cinit__(self, int64_t min_chunk_records=1024, int64_t max_chunk_records=1 << 20,
                  int64_t min_chunk_bytes=64 << 10, int64_t max_chunk_bytes=64 << 20):
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

    def seq_at_time(self, int64_t ts_ms):
        """First readable sequence number with arrival time >= ts_ms (or the next to come)."""
        cdef int64_t seq
        with nogil:
            seq = c_shard.en_shard_seq_at_time(self.s, ts_ms)
        return seq

    def seq_at_or_after(self, int64_t seq):
        cdef int64_t out
        with nogil:
            out = c_shard.en_shard_seq_at_or_after(self.s, seq)
        return out

    def trim(self, int64_t min_ts_ms, int64_t max_bytes=-1):
        """Hide records older than min_ts_ms, drop oldest chunks beyond max_bytes (-1: no cap)."""
        with nogil:
            c_shard.en_shard_trim(self.s, min_ts_ms, max_bytes)

    def stats(self):
        cdef c_shard.en_shard_stats st
        with nogil:
            c_shard.en_shard_stats_get(self.s, &st)
        return {"first_seq": st.first_seq, "last_seq": st.last_seq, "records": st.records,
                "bytes_allocated": st.bytes_allocated, "spare_bytes": st.spare_bytes, "chunks": st.n_chunks,
                "last_ts": st.last_ts}


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


def append_routed(list shards, SequenceSource seqs, int64_t ts_ms, shard_index, keys, data):
    """Append a batch whose rows are already routed (shard_index[i] in range(len(shards))):
    rows are grouped per shard (stable) and each group is appended under that shard's
    write lock, all in one GIL-free section. Returns int64 sequence numbers in row order."""
    cdef BinaryView kv = _view(keys, "partition_keys")
    cdef BinaryView dv = _view(data, "data")
    cdef int64_t n = kv.length, m = len(shards), b
    idx = _shard_positions(shard_index, n, m)
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    starts = np.empty(m + 1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    cdef int32_t[::1] idx_v = idx
    cdef int64_t[::1] out_v = out
    cdef int64_t[::1] starts_v = starts
    cdef int64_t[::1] order_v = order
    cdef c_shard.en_shard **ptrs = <c_shard.en_shard **>malloc(sizeof(c_shard.en_shard *) * m)
    if ptrs is NULL:
        raise CoreMemoryError("cannot allocate shard table")
    try:
        for b in range(m):
            ptrs[b] = (<Shard?>shards[b]).s
        with nogil:
            check(c_hashkey.en_group(&idx_v[0], n, m, &starts_v[0], &order_v[0]))
            for b in range(m):
                if starts_v[b + 1] > starts_v[b]:
                    check(c_shard.en_shard_append(ptrs[b], &seqs.value, ts_ms, &order_v[starts_v[b]],
                                                  starts_v[b + 1] - starts_v[b], &kv.view, &dv.view, &out_v[0]))
    finally:
        free(ptrs)
    return out

# MD5 hash keys and routing of a whole batch to hash-key ranges.

_U64_MASK = 0xFFFFFFFFFFFFFFFF
_U128_MAX = (1 << 128) - 1


def md5_hash_keys(keys):
    """MD5 of each key as a 128-bit big-endian integer: returns (hi, lo) uint64 numpy arrays."""
    cdef BinaryView view = _view(keys, "keys")
    hi = np.empty(view.length, dtype=np.uint64)
    lo = np.empty(view.length, dtype=np.uint64)
    cdef uint64_t[::1] hi_v = hi
    cdef uint64_t[::1] lo_v = lo
    if view.length:
        with nogil:
            check(c_md5.en_md5_batch(&view.view, view.length, &hi_v[0], &lo_v[0]))
    return hi, lo


cdef class HashKeys:
    """Parsed explicit hash keys: 128-bit values as `hi`/`lo` uint64 arrays, and `present`
    (bool) false for rows without one (None: every row has one). `text` is the array they were
    parsed from (None when built from values)."""
    cdef readonly object hi, lo, present, text

    def __len__(self):
        return len(self.hi)


def hash_keys(hi, lo):
    """HashKeys for every row from 128-bit values already computed (e.g. the MD5 of partition
    keys a caller puts again and again): routing then hashes nothing."""
    hi = np.ascontiguousarray(hi, dtype=np.uint64)
    lo = np.ascontiguousarray(lo, dtype=np.uint64)
    if hi.ndim != 1 or lo.shape != hi.shape:
        raise CoreValueError("hi and lo must be one-dimensional and of the same length")
    cdef HashKeys out = HashKeys.__new__(HashKeys)
    out.hi, out.lo, out.present, out.text = hi, lo, None, None
    return out


def parse_hash_keys(values):
    """Decimal strings (0 .. 2^128-1) -> HashKeys; nulls are rows without a key.
    Raises CoreValueError (not a decimal of at most 39 digits, or not text at all) or
    CoreRangeError (above 2^128-1), with `.row` and `.value` set for the first bad row where
    known."""
    if isinstance(values, HashKeys):
        return values
    arr = values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not isinstance(arr, pa.Array):
        if isinstance(arr, _NOT_A_BATCH):
            raise CoreValueError(f"explicit_hash_keys: expected a sequence of str items, got {type(arr).__name__}")
        try:
            arr = pa.array(arr, type=pa.string())
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise CoreValueError(f"explicit_hash_keys: expected str items ({exc})") from None
    if pa.types.is_null(arr.type):
        arr = arr.cast(pa.string())
    elif pa.types.is_dictionary(arr.type) and _binary_like(arr.type.value_type):
        arr = arr.dictionary_decode()
    present = arr.is_valid().to_numpy(zero_copy_only=False)
    filled = arr.fill_null("0") if arr.null_count else arr
    cdef BinaryView view = BinaryView(as_binary_array(filled, "explicit_hash_keys"))
    hi = np.zeros(view.length, dtype=np.uint64)
    lo = np.zeros(view.length, dtype=np.uint64)
    cdef uint64_t[::1] hi_v = hi
    cdef uint64_t[::1] lo_v = lo
    cdef int64_t bad_row = -1
    cdef en_status rc = EN_OK
    if view.length:
        with nogil:
            rc = c_hashkey.en_parse_u128_batch(&view.view, NULL, 0, view.length, &hi_v[0], &lo_v[0], &bad_row)
    if rc != EN_OK:
        try:
            check(rc)
        except CoreValueError as exc:
            exc.row = bad_row
            exc.value = filled[bad_row].as_py()
            raise
    cdef HashKeys out = HashKeys.__new__(HashKeys)
    out.hi, out.lo, out.present, out.text = hi, lo, present, arr
    return out


cdef class Router:
    """Maps 128-bit hash keys to ranges by binary search over the sorted range starts.
    Built once per shard layout; route() crosses into C once per batch."""
    cdef object _start_hi, _start_lo
    cdef readonly int64_t size

    def __init__(self, starts):
        starts = [int(s) for s in starts]
        if not starts or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])):
            raise CoreValueError("range starts must begin at 0 and strictly increase")
        if starts[len(starts) - 1] > _U128_MAX:
            raise CoreRangeError("range starts must be at most 2^128-1")
        self._start_hi = np.array([s >> 64 for s in starts], dtype=np.uint64)
        self._start_lo = np.array([s & _U64_MASK for s in starts], dtype=np.uint64)
        self.size = len(starts)

    def route_hashes(self, hi, lo):
        hi = np.ascontiguousarray(hi, dtype=np.uint64)
        lo = np.ascontiguousarray(lo, dtype=np.uint64)
        if hi.ndim != 1 or lo.shape != hi.shape:
            raise CoreValueError("hi and lo must be one-dimensional and of the same length")
        out = np.empty(len(hi), dtype=np.int32)
        cdef uint64_t[::1] hi_v = hi
        cdef uint64_t[::1] lo_v = lo
        cdef uint64_t[::1] shi = self._start_hi
        cdef uint64_t[::1] slo = self._start_lo
        cdef int32_t[::1] out_v = out
        cdef int64_t n = len(hi)
        if n:
            with nogil:
                check(c_hashkey.en_route(&hi_v[0], &lo_v[0], n, &shi[0], &slo[0], self.size, &out_v[0]))
        return out

    def route(self, keys, explicit_hash_keys=None, int threads=1):
        """Range index of each partition key (MD5, hashed on `threads` threads), or of its
        explicit hash key where given (decimal strings, or HashKeys already parsed)."""
        cdef BinaryView view = _view(keys, "partition_keys")
        cdef int64_t n = view.length
        out = np.empty(n, dtype=np.int32)
        cdef uint64_t[::1] hi_v
        cdef uint64_t[::1] lo_v
        cdef uint64_t[::1] shi = self._start_hi
        cdef uint64_t[::1] slo = self._start_lo
        cdef int32_t[::1] out_v = out
        cdef HashKeys explicit = None
        if explicit_hash_keys is not None:
            explicit = parse_hash_keys(explicit_hash_keys)
            if len(explicit) != n:
                raise CoreValueError("explicit_hash_keys must have one item per partition key")
        if n == 0:
            return out
        if explicit is None:   # hashed and routed block by block: no digest arrays
            with nogil:
                check(c_md5.en_md5_route_threads(&view.view, n, &shi[0], &slo[0], self.size, &out_v[0], threads))
            return out
        if explicit.present is None:   # every row has its hash key: nothing to hash
            return self.route_hashes(explicit.hi, explicit.lo)
        hi = np.empty(n, dtype=np.uint64)
        lo = np.empty(n, dtype=np.uint64)
        hi_v = hi
        lo_v = lo
        with nogil:
            check(c_md5.en_md5_batch_threads(&view.view, n, &hi_v[0], &lo_v[0], threads))
        hi[explicit.present] = explicit.hi[explicit.present]
        lo[explicit.present] = explicit.lo[explicit.present]
        with nogil:
            check(c_hashkey.en_route(&hi_v[0], &lo_v[0], n, &shi[0], &slo[0], self.size, &out_v[0]))
        return out

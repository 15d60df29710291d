# Message queues: batch send / receive / delete / change visibility over csrc/queue.c.
#
# The C queue stores fixed-size message structs and body bytes; this wrapper marshals a batch
# (str/bytes bodies -> pointers, handles -> (slot, generation)), runs one C call without the
# GIL, and builds the result columns, named: Stored for a send, Received for a receive.
# Per-message Python objects are only the strings a caller asked for. Opaque per-message
# Python objects ("extras") are kept here, by tag.

from collections import namedtuple

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_DecodeASCII
from libc.string cimport memcpy, memcmp
from libc.stdint cimport INT64_MAX, UINT64_MAX, uint32_t
from includes cimport queue as c_queue
from includes cimport utf8 as c_utf8
from includes cimport md5many as c_md5many

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL
    str PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object s)

# per-row send status
cdef enum:
    Q_STORED = 0
    Q_EMPTY = 1
    Q_BAD_TEXT = 2
    Q_TOO_LONG = 3
    Q_BAD_GROUP = 4
    Q_BAD_DEDUP = 5

SEND_STORED = Q_STORED
SEND_EMPTY = Q_EMPTY
SEND_BAD_TEXT = Q_BAD_TEXT
SEND_TOO_LONG = Q_TOO_LONG
SEND_BAD_GROUP = Q_BAD_GROUP
SEND_BAD_DEDUP = Q_BAD_DEDUP
# per-row delete / change-visibility results
HANDLE_OK = c_queue.EN_QR_OK
HANDLE_STALE = c_queue.EN_QR_STALE
HANDLE_INVALID = c_queue.EN_QR_INVALID
HANDLE_NOT_INFLIGHT = c_queue.EN_QR_NOT_INFLIGHT
HANDLE_TOO_LONG = c_queue.EN_QR_TOO_LONG

# What one send stored, by row. A named tuple, not a class: SNS's delivery into SQS reads the
# status by position too.
Stored = namedtuple("Stored", "status ids md5s seqs dups", defaults=(None, None))

DEF SMALL = 16
DEF SMALL_BUF = 16384
# The GIL is released around the C work of a batch when the batch is big enough for the work
# to outweigh a GIL hand-off (which, with threads waiting, costs more than a 10-message batch).
DEF NOGIL_ROWS = 64
DEF NOGIL_BYTES = 65536


cdef c_queue.en_qnew *_batch_alloc(Py_ssize_t n, const uint8_t ***ptrs, int64_t **lens, uint8_t **dig,
                                   uint8_t **stat) except NULL:
    """One heap block for a batch of n new messages and the check's scratch (body pointers,
    lengths, MD5 digests, status bytes), carved in that order; free() the items to free it all."""
    cdef c_queue.en_qnew *items = <c_queue.en_qnew *>malloc((sizeof(c_queue.en_qnew) + sizeof(uint8_t *) + 8 + 16 + 1) * n)
    if items is NULL:
        raise CoreMemoryError("cannot allocate a batch")
    ptrs[0] = <const uint8_t **>(items + n)
    lens[0] = <int64_t *>(ptrs[0] + n)
    dig[0] = <uint8_t *>(lens[0] + n)
    stat[0] = dig[0] + 16 * n
    return items


cdef inline void _fresh_item(c_queue.en_qnew *item, int64_t delay_ms) noexcept:
    """A new message: not yet numbered, sent, received or tagged."""
    item.delay_ms = delay_ms
    item.num = -1
    item.sent_ms = -1
    item.rc = 0
    item.first_ms = -1
    item.tag = -1


cdef const char *_HEX = b"0123456789abcdef"


cdef inline str _hex16(const uint8_t *d):
    cdef str s = PyUnicode_New(32, 127)
    cdef char *out = <char *>PyUnicode_DATA(s)
    cdef int i
    for i in range(16):
        out[2 * i] = _HEX[d[i] >> 4]
        out[2 * i + 1] = _HEX[d[i] & 15]
    return s


cdef inline str _fmt(const char *prefix, Py_ssize_t plen, uint64_t v):
    """prefix (ASCII) + decimal v, written straight into a new compact ASCII str."""
    cdef char digits[24]
    cdef int k = 0, i
    while True:
        digits[k] = <char>(48 + v % 10)
        k += 1
        v //= 10
        if v == 0:
            break
    cdef str s = PyUnicode_New(plen + k, 127)
    cdef char *out = <char *>PyUnicode_DATA(s)
    memcpy(out, prefix, plen)
    for i in range(k):
        out[plen + i] = digits[k - 1 - i]
    return s


cdef inline int _parse_handle(object h, const char *prefix, Py_ssize_t plen, int64_t *slot, uint32_t *gen):
    """prefix + decimal(gen << 32 | slot), no leading zero; 0 when malformed."""
    cdef Py_ssize_t n, i
    cdef const char *p
    cdef uint64_t v = 0
    if type(h) is not str:
        return 0
    try:
        p = PyUnicode_AsUTF8AndSize(h, &n)
    except UnicodeError:
        return 0
    if n <= plen or n - plen > 20 or memcmp(p, prefix, plen) != 0 or p[plen] == 48:
        return 0
    for i in range(plen, n):
        if p[i] < 48 or p[i] > 57:
            return 0
        if v > (UINT64_MAX - <uint64_t>(p[i] - 48)) // 10:
            return 0
        v = v * 10 + <uint64_t>(p[i] - 48)
    slot[0] = <int64_t>(v & 0xFFFFFFFF)
    gen[0] = <uint32_t>(v >> 32)
    return 1


cdef int64_t _check_and_digest(c_queue.en_qnew *items, uint8_t *stat, const uint8_t **ptrs, int64_t *lens,
                               uint8_t *dig, Py_ssize_t n, int64_t max_len) noexcept nogil:
    """Check rows not refused yet (non-empty, max_len, XML text), move the good ones to the
    front (order kept) and digest them; returns how many are good."""
    cdef Py_ssize_t i
    cdef int64_t k = 0
    for i in range(n):
        if stat[i]:
            continue
        if items[i].len == 0:
            stat[i] = Q_EMPTY
        elif max_len >= 0 and items[i].len > max_len:
            stat[i] = Q_TOO_LONG
        elif not c_utf8.en_xml_text_ok(items[i].body, items[i].len):
            stat[i] = Q_BAD_TEXT
    for i in range(n):
        if stat[i] == 0:
            if k != i:
                items[k] = items[i]
            ptrs[k] = items[k].body
            lens[k] = items[k].len
            k += 1
    c_md5many.en_md5_many(ptrs, lens, k, dig)
    for i in range(k):
        memcpy(items[i].md5, dig + 16 * i, 16)
    return k


cdef inline int _body_item(object b, Py_ssize_t i, c_queue.en_qnew *item, uint8_t *stat) except -1:
    """Point `item` at a str (as UTF-8) or bytes body. Returns 1 and sets *stat when the text
    cannot be encoded, 0 otherwise; other types raise."""
    cdef const char *p
    cdef Py_ssize_t blen
    stat[0] = 0
    if type(b) is str:
        try:
            p = PyUnicode_AsUTF8AndSize(b, &blen)
        except UnicodeError:
            stat[0] = Q_BAD_TEXT
            return 1
    elif isinstance(b, bytes):
        p = PyBytes_AS_STRING(b)
        blen = PyBytes_GET_SIZE(b)
    else:
        raise CoreValueError(f"bodies[{i}]: expected str or bytes, got {type(b).__name__}")
    item.body = <const uint8_t *>p
    item.len = blen
    return 0


cdef inline int _fifo_id(object v, const uint8_t **p, int32_t *n):
    """A FIFO group / deduplication id: 1-128 printable ASCII characters, no space. 0 if not."""
    cdef Py_ssize_t blen, i
    cdef const char *c
    if type(v) is not str:
        return 0
    try:
        c = PyUnicode_AsUTF8AndSize(v, &blen)
    except UnicodeError:
        return 0
    if blen < 1 or blen > 128:
        return 0
    for i in range(blen):
        if c[i] < 0x21 or c[i] > 0x7e:
            return 0
    p[0] = <const uint8_t *>c
    n[0] = <int32_t>blen
    return 1


cdef inline str _fmt_pad10(const char *prefix, Py_ssize_t plen, uint64_t v):
    """prefix (ASCII) + v in exactly 10 decimal digits (v < 10^10)."""
    cdef str s = PyUnicode_New(plen + 10, 127)
    cdef char *out = <char *>PyUnicode_DATA(s)
    cdef int i
    memcpy(out, prefix, plen)
    for i in range(9, -1, -1):
        out[plen + i] = <char>(48 + v % 10)
        v //= 10
    return s


cdef class Received:
    """What one receive took, as named columns: lists with one row per message. `handles` is
    None for messages that left the queue (taken out or moved); `groups`, `dedups` and `seqs`
    (FIFO) are None unless asked for. `moved` holds the messages moved out past the receive
    count limit (None: none); `over_limit` tells that the in-flight limit stopped the receive."""
    cdef readonly list ids, handles, md5s, bodies, receive_counts, first_ms, sent_ms, extras
    cdef readonly list groups, dedups, seqs
    cdef public Received moved
    cdef public bint over_limit

    def __len__(self):
        return len(self.ids)


cdef Received _received(bint handles, bint fifo_cols):
    cdef Received r = Received.__new__(Received)
    r.ids = []
    r.handles = [] if handles else None
    r.md5s = []
    r.bodies = []
    r.receive_counts = []
    r.first_ms = []
    r.sent_ms = []
    r.extras = []
    if fifo_cols:
        r.groups = []
        r.dedups = []
        r.seqs = []
    return r


cdef class MessageQueue:
    """A queue of messages with visibility timeouts, delays, retention and receive counts.

    Message numbers are formatted as `id_prefix + decimal`, receipt handles as
    `handle_prefix + decimal(generation << 32 | slot)`. Times are int64 milliseconds of the
    caller's clock. Every method is one C call with the GIL released; the C queue has its
    own lock, so threads may share a queue."""
    cdef c_queue.en_queue *q
    cdef bytes _idp, _hp
    cdef readonly str id_prefix, handle_prefix
    cdef dict extras
    cdef int32_t next_tag
    cdef readonly bint fifo
    cdef readonly object seq_base
    cdef bytes _seqp

    def __cinit__(self, int64_t retention_ms, str id_prefix="", str handle_prefix="", int64_t first_num=0,
                  uint32_t chunk_bytes=1 << 20, bint fifo=False, seq_base=0, int64_t window_ms=300000,
                  int64_t delay_ms=0, bint group_scope=False):
        self.q = <c_queue.en_queue *>malloc(sizeof(c_queue.en_queue))
        if self.q is NULL:
            raise CoreMemoryError("cannot allocate a queue")
        cdef en_status rc = c_queue.en_queue_init(self.q, retention_ms, first_num, chunk_bytes)
        if rc != EN_OK:
            free(self.q)
            self.q = NULL
            check(rc)
        self.fifo = fifo
        if fifo:
            check(c_queue.en_queue_init_fifo(self.q, 1, window_ms, delay_ms, 1 if group_scope else 0))
        # sequence numbers are seq_base + a counter from 1; a base that is a multiple of 10^10
        # prints as its head and the counter in 10 digits, without Python integer arithmetic
        self.seq_base = int(seq_base)
        if self.seq_base < 0:
            raise CoreValueError("seq_base must not be negative")
        self._seqp = str(self.seq_base // 10**10).encode() if self.seq_base % 10**10 == 0 and self.seq_base else None
        if not (id_prefix.isascii() and handle_prefix.isascii()):
            raise CoreValueError("id and handle prefixes must be ASCII")
        self.id_prefix = id_prefix
        self.handle_prefix = handle_prefix
        self._idp = id_prefix.encode()
        self._hp = handle_prefix.encode()
        self.extras = {}
        self.next_tag = 0

    cdef str _seq(self, uint64_t c):
        if self._seqp is not None and c < 10000000000:
            return _fmt_pad10(self._seqp, len(self._seqp), c)
        return str(self.seq_base + c)

    def __dealloc__(self):
        if self.q is not NULL:
            c_queue.en_queue_destroy(self.q)
            free(self.q)
            self.q = NULL

    # --- tags ----------------------------------------------------------------------------------
    cdef int32_t _tag(self, object extra) except -2:
        # Tags are not reused until the counter wraps (2^31 tagged messages later): a receive
        # that read a tag just before another thread released it never sees another's extra.
        cdef int32_t t
        if extra is None:
            return -1
        t = self.next_tag
        while t in self.extras:
            t = 0 if t == 0x7FFFFFFF else t + 1
        self.next_tag = 0 if t == 0x7FFFFFFF else t + 1
        self.extras[t] = extra
        return t

    cdef object _untag(self, int32_t t):
        if t < 0:
            return None
        return self.extras.pop(t, None)

    cdef int _drain(self) except -1:
        cdef int32_t tags[256]
        cdef int64_t n, i
        while self.q.n_dead_tags:
            with nogil:
                n = c_queue.en_queue_drain_tags(self.q, tags, 256)
            if n == 0:
                break
            for i in range(n):
                self._untag(tags[i])
        return 0

    cdef int64_t _check_tag_push(self, int64_t now_ms, c_queue.en_qnew *items, uint8_t *stat,
                                 const uint8_t **ptrs, int64_t *lens, uint8_t *dig, Py_ssize_t n,
                                 int64_t max_len, tuple ext, bint release) except -1:
        """Check and digest the rows, tag the accepted ones with their extras and push them in
        one call (the GIL released for big batches); returns how many were accepted: the first
        k items, in order. On failure nothing is stored and the tags are released."""
        cdef int64_t k, j
        cdef Py_ssize_t i
        cdef en_status rc = EN_OK
        if release:
            with nogil:
                k = _check_and_digest(items, stat, ptrs, lens, dig, n, max_len)
        else:
            k = _check_and_digest(items, stat, ptrs, lens, dig, n, max_len)
        if ext is not None:
            j = 0
            for i in range(n):
                if stat[i] == 0:
                    items[j].tag = self._tag(ext[i])
                    j += 1
        if k:
            if release:
                with nogil:
                    rc = c_queue.en_queue_push(self.q, now_ms, items, k, 0)
            else:
                rc = c_queue.en_queue_push(self.q, now_ms, items, k, 0)
            if rc != EN_OK:
                for j in range(k):
                    self._untag(items[j].tag)
                check(rc)
        return k

    # --- send ----------------------------------------------------------------------------------
    def send(self, int64_t now_ms, bodies, int64_t delay_ms=0, int64_t max_len=-1, delays=None,
             extras=None, bint strings=True):
        """Check (non-empty, UTF-8 in the XML text ranges, at most max_len bytes), digest (MD5)
        and store a batch of str/bytes bodies. delays (per row, ms, None: delay_ms) and extras
        (per row, an object handed back with the message) are optional.

        Returns Stored: status None when every row was stored, else bytes of per-row SEND_*
        codes; ids and md5s (hex) are lists with None for refused rows (both None when strings
        is False)."""
        cdef tuple rows = tuple(bodies)
        cdef Py_ssize_t n = len(rows), i, blen
        cdef c_queue.en_qnew small[SMALL]
        cdef c_queue.en_qnew *items = small
        cdef uint8_t sstat[SMALL]
        cdef uint8_t *stat = sstat
        cdef const uint8_t *sptrs[SMALL]
        cdef int64_t slens[SMALL]
        cdef uint8_t sdig[16 * SMALL]
        cdef const uint8_t **ptrs = sptrs
        cdef int64_t *lens = slens
        cdef uint8_t *dig = sdig
        cdef int64_t k = 0, bad = 0, j, total = 0
        cdef bint release
        cdef const char *p
        cdef object b, d
        cdef tuple ext = tuple(extras) if extras is not None else None
        cdef tuple dl = tuple(delays) if delays is not None else None
        if n == 0:
            return Stored(None, [], [])
        if (ext is not None and len(ext) != n) or (dl is not None and len(dl) != n):
            raise CoreValueError("bodies, delays and extras differ in length")
        if n > SMALL:
            items = _batch_alloc(n, &ptrs, &lens, &dig, &stat)
        try:
            for i in range(n):
                if _body_item(rows[i], i, &items[i], &stat[i]):
                    bad += 1
                    continue
                total += items[i].len
                _fresh_item(&items[i], dl[i] if dl is not None and dl[i] is not None else delay_ms)
            release = n >= NOGIL_ROWS or total >= NOGIL_BYTES
            k = self._check_tag_push(now_ms, items, stat, ptrs, lens, dig, n, max_len, ext, release)
            bad = n - k
            if self.q.n_dead_tags:
                self._drain()
            status = None if bad == 0 else PyBytes_FromStringAndSize(<char *>stat, n)
            if not strings:
                return Stored(status, None, None)
            ids = []
            md5s = []
            j = 0
            for i in range(n):
                if stat[i]:
                    ids.append(None)
                    md5s.append(None)
                else:
                    ids.append(_fmt(self._idp, len(self._idp), <uint64_t>items[j].num))
                    md5s.append(_hex16(items[j].md5))
                    j += 1
            return Stored(status, ids, md5s)
        finally:
            if items is not small:
                free(items)

    def send_packed(self, int64_t now_ms, PackedRows rows not None, int64_t delay_ms=0, int64_t max_len=-1):
        """send, for bodies built in one buffer (a PackedRows of UTF-8 rows): no Python object
        per message in or out. Standard queues. Returns Stored(status, None, None): status None
        when every row was stored, else bytes of per-row SEND_* codes."""
        cdef Py_ssize_t n = rows.n, i
        cdef int64_t k, total = rows.offsets[n] if n else 0
        cdef const uint8_t *base = <const uint8_t *>PyBytes_AS_STRING(rows.data)
        cdef c_queue.en_qnew *items
        cdef const uint8_t **ptrs = NULL
        cdef int64_t *lens = NULL
        cdef uint8_t *dig = NULL
        cdef uint8_t *stat = NULL
        if self.fifo:
            raise CoreValueError("a FIFO queue's messages need group ids (send_fifo)")
        if n == 0:
            return Stored(None, None, None)
        items = _batch_alloc(n, &ptrs, &lens, &dig, &stat)
        try:
            for i in range(n):
                items[i].body = base + rows.offsets[i]
                items[i].len = rows.offsets[i + 1] - rows.offsets[i]
                _fresh_item(&items[i], delay_ms)
                stat[i] = 0
            k = self._check_tag_push(now_ms, items, stat, ptrs, lens, dig, n, max_len, None,
                                     n >= NOGIL_ROWS or total >= NOGIL_BYTES)
            if self.q.n_dead_tags:
                self._drain()
            return Stored(None if k == n else PyBytes_FromStringAndSize(<char *>stat, n), None, None)
        finally:
            free(items)

    def send_fifo(self, int64_t now_ms, bodies, groups, dedups, int64_t max_len=-1, extras=None):
        """FIFO queues: check (as send does, plus group and deduplication ids: 1-128 printable
        ASCII, no space; a None deduplication id: none), digest and store a batch, deduplicating
        within the window. Returns Stored (status, ids, md5s, seqs, dups): status None when every row
        was accepted, else bytes of per-row SEND_* codes; ids, md5s and seqs (decimal str) are
        lists with None for refused rows; dups is None, or bytes with 1 for each duplicate row
        (accepted, not stored: its id and sequence number are the original's)."""
        cdef tuple rows = tuple(bodies)
        cdef tuple grs = tuple(groups)
        cdef tuple dds = tuple(dedups)
        cdef Py_ssize_t n = len(rows), i, blen
        cdef c_queue.en_qnew small[SMALL]
        cdef c_queue.en_qnew *items = small
        cdef uint8_t sstat[SMALL]
        cdef uint8_t *stat = sstat
        cdef const uint8_t *sptrs[SMALL]
        cdef int64_t slens[SMALL]
        cdef uint8_t sdig[16 * SMALL]
        cdef const uint8_t **ptrs = sptrs
        cdef int64_t *lens = slens
        cdef uint8_t *dig = sdig
        cdef int64_t k = 0, j, total = 0
        cdef bint release, anydup = False
        cdef const char *p
        cdef object b, d
        cdef en_status rc
        cdef tuple ext = tuple(extras) if extras is not None else None
        if not self.fifo:
            raise CoreValueError("not a FIFO queue")
        if n == 0:
            return Stored(None, [], [], [], None)
        if len(grs) != n or len(dds) != n or (ext is not None and len(ext) != n):
            raise CoreValueError("bodies, groups, dedups and extras differ in length")
        if n > SMALL:
            items = _batch_alloc(n, &ptrs, &lens, &dig, &stat)
        try:
            for i in range(n):
                if _body_item(rows[i], i, &items[i], &stat[i]):
                    continue
                total += items[i].len
                if not _fifo_id(grs[i], &items[i].group, &items[i].glen):
                    stat[i] = Q_BAD_GROUP
                    continue
                d = dds[i]
                if d is None:
                    items[i].dedup = NULL
                    items[i].dlen = 0
                elif not _fifo_id(d, &items[i].dedup, &items[i].dlen):
                    stat[i] = Q_BAD_DEDUP
                    continue
                _fresh_item(&items[i], 0)
                items[i].seq = 0
                items[i].dup = 0
            release = n >= NOGIL_ROWS or total >= NOGIL_BYTES
            k = self._check_tag_push(now_ms, items, stat, ptrs, lens, dig, n, max_len, ext, release)
            if k:
                for j in range(k):
                    if items[j].dup:
                        anydup = True
                        self._untag(items[j].tag)
            if self.q.n_dead_tags:
                self._drain()
            status = None if k == n else PyBytes_FromStringAndSize(<char *>stat, n)
            ids = []
            md5s = []
            seqs = []
            dups = bytearray(n) if anydup else None
            j = 0
            for i in range(n):
                if stat[i]:
                    ids.append(None)
                    md5s.append(None)
                    seqs.append(None)
                else:
                    ids.append(_fmt(self._idp, len(self._idp), <uint64_t>items[j].num))
                    md5s.append(_hex16(items[j].md5))
                    seqs.append(self._seq(items[j].seq))
                    if items[j].dup:
                        dups[i] = 1
                    j += 1
            return Stored(status, ids, md5s, seqs, bytes(dups) if anydup else None)
        finally:
            if items is not small:
                free(items)

    def retry(self, int64_t now_ms, handles, int64_t due_ms, int64_t vis_ms):
        """Redo a receive (FIFO ReceiveRequestAttemptId): when every handle is current and its
        message still in flight until due_ms, each gets vis_ms more from now (0: visible
        again) and this returns True; otherwise nothing changes and it returns False."""
        cdef tuple rows = tuple(handles)
        cdef Py_ssize_t n = len(rows), i
        cdef int ok = 0
        cdef en_status rc
        cdef c_queue.en_qhandles h
        if n == 0:
            return False
        h.n = n
        h.slots = <int64_t *>malloc(n * (8 + 4))
        if h.slots is NULL:
            raise CoreMemoryError("cannot allocate a batch")
        h.gens = <uint32_t *>(h.slots + n)
        h.results = NULL
        try:
            for i in range(n):
                if not _parse_handle(rows[i], self._hp, len(self._hp), <int64_t *>&h.slots[i],
                                     <uint32_t *>&h.gens[i]):
                    return False
            with nogil:
                rc = c_queue.en_queue_retry(self.q, now_ms, &h, due_ms, vis_ms, &ok)
            check(rc)
            if self.q.n_dead_tags:
                self._drain()
            return ok != 0
        finally:
            free(<void *>h.slots)

    def set_fifo(self, int64_t now_ms, int64_t delay_ms, bint group_scope):
        """FIFO: the queue's delay (retroactive) and deduplication scope."""
        cdef en_status rc
        with nogil:
            rc = c_queue.en_queue_set_fifo(self.q, now_ms, delay_ms, 1 if group_scope else 0)
        check(rc)
        if self.q.n_dead_tags:
            self._drain()

    def restore(self, int64_t now_ms, bodies, md5s, nums=None, sent_ms=None, rcs=None, first_ms=None,
                extras=None, bint front=False, groups=None, dedups=None, seqs=None):
        """Store messages carried over from elsewhere, unchecked: str/bytes bodies, hex MD5s,
        and optionally their numbers (None: new ones), send times, receive counts and first
        receive times (ms, -1: never). front: at the head of the visible list. FIFO queues:
        groups (required), dedups (None: none) and seqs (int, kept: no deduplication, in order
        in the group; None: new, deduplicated; a duplicate is dropped). Returns the ids."""
        cdef tuple rows = tuple(bodies)
        cdef Py_ssize_t n = len(rows), i, blen
        cdef const char *p
        if n == 0:
            return []
        cdef c_queue.en_qnew *items = <c_queue.en_qnew *>malloc(sizeof(c_queue.en_qnew) * n)
        if items is NULL:
            raise CoreMemoryError("cannot allocate a batch")
        md5s = list(md5s)
        cdef list keep = []
        cdef object g
        if self.fifo and groups is None:
            free(items)
            raise CoreValueError("a FIFO queue needs group ids")
        try:
            for i in range(n):
                b = rows[i]
                if type(b) is str:
                    b = (<str>b).encode("utf-8", "surrogatepass")
                keep.append(b)
                items[i].body = <const uint8_t *>PyBytes_AS_STRING(b)
                items[i].len = PyBytes_GET_SIZE(b)
                raw = bytes.fromhex(md5s[i])
                if len(raw) != 16:
                    raise CoreValueError(f"md5s[{i}]: expected 32 hex digits")
                memcpy(items[i].md5, PyBytes_AS_STRING(raw), 16)
                items[i].delay_ms = 0
                items[i].num = -1 if nums is None or nums[i] is None else nums[i]
                items[i].sent_ms = -1 if sent_ms is None or sent_ms[i] is None else sent_ms[i]
                items[i].rc = 0 if rcs is None else rcs[i]
                items[i].first_ms = -1 if first_ms is None or first_ms[i] is None else first_ms[i]
                items[i].tag = -1
                if self.fifo:
                    g = groups[i].encode()
                    keep.append(g)
                    items[i].group = <const uint8_t *>PyBytes_AS_STRING(g)
                    items[i].glen = <int32_t>PyBytes_GET_SIZE(g)
                    g = None if dedups is None else dedups[i]
                    if g is None:
                        items[i].dedup = NULL
                        items[i].dlen = 0
                    else:
                        g = g.encode()
                        keep.append(g)
                        items[i].dedup = <const uint8_t *>PyBytes_AS_STRING(g)
                        items[i].dlen = <int32_t>PyBytes_GET_SIZE(g)
                    items[i].seq = 0 if seqs is None or seqs[i] is None else seqs[i] - self.seq_base
                    items[i].dup = 0
            if extras is not None:
                for i in range(n):
                    items[i].tag = self._tag(extras[i])
            with nogil:
                rc = c_queue.en_queue_push(self.q, now_ms, items, n, 1 if front else 0)
            if rc != EN_OK:
                for i in range(n):
                    self._untag(items[i].tag)
                check(rc)
            if self.fifo:
                for i in range(n):
                    if items[i].dup:
                        self._untag(items[i].tag)
            if self.q.n_dead_tags:
                self._drain()
            return [_fmt(self._idp, len(self._idp), <uint64_t>items[i].num) for i in range(n)]
        finally:
            free(items)

    # --- receive ----------------------------------------------------------------------------------
    def receive(self, int64_t now_ms, int64_t max_n, int64_t vis_ms, int64_t max_rc=INT64_MAX,
                int64_t inflight_max=INT64_MAX, bint remove=False, bint as_bytes=False, bint fifo_cols=False):
        """Receive (or, with remove, take out) up to max_n visible messages, head first.

        Returns a Received (named columns). Its `moved` holds the messages whose receive count
        would have exceeded max_rc: they left the queue (their extras go with them); None when
        there are none. FIFO queues fill groups, dedups and seqs for moved and removed
        messages, and for received ones when fifo_cols is set."""
        cdef c_queue.en_qout sout[SMALL]
        cdef c_queue.en_qout smoved[SMALL]
        cdef uint8_t sbuf[SMALL_BUF]
        cdef c_queue.en_qrecv r
        cdef en_status rc
        cdef c_queue.en_queue_stats st
        cdef bint fc = self.fifo and (fifo_cols or remove)
        cdef Received got = _received(not remove, fc)
        cdef Received mv = None
        if max_n > SMALL:
            # no call returns more than the visible messages: the row arrays never outgrow the queue
            with nogil:
                rc = c_queue.en_queue_stats_get(self.q, now_ms, &st)
            check(rc)
            max_n = min(max_n, st.n_visible)
        if max_n <= 0:
            return got
        r.now_ms = now_ms
        r.max_n = max_n
        r.vis_ms = vis_ms
        r.max_rc = max_rc
        r.inflight_max = inflight_max
        r.remove = 1 if remove else 0
        r.out = sout
        r.moved = smoved
        r.buf = sbuf
        r.cap = SMALL_BUF
        r.cont = -1
        if max_n > SMALL:
            r.out = <c_queue.en_qout *>malloc(sizeof(c_queue.en_qout) * max_n * 2)
            if r.out is NULL:
                raise CoreMemoryError("cannot allocate a batch")
            r.moved = r.out + max_n
        try:
            while True:
                if r.max_n >= NOGIL_ROWS:
                    with nogil:
                        rc = c_queue.en_queue_receive(self.q, &r)
                else:
                    rc = c_queue.en_queue_receive(self.q, &r)
                check(rc)
                if self.q.n_dead_tags:
                    self._drain()
                got.over_limit = r.over_limit != 0
                if r.n_out or r.n_moved or r.need == 0:
                    self._fill(got, r.out, r.n_out, r.buf, remove, as_bytes)
                    if r.n_moved:
                        if mv is None:
                            mv = got.moved = _received(False, self.fifo)
                        self._fill(mv, r.moved, r.n_moved, r.buf, True, as_bytes)
                    r.max_n -= r.n_out + r.n_moved
                    if r.need == 0 or r.max_n <= 0 or r.over_limit:
                        break
                if r.need > r.cap:  # the next body needs a bigger buffer
                    if r.buf is not sbuf:
                        free(r.buf)
                    r.cap = max(r.need, r.cap * 2)
                    r.buf = <uint8_t *>malloc(r.cap)
                    if r.buf is NULL:
                        raise CoreMemoryError("cannot allocate a receive buffer")
            return got
        finally:
            if r.buf is not sbuf and r.buf is not NULL:
                free(r.buf)
            if r.out is not sout:
                free(r.out)

    cdef int _fill(self, Received got, c_queue.en_qout *o, int64_t n, uint8_t *buf, bint take,
                   bint as_bytes) except -1:
        """Append n messages to got's columns (take: they left the queue, their extras too)."""
        cdef char *aux
        cdef int64_t i
        cdef const char *idp = self._idp
        cdef Py_ssize_t idl = len(self._idp)
        cdef const char *hp = self._hp
        cdef Py_ssize_t hl = len(self._hp)
        cdef list ids = got.ids, md5s = got.md5s, bodies = got.bodies, rcs = got.receive_counts
        cdef list firsts = got.first_ms, sents = got.sent_ms, extras = got.extras
        cdef list hs = got.handles
        cdef bint fifo_cols = got.groups is not None
        for i in range(n):
            ids.append(_fmt(idp, idl, <uint64_t>o[i].num))
            if hs is not None:
                hs.append(_fmt(hp, hl, (<uint64_t>o[i].gen << 32) | <uint64_t>o[i].slot))
            md5s.append(_hex16(o[i].md5))
            if as_bytes:
                bodies.append(PyBytes_FromStringAndSize(<char *>buf + o[i].body_off, o[i].body_len))
            else:
                bodies.append(PyUnicode_DecodeUTF8(<char *>buf + o[i].body_off, o[i].body_len, "surrogatepass"))
            rcs.append(o[i].rc)
            firsts.append(o[i].first_ms)
            sents.append(o[i].sent_ms)
            if o[i].tag < 0:
                extras.append(None)
            elif take:
                extras.append(self._untag(o[i].tag))
            else:
                extras.append(self.extras.get(o[i].tag))
            if fifo_cols:
                aux = <char *>buf + o[i].body_off + o[i].body_len
                got.groups.append(PyUnicode_DecodeASCII(aux, o[i].glen, NULL))
                got.dedups.append(PyUnicode_DecodeASCII(aux + o[i].glen, o[i].dlen, NULL) if o[i].dlen else None)
                got.seqs.append(self._seq(o[i].seq))
        return 0

    # --- delete / change visibility ------------------------------------------------------------------
    cdef int _handles(self, tuple rows, c_queue.en_qhandles *h) except -1:
        """Parse receipt handles into h (slots and generations allocated by the caller); one
        that is not of this queue's format gets slot -1 (never issued)."""
        cdef Py_ssize_t i
        cdef int64_t *slots = <int64_t *>h.slots
        cdef uint32_t *gens = <uint32_t *>h.gens
        for i in range(h.n):
            if not _parse_handle(rows[i], self._hp, len(self._hp), &slots[i], &gens[i]):
                slots[i] = -1
                gens[i] = 0
        return 0

    def delete(self, int64_t now_ms, handles):
        """Delete by receipt handles. Returns None when every handle was current, else bytes of
        per-row HANDLE_OK / HANDLE_STALE / HANDLE_INVALID."""
        cdef tuple rows = tuple(handles)
        cdef Py_ssize_t n = len(rows), i
        cdef int64_t sslots[SMALL]
        cdef uint32_t sgens[SMALL]
        cdef uint8_t sres[SMALL]
        cdef c_queue.en_qhandles h
        cdef int bad = 0
        cdef en_status rc
        if n == 0:
            return None
        h.n = n
        h.slots = sslots
        h.gens = sgens
        h.results = sres
        if n > SMALL:
            h.slots = <int64_t *>malloc(n * (8 + 4 + 1))
            if h.slots is NULL:
                raise CoreMemoryError("cannot allocate a batch")
            h.gens = <uint32_t *>(h.slots + n)
            h.results = <uint8_t *>(h.gens + n)
        try:
            self._handles(rows, &h)
            if n >= NOGIL_ROWS:
                with nogil:
                    rc = c_queue.en_queue_delete(self.q, now_ms, &h)
            else:
                rc = c_queue.en_queue_delete(self.q, now_ms, &h)
            check(rc)
            for i in range(n):
                if h.results[i]:
                    bad = 1
            if self.q.n_dead_tags:
                self._drain()
            return PyBytes_FromStringAndSize(<char *>h.results, n) if bad else None
        finally:
            if h.slots is not sslots:
                free(<void *>h.slots)

    def change_visibility(self, int64_t now_ms, handles, vis_ms, int64_t max_hold_ms):
        """Change visibility by receipt handles (vis_ms per row; 0: visible at once). Returns
        bytes of per-row HANDLE_* results."""
        cdef tuple rows = tuple(handles)
        cdef tuple vis = tuple(vis_ms)
        cdef Py_ssize_t n = len(rows), i
        cdef c_queue.en_qhandles h
        cdef en_status rc
        if n != len(vis):
            raise CoreValueError("handles and vis_ms differ in length")
        if n == 0:
            return b""
        cdef int64_t *v = <int64_t *>malloc(n * (8 + 8 + 4 + 1))
        if v is NULL:
            raise CoreMemoryError("cannot allocate a batch")
        h.n = n
        h.slots = v + n
        h.gens = <uint32_t *>(h.slots + n)
        h.results = <uint8_t *>(h.gens + n)
        try:
            for i in range(n):
                v[i] = vis[i]
            self._handles(rows, &h)
            with nogil:
                rc = c_queue.en_queue_change(self.q, now_ms, &h, v, max_hold_ms)
            check(rc)
            if self.q.n_dead_tags:
                self._drain()
            return PyBytes_FromStringAndSize(<char *>h.results, n)
        finally:
            free(v)

    # --- housekeeping ---------------------------------------------------------------------------------
    def clear(self):
        """Remove every message."""
        with nogil:
            c_queue.en_queue_clear(self.q)
        self._drain()
        self.extras.clear()

    def set_retention(self, int64_t now_ms, int64_t retention_ms):
        cdef en_status rc
        with nogil:
            rc = c_queue.en_queue_set_retention(self.q, now_ms, retention_ms)
        check(rc)
        if self.q.n_dead_tags:
            self._drain()

    def counts(self, int64_t now_ms):
        """(visible, in flight, delayed, next due ms or None) after running due transitions."""
        cdef c_queue.en_queue_stats st
        cdef en_status rc
        with nogil:
            rc = c_queue.en_queue_stats_get(self.q, now_ms, &st)
        check(rc)
        if self.q.n_dead_tags:
            self._drain()
        return (st.n_visible, st.n_inflight, st.n_delayed,
                None if st.next_due_ms == INT64_MAX else st.next_due_ms)

    def stats(self, int64_t now_ms):
        cdef c_queue.en_queue_stats st
        cdef en_status rc
        with nogil:
            rc = c_queue.en_queue_stats_get(self.q, now_ms, &st)
        check(rc)
        if self.q.n_dead_tags:
            self._drain()
        return {"visible": st.n_visible, "inflight": st.n_inflight, "delayed": st.n_delayed,
                "next_due_ms": None if st.next_due_ms == INT64_MAX else st.next_due_ms,
                "slots": st.slots, "heap": st.heap_n, "bytes_allocated": st.bytes_allocated,
                "body_bytes": st.body_bytes, "chunks": st.chunks, "extras": len(self.extras),
                "groups": st.groups, "dedups": st.dedups}

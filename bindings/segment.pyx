# Segment logs on disk (csrc/segment.c): frames of caller-serialized payloads appended with
# one C call each, read back zero-copy from read-only mappings of the segment files.

import os as _os
from collections import namedtuple

from libc.stdint cimport INT64_MIN
from libc.string cimport memset
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from includes cimport segment as c_segment

SYNC_MODES = {"flush": c_segment.EN_SEG_FLUSH, "fsync": c_segment.EN_SEG_FSYNC}
SEG_MAP_FRAME_MAX = c_segment.EN_SEG_MAP_FRAME_MAX   # flush mode: payloads up to this size are copied into a mapping

SegmentInfo = namedtuple("SegmentInfo", "base_seq last_seq first_ts max_ts size frames index_entries synced sealed")
Recovery = namedtuple("Recovery", "segments frames kept_bytes cut_bytes cut_offset")
Frame = namedtuple("Frame", "first_seq last_seq ts_ms payload flags")


class SegmentError(CoreError):
    """A segment log's file could not be read or written."""


class SegmentIOError(SegmentError, OSError):
    pass


class SegmentCorruptError(SegmentError):
    """A frame or file that does not check (CRC32C or framing): never skipped silently."""

    def __init__(self, path, offset):
        where = f" at byte {offset}" if offset >= 0 else ""
        super().__init__(f"{path}: corrupt segment data{where} (CRC32C or framing does not check)")
        self.path = path
        self.offset = offset


cdef int check_seg(c_segment.en_seg_status rc, c_segment.en_seg_error *err) except -1:
    if rc == c_segment.EN_SEG_OK:
        return 0
    if rc == c_segment.EN_SEG_ENOMEM:
        raise CoreMemoryError("out of memory")
    if rc == c_segment.EN_SEG_EINVAL:
        raise CoreValueError("bad argument for a segment log")
    path = _os.fsdecode(<bytes>err.path)
    if rc == c_segment.EN_SEG_EIO:
        raise SegmentIOError(err.err, _os.strerror(err.err) if err.err else "I/O error", path)
    raise SegmentCorruptError(path, err.offset)


def crc32c(data, unsigned int crc=0):
    """CRC-32C of a bytes-like object (extending `crc`)."""
    cdef const uint8_t[::1] v = data
    return c_segment.en_crc32c(crc, &v[0] if v.shape[0] else NULL, v.shape[0])


cdef class SegmentMapping:
    """Owns one read-only mapping of a segment file; buffers over it keep it alive."""
    cdef c_segment.en_seg_map m
    cdef readonly int64_t base_seq
    cdef bytes path

    def __dealloc__(self):
        c_segment.en_seg_unmap(&self.m)


cdef class SegmentLog:
    """A directory of segment files (csrc/segment.h). `recovery` says what opening found.
    In fsync mode, preallocate_bytes > 0 keeps the active file zero-filled that far ahead of
    its frames, so that most group-commit fdatasyncs need no journal commit."""
    cdef c_segment.en_seglog *log
    cdef readonly object recovery
    cdef readonly str directory

    def __cinit__(self, directory, *, int64_t segment_bytes, int64_t segment_ms,
                  int64_t index_interval_bytes, str sync="flush", int64_t preallocate_bytes=0):
        if sync not in SYNC_MODES:
            raise CoreValueError(f"sync must be one of {', '.join(SYNC_MODES)}")
        self.directory = _os.fspath(directory)
        cdef bytes path = _os.fsencode(self.directory)
        cdef c_segment.en_seglog_config cfg
        cfg.segment_bytes = segment_bytes
        cfg.segment_ms = segment_ms
        cfg.index_interval_bytes = index_interval_bytes
        cfg.sync = SYNC_MODES[sync]
        cfg.preallocate_bytes = preallocate_bytes
        cdef c_segment.en_seg_recovery rep
        cdef c_segment.en_seg_error err
        memset(&err, 0, sizeof(err))
        cdef const char *p = path
        cdef c_segment.en_seg_status rc
        with nogil:
            rc = c_segment.en_seglog_open(p, &cfg, &self.log, &rep, &err)
        check_seg(rc, &err)
        self.recovery = Recovery(rep.segments, rep.frames, rep.kept_bytes, rep.cut_bytes, rep.cut_offset)

    def __dealloc__(self):
        c_segment.en_seglog_close(self.log)
        self.log = NULL

    def close(self):
        """Close the active file (frames stay on disk); the log is unusable afterwards."""
        c_segment.en_seglog_close(self.log)
        self.log = NULL

    cdef c_segment.en_seglog *_open(self) except NULL:
        if self.log is NULL:
            raise CoreValueError("segment log is closed")
        return self.log

    cdef int64_t _write(self, int64_t first_seq, int64_t last_seq, int64_t ts_ms, payload, uint32_t flags,
                        bint commit) except -1:
        cdef c_segment.en_seglog *log = self._open()
        cdef Py_buffer buf
        PyObject_GetBuffer(payload, &buf, PyBUF_SIMPLE)
        cdef int64_t ticket = 0
        cdef c_segment.en_seg_error err
        memset(&err, 0, sizeof(err))
        cdef c_segment.en_seg_status rc
        try:
            if log.map is not NULL and buf.len <= c_segment.EN_SEG_MAP_FRAME_MAX:
                # a copy into the flush mapping (as the core decides), which the GIL's release and
                # retake would outlast (an unlocked read: a roll in between only costs a write(2))
                rc = c_segment.en_seglog_write(log, first_seq, last_seq, ts_ms, flags, buf.buf, buf.len, &ticket, &err)
                if rc == c_segment.EN_SEG_OK and commit:
                    rc = c_segment.en_seglog_commit(log, ticket, &err)   # (flush: nothing to wait for)
            else:
                with nogil:
                    rc = c_segment.en_seglog_write(log, first_seq, last_seq, ts_ms, flags, buf.buf, buf.len, &ticket,
                                                   &err)
                    if rc == c_segment.EN_SEG_OK and commit:
                        rc = c_segment.en_seglog_commit(log, ticket, &err)
        finally:
            PyBuffer_Release(&buf)
        check_seg(rc, &err)
        return ticket

    def append(self, int64_t first_seq, int64_t last_seq, int64_t ts_ms, payload, uint32_t flags=0):
        """Write one frame (any bytes-like payload, with the caller's `flags` bits); returns once the log's sync mode promises
        it (flush: in the file's page cache; fsync: covered by an fdatasync shared with concurrent
        appenders)."""
        self._write(first_seq, last_seq, ts_ms, payload, flags, True)

    def write(self, int64_t first_seq, int64_t last_seq, int64_t ts_ms, payload, uint32_t flags=0):
        """Write one frame (in the page cache on return) and return a ticket for commit(): a caller
        orders its writes under its own lock and waits for the disk outside it."""
        return self._write(first_seq, last_seq, ts_ms, payload, flags, False)

    def commit(self, int64_t ticket):
        """Return once the write that gave `ticket` is as durable as the sync mode promises."""
        cdef c_segment.en_seglog *log = self._open()
        cdef c_segment.en_seg_error err
        memset(&err, 0, sizeof(err))
        cdef c_segment.en_seg_status rc
        with nogil:
            rc = c_segment.en_seglog_commit(log, ticket, &err)
        check_seg(rc, &err)

    @property
    def syncs(self):
        """fdatasync calls made by group commits so far (fsync mode)."""
        return self._open().syncs

    def retain(self, int64_t min_ts=INT64_MIN, int64_t min_seq=INT64_MIN):
        """Delete the oldest whole segments whose frames are all older than min_ts or below
        min_seq; returns how many went."""
        cdef c_segment.en_seglog *log = self._open()
        cdef int64_t deleted = 0
        cdef c_segment.en_seg_error err
        memset(&err, 0, sizeof(err))
        cdef c_segment.en_seg_status rc
        with nogil:
            rc = c_segment.en_seglog_retain(log, min_ts, min_seq, &deleted, &err)
        check_seg(rc, &err)
        return deleted

    def segments(self):
        """SegmentInfo for each segment, oldest first."""
        cdef c_segment.en_seglog *log = self._open()
        cdef int64_t n = c_segment.en_seglog_segments(log, NULL, 0)
        cdef c_segment.en_seg_info *infos = <c_segment.en_seg_info *>malloc(max(n, 1) * sizeof(c_segment.en_seg_info))
        if infos is NULL:
            raise CoreMemoryError("cannot list segments")
        try:
            n = min(n, c_segment.en_seglog_segments(log, infos, n))
            return [SegmentInfo(infos[i].base_seq, infos[i].last_seq, infos[i].first_ts, infos[i].max_ts,
                                infos[i].size, infos[i].frames, infos[i].index_entries, infos[i].synced,
                                bool(infos[i].sealed))
                    for i in range(n)]
        finally:
            free(infos)

    def segment_path(self, int64_t base_seq):
        cdef char buf[4096]
        c_segment.en_seglog_segment_path(self._open(), base_seq, buf, sizeof(buf))
        return _os.fsdecode(<bytes>buf)

    def find_seq(self, int64_t seq):
        """(segment base, byte offset) of the first frame holding a sequence number >= seq, or None."""
        cdef c_segment.en_seglog *log = self._open()
        cdef c_segment.en_seg_pos pos
        cdef c_segment.en_seg_error err
        memset(&err, 0, sizeof(err))
        cdef c_segment.en_seg_status rc
        with nogil:
            rc = c_segment.en_seglog_find_seq(log, seq, &pos, &err)
        check_seg(rc, &err)
        return None if pos.base_seq < 0 else (pos.base_seq, pos.offset)

    def find_time(self, int64_t ts_ms):
        """(segment base, byte offset) of the first frame with a timestamp >= ts_ms, or None."""
        cdef c_segment.en_seglog *log = self._open()
        cdef c_segment.en_seg_pos pos
        cdef c_segment.en_seg_error err
        memset(&err, 0, sizeof(err))
        cdef c_segment.en_seg_status rc
        with nogil:
            rc = c_segment.en_seglog_find_time(log, ts_ms, &pos, &err)
        check_seg(rc, &err)
        return None if pos.base_seq < 0 else (pos.base_seq, pos.offset)

    cdef SegmentMapping _map(self, int64_t base_seq):
        cdef SegmentMapping m = SegmentMapping.__new__(SegmentMapping)
        cdef c_segment.en_seg_error err
        memset(&err, 0, sizeof(err))
        cdef c_segment.en_seg_status rc
        cdef c_segment.en_seglog *log = self._open()
        with nogil:
            rc = c_segment.en_seglog_map(log, base_seq, &m.m, &err)
        check_seg(rc, &err)
        m.base_seq = base_seq
        m.path = _os.fsencode(self.segment_path(base_seq))
        return m

    def frames(self, int64_t start_seq=INT64_MIN, start_ts=None):
        """Frames from the first holding a sequence number >= start_seq (or with a timestamp
        >= start_ts), in log order. Each payload is a pyarrow Buffer over the segment's mapping
        (no copy), checked against its CRC32C as it is read."""
        found = self.find_seq(start_seq) if start_ts is None else self.find_time(start_ts)
        if found is None:
            return
        cdef c_segment.en_seg_pos pos, nxt
        pos.base_seq, pos.offset = found
        cdef SegmentMapping m = None
        cdef c_segment.en_seg_frame f
        cdef c_segment.en_seg_error err
        while pos.base_seq >= 0:
            if m is None or m.base_seq != pos.base_seq or pos.offset >= m.m.length:
                m = self._map(pos.base_seq)
            memset(&err, 0, sizeof(err))
            check_seg(c_segment.en_seg_frame_read(&m.m, pos.offset, m.path, &f, &err), &err)
            yield Frame(f.first_seq, f.last_seq, f.ts_ms,
                        pa.foreign_buffer(<uintptr_t>f.payload, f.length, base=m), f.flags)
            c_segment.en_seglog_next(self._open(), &pos, f.next_offset, &nxt)
            pos = nxt


cdef class RoutedFrames:
    """A put's records as Arrow IPC frames (csrc/arrowframe.h): one per shard it touched
    (more when a shard's part exceeds max_frame_bytes), in one buffer this object owns.
    `shard`, `first_row` and `last_row` say, per frame, which shard (index into `labels`)
    and which input rows it starts and ends with."""
    cdef c_segment.en_ipc_put put
    cdef readonly list labels

    def __dealloc__(self):
        c_segment.en_ipc_put_free(&self.put)

    def __len__(self):
        return self.put.n_frames

    @property
    def shard(self):
        return [self.put.frames[i].shard for i in range(self.put.n_frames)]

    @property
    def first_row(self):
        return [self.put.frames[i].first_row for i in range(self.put.n_frames)]

    @property
    def last_row(self):
        return [self.put.frames[i].last_row for i in range(self.put.n_frames)]

    def payload(self, int64_t i):
        """Frame i's Arrow IPC message, a pyarrow Buffer over this object's memory."""
        if not 0 <= i < self.put.n_frames:
            raise IndexError(i)
        return pa.foreign_buffer(<uintptr_t>(self.put.buf + self.put.frames[i].offset),
                                 self.put.frames[i].length, base=self)


def encode_routed(position, stored, BinaryView keys, BinaryView data, list labels,
                  int64_t max_frame_bytes=c_segment.EN_IPC_FRAME_MAX):
    """Frame the rows of a routed batch by shard in one C pass: row r (only where the bool
    array `stored` is set, when given) goes to shard position[r] (int32, < len(labels))."""
    cdef const int32_t[::1] pos = position
    cdef const uint8_t[::1] keep
    cdef const uint8_t *keep_ptr = NULL
    cdef int64_t n = pos.shape[0]
    if keys.length != n or data.length != n:
        raise CoreValueError("keys, data and positions differ in length")
    if stored is not None:
        keep = stored.view(np.uint8)
        if keep.shape[0] != n:
            raise CoreValueError("stored and positions differ in length")
        keep_ptr = &keep[0] if n else NULL
    cdef RoutedFrames out = RoutedFrames.__new__(RoutedFrames)
    out.labels = labels
    cdef int32_t n_shards = len(labels)
    cdef en_status rc
    with nogil:
        rc = c_segment.en_ipc_encode_routed(&pos[0] if n else NULL, keep_ptr, n, n_shards, &keys.view,
                                            &data.view, max_frame_bytes, &out.put)
    check(rc)
    return out


cdef class Tickets:
    """What write_frames wrote: commit() returns once all of it is as durable as the logs'
    sync mode promises (fsync: one wave of fdatasyncs shared with concurrent writers)."""
    cdef list logs                      # keeps the SegmentLogs alive
    cdef c_segment.en_seglog **ptrs
    cdef int64_t *tickets
    cdef int64_t n

    def __dealloc__(self):
        free(self.ptrs)
        free(self.tickets)

    def commit(self):
        cdef c_segment.en_seg_error err
        memset(&err, 0, sizeof(err))
        cdef c_segment.en_seg_status rc
        for log in self.logs:
            (<SegmentLog?>log)._open()
        with nogil:
            rc = c_segment.en_seglog_commit_many(self.ptrs, self.tickets, self.n, &err)
        check_seg(rc, &err)


def write_frames(list logs, RoutedFrames frames, seqs, int64_t ts_ms, list payloads=None, uint32_t flags=0):
    """Write frame i of `frames` to logs[i] with sequence numbers seqs[first_row[i]] ..
    seqs[last_row[i]] (int64 per input row), each with one pwritev; `payloads`, when given,
    replaces each frame's payload (e.g. sealed) and `flags` marks them. Returns Tickets."""
    cdef const int64_t[::1] seq = seqs
    cdef int64_t n = frames.put.n_frames, i
    if len(logs) != n or (payloads is not None and len(payloads) != n):
        raise CoreValueError("one log (and payload) per frame expected")
    cdef Tickets out = Tickets.__new__(Tickets)
    out.logs = logs
    out.ptrs = <c_segment.en_seglog **>malloc(max(n, 1) * sizeof(c_segment.en_seglog *))
    out.tickets = <int64_t *>malloc(max(n, 1) * sizeof(int64_t))
    if out.ptrs is NULL or out.tickets is NULL:
        raise CoreMemoryError("cannot allocate a write")
    cdef const c_segment.en_ipc_frame *f
    for i in range(n):
        f = &frames.put.frames[i]
        if not (0 <= f.first_row < seq.shape[0] and 0 <= f.last_row < seq.shape[0]):
            raise CoreValueError("sequence numbers do not cover the frames' rows")
        out.ptrs[i] = (<SegmentLog?>logs[i])._open()
    if payloads is not None:
        for i in range(n):
            f = &frames.put.frames[i]
            out.tickets[i] = (<SegmentLog>logs[i])._write(seq[f.first_row], seq[f.last_row], ts_ms, payloads[i],
                                                           flags, False)
        out.n = n
        return out
    cdef c_segment.en_seg_error err
    memset(&err, 0, sizeof(err))
    cdef c_segment.en_seg_status rc = c_segment.EN_SEG_OK
    with nogil:
        for i in range(n):
            f = &frames.put.frames[i]
            rc = c_segment.en_seglog_write(out.ptrs[i], seq[f.first_row], seq[f.last_row], ts_ms, flags,
                                           frames.put.buf + f.offset, f.length, &out.tickets[i], &err)
            if rc != c_segment.EN_SEG_OK:
                break
    check_seg(rc, &err)
    out.n = n
    return out


def sync_waves():
    """Waves of fdatasyncs group commits have run so far in this process (each serves every
    log written since the one before)."""
    return c_segment.en_seg_sync_waves()


def commit_many(list pairs):
    """Commit (SegmentLog, ticket) pairs of logs sharing one sync mode at once: in fsync mode
    their fdatasyncs run in parallel, so a put touching several shards waits for one flush."""
    cdef int64_t n = len(pairs), i
    if n == 0:
        return
    cdef c_segment.en_seglog **logs = <c_segment.en_seglog **>malloc(n * sizeof(c_segment.en_seglog *))
    cdef int64_t *tickets = <int64_t *>malloc(n * sizeof(int64_t))
    cdef c_segment.en_seg_error err
    cdef c_segment.en_seg_status rc
    memset(&err, 0, sizeof(err))
    try:
        if logs is NULL or tickets is NULL:
            raise CoreMemoryError("cannot allocate a commit")
        for i in range(n):
            log, ticket = pairs[i]
            logs[i] = (<SegmentLog?>log)._open()
            tickets[i] = ticket
        with nogil:
            rc = c_segment.en_seglog_commit_many(logs, tickets, n, &err)
        check_seg(rc, &err)
    finally:
        free(logs)
        free(tickets)

"""SQS queues on disk (issue 13): each queue's settings and an append-only log of what happened
to its messages, folded into a snapshot now and then, so disk use tracks the live messages.

<root>/<queue name>/queue.json   the queue's settings (attributes, tags, id prefix), replaced whole
<root>/<queue name>/log/          a segment log (csrc/segment.h): one frame per operation, numbered
                                  from 1, holding the operation as CBOR (AES-256-GCM sealed when the
                                  queue asks for server-side encryption)
<root>/<queue name>/snap-<n>      the fold of every operation before n (CBOR, sealed likewise)

An operation records what the native queue did, not what it was asked: the ids, handles,
deadlines and receive counts it handed out. Folding operations gives each live message's body,
digests, attributes, send time, receive count, first receive, visible-at time, current receipt
handle and FIFO group and deduplication id, plus the deduplication records still in their window.
A restart folds the newest snapshot and the frames after it and rebuilds the native queue from
the fold (rebuild). Operations are written under the store's lock right after the native call
they describe, so the log holds them in the order the queue applied them; the commit (fsync: a
group commit) happens outside the lock, before the call returns.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
from typing import NamedTuple

import cbor2

from .. import _core
from ..atrest import AtRestKey
from ..kinesis.store import lock_directory
from .rules import AttributeValue, NO_LIMIT

SEGMENT_BYTES = 4 << 20              # a log segment seals at this size ...
SEGMENT_MS = 3_600_000               # ... or an hour after its first operation
INDEX_INTERVAL_BYTES = 64 << 10      # (the log is only read from a snapshot's operation on)
COMPACT_MIN_BYTES = 16 << 20         # fold sealed segments into a snapshot once they hold this much
COMPACT_SNAPSHOT_RATIO = 2           # ... and at least this many times the last snapshot's size
META_FILE = "queue.json"
LOG_DIR = "log"
SNAPSHOT_PREFIX = "snap-"
PLAIN, SEALED = b"\x00", b"\x01"     # a payload's first byte

# operations: [kind, now_ms, rows]
ADD = "a"          # rows: Added (messages stored); `dedup` marks rows that made deduplication records
RECEIVE = "r"      # rows: [id, handle, visible-at ms, receive count, first receive ms]
DELETE = "x"       # rows: handles
VISIBILITY = "v"   # rows: [handle, visible-at ms]
REMOVE = "g"       # rows: ids (moved to another queue)
PURGE = "p"        # rows: none
HANDLES = "h"      # rows: [old handle, new handle] (a restart gave in-flight messages new handles)


class Message:
    """A live message as the fold knows it."""
    __slots__ = ("order", "body", "md5", "sent_ms", "visible_ms", "rc", "first_ms", "extra", "group", "dedup",
                 "handle", "aliases")

    def __init__(self, order, body, md5, sent_ms, visible_ms, rc, first_ms, extra, group, dedup, handle=None,
                 aliases=()):
        self.order = order
        self.body = body
        self.md5 = md5
        self.sent_ms = sent_ms
        self.visible_ms = visible_ms   # delayed or in flight until (ms); <= now: visible
        self.rc = rc
        self.first_ms = first_ms
        self.extra = extra             # encoded MessageExtra (extra_row) or None
        self.group = group
        self.dedup = dedup
        self.handle = handle           # the current receipt handle, None before the first receive
        self.aliases = aliases         # the handles it was received with before restarts gave it `handle`

    def handles(self) -> tuple:
        return (self.handle, *self.aliases) if self.handle is not None else ()

    def row(self, mid: str) -> list:
        return [mid, self.order, self.body, self.md5, self.sent_ms, self.visible_ms, self.rc, self.first_ms,
                self.extra, self.group, self.dedup, self.handle, list(self.aliases)]


class DedupRecord(NamedTuple):
    sent_ms: int
    expires_ms: int
    mid: str
    group: str
    dedup: str


class Fold:
    """Live messages, current handles and deduplication records after a run of operations."""

    def __init__(self):
        self.messages: dict[str, Message] = {}
        self.handles: dict[str, str] = {}         # current receipt handle (or an alias) -> message id
        self.dedups: dict[tuple, DedupRecord] = {}   # (group, dedup id) -> record
        self.order = 0
        self.max_num = -1                         # the highest own message number ever stored
        self.last_ms = 0

    def apply(self, op: list, id_prefix: str, window_ms: int) -> None:
        kind, now, rows = op
        self.last_ms = max(self.last_ms, now)
        messages, handles = self.messages, self.handles
        if kind == RECEIVE:
            for mid, handle, visible_ms, rc, first_ms in rows:
                m = messages.get(mid)
                if m is not None:
                    self._drop_handles(m)
                    m.handle, m.aliases, m.visible_ms, m.rc, m.first_ms = handle, (), visible_ms, rc, first_ms
                    handles[handle] = mid
        elif kind == DELETE:
            for handle in rows:
                mid = handles.get(handle)
                if mid is not None:
                    self._drop_handles(messages.pop(mid))
        elif kind == ADD:
            plen = len(id_prefix)
            for mid, body, md5, sent_ms, visible_ms, rc, first_ms, extra, group, dedup, recorded in rows:
                old = messages.get(mid)
                if old is not None:   # put back where it was (a dead-letter move that found no queue)
                    self._drop_handles(old)
                else:
                    self.order += 1
                messages[mid] = Message(self.order if old is None else old.order, body, md5, sent_ms, visible_ms, rc, first_ms, extra, group,
                                        dedup)
                if mid.startswith(id_prefix) and mid[plen:].isdigit():
                    self.max_num = max(self.max_num, int(mid[plen:]))
                if recorded:
                    self.dedups[(group, dedup)] = DedupRecord(now, now + window_ms, mid, group, dedup)
        elif kind == VISIBILITY:
            for handle, visible_ms in rows:
                mid = handles.get(handle)
                if mid is not None:
                    messages[mid].visible_ms = visible_ms
        elif kind == REMOVE:
            for mid in rows:
                m = messages.pop(mid, None)
                if m is not None:
                    self._drop_handles(m)
        elif kind == HANDLES:
            for old, new in rows:
                mid = handles.get(old)
                if mid is not None:   # the old handles stay aliases: clients hold them
                    m = messages[mid]
                    m.aliases = (*m.aliases, m.handle)
                    m.handle = new
                    handles[new] = mid
        elif kind == PURGE:
            messages.clear()
            handles.clear()

    def _drop_handles(self, m: Message) -> None:
        for h in m.handles():
            self.handles.pop(h, None)

    def prune(self, now_ms: int, retention_ms: int) -> None:
        """Drop messages past their retention and deduplication records past their window."""
        for mid in [mid for mid, m in self.messages.items() if m.sent_ms + retention_ms <= now_ms]:
            self._drop_handles(self.messages.pop(mid))
        for key in [k for k, r in self.dedups.items() if r.expires_ms <= now_ms]:
            del self.dedups[key]

    def encode(self) -> dict:
        return {"messages": [m.row(mid) for mid, m in self.messages.items()],
                "dedups": [list(r) for r in self.dedups.values()],
                "order": self.order, "max_num": self.max_num, "last_ms": self.last_ms}

    @classmethod
    def decode(cls, doc: dict) -> Fold:
        fold = cls()
        for mid, *fields, aliases in doc["messages"]:
            m = fold.messages[mid] = Message(*fields, tuple(aliases))
            for h in m.handles():
                fold.handles[h] = mid
        for r in doc["dedups"]:
            record = DedupRecord(*r)
            fold.dedups[(record.group, record.dedup)] = record
        fold.order, fold.max_num, fold.last_ms = doc["order"], doc["max_num"], doc["last_ms"]
        return fold


# --- extras -------------------------------------------------------------------------------------
def extra_row(x) -> list | None:
    """A MessageExtra as plain values."""
    if x is None:
        return None
    attrs = None if x.attrs is None else {k: list(v) for k, v in x.attrs.items()}
    return [attrs, x.attrs_md5, x.trace, x.trace_md5, x.group, x.dlq_source, x.mid]


def extra_of(row, extra_cls):
    if row is None:
        return None
    attrs, *rest = row
    return extra_cls(None if attrs is None else {k: AttributeValue(*v) for k, v in attrs.items()}, *rest)


def _reported(ids: list, extras) -> list:
    """The ids a caller sees: a message keeping another queue's id reports that one."""
    if extras is None or extras.count(None) == len(extras):
        return ids
    return [x.mid if x is not None and x.mid is not None else i for i, x in zip(ids, extras)]


# --- files --------------------------------------------------------------------------------------
class QueueStore:
    """One queue's files. `sync` is the engine's durability (flush or fsync); `encrypts()` says
    whether the queue wants its messages sealed; `key()` gives the data dir's key."""

    def __init__(self, directory: str, sync: str, arn: str, key_source):
        self.directory = directory
        self.sync = sync
        self.arn = arn
        self._key_source = key_source
        self.lock = threading.Lock()     # a native call and its operation's write, in one order
        self.closed = False
        os.makedirs(os.path.join(directory, LOG_DIR), exist_ok=True)
        self._log = _core.SegmentLog(os.path.join(directory, LOG_DIR), segment_bytes=SEGMENT_BYTES,
                                     segment_ms=SEGMENT_MS, index_interval_bytes=INDEX_INTERVAL_BYTES,
                                     sync=sync)
        self.next_op = 1
        self._since_snapshot = 0         # bytes written since the last snapshot
        self._snapshot_bytes = 0
        self._compacting: threading.Thread | None = None
        self.encrypts = lambda: False

    # --- metadata --------------------------------------------------------------------------------
    def save_meta(self, meta: dict) -> None:
        _replace(os.path.join(self.directory, META_FILE), json.dumps(meta).encode(), self.sync)

    def load_meta(self) -> dict | None:
        try:
            with open(os.path.join(self.directory, META_FILE)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    # --- operations ------------------------------------------------------------------------------
    def _seal(self, data: bytes, aad: str) -> bytes:
        if self.encrypts():
            return SEALED + self._key_source().encrypt(data, aad.encode())
        return PLAIN + data

    def _open(self, payload, aad: str, what: str):
        data = bytes(payload)
        if data[:1] == SEALED:
            return self._key_source(create=False).decrypt(data[1:], aad.encode(), what)
        return data[1:]

    def write(self, op: list) -> int:
        """Append one operation (the caller holds `lock`); returns the ticket to commit."""
        n = self.next_op
        payload = self._seal(cbor2.dumps(op), f"{self.arn}:{n}")
        ticket = self._log.write(n, n, op[1], payload)
        self.next_op = n + 1
        self._since_snapshot += len(payload)
        return ticket

    def commit(self, ticket: int) -> None:
        self._log.commit(ticket)
        if (self._since_snapshot >= COMPACT_MIN_BYTES
                and self._since_snapshot >= COMPACT_SNAPSHOT_RATIO * self._snapshot_bytes):
            self._start_compaction()

    # --- recovery and compaction -----------------------------------------------------------------
    def _snapshots(self) -> list[int]:
        return sorted(int(f[len(SNAPSHOT_PREFIX):]) for f in os.listdir(self.directory)
                      if f.startswith(SNAPSHOT_PREFIX) and f[len(SNAPSHOT_PREFIX):].isdigit())

    def _load_snapshot(self, n: int) -> Fold:
        path = os.path.join(self.directory, f"{SNAPSHOT_PREFIX}{n}")
        with open(path, "rb") as f:
            data = f.read()
        self._snapshot_bytes = len(data)
        return Fold.decode(cbor2.loads(self._open(data, f"{self.arn}:snapshot:{n}", path)))

    def _fold(self, upto: int | None, id_prefix: str, window_ms: int) -> tuple[Fold, int]:
        """The newest snapshot and the operations after it (those before `upto` when given);
        returns the fold and the number of the next operation."""
        snapshots = self._snapshots()
        start = snapshots[-1] if snapshots else 1
        fold = self._load_snapshot(start) if snapshots else Fold()
        nxt = start
        for frame in self._log.frames(start_seq=start):
            if upto is not None and frame.first_seq >= upto:
                break
            op = cbor2.loads(self._open(frame.payload, f"{self.arn}:{frame.first_seq}",
                                        f"{self._log.directory} operation {frame.first_seq}"))
            fold.apply(op, id_prefix, window_ms)
            nxt = frame.first_seq + 1
        return fold, nxt

    def recover(self, id_prefix: str, window_ms: int) -> Fold:
        for f in os.listdir(self.directory):
            if f.endswith(".tmp"):   # a snapshot cut short by a crash
                os.unlink(os.path.join(self.directory, f))
        fold, self.next_op = self._fold(None, id_prefix, window_ms)
        return fold

    def _start_compaction(self) -> None:
        with self.lock:
            if self._compacting is not None or self.closed:
                return
            sealed = [s for s in self._log.segments() if s.sealed]
            if not sealed:
                return
            upto = sealed[-1].last_seq + 1
            self._since_snapshot = 0
            self._compacting = threading.Thread(target=self._compact, args=(upto,), daemon=True,
                                                name=f"sqs-compact {os.path.basename(self.directory)}")
            self._compacting.start()

    def _compact(self, upto: int) -> None:
        """Fold the sealed segments into snapshot `upto`, then delete them and older snapshots."""
        try:
            fold, _ = self._fold(upto, self.id_prefix, self.window_ms)
            fold.prune(fold.last_ms, self.retention_ms())
            data = self._seal(cbor2.dumps(fold.encode()), f"{self.arn}:snapshot:{upto}")
            with self.lock:
                if self.closed:
                    return
                _replace(os.path.join(self.directory, f"{SNAPSHOT_PREFIX}{upto}"), data, self.sync)
                self._snapshot_bytes = len(data)
                self._log.retain(min_seq=upto)
                for n in self._snapshots():
                    if n < upto:
                        os.unlink(os.path.join(self.directory, f"{SNAPSHOT_PREFIX}{n}"))
        finally:
            self._compacting = None

    def compact(self) -> None:
        """Fold every sealed segment now and wait (tests, benchmarks)."""
        self._start_compaction()
        thread = self._compacting
        if thread is not None:
            thread.join()

    def size(self) -> int:
        """Bytes of the queue's files."""
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(self.directory) for f in files)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            thread = self._compacting
        if thread is not None:
            thread.join()
        self._log.close()

    def delete(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _replace(path: str, data: bytes, sync: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        if sync == "fsync":
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if sync == "fsync":
        fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- the native queue, logged --------------------------------------------------------------------
class DurableQueue:
    """engine._core.MessageQueue with every change logged to a QueueStore before it returns:
    the same methods, so the queue models run unchanged over either."""

    def __init__(self, q: _core.MessageQueue, store: QueueStore):
        self._q = q
        self.store = store
        self.fifo = q.fifo
        self.id_prefix = q.id_prefix
        self.seq_base = q.seq_base
        self.counts = q.counts
        self.stats = q.stats
        self.set_retention = q.set_retention
        self.set_fifo = q.set_fifo

    def _logged(self, kind: str, now_ms: int, rows) -> int | None:
        return None if self.store.closed else self.store.write([kind, now_ms, rows])

    def _commit(self, ticket) -> None:
        if ticket is not None:
            self.store.commit(ticket)

    def send(self, now_ms, bodies, delay_ms=0, max_len=-1, delays=None, extras=None):
        bodies = tuple(bodies)
        store = self.store
        with store.lock:
            stored = self._q.send(now_ms, bodies, delay_ms, max_len, delays, extras)
            rows = []
            status = stored.status
            for i, mid in enumerate(stored.ids):
                if status is None or not status[i]:
                    x = None if extras is None else extras[i]
                    d = delay_ms if delays is None or delays[i] is None else delays[i]
                    rows.append([mid, bodies[i], stored.md5s[i], now_ms, now_ms + d, 0, -1, extra_row(x),
                                 None, None, False])
            ticket = self._logged(ADD, now_ms, rows) if rows else None
        self._commit(ticket)
        return stored

    def send_fifo(self, now_ms, bodies, groups, dedups, max_len=-1, extras=None):
        bodies = tuple(bodies)
        store = self.store
        with store.lock:
            stored = self._q.send_fifo(now_ms, bodies, groups, dedups, max_len, extras)
            rows = []
            status, dups = stored.status, stored.dups
            for i, mid in enumerate(stored.ids):
                if (status is None or not status[i]) and (dups is None or not dups[i]):
                    x = None if extras is None else extras[i]
                    rows.append([mid, bodies[i], stored.md5s[i], now_ms, 0, 0, -1, extra_row(x), groups[i],
                                 dedups[i], dedups[i] is not None])
            ticket = self._logged(ADD, now_ms, rows) if rows else None
        self._commit(ticket)
        return stored

    def restore(self, now_ms, bodies, md5s, nums=None, sent_ms=None, rcs=None, first_ms=None, extras=None,
                front=False, groups=None, dedups=None, seqs=None):
        bodies, md5s = tuple(bodies), list(md5s)
        store = self.store
        with store.lock:
            ids = self._q.restore(now_ms, bodies, md5s, nums, sent_ms, rcs, first_ms, extras, front, groups,
                                  dedups, seqs)
            reported = _reported(ids, extras)
            rows = []
            for i, mid in enumerate(reported):
                sent = now_ms if sent_ms is None or sent_ms[i] is None else sent_ms[i]
                dedup = None if dedups is None else dedups[i]
                rows.append([mid, bodies[i], md5s[i], sent, 0, 0 if rcs is None else rcs[i],
                             -1 if first_ms is None or first_ms[i] is None else first_ms[i],
                             extra_row(None if extras is None else extras[i]),
                             None if groups is None else groups[i], dedup, seqs is None and dedup is not None])
            ticket = self._logged(ADD, now_ms, rows) if rows else None
        self._commit(ticket)
        return ids

    def receive(self, now_ms, max_n, vis_ms, max_rc=NO_LIMIT, inflight_max=NO_LIMIT, remove=False,
                as_bytes=False, fifo_cols=False):
        """Received messages are logged with their handles; messages that left the queue (moved,
        removed) are logged by `removed` once their destination has them."""
        store = self.store
        with store.lock:
            got = self._q.receive(now_ms, max_n, vis_ms, max_rc, inflight_max, remove, as_bytes, fifo_cols)
            ticket = None
            if got.ids and not remove:
                due = now_ms + vis_ms
                ticket = self._logged(RECEIVE, now_ms, [
                    [mid, h, due, rc, first] for mid, h, rc, first in
                    zip(_reported(got.ids, got.extras), got.handles, got.receive_counts, got.first_ms)])
        self._commit(ticket)
        return got

    def removed(self, now_ms: int, ids: list) -> None:
        """Messages that left the queue for another (after the other logged them: a crash in
        between leaves a copy in both, never in neither)."""
        if ids:
            with self.store.lock:
                ticket = self._logged(REMOVE, now_ms, list(ids))
            self._commit(ticket)

    def handles_moved(self, now_ms: int, handles: dict) -> None:
        """A restart gave in-flight messages new handles (old -> new)."""
        with self.store.lock:
            ticket = self._logged(HANDLES, now_ms, [[old, new] for old, new in handles.items()])
        self._commit(ticket)

    def delete(self, now_ms, handles):
        handles = tuple(handles)
        with self.store.lock:
            res = self._q.delete(now_ms, handles)
            done = list(handles) if res is None else [h for h, r in zip(handles, res) if r == _core.HANDLE_OK]
            ticket = self._logged(DELETE, now_ms, done) if done else None
        self._commit(ticket)
        return res

    def change_visibility(self, now_ms, handles, vis_ms, max_hold_ms):
        handles, vis_ms = tuple(handles), tuple(vis_ms)
        with self.store.lock:
            res = self._q.change_visibility(now_ms, handles, vis_ms, max_hold_ms)
            done = [[h, now_ms + v] for h, v, r in zip(handles, vis_ms, res) if r == _core.HANDLE_OK]
            ticket = self._logged(VISIBILITY, now_ms, done) if done else None
        self._commit(ticket)
        return res

    def retry(self, now_ms, handles, due_ms, vis_ms):
        with self.store.lock:
            ok = self._q.retry(now_ms, handles, due_ms, vis_ms)
            ticket = self._logged(VISIBILITY, now_ms, [[h, now_ms + vis_ms] for h in handles]) if ok else None
        self._commit(ticket)
        return ok

    def clear(self):
        """PurgeQueue (a closing queue's clear is not an operation: its store is closed first)."""
        with self.store.lock:
            self._q.clear()
            ticket = self._logged(PURGE, 0, [])
        self._commit(ticket)


# --- rebuilding a queue from its fold ------------------------------------------------------------
def rebuild(q: _core.MessageQueue, fold: Fold, now_ms: int, id_prefix: str, extra_cls) -> dict:
    """Put the fold's live messages into the empty native queue q, each in its state: delayed
    ones delayed until their time (standard queues), in-flight ones in flight until their
    deadline, the rest visible in their order; FIFO deduplication records of gone messages
    until their window ends. In-flight messages get new handles: returns {old handle: new}."""
    plen = len(id_prefix)

    def num(mid):
        return int(mid[plen:]) if mid.startswith(id_prefix) and mid[plen:].isdigit() else None

    live = sorted(fold.messages.items(), key=lambda kv: kv[1].order)
    seqs = None
    if q.fifo:
        # Deduplication records come back through placeholders sent at the record's time and
        # already past retention: the record stays for the rest of its window (reporting the
        # original id), the placeholder goes at once. More placeholders then move the sequence
        # counter past the numbers the live messages take, in their order (kept numbers are not
        # deduplicated and keep each group's order).
        records = sorted((r for r in fold.dedups.values() if num(r.mid) is not None), key=lambda r: r.sent_ms)
        for r in records:
            q.restore(r.sent_ms, [""], ["0" * 32], nums=[num(r.mid)], sent_ms=[0], groups=[r.group],
                      dedups=[r.dedup])
        first = len(records) + 1
        if live:
            q.restore(now_ms, [""] * len(live), ["0" * 32] * len(live), sent_ms=[0] * len(live),
                      groups=["-"] * len(live))
        q.counts(now_ms)
        seqs = {mid: q.seq_base + first + k for k, (mid, _) in enumerate(live)}
    else:
        delayed = [(mid, m) for mid, m in live if m.handle is None and m.visible_ms > now_ms]
        delayed.sort(key=lambda kv: kv[1].sent_ms)
        for mid, m in delayed:   # sent again at their own time (the queue is empty before now)
            x = extra_of(m.extra, extra_cls) or extra_cls()
            x.mid = mid
            q.send(m.sent_ms, [m.body], delays=[m.visible_ms - m.sent_ms], extras=[x])
        live = [(mid, m) for mid, m in live if not (m.handle is None and m.visible_ms > now_ms)]
    inflight = [(mid, m) for mid, m in live if m.handle is not None and m.visible_ms > now_ms]
    rest = [(mid, m) for mid, m in live if not (m.handle is not None and m.visible_ms > now_ms)]
    handles = {}
    if inflight:
        _restore(q, now_ms, inflight, num, extra_cls, seqs, received=True)
        got = q.receive(now_ms, len(inflight), 1, NO_LIMIT, NO_LIMIT)
        by_id = dict(zip(_reported(got.ids, got.extras), got.handles))
        new, vis = [], []
        for mid, m in inflight:
            h = by_id.get(mid)
            if h is not None:
                handles.update((old, h) for old in m.handles())
                new.append(h)
                vis.append(m.visible_ms - now_ms)
        q.change_visibility(now_ms, new, vis, max(vis, default=0))
    if rest:
        _restore(q, now_ms, rest, num, extra_cls, seqs, received=False)
    return handles


def _restore(q, now_ms, rows, num, extra_cls, seqs, received: bool) -> None:
    extras = []
    nums = []
    for mid, m in rows:
        x = extra_of(m.extra, extra_cls)
        n = num(mid)
        if n is None:   # an id kept from another queue
            x = x or extra_cls()
            x.mid = mid
        nums.append(n)
        extras.append(x)
    q.restore(now_ms, [m.body for _, m in rows], [m.md5 for _, m in rows], nums=nums,
              sent_ms=[m.sent_ms for _, m in rows],
              rcs=[max(m.rc - 1, 0) if received else m.rc for _, m in rows],
              first_ms=[m.first_ms for _, m in rows], extras=extras,
              groups=[m.group for _, m in rows] if q.fifo else None,
              dedups=[m.dedup for _, m in rows] if q.fifo else None,
              seqs=[seqs[mid] for mid, _ in rows] if q.fifo else None)


def key_source(data_dir: str):
    """The data dir's at-rest key, opened on first use."""
    lock = threading.Lock()
    keys: dict[bool, AtRestKey] = {}

    def get(create: bool = True) -> AtRestKey:
        with lock:
            if not keys:
                keys[True] = AtRestKey.open(data_dir, create=create)
            return keys[True]
    return get


__all__ = ["QueueStore", "DurableQueue", "Fold", "rebuild", "key_source", "lock_directory"]

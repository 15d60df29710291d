"""SQS queues on disk (issue 13): each queue's settings and an append-only log of what happened
to its messages, folded into a snapshot now and then, so disk use tracks the live messages.

<root>/<queue name>/queue.json   the queue's settings (attributes, tags, id prefix), replaced whole
<root>/<queue name>/log/          a segment log (csrc/segment.h): one frame per operation, numbered
                                  from 1, holding the operation in columns (plain lists, strings
                                  and numbers: MessagePack by msgspec, frame flag OP_MSGPACK, about
                                  twice as fast as marshal; frames without the flag are marshal, as
                                  data dirs written before hold them; AES-256-GCM sealed when the
                                  queue asks for server-side encryption)
<root>/<queue name>/snap-<n>      the fold of every operation before n (marshal, sealed likewise)
<root>/.move-tasks/<task id>.json a message move task (MoveTaskStore), replaced whole as it changes

An operation records what the native queue did, not what it was asked: the ids, handles,
deadlines and receive counts it handed out. Folding operations gives each live message's body,
digests, attributes, send time, receive count, first receive, visible-at time, current receipt
handle and FIFO group and deduplication id, plus the deduplication records still in their window.
A restart folds the newest snapshot and the frames after it and rebuilds the native queue from
the fold (rebuild). Operations are written under the store's lock right after the native call
they describe, so the log holds them in the order the queue applied them; the commit (fsync: a
group commit) happens outside the lock, before the call returns.

A snapshot is due once the log since the last one outgrows it. A queue that holds nothing then
(a consumer keeping up empties it often) gets an empty snapshot at once, replaying nothing;
otherwise a background thread folds the sealed segments' frames.
"""
from __future__ import annotations

import marshal
import os
import shutil
import threading
from collections import deque
from itertools import compress, repeat
from typing import NamedTuple

import msgspec

from .. import _core
from ..atrest import AtRestKey
from ..datadir import documents, load_document, remove_document, replace_file, save_document
from .rules import AttributeValue, NO_LIMIT

SEGMENT_BYTES = 4 << 20              # a log segment seals at this size ...
SEGMENT_MS = 3_600_000               # ... or an hour after its first operation
INDEX_INTERVAL_BYTES = 64 << 10      # (the log is only read from a snapshot's operation on)
PREALLOCATE_BYTES = 1 << 20          # fsync: the active segment zero-filled this far ahead, so a group
                                     # commit's fdatasync rewrites allocated blocks (no journal commit)
COMPACT_MIN_BYTES = 16 << 20         # fold sealed segments into a snapshot once they hold this much
COMPACT_SNAPSHOT_RATIO = 2           # ... and at least this many times the last snapshot's size
COMPACT_EMPTY_GRACE = 1.25           # a due fold waits for an empty queue until the log since the
                                     # snapshot holds this many times the bytes that made it due
META_FILE = "queue.json"
LOG_DIR = "log"
SNAPSHOT_PREFIX = "snap-"
PLAIN, SEALED = b"\x00", b"\x01"     # a payload's first byte
OP_MSGPACK = 1                       # frame flag: the operation is MessagePack (else marshal)
_encode_op_into = msgspec.msgpack.Encoder().encode_into
_decode_op = msgspec.msgpack.Decoder().decode

# Operations, [kind, now_ms, *columns]; a column is a list (a value per message) or one value
# for every message (`_column`).
ADD = 1          # ids, bodies, md5s, sent ms, visible-at ms, receive counts, first receive ms, extras
#                  (extra_row), groups, dedup ids, recorded (the add made deduplication records),
#                  fresh (one value: new ids, counting up; else restored, possibly known ids)
RECEIVE = 2      # ids, handles, visible-at ms, receive counts, first receive ms
DELETE = 3       # handles
VISIBILITY = 4   # handles, visible-at ms
REMOVE = 5       # ids (moved to another queue)
PURGE = 6        # (none)
HANDLES = 7      # old handles, new handles (a restart gave in-flight messages new handles)


def _is_column(value) -> bool:
    return value.__class__ is list or value.__class__ is range


def _column(value, n: int):
    """A column as a sequence (a value for every message repeated)."""
    return value if _is_column(value) else [value] * n


class DedupRecord(NamedTuple):
    sent_ms: int
    expires_ms: int
    mid: str
    group: str
    dedup: str


class Live(NamedTuple):
    """The live messages of a fold, in the order they were added, by column."""
    ids: list
    bodies: list
    md5s: list
    sent: list
    visible: list        # delayed or in flight until (ms); <= now: visible
    rcs: list
    firsts: list
    extras: list         # extra_row or None
    groups: list
    dedups: list
    nums: list           # the native queue's message numbers (None: an id kept from another queue)
    handles: list        # None (never received) or (current handle, *aliases)


class Fold:
    """What a run of operations leaves: the adds kept whole as their columns (most messages are
    never touched again, so a million of them cost no Python object each), the state of
    messages received since they were added, the ids gone, the current receipt handles.

    Applying an operation costs a few calls into C (dict and set updates over its columns), not
    a Python step per message: compaction replays every frame of the sealed segments on a
    background thread, which holds the GIL the foreground's calls need. So `handles` keeps the
    earlier handles of a message received again, and `received` the messages moved out (live()
    drops them): a receipt handle is never issued twice and operations name only current
    handles, so a stale entry is never looked up."""

    def __init__(self, window_ms: int):
        self.window_ms = window_ms                 # FIFO deduplication window
        self.adds: list[list] = []                 # [now, recorded, *Live's columns but handles] per add
        self.received: dict[str, tuple] = {}       # id -> (handles tuple, visible-at ms, receive count, first ms)
        self.handles: dict[str, str] = {}          # receipt handle (or an alias) -> message id
        self.gone: set[str] = set()
        self.readded: dict[str, int] = {}          # id -> the add that put it back (a restore of a known id)
        self.dedups: dict[tuple, DedupRecord] = {}  # records of adds a purge dropped
        self.max_num = -1                          # the highest own message number ever stored
        self.last_ms = 0

    def apply(self, op: list, id_prefix: str) -> None:
        kind, now, *cols = op
        if now > self.last_ms:
            self.last_ms = now
        received, handles = self.received, self.handles
        if kind == RECEIVE:
            ids, hs, visible, rcs, firsts = cols
            if self.gone and not self.gone.isdisjoint(ids):   # (not expected: a gone id is never received)
                keep = [mid not in self.gone for mid in ids]
                ids, hs, rcs, firsts = (list(compress(c, keep)) for c in (ids, hs, rcs, firsts))
                visible = visible if not _is_column(visible) else list(compress(visible, keep))
            visible = visible if _is_column(visible) else repeat(visible)
            received.update(zip(ids, zip(zip(hs), visible, rcs, firsts)))
            handles.update(zip(hs, ids))
        elif kind == DELETE:
            mids = list(map(handles.pop, cols[0], repeat(None)))
            deque(map(received.pop, mids, repeat(None)), 0)   # (a loop in C)
            self.gone.update(mids)
            self.gone.discard(None)
        elif kind == ADD:
            ids = cols[0]
            n = len(ids)
            fresh = cols[-1]
            plen = len(id_prefix)
            first = _num(ids[0], id_prefix, plen) if fresh and n else None
            if first is not None and _num(ids[-1], id_prefix, plen) == first + n - 1:
                nums = range(first, first + n)   # (a send's numbers count up: no need to parse each)
            else:
                nums = [_num(mid, id_prefix, plen) for mid in ids]
            top = nums[-1] if nums.__class__ is range else max((k for k in nums if k is not None), default=-1)
            self.max_num = max(self.max_num, top)
            index = len(self.adds)
            self.adds.append([now, cols[10], *cols[:10], nums])   # (one value stays one value)
            if not fresh:   # restored messages: possibly known ids, put back
                for mid in ids:
                    received.pop(mid, None)
                    self.gone.discard(mid)
                    self.readded[mid] = index
        elif kind == VISIBILITY:
            hs, visible = cols
            for handle, visible_ms in zip(hs, _column(visible, len(hs))):
                mid = handles.get(handle)
                state = received.get(mid)
                if state is not None:
                    received[mid] = (state[0], visible_ms, state[2], state[3])
        elif kind == REMOVE:
            self.gone.update(cols[0])
        elif kind == HANDLES:
            for old, new in zip(*cols):
                mid = handles.get(old)
                state = received.get(mid)
                if state is not None and state[0][0] != new:   # (a message's aliases all name one new handle)
                    received[mid] = ((new, *state[0]), *state[1:])   # the old handles stay aliases: clients hold them
                    handles[new] = mid
        elif kind == PURGE:
            self.dedups = self.records(0)
            self.adds.clear()
            received.clear()
            handles.clear()
            self.gone.clear()
            self.readded.clear()

    def records(self, now_ms: int) -> dict:
        """FIFO deduplication records still in their window at now_ms, by (group, dedup id)."""
        window_ms = self.window_ms
        out = {k: r for k, r in self.dedups.items() if r.expires_ms > now_ms}
        for now, recorded, ids, *cols in self.adds:
            if recorded is not False and now + window_ms > now_ms:
                n = len(ids)
                for mid, group, dedup, rec in zip(ids, _column(cols[7], n), _column(cols[8], n), _column(recorded, n)):
                    if rec:
                        out[(group, dedup)] = DedupRecord(now, now + window_ms, mid, group, dedup)
        return out

    def live(self, now_ms: int, retention_ms: int) -> Live:
        """The messages still there at now_ms (not deleted, moved or past retention). A column
        with one value for every message stays that value (most are: receive counts, first
        receives, extras of plain sends), so a large backlog costs lists only where values differ."""
        gone, readded = self.gone, self.readded
        cutoff = now_ms - retention_ms
        parts = []   # (columns, which rows stay (None: all), how many)
        for index, (now, recorded, *columns) in enumerate(self.adds):
            ids, sent = columns[0], columns[3]
            expired = min(sent, default=now_ms) <= cutoff if _is_column(sent) else sent <= cutoff
            if not (readded or expired):
                if not gone or gone.isdisjoint(ids):
                    parts.append((columns, None, len(ids)))
                    continue
                if gone.issuperset(ids):   # (the usual add by now: every message received and deleted)
                    continue
            keep = [mid not in gone and readded.get(mid, index) == index and t > cutoff
                    for mid, t in zip(ids, _column(sent, len(ids)))]
            parts.append((columns, keep, keep.count(True)))
        cols = []
        for j in range(11):
            values = [columns[j] for columns, _, _ in parts]
            if values and not any(_is_column(v) for v in values) and values.count(values[0]) == len(values):
                cols.append(values[0])
                continue
            col = []
            for (columns, keep, count), v in zip(parts, values):
                if not _is_column(v):
                    col.extend([v] * count)
                else:
                    col.extend(v if keep is None else compress(v, keep))
            cols.append(col)
        live = Live(*cols, None)
        if self.received:
            n = len(live.ids)
            live = live._replace(visible=list(_column(live.visible, n)), rcs=list(_column(live.rcs, n)),
                                 firsts=list(_column(live.firsts, n)), handles=[None] * n)
            position = dict(zip(live.ids, range(n)))
            received = self.received
            for mid in received.keys() & position.keys():   # (received also holds messages gone since)
                k = position[mid]
                live.handles[k], live.visible[k], live.rcs[k], live.firsts[k] = received[mid]
        return live

    def encode(self, now_ms: int, retention_ms: int) -> dict:
        live = self.live(now_ms, retention_ms)
        return {"live": list(live), "records": [list(r) for r in self.records(now_ms).values()],
                "max_num": self.max_num, "last_ms": self.last_ms}

    @classmethod
    def decode(cls, doc: dict, window_ms: int) -> Fold:
        fold = cls(window_ms)
        live = Live(*doc["live"])
        fold.adds.append([doc["last_ms"], False, *live[:11]])
        n = len(live.ids)
        for mid, hs, visible_ms, rc, first_ms in zip(live.ids, _column(live.handles, n), _column(live.visible, n),
                                                      _column(live.rcs, n), _column(live.firsts, n)):
            if hs is not None:
                fold.received[mid] = (tuple(hs), visible_ms, rc, first_ms)
                for h in hs:
                    fold.handles[h] = mid
        fold.dedups = {(r[3], r[4]): DedupRecord(*r) for r in doc["records"]}
        fold.max_num, fold.last_ms = doc["max_num"], doc["last_ms"]
        return fold


# --- extras -------------------------------------------------------------------------------------
def _num(mid: str, id_prefix: str, plen: int) -> int | None:
    """The native message number behind an own id (None: an id kept from another queue)."""
    return int(mid[plen:]) if mid.startswith(id_prefix) and mid[plen:].isdigit() else None


def _max_own_num(ids: list, id_prefix: str) -> int:
    plen = len(id_prefix)
    return max((k for k in (_num(mid, id_prefix, plen) for mid in ids) if k is not None), default=-1)


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
        self._fsync = sync == "fsync"
        self.arn = arn
        self._key_source = key_source
        self._key: AtRestKey | None = None
        self.lock = threading.Lock()     # a native call and its operation's write, in one order
        self.closed = False
        os.makedirs(os.path.join(directory, LOG_DIR), exist_ok=True)
        self._log = _core.SegmentLog(os.path.join(directory, LOG_DIR), segment_bytes=SEGMENT_BYTES,
                                     segment_ms=SEGMENT_MS, index_interval_bytes=INDEX_INTERVAL_BYTES,
                                     sync=sync, preallocate_bytes=PREALLOCATE_BYTES)
        self.next_op = 1
        self.last_ms = 0                 # the time of the last operation written
        self._since_snapshot = 0         # bytes written since the last snapshot
        self._snapshot_bytes = 0
        self._max_num = -1               # the highest own message number logged, but ...
        self._newest_ids: list = []      # ... the newest send's ids (numbers count up: its last is the highest)
        self._compacting: threading.Thread | None = None
        self.encrypts = lambda: False
        self.drained = lambda: False     # the queue holds nothing a snapshot would keep (lock held)
        self._op_buffer = bytearray()    # each operation is encoded into it (under `lock`): the log copies it

    # --- metadata --------------------------------------------------------------------------------
    def save_meta(self, meta: dict) -> None:
        save_document(os.path.join(self.directory, META_FILE), meta, self.sync)

    def load_meta(self) -> dict | None:
        return load_document(os.path.join(self.directory, META_FILE))

    # --- operations ------------------------------------------------------------------------------
    def _seal(self, data: bytes, aad: str) -> bytes:
        return self._sealed(data, aad) if self.encrypts() else PLAIN + data

    def _sealed(self, data, aad: str) -> bytes:
        key = self._key
        if key is None:
            key = self._key = self._key_source()
        return key.encrypt(data, aad.encode(), SEALED)

    def _open(self, payload, aad: str, what: str):
        data = memoryview(payload).cast("B")
        if data[:1] == SEALED:
            return self._key_source(create=False).decrypt(data[1:], aad.encode(), what)
        return data[1:]

    def write(self, op: list) -> int | None:
        """Append one operation (the caller holds `lock`); returns the ticket to commit (None once
        the store is closed: a closing queue's last changes are not operations). Only adds carry
        bodies and attributes, so only they are sealed (receives, deletes and the rest hold ids,
        handles and times)."""
        if self.closed:
            return None
        n = self.next_op
        buffer = self._op_buffer
        if op[0] == ADD and self.encrypts():
            _encode_op_into(op, buffer)
            payload = self._sealed(buffer, f"{self.arn}:{n}")
        else:
            _encode_op_into(op, buffer, 1)
            buffer[0] = PLAIN[0]
            payload = buffer
        if op[0] == ADD:
            if op[-1]:
                self._newest_ids = op[2]
            else:
                self._max_num = max(self._max_num, _max_own_num(op[2], self.id_prefix))
        ticket = self._log.write(n, n, op[1], payload, OP_MSGPACK)
        self.last_ms = op[1]
        self.next_op = n + 1
        self._since_snapshot += len(payload)
        return ticket

    def commit(self, ticket: int | None) -> None:
        """Return once the write that gave `ticket` (None: nothing written) is as durable as the
        sync mode promises (flush: it is in the page cache already)."""
        if ticket is None:
            return
        if self._fsync:
            self._log.commit(ticket)
        if self._since_snapshot >= COMPACT_MIN_BYTES and self._since_snapshot >= self._due_bytes():
            self._snapshot_due()

    def _due_bytes(self) -> int:
        """The log since the last snapshot that makes the next one due."""
        return max(COMPACT_MIN_BYTES, COMPACT_SNAPSHOT_RATIO * self._snapshot_bytes)

    # --- recovery and compaction -----------------------------------------------------------------
    def _snapshots(self) -> list[int]:
        return sorted(int(f[len(SNAPSHOT_PREFIX):]) for f in os.listdir(self.directory)
                      if f.startswith(SNAPSHOT_PREFIX) and f[len(SNAPSHOT_PREFIX):].isdigit())

    def _load_snapshot(self, n: int, window_ms: int) -> Fold:
        path = os.path.join(self.directory, f"{SNAPSHOT_PREFIX}{n}")
        with open(path, "rb") as f:
            data = f.read()
        self._snapshot_bytes = len(data)
        plain = self._open(data, f"{self.arn}:snapshot:{n}", path)
        try:
            return Fold.decode(marshal.loads(plain), window_ms)
        except (ValueError, EOFError, TypeError, IndexError, KeyError) as error:   # (marshal's and the fold's)
            raise ValueError(f"damaged SQS snapshot {path}: {error}") from error

    def _fold(self, upto: int | None, id_prefix: str, window_ms: int) -> tuple[Fold, int]:
        """The newest snapshot and the operations after it (those before `upto` when given);
        returns the fold and the number of the next operation."""
        snapshots = self._snapshots()
        start = snapshots[-1] if snapshots else 1
        fold = self._load_snapshot(start, window_ms) if snapshots else Fold(window_ms)
        nxt = start
        apply = fold.apply
        for seq, _, _, payload, flags in self._log.frames(start_seq=start):
            if upto is not None and seq >= upto:
                break
            data = memoryview(payload).cast("B")
            if data[0] != PLAIN[0]:
                data = self._open(data, f"{self.arn}:{seq}", f"{self._log.directory} operation {seq}")
            else:
                data = data[1:]
            apply(_decode_op(data) if flags & OP_MSGPACK else marshal.loads(data), id_prefix)
            nxt = seq + 1
        return fold, nxt

    def recover(self, id_prefix: str, window_ms: int) -> Fold:
        for f in os.listdir(self.directory):
            if f.endswith(".tmp"):   # a snapshot cut short by a crash
                os.unlink(os.path.join(self.directory, f))
        fold, self.next_op = self._fold(None, id_prefix, window_ms)
        self.last_ms = fold.last_ms
        self._max_num = fold.max_num
        return fold

    def _snapshot_due(self) -> None:
        """The log outgrew the last snapshot. When the queue holds nothing, the snapshot is an
        empty fold, written at once: no frame needs replaying, since every message they hold is
        gone. Otherwise the sealed segments are folded on a background thread, once the queue has
        had a while to empty (a consumer keeping up empties it often)."""
        with self.lock:
            if self._compacting is not None or self.closed:
                return
            if self.drained():
                self._write_empty_snapshot()
            elif self._since_snapshot >= COMPACT_EMPTY_GRACE * self._due_bytes():
                self._start_compaction()

    def _write_empty_snapshot(self) -> None:
        upto = self.next_op
        fold = Fold(self.window_ms)
        fold.max_num = max(self._max_num, _max_own_num(self._newest_ids, self.id_prefix))
        fold.last_ms = self.last_ms
        self._install_snapshot(upto, self._seal(marshal.dumps(fold.encode(self.last_ms, self.retention_ms())),
                                                f"{self.arn}:snapshot:{upto}"))
        self._since_snapshot = 0

    def _start_compaction(self) -> None:
        """(lock held)"""
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
        """Fold the sealed segments into snapshot `upto`."""
        try:
            fold, _ = self._fold(upto, self.id_prefix, self.window_ms)
            data = self._seal(marshal.dumps(fold.encode(fold.last_ms, self.retention_ms())),
                              f"{self.arn}:snapshot:{upto}")
            with self.lock:
                if not self.closed:
                    self._install_snapshot(upto, data)
        finally:
            self._compacting = None

    def _install_snapshot(self, upto: int, data: bytes) -> None:
        """Write snapshot `upto`, then delete the segments and snapshots it replaces (lock held)."""
        replace_file(os.path.join(self.directory, f"{SNAPSHOT_PREFIX}{upto}"), data, self.sync)
        self._snapshot_bytes = len(data)
        self._log.retain(min_seq=upto)
        for n in self._snapshots():
            if n < upto:
                os.unlink(os.path.join(self.directory, f"{SNAPSHOT_PREFIX}{n}"))

    def compact(self) -> None:
        """Fold every sealed segment now and wait (tests, benchmarks). A fold already running
        covers only the segments sealed when it started: it ends first, then one more runs."""
        running = self._compacting
        if running is not None:
            running.join()
        with self.lock:
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


# --- message move tasks ------------------------------------------------------------------------
TASKS_DIR = ".move-tasks"            # (a queue name never starts with '.')
TASK_PROGRESS_EVERY = 1000           # a long step saves its moved count after this many messages


class MoveTaskStore:
    """A region's message move tasks, one document each. A task's messages need no record here:
    each move is in the queues' logs (the destination logs the copies before the source logs
    them gone), so the document only says which task runs and how far it got (the count may lag)."""

    def __init__(self, root: str, sync: str):
        self.directory = os.path.join(root, TASKS_DIR)
        self.sync = sync
        os.makedirs(self.directory, exist_ok=True)

    def _path(self, task_id: str) -> str:
        return os.path.join(self.directory, task_id + ".json")

    def save(self, task_id: str, doc: dict) -> None:
        save_document(self._path(task_id), doc, self.sync)

    def drop(self, task_id: str) -> None:
        remove_document(self._path(task_id), self.sync)

    def load(self) -> list[dict]:
        return list(documents(self.directory))


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
        # messages taken out (moves) not yet logged gone: the log still holds them (one put back
        # into this queue instead keeps the count up: the empty snapshot is off, never wrong)
        self._taken_out = 0
        store.drained = self._drained

    def _drained(self) -> bool:
        """Nothing a snapshot would keep (store lock held): no message, none on its way to
        another queue, and (FIFO) no deduplication record, which only the log holds whole."""
        return not self.fifo and not self._taken_out and self._q.counts(self.store.last_ms)[:3] == (0, 0, 0)

    def send(self, now_ms, bodies, delay_ms=0, max_len=-1, delays=None, extras=None):
        if bodies.__class__ is not list:
            bodies = list(bodies)
        store = self.store
        with store.lock:
            stored = self._q.send(now_ms, bodies, delay_ms, max_len, delays, extras)
            ids, md5s, status = stored.ids, stored.md5s, stored.status
            visible = now_ms + delay_ms if delays is None else [now_ms + (delay_ms if d is None else d) for d in delays]
            xs = None if extras is None else [extra_row(x) for x in extras]
            if status is not None:   # the refused rows are not stored
                keep = [i for i in range(len(ids)) if not status[i]]
                ids, md5s, bodies = [ids[i] for i in keep], [md5s[i] for i in keep], [bodies[i] for i in keep]
                visible = visible if delays is None else [visible[i] for i in keep]
                xs = None if xs is None else [xs[i] for i in keep]
            ticket = store.write([ADD, now_ms, ids, bodies, md5s, now_ms, visible, 0, -1, xs, None, None,
                                  False, True]) if ids else None
        store.commit(ticket)
        return stored

    def send_fifo(self, now_ms, bodies, groups, dedups, max_len=-1, extras=None):
        bodies, groups, dedups = list(bodies), list(groups), list(dedups)
        store = self.store
        with store.lock:
            stored = self._q.send_fifo(now_ms, bodies, groups, dedups, max_len, extras)
            ids, md5s, status, dups = stored.ids, stored.md5s, stored.status, stored.dups
            xs = None if extras is None else [extra_row(x) for x in extras]
            if status is not None or dups is not None:   # refused rows and duplicates are not stored
                keep = [i for i in range(len(ids)) if not (status is not None and status[i])
                        and not (dups is not None and dups[i])]
                ids, md5s, bodies = [ids[i] for i in keep], [md5s[i] for i in keep], [bodies[i] for i in keep]
                groups, dedups = [groups[i] for i in keep], [dedups[i] for i in keep]
                xs = None if xs is None else [xs[i] for i in keep]
            ticket = store.write([ADD, now_ms, ids, bodies, md5s, now_ms, 0, 0, -1, xs, groups, dedups,
                                  [d is not None for d in dedups], True]) if ids else None
        store.commit(ticket)
        return stored

    def restore(self, now_ms, bodies, md5s, nums=None, sent_ms=None, rcs=None, first_ms=None, extras=None,
                front=False, groups=None, dedups=None, seqs=None):
        bodies, md5s = list(bodies), list(md5s)
        store = self.store
        with store.lock:
            ids = self._q.restore(now_ms, bodies, md5s, nums, sent_ms, rcs, first_ms, extras, front, groups,
                                  dedups, seqs)
            sent = now_ms if sent_ms is None else [now_ms if t is None else t for t in sent_ms]
            firsts = -1 if first_ms is None else [-1 if t is None else t for t in first_ms]
            recorded = False if seqs is not None or dedups is None else [d is not None for d in dedups]
            ticket = store.write([ADD, now_ms, _reported(ids, extras), bodies, md5s, sent, 0,
                                  0 if rcs is None else list(rcs), firsts,
                                  None if extras is None else [extra_row(x) for x in extras],
                                  None if groups is None else list(groups),
                                  None if dedups is None else list(dedups), recorded, False]) if ids else None
        store.commit(ticket)
        return ids

    def receive(self, now_ms, max_n, vis_ms, max_rc=NO_LIMIT, inflight_max=NO_LIMIT, remove=False,
                as_bytes=False, fifo_cols=False):
        """Received messages are logged with their handles; messages that left the queue (moved,
        removed) are logged by `removed` once their destination has them."""
        store = self.store
        with store.lock:
            got = self._q.receive(now_ms, max_n, vis_ms, max_rc, inflight_max, remove, as_bytes, fifo_cols)
            if remove:
                self._taken_out += len(got.ids)
            if got.moved is not None:
                self._taken_out += len(got.moved.ids)
            ticket = None
            if got.ids and not remove:
                ticket = store.write([RECEIVE, now_ms, _reported(got.ids, got.extras), got.handles,
                                      now_ms + vis_ms, got.receive_counts, got.first_ms])
        store.commit(ticket)
        return got

    def removed(self, now_ms: int, ids: list) -> None:
        """Messages that left the queue for another (after the other logged them: a crash in
        between leaves a copy in both, never in neither)."""
        if ids:
            store = self.store
            with store.lock:
                ticket = store.write([REMOVE, now_ms, list(ids)])
                self._taken_out -= len(ids)
            store.commit(ticket)

    def handles_moved(self, now_ms: int, handles: dict) -> None:
        """A restart gave in-flight messages new handles (old -> new)."""
        store = self.store
        with store.lock:
            ticket = store.write([HANDLES, now_ms, list(handles), list(handles.values())])
        store.commit(ticket)

    def delete(self, now_ms, handles):
        handles = tuple(handles)
        store = self.store
        with store.lock:
            res = self._q.delete(now_ms, handles)
            done = handles if res is None else [h for h, r in zip(handles, res) if r == _core.HANDLE_OK]
            ticket = store.write([DELETE, now_ms, done]) if done else None
        store.commit(ticket)
        return res

    def change_visibility(self, now_ms, handles, vis_ms, max_hold_ms):
        handles, vis_ms = tuple(handles), tuple(vis_ms)
        store = self.store
        with store.lock:
            res = self._q.change_visibility(now_ms, handles, vis_ms, max_hold_ms)
            done = [k for k, r in enumerate(res) if r == _core.HANDLE_OK]
            ticket = store.write([VISIBILITY, now_ms, [handles[k] for k in done],
                                  [now_ms + vis_ms[k] for k in done]]) if done else None
        store.commit(ticket)
        return res

    def retry(self, now_ms, handles, due_ms, vis_ms):
        store = self.store
        with store.lock:
            ok = self._q.retry(now_ms, handles, due_ms, vis_ms)
            ticket = store.write([VISIBILITY, now_ms, list(handles), now_ms + vis_ms]) if ok else None
        store.commit(ticket)
        return ok

    def clear(self):
        """PurgeQueue (a closing queue's clear is not an operation: its store is closed first)."""
        store = self.store
        with store.lock:
            self._q.clear()
            ticket = store.write([PURGE, store.last_ms])   # (PurgeQueue's time: the native clear takes none)
        store.commit(ticket)


# --- rebuilding a queue from its fold ------------------------------------------------------------
def rebuild(q: _core.MessageQueue, fold: Fold, now_ms: int, retention_ms: int, id_prefix: str, extra_cls) -> dict:
    """Put the fold's live messages into the empty native queue q, each in its state: delayed
    ones delayed until their time (standard queues), in-flight ones in flight until their
    deadline, the rest visible in their order; FIFO deduplication records until their window
    ends. In-flight messages get new handles: returns {handle a client holds: new handle}."""
    live = fold.live(now_ms, retention_ms)
    plen = len(id_prefix)
    nums = live.nums
    n = len(live.ids)
    seqs = None
    if q.fifo:
        # Deduplication records come back through placeholders sent at the record's time and
        # already past retention: the record stays for the rest of its window (reporting the
        # original id), the placeholder goes at once. More placeholders then move the sequence
        # counter past the numbers the live messages take, in their order (kept numbers are not
        # deduplicated and keep each group's order).
        records = sorted((r for r in fold.records(now_ms).values()
                          if r.mid.startswith(id_prefix) and r.mid[plen:].isdigit()), key=lambda r: r.sent_ms)
        for r in records:
            q.restore(r.sent_ms, [""], ["0" * 32], nums=[int(r.mid[plen:])], sent_ms=[0], groups=[r.group],
                      dedups=[r.dedup])
        if n:
            q.restore(now_ms, [""] * n, ["0" * 32] * n, sent_ms=[0] * n, groups=["-"] * n)
        q.counts(now_ms)
        seqs = range(q.seq_base + len(records) + 1, q.seq_base + len(records) + 1 + n)
    delayed, inflight, rest = [], [], []
    latest = max(live.visible, default=0) if _is_column(live.visible) else live.visible
    for k, (visible_ms, hs) in enumerate(zip(_column(live.visible, n), _column(live.handles, n)) if latest > now_ms
                                         else ()):
        if visible_ms <= now_ms:
            rest.append(k)
        elif hs is not None:
            inflight.append(k)
        elif q.fifo:   # (the queue's delay applies again from the send time)
            rest.append(k)
        else:
            delayed.append(k)
    sent, extras = _column(live.sent, n), _column(live.extras, n)
    for k in sorted(delayed, key=lambda k: sent[k]):   # sent again at their time: the queue is empty before now
        x = extra_of(extras[k], extra_cls) or extra_cls()
        x.mid = live.ids[k]
        q.send(sent[k], [live.bodies[k]], delays=[live.visible[k] - sent[k]], extras=[x])
    handles = {}
    if inflight:
        _restore(q, now_ms, live, inflight, nums, seqs, extra_cls, received=True)
        got = q.receive(now_ms, len(inflight), 1, NO_LIMIT, NO_LIMIT)
        by_id = dict(zip(_reported(got.ids, got.extras), got.handles))
        new, vis = [], []
        for k in inflight:
            h = by_id.get(live.ids[k])
            if h is not None:
                handles.update((old, h) for old in live.handles[k])
                new.append(h)
                vis.append(live.visible[k] - now_ms)
        q.change_visibility(now_ms, new, vis, max(vis, default=0))
    if rest or not (delayed or inflight):
        _restore(q, now_ms, live, rest if delayed or inflight else None, nums, seqs, extra_cls, received=False)
    return handles


def _restore(q, now_ms, live: Live, rows, nums, seqs, extra_cls, received: bool) -> None:
    """Restore the live messages at positions `rows` (None: all)."""
    n = len(live.ids) if rows is None else len(rows)

    def pick(col, absent=None):   # (absent: the value the native restore assumes for None)
        if not _is_column(col):
            return None if col == absent and absent is not None else [col] * n
        return col if rows is None else [col[k] for k in rows]

    ids, ns = pick(live.ids), pick(nums)
    xs = live.extras if not _is_column(live.extras) else pick(live.extras)
    extras = None
    if xs is not None and (not _is_column(xs) or xs.count(None) != len(xs)) or None in ns:
        extras = [extra_of(x, extra_cls) for x in _column(xs, n)]
        for i, num in enumerate(ns):
            if num is None:   # an id kept from another queue
                extras[i] = extras[i] or extra_cls()
                extras[i].mid = ids[i]
    rcs = pick(live.rcs, 0)
    q.restore(now_ms, pick(live.bodies), pick(live.md5s), nums=ns, sent_ms=pick(live.sent),
              rcs=[rc - 1 for rc in rcs] if received else rcs, first_ms=pick(live.firsts, -1), extras=extras,
              groups=pick(live.groups) if q.fifo else None, dedups=pick(live.dedups) if q.fifo else None,
              seqs=pick(seqs) if q.fifo else None)


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


__all__ = ["QueueStore", "DurableQueue", "Fold", "rebuild", "key_source", "MoveTaskStore", "TASKS_DIR",
           "TASK_PROGRESS_EVERY"]

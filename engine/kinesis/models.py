"""Kinesis Data Streams domain: streams, shards, resharding, retention, throughput limits.

Typed Python over engine._core: records never become Python objects here. A put is one
routing call and one append call into C per batch; a read is a zero-copy pyarrow
RecordBatch over a shard's chunk. No boto3 dict shapes: engine.kinesis.client does that.
"""
from __future__ import annotations

import bisect
import contextlib
import functools
import itertools
import operator
import os
import re
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import _core, limits
from ..errors import ClientError, InternalFailure
from . import iterators
from ..arn import kinesis_consumer_arn, kinesis_stream_arn, parse_shard_id, shard_id as format_shard_id
from ..datadir import region_root
from .errors import (InternalFailureException, InvalidArgumentException, LimitExceededException,
                     ProvisionedThroughputExceededException,
                     ResourceInUseException, ResourceNotFoundException, ValidationException, shard_not_found,
                     stream_not_found)
from .account import AccountSettings
from .kpl import MAGIC as KPL_MAGIC
from .policy import check_policy
from .store import StreamStore, stream_dir_name

RECORD_SCHEMA = _core.RECORD_SCHEMA
# Arrow batches are immutable, so every empty read shares one.
EMPTY_BATCH = pa.RecordBatch.from_arrays([pa.array([], f.type) for f in RECORD_SCHEMA], schema=RECORD_SCHEMA)
HASH_KEY_MAX = limits.KINESIS_HASH_KEY_MAX
# Sequence numbers are 19-digit decimals: fixed width, so string order equals numeric order.
SEQUENCE_BASE = 10**18
_INT64_MAX = 2**63 - 1
# Each Stream object gets a number of its own: iterators and NextTokens name it, so they do not
# carry over to a stream deleted and created again under the same name (even in the same ms).
_incarnations = itertools.count(1)
_NO_LOCK = contextlib.nullcontext()
_EXPIRY_STEP_S = 0.001   # a record expires once strictly older than the retention period


def _persists(method):
    """A Stream method that changes what a restart must restore: the stream's metadata file is
    rewritten after it succeeds (durable engines only)."""
    @functools.wraps(method)
    def persisting(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        self.persist()
        return result
    return persisting


class _SharedExclusive:
    """Puts share the shard layout; resharding takes it exclusively."""

    __slots__ = ("_cond", "_shared", "_exclusive")

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._shared = 0
        self._exclusive = False

    def acquire_shared(self):
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1

    def release_shared(self):
        with self._cond:
            self._shared -= 1
            if not self._shared:
                self._cond.notify_all()

    def acquire_exclusive(self):
        with self._cond:
            while self._exclusive or self._shared:
                self._cond.wait()
            self._exclusive = True

    def release_exclusive(self):
        with self._cond:
            self._exclusive = False
            self._cond.notify_all()


class _TokenBucket:
    """Documented per-shard rates; capacity is one second's worth."""

    __slots__ = ("rate", "tokens", "stamp")

    def __init__(self, rate: float, now: float):
        self.rate = float(rate)
        self.tokens = float(rate)
        self.stamp = now

    def refill(self, now: float) -> float:
        if now > self.stamp:
            self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens


class Shard:
    """One shard: its hash-key range, lineage, sequence range and its native log."""

    __slots__ = ("index", "shard_id", "log", "start_hash", "end_hash", "parent", "adjacent_parent", "children",
                 "starting_seq", "ending_seq", "created_at", "closed_at", "write_records", "write_bytes",
                 "read_calls", "read_bytes", "window_records", "window_bytes")

    def __init__(self, index: int, start_hash: int, end_hash: int, starting_seq: int, now: float,
                 parent: str | None = None, adjacent_parent: str | None = None):
        self.index = index
        self.shard_id = format_shard_id(index)
        self.log = _core.Shard()
        self.start_hash = start_hash
        self.end_hash = end_hash
        self.parent = parent
        self.adjacent_parent = adjacent_parent
        self.children: list[Shard] = []
        self.starting_seq = starting_seq
        self.ending_seq: int | None = None
        self.created_at = now
        self.closed_at: float | None = None
        self.write_records = _TokenBucket(limits.KINESIS_SHARD_WRITE_RECORDS_PER_S, now)
        self.write_bytes = _TokenBucket(limits.KINESIS_SHARD_WRITE_BYTES_PER_S, now)
        self.read_calls = _TokenBucket(limits.KINESIS_SHARD_READ_CALLS_PER_S, now)
        self.read_bytes = _TokenBucket(limits.KINESIS_SHARD_READ_BYTES_PER_S, now)
        self.window_records = 0      # on-demand scaling: writes in the current window
        self.window_bytes = 0

    @property
    def is_open(self) -> bool:
        return self.ending_seq is None

    def last_seq(self) -> int:
        return self.log.last_seq

    def has_records_from(self, seq: int) -> bool:
        return self.log.has_from(seq)


@dataclass
class PutResult:
    """Per record: the index of the shard it went to and its sequence number; rows refused
    by the throughput limits (enforce_limits) have `throttled` set and sequence number -1."""

    shard_index: np.ndarray
    sequence_number: np.ndarray
    throttled: np.ndarray | None = None

    @property
    def failed_count(self) -> int:
        return 0 if self.throttled is None else int(self.throttled.sum())


@dataclass
class Consumer:
    name: str
    arn: str
    created: float
    status: str = "ACTIVE"
    policy: str | None = None
    tags: dict = field(default_factory=dict)
    subscriptions: dict = field(default_factory=dict)   # shard id -> subscription start time
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    stream: "Stream | None" = field(default=None, repr=False, compare=False)   # persists its tags

    def add_tags(self, tags) -> None:
        with self._lock:
            self.tags = _tags_added(self.tags, tags, f"consumer {self.name}")
        self.stream.persist()

    def remove_tags(self, keys) -> None:
        with self._lock:
            self.tags = _tags_removed(self.tags, keys)
        self.stream.persist()

    def subscribe(self, shard: "Shard", now: float) -> None:
        """One subscription per consumer and shard at a time: a second one within the retry
        interval of the first is ResourceInUseException, as AWS answers."""
        with self._lock:
            started = self.subscriptions.get(shard.shard_id)
            if started is not None and now - started < limits.KINESIS_SUBSCRIPTION_RETRY_S:
                raise ResourceInUseException(
                    f"Another active subscription exists for consumer {self.arn} and shard {shard.shard_id}.")
            self.subscriptions[shard.shard_id] = now


@dataclass(frozen=True)
class RecordsRead:
    """One read of a shard: boto3-shaped Record dicts (built by the core in one call), the
    next position, how far behind the newest record it ends (ms) and the bytes read."""

    records: list
    position: int
    millis_behind: int
    nbytes: int


@dataclass(frozen=True)
class RecordsPage:
    """A GetRecords answer: the records, then either the next iterator or, once a closed
    shard is read to its end, its child shards."""

    records: list
    millis_behind: int
    next_iterator: str | None
    child_shards: list


METRICS = ("IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
           "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds")
ITERATOR_TYPES = ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
MODES = ("PROVISIONED", "ON_DEMAND")


class _Layout:
    """The open shards in hash-key order and the router over their ranges. Immutable:
    resharding builds a new one."""

    __slots__ = ("router", "shards", "logs", "shard_index")

    def __init__(self, open_shards: list[Shard]):
        self.shards = sorted(open_shards, key=lambda s: s.start_hash)
        self.router = _core.Router([s.start_hash for s in self.shards])
        self.logs = [s.log for s in self.shards]
        index = np.array([s.index for s in self.shards], dtype=np.int32)
        # None while range order is shard order (a stream never resharded): positions are the
        # shard indexes, and a 1M-record put skips a gather of its positions (~3.5 ms)
        self.shard_index = None if np.array_equal(index, np.arange(len(index))) else index


def even_ranges(count: int) -> list[tuple[int, int]]:
    """Split [0, 2^128-1] into `count` contiguous ranges as AWS does for new streams."""
    step = (HASH_KEY_MAX + 1) // count
    starts = [i * step for i in range(count)]
    return [(s, (starts[i + 1] - 1) if i + 1 < count else HASH_KEY_MAX) for i, s in enumerate(starts)]


def _distance_to_nearest(sorted_values: list[int], x: int) -> int:
    j = bisect.bisect_left(sorted_values, x)
    return min(abs(sorted_values[k] - x) for k in (j - 1, j) if 0 <= k < len(sorted_values))


def _nearest_free(sorted_values: list[int], x: int, taken: set) -> int:
    """Index of the value nearest x that is not taken (one always is free)."""
    j = bisect.bisect_left(sorted_values, x)
    lo, hi = j - 1, j
    while True:
        while lo >= 0 and lo in taken:
            lo -= 1
        while hi < len(sorted_values) and hi in taken:
            hi += 1
        if hi >= len(sorted_values) or (lo >= 0 and x - sorted_values[lo] <= sorted_values[hi] - x):
            return lo
        return hi


def _nearest_in_order(bounds: list[int], goals: list[int]) -> list[int]:
    """For each goal in turn, the index of the nearest bound after the previous pick, leaving
    enough bounds for the goals still to come (len(bounds) >= len(goals))."""
    picks, lo = [], 0
    for k, goal in enumerate(goals):
        hi = len(bounds) - (len(goals) - k)
        j = min(bisect.bisect_left(bounds, goal, lo, hi + 1), hi)
        if j > lo and goal - bounds[j - 1] <= bounds[j] - goal:
            j -= 1
        picks.append(j)
        lo = j + 1
    return picks


def format_sequence_number(seq: int) -> str:
    return str(seq)


_SEQUENCE_NUMBER = re.compile(limits.KINESIS_SEQUENCE_NUMBER_PATTERN, re.ASCII)
_STREAM_NAME = re.compile(limits.KINESIS_STREAM_NAME_PATTERN, re.ASCII)
_CONSUMER_NAME = _STREAM_NAME   # the same pattern in the model
_HASH_KEY = re.compile(limits.KINESIS_HASH_KEY_PATTERN, re.ASCII)


def parse_sequence_number(value: str) -> int | None:
    """A sequence number in the model's pattern (ASCII digits, no leading zero), else None."""
    if not isinstance(value, str) or not _SEQUENCE_NUMBER.fullmatch(value):
        return None
    return int(value)


class Stream:
    def __init__(self, backend: "KinesisBackend", name: str, shard_count: int, mode: str,
                 max_record_size_kib: int = limits.KINESIS_RECORD_SIZE_DEFAULT_KIB, tags: dict | None = None):
        self.backend = backend
        self.clock = backend.clock
        self.name = name
        self.arn = kinesis_stream_arn(backend.region, backend.account_id, name)
        self.created = self.clock.now()
        self.incarnation = next(_incarnations)
        self.status = "ACTIVE"
        self.mode = mode
        self.retention_hours = limits.KINESIS_RETENTION_DEFAULT_H
        self.max_record_size_kib = max_record_size_kib
        self.encryption_type = "NONE"
        self.key_id: str | None = None
        # (first sequence number affected, encrypted): a record keeps the encryption it was written with
        self._encryption_changes: list[tuple[int, bool]] = []
        self._encryption_arrays: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self.tags: dict[str, str] = dict(tags or {})
        self.shard_level_metrics: list[str] = []
        self.policy: str | None = None
        self.warm_throughput_mibps: int | None = None
        self._mode_switches: list[float] = []   # engine times of the mode changes of the last day
        self.consumers: dict[str, Consumer] = {}
        self.memory_cap_bytes: int | None = backend.memory_cap_bytes
        # threads a large native batch is hashed and appended on (each shard keeps one writer)
        self.writer_threads = min(limits.KINESIS_PUT_THREADS_MAX, os.cpu_count() or 1)
        self._seq = _core.SequenceSource(SEQUENCE_BASE)
        self._layout_lock = _SharedExclusive()
        self._admin_lock = threading.RLock()
        self._data_arrived = threading.Condition(threading.Lock())
        self._waiters = 0
        # Whether a record put here may be a KPL aggregate (its data begins with the magic):
        # readers that deaggregate skip the look at every record while none ever was.
        self.may_hold_aggregates = False
        self._last_trim = float("-inf")
        self._expiry_timer = None           # retention on the engine clock, armed while records are held
        self._expiry_lock = threading.Lock()
        self._window_start = self.created
        now = self.created   # shards open with the stream (ListShards AT_TRIM_HORIZON lists them)
        self.shards: list[Shard] = [Shard(i, lo, hi, self._seq.next_value, now)
                                    for i, (lo, hi) in enumerate(even_ranges(shard_count))]
        self._layout = _Layout(self.shards)
        # Durable engines: the stream's files, and a lock that keeps each shard's frames in
        # sequence order (taken around the append and the write; the fsync waits outside it).
        self._store: StreamStore | None = None
        self._persist_lock = _NO_LOCK

    # --- properties ------------------------------------------------------------------
    @property
    def max_record_bytes(self) -> int:
        return self.max_record_size_kib * 1024

    @property
    def retention_seconds(self) -> int:
        return self.retention_hours * 3600

    def open_shards(self) -> list[Shard]:
        return [s for s in self.shards if s.is_open]

    @property
    def open_count(self) -> int:
        return len(self._layout.shards)

    def is_visible(self, shard: Shard) -> bool:
        return shard.is_open or shard.closed_at >= self.clock.now() - self.retention_seconds

    def shard_page(self, after: int, limit: int, keep=None) -> tuple[list[Shard], bool]:
        """Up to `limit` visible shards with index > after (and keep(shard) true), in index
        order, and whether more follow: a walk from `after`, not over the whole list."""
        cutoff = self.clock.now() - self.retention_seconds
        page, shards = [], self.shards
        for i in range(max(after + 1, 0), len(shards)):
            shard = shards[i]
            if (shard.is_open or shard.closed_at >= cutoff) and (keep is None or keep(shard)):
                if len(page) == limit:
                    return page, True
                page.append(shard)
        return page, False

    # --- settings: mode, warm throughput, retention, record size, metrics --------------
    @_persists
    def set_mode(self, mode: str, warm_throughput_mibps: int | None = None) -> None:
        """Switch capacity mode: at most twice per 24 hours (LimitExceededException), an
        on-demand stream within the account's on-demand stream limit; warm throughput only
        for on-demand streams of an account with a billing commitment."""
        _check_mode(mode)
        with self._admin_lock:
            self.backend.check_warm_throughput(self.name, mode, warm_throughput_mibps)
            if warm_throughput_mibps is not None:   # refused before the mode changes, not after
                self._check_shard_quota(max(0, shards_for_throughput(warm_throughput_mibps) - self.open_count))
            if mode != self.mode:
                now = self.clock.now()
                self._mode_switches = [t for t in self._mode_switches if now - t < limits.KINESIS_MODE_SWITCH_WINDOW_S]
                if len(self._mode_switches) >= limits.KINESIS_MODE_SWITCHES_PER_WINDOW:
                    raise LimitExceededException(
                        f"Stream {self.name} under account {self.backend.account_id} has already switched capacity "
                        f"mode {limits.KINESIS_MODE_SWITCHES_PER_WINDOW} times in the last 24 hours.")
                if mode == "ON_DEMAND":
                    self.backend.check_on_demand_quota()
                self._mode_switches.append(now)
                self.backend.mode_changed(self.mode, mode)
                self.mode = mode
                if mode == "PROVISIONED":
                    self.warm_throughput_mibps = None
            if warm_throughput_mibps is not None:
                self._warm_to(warm_throughput_mibps)

    @_persists
    def set_warm_throughput(self, mibps: int) -> None:
        """Keep at least `mibps` MiB/s of write capacity open (on-demand streams only)."""
        with self._admin_lock:
            self.backend.check_warm_throughput(self.name, self.mode, mibps)
            self._warm_to(mibps)

    @property
    def write_capacity_mibps(self) -> int:
        return self.open_count * limits.KINESIS_SHARD_WRITE_BYTES_PER_S // limits.MiB

    def _warm_to(self, mibps: int) -> None:
        # Uniform scaling at most doubles the open shards per step.
        wanted = shards_for_throughput(mibps)
        if wanted > self.open_count:
            self._check_shard_quota(wanted - self.open_count)
        while self.open_count < wanted:
            self._scale_uniformly(min(wanted, 2 * self.open_count))
        self.warm_throughput_mibps = mibps

    @_persists
    def increase_retention(self, hours: int) -> None:
        with self._admin_lock:
            _check_retention(hours)
            if hours < self.retention_hours:
                raise InvalidArgumentException(
                    f"Requested retention period ({hours} hours) for stream {self.name} can not be shorter than "
                    f"existing retention period ({self.retention_hours} hours). Use DecreaseRetentionPeriod API.")
            self.retention_hours = hours

    @_persists
    def decrease_retention(self, hours: int) -> None:
        with self._admin_lock:
            _check_retention(hours)
            if hours > self.retention_hours:
                raise InvalidArgumentException(
                    f"Requested retention period ({hours} hours) for stream {self.name} can not be longer than "
                    f"existing retention period ({self.retention_hours} hours). Use IncreaseRetentionPeriod API.")
            self.retention_hours = hours
        self.apply_retention()

    @_persists
    def set_max_record_size(self, kib: int) -> None:
        _check_record_size(kib)
        self.max_record_size_kib = kib

    @_persists
    def set_metrics(self, metrics, enable: bool) -> tuple[list[str], list[str]]:
        """Enable or disable shard-level metrics ("ALL" names every one); returns the metrics
        before and after."""
        if not isinstance(metrics, (list, tuple)) or not all(m in METRICS or m == "ALL" for m in metrics):
            raise ValidationException(f"Shard-level metrics must be a list of: {', '.join(METRICS)}, ALL")
        with self._admin_lock:
            current = list(self.shard_level_metrics)
            wanted = set(METRICS) if "ALL" in metrics else set(metrics)
            self.shard_level_metrics = sorted(set(current) | wanted) if enable else sorted(set(current) - wanted)
            return current, list(self.shard_level_metrics)

    # --- tags ------------------------------------------------------------------------
    @_persists
    def add_tags(self, tags) -> None:
        with self._admin_lock:
            self.tags = _tags_added(self.tags, tags, f"stream {self.name} under account {self.backend.account_id}")

    @_persists
    def remove_tags(self, keys) -> None:
        with self._admin_lock:
            self.tags = _tags_removed(self.tags, keys)

    def tag_page(self, after: str | None, limit: int) -> tuple[list[tuple[str, str]], bool]:
        """Up to `limit` (key, value) pairs in key order after `after`, and whether more follow."""
        keys = sorted(k for k in self.tags if after is None or k > after)
        return [(k, self.tags[k]) for k in keys[:limit]], len(keys) > limit


    def shard(self, shard_ref) -> Shard:
        """A shard by index or shard id; ResourceNotFoundException if absent."""
        index = parse_shard_id(shard_ref) if isinstance(shard_ref, str) else _integer(shard_ref)
        if index is None or not 0 <= index < len(self.shards):
            raise shard_not_found(str(shard_ref), self.name, self.backend.account_id)
        return self.shards[index]

    # --- writes ----------------------------------------------------------------------
    def put_batch(self, data, partition_keys, explicit_hash_keys=None) -> PutResult:
        """Put a whole batch: lists of bytes/str, numpy arrays or pyarrow arrays.

        Validates every record first (nothing is stored if one is invalid), then routes the
        batch by MD5 of the partition keys (or the explicit hash keys) and appends it shard
        by shard in one call into the core."""
        return self._put(*_batch_views(data, partition_keys, explicit_hash_keys))

    def put_records(self, data, partition_keys, explicit_hash_keys=None) -> PutResult:
        """PutRecords: put_batch within the request limits (500 records, 5 MiB of data and
        partition keys); rows refused by the throughput limits come back throttled."""
        data_view, keys_view, explicit = _batch_views(data, partition_keys, explicit_hash_keys)
        if keys_view.length > limits.KINESIS_PUT_RECORDS_MAX:
            raise ValidationException(
                f"1 validation error detected: Value '[{keys_view.length} records]' at 'records' failed to satisfy "
                f"constraint: Member must have length less than or equal to {limits.KINESIS_PUT_RECORDS_MAX}")
        if _value_bytes(data_view.array) + _value_bytes(keys_view.array) > limits.KINESIS_PUT_RECORDS_BYTES_MAX:
            raise InvalidArgumentException(
                f"Records size exceeds {limits.KINESIS_PUT_RECORDS_BYTES_MAX // limits.MiB} MB limit")
        return self._put(data_view, keys_view, explicit)

    def put_record(self, data, partition_key, explicit_hash_key=None,
                   sequence_number_for_ordering=None) -> tuple[Shard, int]:
        """PutRecord: the shard the record went to and its sequence number;
        ProvisionedThroughputExceededException if the shard's write limit refused it."""
        if partition_key is None:
            raise missing_partition_key("partitionKey")
        if sequence_number_for_ordering is not None and parse_sequence_number(sequence_number_for_ordering) is None:
            raise ValidationException(
                f"1 validation error detected: Value '{sequence_number_for_ordering}' at 'sequenceNumberForOrdering' "
                f"failed to satisfy constraint: Member must satisfy regular expression pattern: "
                f"{limits.KINESIS_SEQUENCE_NUMBER_PATTERN}")
        # Sequence numbers grow with every put, so ordering after any earlier one always holds.
        explicit = None if explicit_hash_key is None else _parse_hash_keys([explicit_hash_key])
        result = self._put(*_record_views(data, partition_key), explicit, where="")
        shard = self.shards[int(result.shard_index[0])]
        if result.throttled is not None and result.throttled[0]:
            raise ProvisionedThroughputExceededException(
                f"Rate exceeded for shard {shard.shard_id} in stream {self.name} under account "
                f"{self.backend.account_id}.")
        return shard, int(result.sequence_number[0])

    def _put(self, data_view, keys_view, explicit, where: str | None = None) -> PutResult:
        n = keys_view.length
        if n == 0:
            return PutResult(np.empty(0, np.int32), np.empty(0, np.int64))
        threads = self.writer_threads if n >= limits.KINESIS_PUT_PARALLEL_MIN_RECORDS else 1
        report = _core.check_batch(keys_view, data_view, limits.KINESIS_PARTITION_KEY_MIN,
                                   limits.KINESIS_PARTITION_KEY_MAX, self.max_record_bytes, threads, KPL_MAGIC)
        if report.fault != _core.BATCH_OK:
            self._check_batch(keys_view, data_view, where)   # raises the fault's ValidationException
        if report.marked:   # (set before the records are visible to any reader)
            self.may_hold_aggregates = True
        now = self.clock.now()
        self._layout_lock.acquire_shared()
        try:
            if self.status == "DELETING":
                raise stream_not_found(self.name, self.backend.account_id)
            layout = self._layout
            position = layout.router.route(keys_view, explicit, threads)
            throttled = None
            if self.backend.engine.enforce_limits or self.mode == "ON_DEMAND":
                sizes = _record_sizes(data_view.array, keys_view.array)
                if self.backend.engine.enforce_limits:
                    throttled = self._throttle_writes(layout, position, sizes, now)
                if self.mode == "ON_DEMAND":
                    self._account_writes(layout, position, sizes, throttled)
            ts_ms = int(now * 1000)
            frames = None
            if self._store is not None:   # encoded before the lock: concurrent puts encode in parallel
                frames = self._store.encode([s.shard_id for s in layout.shards], position,
                                            None if throttled is None else ~throttled, keys_view, data_view)
            with self._persist_lock:
                if throttled is not None and throttled.any():
                    keep = ~throttled
                    seqs = np.full(n, -1, dtype=np.int64)
                    if keep.any():
                        mask = pa.array(keep)
                        seqs[keep] = _core.append_routed(layout.logs, self._seq, ts_ms, position[keep],
                                                         keys_view.array.filter(mask), data_view.array.filter(mask))
                else:
                    seqs = _core.append_routed(layout.logs, self._seq, ts_ms, position, keys_view, data_view,
                                               threads)
                    throttled = None
                if frames is not None:
                    with _disk_failures(InternalFailureException):
                        tickets = self._store.write(frames, seqs, ts_ms, encrypt=self.encryption_type == "KMS")
            shard_index = position if layout.shard_index is None else layout.shard_index[position]
        finally:
            self._layout_lock.release_shared()
        if self._store is not None:
            with _disk_failures(InternalFailureException):
                self._store.commit(tickets)   # fsync mode: group commit with concurrent puts
        if self._waiters:
            with self._data_arrived:
                self._data_arrived.notify_all()
        self._housekeeping(now)
        if self._expiry_timer is None:
            self._arm_expiry(now + self.retention_seconds + _EXPIRY_STEP_S)
        return PutResult(shard_index, seqs, throttled)

    def _check_batch(self, keys_view, data_view, where: str | None = None) -> None:
        """Keys of 1-256 characters of well-formed UTF-8, key + data within the record size.
        `where` names the record in messages ("" for PutRecord's own members)."""
        report = _core.check_batch(keys_view, data_view, limits.KINESIS_PARTITION_KEY_MIN,
                                   limits.KINESIS_PARTITION_KEY_MAX, self.max_record_bytes)
        if report.fault == _core.BATCH_OK:
            return
        where = f"records.{report.row + 1}.member." if where is None else where
        if report.fault == _core.BATCH_KEY_TEXT:
            raise ValidationException(f"1 validation error detected: Value at '{where}partitionKey' failed to "
                                      "satisfy constraint: Member must be valid UTF-8 text")
        if report.fault == _core.BATCH_KEY_LENGTH:
            raise ValidationException(
                f"1 validation error detected: Value at '{where}partitionKey' failed to satisfy constraint: "
                f"Member must have length less than or equal to {limits.KINESIS_PARTITION_KEY_MAX} and greater "
                f"than or equal to {limits.KINESIS_PARTITION_KEY_MIN}")
        raise ValidationException(   # the record size counts the partition key too
            f"1 validation error detected: Value at '{where}data' failed to satisfy constraint: "
            f"Member must have length less than or equal to {self.max_record_bytes}")

    def _throttle_writes(self, layout: _Layout, position: np.ndarray, sizes: np.ndarray, now: float) -> np.ndarray:
        """Refuse the rows past each shard's 1,000 records/s and 1 MiB/s allowance."""
        throttled = np.zeros(len(position), dtype=bool)
        for pos, shard in enumerate(layout.shards):
            rows = np.flatnonzero(position == pos)
            if not len(rows):
                continue
            record_tokens = int(shard.write_records.refill(now))
            byte_tokens = shard.write_bytes.refill(now)
            cum_bytes = np.cumsum(sizes[rows])
            allowed = min(record_tokens, int(np.searchsorted(cum_bytes, byte_tokens, side="right")))
            throttled[rows[allowed:]] = True
            shard.write_records.tokens -= allowed
            shard.write_bytes.tokens -= float(cum_bytes[allowed - 1]) if allowed else 0.0
        return throttled

    def _account_writes(self, layout: _Layout, position: np.ndarray, sizes: np.ndarray, throttled) -> None:
        keep = slice(None) if throttled is None else ~throttled
        counts = np.bincount(position[keep], minlength=len(layout.shards))
        volume = np.bincount(position[keep], weights=sizes[keep], minlength=len(layout.shards))
        for shard, c, v in zip(layout.shards, counts, volume):
            shard.window_records += int(c)
            shard.window_bytes += int(v)

    # --- housekeeping: retention, on-demand scaling ------------------------------------
    def housekeeping(self, now: float | None = None) -> None:
        """Apply retention (at most once per engine second) and on-demand scaling when due."""
        self._housekeeping(self.clock.now() if now is None else now)

    def _housekeeping(self, now: float) -> None:
        # Age trims once per engine second; a memory cap is enforced on every batch.
        if now - self._last_trim >= 1.0 or self.memory_cap_bytes is not None:
            self._last_trim = now
            self.apply_retention(now)
        if self.mode == "ON_DEMAND" and now - self._window_start >= limits.KINESIS_ON_DEMAND_SCALE_WINDOW_S:
            self._scale_on_demand(now)

    def apply_retention(self, now: float | None = None) -> None:
        """Hide records past the retention period; free whole chunks (and the memory cap)."""
        now = self.clock.now() if now is None else now
        cutoff_ms = int((now - self.retention_seconds) * 1000)
        cap = -1 if self.memory_cap_bytes is None else int(self.memory_cap_bytes)
        for shard in self.shards:
            shard.log.trim(cutoff_ms, cap)
            if self._store is not None:
                self._store.retain(shard.shard_id, cutoff_ms)

    def _arm_expiry(self, when: float) -> None:
        """Retention also runs on the engine clock, so a stream nobody reads or writes still
        gives its memory back when its records expire (puts and reads trim as they go)."""
        with self._expiry_lock:
            if self._expiry_timer is None:
                # by weak reference: the clock's timers must not keep a deleted stream's records alive
                stream = weakref.ref(self)
                self._expiry_timer = self.clock.call_at(when, lambda: (s := stream()) is not None and s._expire())

    def _expire(self) -> None:
        self._expiry_timer = None
        if self.status == "DELETING" or self.backend.engine._closed:
            return
        now = self.clock.now()
        self.apply_retention(now)
        oldest_ms = self._oldest_arrival_ms()
        if oldest_ms is not None:   # next when the oldest record left expires
            self._arm_expiry(max(oldest_ms / 1000 + self.retention_seconds + _EXPIRY_STEP_S,
                                 now + limits.KINESIS_EXPIRY_SWEEP_MIN_S))

    def _oldest_arrival_ms(self) -> int | None:
        oldest = None
        for shard in self.shards:
            batch = shard.log.read(0, 1)
            if batch is not None:
                ts = batch.column(3)[0].value
                oldest = ts if oldest is None else min(oldest, ts)
        return oldest

    def _scale_on_demand(self, now: float) -> None:
        """Split every open shard whose writes over the last window passed its capacity."""
        window = max(now - self._window_start, 1e-9)
        hot = [s for s in self.open_shards()
               if s.window_records / window > limits.KINESIS_SHARD_WRITE_RECORDS_PER_S
               or s.window_bytes / window > limits.KINESIS_SHARD_WRITE_BYTES_PER_S]
        for shard in self.open_shards():
            shard.window_records = shard.window_bytes = 0
        self._window_start = now
        for shard in hot:
            if self.open_count >= limits.KINESIS_SHARD_COUNT_MAX or shard.end_hash <= shard.start_hash:
                break
            self.split_shard(shard.shard_id, (shard.start_hash + shard.end_hash + 1) // 2)

    # --- reads -----------------------------------------------------------------------
    def read(self, shard, start_seq: int | None = None, limit: int | None = None,
             max_bytes: int | None = None) -> pa.RecordBatch:
        """Records of one shard with sequence number >= start_seq (None: the oldest
        retained), as a zero-copy RecordBatch (partition_key, data, sequence_number,
        approximate_arrival_timestamp). Returns at most one chunk's worth: call again from
        the last sequence number + 1 for more; an empty batch means caught up."""
        s = self.shard(shard)
        position = _read_bound("start_seq", start_seq, 0)
        self._housekeeping(self.clock.now())
        batch = s.log.read(position, _read_bound("limit", limit, 1), _read_bound("max_bytes", max_bytes, 1))
        return batch if batch is not None else EMPTY_BATCH

    def read_table(self, shard, start_seq: int | None = None, limit: int | None = None) -> pa.Table:
        """All records from start_seq (up to `limit`) across chunks, as a pyarrow Table
        whose batches are zero-copy views of the shard's chunks."""
        s = self.shard(shard)
        position = _read_bound("start_seq", start_seq, 0)
        remaining = None if limit is None else _read_bound("limit", limit, 1)
        batches = []
        while remaining is None or remaining > 0:
            batch = s.log.read(position, remaining or 0, 0)
            if batch is None:
                break
            batches.append(batch)
            position = batch.column(2)[-1].as_py() + 1
            if remaining is not None:
                remaining -= batch.num_rows
        return pa.Table.from_batches(batches, schema=RECORD_SCHEMA)

    # --- shard iterators and GetRecords ----------------------------------------------------
    def shard_iterator(self, shard_ref, kind: str, sequence_number: str | None = None,
                       timestamp: float | None = None) -> str:
        """A GetShardIterator token for a shard (id or index) of this stream; a closed shard
        is readable for the retention period only."""
        shard = self.shard(shard_ref)
        if not self.is_visible(shard):
            raise shard_not_found(str(shard_ref), self.name, self.backend.account_id)
        position = self.position(shard, kind, sequence_number, timestamp)
        return iterators.encode(iterators.IteratorState(self.name, self.incarnation, shard.index, position,
                                                        self.clock.now_ms()))

    def position(self, shard: Shard, kind: str, sequence_number: str | None = None,
                 timestamp: float | None = None) -> int:
        """The sequence number an iterator (or subscription) of type `kind` starts reading at;
        `timestamp` in epoch seconds."""
        if kind not in ITERATOR_TYPES:
            raise InvalidArgumentException(f"Invalid ShardIteratorType {kind}; must be one of {', '.join(ITERATOR_TYPES)}.")
        self.apply_retention()
        if kind == "TRIM_HORIZON":
            return 0
        if kind == "LATEST":
            return shard.last_seq() + 1 if shard.is_open else shard.ending_seq + 1
        if kind == "AT_TIMESTAMP":
            if timestamp is None:
                raise InvalidArgumentException("Must specify timestampInMillis parameter for iterator of type "
                                               "AT_TIMESTAMP. Current request has no timestamp parameter.")
            if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
                raise ValidationException(f"timestamp must be epoch seconds, not {timestamp!r}")
            return shard.log.seq_at_time(int(min(max(timestamp, 0), _INT64_MAX // 1000) * 1000))
        if sequence_number is None:
            raise InvalidArgumentException(f"Must specify startingSequenceNumber for iterator of type {kind}.")
        seq = parse_sequence_number(sequence_number)
        upper = shard.ending_seq if shard.ending_seq is not None else self._seq.next_value - 1
        # AFTER_SEQUENCE_NUMBER may name the number just below the shard's first one: the
        # ContinuationSequenceNumber of a subscription that has not read a record yet.
        lower = shard.starting_seq - (1 if kind == "AFTER_SEQUENCE_NUMBER" else 0)
        if seq is None or seq < lower or seq > upper:
            raise InvalidArgumentException(
                f"StartingSequenceNumber {sequence_number} used in GetShardIterator on shard {shard.shard_id} in "
                f"stream {self.name} under account {self.backend.account_id} is invalid because it did not come "
                "from this stream.")
        return seq if kind == "AT_SEQUENCE_NUMBER" else seq + 1

    def read_records(self, shard: Shard, position: int, limit: int, max_bytes: int, now_ms: int) -> RecordsRead:
        """Up to `limit` records / `max_bytes` from `position`, each with the encryption it
        was written with."""
        change_seqs, change_flags = self.encryption_changes()
        got = shard.log.read_records(position, limit, max_bytes, change_seqs, change_flags)
        behind = max(0, now_ms - got.last_ts_ms) if got.records and got.more else 0
        return RecordsRead(got.records, got.position, behind, got.nbytes)

    def get_records(self, state: "iterators.IteratorState", limit: int, now_ms: int) -> RecordsPage:
        shard = self.shard(state.shard_index)
        self.housekeeping(now_ms / 1000)   # records past the retention period are no longer served
        self.check_read_limits(shard, now_ms / 1000)
        got = self.read_records(shard, state.position, limit, limits.KINESIS_GET_RECORDS_BYTES_MAX, now_ms)
        self.charge_read_bytes(shard, got.nbytes)
        if not shard.is_open and not shard.has_records_from(got.position):
            return RecordsPage(got.records, got.millis_behind, None, list(shard.children))
        token = iterators.encode(iterators.IteratorState(self.name, self.incarnation, shard.index, got.position,
                                                         now_ms))
        return RecordsPage(got.records, got.millis_behind, token, [])

    def wait_for_data(self, deadline: float) -> None:
        """Block until a put lands in this stream or the engine clock reaches deadline."""
        with self._data_arrived:
            self._waiters += 1
            try:
                self.clock.wait(self._data_arrived, deadline)
            finally:
                self._waiters -= 1

    def check_read_limits(self, shard: Shard, now: float) -> None:
        if not self.backend.engine.enforce_limits:
            return
        if shard.read_calls.refill(now) < 1 or shard.read_bytes.refill(now) < 0:
            raise ProvisionedThroughputExceededException(
                f"Rate exceeded for Shard - {self.backend.account_id}/{self.name}/{shard.shard_id}")
        shard.read_calls.tokens -= 1

    def charge_read_bytes(self, shard: Shard, nbytes: int) -> None:
        if self.backend.engine.enforce_limits:
            shard.read_bytes.tokens -= nbytes   # may go negative: later calls wait it out

    # --- resharding ------------------------------------------------------------------
    def _new_shard(self, start: int, end: int, now: float, parent: Shard | None = None,
                   adjacent: Shard | None = None) -> Shard:
        shard = Shard(len(self.shards), start, end, self._seq.next_value, now, parent and parent.shard_id,
                      adjacent and adjacent.shard_id)
        for p in (parent, adjacent):
            if p is not None:
                p.children.append(shard)
        self.shards.append(shard)
        return shard

    def _close(self, shard: Shard, now: float) -> None:
        # Called with the layout held exclusively: no put is in flight.
        shard.ending_seq = self._seq.next_value - 1
        if shard.ending_seq < shard.starting_seq:
            # Nothing was written: spend one number so the range is not empty and children start after it.
            shard.ending_seq = self._seq.reserve(1)
        shard.closed_at = now

    @_persists
    def _reshard(self, change) -> None:
        self._layout_lock.acquire_exclusive()
        try:
            if self.status == "DELETING":
                raise stream_not_found(self.name, self.backend.account_id)
            now = self.clock.now()
            before = self.open_count
            change(now)
            self._layout = _Layout(self.open_shards())
            self.backend.shards_opened(self.open_count - before)
        finally:
            self._layout_lock.release_exclusive()

    def _split(self, parent: Shard, key: int, now: float) -> tuple[Shard, Shard]:
        # With the layout held exclusively.
        self._close(parent, now)
        return (self._new_shard(parent.start_hash, key - 1, now, parent),
                self._new_shard(key, parent.end_hash, now, parent))

    def _merge(self, low: Shard, high: Shard, now: float) -> Shard:
        # With the layout held exclusively; `low` ends just below where `high` starts.
        self._close(low, now)
        self._close(high, now)
        return self._new_shard(low.start_hash, high.end_hash, now, low, high)

    def split_shard(self, shard_ref: str, new_starting_hash_key: int | str) -> tuple[Shard, Shard]:
        """Split a shard at a hash key (an int, or its decimal text as the API gives it)."""
        if isinstance(new_starting_hash_key, str):
            key = new_starting_hash_key
            if not _HASH_KEY.fullmatch(key):
                raise ValidationException(f"1 validation error detected: Value '{key}' at 'newStartingHashKey' failed "
                                          "to satisfy constraint: Member must satisfy regular expression pattern: "
                                          f"{limits.KINESIS_HASH_KEY_PATTERN}")
            new_starting_hash_key = int(key)
        elif isinstance(new_starting_hash_key, bool) or _integer(new_starting_hash_key) is None:
            raise ValidationException(f"new_starting_hash_key must be an integer, not {new_starting_hash_key!r}")
        with self._admin_lock:
            parent = self.shard(shard_ref)
            if not parent.is_open:
                raise ResourceInUseException(f"Shard {parent.shard_id} in stream {self.name} under account "
                                             f"{self.backend.account_id} has already been merged or split, and thus is not eligible for merging or splitting.")
            if not parent.start_hash < new_starting_hash_key <= parent.end_hash:
                raise InvalidArgumentException(
                    f"NewStartingHashKey {new_starting_hash_key} used in SplitShard() on shard {parent.shard_id} in stream "
                    f"{self.name} under account {self.backend.account_id} is not both greater than one plus the shard's "
                    f"StartingHashKey {parent.start_hash} and less than the shard's EndingHashKey {parent.end_hash}.")
            self._check_shard_quota(1)
            children = []
            self._reshard(lambda now: children.extend(self._split(parent, new_starting_hash_key, now)))
            return children[0], children[1]

    def merge_shards(self, shard_ref: str, adjacent_ref: str) -> Shard:
        with self._admin_lock:
            a, b = self.shard(shard_ref), self.shard(adjacent_ref)
            for s in (a, b):
                if not s.is_open:
                    raise ResourceInUseException(f"Shard {s.shard_id} in stream {self.name} under account "
                                                 f"{self.backend.account_id} has already been merged or split, and thus is not eligible for merging or splitting.")
            if a is b or not (a.end_hash + 1 == b.start_hash or b.end_hash + 1 == a.start_hash):
                raise InvalidArgumentException(
                    f"Shards {a.shard_id} and {b.shard_id} in stream {self.name} under account "
                    f"{self.backend.account_id} are not an adjacent pair of shards eligible for merging")
            child = []

            def change(now):
                self._close(a, now)
                self._close(b, now)
                child.append(self._new_shard(min(a.start_hash, b.start_hash), max(a.end_hash, b.end_hash), now,
                                             a, b))

            self._reshard(change)
            return child[0]

    def update_shard_count(self, target: int) -> int:
        """UNIFORM_SCALING to `target` shards with the lineage AWS leaves (its shard counts
        show it: 4 -> 5 leaves 15 shards in all, 10 -> 13 leaves 37, 5 -> 3 leaves 7): to
        scale up, every open shard splits once, then 2n - target pairs of neighbouring halves
        merge across old boundaries; to scale down, n - target merges of neighbours. Split
        points and the boundaries that stay are those nearest the even boundaries, so the new
        shards are as even as that lineage allows. Every shard keeps at most two parents
        whose ranges cover it exactly, so consumers that follow the lineage keep per-key order."""
        _check_positive("TargetShardCount", target)
        with self._admin_lock:
            if self.mode == "ON_DEMAND":
                raise ValidationException(f"Request is invalid. Stream {self.name} under account "
                                          f"{self.backend.account_id} is in On-Demand mode.")
            current = self.open_count
            if target > 2 * current or target * 2 < current:
                raise LimitExceededException(
                    f"UpdateShardCount cannot scale up over double your current open shard count ({current}) "
                    f"or scale down below half your current open shard count. Target: {target}")
            self._check_shard_quota(target - current)
            self._scale_uniformly(target)
            return current

    def _scale_uniformly(self, target: int) -> None:
        # With the admin lock held; target is within [n/2, 2n] of the n open shards.
        current = self.open_count

        def change(now):
            opened = sorted(self.open_shards(), key=lambda s: s.start_hash)
            goals = [lo for lo, _ in even_ranges(target)[1:]]
            if target > current:
                pieces, kept = self._split_all(opened, goals, now)
            else:
                pieces = opened
                bounds = [s.start_hash for s in opened[1:]]
                kept = {bounds[j] for j in _nearest_in_order(bounds, goals)}
            merged = pieces[0]
            for piece in pieces[1:]:   # merge across every old boundary that does not stay
                if piece.start_hash in kept:
                    merged = piece
                else:
                    merged = self._merge(merged, piece, now)

        if target != current:
            self._reshard(change)

    def _split_all(self, opened: list[Shard], goals: list[int], now: float) -> tuple[list[Shard], set]:
        """Split every open shard once. Returns the halves in hash order and the boundaries
        that stay: the split points, and the len(goals) - n old boundaries nearest a goal.
        The goals no old boundary took become the split points, one per shard in order."""
        bounds = [s.start_hash for s in opened[1:]]
        staying = sorted(range(len(bounds)), key=lambda i: (_distance_to_nearest(goals, bounds[i]), i))
        staying = staying[:len(goals) - len(opened)]
        taken = set()
        for i in staying:
            taken.add(_nearest_free(goals, bounds[i], taken))
        split_goals = [g for j, g in enumerate(goals) if j not in taken]
        kept = {bounds[i] for i in staying}
        pieces = []
        for shard, goal in zip(opened, split_goals):
            if shard.start_hash == shard.end_hash:   # a one-key shard cannot split
                pieces.append(shard)
                continue
            key = min(max(goal, shard.start_hash + 1), shard.end_hash)
            pieces.extend(self._split(shard, key, now))
            kept.add(key)
        return pieces, kept

    def _check_shard_quota(self, extra: int) -> None:
        if self.backend.open_shard_count() + extra > limits.KINESIS_SHARD_COUNT_MAX:
            raise LimitExceededException(
                f"This request would exceed the shard limit for the account {self.backend.account_id} in "
                f"{self.backend.region}. Current shard count for the account: {self.backend.open_shard_count()}. "
                f"Limit: {limits.KINESIS_SHARD_COUNT_MAX}.")

    # --- server-side encryption ------------------------------------------------------------
    @_persists
    def start_encryption(self, encryption_type: str, key_id: str) -> None:
        """KMS encryption with `key_id` from the next record on."""
        _check_kms(encryption_type)
        if not isinstance(key_id, str) or not key_id:
            raise ValidationException("KeyId must be a non-empty string")
        self._set_encryption("KMS", key_id)

    @_persists
    def stop_encryption(self, encryption_type: str, key_id: str | None = None) -> None:
        """No encryption from the next record on; records already stored keep theirs."""
        _check_kms(encryption_type)
        self._set_encryption("NONE", None)

    def _set_encryption(self, encryption_type: str, key_id: str | None) -> None:
        self._layout_lock.acquire_exclusive()   # no put in flight: the boundary is exact
        try:
            self.encryption_type, self.key_id = encryption_type, key_id
            self._encryption_changes.append((self._seq.next_value, encryption_type == "KMS"))
            self._encryption_arrays = _encryption_arrays(self._encryption_changes)
        finally:
            self._layout_lock.release_exclusive()

    def encryption_changes(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(first sequence number, encrypted from there on) of each change, as arrays; (None,
        None) when encryption never changed."""
        return self._encryption_arrays

    # --- consumers (enhanced fan-out) --------------------------------------------------
    @_persists
    def register_consumer(self, name: str, tags: dict | None = None) -> Consumer:
        if not isinstance(name, str) or not _CONSUMER_NAME.fullmatch(name) or len(name) > limits.KINESIS_CONSUMER_NAME_MAX:
            raise ValidationException(f"1 validation error detected: Value '{name}' at 'consumerName' failed to "
                                      "satisfy constraint: Member must satisfy regular expression pattern: "
                                      f"{limits.KINESIS_STREAM_NAME_PATTERN}")
        tags = _initial_tags(tags, f"consumer {name}")
        with self._admin_lock:
            if name in self.consumers:
                raise ResourceInUseException(f"Consumer {name} under stream {self.name} already exists for account "
                                             f"{self.backend.account_id}.")
            if len(self.consumers) >= limits.KINESIS_CONSUMERS_PER_STREAM:
                raise LimitExceededException(f"Consumer limit of {limits.KINESIS_CONSUMERS_PER_STREAM} reached for "
                                             f"stream {self.name}")
            created = self.clock.now()
            consumer = Consumer(name, kinesis_consumer_arn(self.arn, name, int(created)), created, tags=tags,
                                stream=self)
            self.consumers[name] = consumer
            return consumer

    def subscribe(self, consumer: Consumer, shard_ref, kind: str, sequence_number: str | None = None,
                  timestamp: float | None = None) -> tuple[Shard, int, float]:
        """Start a SubscribeToShard subscription: (shard, first position, expiry time)."""
        shard = self.shard(shard_ref)
        position = self.position(shard, kind, sequence_number, timestamp)
        now = self.clock.now()
        consumer.subscribe(shard, now)
        return shard, position, now + limits.KINESIS_SUBSCRIPTION_TTL_S

    @_persists
    def deregister_consumer(self, name: str) -> None:
        with self._admin_lock:
            if self.consumers.pop(name, None) is None:
                raise ResourceNotFoundException(f"Consumer {name} under stream {self.name} not found for account "
                                                f"{self.backend.account_id}.")

    # --- durability ----------------------------------------------------------------------
    def attach_store(self, store: StreamStore) -> None:
        self._store = store
        self._persist_lock = threading.Lock()
        self.persist()

    def persist(self) -> None:
        """Rewrite the metadata file (durable engines): what a restart restores besides records."""
        if self._store is None:
            return
        with self._admin_lock, _disk_failures(InternalFailure):
            self._store.save_meta({
                "name": self.name, "created": self.created, "mode": self.mode,
                "retention_hours": self.retention_hours, "max_record_size_kib": self.max_record_size_kib,
                "encryption_type": self.encryption_type, "key_id": self.key_id,
                "encryption_changes": self._encryption_changes, "tags": self.tags,
                "shard_level_metrics": self.shard_level_metrics, "policy": self.policy,
                "warm_throughput_mibps": self.warm_throughput_mibps, "next_seq": self._seq.next_value,
                "shards": [{"index": s.index, "start_hash": s.start_hash, "end_hash": s.end_hash, "parent": s.parent,
                            "adjacent_parent": s.adjacent_parent, "starting_seq": s.starting_seq,
                            "ending_seq": s.ending_seq, "created_at": s.created_at, "closed_at": s.closed_at}
                           for s in self.shards],
                "consumers": [{"name": c.name, "arn": c.arn, "created": c.created, "status": c.status,
                               "policy": c.policy, "tags": c.tags} for c in self.consumers.values()],
            })

    @classmethod
    def restore(cls, backend: "KinesisBackend", store: StreamStore, meta: dict) -> "Stream":
        """The stream a durable engine wrote: its metadata, then every record of every shard
        appended again with its own sequence number and arrival time."""
        stream = cls(backend, meta["name"], 1, meta["mode"], meta["max_record_size_kib"], meta["tags"])
        stream.created = meta["created"]
        stream.retention_hours = meta["retention_hours"]
        stream.encryption_type = meta["encryption_type"]
        stream.key_id = meta["key_id"]
        stream._encryption_changes = [tuple(c) for c in meta["encryption_changes"]]
        if stream._encryption_changes:
            stream._encryption_arrays = _encryption_arrays(stream._encryption_changes)
        stream.shard_level_metrics = meta["shard_level_metrics"]
        stream.policy = meta["policy"]
        stream.warm_throughput_mibps = meta["warm_throughput_mibps"]
        stream.shards = []
        for m in meta["shards"]:
            shard = Shard(m["index"], m["start_hash"], m["end_hash"], m["starting_seq"], m["created_at"],
                          m["parent"], m["adjacent_parent"])
            shard.ending_seq, shard.closed_at = m["ending_seq"], m["closed_at"]
            stream.shards.append(shard)
        for shard in stream.shards:
            for ref in (shard.parent, shard.adjacent_parent):
                if ref is not None:
                    stream.shards[parse_shard_id(ref)].children.append(shard)
        stream.may_hold_aggregates = True   # (records read back from disk are not looked at)

        def reload(shard: Shard) -> int:
            """Append the shard's frames again; returns the sequence number after its last."""
            after = -1
            for first, last, ts_ms, batch in store.frames(shard.shard_id):
                shard.log.append(_core.SequenceSource(first), ts_ms, batch.column(0), batch.column(1))
                after = last + 1
            return after

        # shards reload side by side: their appends run in C without the GIL
        with ThreadPoolExecutor(min(len(stream.shards), stream.writer_threads)) as pool:
            stream._seq = _core.SequenceSource(max(meta["next_seq"], *pool.map(reload, stream.shards)))
        for c in meta["consumers"]:
            stream.consumers[c["name"]] = Consumer(c["name"], c["arn"], c["created"], c["status"], c["policy"],
                                                   c["tags"], stream=stream)
        stream._layout = _Layout(stream.open_shards())
        stream._store = store
        stream._persist_lock = threading.Lock()
        stream.apply_retention()
        stream._arm_expiry(stream.clock.now())
        return stream

    def delete(self) -> None:
        self._layout_lock.acquire_exclusive()
        try:
            self.status = "DELETING"
        finally:
            self._layout_lock.release_exclusive()
        if self._store is not None:
            self._store.delete()
        with self._data_arrived:
            self._data_arrived.notify_all()


@contextlib.contextmanager
def _disk_failures(error_class: type[ClientError]):
    """A stream's files that cannot be written (disk full, file size limit, I/O error, a failed
    fdatasync) answer as AWS answers a failure on its side: HTTP 500 (InternalFailureException
    where the operation models it, else the common InternalFailure), naming the file."""
    try:
        yield
    except (OSError, _core.SegmentError) as error:
        raise error_class(f"Internal service failure: {error}") from error


def _encryption_arrays(changes: list[tuple[int, bool]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([c[0] for c in changes], dtype=np.int64), np.array([c[1] for c in changes], dtype=bool)


def _view(values, name: str):
    """A checked native view over a column (lists, numpy or Arrow arrays of bytes or str)."""
    try:
        array = _core.as_binary_array(values, name)
    except _core.CoreValueError as exc:
        raise ValidationException(str(exc)) from None
    try:
        return _core.BinaryView(array)
    except _core.CoreValueError as exc:
        raise ValidationException(f"{name}: {exc}") from None


def _batch_views(data, partition_keys, explicit_hash_keys):
    """(data view, keys view, parsed explicit hash keys or None), of one length."""
    data_view = _view(data, "data")
    keys_view = _view(partition_keys, "partition_keys")
    n = keys_view.length
    if data_view.length != n:
        raise ValidationException(f"data has {data_view.length} items but partition_keys has {n}")
    explicit = None if explicit_hash_keys is None else _parse_hash_keys(explicit_hash_keys)
    if explicit is not None and len(explicit) != n:
        raise ValidationException(f"explicit_hash_keys has {len(explicit)} items but partition_keys has {n}")
    return data_view, keys_view, explicit


def _record_views(data, partition_key):
    """(data view, key view) of one record (PutRecord): bytes and a str key straight into
    one-row Arrow arrays, without the list conversion a batch takes (the largest part of a
    single put); other types, and a key that is not UTF-8, through _view's checks and errors."""
    if data.__class__ is bytes and partition_key.__class__ is str:
        try:
            key = partition_key.encode()
        except UnicodeEncodeError:
            pass
        else:
            return _core.BinaryView(_one_row(data, pa.binary())), _core.BinaryView(_one_row(key, pa.string()))
    return _view([data], "data"), _view([partition_key], "partition_keys")


def _one_row(value: bytes, arrow_type) -> pa.Array:
    """A one-row binary or string array over `value` (not copied): offsets 0 and its length."""
    offsets = pa.py_buffer(_ZERO_OFFSET + len(value).to_bytes(4, "little"))
    return pa.Array.from_buffers(arrow_type, 1, [None, offsets, pa.py_buffer(value)])


_ZERO_OFFSET = bytes(4)


def _parse_hash_keys(values):
    """Explicit hash keys: a decimal of at most 39 digits (the model's pattern), else
    ValidationException; within 0..2^128-1, else InvalidArgumentException, as AWS answers."""
    try:
        return _core.parse_hash_keys(values)
    except _core.CoreRangeError as exc:
        raise InvalidArgumentException(f"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                                       f"[0, 2^128-1]. Specified value was {_text(exc.value)}") from None
    except _core.CoreValueError as exc:
        if not hasattr(exc, "row"):   # not text at all
            raise ValidationException(str(exc)) from None
        raise ValidationException(
            f"1 validation error detected: Value '{_text(exc.value)}' at 'records.{exc.row + 1}.member."
            "explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: "
            f"{limits.KINESIS_HASH_KEY_PATTERN}") from None


def _integer(value) -> int | None:
    """An int from an int-like value (int, numpy integer), else None."""
    try:
        return operator.index(value)
    except TypeError:
        return None


def shards_for_throughput(mibps: int) -> int:
    """Open shards that give `mibps` MiB/s of writes (1 MiB/s each)."""
    per_shard = limits.KINESIS_SHARD_WRITE_BYTES_PER_S // limits.MiB
    return -(-mibps // per_shard)


def _check_mode(mode) -> None:
    if mode not in MODES:
        raise ValidationException(f"1 validation error detected: Value '{mode}' at 'streamModeDetails.streamMode' "
                                  f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(MODES)}]")


def _check_kms(encryption_type) -> None:
    # The model's enum admits NONE; the start and stop calls name the KMS encryption they act on.
    if encryption_type != "KMS":
        raise ValidationException(f"1 validation error detected: Value '{encryption_type}' at 'encryptionType' failed "
                                  "to satisfy constraint: Member must satisfy enum value set: [KMS]")


def _check_natural(name: str, value) -> None:
    if isinstance(value, bool) or _integer(value) is None or value < 0:
        raise ValidationException(f"{name} must be a non-negative integer, not {value!r}")


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or _integer(value) is None or value < 1:
        raise ValidationException(f"{name} must be a positive integer, not {value!r}")


def _check_retention(hours) -> None:
    if isinstance(hours, bool) or _integer(hours) is None:
        raise ValidationException(f"RetentionPeriodHours must be an integer, not {hours!r}")
    if hours < limits.KINESIS_RETENTION_MIN_H:
        raise InvalidArgumentException(
            f"Minimum allowed retention period is {limits.KINESIS_RETENTION_MIN_H} hours. Requested retention "
            f"period ({hours} hours) is too short.")
    if hours > limits.KINESIS_RETENTION_MAX_H:
        raise InvalidArgumentException(
            f"Maximum allowed retention period is {limits.KINESIS_RETENTION_MAX_H} hours. Requested retention "
            f"period ({hours} hours) is too long.")


def _check_record_size(kib) -> None:
    if isinstance(kib, bool) or _integer(kib) is None or not (
            limits.KINESIS_RECORD_SIZE_MIN_KIB <= kib <= limits.KINESIS_RECORD_SIZE_MAX_KIB):
        raise ValidationException(f"1 validation error detected: Value '{kib}' at 'maxRecordSizeInKiB' failed to "
                                  f"satisfy constraint: Member must have value between "
                                  f"{limits.KINESIS_RECORD_SIZE_MIN_KIB} and {limits.KINESIS_RECORD_SIZE_MAX_KIB}")


def _tags_added(current: dict, tags, owner: str) -> dict:
    """`current` with `tags` added: at most 10 per call and 50 in all, as AWS counts them."""
    _check_tags(tags)
    if len(tags) > limits.KINESIS_TAGS_PER_CALL:
        raise InvalidArgumentException(f"Failed to add tags to {owner} because a given request can add at most "
                                       f"{limits.KINESIS_TAGS_PER_CALL} tags.")
    merged = {**current, **tags}
    if len(merged) > limits.KINESIS_TAGS_PER_STREAM:
        raise LimitExceededException(f"Failed to add tags to {owner} because the total number of tags would exceed "
                                     f"the limit of {limits.KINESIS_TAGS_PER_STREAM}.")
    return merged


def _initial_tags(tags, owner: str) -> dict:
    """The tags a stream or consumer is created with (none: {}); up to 50."""
    if tags is None:
        return {}
    _check_tags(tags)
    if len(tags) > limits.KINESIS_TAGS_PER_STREAM:
        raise LimitExceededException(f"Failed to create {owner} because the total number of tags would exceed the "
                                     f"limit of {limits.KINESIS_TAGS_PER_STREAM}.")
    return dict(tags)


def _tags_removed(current: dict, keys) -> dict:
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise ValidationException("Tag keys must be a list of strings")
    gone = set(keys)
    return {k: v for k, v in current.items() if k not in gone}


def missing_partition_key(field: str) -> ValidationException:
    """Newer botocore models make PartitionKey optional (streams with the AUTO record
    distribution strategy ignore it); our streams use USER_PARTITION_KEY, where the service
    requires it."""
    return ValidationException(f"1 validation error detected: Value null at '{field}' failed to satisfy constraint: "
                               "Member must not be null")


def _check_tags(tags) -> None:
    """A tag map as the service takes it: at least one tag (botocore does not check a map's
    minimum), string keys and values."""
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ValidationException("Tags must be a map of strings to strings")
    if not tags:
        raise ValidationException("1 validation error detected: Value '{}' at 'tags' failed to satisfy constraint: "
                                  "Member must have length greater than or equal to 1")


def _read_bound(name: str, value, lowest: int) -> int:
    """A caller's start sequence number or count for the core: None means 0 (from the start,
    no limit); anything not an integer >= lowest is refused; past int64 it is clamped (no
    record has so high a number, no batch so many records)."""
    if value is None:
        return 0
    number = _integer(value)
    if number is None or isinstance(value, bool):
        raise ValidationException(f"{name} must be an integer, not {type(value).__name__}")
    if number < lowest:
        raise InvalidArgumentException(f"{name} must be at least {lowest}; got {number}")
    return min(number, _INT64_MAX)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _value_bytes(array: pa.Array) -> int:
    """The bytes of a binary or string array's values, from its offsets (first to last: a
    kernel call and its scalar cost more than the whole of a 500-record request's routing)."""
    if array.type.id in _LARGE_OFFSETS:
        offsets = np.frombuffer(array.buffers()[1], np.int64, len(array) + 1, array.offset * 8)
    else:
        offsets = np.frombuffer(array.buffers()[1], np.int32, len(array) + 1, array.offset * 4)
    return int(offsets[-1]) - int(offsets[0])


_LARGE_OFFSETS = {pa.large_binary().id, pa.large_string().id}


def _record_sizes(data_arr: pa.Array, keys_arr: pa.Array) -> np.ndarray:
    return (pc.binary_length(data_arr).to_numpy(zero_copy_only=False).astype(np.int64)
            + pc.binary_length(keys_arr).to_numpy(zero_copy_only=False).astype(np.int64))


class KinesisBackend:
    """The streams of one account and region."""

    def __init__(self, engine, region: str):
        self.engine = engine
        self.region = region
        self.account_id = engine.account_id
        self.clock = engine.clock
        self.memory_cap_bytes: int | None = None
        self.streams: dict[str, Stream] = {}
        self._lock = threading.RLock()
        # Kept as they change, so no control-plane call walks every stream.
        self._names: list[str] = []          # sorted: ListStreams pages by bisection
        self._open_shards = 0
        self._on_demand_streams = 0
        self.account = AccountSettings(self.clock)
        # Durable engines keep each stream under <data_dir>/kinesis/<account>/<region>/.
        self._root = None
        if engine.durability != "memory":
            self._root, self._root_lock = region_root(engine, "kinesis", region, self.account_id)
            self._restore()

    def _restore(self) -> None:
        for entry in sorted(os.listdir(self._root)):
            if entry == ".lock":
                continue
            store = StreamStore(os.path.join(self._root, entry), self.engine.durability, self.engine.data_dir)
            meta = store.load_meta()
            if meta is None:   # a create that never finished
                store.delete()
                continue
            stream = Stream.restore(self, store, meta)
            self.streams[stream.name] = stream
            bisect.insort(self._names, stream.name)
            self._open_shards += stream.open_count
            self._on_demand_streams += stream.mode == "ON_DEMAND"

    def create_stream(self, name: str, shard_count: int | None = None, mode: str | None = None,
                      max_record_size_kib: int | None = None, tags: dict | None = None,
                      warm_throughput_mibps: int | None = None) -> Stream:
        """A new stream: PROVISIONED with `shard_count` shards, or ON_DEMAND (the default
        without a shard count), starting at the on-demand shard count."""
        if not isinstance(name, str) or not _STREAM_NAME.fullmatch(name) or len(name) > limits.KINESIS_STREAM_NAME_MAX:
            raise ValidationException(f"1 validation error detected: Value '{name}' at 'streamName' failed to satisfy "
                                      f"constraint: Member must satisfy regular expression pattern: "
                                      f"{limits.KINESIS_STREAM_NAME_PATTERN}")
        mode = mode or ("PROVISIONED" if shard_count is not None else "ON_DEMAND")
        _check_mode(mode)
        if mode == "PROVISIONED":
            if shard_count is None:
                raise InvalidArgumentException("ShardCount is required for streams in PROVISIONED mode.")
            _check_positive("ShardCount", shard_count)
        elif shard_count is not None:
            raise InvalidArgumentException("ShardCount cannot be specified for streams in ON_DEMAND mode.")
        if max_record_size_kib is not None:
            _check_record_size(max_record_size_kib)
        tags = _initial_tags(tags, f"stream {name} under account {self.account_id}")
        with self._lock:
            if name in self.streams:
                raise ResourceInUseException(f"Stream {name} under account {self.account_id} already exists.")
            if mode == "ON_DEMAND":
                self.check_on_demand_quota()
                shard_count = limits.KINESIS_ON_DEMAND_INITIAL_SHARDS
            self.check_warm_throughput(name, mode, warm_throughput_mibps)
            if warm_throughput_mibps is not None:   # a new stream starts with its warm capacity open
                shard_count = max(shard_count, shards_for_throughput(warm_throughput_mibps))
            if self.open_shard_count() + shard_count > limits.KINESIS_SHARD_COUNT_MAX:
                raise LimitExceededException(
                    f"This request would exceed the shard limit for the account {self.account_id} in {self.region}. "
                    f"Current shard count for the account: {self.open_shard_count()}. Limit: "
                    f"{limits.KINESIS_SHARD_COUNT_MAX}. Number of additional shards that would have resulted from "
                    f"this request: {shard_count}.")
            stream = Stream(self, name, shard_count, mode,
                            max_record_size_kib or limits.KINESIS_RECORD_SIZE_DEFAULT_KIB, tags)
            stream.warm_throughput_mibps = warm_throughput_mibps
            if self._root is not None:
                with _disk_failures(InternalFailure):
                    store = StreamStore(os.path.join(self._root, stream_dir_name(name)), self.engine.durability,
                                        self.engine.data_dir)
                stream.attach_store(store)
            self.streams[name] = stream
            bisect.insort(self._names, name)
            self._open_shards += shard_count
            self._on_demand_streams += mode == "ON_DEMAND"
        return stream

    def check_warm_throughput(self, stream_name: str, mode: str, mibps) -> None:
        """Warm throughput (None: not asked for) is for on-demand streams of an account with
        a billing commitment, up to 10 GiBps."""
        if mibps is None:
            return
        _check_natural("WarmThroughputMiBps", mibps)
        if mode != "ON_DEMAND":
            raise InvalidArgumentException(f"Warm throughput is only supported for streams in ON_DEMAND mode; stream "
                                           f"{stream_name} under account {self.account_id} is {mode}.")
        if not self.account.commitment().active:
            raise InvalidArgumentException(f"Warm throughput requires MinimumThroughputBillingCommitment to be enabled "
                                           f"for account {self.account_id}.")
        if mibps > limits.KINESIS_WARM_THROUGHPUT_MAX_MIBPS:
            raise LimitExceededException(f"Warm throughput of {mibps} MiBps exceeds the limit of "
                                         f"{limits.KINESIS_WARM_THROUGHPUT_MAX_MIBPS} MiBps for an on-demand stream.")

    def check_on_demand_quota(self) -> None:
        if self._on_demand_streams >= limits.KINESIS_ON_DEMAND_STREAMS_MAX:
            raise LimitExceededException(
                f"Account {self.account_id} in {self.region} already has {self._on_demand_streams} streams in "
                f"ON_DEMAND mode; the limit is {limits.KINESIS_ON_DEMAND_STREAMS_MAX}.")

    def delete_stream(self, name: str, enforce_consumer_deletion: bool = False) -> None:
        with self._lock:
            stream = self.get_stream(name)
            if stream.consumers and not enforce_consumer_deletion:
                raise ResourceInUseException(
                    f"Stream {name} under account {self.account_id} has registered consumers. Use "
                    "EnforceConsumerDeletion to delete it with its consumers.")
            del self.streams[name]
            del self._names[bisect.bisect_left(self._names, name)]
            stream.delete()   # waits for a reshard under way; none starts after
            self._open_shards -= stream.open_count
            self._on_demand_streams -= stream.mode == "ON_DEMAND"

    def get_stream(self, name: str) -> Stream:
        stream = self.streams.get(name)
        if stream is None:
            raise stream_not_found(name, self.account_id)
        return stream

    def stream(self, name: str | None = None, arn: str | None = None) -> Stream:
        """A stream by name or ARN: at least one, and both must name the same stream."""
        if arn is not None:
            stream = self.stream_by_arn(arn)
            if name is not None and name != stream.name:
                raise InvalidArgumentException(f"StreamName {name} and StreamARN {arn} do not match.")
            return stream
        if name is None:
            raise ValidationException("Either StreamName or StreamARN must be provided.")
        return self.get_stream(name)

    def stream_by_arn(self, arn: str) -> Stream:
        if not isinstance(arn, str):
            raise ValidationException(f"StreamARN must be a string, not {type(arn).__name__}")
        name = arn.rsplit("stream/", 1)[-1].split("/")[0] if "stream/" in arn else None
        stream = self.streams.get(name) if name else None
        if stream is None or stream.arn != arn.split("/consumer/")[0]:
            raise stream_not_found(name or arn, self.account_id)
        return stream

    def consumer_by_arn(self, arn: str) -> tuple[Stream, Consumer]:
        if not isinstance(arn, str):
            raise ValidationException(f"ConsumerARN must be a string, not {type(arn).__name__}")
        stream = self.stream_by_arn(arn.split("/consumer/")[0]) if "/consumer/" in arn else None
        if stream is not None:
            for consumer in stream.consumers.values():
                if consumer.arn == arn:
                    return stream, consumer
        raise ResourceNotFoundException(f"Consumer {arn} not found.")

    def consumer(self, stream_arn: str | None = None, name: str | None = None,
                 consumer_arn: str | None = None) -> tuple[Stream, Consumer]:
        """A consumer by its ARN, or by its stream's ARN and its name."""
        if consumer_arn is not None:
            return self.consumer_by_arn(consumer_arn)
        if stream_arn is None or name is None:
            raise InvalidArgumentException("Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
        stream = self.stream_by_arn(stream_arn)
        consumer = stream.consumers.get(name)
        if consumer is None:
            raise ResourceNotFoundException(f"Consumer {name} under stream {stream.name} not found for account "
                                            f"{self.account_id}.")
        return stream, consumer

    # --- GetRecords --------------------------------------------------------------------
    def get_records(self, shard_iterator: str, limit: int | None = None) -> RecordsPage:
        """Records from a shard iterator this service issued, and where to read next."""
        if limit is None:
            limit = limits.KINESIS_GET_RECORDS_MAX
        elif isinstance(limit, bool) or _integer(limit) is None or not 1 <= limit <= limits.KINESIS_GET_RECORDS_MAX:
            raise ValidationException(f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                                      f"constraint: Member must have value between 1 and {limits.KINESIS_GET_RECORDS_MAX}")
        now_ms = self.clock.now_ms()
        state = iterators.decode(shard_iterator, now_ms)
        stream = self.streams.get(state.stream_name)
        if stream is None or stream.incarnation != state.stream_incarnation:
            raise stream_not_found(state.stream_name, self.account_id)
        return stream.get_records(state, limit, now_ms)

    # --- tags and resource policies (streams and consumers) ------------------------------------
    def resource(self, arn: str) -> Stream | Consumer:
        """The stream or consumer an ARN names (TagResource, PutResourcePolicy and the like)."""
        if isinstance(arn, str) and "/consumer/" in arn:
            return self.consumer_by_arn(arn)[1]
        return self.stream_by_arn(arn)

    def put_policy(self, arn: str, policy: str) -> None:
        holder = self.resource(arn)
        check_policy(policy)
        holder.policy = policy
        self._persist_owner(holder, arn)

    def get_policy(self, arn: str) -> str:
        """The policy attached to a stream or consumer; an empty JSON object if none is."""
        policy = self.resource(arn).policy
        return "{}" if policy is None else policy

    def delete_policy(self, arn: str) -> None:
        holder = self.resource(arn)
        holder.policy = None
        self._persist_owner(holder, arn)

    def _persist_owner(self, holder: Stream | Consumer, arn: str) -> None:
        if self._root is not None:
            (holder if isinstance(holder, Stream) else self.consumer_by_arn(arn)[0]).persist()

    def open_shard_count(self) -> int:
        return self._open_shards

    def on_demand_stream_count(self) -> int:
        return self._on_demand_streams

    def shards_opened(self, delta: int) -> None:
        with self._lock:
            self._open_shards += delta

    def mode_changed(self, old: str, new: str) -> None:
        with self._lock:
            self._on_demand_streams += (new == "ON_DEMAND") - (old == "ON_DEMAND")

    def names_after(self, start: str | None, limit: int) -> tuple[list[str], bool]:
        """Up to `limit` stream names after `start` (None: from the first) in name order, and
        whether more follow."""
        with self._lock:
            i = 0 if start is None else bisect.bisect_right(self._names, start)
            page = self._names[i:i + limit]
            return page, i + limit < len(self._names)

    def release(self) -> None:
        """Give the records' memory back now (the engine calls it once every backend has closed:
        Firehose's close reads its Kinesis sources to their tip first). An engine sits in
        reference cycles, so dropping it would leave the chunks to the next garbage collection."""
        for stream in list(self.streams.values()):
            for shard in stream.shards:
                shard.log.release()

    def close(self) -> None:
        if self._root is None:
            return
        for stream in list(self.streams.values()):
            stream._store.close()
        self._root_lock.close()

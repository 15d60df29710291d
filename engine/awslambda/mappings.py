"""Event source mappings: pollers that read an SQS queue or a Kinesis stream and invoke a function
with batches, as Lambda's event source mappings do.

Each mapping has one dispatcher thread and a pool of invocation workers. The dispatcher polls the
source (receives from the queue, reads the shards), forms batches and hands them to the pool; it
never holds a lock a producer needs, so puts and sends never wait for a function. Every timed rule
(batching windows, retry back-off, record age, tumbling windows, function timeouts) reads the
engine clock, so tests move a ManualClock and call `settle()`, which returns once the dispatcher
has made a full pass after the call with nothing left to do at the current time and no invocation
in flight.

SQS: up to MaximumConcurrency batches at once; a batch is deleted when the function succeeds
(with ReportBatchItemFailures, all but the reported messages); a failed message returns after
its visibility timeout and the queue's redrive policy moves it to the dead-letter queue. FIFO
order per group holds because the queue gives out a group's next message only after the one in
flight is deleted or visible again.

Kinesis: per shard, ParallelizationFactor lanes; a record's lane is fixed by its partition key,
so each key keeps its order. A lane has at most one batch in flight. A failed batch is retried
(with back-off) until MaximumRetryAttempts or MaximumRecordAgeInSeconds is passed, bisected first
if BisectBatchOnFunctionError; a discarded batch's metadata goes to DestinationConfig.OnFailure.
With ReportBatchItemFailures, the lane checkpoints before the lowest reported sequence number.
Tumbling windows keep per-lane state between invocations and end with a final invocation.
Child shards are read after their parents are finished.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import zlib
from bisect import insort
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pyarrow as pa

from .. import limits
from ..arn import parse_arn
from . import events
from ..errors import ValidationException
from .errors import InvalidParameterValueException

log = logging.getLogger("engine.lambda")

SQS_ONLY = {"max_concurrency": "ScalingConfig"}
STREAM_ONLY = {"parallelization": "ParallelizationFactor", "max_retry": "MaximumRetryAttempts",
               "max_age": "MaximumRecordAgeInSeconds", "bisect": "BisectBatchOnFunctionError",
               "on_failure": "DestinationConfig", "tumbling": "TumblingWindowInSeconds",
               "starting_position": "StartingPosition"}
LATEST, TRIM_HORIZON, AT_TIMESTAMP = "LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"
STARTING_POSITIONS = (TRIM_HORIZON, LATEST, AT_TIMESTAMP)


@dataclasses.dataclass(frozen=True)
class MappingSettings:
    """What CreateEventSourceMapping/UpdateEventSourceMapping set; None: the source's default."""
    batch_size: int | None = None
    window: int | None = None                    # MaximumBatchingWindowInSeconds
    enabled: bool = True
    parallelization: int | None = None
    starting_position: str | None = None
    starting_timestamp: float | None = None      # epoch seconds
    max_retry: int | None = None                 # -1: until the record expires
    max_age: int | None = None                   # -1: no limit
    bisect: bool | None = None
    on_failure: str | None = None                # SQS queue or SNS topic ARN
    tumbling: int | None = None                  # TumblingWindowInSeconds, 0: none
    report_failures: bool = False                # FunctionResponseTypes=[ReportBatchItemFailures]
    max_concurrency: int | None = None           # ScalingConfig.MaximumConcurrency (SQS)

    def changed(self, changes: dict) -> MappingSettings:
        return dataclasses.replace(self, **changes)

    def resolved(self, kind: str, source, fn) -> MappingSettings:
        """These settings checked against the source's rules, with the source's defaults filled in."""
        wrong = STREAM_ONLY if kind == "sqs" else SQS_ONLY
        for attr, name in wrong.items():
            if getattr(self, attr) is not None:
                raise InvalidParameterValueException(
                    f"Unsupported {name} parameter for given event source mapping type.")
        if kind == "sqs":
            return self._sqs(source, fn)
        return self._stream()

    def _sqs(self, queue, fn) -> MappingSettings:
        batch = limits.LAMBDA_SQS_BATCH_DEFAULT if self.batch_size is None else self.batch_size
        window = self.window or 0
        if queue.fifo and batch > limits.LAMBDA_SQS_FIFO_BATCH_MAX:
            raise InvalidParameterValueException(f"BatchSize must be between 1 and {limits.LAMBDA_SQS_FIFO_BATCH_MAX}"
                                                 " for FIFO queues.")
        if batch > limits.LAMBDA_SQS_SMALL_BATCH_MAX and window < 1:
            raise InvalidParameterValueException("Maximum batch window in seconds must be greater than 0 if maximum "
                                                 f"batch size is greater than {limits.LAMBDA_SQS_SMALL_BATCH_MAX}")
        if queue.visibility < fn.timeout:
            raise InvalidParameterValueException(f"Queue visibility timeout: {queue.visibility} seconds is less than "
                                                 f"Function timeout: {fn.timeout} seconds")
        return dataclasses.replace(self, batch_size=batch, window=window,
                                   max_concurrency=self.max_concurrency or None)

    def _stream(self) -> MappingSettings:
        if self.starting_position is None:
            raise InvalidParameterValueException("1 validation error detected: Value null at 'startingPosition' "
                                                 "failed to satisfy constraint: Member must not be null")
        if self.starting_position not in STARTING_POSITIONS:   # (the native API skips the request layer)
            raise ValidationException(f"1 validation error detected: Value '{self.starting_position}' at "
                                      "'startingPosition' failed to satisfy constraint: Member must satisfy enum "
                                      f"value set: [{', '.join(STARTING_POSITIONS)}]")
        if self.starting_position == AT_TIMESTAMP and self.starting_timestamp is None:
            raise InvalidParameterValueException("StartingPositionTimestamp must be set when StartingPosition is "
                                                 "AT_TIMESTAMP.")
        max_age = -1 if self.max_age is None else self.max_age
        if max_age != -1 and max_age < limits.LAMBDA_RECORD_AGE_MIN_S:
            raise InvalidParameterValueException(
                f"MaximumRecordAgeInSeconds must be -1 or between {limits.LAMBDA_RECORD_AGE_MIN_S} and 604800.")
        if self.on_failure:
            service = (parse_arn(self.on_failure) or {}).get("service")
            if service not in ("sqs", "sns"):
                raise InvalidParameterValueException(
                    f"Unsupported DestinationConfig OnFailure destination: {self.on_failure}. Use an Amazon SQS "
                    "queue or an Amazon SNS topic.")
        return dataclasses.replace(
            self, batch_size=limits.LAMBDA_KINESIS_BATCH_DEFAULT if self.batch_size is None else self.batch_size,
            window=self.window or 0, parallelization=self.parallelization or 1,
            max_retry=-1 if self.max_retry is None else self.max_retry, max_age=max_age,
            bisect=bool(self.bisect), tumbling=self.tumbling or 0, on_failure=self.on_failure or None)


class EventSourceMapping:
    """One mapping: its settings, its function and its poller."""

    def __init__(self, backend, uuid: str, fn, source_arn: str, kind: str, source, settings: MappingSettings,
                 poller_cls, order: int):
        self.backend = backend
        self.uuid = uuid
        self.arn = f"arn:aws:lambda:{backend.region}:{backend.account_id}:event-source-mapping:{uuid}"
        self.function = fn
        self.source_arn = source_arn
        self.kind = kind
        self.source = source
        self.settings = settings
        self.order = order
        self.last_modified = backend.clock.now()
        self.last_result = "No records processed"
        self.deleted = False
        self.poller = poller_cls(self)

    @property
    def state(self) -> str:
        if self.deleted:
            return "Deleting"
        return "Enabled" if self.settings.enabled else "Disabled"

    def start(self) -> None:
        self.poller.start()

    def update(self, fn, settings: MappingSettings) -> None:
        """New settings; returns once no poll under the old ones is under way (in-flight
        invocations finish as they are)."""
        with self.poller.lock:
            self.function = fn
            self.settings = settings
            self.last_modified = self.backend.clock.now()
        self.poller.next_pass()

    def record_result(self, ok: bool) -> None:
        self.last_result = "OK" if ok else "PROBLEM: Function call failed"

    def settle(self, timeout: float) -> None:
        self.poller.settle(timeout)

    def stop(self, drain_s: float = limits.LAMBDA_CLOSE_DRAIN_S) -> None:
        self.deleted = True
        self.poller.stop(drain_s)


# --- the poller skeleton ----------------------------------------------------------------------------
class _Poller:
    """A dispatcher thread forming batches, a pool running them, and the settle barrier."""

    def __init__(self, mapping: EventSourceMapping, workers: int):
        self.mapping = mapping
        self.backend = mapping.backend
        self.clock = mapping.backend.clock
        self.lock = threading.Condition(threading.Lock())
        self._inflight = 0
        self._requested = 0      # settle() calls so far
        self._settled = 0        # the last settle request a quiet pass answered
        self._passes = 0         # dispatcher passes started
        self._completed = 0      # invocations finished (one during a pass may have freed work)
        self._stopping = False
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"esm-{mapping.uuid[:8]}")
        self._thread = threading.Thread(target=self._loop, name=f"esm-{mapping.uuid[:8]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _dispatch(self, now: float) -> tuple[bool, float | None]:
        """Form and submit what is ready: (anything submitted or changed, next engine deadline)."""
        raise NotImplementedError  # pragma: no cover

    def _loop(self) -> None:
        while True:
            with self.lock:
                if self._stopping:
                    return
                request = self._requested
                completed = self._completed
                self._passes += 1
                self.lock.notify_all()
            progressed, deadline = False, None
            if self.mapping.settings.enabled:
                try:
                    progressed, deadline = self._dispatch(self.clock.now())
                except Exception:  # a broken source must not kill the mapping
                    log.exception("event source mapping %s: poll failed", self.mapping.uuid)
            with self.lock:
                if self._stopping:
                    return
                if progressed or self._completed != completed:
                    continue
                if self._inflight == 0 and request > self._settled:
                    self._settled = request
                    self.lock.notify_all()
                if self._requested != request:
                    continue
                now = self.clock.now()
                until = now + limits.LAMBDA_POLL_INTERVAL_S
                if deadline is not None:
                    if deadline <= now:
                        continue
                    until = min(until, deadline)
                self.clock.wait(self.lock, until)

    def _submit(self, job, *args) -> None:
        with self.lock:
            self._inflight += 1
        self._pool.submit(self._run, job, args)

    def _run(self, job, args) -> None:
        try:
            job(*args)
        except Exception:
            log.exception("event source mapping %s: invocation failed", self.mapping.uuid)
        finally:
            with self.lock:
                self._inflight -= 1
                self._completed += 1
                self.lock.notify_all()

    def settle(self, timeout: float) -> None:
        with self.lock:
            self._requested += 1
            mine = self._requested
            self.lock.notify_all()
            if not self.lock.wait_for(lambda: self._settled >= mine or self._stopping, timeout):
                raise TimeoutError(f"event source mapping {self.mapping.uuid} did not settle in {timeout} s")

    def next_pass(self) -> None:
        """Wait until the dispatcher starts a pass after this call (the one under way has ended)."""
        if not self._thread.is_alive() or self._thread is threading.current_thread():
            return
        with self.lock:
            target = self._passes + 1
            self.lock.notify_all()
            self.lock.wait_for(lambda: self._passes >= target or self._stopping)

    def stop(self, drain_s: float) -> None:
        with self.lock:
            self._stopping = True
            self.lock.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        with self.lock:
            self.lock.wait_for(lambda: self._inflight == 0, drain_s)
        self._pool.shutdown(wait=False)

    def invoke(self, event):
        """Run the function on this worker thread: its Outcome."""
        return self.backend.run(self.mapping.function, event)


# --- SQS ----------------------------------------------------------------------------------------------
class SqsPoller(_Poller):
    def __init__(self, mapping: EventSourceMapping):
        super().__init__(mapping, limits.LAMBDA_SQS_CONCURRENCY_MAX)
        self._buffer: list[dict] = []
        self._sizes: list[int] = []
        self._window_start = 0.0

    def _dispatch(self, now: float) -> tuple[bool, float | None]:
        queue = self.mapping.source
        s = self.mapping.settings
        concurrency = s.max_concurrency or limits.LAMBDA_SQS_CONCURRENCY_DEFAULT
        progressed = False
        if queue.deleted:
            return False, None
        while self._inflight < concurrency:
            room = s.batch_size - len(self._buffer)
            if room > 0 and sum(self._sizes) < limits.LAMBDA_PAYLOAD_SYNC_MAX:
                got = queue.receive(room, None, 0, fifo_cols=queue.fifo)
                if got.ids:
                    if not self._buffer:
                        self._window_start = now
                    records = events.sqs_records(got, queue.arn, self.backend.region, self.backend.account_id)
                    self._buffer.extend(records)
                    self._sizes.extend(len(json.dumps(r)) for r in records)
            if not self._buffer:
                return progressed, None
            full = len(self._buffer) >= s.batch_size or sum(self._sizes) >= limits.LAMBDA_PAYLOAD_SYNC_MAX
            due = self._window_start + s.window
            if not full and now < due:
                return progressed, due
            n = _fitting(self._sizes)
            batch, self._buffer, self._sizes = self._buffer[:n], self._buffer[n:], self._sizes[n:]
            if self._buffer:
                self._window_start = now
            self._submit(self._invoke, batch)
            progressed = True
        return progressed, None

    def _invoke(self, batch: list[dict]) -> None:
        mapping = self.mapping
        outcome = self.invoke({"Records": batch})
        failed: set[int] = set(range(len(batch)))
        if outcome.ok:
            failed = set()
            if mapping.settings.report_failures:
                try:
                    failed = set(events.batch_item_failures(outcome.result, [r["messageId"] for r in batch]))
                except events.BadResponse:
                    failed = set(range(len(batch)))
        done = [r["receiptHandle"] for k, r in enumerate(batch) if k not in failed]
        if done:
            mapping.source.delete_batch(done)
        mapping.record_result(outcome.ok and not failed)


def _fitting(sizes: list[int]) -> int:
    """How many leading records fit one invocation payload (at least one)."""
    total = 0
    for k, size in enumerate(sizes):
        total += size
        if total > limits.LAMBDA_PAYLOAD_SYNC_MAX:
            return max(k, 1)
    return len(sizes)


# --- Kinesis ------------------------------------------------------------------------------------------
class _Record(NamedTuple):
    seq: int
    key: str
    data: bytes
    arrival_ms: int


class _Lane:
    """Records of one shard (and one slice of its keys) waiting for the function, in order."""

    def __init__(self):
        self.pending: deque[_Record] = deque()
        self.busy = False
        self.since: float | None = None       # engine time the oldest pending record was read
        self.retry_at: float | None = None
        self.attempts = 0                     # failed tries of the head batch (MaximumRetryAttempts)
        self.invokes = 0                      # invocations of the head batch (approximateInvokeCount)
        self.bounds: list[int] = []           # sequence numbers a batch must end at (bisected batches)
        self.window_start: float | None = None
        self.state: dict = {}
        self.error_type: str | None = None


class _Cursor:
    def __init__(self, shard, position: int, lanes: int):
        self.shard = shard
        self.position = position
        self.lanes = [_Lane() for _ in range(lanes)]

    def idle(self) -> bool:
        return all(not lane.pending and not lane.busy and lane.window_start is None for lane in self.lanes)

    def buffered(self) -> int:
        return sum(len(lane.pending) for lane in self.lanes)


class KinesisPoller(_Poller):
    def __init__(self, mapping: EventSourceMapping):
        super().__init__(mapping, limits.LAMBDA_STREAM_WORKERS_MAX)
        self._cursors: dict[int, _Cursor] = {}
        self._finished: set[str] = set()     # shard ids read to their end and fully processed
        self._seen = 0                       # shards of the stream looked at so far
        self._ignored: set[str] = set()      # shards before the starting position (closed at LATEST)
        self._started = False

    # --- shards ------------------------------------------------------------------------------------
    def _lanes(self) -> int:
        return self.mapping.settings.parallelization

    def _start_position(self, shard) -> int:
        s = self.mapping.settings
        return self.mapping.source.position(shard, s.starting_position, timestamp=s.starting_timestamp)

    def _discover(self) -> None:
        stream = self.mapping.source
        shards = stream.shards
        if not self._started:
            # TRIM_HORIZON starts at the oldest retained shards (children wait for them); the
            # other positions start at each open shard.
            self._started = True
            horizon = self.mapping.settings.starting_position == TRIM_HORIZON
            for shard in shards:
                if not (shard.is_open or (horizon and stream.is_visible(shard))):
                    self._ignored.add(shard.shard_id)
                elif horizon and any(p is not None and p not in self._ignored
                                     for p in (shard.parent, shard.adjacent_parent)):
                    self._cursors[shard.index] = None
                else:
                    self._cursors[shard.index] = _Cursor(shard, self._start_position(shard), self._lanes())
            self._seen = len(shards)
        for shard in shards[self._seen:]:
            self._cursors.setdefault(shard.index, None)
        self._seen = len(shards)
        for index, cursor in list(self._cursors.items()):
            if cursor is None:
                shard = shards[index]
                parents = [p for p in (shard.parent, shard.adjacent_parent) if p is not None]
                if all(p in self._finished or p in self._ignored for p in parents):
                    self._cursors[index] = _Cursor(shard, 0, self._lanes())

    def _read(self, cursor: _Cursor, now: float) -> bool:
        """Read ahead into the lanes; True if records arrived."""
        with self.lock:
            if cursor.buffered() >= limits.LAMBDA_LANE_BUFFER_RECORDS:
                return False
        batch = self.mapping.source.read(cursor.shard.index, cursor.position, limits.KINESIS_GET_RECORDS_MAX)
        if batch.num_rows == 0:
            return False
        keys = batch.column(0).to_pylist()
        data = batch.column(1).to_pylist()
        seqs = batch.column(2).to_pylist()
        arrivals = batch.column(3).cast(pa.int64()).to_pylist()
        with self.lock:
            if len(cursor.lanes) != self._lanes() and cursor.idle():   # ParallelizationFactor was updated
                cursor.lanes = [_Lane() for _ in range(self._lanes())]
            lanes = cursor.lanes
            n = len(lanes)
            for key, payload, seq, arrival in zip(keys, data, seqs, arrivals):
                lane = lanes[0] if n == 1 else lanes[zlib.crc32(key.encode()) % n]
                if not lane.pending:
                    lane.since = now
                lane.pending.append(_Record(seq, key, payload, arrival))
        cursor.position = seqs[-1] + 1
        return True

    def _dispatch(self, now: float) -> tuple[bool, float | None]:
        stream = self.mapping.source
        if stream.status == "DELETING":
            return False, None
        self._discover()
        progressed, deadline = False, None
        for index, cursor in list(self._cursors.items()):
            if cursor is None:
                continue
            read = self._read(cursor, now)
            with self.lock:
                for lane in cursor.lanes:
                    if lane.busy:
                        continue
                    job, due = self._next(cursor, lane, now)
                    if job is not None:
                        lane.busy = True
                        self._inflight += 1
                        self._pool.submit(self._run, job[0], job[1:])
                        progressed = True
                    elif due is not None:
                        deadline = due if deadline is None else min(deadline, due)
                finished = (not cursor.shard.is_open and cursor.position > cursor.shard.ending_seq and cursor.idle())
            if finished:
                del self._cursors[index]
                self._finished.add(cursor.shard.shard_id)
                progressed = True
            progressed = progressed or read
        return progressed, deadline

    # --- batches -----------------------------------------------------------------------------------
    def _window_of(self, arrival_ms: int) -> float:
        w = self.mapping.settings.tumbling
        return (arrival_ms // 1000) // w * w

    def _next(self, cursor: _Cursor, lane: _Lane, now: float):
        """(job, None) to submit, or (None, deadline) to wait for. Called with the lock held."""
        s = self.mapping.settings
        if s.max_age != -1 and lane.pending:
            self._discard_aged(cursor, lane, now)
        if lane.retry_at is not None and now < lane.retry_at:
            return None, lane.retry_at
        if s.tumbling and lane.window_start is not None:
            window_end = lane.window_start + s.tumbling
            head_in_window = lane.pending and self._window_of(lane.pending[0].arrival_ms) == lane.window_start
            if not head_in_window:   # (only an empty lane can wait: later records arrive after the end)
                return ((self._invoke_final, cursor, lane), None) if now >= window_end else (None, window_end)
        if not lane.pending:
            return None, None
        limit = s.batch_size
        bound = lane.bounds[0] if lane.bounds else None
        batch, size, full = [], 0, False
        window = self._window_of(lane.pending[0].arrival_ms) if s.tumbling else None
        for record in lane.pending:
            if len(batch) == limit or (bound is not None and batch and batch[-1].seq >= bound):
                full = True
                break
            if window is not None and self._window_of(record.arrival_ms) != window:
                full = True
                break
            size += len(record.data) * 4 // 3 + len(record.key) + 400
            if batch and size > limits.LAMBDA_PAYLOAD_SYNC_MAX:
                full = True
                break
            batch.append(record)
        full = full or len(batch) == limit
        if not full and s.window and lane.since is not None and now < lane.since + s.window:
            return None, lane.since + s.window
        return (self._invoke_batch, cursor, lane, batch), None

    def _discard_aged(self, cursor: _Cursor, lane: _Lane, now: float) -> None:
        cutoff_ms = (now - self.mapping.settings.max_age) * 1000
        aged = []
        while lane.pending and lane.pending[0].arrival_ms < cutoff_ms:
            aged.append(lane.pending.popleft())
        if aged:
            self._discarded(cursor, lane, aged, events.RECORD_AGE_EXCEEDED, now)

    def _discarded(self, cursor: _Cursor, lane: _Lane, records: list[_Record], condition: str, now: float) -> None:
        """Records given up on: their metadata to the OnFailure destination; the lane moves past them."""
        s = self.mapping.settings
        if s.on_failure:
            doc = events.kinesis_failure_record(
                function_arn=self.mapping.function.arn, condition=condition, invokes=lane.invokes,
                error_type=lane.error_type, shard_id=cursor.shard.shard_id, first_seq=records[0].seq,
                last_seq=records[-1].seq, first_arrival_ms=records[0].arrival_ms,
                last_arrival_ms=records[-1].arrival_ms, count=len(records), stream_arn=self.mapping.source.arn,
                now=now)
            self._send_failure(s.on_failure, json.dumps(doc))
        lane.attempts = lane.invokes = 0
        lane.retry_at = None
        self._passed(lane)

    def _send_failure(self, arn: str, body: str) -> None:
        engine = self.backend.engine
        parsed = parse_arn(arn)
        try:
            if parsed["service"] == "sqs":
                queue = engine.backend("sqs", parsed["region"]).queue_by_arn(arn)
                if queue is not None:
                    queue.send(body)
                    return
            else:
                sns = engine.backend("sns", parsed["region"])
                sns.publish(sns.get_topic(arn), body)
                return
        except Exception:
            log.exception("event source mapping %s: OnFailure destination %s refused the record",
                          self.mapping.uuid, arn)
            return
        log.warning("event source mapping %s: OnFailure destination %s does not exist", self.mapping.uuid, arn)

    @staticmethod
    def _passed(lane: _Lane) -> None:
        """The head moved on: bisection bounds behind it go; an empty lane restarts its batching window."""
        if not lane.pending:
            lane.bounds.clear()
            lane.since = None
        else:
            head = lane.pending[0].seq
            while lane.bounds and lane.bounds[0] < head:
                lane.bounds.pop(0)

    def _event(self, cursor: _Cursor, records: list[_Record]) -> dict:
        m = self.mapping
        shard_id = cursor.shard.shard_id
        region, account = self.backend.region, self.backend.account_id
        return {"Records": [events.kinesis_record(shard_id, r.key, r.seq, r.data, r.arrival_ms, m.source.arn,
                                                  region, account) for r in records]}

    def _invoke_batch(self, cursor: _Cursor, lane: _Lane, batch: list[_Record]) -> None:
        s = self.mapping.settings
        event = self._event(cursor, batch)
        window = None
        if s.tumbling:
            window = self._window_of(batch[0].arrival_ms)
            state = lane.state if lane.window_start == window else {}
            event.update(events.window_fields(window, window + s.tumbling, state, cursor.shard.shard_id,
                                              self.mapping.source.arn, False))
        outcome = self.invoke(event)
        now = self.clock.now()
        done, failed_from, state = len(batch), None, None
        if outcome.ok:
            try:
                if s.tumbling:
                    state = events.window_state(outcome.result)
                if s.report_failures:
                    positions = events.batch_item_failures(outcome.result, [str(r.seq) for r in batch])
                    if positions:
                        done, failed_from = positions[0], positions[0]
            except events.BadResponse:
                done, failed_from = 0, 0
        else:
            done, failed_from = 0, 0
        with self.lock:
            lane.busy = False
            lane.invokes += 1
            for _ in range(done):
                lane.pending.popleft()
            self._passed(lane)
            if state is not None:
                lane.window_start, lane.state = window, state
            if failed_from is None:
                lane.attempts = lane.invokes = 0
                lane.retry_at = None
            else:
                lane.error_type = None if outcome.ok else "Unhandled"
                self._failed(cursor, lane, batch[failed_from:], bisect=failed_from == 0 and not outcome.ok, now=now)
            self.lock.notify_all()
        self.mapping.record_result(failed_from is None)

    def _invoke_final(self, cursor: _Cursor, lane: _Lane) -> None:
        s = self.mapping.settings
        event = {"Records": []}
        event.update(events.window_fields(lane.window_start, lane.window_start + s.tumbling, lane.state,
                                          cursor.shard.shard_id, self.mapping.source.arn, True))
        outcome = self.invoke(event)
        ok = outcome.ok
        if ok:
            try:
                events.window_state(outcome.result)
            except events.BadResponse:
                ok = False
        with self.lock:
            lane.busy = False
            if ok:
                lane.window_start, lane.state = None, {}
                lane.retry_at = None
                lane.attempts = 0
            else:   # the window's final result is retried until it succeeds
                lane.attempts += 1
                lane.retry_at = self.clock.now() + _backoff(lane.attempts)
            self.lock.notify_all()
        self.mapping.record_result(ok)

    def _failed(self, cursor: _Cursor, lane: _Lane, failing: list[_Record], bisect: bool, now: float) -> None:
        s = self.mapping.settings
        if bisect and s.bisect and len(failing) > 1:
            # Two batches, each half of this one; splitting does not count as a retry, and the
            # first half goes again at once.
            for seq in (failing[(len(failing) + 1) // 2 - 1].seq, failing[-1].seq):
                if seq not in lane.bounds:
                    insort(lane.bounds, seq)
            lane.retry_at = None
            return
        lane.attempts += 1
        if s.max_retry != -1 and lane.attempts > s.max_retry:
            for _ in failing:
                lane.pending.popleft()
            self._discarded(cursor, lane, failing, events.RETRY_EXHAUSTED, now)
            return
        lane.retry_at = now + _backoff(lane.attempts)


def _backoff(attempts: int) -> float:
    return min(limits.LAMBDA_RETRY_BACKOFF_S * 2 ** (attempts - 1), limits.LAMBDA_RETRY_BACKOFF_MAX_S)

"""The agent: per flow, tail the files, form records, batch them and send them with retries, and
checkpoint each file at the end of what the destination acknowledged.

No loss, no repeat: a file's checkpoint only ever moves to the end of a record the destination
took, after it took it; a clean stop sends what it buffered (retrying for up to
AGENT_SHUTDOWN_TIMEOUT_S) and writes the checkpoints, so a restart resumes at the next record.
After a crash a restart resumes at the last checkpoint: nothing is lost, and what was sent since
that checkpoint (at most AGENT_CHECKPOINT_INTERVAL_S of records) is sent again.

Single-line logs without processing options take the fast path: lines split in C, sent as
zero-copy slices of the block they were read in, partition keys drawn from one random pool.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from .. import limits
from . import checkpoints
from .config import DETERMINISTIC, END_OF_FILE, AgentConfig, FlowConfig
from .processing import apply_chain, build_chain, truncate
from .sinks import (ClientFirehoseSink, ClientKinesisSink, NativeFirehoseSink, NativeKinesisSink, SendError)
from .tailer import Lines, Tailer, TrackedFile


class Piece(NamedTuple):
    """Records of one file, in order, with each one's size and the file offset after it."""
    file: TrackedFile
    generation: int
    data: pa.Array
    sizes: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, file: TrackedFile, data: pa.Array, ends: np.ndarray) -> "Piece":
        return cls(file, file.generation, data, _sizes(data), ends)

    def split(self, k: int) -> tuple["Piece", "Piece"]:
        return (Piece(self.file, self.generation, self.data.slice(0, k), self.sizes[:k], self.ends[:k]),
                Piece(self.file, self.generation, self.data.slice(k), self.sizes[k:], self.ends[k:]))


class Unsent(Exception):
    """Records still refused when the shutdown timeout ran out: left unacknowledged."""


@dataclass
class FlowStats:
    lines: int = 0
    records: int = 0
    bytes: int = 0
    dropped: int = 0
    retried: int = 0
    files: int = 0


def _sizes(data: pa.Array) -> np.ndarray:
    width = np.int64 if pa.types.is_large_binary(data.type) else np.int32
    offsets = np.frombuffer(data.buffers()[1], dtype=width, count=len(data) + 1, offset=data.offset * width().itemsize)
    return np.diff(offsets)


class KeyPool:
    """RANDOM partition keys: one pool of random hex keys, handed out in turn."""

    def __init__(self, size: int = limits.AGENT_KEY_POOL):
        self.keys = pa.array([os.urandom(16).hex() for _ in range(size)], pa.string())
        self.at = 0

    def take(self, n: int) -> pa.Array:
        if n > len(self.keys):
            return pa.concat_arrays([self.take(len(self.keys)) for _ in range(n // len(self.keys))]
                                    + [self.take(n % len(self.keys))])
        if self.at + n > len(self.keys):
            self.at = 0
        out = self.keys.slice(self.at, n)
        self.at += n
        return out


class Flow:
    def __init__(self, config: FlowConfig, sink, saved: dict, first_start: bool, clock, sleep):
        self.config = config
        self.sink = sink
        self.clock = clock
        self.sleep = sleep
        self.chain = build_chain(config.processing)
        self.start = re.compile(config.multi_line_start.encode("utf-8")) if config.multi_line_start else None
        self.tailer = Tailer(config.file_pattern, first_start, config.initial_position == END_OF_FILE,
                             config.skip_header_lines, saved)
        self.pieces: deque[Piece] = deque()
        self.count = 0
        self.nbytes = 0
        self.first_at: float | None = None
        self.next_poll = 0.0
        self.keys = KeyPool() if config.kinesis_stream and config.partition_key_option != DETERMINISTIC else None
        self.stats = FlowStats()
        self.age_s = config.max_buffer_age_ms / 1000

    # --- records ------------------------------------------------------------------------------
    def _add(self, piece: Piece, now: float) -> None:
        if not len(piece.data):
            return
        self.pieces.append(piece)
        self.count += len(piece.data)
        self.nbytes += int(piece.sizes.sum())
        if self.first_at is None:
            self.first_at = now

    def _records(self, lines: Lines, now: float) -> None:
        f = lines.file
        self.stats.lines += len(lines.data)
        if not (f.header_left or self.start or self.chain):
            data = lines.data
            if (_sizes(data) > self.config.record_max).any():
                data = pa.array([truncate(d, self.config.record_max, self.config.truncated_terminator)
                                 for d in data.to_pylist()], pa.large_binary())
            self._add(Piece.of(f, data, lines.ends), now)
            f.emitted = int(lines.ends[-1])
            return
        out, ends = [], []
        for line, end in zip(lines.data.to_pylist(), lines.ends.tolist()):
            if f.header_left:
                f.header_left -= 1
                f.emitted = end
                continue
            if self.start is not None:
                if self.start.match(line) and f.pending:
                    self._emit(f, b"".join(f.pending), f.pending_end, out, ends)
                    f.pending = []
                f.pending.append(line)
                f.pending_end = end
                continue
            self._emit(f, line, end, out, ends)
        if out:
            self._add(Piece.of(f, pa.array(out, pa.large_binary()), np.asarray(ends, np.int64)), now)

    def _emit(self, f: TrackedFile, record: bytes, end: int, out: list, ends: list) -> None:
        f.emitted = end
        record = apply_chain(self.chain, record)
        if record is None:
            self.stats.dropped += 1
            return
        out.append(truncate(record, self.config.record_max, self.config.truncated_terminator))
        ends.append(end)

    def _flush_pending(self, f: TrackedFile, now: float) -> None:
        """A multi-line record that no next start line closed: sent once its file was idle for the
        buffer age, or left the pattern."""
        if f.pending:
            out, ends = [], []
            self._emit(f, b"".join(f.pending), f.pending_end, out, ends)
            f.pending = []
            if out:
                self._add(Piece.of(f, pa.array(out, pa.large_binary()), np.asarray(ends, np.int64)), now)

    def poll(self, now: float) -> int:
        """Read what the files hold (a block per file); the number of lines read."""
        if now < self.next_poll and self.count < self.config.max_buffer_records:
            return 0
        read = 0
        files = self.tailer.poll()
        self.stats.files = len(self.tailer.files)
        for f in files:
            lines = f.read()
            if lines is not None:
                read += len(lines.data)
                f.idle_since = None
                self._records(lines, now)
                continue
            if f.idle_since is None:
                f.idle_since = now
            if f.pending and (f.gone or now - f.idle_since >= self.age_s):
                self._flush_pending(f, now)
            if f.gone and not f.pending and not any(p.file is f for p in self.pieces):
                self.tailer.drop(f)
        # A file that had more to read is read again at once; idle files wait minTimeBetweenFilePollsMillis.
        self.next_poll = now if read else now + self.config.poll_ms / 1000
        return read

    # --- sending ------------------------------------------------------------------------------
    def ready(self, now: float) -> bool:
        c = self.config
        return bool(self.count) and (self.count >= c.max_buffer_records or self.nbytes >= c.max_buffer_bytes
                                     or now - self.first_at >= self.age_s)

    def _take(self) -> list[Piece]:
        """The next request's records: up to maxBufferSizeRecords / maxBufferSizeBytes, times the
        buffers the sink takes per call."""
        c = self.config
        max_records = c.max_buffer_records * self.sink.buffers_per_call
        max_bytes = c.max_buffer_bytes * self.sink.buffers_per_call
        taken, n, size = [], 0, 0
        while self.pieces and n < max_records:
            piece = self.pieces[0]
            cum = np.cumsum(piece.sizes[:max_records - n])
            k = int(np.searchsorted(cum, max_bytes - size, side="right"))
            if k == 0 and n == 0:
                k = 1               # a record alone is never larger than a batch
            if k == 0:
                break
            if k < len(piece.data):
                head, self.pieces[0] = piece.split(k)
                taken.append(head)
            else:
                taken.append(self.pieces.popleft())
            n += k
            size += int(cum[k - 1])
            if k < len(piece.data):
                break
        self.count -= n
        self.nbytes -= size
        self.first_at = None if not self.count else self.first_at
        return taken

    def _keys(self, data: pa.Array) -> pa.Array | None:
        if not self.config.kinesis_stream:
            return None
        if self.keys is not None:
            return self.keys.take(len(data))
        return pa.array([hashlib.md5(d).hexdigest() for d in data.to_pylist()], pa.string())

    def send_ready(self, now: float, final: bool = False, deadline: float | None = None) -> int:
        sent = 0
        while self.count and (final or self.ready(now)):
            pieces = self._take()
            data = pieces[0].data if len(pieces) == 1 else pa.concat_arrays([p.data for p in pieces])
            self._send(data, self._keys(data), deadline)
            for p in pieces:
                if p.generation == p.file.generation:
                    p.file.committed = max(p.file.committed, int(p.ends[-1]))
            sent += len(data)
            self.stats.records += len(data)
            self.stats.bytes += sum(int(p.sizes.sum()) for p in pieces)
        return sent

    def _send(self, data: pa.Array, keys: pa.Array | None, deadline: float | None) -> None:
        delay = limits.AGENT_RETRY_INITIAL_S
        while True:
            try:
                failed = self.sink.send(data, keys)
            except SendError:
                failed = np.ones(len(data), dtype=bool)
            if failed is None:
                return
            mask = pa.array(failed)
            data = data.filter(mask)
            keys = keys.filter(mask) if keys is not None else None
            self.stats.retried += len(data)
            if deadline is not None and self.clock() + delay > deadline:
                raise Unsent(f"{len(data)} records to {self.config.destination} still refused")
            self.sleep(delay)
            delay = min(delay * 2, limits.AGENT_RETRY_MAX_S)

    def checkpoint(self) -> dict:
        return {f"{f.key[0]}:{f.key[1]}": {"path": f.path, "offset": f.committed, "head": f.head.hex(),
                                           "head_len": f.head_len}
                for f in self.tailer.files.values() if f.head_len}


class Agent:
    """Runs the flows of a configuration against the sinks given for them."""

    def __init__(self, config: AgentConfig, sinks: dict, clock=time.monotonic, sleep=time.sleep):
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.state = checkpoints.load(config.checkpoint_file)
        self.flows = []
        for flow in config.flows:
            saved = self.state.get(flow.key)
            self.flows.append(Flow(flow, sinks[flow.key], saved or {}, saved is None, clock, sleep))
        self.next_checkpoint = 0.0
        self.started = clock()

    @classmethod
    def in_process(cls, config: AgentConfig, engine, region: str | None = None, **kw) -> Agent:
        """Send through the engine's native APIs (streams and delivery streams must exist)."""
        region = region or config.region
        sinks = {}
        for flow in config.flows:
            if flow.kinesis_stream:
                sinks[flow.key] = NativeKinesisSink(engine.backend("kinesis", region).get_stream(flow.kinesis_stream))
            else:
                sinks[flow.key] = NativeFirehoseSink(engine.backend("firehose", region).get(flow.delivery_stream))
        return cls(config, sinks, **kw)

    @classmethod
    def with_clients(cls, config: AgentConfig, kinesis=None, firehose=None, **kw) -> Agent:
        """Send through boto3-shaped clients (the engine's, or botocore's against an endpoint)."""
        sinks = {flow.key: ClientKinesisSink(kinesis, flow.kinesis_stream) if flow.kinesis_stream
                 else ClientFirehoseSink(firehose, flow.delivery_stream) for flow in config.flows}
        return cls(config, sinks, **kw)

    def step(self) -> int:
        """One round: read, send what is ready, checkpoint now and then. Returns lines read plus
        records sent (0: nothing to do until the files grow or a buffer ages)."""
        now = self.clock()
        done = 0
        for flow in self.flows:
            while True:
                read = flow.poll(now)
                done += read + flow.send_ready(now)
                if not read:
                    break
        if now >= self.next_checkpoint:
            self.save()
            self.next_checkpoint = now + limits.AGENT_CHECKPOINT_INTERVAL_S
        return done

    def save(self) -> None:
        for flow in self.flows:
            self.state[flow.config.key] = flow.checkpoint()
        checkpoints.save(self.config.checkpoint_file, self.state)

    def run(self, stop, report=None, report_every_s: float = 1.0) -> None:
        """Until `stop` (a threading.Event) is set; report(agent) about every report_every_s."""
        next_report = self.clock() + report_every_s
        idle_s = min(f.config.poll_ms for f in self.flows) / 1000
        while not stop.is_set():
            if not self.step():
                stop.wait(idle_s)
            if report is not None and self.clock() >= next_report:
                report(self)
                next_report = self.clock() + report_every_s

    def close(self) -> None:
        """Send what is buffered (retrying up to AGENT_SHUTDOWN_TIMEOUT_S), checkpoint, close the files."""
        deadline = self.clock() + limits.AGENT_SHUTDOWN_TIMEOUT_S
        try:
            for flow in self.flows:
                flow.send_ready(self.clock(), final=True, deadline=deadline)
        except Unsent:
            pass
        finally:
            self.save()
            for flow in self.flows:
                flow.tailer.close()

    def totals(self) -> FlowStats:
        total = FlowStats()
        for flow in self.flows:
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(flow.stats, name))
        return total

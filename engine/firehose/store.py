"""A durable delivery stream's files under the engine's data dir (issue 13).

<data_dir>/firehose/<account>/<region>/<stream dir>/
    stream.json       the stream's configuration and tags, replaced whole (write, rename)
    checkpoint.json   what is delivered: every Direct PUT record below `next`, and per Kinesis
                      source shard every record below its sequence number; and the stream's
                      counters (`stats`: delivered records and objects, failures, retries...)
    log/              Direct PUT: the segment log (csrc/segment.h), one frame per accepted put
                      holding its records (an Arrow IPC record batch of one binary column) under
                      a range of this stream's own record numbers, written before the put returns

A record is "delivered" once the buffer holding it has settled: written to the destination, to
the error output, or given up as undeliverable (as AWS drops it). Checkpoints advance only over
records all settled, segments wholly below the checkpoint are deleted; a restart puts every
logged record at or above it back in the buffer with its arrival time, and a Kinesis source is
read again from its checkpoint: at least once, a record whose delivery was under way when the
engine died is delivered again.

The counters are written before they change in memory (DeliveryStream._count), so one read is
never lower after a crash; records delivered again after a restart are counted again, so they
may count a record more than once (at least once), never less.
"""
from __future__ import annotations

import base64
import dataclasses
import os
import shutil
import threading
from collections import deque

import pyarrow as pa

from .. import _core
from ..arn import shard_id as format_shard_id
from ..datadir import load_document, save_document
from . import models

FRAME_SCHEMA = pa.schema([("data", pa.binary())])
SEGMENT_BYTES = 16 << 20        # segments roll small: a delivered one is deleted whole
SEGMENT_MS = 600_000
INDEX_INTERVAL_BYTES = 1 << 20  # the log is only read from its first frame on; a sparse index will do
STREAM_FILE = "stream.json"
CHECKPOINT_FILE = "checkpoint.json"
LOG_DIR = "log"
DIRECT_PUT = None               # the lane of Direct PUT records (Kinesis lanes are shard ids)

# configuration dataclasses by name, for the stream file
_CONFIG_TYPES = {cls.__name__: cls for cls in (
    models.BufferingHints, models.S3Destination, models.Processor, models.Processing, models.Conversion,
    models.ExtendedS3, models.HttpEndpoint, models.IcebergTable, models.IcebergDestination, models.KinesisSource,
    models.Encryption)}
_TYPE_KEY = "__type__"


def encode_config(value):
    """A configuration (dataclasses, a pyarrow schema, plain values) as JSON values."""
    if dataclasses.is_dataclass(value):
        return {_TYPE_KEY: type(value).__name__,
                **{f.name: encode_config(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, pa.Schema):
        return {_TYPE_KEY: "Schema", "ipc": base64.b64encode(value.serialize().to_pybytes()).decode("ascii")}
    if isinstance(value, dict):
        return {k: encode_config(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_config(v) for v in value]
    return value


def decode_config(value):
    if isinstance(value, dict):
        kind = value.get(_TYPE_KEY)
        if kind == "Schema":
            return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(value["ipc"])))
        fields = {k: decode_config(v) for k, v in value.items() if k != _TYPE_KEY}
        return _CONFIG_TYPES[kind](**fields) if kind is not None else fields
    if isinstance(value, list):
        return [decode_config(v) for v in value]
    return value


class _Lane:
    """The records of one source not yet settled, in the order they were taken."""

    __slots__ = ("open", "done")

    def __init__(self):
        self.open: deque = deque()      # first record number of each chunk, increasing
        self.done: set = set()

    def settle(self, seq: int) -> None:
        self.done.add(seq)
        while self.open and self.open[0] in self.done:
            self.done.discard(self.open.popleft())

    def oldest(self):
        return self.open[0] if self.open else None


class StreamStore:
    """The files of one delivery stream; `sync` is the engine's durability (flush or fsync)."""

    def __init__(self, directory: str, sync: str):
        self.directory = directory
        self.sync = sync
        self._lock = threading.Lock()
        self._lanes: dict = {DIRECT_PUT: _Lane()}
        self._closed = False
        os.makedirs(os.path.join(directory, LOG_DIR), exist_ok=True)
        checkpoint = load_document(os.path.join(directory, CHECKPOINT_FILE)) or {}
        self._delivered = checkpoint.get("next", 0)                 # Direct PUT: records below are settled
        self.source_positions = {int(k): v for k, v in checkpoint["shards"].items()} \
            if "shards" in checkpoint else None                  # Kinesis: None until the source starts
        self.stats: dict = checkpoint.get("stats", {})              # the counters as last written
        self._written = dict(checkpoint)
        self._log = _core.SegmentLog(os.path.join(directory, LOG_DIR), segment_bytes=SEGMENT_BYTES,
                                     segment_ms=SEGMENT_MS, index_interval_bytes=INDEX_INTERVAL_BYTES, sync=sync)
        last = max((s.last_seq for s in self._log.segments() if s.frames), default=-1)
        self._next = max(self._delivered, last + 1)

    # --- configuration -------------------------------------------------------------------
    def save_config(self, stream: "models.DeliveryStream") -> None:
        save_document(os.path.join(self.directory, STREAM_FILE), {
            "name": stream.name, "type": stream.type, "create_time": stream.create_time,
            "update_time": stream.update_time, "version": stream.version, "tags": stream.tags,
            "direct_put_throughput_mb": stream.direct_put_throughput_mb,
            "destination": encode_config(stream.destination), "source": encode_config(stream.source),
            "encryption": encode_config(stream.encryption)}, self.sync)

    def load_config(self) -> dict | None:
        doc = load_document(os.path.join(self.directory, STREAM_FILE))
        if doc is not None:
            for key in ("destination", "source", "encryption"):
                doc[key] = decode_config(doc[key])
        return doc

    # --- records ---------------------------------------------------------------------------
    def write(self, chunk: "models._Chunk") -> int:
        """Log an accepted put's records (the stream's lock held: frames reach the log in the
        order the records reach the buffer); returns the ticket to commit before the put returns."""
        data = chunk.data if chunk.data.type == pa.binary() else chunk.data.cast(pa.binary())
        frame = pa.record_batch([data], schema=FRAME_SCHEMA).serialize()
        with self._lock:
            first = self._next
            self._next += len(chunk.data)
            chunk.seq = first
            self._lanes[DIRECT_PUT].open.append(first)
            return self._log.write(first, self._next - 1, int(chunk.arrival), frame)

    def commit(self, ticket: int) -> None:
        self._log.commit(ticket)

    def took(self, chunk: "models._Chunk", first_seq: int) -> None:
        """A chunk read from a Kinesis source shard, from `first_seq` on (before the read
        position passes it, so no checkpoint passes it before it settles)."""
        chunk.seq = first_seq
        with self._lock:
            lane = self._lanes.get(chunk.shard_id)
            if lane is None:
                lane = self._lanes[chunk.shard_id] = _Lane()
            lane.open.append(first_seq)

    def start_source(self, positions: dict) -> None:
        """A new Kinesis-sourced stream's starting positions: the first checkpoint."""
        self.source_positions = dict(positions)
        self.settled([], positions)

    def replay(self):
        """_Chunks of the logged records not yet delivered, in order (registered as open)."""
        for frame in self._log.frames(start_seq=self._delivered):
            if frame.first_seq < self._delivered:
                continue
            data = pa.ipc.read_record_batch(frame.payload, FRAME_SCHEMA).column(0)
            chunk = models._Chunk(data, frame.ts_ms)
            chunk.seq = frame.first_seq
            with self._lock:
                self._lanes[DIRECT_PUT].open.append(frame.first_seq)
            yield chunk

    def settled(self, marks: list, positions: dict) -> None:
        """The chunks of these (lane, seq) marks have settled (`positions`: the source's next read
        per shard index): move the checkpoint past every record settled in order, and drop the
        segments below it."""
        with self._lock:
            if self._closed:
                return
            for lane, seq in marks:
                self._lanes[lane].settle(seq)
            direct = self._lanes[DIRECT_PUT].oldest()
            checkpoint = {"next": self._next if direct is None else direct}
            if self.source_positions is not None:
                shards = {}
                for index, position in dict(positions).items():
                    lane = self._lanes.get(format_shard_id(index))
                    oldest = lane.oldest() if lane is not None else None
                    shards[str(index)] = position if oldest is None else oldest
                checkpoint["shards"] = shards
            checkpoint["stats"] = self.stats
            if checkpoint == self._written:
                return
            self._save(checkpoint)
            if checkpoint["next"] > self._delivered:
                self._delivered = checkpoint["next"]
                self._log.retain(min_seq=self._delivered)

    def save_stats(self, stats: dict) -> None:
        """The stream's counters, written beside the last checkpoint (a closed store writes nothing:
        what settles after the close is delivered again after a restart, and counted then)."""
        with self._lock:
            if not self._closed:
                self.stats = stats
                self._save({**self._written, "stats": stats})

    def _save(self, checkpoint: dict) -> None:
        save_document(os.path.join(self.directory, CHECKPOINT_FILE), checkpoint, self.sync)
        self._written = checkpoint

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._log.close()

    def delete(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)



def restore(backend: "models.FirehoseBackend", store: StreamStore) -> "models.DeliveryStream | None":
    """The delivery stream a durable engine wrote, with its undelivered Direct PUT records back in
    its buffer (None: a create that never finished, whose files are removed)."""
    doc = store.load_config()
    if doc is None:
        store.delete()
        return None
    stream = models.DeliveryStream(backend, doc["name"], doc["type"], doc["destination"], doc["source"],
                                   doc["encryption"], doc["tags"], disk=store, restored=True)
    stream.create_time, stream.update_time = doc["create_time"], doc["update_time"]
    stream.version = doc["version"]
    stream.direct_put_throughput_mb = doc["direct_put_throughput_mb"]
    for chunk in store.replay():
        stream._append(chunk, accepting=False)
    return stream

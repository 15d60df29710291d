"""A durable stream's files under the engine's data dir (issue 13).

<root>/<stream dir>/stream.json   the stream's metadata, replaced whole (write, rename)
<root>/<stream dir>/shards/<shard id>/   the shard's segment log (csrc/segment.h): one frame
    per put and shard, holding that put's records for the shard as an Arrow IPC record
    batch (partition_key, data), with their first and last sequence numbers and arrival time;
    records put while the stream has StreamEncryption are sealed with the data dir's key
    (engine.atrest: a local key file, not KMS), marked by a frame flag

Sequence numbers in a frame are consecutive (a put takes one range per shard), so a restart
appends each frame again with the same numbers and arrival time and gets the same records.
"""
import os
import shutil
import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine import _core
from engine.atrest import AtRestKey
from engine.datadir import load_document, save_document

FRAME_SCHEMA = pa.schema([("partition_key", pa.binary()), ("data", pa.binary())])
SEGMENT_BYTES = 64 << 20            # a shard's segment seals at this size ...
SEGMENT_MS = 3_600_000              # ... or when its first record is an hour older than the newest
INDEX_INTERVAL_BYTES = 4096         # sparse index: an entry at most every 4 KiB of frames
META_FILE = "stream.json"
FRAME_ENCRYPTED = 1                 # frame flag: the payload is sealed by engine.atrest
# a put's row order comes from argsort, so every index is in bounds (and pc.take's wrapper,
# which builds its options on every call, costs more than the gather of 500 rows)
_TAKE_IN_BOUNDS = pc.TakeOptions(boundscheck=False)


def stream_dir_name(name: str) -> str:
    # Stream names may be "." or ".."; a prefix keeps every name an ordinary directory.
    return "s-" + name


class StreamStore:
    """The files of one stream under data_dir; `sync` is the engine's durability (flush or fsync)."""

    def __init__(self, directory: str, sync: str, data_dir: str):
        self.directory = directory
        self.sync = sync
        self._data_dir = data_dir
        self._key: AtRestKey | None = None
        # binds a sealed frame to its stream, shard and place (a frame moved elsewhere does not open)
        self._aad_prefix = os.path.relpath(directory, data_dir)
        self._logs: dict[str, _core.SegmentLog] = {}
        self._lock = threading.Lock()
        os.makedirs(os.path.join(directory, "shards"), exist_ok=True)

    def log(self, shard_id: str) -> _core.SegmentLog:
        log = self._logs.get(shard_id)
        if log is None:
            with self._lock:
                log = self._logs.get(shard_id)
                if log is None:
                    path = os.path.join(self.directory, "shards", shard_id)
                    os.makedirs(path, exist_ok=True)
                    log = _core.SegmentLog(path, segment_bytes=SEGMENT_BYTES, segment_ms=SEGMENT_MS,
                                           index_interval_bytes=INDEX_INTERVAL_BYTES, sync=self.sync)
                    self._logs[shard_id] = log
        return log

    def _at_rest_key(self, create: bool) -> AtRestKey:
        if self._key is None:
            self._key = AtRestKey.open(self._data_dir, create)
        return self._key

    def _aad(self, shard_id: str, first_seq: int) -> bytes:
        return f"{self._aad_prefix}/{shard_id}/{first_seq}".encode()

    def shard_ids(self) -> list[str]:
        return sorted(os.listdir(os.path.join(self.directory, "shards")))

    # --- metadata ------------------------------------------------------------------------
    def save_meta(self, meta: dict) -> None:
        save_document(os.path.join(self.directory, META_FILE), meta, self.sync)

    def load_meta(self) -> dict | None:
        return load_document(os.path.join(self.directory, META_FILE))

    # --- records -------------------------------------------------------------------------
    @staticmethod
    def encode(shard_ids: list[str], position: np.ndarray, stored: np.ndarray | None, keys: pa.Array,
               data: pa.Array) -> list[tuple[str, int, int, pa.Buffer]]:
        """One frame per shard of a put whose rows go to shard_ids[position[row]] (only the
        `stored` rows when given): (shard id, row of its first record, row of its last, Arrow
        IPC payload). Needs no lock, so concurrent puts encode in parallel."""
        order = np.argsort(position, kind="stable")
        if stored is not None:
            order = order[stored[order]]
        if len(order) == 0:
            return []
        counts = np.bincount(position if stored is None else position[stored], minlength=len(shard_ids))
        # one gather into shard order, then a zero-copy slice per shard
        rows = pa.RecordBatch.from_arrays([_binary(keys), _binary(data)], schema=FRAME_SCHEMA)
        grouped = pc.call_function("take", [rows, pa.array(order)], _TAKE_IN_BOUNDS)
        ends = np.cumsum(counts)
        frames = []
        for shard in np.flatnonzero(counts).tolist():
            begin, end = int(ends[shard] - counts[shard]), int(ends[shard])
            frames.append((shard_ids[shard], int(order[begin]), int(order[end - 1]),
                           grouped.slice(begin, end - begin).serialize()))
        return frames

    def write(self, frames: list, seqs: np.ndarray, ts_ms: int, encrypt: bool = False) -> list:
        """Write the frames `encode` made once the put's rows have sequence numbers `seqs`,
        sealed when `encrypt`; returns the tickets to commit. The caller holds the stream's
        persist lock, so frames reach each log in sequence order."""
        key = self._at_rest_key(create=True) if encrypt else None
        tickets = []
        for shard_id, first_row, last_row, payload in frames:
            log = self.log(shard_id)
            first, last = int(seqs[first_row]), int(seqs[last_row])
            if key is None:
                tickets.append((log, log.write(first, last, ts_ms, payload)))
            else:
                sealed = key.encrypt(payload, self._aad(shard_id, first))
                tickets.append((log, log.write(first, last, ts_ms, sealed, FRAME_ENCRYPTED)))
        return tickets

    @staticmethod
    def commit(tickets: list) -> None:
        _core.commit_many(tickets)   # fsync mode: the shards' fdatasyncs in parallel

    def frames(self, shard_id: str):
        """(first_seq, last_seq, ts_ms, RecordBatch) of each frame of a shard, in order."""
        log = self.log(shard_id)
        for f in log.frames():
            payload = f.payload
            if f.flags & FRAME_ENCRYPTED:
                payload = self._at_rest_key(create=False).decrypt(
                    payload, self._aad(shard_id, f.first_seq), f"frame {f.first_seq} of {log.directory}")
            yield f.first_seq, f.last_seq, f.ts_ms, pa.ipc.read_record_batch(payload, FRAME_SCHEMA)

    def retain(self, shard_id: str, min_ts_ms: int) -> None:
        log = self._logs.get(shard_id)
        if log is not None:
            log.retain(min_ts=min_ts_ms)

    def close(self) -> None:
        with self._lock:
            for log in self._logs.values():
                log.close()
            self._logs.clear()

    def delete(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _binary(array: pa.Array) -> pa.Array:
    # a string array is read as binary in place (a cast would check and copy nothing, slowly)
    return array.view(pa.binary()) if array.type == pa.string() else array.cast(pa.binary())

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

from engine import _core
from engine.atrest import AtRestKey
from engine.datadir import load_document, save_document

FRAME_SCHEMA = pa.schema([("partition_key", pa.binary()), ("data", pa.binary())])
SEGMENT_BYTES = 64 << 20            # a shard's segment seals at this size ...
SEGMENT_MS = 3_600_000              # ... or when its first record is an hour older than the newest
INDEX_INTERVAL_BYTES = 4096         # sparse index: an entry at most every 4 KiB of frames
# fsync mode: a shard's active segment is kept zero-filled this far ahead of its records, so a
# group commit's fdatasync rewrites allocated blocks and skips the journal commit that a growing
# file needs (on ext4 here, 4 shards' parallel fdatasyncs ~1 ms in place against ~1.5-2.6 ms growing)
PREALLOCATE_BYTES = 4 << 20
META_FILE = "stream.json"
FRAME_ENCRYPTED = 1                 # frame flag: the payload is sealed by engine.atrest


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
                                           index_interval_bytes=INDEX_INTERVAL_BYTES, sync=self.sync,
                                           preallocate_bytes=PREALLOCATE_BYTES)
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
    def encode(shard_ids: list[str], position: np.ndarray, stored: np.ndarray | None, keys: _core.BinaryView,
               data: _core.BinaryView) -> _core.RoutedFrames:
        """The frames of a put whose rows go to shard_ids[position[row]] (only the `stored`
        rows when given): the Arrow IPC record batch of each shard's rows, built in one C pass.
        Needs no lock, so concurrent puts encode in parallel."""
        return _core.encode_routed(position, stored, keys, data, shard_ids)

    def write(self, frames: _core.RoutedFrames, seqs: np.ndarray, ts_ms: int, encrypt: bool = False) -> _core.Tickets:
        """Write the frames `encode` made once the put's rows have sequence numbers `seqs`,
        sealed when `encrypt`; returns the tickets to commit. The caller holds the stream's
        persist lock, so frames reach each log in sequence order."""
        logs = [self.log(frames.labels[shard]) for shard in frames.shard]
        if not encrypt:
            return _core.write_frames(logs, frames, seqs, ts_ms)
        key = self._at_rest_key(create=True)
        sealed = [key.encrypt(frames.payload(i), self._aad(frames.labels[shard], int(seqs[first])))
                  for i, (shard, first) in enumerate(zip(frames.shard, frames.first_row))]
        return _core.write_frames(logs, frames, seqs, ts_ms, sealed, FRAME_ENCRYPTED)

    @staticmethod
    def commit(tickets: _core.Tickets) -> None:
        tickets.commit()   # fsync mode: the shards' fdatasyncs in parallel, shared with concurrent puts

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


"""Type stubs for the compiled engine._core (bindings/_core.pyx + csrc/)."""
from typing import Any, NamedTuple, Sequence

import numpy as np
import pyarrow as pa

RECORD_SCHEMA: pa.Schema

class CoreError(Exception): ...
class CoreMemoryError(CoreError, MemoryError): ...
class CoreValueError(CoreError, ValueError):
    row: int
class CoreRangeError(CoreValueError): ...
class CoreTooBigError(CoreValueError): ...

def as_binary_array(values: Any, name: str = ...) -> pa.Array: ...
def md5_hash_keys(keys: Any) -> tuple[np.ndarray, np.ndarray]: ...

class BinaryView:
    """A binary/string Arrow array (sliced or chunked) as offsets + data, checked once."""
    array: pa.Array
    length: int

class HashKeys:
    """Explicit hash keys parsed to 128-bit halves; `present` marks the rows that had one
    (None: every row)."""
    hi: np.ndarray
    lo: np.ndarray
    present: np.ndarray | None
    text: pa.Array | None

def parse_hash_keys(values: Any) -> HashKeys: ...
def hash_keys(hi: np.ndarray, lo: np.ndarray) -> HashKeys: ...

class Router:
    size: int
    def __init__(self, starts: Sequence[int]) -> None: ...
    def route(self, keys: Any, explicit_hash_keys: Any = ..., threads: int = ...) -> np.ndarray: ...
    def route_hashes(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray: ...

class SequenceSource:
    next_value: int
    def __init__(self, start: int = ...) -> None: ...
    def reserve(self, n: int = ...) -> int: ...

BATCH_OK: int
BATCH_KEY_TEXT: int
BATCH_KEY_LENGTH: int
BATCH_RECORD_SIZE: int

class BatchReport:
    """The first record of a batch that breaks a rule (`fault` is a BATCH_* code), or BATCH_OK."""
    fault: int
    row: int
    bytes: int
    marked: int   # rows whose data begins with check_batch's `mark`

def check_batch(keys: Any, data: Any, key_min_chars: int, key_max_chars: int,
                max_record_bytes: int, threads: int = ..., mark: bytes | None = ...) -> BatchReport: ...

SPARE_CHUNKS_MIN: int   # spare chunks a shard keeps for its writer, at least and at most
SPARE_CHUNKS_MAX: int

class ChunkPin:
    """Keeps a shard chunk's memory alive while Arrow arrays over it exist."""

class RecordsRead:
    records: list[dict[str, Any]]
    position: int
    nbytes: int
    last_ts_ms: int
    more: bool

class Shard:
    def __init__(self, min_chunk_records: int = ..., max_chunk_records: int = ...,
                 min_chunk_bytes: int = ..., max_chunk_bytes: int = ...) -> None: ...
    def append(self, seqs: SequenceSource, ts_ms: int, keys: Any, data: Any) -> np.ndarray: ...
    def read(self, start_seq: int, max_records: int = ..., max_bytes: int = ...) -> pa.RecordBatch | None: ...
    def read_records(self, start_seq: int, max_records: int, max_bytes: int, change_seqs: Any = ...,
                     change_flags: Any = ...) -> RecordsRead: ...
    def has_from(self, seq: int) -> bool: ...
    def last_seq(self) -> int: ...
    def seq_at_time(self, ts_ms: int) -> int: ...
    def seq_at_or_after(self, seq: int) -> int: ...
    def trim(self, min_ts_ms: int, max_bytes: int = ...) -> None: ...
    def stats(self) -> dict[str, int]: ...   # first_seq, last_seq, records, bytes_allocated, spare_bytes, spares, chunks, chunks_mapped, last_ts
    def release(self) -> None: ...   # hide every record, give the memory back now (appends may follow)

def prefault_wait_idle() -> None: ...   # until the background thread has made every spare chunk asked of it

def append_routed(shards: list[Shard], seqs: SequenceSource, ts_ms: int, shard_index: Any,
                  keys: Any, data: Any, threads: int = ...) -> np.ndarray: ...   # CoreValueError: a shard listed twice

# --- message queues (bindings/queue.pyx over csrc/queue.c) ---------------------------------------
SEND_STORED: int
SEND_EMPTY: int
SEND_BAD_TEXT: int
SEND_TOO_LONG: int
SEND_BAD_GROUP: int
SEND_BAD_DEDUP: int
HANDLE_OK: int
HANDLE_STALE: int
HANDLE_INVALID: int
HANDLE_NOT_INFLIGHT: int
HANDLE_TOO_LONG: int

class Stored(NamedTuple):
    status: bytes | None
    ids: list[str | None] | None
    md5s: list[str | None] | None
    seqs: list[str | None] | None = ...
    dups: bytes | None = ...

class Received:
    """Messages taken by one receive, column by column."""
    ids: list[str]
    handles: list[str] | None
    md5s: list[str]
    bodies: list[Any]
    receive_counts: list[int]
    first_ms: list[int]
    sent_ms: list[int]
    extras: list[Any]
    groups: list[str] | None
    dedups: list[str | None] | None
    seqs: list[str] | None
    moved: Received | None
    over_limit: bool

class MessageQueue:
    id_prefix: str
    handle_prefix: str
    fifo: bool
    seq_base: int
    def __init__(self, retention_ms: int, id_prefix: str = ..., handle_prefix: str = ..., first_num: int = ...,
                 chunk_bytes: int = ..., fifo: bool = ..., seq_base: int = ..., window_ms: int = ...,
                 delay_ms: int = ..., group_scope: bool = ...) -> None: ...
    def send(self, now_ms: int, bodies: Sequence[str | bytes], delay_ms: int = ..., max_len: int = ...,
             delays: Sequence[int | None] | None = ..., extras: Sequence[Any] | None = ...,
             strings: bool = ...) -> Stored: ...
    def send_packed(self, now_ms: int, rows: PackedRows, delay_ms: int = ..., max_len: int = ...) -> Stored: ...
    def restore(self, now_ms: int, bodies: Sequence[str | bytes], md5s: Sequence[str],
                nums: Sequence[int | None] | None = ..., sent_ms: Sequence[int | None] | None = ...,
                rcs: Sequence[int] | None = ..., first_ms: Sequence[int | None] | None = ...,
                extras: Sequence[Any] | None = ..., front: bool = ..., groups: Sequence[str] | None = ...,
                dedups: Sequence[str | None] | None = ..., seqs: Sequence[int | None] | None = ...) -> list[str]: ...
    def send_fifo(self, now_ms: int, bodies: Sequence[str | bytes], groups: Sequence[str],
                  dedups: Sequence[str | None], max_len: int = ..., extras: Sequence[Any] | None = ...
                  ) -> Stored: ...
    def retry(self, now_ms: int, handles: Sequence[str], due_ms: int, vis_ms: int) -> bool: ...
    def set_fifo(self, now_ms: int, delay_ms: int, group_scope: bool) -> None: ...
    def receive(self, now_ms: int, max_n: int, vis_ms: int, max_rc: int = ..., inflight_max: int = ...,
                remove: bool = ..., as_bytes: bool = ..., fifo_cols: bool = ...) -> Received: ...
    def delete(self, now_ms: int, handles: Sequence[str]) -> bytes | None: ...
    def change_visibility(self, now_ms: int, handles: Sequence[str], vis_ms: Sequence[int],
                          max_hold_ms: int) -> bytes: ...
    def clear(self) -> None: ...
    def set_retention(self, now_ms: int, retention_ms: int) -> None: ...
    def counts(self, now_ms: int) -> tuple[int, int, int, int | None]: ...
    def stats(self, now_ms: int) -> dict[str, Any]: ...

# --- row templates (bindings/rows.pyx over csrc/rows.c): SNS envelopes -------------------------
ROW_JSON: int
ROW_RAW: int
ROW_HEX12: int
ROW_NOISE64: int

def template_rows(texts: Sequence[bytes], fields: Sequence[tuple], n: int) -> list[bytes]: ...

class PackedRows(Sequence[bytes]):   # rows of text in one buffer
    data: bytes
    n: int
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> bytes: ...  # type: ignore[override]

def packed_rows(texts: Sequence[bytes], fields: Sequence[tuple], n: int) -> PackedRows: ...
def map_recent(fn: Any, items: Sequence[Any], window: int) -> list: ...
def str_length_bounds(items: Sequence[Any]) -> tuple[int, int] | None: ...
def noise64(seed: int, number: int) -> str: ...

# --- JSON records to Arrow columns (bindings/jsoncols.pyx over csrc/jsoncols.c): Firehose ------
JC_NONE: int
JC_BOOL: int
JC_INT8: int
JC_INT16: int
JC_INT32: int
JC_INT64: int
JC_FLOAT32: int
JC_FLOAT64: int
JC_STRING: int
JC_DATE32: int
JC_TIMESTAMP: int

class JsonColumns:
    nfields: int
    kinds: tuple[int, ...]
    def __init__(self, fields: Sequence[tuple[bytes, int, int, bool]]) -> None: ...
    def parse(self, arrays: Sequence[pa.Array], start: int, count: int) -> tuple[list, int, Any]: ...

# --- line splitting (bindings/lines.pyx over csrc/lines.c): ingest of JSON Lines ----------------
def split_lines(buf: pa.Buffer, final: bool = ..., offsets: Any = ..., *,
                blank_records: bool = ...) -> tuple[pa.Array, int]: ...
def offsets_room(n: int, blank_records: bool = ...) -> int: ...

# --- partition key grouping (bindings/groupkeys.pyx over csrc/groupkeys.c): Firehose --------------
def group_keys(columns: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...   # (order, bounds, firsts)

# --- segment logs on disk (bindings/segment.pyx over csrc/segment.c): durable shards -----------
from collections.abc import Iterator

class SegmentError(CoreError): ...
class SegmentIOError(SegmentError, OSError): ...
class SegmentCorruptError(SegmentError):
    path: str
    offset: int

class SegmentInfo(NamedTuple):
    base_seq: int
    last_seq: int
    first_ts: int
    max_ts: int
    size: int
    frames: int
    index_entries: int
    synced: int
    sealed: bool

class Recovery(NamedTuple):
    segments: int
    frames: int
    kept_bytes: int
    cut_bytes: int
    cut_offset: int

class Frame(NamedTuple):
    first_seq: int
    last_seq: int
    ts_ms: int
    payload: pa.Buffer
    flags: int

SYNC_MODES: dict[str, int]
SEG_MAP_FRAME_MAX: int

def crc32c(data: Any, crc: int = ...) -> int: ...

class SegmentLog:
    recovery: Recovery
    directory: str
    syncs: int
    def __init__(self, directory: Any, *, segment_bytes: int, segment_ms: int, index_interval_bytes: int,
                 sync: str = ..., preallocate_bytes: int = ...) -> None: ...
    def close(self) -> None: ...
    def append(self, first_seq: int, last_seq: int, ts_ms: int, payload: Any, flags: int = ...) -> None: ...
    def write(self, first_seq: int, last_seq: int, ts_ms: int, payload: Any, flags: int = ...) -> int: ...
    def commit(self, ticket: int) -> None: ...
    def retain(self, min_ts: int = ..., min_seq: int = ...) -> int: ...
    def segments(self) -> list[SegmentInfo]: ...
    def segment_path(self, base_seq: int) -> str: ...
    def find_seq(self, seq: int) -> tuple[int, int] | None: ...
    def find_time(self, ts_ms: int) -> tuple[int, int] | None: ...
    def frames(self, start_seq: int = ..., start_ts: int | None = ...) -> Iterator[Frame]: ...

def commit_many(pairs: list[tuple[SegmentLog, int]]) -> None: ...
def sync_waves() -> int: ...

class RoutedFrames:   # a put's Arrow IPC frames, one per shard it touched
    labels: list
    shard: np.ndarray
    first_row: np.ndarray
    last_row: np.ndarray
    def __len__(self) -> int: ...
    def payload(self, i: int) -> pa.Buffer: ...

def encode_routed(position: np.ndarray, stored: np.ndarray | None, keys: BinaryView, data: BinaryView,
                  labels: list, max_frame_bytes: int = ...) -> RoutedFrames: ...

class Tickets:
    def commit(self) -> None: ...   # once all of it is as durable as the logs' sync mode promises

def write_frames(logs: list[SegmentLog], frames: RoutedFrames, seqs: np.ndarray, ts_ms: int,
                 payloads: list | None = ..., flags: int = ...) -> Tickets: ...

"""`python -m engine ingest FILE...`: a user's JSON Lines, CSV or Parquet files, read in blocks,
through a Kinesis stream and a Firehose delivery stream into Parquet or JSON objects.

JSON Lines go into the stream as the lines themselves (split in C, never parsed here): Firehose
parses them once, on delivery. CSV and Parquet are read by pyarrow and put as JSON documents.
Memory stays bounded whatever the input size: Firehose reads the stream right after each put,
the stream then lets go of what was read, and at most INGEST_PENDING_BUFFERS sealed buffers wait
for delivery before reading pauses.
"""
from __future__ import annotations

import gzip
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import _core, limits
from ..errors import InvalidArgumentException
from .arrow_json import batch_to_json_lines
from .pipeline import Pipeline, pack_partition_keys
from .progress import progress

# JSON Lines are read and put a block at a time: each shard's share of a block, about 1.5 MiB, is
# one chunk Firehose parses ahead (>= FIREHOSE_PARSE_AHEAD_MIN_BYTES), and blocks this small keep
# the stream's chunks and spares small (16 MiB blocks at 4 shards: ~150 MB more peak RSS for the
# same CPU time, and more of it in the kernel zeroing fresh chunks).
JSON_BLOCK_BYTES_PER_SHARD = 3 * limits.FIREHOSE_PARSE_AHEAD_MIN_BYTES // 2
JSON_BLOCK_BYTES_MIN = 4 * limits.MiB      # fewer shards: blocks no smaller (each costs a put and a read)
SCHEMA_SAMPLE_BYTES = 4 * limits.MiB       # the schema of JSON Lines comes from this much of the first file
INGEST_PENDING_BUFFERS = 2                 # sealed Firehose buffers waiting for delivery before reading pauses


class IngestError(Exception):
    """A problem with the user's arguments or files: printed as one line, no traceback."""


JSON_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")


def file_format(path: str) -> str:
    lower = path.lower()
    if lower.endswith(JSON_SUFFIXES):
        return "json"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise IngestError(f"{path}: unknown file type (expected .jsonl/.json, .csv or .parquet)")


def _open(path: str, buffered: bool = False):
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb") if buffered else open(path, "rb", buffering=0)   # blocks: no second copy


def first_bad_json_line(path: str) -> str | None:
    """The first line json.loads refuses or that is not an object, for a precise message (error path only)."""
    with _open(path, buffered=True) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    value = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    return f"line {number}: {getattr(exc, 'msg', str(exc))} (column {getattr(exc, 'colno', 1)})"
                if not isinstance(value, dict):
                    return f"line {number}: expected a JSON object, got {type(value).__name__}"
    return None


def json_block_bytes(shards: int) -> int:
    return max(JSON_BLOCK_BYTES_MIN, shards * JSON_BLOCK_BYTES_PER_SHARD)


def json_line_blocks(path: str, block_bytes: int):
    """Yield (records, bytes read so far): the file's lines, each with its line end, as binary
    arrays over blocks of about block_bytes (no copy of the lines, no parse).

    Two block buffers take turns, so the memory is paged in once: a block yielded is
    overwritten two blocks later, when the caller has put its records (Kinesis copies them)."""
    buffers = [np.empty(0, dtype=np.uint8)] * 2
    offsets = [np.empty(0, dtype=np.int64)] * 2
    carry = np.zeros(0, dtype=np.uint8)
    read = turn = 0
    try:
        with _open(path) as f:
            while True:
                size = max(block_bytes, 2 * len(carry))
                if len(buffers[turn]) < size:
                    buffers[turn] = np.empty(size, dtype=np.uint8)
                    offsets[turn] = np.empty(size // 2 + 2, dtype=np.int64)
                block = buffers[turn]
                block[:len(carry)] = carry
                got = f.readinto(memoryview(block)[len(carry):size]) or 0
                read += got
                final = got == 0
                data = block[:len(carry) + got]
                records, taken = _core.split_lines(pa.py_buffer(data), final, offsets[turn])
                carry = data[taken:].copy()
                if len(records):
                    yield records, read
                if final:
                    return
                turn ^= 1
    except OSError as exc:
        raise IngestError(f"{path}: {exc.strerror or exc}") from None


# Text that Firehose's timestamp columns (Glue `timestamp`: milliseconds) take as they are.
TIMESTAMP_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?Z?$"


def infer_json_schema(path: str, records: pa.Array) -> pa.Schema:
    """The schema pyarrow infers from the first SCHEMA_SAMPLE_BYTES of lines, with text that is
    a date and time in every sampled line typed timestamp, as DuckDB's read_json infers it
    (pyarrow does so for whole seconds only, not for the milliseconds event times carry)."""
    import pyarrow.json as pj

    ends = np.frombuffer(records.buffers()[1], dtype=np.int64, count=len(records) + 1, offset=records.offset * 8)
    count = max(1, int(np.searchsorted(ends, ends[0] + SCHEMA_SAMPLE_BYTES)))
    sample = records.slice(0, count)
    body = records.buffers()[2].slice(int(ends[0]), int(ends[len(sample)] - ends[0]))
    try:
        table = pj.read_json(pa.BufferReader(body))
    except pa.ArrowInvalid:
        raise IngestError(f"{path}: {first_bad_json_line(path) or 'unreadable JSON'}") from None
    schema = table.schema
    for i, field in enumerate(schema):
        if pa.types.is_string(field.type) and _all_timestamps(table.column(i)):
            schema = schema.set(i, field.with_type(pa.timestamp("ms")))
    return schema


def _all_timestamps(column: pa.ChunkedArray) -> bool:
    """Every value (nulls aside, at least one) YYYY-MM-DD[T ]hh:mm:ss[.fff][Z] and a real date and time."""
    if column.length() == column.null_count:
        return False
    if not pc.all(pc.match_substring_regex(column, TIMESTAMP_TEXT)).as_py():
        return False
    try:
        pc.cast(pc.replace_substring_regex(column, "Z$", ""), pa.timestamp("ms"))   # 2026-02-30 is refused here
    except pa.ArrowInvalid:
        return False
    return True


def read_batches(path: str, batch_size: int):
    """Yield (RecordBatch, bytes consumed so far) from a CSV or Parquet file, never loading it whole."""
    kind = file_format(path)
    size = os.path.getsize(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            total = max(1, parquet.metadata.num_rows)
            done = 0
            for batch in parquet.iter_batches(batch_size=batch_size):
                done += batch.num_rows
                yield batch, int(size * done / total)
            return
        import pyarrow.csv as pcsv

        parse = pcsv.ParseOptions(delimiter="\t" if path.lower().endswith(".tsv") else ",")
        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 22), parse_options=parse)
        done = 0
        for batch in reader:
            done += batch.nbytes
            yield batch, min(size, done)
    except (OSError, pa.ArrowException) as exc:
        raise IngestError(f"{path}: {str(exc).splitlines()[0]}") from None


def parse_target(target: str, s3_root: str | None = None) -> tuple[str, str, str]:
    """s3://bucket/prefix -> (s3_root, bucket, prefix): under --s3-root / $ENGINE_S3_ROOT (a
    directory, default ./s3, or an object store URI); a directory -> files land in it."""
    if target.startswith("s3://"):
        bucket, _, prefix = target[5:].partition("/")
        if not bucket:
            raise IngestError(f"--to {target}: no bucket name")
        return s3_root or os.environ.get("ENGINE_S3_ROOT", "./s3"), bucket, prefix.strip("/")
    path = os.path.abspath(target)
    return os.path.dirname(path), os.path.basename(path), ""


@dataclass
class Summary:
    files: int
    records_read: int
    records_out: int
    objects: list
    seconds: float
    bytes_read: int
    output: str
    bad_lines: list = field(default_factory=list)

    def text(self) -> str:
        rate = self.records_read / self.seconds if self.seconds else 0
        status = "all delivered" if self.records_read == self.records_out else \
            f"{self.records_read - self.records_out:,} not delivered (see the errors/ prefix)"
        return (f"ingested {self.records_read:,} records from {self.files} file(s) in {self.seconds:.2f}s "
                f"({rate:,.0f} records/s, {self.bytes_read / 2**20 / max(self.seconds, 1e-9):,.1f} MiB/s)\n"
                f"wrote {len(self.objects)} object(s) under {self.output}: {self.records_out:,} records, {status}")


def run(files: list[str], *, stream: str, shards: int, partition_key: str | None, to: str, fmt: str,
        partition_by: list[str], compression: str, batch_size: int = 65_536, quiet: bool = False,
        s3_root: str | None = None) -> Summary:
    import engine

    if not files:
        raise IngestError("no input files")
    for path in files:
        if not os.path.exists(path):
            raise IngestError(f"{path}: no such file")
        if os.path.isdir(path):
            raise IngestError(f"{path}: is a directory")
        file_format(path)
    if fmt == "json" and compression not in ("gzip", "snappy", "zip", "none"):
        raise IngestError(f"--compression {compression}: JSON output takes gzip, snappy, zip or none")
    if fmt == "parquet" and compression not in ("snappy", "gzip", "zstd", "none"):
        raise IngestError(f"--compression {compression}: Parquet output takes snappy, gzip, zstd or none")
    root, bucket, prefix = parse_target(to, s3_root)
    total_bytes = sum(os.path.getsize(f) for f in files)
    started = time.perf_counter()
    with engine.Engine(s3_root=root) as eng:
        eng.backend("firehose").pending_buffers_max = INGEST_PENDING_BUFFERS
        feed = _Feed(eng, stream, shards, bucket, prefix, fmt, compression, partition_by, partition_key)
        with progress(total_bytes, "ingest", quiet, unit="B") as bar:
            for path in files:
                last = 0
                if file_format(path) == "json":
                    for records, consumed in json_line_blocks(path, json_block_bytes(shards)):
                        feed.put_lines(path, records)
                        bar.update(consumed - last)
                        last = consumed
                else:
                    for batch, consumed in read_batches(path, batch_size):
                        feed.put_batch(path, batch)
                        bar.update(consumed - last)
                        last = consumed
        if feed.pipeline is None:
            raise IngestError("the input files hold no records")
        feed.pipeline.deliver()
        delivered = feed.pipeline.delivery().stats["delivered_records"]
        objects = feed.pipeline.written_files()
        output = feed.pipeline.output_dir()
    summary = Summary(len(files), feed.records, delivered, objects, time.perf_counter() - started, total_bytes,
                      output)
    if summary.records_out < summary.records_read:
        for path in files:       # malformed JSON is the user's to fix: say where
            bad = first_bad_json_line(path) if file_format(path) == "json" else None
            if bad:
                raise IngestError(f"{path}: {bad} ({summary.records_read - summary.records_out:,} records not "
                                  f"delivered; the rest are under {output})")
    return summary


class _Feed:
    """Puts records into the pipeline's stream, creating it from the first records' schema, and
    keeps Firehose reading right behind the puts."""

    def __init__(self, eng, stream, shards, bucket, prefix, fmt, compression, partition_by, partition_key):
        self.eng = eng
        self.args = (stream, shards, bucket, prefix, fmt, compression, partition_by)
        self.partition_key = partition_key
        self.partition_by = partition_by
        self.fmt = fmt
        self.pipeline: Pipeline | None = None
        self.records = 0
        self._key_reader = None

    def _create(self, schema: pa.Schema, path: str) -> None:
        _check_columns(schema, self.partition_key, self.partition_by, path)
        if self.pipeline is None:
            stream, shards, bucket, prefix, fmt, compression, partition_by = self.args
            self.pipeline = Pipeline(self.eng, stream, shards, bucket, prefix, fmt, compression, partition_by,
                                     database="ingest", table=stream.replace("-", "_"))
            try:
                self.pipeline.create(schema)
            except InvalidArgumentException as err:    # e.g. a --to directory that can't name a bucket
                raise IngestError(err.message) from None

    def put_lines(self, path: str, records: pa.Array) -> None:
        if self.pipeline is None:
            self._create(infer_json_schema(path, records), path)
        self._put(records, *self._line_keys(records))

    def put_batch(self, path: str, batch: pa.RecordBatch) -> None:
        self._create(batch.schema, path)
        if not batch.num_rows:
            return
        data = batch_to_json_lines(batch)
        if self.fmt == "json":   # Firehose concatenates records as they are: one line each
            data = pc.binary_join_element_wise(data, "\n", "")
        keys, hashes = _spread_keys(self.records, batch.num_rows) if self.partition_key is None else \
            (_keys_as_text(pack_partition_keys(batch.column(batch.schema.get_field_index(self.partition_key)))), None)
        self._put(data, keys, hashes)

    def _put(self, data: pa.Array, keys: pa.Array, hashes: _core.HashKeys | None = None) -> None:
        self.pipeline.put(data, keys, hashes)
        self.records += len(data)
        put_at = self.eng.clock.now()
        delivery = self.pipeline.delivery()
        while delivery.read_source():    # everything put is in Firehose's hands before the next put
            delivery.wait_for_room()
        # Firehose has read every record that arrived before put_at: the stream may let them go
        # (retention applied as if put_at were one retention period ago).
        stream = self.eng.backend("kinesis").get_stream(self.pipeline.stream_name)
        stream.apply_retention(put_at + stream.retention_seconds)

    def _line_keys(self, records: pa.Array) -> tuple[pa.Array, _core.HashKeys | None]:
        """The --partition-key member of each line as text (spread evenly without one), and
        the keys' hash keys where known already (else None: the stream hashes them)."""
        if self.partition_key is None:
            return _spread_keys(self.records, len(records))
        from ..firehose.fastjson import FastReader

        if self._key_reader is None:
            self._key_reader = FastReader(None, {}, [self.partition_key])
        parsed = self._key_reader.read([records])
        keys = parsed.keys[self.partition_key].combine_chunks()
        doubtful = parsed.doubtful
        if len(doubtful):      # lines the C pass left: decoded here, one by one
            slow = pa.array([_key_text(records[int(i)].as_py(), self.partition_key) for i in doubtful], pa.string())
            order = np.argsort(np.concatenate([np.flatnonzero(parsed.row_of >= 0), doubtful]), kind="stable")
            keys = pa.concat_arrays([keys, slow]).take(pa.array(order))
        return _keys_as_text(keys), None


def _key_text(line: bytes, member: str) -> str | None:
    try:
        value = json.loads(line).get(member)
    except (ValueError, AttributeError):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) or value is None else json.dumps(value)


SPREAD_KEYS = 4096      # distinct partition keys taken in turn when the user names none
_spread_pool: list = []


def _spread_keys(offset: int, n: int) -> tuple[pa.Array, _core.HashKeys]:
    """Keys that spread records evenly over the shards, as a random key would: the record's
    number modulo SPREAD_KEYS, as a zero-copy slice of the key strings repeated (built once,
    long enough for the largest block seen); and their MD5s, the hash keys the stream would
    compute from them, computed once (the put then routes without hashing)."""
    if not _spread_pool or len(_spread_pool[0]) < n + SPREAD_KEYS:
        repeats = -(-(n + SPREAD_KEYS) // SPREAD_KEYS)
        keys = pa.array([str(i) for i in range(SPREAD_KEYS)] * repeats, pa.string())
        _spread_pool[:] = [keys, *_core.md5_hash_keys(keys)]
    keys, hi, lo = _spread_pool
    start = offset % SPREAD_KEYS
    return keys.slice(start, n), _core.hash_keys(hi[start:start + n], lo[start:start + n])


def _keys_as_text(keys: pa.Array) -> pa.Array:
    """A Kinesis partition key is 1+ characters: a missing or empty value is the key "null"."""
    return pc.if_else(pc.or_(pc.is_null(keys), pc.equal(pc.utf8_length(keys), 0)), "null", keys)


def _check_columns(schema: pa.Schema, partition_key, partition_by, path) -> None:
    for column in ([partition_key] if partition_key else []) + list(partition_by):
        if column not in schema.names:
            raise IngestError(f"{path}: unknown column '{column}' (columns: {', '.join(schema.names)})")

"""`python -m engine ingest FILE...`: a user's JSON Lines, CSV or Parquet files, read in batches,
through a Kinesis stream and a Firehose delivery stream into Parquet or JSON objects."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from .arrow_json import batch_to_json_lines
from .pipeline import Pipeline, pack_partition_keys
from .progress import progress


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


def _bad_json_line(path: str) -> str:
    """Find the first line json.loads refuses, for a precise message (only on the error path)."""
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    return f"line {number}: {exc.msg} (column {exc.colno})"
                if not isinstance(value, dict):
                    return f"line {number}: expected a JSON object, got {type(value).__name__}"
    return "unreadable JSON"


def read_batches(path: str, batch_size: int):
    """Yield (RecordBatch, bytes consumed so far) from a file, never loading it whole."""
    if not os.path.exists(path):
        raise IngestError(f"{path}: no such file")
    if os.path.isdir(path):
        raise IngestError(f"{path}: is a directory")
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
        if kind == "csv":
            import pyarrow.csv as pcsv

            parse = pcsv.ParseOptions(delimiter="\t" if path.lower().endswith(".tsv") else ",")
            reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 22), parse_options=parse)
        else:
            import pyarrow.json as pj

            reader = pj.open_json(path, read_options=pj.ReadOptions(block_size=1 << 22))
        done = 0
        for batch in reader:
            done += batch.nbytes
            yield batch, min(size, done)
    except pa.ArrowInvalid as exc:
        if kind == "json":
            raise IngestError(f"{path}: {_bad_json_line(path)}") from None
        raise IngestError(f"{path}: {str(exc).splitlines()[0]}") from None
    except (OSError, pa.ArrowException) as exc:
        raise IngestError(f"{path}: {str(exc).splitlines()[0]}") from None


def parse_target(target: str) -> tuple[str, str, str]:
    """s3://bucket/prefix -> (s3_root, bucket, prefix) under ./s3; a directory -> files land in it."""
    if target.startswith("s3://"):
        bucket, _, prefix = target[5:].partition("/")
        if not bucket:
            raise IngestError(f"--to {target}: no bucket name")
        return os.environ.get("ENGINE_S3_ROOT", "./s3"), bucket, prefix.strip("/")
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

    def text(self) -> str:
        rate = self.records_read / self.seconds if self.seconds else 0
        status = "all delivered" if self.records_read == self.records_out else \
            f"{self.records_read - self.records_out:,} not delivered (see the errors/ prefix)"
        return (f"ingested {self.records_read:,} records from {self.files} file(s) in {self.seconds:.2f}s "
                f"({rate:,.0f} records/s, {self.bytes_read / 2**20 / max(self.seconds, 1e-9):,.1f} MiB/s)\n"
                f"wrote {len(self.objects)} object(s) under {self.output}: {self.records_out:,} records, {status}")


def run(files: list[str], *, stream: str, shards: int, partition_key: str | None, to: str, fmt: str,
        partition_by: list[str], compression: str, batch_size: int = 65_536, quiet: bool = False) -> Summary:
    import engine

    if not files:
        raise IngestError("no input files")
    for path in files:
        if not os.path.exists(path):
            raise IngestError(f"{path}: no such file")
        file_format(path)
    if fmt == "json" and compression not in ("gzip", "snappy", "zip", "none"):
        raise IngestError(f"--compression {compression}: JSON output takes gzip, snappy, zip or none")
    if fmt == "parquet" and compression not in ("snappy", "gzip", "zstd", "none"):
        raise IngestError(f"--compression {compression}: Parquet output takes snappy, gzip, zstd or none")
    s3_root, bucket, prefix = parse_target(to)
    total_bytes = sum(os.path.getsize(f) for f in files)
    started = time.perf_counter()
    read = 0
    with engine.Engine(s3_root=s3_root) as eng:
        pipeline = None
        with progress(total_bytes, "ingest", quiet, unit="B") as bar:
            consumed_before = 0
            for path in files:
                last = 0
                for batch, consumed in read_batches(path, batch_size):
                    if pipeline is None:
                        _check_columns(batch.schema, partition_key, partition_by, path)
                        pipeline = Pipeline(eng, stream, shards, bucket, prefix, fmt, compression, partition_by,
                                            database="ingest", table=stream.replace("-", "_"))
                        pipeline.create(batch.schema)
                    else:
                        _check_columns(batch.schema, partition_key, partition_by, path)
                    if batch.num_rows:
                        keys = _partition_keys(batch, partition_key, read)
                        pipeline.put(batch_to_json_lines(batch), keys)
                        read += batch.num_rows
                    bar.update(consumed - last)
                    last = consumed
                consumed_before += os.path.getsize(path)
        if pipeline is None:
            raise IngestError("the input files hold no records")
        pipeline.deliver()
        objects = pipeline.written_files()
        out = pipeline.read_back().num_rows
        output = pipeline.output_dir()
    return Summary(len(files), read, out, objects, time.perf_counter() - started, total_bytes, output)


def _check_columns(schema: pa.Schema, partition_key, partition_by, path) -> None:
    for column in ([partition_key] if partition_key else []) + list(partition_by):
        if column not in schema.names:
            raise IngestError(f"{path}: unknown column '{column}' (columns: {', '.join(schema.names)})")


def _partition_keys(batch: pa.RecordBatch, column: str | None, offset: int) -> pa.Array:
    if column is None:   # no key column: spread records evenly, as a random key would
        return pa.array(pc.cast(pa.array(range(offset, offset + batch.num_rows)), pa.string()))
    keys = pack_partition_keys(batch.column(batch.schema.get_field_index(column)))
    return pc.if_else(pc.or_(pc.is_null(keys), pc.equal(pc.utf8_length(keys), 0)), "null", keys)

"""Firehose domain: delivery streams, their buffers, and the delivery pipeline.

A delivery stream buffers records as Arrow binary arrays (DirectPut) or as the zero-copy
RecordBatches a Kinesis source stream returns, and delivers when the buffered bytes reach
SizeInMBs (in the putting thread, which gives natural back-pressure) or when IntervalInSeconds
has passed since the first record of the buffer (an engine-clock timer), whichever comes first;
also on flush(), delete, Engine.close() and interpreter exit.

Delivery (ExtendedS3): optional S3 backup of the source records -> Lambda transformation ->
dynamic partition keys -> record format conversion (JSON -> Arrow -> Parquet/ORC) -> one object
per partition; failed records go under the error prefix as AWS lays them out. HttpEndpoint:
Lambda transformation -> POST with retries on the engine clock -> S3 backup of what failed.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import limits
from ..arn import firehose_arn, parse_arn
from ..s3 import bucket_from_arn, store_for
from . import export, httpdest, prefix as prefixes
from .errors import (
    ConcurrentModificationException,
    InvalidArgumentException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    ServiceUnavailableException,
)
from .transform import Failure, run_lambda

log = logging.getLogger("engine.firehose")

MiB = limits.MiB
DESTINATION_ID = "destinationId-000000000001"

# A Glue table with this parameter makes a Kinesis-sourced stream write the shard records
# themselves (these columns, zero-copy) instead of parsing the data as JSON.
KINESIS_RECORDS_PARAMETER = "engine.firehose.input"
KINESIS_RECORDS = "kinesis-records"
KINESIS_COLUMNS = ("partition_key", "data", "sequence_number", "approximate_arrival_timestamp")


# --- configuration ---------------------------------------------------------------------
@dataclass
class BufferingHints:
    size_mb: int = limits.FIREHOSE_BUFFER_SIZE_DEFAULT_MB
    interval_s: int = limits.FIREHOSE_BUFFER_INTERVAL_DEFAULT_S


@dataclass
class S3Destination:
    bucket_arn: str
    role_arn: str = ""
    prefix: Optional[str] = None
    error_prefix: Optional[str] = None
    buffering: BufferingHints = field(default_factory=BufferingHints)
    compression: str = "UNCOMPRESSED"
    kms_key_arn: Optional[str] = None
    cloudwatch: Optional[dict] = None
    file_extension: Optional[str] = None
    custom_time_zone: Optional[str] = None

    @property
    def bucket(self) -> str:
        return bucket_from_arn(self.bucket_arn)


@dataclass
class Processor:
    type: str
    parameters: dict = field(default_factory=dict)   # ParameterName -> ParameterValue


@dataclass
class Processing:
    enabled: bool = False
    processors: list = field(default_factory=list)

    def find(self, kind: str) -> Optional[Processor]:
        if not self.enabled:
            return None
        return next((p for p in self.processors if p.type == kind), None)


@dataclass
class Conversion:
    """DataFormatConversionConfiguration."""

    enabled: bool = True
    database: Optional[str] = None
    table: Optional[str] = None
    catalog_id: Optional[str] = None
    region: Optional[str] = None
    role_arn: Optional[str] = None
    version_id: str = "LATEST"
    deserializer: str = "OpenXJsonSerDe"           # or HiveJsonSerDe
    deserializer_options: dict = field(default_factory=dict)
    serializer: str = "ParquetSerDe"               # or OrcSerDe
    serializer_options: dict = field(default_factory=dict)
    input: Optional[str] = None                    # None: from the Glue table; "json" | "kinesis-records"
    schema: Optional[pa.Schema] = None             # native API: a schema instead of a Glue table


@dataclass
class ExtendedS3:
    s3: S3Destination
    processing: Processing = field(default_factory=Processing)
    backup_mode: str = "Disabled"
    backup: Optional[S3Destination] = None
    conversion: Optional[Conversion] = None
    dynamic_partitioning: Optional[bool] = None
    dynamic_partitioning_retry_s: Optional[int] = None

    kind = "ExtendedS3"

    @property
    def buffering(self) -> BufferingHints:
        return self.s3.buffering


@dataclass
class HttpEndpoint:
    url: str
    s3: S3Destination
    name: Optional[str] = None
    access_key: Optional[str] = None
    buffering: BufferingHints = field(default_factory=BufferingHints)
    content_encoding: str = "NONE"
    common_attributes: dict = field(default_factory=dict)
    processing: Processing = field(default_factory=Processing)
    role_arn: Optional[str] = None
    retry_s: int = limits.FIREHOSE_RETRY_DURATION_DEFAULT_S
    backup_mode: str = "FailedDataOnly"
    cloudwatch: Optional[dict] = None

    kind = "HttpEndpoint"


Destination = Union[ExtendedS3, HttpEndpoint]


@dataclass
class KinesisSource:
    stream_arn: str
    role_arn: str
    start_time: float = 0.0


@dataclass
class Encryption:
    status: str = "DISABLED"
    key_type: Optional[str] = None
    key_arn: Optional[str] = None


# --- compiled runtime view of a destination -------------------------------------------
class _Plan:
    """What delivery needs, computed once per configuration version."""

    def __init__(self, stream: "DeliveryStream", dest: Destination):
        self.dest = dest
        self.lambda_proc = dest.processing.find("Lambda")
        self.delimiter = None
        proc = dest.processing.find("AppendDelimiterToRecord")
        if proc is not None:
            self.delimiter = proc.parameters.get("Delimiter", "\\n").encode().decode("unicode_escape").encode()
        self.queries = []
        meta = dest.processing.find("MetadataExtraction")
        if meta is not None:
            query = meta.parameters.get("MetadataExtractionQuery")
            if not query:
                raise InvalidArgumentException("MetadataExtraction processor requires the MetadataExtractionQuery "
                                               "parameter.")
            self.queries = prefixes.parse_metadata_query(query)
        if self.lambda_proc is not None and not self.lambda_proc.parameters.get("LambdaArn"):
            raise InvalidArgumentException("Lambda processor requires the LambdaArn parameter.")
        dp = isinstance(dest, ExtendedS3) and bool(dest.dynamic_partitioning)
        self.dynamic = dp
        s3 = dest.s3
        if isinstance(dest, HttpEndpoint):
            self.prefixes = prefixes.build_prefixes(s3.prefix, s3.error_prefix, dynamic_partitioning=False,
                                                    time_zone=s3.custom_time_zone)
        else:
            self.prefixes = prefixes.build_prefixes(
                s3.prefix, s3.error_prefix, dynamic_partitioning=dp, query_keys={q.key for q in self.queries},
                lambda_enabled=self.lambda_proc is not None, time_zone=s3.custom_time_zone)
        self.key_names = [e.value for e in self.prefixes.prefix.expressions
                          if e.namespace in (prefixes.FROM_QUERY, prefixes.FROM_LAMBDA)]
        self.query_keys = [k for k in self.prefixes.prefix.keys(prefixes.FROM_QUERY)]
        self.lambda_keys = [k for k in self.prefixes.prefix.keys(prefixes.FROM_LAMBDA)]
        self.backup_prefixes = None
        if isinstance(dest, ExtendedS3) and dest.backup_mode == "Enabled":
            if dest.backup is None:
                raise InvalidArgumentException("S3BackupConfiguration is required when S3BackupMode is Enabled.")
            b = dest.backup
            self.backup_prefixes = prefixes.build_prefixes(b.prefix, b.error_prefix, dynamic_partitioning=False,
                                                           time_zone=b.custom_time_zone)
        self.conversion = dest.conversion if isinstance(dest, ExtendedS3) and dest.conversion and \
            dest.conversion.enabled else None
        self.format = None
        self._converter_key = None
        self._converter = None
        if self.conversion is not None:
            conv = self.conversion
            opts = conv.serializer_options or {}
            if conv.serializer == "OrcSerDe":
                self.format = export.ColumnarFormat("orc", opts.get("Compression", "SNAPPY"), dict(opts))
            else:
                self.format = export.ColumnarFormat("parquet", opts.get("Compression", "SNAPPY"), dict(opts))
            stream._resolve_schema(conv)   # the Glue table must exist and parse

    def converter(self, schema: pa.Schema, conv: Conversion) -> export.JsonConverter:
        key = (schema, conv.deserializer, json.dumps(conv.deserializer_options, sort_keys=True, default=str))
        if key != self._converter_key:
            opts = conv.deserializer_options or {}
            self._converter = export.JsonConverter(
                schema, dict(opts.get("ColumnToJsonKeyMappings") or {}),
                case_insensitive=opts.get("CaseInsensitive", True) if conv.deserializer == "OpenXJsonSerDe" else True)
            self._converter_key = key
        return self._converter


# --- buffered records --------------------------------------------------------------------
class _Chunk:
    __slots__ = ("data", "arrival", "meta", "shard_id", "nbytes")

    def __init__(self, data: pa.Array, arrival, meta=None, shard_id=None, nbytes=None):
        self.data = data
        self.arrival = arrival        # int (ms, every record) or int64 ndarray
        self.meta = meta              # Kinesis RecordBatch or None
        self.shard_id = shard_id
        self.nbytes = export.value_bytes(data) if nbytes is None else nbytes


@dataclass
class _Records:
    """One flush worth of records, aligned arrays."""

    data: pa.Array
    arrival: np.ndarray
    meta: Optional[pa.Table] = None          # partition_key, data, sequence_number, approximate_arrival_timestamp
    shard_ids: Optional[list] = None

    def __len__(self):
        return len(self.data)

    def take(self, idx: np.ndarray) -> "_Records":
        if len(idx) == len(self.data) and (len(idx) == 0 or (idx[0] == 0 and np.all(np.diff(idx) == 1))):
            return self
        ia = pa.array(idx, pa.int64())
        return _Records(self.data.take(ia), self.arrival[idx], self.meta.take(ia) if self.meta is not None else None,
                        [self.shard_ids[i] for i in idx] if self.shard_ids is not None else None)


def _combine(chunks: list[_Chunk]) -> _Records:
    data = export.concat_binary([c.data for c in chunks])
    arrival = np.concatenate([np.full(len(c.data), c.arrival, dtype=np.int64) if np.isscalar(c.arrival)
                              else np.asarray(c.arrival, dtype=np.int64) for c in chunks]) \
        if chunks else np.zeros(0, dtype=np.int64)
    meta = None
    if chunks and chunks[0].meta is not None:
        meta = pa.Table.from_batches([c.meta for c in chunks])   # zero-copy
    return _Records(data, arrival, meta)


def _shard_ids(chunks: list[_Chunk]) -> list:
    out = []
    for c in chunks:
        out.extend([c.shard_id] * len(c.data))
    return out


# --- delivery stream ---------------------------------------------------------------------
class DeliveryStream:
    def __init__(self, backend: "FirehoseBackend", name: str, stream_type: str, destination: Destination,
                 source: Optional[KinesisSource], encryption: Encryption, tags: dict):
        self.backend = backend
        self.engine = backend.engine
        self.clock = backend.engine.clock
        self.name = name
        self.arn = firehose_arn(backend.region, backend.account_id, name)
        self.type = stream_type
        self.status = "CREATING"
        self.version = 1
        self.create_time = self.clock.now()
        self.update_time: Optional[float] = None
        self.destination = destination
        self.source = source
        self.encryption = encryption
        self.tags = dict(tags)
        self.stats = {"delivered_records": 0, "delivered_objects": 0, "failed_records": 0, "dropped_records": 0}
        self._lock = threading.Lock()              # the buffer
        self._deliver_lock = threading.RLock()     # one delivery at a time, in order
        self._chunks: list[_Chunk] = []
        self._bytes = 0
        self._timer = None
        self._poll_timer = None
        self._positions: dict[int, int] = {}
        self._pending_http: set = set()
        self._closed = False
        self._window = (0, 0, 0)                   # second, records, bytes (enforce_limits)
        self._plan = _Plan(self, destination)
        if source is not None:
            self._start_source()
        self.status = "ACTIVE"

    # --- native API ------------------------------------------------------------------
    def put_batch(self, records) -> int:
        """Buffer records (list of bytes/str, numpy array, or pyarrow binary/string array)."""
        if self.source is not None:
            raise InvalidArgumentException("This operation is not permitted on KinesisStreamAsSource delivery "
                                           "stream type.")
        arr = export.as_binary_array(records)
        if len(arr) == 0:
            return 0
        self._append(_Chunk(arr, self.clock.now_ms()))
        return len(arr)

    def flush(self) -> None:
        """Deliver everything buffered now (a Kinesis source is read up to its tip first)."""
        if self.source is not None:
            self._poll()
        with self._deliver_lock:
            chunks = self._take()
            if chunks:
                self._deliver(chunks)

    @property
    def buffered_bytes(self) -> int:
        return self._bytes

    @property
    def buffered_records(self) -> int:
        with self._lock:
            return sum(len(c.data) for c in self._chunks)

    # --- throughput quota (enforce_limits) ------------------------------------------
    def admit(self, sizes: list[int]) -> int:
        """How many of these records (in order) fit in this second's DirectPut quota."""
        if not self.engine.enforce_limits:
            return len(sizes)
        now = int(self.clock.now())
        with self._lock:
            second, recs, nbytes = self._window
            if second != now:
                recs = nbytes = 0
            accepted = 0
            for size in sizes:
                if recs + 1 > limits.FIREHOSE_DIRECT_PUT_RECORDS_PER_S or \
                        nbytes + size > limits.FIREHOSE_DIRECT_PUT_BYTES_PER_S:
                    break
                recs += 1
                nbytes += size
                accepted += 1
            self._window = (now, recs, nbytes)
            return accepted

    # --- buffering ---------------------------------------------------------------------
    def _append(self, chunk: _Chunk) -> None:
        if self._closed:
            raise ServiceUnavailableException(f"Firehose {self.name} is being deleted.")
        hints = self.destination.buffering
        with self._lock:
            self._chunks.append(chunk)
            self._bytes += chunk.nbytes
            full = self._bytes >= hints.size_mb * MiB
            if not full and self._timer is None:
                self._timer = self.clock.call_later(hints.interval_s, self._on_interval)
        if full:
            with self._deliver_lock:
                chunks = self._take()
                if chunks:
                    self._deliver(chunks)

    def _take(self) -> list[_Chunk]:
        with self._lock:
            chunks, self._chunks, self._bytes = self._chunks, [], 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        return chunks

    def _on_interval(self) -> None:
        with self._lock:
            self._timer = None
        if self.source is not None:
            self._poll()
        with self._deliver_lock:
            chunks = self._take()
            if chunks:
                self._deliver(chunks)

    # --- Kinesis source ----------------------------------------------------------------
    def _kinesis_stream(self):
        info = parse_arn(self.source.stream_arn)
        kbackend = self.engine.backend("kinesis", info["region"])
        return kbackend.stream_by_arn(self.source.stream_arn)

    def _start_source(self) -> None:
        stream = self._kinesis_stream()
        # Firehose reads from the stream's tip at creation (DeliveryStartTimestamp).
        for shard in stream.shards:
            last = shard.last_seq() if hasattr(shard, "last_seq") else None
            if last is None:
                last = -1
                while True:
                    batch = stream.read(shard.index, start_seq=last + 1 if last >= 0 else None)
                    if batch.num_rows == 0:
                        break
                    last = int(batch.column("sequence_number")[batch.num_rows - 1].as_py())
            if last >= 0:
                self._positions[shard.index] = int(last) + 1
        self.source.start_time = self.clock.now()
        self._poll_timer = self.clock.call_later(limits.FIREHOSE_KINESIS_POLL_INTERVAL_S, self._poll_tick)

    def _poll_tick(self) -> None:
        if self._closed:
            return
        try:
            self._poll()
        finally:
            if not self._closed:
                self._poll_timer = self.clock.call_later(limits.FIREHOSE_KINESIS_POLL_INTERVAL_S, self._poll_tick)

    def _poll(self) -> None:
        try:
            stream = self._kinesis_stream()
        except ResourceNotFoundException:
            return   # the source stream is gone; nothing more to read
        with self._deliver_lock:
            for shard in list(stream.shards):
                while True:   # read returns up to one chunk of the shard's log per call
                    batch = stream.read(shard.index, start_seq=self._positions.get(shard.index))
                    if batch.num_rows == 0:
                        break
                    seqs = batch.column("sequence_number")
                    self._positions[shard.index] = int(seqs[batch.num_rows - 1].as_py()) + 1
                    arrival = batch.column("approximate_arrival_timestamp").cast(pa.int64())
                    arrival = arrival.to_numpy(zero_copy_only=arrival.null_count == 0)
                    self._append(_Chunk(batch.column("data"), arrival, batch, shard.shard_id))

    # --- delivery ----------------------------------------------------------------------
    def _deliver(self, chunks: list[_Chunk]) -> None:
        records = _combine(chunks)
        if records.meta is not None:
            records.shard_ids = _shard_ids(chunks)
        try:
            if isinstance(self.destination, HttpEndpoint):
                self._deliver_http(records)
            else:
                self._deliver_s3(records)
        except Exception:   # noqa: BLE001 - keep the stream running; report once
            log.exception("Firehose %s: delivery of %d records failed", self.name, len(records))
            raise

    def _store(self):
        return store_for(self.engine)

    def _write_raw(self, dest: S3Destination, key: str, payload) -> None:
        content = export.compress(payload, dest.compression, inner_name=key.rsplit("/", 1)[-1])
        self._store().put(dest.bucket, key, content)

    def _object_key(self, prefix: str, oldest_ms: int, dest: S3Destination, extension: str) -> str:
        tz = prefixes.timezone(dest.custom_time_zone)
        ext = dest.file_extension if dest.file_extension else extension
        return prefix + export.object_name(self.name, self.version, oldest_ms, tz, ext)

    def _write_errors(self, dest: S3Destination, plan_prefixes, error_type: str, docs: list[dict],
                      arrivals: np.ndarray) -> None:
        if not docs:
            return
        oldest = int(arrivals.min())
        key = self._object_key(plan_prefixes.error_prefix(oldest, error_type), oldest, dest,
                               export.compression_extension(dest.compression))
        body = "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs).encode("utf-8")
        self._write_raw(dest, key, body)
        self.stats["failed_records"] += len(docs)

    def _write_backup(self, records: _Records) -> None:
        dest = self.destination.backup
        oldest = int(records.arrival.min())
        key = self._object_key(self._plan.backup_prefixes.data_prefix(oldest), oldest, dest,
                               export.compression_extension(dest.compression))
        self._write_raw(dest, key, export.concatenated(records.data))

    def _processing_failed_docs(self, failures: list[Failure], records: _Records) -> list[dict]:
        arn = self._plan.lambda_proc.parameters.get("LambdaArn") if self._plan.lambda_proc else None
        docs = []
        for f in failures:
            doc = {"attemptsMade": f.attempts, "arrivalTimestamp": int(records.arrival[f.index]),
                   "errorCode": f.code, "errorMessage": f.message, "attemptEndingTimestamp": f.ended_ms,
                   "rawData": base64.b64encode(records.data[f.index].as_py() or b"").decode("ascii")}
            if arn:
                doc["lambdaArn"] = arn
            docs.append(doc)
        return docs

    def _transform(self, records: _Records):
        """Lambda step -> (records that are Ok with their new data, lambda keys, failure docs)."""
        plan = self._plan
        if plan.lambda_proc is None:
            return records, None, []
        params = plan.lambda_proc.parameters
        kinesis = None
        if records.meta is not None:
            kinesis = {"stream_arn": self.source.stream_arn, "shard_id": records.shard_ids,
                       "partition_key": records.meta.column("partition_key").to_pylist(),
                       "sequence_number": records.meta.column("sequence_number").to_pylist()}
        buffer_mb = float(params.get("BufferSizeInMBs", limits.FIREHOSE_LAMBDA_BUFFER_DEFAULT_MB))
        result = run_lambda(self.engine, arn=params["LambdaArn"],
                            retries=int(params.get("NumberOfRetries", limits.FIREHOSE_LAMBDA_RETRIES)),
                            buffer_bytes=int(buffer_mb * MiB), stream_arn=self.arn, region=self.backend.region,
                            data=records.data, arrival_ms=records.arrival, kinesis=kinesis)
        docs = self._processing_failed_docs(result.failed, records)
        self.stats["dropped_records"] += result.dropped
        ok = records.take(result.ok_index)
        ok = _Records(result.data, ok.arrival, ok.meta, ok.shard_ids)
        if ok.meta is not None:
            ok.meta = ok.meta.set_column(ok.meta.schema.get_field_index("data"), "data",
                                         result.data.cast(ok.meta.schema.field("data").type))
        return ok, result.lambda_keys, docs

    def _partition_keys(self, records: _Records, lambda_keys):
        """-> (keys {name: string array}, ok mask) for dynamic partitioning."""
        plan = self._plan
        n = len(records)
        keys = {}
        ok = np.ones(n, dtype=bool)
        if plan.query_keys:
            wanted = [q for q in plan.queries if q.key in plan.query_keys]
            qkeys, qok = export.extract_keys(records.data, wanted)
            keys.update(qkeys)
            ok &= qok
        for name in plan.lambda_keys:
            values = [(k or {}).get(name) for k in (lambda_keys or [None] * n)]
            arr = pa.array(values, pa.string())
            keys[name] = arr
            ok &= np.asarray([v is not None and v != "" for v in values], dtype=bool)
        return keys, ok

    def _deliver_s3(self, records: _Records) -> None:
        plan = self._plan
        dest: ExtendedS3 = self.destination
        s3 = dest.s3
        if len(records) == 0:
            return
        if plan.backup_prefixes is not None:
            self._write_backup(records)
        records, lambda_keys, failed_docs = self._transform(records)
        if failed_docs:
            arrivals = np.asarray([d["arrivalTimestamp"] for d in failed_docs], dtype=np.int64)
            self._write_errors(s3, plan.prefixes, prefixes.PROCESSING_FAILED, failed_docs, arrivals)
        if len(records) == 0:
            return
        if plan.delimiter and plan.conversion is None:
            t = records.data.type
            records.data = pc.binary_join_element_wise(records.data, pa.scalar(b"", t), pa.scalar(plan.delimiter, t))

        keys = None
        if plan.dynamic:
            keys, ok = self._partition_keys(records, lambda_keys)
            if not ok.all():
                bad = np.flatnonzero(~ok)
                docs = [{"attemptsMade": 1, "arrivalTimestamp": int(records.arrival[i]),
                         "errorCode": "DynamicPartitioning.MetadataExtractionFailed",
                         "errorMessage": "Partition keys could not be extracted from the record: a key is missing, "
                                         "null or empty, or the record is not valid JSON.",
                         "attemptEndingTimestamp": self.clock.now_ms(),
                         "rawData": base64.b64encode(records.data[int(i)].as_py() or b"").decode("ascii")}
                        for i in bad]
                self._write_errors(s3, plan.prefixes, prefixes.PROCESSING_FAILED, docs, records.arrival[bad])
                good = np.flatnonzero(ok)
                ia = pa.array(good, pa.int64())
                keys = {k: v.take(ia) for k, v in keys.items()}
                records = records.take(good)
                if len(records) == 0:
                    return

        table = None
        if plan.conversion is not None:
            table, good = self._convert(records)
            if table is None:
                return
            if len(good) != len(records):
                ia = pa.array(good, pa.int64())
                if keys is not None:
                    keys = {k: v.take(ia) for k, v in keys.items()}
                records = records.take(good)
            if len(records) == 0:
                return

        if keys is not None:
            groups = export.group_indices(keys, list(dict.fromkeys(plan.key_names)))
        else:
            groups = [(None, None)]
        query_names = set(plan.query_keys)
        for values, idx in groups:
            arrival = records.arrival if idx is None else records.arrival[idx]
            oldest = int(arrival.min())
            qk = {k: v for k, v in (values or {}).items() if k in query_names}
            lk = {k: v for k, v in (values or {}).items() if k in plan.lambda_keys}
            prefix = plan.prefixes.data_prefix(oldest, qk, lk)
            if table is not None:
                part = table if idx is None else table.take(pa.array(idx, pa.int64()))
                fmt = plan.format
                key = self._object_key(prefix, oldest, s3, fmt.extension)
                self._store().write(s3.bucket, key, lambda out, part=part: fmt.write(part, out))
            else:
                part_records = records if idx is None else records.take(idx)
                key = self._object_key(prefix, oldest, s3, export.compression_extension(s3.compression))
                self._write_raw(s3, key, export.concatenated(part_records.data))
            self.stats["delivered_records"] += len(arrival)
            self.stats["delivered_objects"] += 1

    # --- record format conversion ----------------------------------------------------
    def _resolve_schema(self, conv: Conversion) -> tuple[pa.Schema, str, object]:
        """-> (Arrow schema, input kind, Glue table or None). Raises InvalidArgumentException."""
        if conv.schema is not None:
            return conv.schema, conv.input or "json", None
        region = conv.region or self.backend.region
        glue = self.engine.backend("glue", region)
        try:
            table = glue.get_table(conv.database or "", conv.table or "")
        except Exception as err:   # EntityNotFoundException
            raise InvalidArgumentException(
                f"The Glue table {conv.database}.{conv.table} in region {region} could not be found: "
                f"{getattr(err, 'message', err)}") from None
        try:
            schema = table.arrow_schema()
        except ValueError as err:
            raise InvalidArgumentException(
                f"The Glue table {conv.database}.{conv.table} has a column type that can't be converted: {err}") \
                from None
        kind = conv.input or ("kinesis-records" if table.parameters.get(KINESIS_RECORDS_PARAMETER) == KINESIS_RECORDS
                              else "json")
        return schema, kind, table

    def _conversion_docs(self, records: _Records, failed: dict, code: str, table) -> list[dict]:
        conv = self._plan.conversion
        region = conv.region or self.backend.region
        catalog = {"catalogId": conv.catalog_id or self.backend.account_id, "databaseName": conv.database or "",
                   "tableName": conv.table or "", "region": region, "versionId": conv.version_id or "LATEST",
                   "catalogArn": f"arn:aws:glue:{region}:{conv.catalog_id or self.backend.account_id}:catalog"}
        now = self.clock.now_ms()
        docs = []
        seqs = records.meta.column("sequence_number") if records.meta is not None else None
        for i, message in sorted(failed.items()):
            doc = {"attemptsMade": 1, "arrivalTimestamp": int(records.arrival[i]), "ErrorCode": code,
                   "ErrorMessage": message, "attemptEndingTimestamp": now,
                   "rawData": base64.b64encode(records.data[i].as_py() or b"").decode("ascii")}
            if seqs is not None:
                doc["sequenceNumber"] = str(seqs[i].as_py())
                doc["subSequenceNumber"] = 0
            doc["dataCatalogTable"] = catalog
            docs.append(doc)
        return docs

    def _convert(self, records: _Records):
        """-> (Arrow table of the converted rows, indices of those records) or (None, None)."""
        plan = self._plan
        conv = plan.conversion
        try:
            schema, kind, _table = self._resolve_schema(conv)
        except InvalidArgumentException as err:
            failed = {i: err.message for i in range(len(records))}
            docs = self._conversion_docs(records, failed, "DataFormatConversion.EntityNotFound", None)
            self._write_errors(self.destination.s3, plan.prefixes, prefixes.FORMAT_CONVERSION_FAILED, docs,
                               records.arrival)
            return None, None
        if kind == KINESIS_RECORDS and records.meta is not None:
            return self._kinesis_table(records.meta, schema), np.arange(len(records), dtype=np.int64)
        table, good, failed = plan.converter(schema, conv).convert(records.data)
        if failed:
            docs = self._conversion_docs(records, failed, "DataFormatConversion.MalformedData", None)
            bad = np.asarray(sorted(failed), dtype=np.int64)
            self._write_errors(self.destination.s3, plan.prefixes, prefixes.FORMAT_CONVERSION_FAILED, docs,
                               records.arrival[bad])
        return table, good

    @staticmethod
    def _kinesis_table(meta: pa.Table, schema: pa.Schema) -> pa.Table:
        """The shard records as they are (zero-copy), restricted to the Glue table's columns."""
        names = [f.name for f in schema if f.name in meta.column_names] or list(KINESIS_COLUMNS)
        out = meta.select(names)
        for f in schema:
            if f.name in names:
                have = out.schema.field(f.name).type
                same_kind = (pa.types.is_timestamp(have) and pa.types.is_timestamp(f.type)) or have == f.type
                if not same_kind:
                    out = out.set_column(out.schema.get_field_index(f.name), f.name, out.column(f.name).cast(f.type))
        return out

    # --- HTTP endpoint -----------------------------------------------------------------
    def _deliver_http(self, records: _Records) -> None:
        dest: HttpEndpoint = self.destination
        if len(records) == 0:
            return
        if dest.backup_mode == "AllData":
            oldest = int(records.arrival.min())
            key = self._object_key(self._plan.prefixes.data_prefix(oldest), oldest, dest.s3,
                                   export.compression_extension(dest.s3.compression))
            self._write_raw(dest.s3, key, export.concatenated(records.data))
        records, _keys, failed_docs = self._transform(records)
        if failed_docs:
            arrivals = np.asarray([d["arrivalTimestamp"] for d in failed_docs], dtype=np.int64)
            self._write_errors(dest.s3, self._plan.prefixes, prefixes.PROCESSING_FAILED, failed_docs, arrivals)
        if len(records) == 0:
            return
        attempt = _HttpDelivery(self, records)
        attempt.run()

    # --- lifecycle ---------------------------------------------------------------------
    def apply_destination(self, destination: Destination) -> None:
        """Switch to a new configuration: buffered records are delivered under the old one first."""
        plan = _Plan(self, destination)
        self.flush()
        with self._deliver_lock:
            self.destination = destination
            self._plan = plan
            self.version += 1
            self.update_time = self.clock.now()

    def close(self) -> None:
        """Deliver everything (buffer, pending HTTP retries) and stop the timers."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            for timer in (self._timer, self._poll_timer):
                if timer is not None:
                    timer.cancel()
            for pending in list(self._pending_http):
                pending.run(final=True)


class _HttpDelivery:
    """One batch on its way to an HTTP endpoint; retried on the engine clock until RetryDuration."""

    def __init__(self, stream: DeliveryStream, records: _Records):
        self.stream = stream
        self.records = records
        self.request_id = str(uuid.uuid4())
        self.first = stream.clock.now()
        self.attempts = 0
        self.timer = None
        self.b64 = export.base64_list(records.data)

    def run(self, final: bool = False) -> None:
        s = self.stream
        dest: HttpEndpoint = s.destination
        self.timer = None
        self.attempts += 1
        outcome = httpdest.post(
            dest.url, request_id=self.request_id, timestamp_ms=s.clock.now_ms(), records_b64=self.b64,
            source_arn=s.arn, access_key=dest.access_key, common_attributes=dest.common_attributes,
            gzip_body=dest.content_encoding == "GZIP", timeout=s.backend.http_timeout)
        if outcome.ok:
            s._pending_http.discard(self)
            s.stats["delivered_records"] += len(self.records)
            return
        elapsed = s.clock.now() - self.first
        if final or s._closed or elapsed >= dest.retry_s:
            s._pending_http.discard(self)
            now = s.clock.now_ms()
            docs = [{"attemptsMade": self.attempts, "arrivalTimestamp": int(self.records.arrival[i]),
                     "errorCode": outcome.code, "errorMessage": outcome.message, "attemptEndingTimestamp": now,
                     "rawData": self.b64[i]} for i in range(len(self.records))]
            with s._deliver_lock:
                s._write_errors(dest.s3, s._plan.prefixes, prefixes.HTTP_ENDPOINT_FAILED, docs, self.records.arrival)
            return
        s._pending_http.add(self)
        delay = min(2 ** (self.attempts - 1), 30, max(dest.retry_s - elapsed, 0) or 1)
        self.timer = s.clock.call_later(delay, self.run)


# --- backend ------------------------------------------------------------------------------
class FirehoseBackend:
    """The delivery streams of one account and region."""

    MAX_STREAMS = 5000

    def __init__(self, engine, region: str):
        self.engine = engine
        self.region = region
        self.account_id = engine.account_id
        self.streams: dict[str, DeliveryStream] = {}
        self.http_timeout = float(limits.FIREHOSE_HTTP_TIMEOUT_S)
        self._lock = threading.RLock()

    def create_delivery_stream(self, name: str, destination: Destination, *, stream_type: str = "DirectPut",
                               kinesis_source: Optional[KinesisSource] = None,
                               encryption: Optional[Encryption] = None, tags: Optional[dict] = None) -> DeliveryStream:
        with self._lock:
            if name in self.streams:
                raise ResourceInUseException(f"Firehose {name} under accountId {self.account_id} already exists")
            if len(self.streams) >= self.MAX_STREAMS:
                raise LimitExceededException(f"You have already consumed your firehose quota of {self.MAX_STREAMS} "
                                             "hoses.")
            if stream_type == "KinesisStreamAsSource":
                if kinesis_source is None:
                    raise InvalidArgumentException("KinesisStreamSourceConfiguration is required when "
                                                   "DeliveryStreamType is KinesisStreamAsSource.")
                if encryption is not None and encryption.status != "DISABLED":
                    raise InvalidArgumentException("Encryption is not supported for delivery streams with "
                                                   "KinesisStreamAsSource as source.")
                info = parse_arn(kinesis_source.stream_arn)
                try:
                    self.engine.backend("kinesis", info["region"]).stream_by_arn(kinesis_source.stream_arn)
                except ResourceNotFoundException:
                    raise InvalidArgumentException(
                        f"Kinesis stream {kinesis_source.stream_arn} does not exist.") from None
            elif kinesis_source is not None:
                raise InvalidArgumentException("KinesisStreamSourceConfiguration is only valid when "
                                               "DeliveryStreamType is KinesisStreamAsSource.")
            self.validate(destination)
            stream = DeliveryStream(self, name, stream_type, destination, kinesis_source,
                                    encryption or Encryption(), tags or {})
            self.streams[name] = stream
            return stream

    @staticmethod
    def validate(dest: Destination) -> None:
        """The rules AWS checks across fields (ranges and types are the client's job)."""
        if isinstance(dest, ExtendedS3):
            conversion = dest.conversion is not None and dest.conversion.enabled
            if conversion and dest.s3.compression != "UNCOMPRESSED":
                raise InvalidArgumentException(
                    "CompressionFormat must be UNCOMPRESSED when DataFormatConversionConfiguration is enabled; "
                    "set the compression of the serializer instead.")
            for what, on in (("data format conversion", conversion), ("dynamic partitioning",
                                                                       bool(dest.dynamic_partitioning))):
                if on and dest.s3.buffering.size_mb < limits.FIREHOSE_PARTITIONING_BUFFER_MIN_MB:
                    raise InvalidArgumentException(
                        f"BufferingHints.SizeInMBs must be at least {limits.FIREHOSE_PARTITIONING_BUFFER_MIN_MB} "
                        f"when {what} is enabled.")
            if dest.dynamic_partitioning and dest.processing.find("MetadataExtraction") is None and \
                    dest.processing.find("Lambda") is None:
                raise InvalidArgumentException(
                    "Dynamic partitioning requires an enabled ProcessingConfiguration with a MetadataExtraction or "
                    "Lambda processor.")

    def get(self, name: str) -> DeliveryStream:
        stream = self.streams.get(name)
        if stream is None:
            raise ResourceNotFoundException(f"Firehose {name} under account {self.account_id} not found.")
        return stream

    def by_arn(self, arn: str) -> DeliveryStream:
        return self.get(arn.rsplit("/", 1)[-1])

    def delete_delivery_stream(self, name: str) -> None:
        stream = self.get(name)
        stream.status = "DELETING"
        try:
            stream.close()
        finally:
            with self._lock:
                self.streams.pop(name, None)

    def list_delivery_streams(self, stream_type: Optional[str] = None, start_after: Optional[str] = None) -> list[str]:
        names = sorted(n for n, s in self.streams.items() if stream_type is None or s.type == stream_type)
        if start_after is not None:
            names = [n for n in names if n > start_after]
        return names

    def update_destination(self, name: str, version_id: str, destination_id: str, destination: Destination) -> None:
        stream = self.get(name)
        with self._lock:
            if str(stream.version) != str(version_id):
                raise ConcurrentModificationException(
                    f"Cannot update firehose: {name} since the current version id: {stream.version} and "
                    f"specified version id: {version_id} do not match")
            if destination_id != DESTINATION_ID:
                raise InvalidArgumentException(f"Destination Id {destination_id} not found")
            if type(destination) is not type(stream.destination):
                raise InvalidArgumentException(
                    f"Changing the destination type to or from {stream.destination.kind} is not supported at this "
                    "time.")
            old_dp = isinstance(stream.destination, ExtendedS3) and bool(stream.destination.dynamic_partitioning)
            new_dp = isinstance(destination, ExtendedS3) and bool(destination.dynamic_partitioning)
            if new_dp != old_dp:
                raise InvalidArgumentException("Dynamic partitioning can't be enabled or disabled on an existing "
                                               "Firehose stream.")
            self.validate(destination)
            stream.apply_destination(destination)

    def close(self) -> None:
        for stream in list(self.streams.values()):
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - close every stream even if one fails
                log.exception("Firehose %s: close failed", stream.name)


__all__ = ["FirehoseBackend", "DeliveryStream", "ExtendedS3", "HttpEndpoint", "S3Destination", "BufferingHints",
           "Processing", "Processor", "Conversion", "KinesisSource", "Encryption", "KINESIS_RECORDS_PARAMETER",
           "KINESIS_RECORDS"]

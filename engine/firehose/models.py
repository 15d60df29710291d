"""Firehose domain: delivery streams, their buffers, and the delivery pipeline.

A delivery stream buffers records as Arrow binary arrays (DirectPut) or as the zero-copy
RecordBatches a Kinesis source stream returns, and delivers when the buffered bytes reach
SizeInMBs or when IntervalInSeconds has passed since the first record of the buffer (an
engine-clock timer), whichever comes first; also on flush(), delete, Engine.close() and
interpreter exit. A put only appends and, when the buffer is full, seals it and hands it to the
stream's delivery worker: no put waits on a destination. Each failed write or request is retried
on the engine clock for its destination's retry duration, then written to the error output;
close and delete refuse new records first, then deliver what was accepted within a bounded
drain time (FirehoseBackend.close_drain_s).

Delivery (ExtendedS3): optional S3 backup of the source records -> Lambda transformation ->
dynamic partition keys -> record format conversion (JSON -> Arrow -> Parquet/ORC) -> one object
per partition; failed records go under the error prefix as AWS lays them out. HttpEndpoint:
Lambda transformation -> POST with retries on the engine clock -> S3 backup of what failed.
"""
from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import limits
from ..arn import firehose_arn, parse_arn
from ..clock import ManualClock
from ..datadir import file_name, region_root
from ..s3 import InvalidObjectKey, bucket_from_arn, bucket_name_problem, parse_s3_uri, store_for
from . import export, fastjson, prefix as prefixes
from .transform import source_user_records
from .errors import (
    ConcurrentModificationException,
    InvalidArgumentException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    ServiceUnavailableException,
)

if TYPE_CHECKING:
    import ssl

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
    buffering: Optional[BufferingHints] = None      # None: the destination's default
    compression: str = "UNCOMPRESSED"
    kms_key_arn: Optional[str] = None
    cloudwatch: Optional[dict] = None
    file_extension: Optional[str] = None
    custom_time_zone: Optional[str] = None

    @property
    def bucket(self) -> str:
        return bucket_from_arn(self.bucket_arn)

    @property
    def hints(self) -> BufferingHints:
        return self.buffering or BufferingHints()


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
    deserializer: Optional[str] = "OpenXJsonSerDe"   # or HiveJsonSerDe; None: not exactly one given
    deserializer_options: dict = field(default_factory=dict)
    serializer: Optional[str] = "ParquetSerDe"       # or OrcSerDe; None: not exactly one given
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
        """The hints given, else AWS's default: 128 MiB with format conversion or dynamic
        partitioning (which need at least 64), 5 MiB otherwise."""
        if self.s3.buffering is not None:
            return self.s3.buffering
        if (self.conversion is not None and self.conversion.enabled) or self.dynamic_partitioning:
            return BufferingHints(limits.FIREHOSE_BUFFER_SIZE_CONVERSION_DEFAULT_MB)
        return BufferingHints()


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


@dataclass
class IcebergTable:
    """One entry of DestinationTableConfigurationList."""

    database: str
    table: str
    unique_keys: list = field(default_factory=list)
    partition_fields: list = field(default_factory=list)    # identity partitions by source column
    error_prefix: Optional[str] = None                      # S3ErrorOutputPrefix


@dataclass
class IcebergDestination:
    """IcebergDestinationConfiguration: tables in the engine's Glue Data Catalog (engine/firehose/iceberg.py)."""

    catalog_arn: str
    s3: S3Destination                                   # error output and backup
    role_arn: str = ""
    warehouse: Optional[str] = None                     # s3://bucket/prefix of new tables
    tables: list = field(default_factory=list)          # IcebergTable
    append_only: bool = False
    schema_evolution: bool = False
    table_creation: bool = False
    buffering: BufferingHints = field(default_factory=BufferingHints)
    processing: Processing = field(default_factory=Processing)
    retry_s: int = limits.FIREHOSE_RETRY_DURATION_DEFAULT_S
    backup_mode: str = "FailedDataOnly"                 # or AllData
    cloudwatch: Optional[dict] = None

    kind = "Iceberg"

    def table_config(self, database: str, table: str) -> Optional[IcebergTable]:
        return next((t for t in self.tables if t.database == database and t.table == table), None)


Destination = Union[ExtendedS3, HttpEndpoint, IcebergDestination]


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

    def check(self) -> None:
        """A customer managed key names its ARN; an AWS owned one names none."""
        if self.status == "DISABLED":
            return
        if self.key_type == "CUSTOMER_MANAGED_CMK" and not self.key_arn:
            raise InvalidArgumentException("KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK.")
        if self.key_type == "AWS_OWNED_CMK" and self.key_arn:
            raise InvalidArgumentException("KeyARN must not be specified when KeyType is AWS_OWNED_CMK.")


# --- configuration rules no botocore constraint holds ------------------------------------
LAMBDA_RETRIES_MAX = 300
LAMBDA_BUFFER_MIN_MB = 0.2
DESERIALIZERS = ("OpenXJsonSerDe", "HiveJsonSerDe")
SERIALIZERS = ("ParquetSerDe", "OrcSerDe")
SUPPORTED_STREAM_TYPES = ("DirectPut", "KinesisStreamAsSource")


def check_processing(processing: Processing) -> None:
    """A Lambda processor's NumberOfRetries and BufferSizeInMBs are numbers in AWS's ranges."""
    for proc in processing.processors:
        if proc.type != "Lambda":
            continue
        retries = proc.parameters.get("NumberOfRetries")
        if retries is not None and not (retries.isdigit() and int(retries) <= LAMBDA_RETRIES_MAX):
            raise InvalidArgumentException(f"NumberOfRetries must be an integer between 0 and {LAMBDA_RETRIES_MAX}.")
        size = proc.parameters.get("BufferSizeInMBs")
        if size is not None:
            try:
                in_range = LAMBDA_BUFFER_MIN_MB <= float(size) <= limits.FIREHOSE_LAMBDA_BUFFER_MAX_MB
            except ValueError:
                in_range = False
            if not in_range:
                raise InvalidArgumentException(f"BufferSizeInMBs for a Lambda processor must be between "
                                               f"{LAMBDA_BUFFER_MIN_MB} and {limits.FIREHOSE_LAMBDA_BUFFER_MAX_MB}.")


def check_conversion(conv: Conversion) -> None:
    """An enabled conversion names its schema, one deserializer and one serializer."""
    if conv.schema is None and (not conv.database or not conv.table):
        raise InvalidArgumentException("SchemaConfiguration must specify DatabaseName and TableName when "
                                       "DataFormatConversionConfiguration is enabled.")
    if conv.deserializer not in DESERIALIZERS:
        raise InvalidArgumentException("InputFormatConfiguration.Deserializer must specify exactly one of "
                                       "OpenXJsonSerDe and HiveJsonSerDe.")
    if conv.serializer not in SERIALIZERS:
        raise InvalidArgumentException("OutputFormatConfiguration.Serializer must specify exactly one of "
                                       "ParquetSerDe and OrcSerDe.")


# --- compiled runtime view of a destination -------------------------------------------
class _Plan:
    """What delivery needs, computed once per configuration version."""

    def __init__(self, stream: "DeliveryStream", dest: Destination, check: bool = True):
        """`check`: refuse a configuration whose Glue table or object keys don't work (not for a
        stream a durable engine restores: its table may have gone since; delivery reports that)."""
        self.dest = dest
        self.lambda_proc = dest.processing.find("Lambda")
        self.deaggregation = dest.processing.find("RecordDeAggregation")
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
        if not isinstance(dest, ExtendedS3):
            self.prefixes = prefixes.build_prefixes(s3.prefix, s3.error_prefix, dynamic_partitioning=False,
                                                    time_zone=s3.custom_time_zone)
        else:
            self.prefixes = prefixes.build_prefixes(
                s3.prefix, s3.error_prefix, dynamic_partitioning=dp, query_keys={q.key for q in self.queries},
                lambda_enabled=self.lambda_proc is not None, time_zone=s3.custom_time_zone)
        self.key_names = [e.value for e in self.prefixes.prefix.expressions
                          if e.namespace in (prefixes.FROM_QUERY, prefixes.FROM_LAMBDA)]
        self.query_keys = [k for k in self.prefixes.prefix.keys(prefixes.FROM_QUERY)]
        self.wanted_queries = [q for q in self.queries if q.key in self.query_keys]
        # Queries of one top-level member read that member as a string in the C pass (their
        # filters then run on the column); any other query needs the complete reader.
        simple = all(len(q.path) == 1 and "\\" not in q.path[0] for q in self.wanted_queries)
        self.fast_key_names = [q.path[0] for q in self.wanted_queries] if simple else []
        self._reader_key = None
        self._reader: Optional[fastjson.FastReader] = None
        self.lambda_keys = [k for k in self.prefixes.prefix.keys(prefixes.FROM_LAMBDA)]
        # Partitions the parse ahead can group (each prefix key a member taken as it is, no jq
        # filter, no Lambda key): {prefix key: member}, in prefix order; else None.
        queries = {q.key: q for q in self.wanted_queries}
        names = list(dict.fromkeys(self.key_names))
        self.key_members = {name: queries[name].path[0] for name in names} if names and self.fast_key_names and \
            not self.lambda_keys and all(name in queries and not queries[name].filters for name in names) else None
        self.backup_prefixes = None
        if isinstance(dest, ExtendedS3) and dest.backup_mode == "Enabled":
            b = dest.backup            # FirehoseBackend.validate made sure there is one
            self.backup_prefixes = prefixes.build_prefixes(b.prefix, b.error_prefix, dynamic_partitioning=False,
                                                           time_zone=b.custom_time_zone)
        # Iceberg: each table's S3ErrorOutputPrefix in place of the S3 configuration's
        self.table_error_prefixes = {
            (t.database, t.table): prefixes.build_prefixes(s3.prefix, t.error_prefix, dynamic_partitioning=False,
                                                           time_zone=s3.custom_time_zone)
            for t in dest.tables if t.error_prefix} if isinstance(dest, IcebergDestination) else {}
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
            if check:
                stream._resolve_schema(conv)   # the Glue table must exist and parse
        if check:
            self._check_storable(stream, dest)

    def _check_storable(self, stream: "DeliveryStream", dest: Destination) -> None:
        """Prefix and ErrorOutputPrefix (and the backup's) must give keys the store can hold."""
        now = stream.clock.now_ms()
        store = store_for(stream.engine)
        layouts = [(dest.s3, self.prefixes)]
        if self.backup_prefixes is not None:
            layouts.append((dest.backup, self.backup_prefixes))
        sample = export.object_name(stream.name, 1, now, datetime.timezone.utc, ".parquet")
        for s3, layout in layouts:
            for prefix in (layout.data_prefix(now), layout.error_prefix(now, prefixes.FORMAT_CONVERSION_FAILED)):
                try:
                    store.path(s3.bucket, prefix + sample)
                except InvalidObjectKey as err:
                    raise InvalidArgumentException(f"The prefix {prefix!r} gives object keys that can't be "
                                                   f"stored: {err}") from None

    def fast_reader(self, schema: Optional[pa.Schema], mapping: dict) -> Optional[fastjson.FastReader]:
        """The C reader for these columns (None: none the core can take) and the simple query keys."""
        if schema is not None and not fastjson.FastReader.supports(schema):
            schema = None
        key = (schema, json.dumps(mapping, sort_keys=True), tuple(self.fast_key_names))
        if key != self._reader_key:
            self._reader = None
            for names in (self.fast_key_names, []):    # a key that is a non-string column: columns only
                if schema is None and not names:
                    break
                try:
                    self._reader = fastjson.FastReader(schema, mapping, names,
                                                       group_keys=bool(names) and self.key_members is not None)
                    break
                except ValueError:
                    continue
            self._reader_key = key
        return self._reader

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
    __slots__ = ("data", "arrival", "meta", "shard_id", "nbytes", "seq", "ahead")

    def __init__(self, data: pa.Array, arrival, meta=None, shard_id=None, nbytes=None):
        self.data = data
        self.seq = None               # durable streams: the first record's number in the log or Kinesis shard
        self.arrival = arrival        # int (ms, every record) or int64 ndarray
        self.meta = meta              # Kinesis RecordBatch or None
        self.shard_id = shard_id
        self.nbytes = export.value_bytes(data) if nbytes is None else nbytes
        self.ahead = None             # (reader, Future) of the C pass started while the chunk waits


class _Records:
    """One flush worth of records, aligned arrays.

    `data` is the records as one binary array, built from `chunks` (the buffer's arrays) the
    first time it is needed: the fast JSON path reads the chunks where they lie. `rows[i]` is
    the row of record i in the fast path's output (-1: left to the complete readers), once parsed."""

    __slots__ = ("chunks", "_data", "arrival", "meta", "shard_ids", "rows", "ahead")

    def __init__(self, data: Optional[pa.Array], arrival: np.ndarray, meta: Optional[pa.Table] = None,
                 shard_ids: Optional[np.ndarray] = None, chunks: Optional[list] = None,
                 rows: Optional[np.ndarray] = None, ahead: Optional[list] = None):
        self._data = data
        self.chunks = [data] if chunks is None else chunks
        self.ahead = ahead            # per chunk: (chunk array, reader, Future) or None, from _Chunk.ahead
        self.arrival = arrival
        self.meta = meta              # partition_key, data, sequence_number, approximate_arrival_timestamp
        self.shard_ids = shard_ids    # object array of shard ids (Kinesis source)
        self.rows = rows

    @property
    def data(self) -> pa.Array:
        if self._data is None:
            self._data = export.concat_binary(self.chunks)
            self.chunks = [self._data]
        return self._data

    def join(self) -> None:
        """Build `data` now, before threads share these records."""
        self.data

    @data.setter
    def data(self, value: pa.Array) -> None:
        self._data = value
        self.chunks = [value]
        self.rows = None

    def __len__(self):
        return len(self.arrival)

    def take(self, idx: np.ndarray) -> "_Records":
        if len(idx) == len(self) and (len(idx) == 0 or (idx[0] == 0 and np.all(np.diff(idx) == 1))):
            return self
        ia = pa.array(idx, pa.int64())
        return _Records(self.data.take(ia), self.arrival[idx], self.meta.take(ia) if self.meta is not None else None,
                        self.shard_ids[idx] if self.shard_ids is not None else None,
                        rows=self.rows[idx] if self.rows is not None else None)


def _combine(chunks: list[_Chunk]) -> _Records:
    arrival = np.concatenate([np.full(len(c.data), c.arrival, dtype=np.int64) if np.isscalar(c.arrival)
                              else np.asarray(c.arrival, dtype=np.int64) for c in chunks]) \
        if chunks else np.zeros(0, dtype=np.int64)
    meta = shard_ids = None
    if chunks and chunks[0].meta is not None:
        meta = pa.Table.from_batches([c.meta for c in chunks])   # zero-copy
        shard_ids = np.repeat(np.array([c.shard_id for c in chunks], dtype=object), [len(c.data) for c in chunks])
    data = None if chunks else pa.array([], pa.binary())
    return _Records(data, arrival, meta, shard_ids, chunks=[c.data for c in chunks],
                    ahead=[(c.data,) + c.ahead if c.ahead else None for c in chunks])


def _error_doc(records: _Records, i: int, code: str, message: str, attempts: int, ended_ms: int) -> dict:
    """One line of an error object, as AWS writes them (processing-failed and the others)."""
    return {"attemptsMade": attempts, "arrivalTimestamp": int(records.arrival[i]), "errorCode": code,
            "errorMessage": message, "attemptEndingTimestamp": ended_ms,
            "rawData": base64.b64encode(records.data[i].as_py() or b"").decode("ascii")}


# --- delivery work ---------------------------------------------------------------------
# A sealed buffer becomes a _Batch; a stream's worker turns it into units (object writes, an HTTP
# request) and attempts each. A failed unit waits for its retry on the engine clock (parked), then
# goes back to the worker; after its retry duration it goes to the error output. A batch stays
# "open" until every unit made from it has settled (delivered, written as an error, or counted as
# undeliverable): open batches are what backpressure counts.
class _Batch:
    __slots__ = ("chunks", "plan", "destination", "version", "open_units", "n_records", "marks")

    def __init__(self, chunks: list[_Chunk], plan: "_Plan", destination, version: int):
        self.chunks = chunks
        self.plan = plan                  # the configuration at seal time (update_destination may follow)
        self.destination = destination
        self.version = version
        self.open_units = 1               # its _Process job
        self.n_records = sum(len(c.data) for c in chunks)
        self.marks = None                 # durable streams: (lane, seq) of its chunks, settled together


class _Unit:
    """Work on the stream's worker that settles exactly once."""

    kind = "unit"
    max_interval_s = limits.FIREHOSE_S3_RETRY_INTERVAL_MAX_S

    def __init__(self, batch: _Batch, n_records: int, retry_s: float = 0.0):
        self.batch = batch
        self.n_records = n_records
        self.retry_s = retry_s
        self.attempts = 0
        self.first_failure: Optional[float] = None
        self.final = False                # one attempt, then the error output (close)
        self.timer = None
        self.settled = False

    def delay(self, elapsed: float) -> float:
        return max(min(2 ** (self.attempts - 1), self.max_interval_s, self.retry_s - elapsed), 1)

    def run(self, stream: "DeliveryStream") -> None:
        raise NotImplementedError   # pragma: no cover

    def give_up(self, stream: "DeliveryStream", code: str, message: str) -> None:
        raise NotImplementedError   # pragma: no cover

    def expire(self, stream: "DeliveryStream") -> None:
        """The drain time at close ran out before the worker reached this unit."""
        self.give_up(stream, CLOSE_TIMEOUT_CODE, CLOSE_TIMEOUT_MESSAGE)


CLOSE_TIMEOUT_CODE = "Engine.CloseDrainTimeout"
CLOSE_TIMEOUT_MESSAGE = "The delivery stream was closed before these records could be delivered."


class _Process(_Unit):
    """A sealed buffer: transform, partition, convert; then attempt the resulting units in order."""

    kind = "buffer"

    def __init__(self, batch: _Batch):
        super().__init__(batch, batch.n_records)

    def run(self, stream):
        units = stream._make_units(self.batch)
        self.batch.chunks = None          # the units hold what they need; the raw buffer can go
        stream._add_units(units)
        stream._settle(self)
        for unit in units:
            stream._run_unit(unit)

    def give_up(self, stream, code, message):
        records = _combine(self.batch.chunks)
        unit = stream._error_write(self.batch, records, np.arange(len(records)), stream._failure_type(self.batch),
                                   code, message, self.attempts or 1)
        stream._add_units([unit])
        stream._settle(self)
        unit.final = True
        unit.run(stream)


class _Write(_Unit):
    """One S3 object: data, error documents, or a backup copy."""

    DATA, ERROR, BACKUP = "data", "error", "backup"

    def __init__(self, batch, kind: str, dest: S3Destination, key: str, payload, n_records: int, retry_s: float,
                 records: Optional[_Records] = None, idx: Optional[np.ndarray] = None, error_type: str = ""):
        super().__init__(batch, n_records, retry_s)
        self.kind = kind
        self.dest = dest
        self.key = key
        self.payload = payload            # bytes or pyarrow Buffer, complete before the first attempt
        self.records = records            # data writes: the records it holds, for the error output
        self.idx = idx
        self.error_type = error_type

    def run(self, stream):
        self.attempts += 1
        try:
            stream._store().put(self.dest.bucket, self.key, self.payload)
        except Exception as err:  # noqa: BLE001 - any storage failure is a destination failure
            stream._failed(self, "S3.WriteFailed", f"{type(err).__name__}: {err}")
            return
        stream._written(self)

    def give_up(self, stream, code, message):
        if self.kind == _Write.DATA:
            fallback = stream._error_write(self.batch, self.records, self.idx, S3_FAILED, code, message,
                                           self.attempts)
            stream._replace(self, fallback)
        else:
            stream._undeliverable(self, code, message)

    def expire(self, stream):
        if self.kind == _Write.DATA:
            super().expire(stream)
        else:              # an error or backup object has no other place to go: one last attempt
            self.final = True
            stream._run_unit(self)


class _HttpDelivery(_Unit):
    """One batch on its way to an HTTP endpoint; the request id stays the same across retries."""

    kind = "http"
    max_interval_s = limits.FIREHOSE_HTTP_RETRY_INTERVAL_MAX_S

    def __init__(self, batch, dest: HttpEndpoint, records: _Records):
        super().__init__(batch, len(records), dest.retry_s)
        self.dest = dest
        self.records = records
        self.request_id = str(uuid.uuid4())
        self.b64 = export.base64_list(records.data)

    def run(self, stream):
        self.attempts += 1
        dest = self.dest
        from . import httpdest     # HTTP endpoints only: http.client, ssl and email load on first use

        outcome = httpdest.post(
            dest.url, request_id=self.request_id, timestamp_ms=stream.clock.now_ms(), records_b64=self.b64,
            source_arn=stream.arn, access_key=dest.access_key, common_attributes=dest.common_attributes,
            gzip_body=dest.content_encoding == "GZIP", timeout=stream._http_timeout(),
            ssl_context=stream.backend.ssl_context)
        if outcome.ok:
            stream._written(self)
        else:
            stream._failed(self, outcome.code, outcome.message)

    def give_up(self, stream, code, message):
        fallback = stream._error_write(self.batch, self.records, np.arange(len(self.records)),
                                       prefixes.HTTP_ENDPOINT_FAILED, code, message, self.attempts)
        stream._replace(self, fallback)


class _IcebergCommit(_Unit):
    """One table's share of a buffer: one atomic Iceberg commit (engine/firehose/iceberg.py)."""

    kind = "iceberg"

    def __init__(self, batch, dest: "IcebergDestination", database: str, table: str, records: _Records,
                 operations: Optional[np.ndarray]):
        super().__init__(batch, len(records), dest.retry_s)
        self.dest = dest
        self.database = database
        self.table = table
        self.records = records
        self.operations = operations      # None: all inserts; else an object array of insert/update/delete

    def run(self, stream):
        from . import iceberg

        self.attempts += 1
        try:
            rejected = iceberg.commit(stream.engine, stream.backend.iceberg_catalog(self.dest.catalog_arn),
                                      self.dest, self.database, self.table, self.records.data, self.operations,
                                      lambda schema: stream._json_rows(self.batch.plan, self.records, schema))
        except iceberg.CommitError as err:
            stream._failed(self, err.code, err.message)
            return
        if rejected:
            docs_unit = stream._iceberg_rejected(self, rejected)
            stream._add_units([docs_unit])
            self.n_records -= len(rejected)
            stream._written(self)
            docs_unit.run(stream)
        else:
            stream._written(self)

    def give_up(self, stream, code, message):
        fallback = stream._error_write(self.batch, self.records, np.arange(len(self.records)), ICEBERG_FAILED,
                                       code, message, self.attempts, self.error_layout())
        stream._replace(self, fallback)

    def error_layout(self):
        return self.batch.plan.table_error_prefixes.get((self.database, self.table))


S3_FAILED = "s3-failed"      # engine's error-output-type for objects S3 refused for the whole retry duration
DEAGGREGATION_FAILED_CODE = "RecordDeAggregation.Failed"
ICEBERG_FAILED = "iceberg-failed"    # records Iceberg delivery could not route, convert or commit


# --- delivery stream ---------------------------------------------------------------------
class DeliveryStream:
    def __init__(self, backend: "FirehoseBackend", name: str, stream_type: str, destination: Destination,
                 source: Optional[KinesisSource], encryption: Encryption, tags: dict, disk=None,
                 restored: bool = False):
        self.backend = backend
        self._disk = disk             # durable engines: the stream's files (engine/firehose/store.py)
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
        self.direct_put_throughput_mb: Optional[int] = None     # DirectPutSourceConfiguration
        self.stats = {"delivered_records": 0, "delivered_objects": 0, "failed_records": 0, "dropped_records": 0,
                      "retried_attempts": 0, "undeliverable_records": 0, "expired_at_close_records": 0,
                      "in_flight_at_close_records": 0}
        if disk is not None:   # (restored before anything is delivered: counts go on from there)
            self.stats.update((name, n) for name, n in disk.stats.items() if name in self.stats)
        self._count_lock = threading.Lock()       # counts written (durable) and added in one order
        # One lock orders puts, seals and close: a put either lands in a buffer before the seal that
        # close makes, or sees the stream closed and is refused; nothing is left in a buffer no one seals.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._poll_lock = threading.Lock()        # one Kinesis read at a time; close reads last
        self._chunks: list[_Chunk] = []
        self._bytes = 0
        self._timer = None
        self._poll_timer = None
        self._positions: dict[int, int] = {}
        # Delivery runs on one worker thread per stream, started when a buffer is sealed and ended
        # when the queue is empty: a stream's deliveries stay in order, a slow destination holds only
        # its own stream's thread (never a put, never another stream), and idle streams hold none.
        self._queue: deque = deque()
        self._worker = False
        self._current: Optional[_Unit] = None
        self._parked: set = set()                 # units waiting for a retry timer
        self._open_batches = 0
        self._closed = False
        self._closed_error: Optional[Exception] = None
        self._final = False                       # closing: failures go to the error output at once
        self._drain_deadline: Optional[float] = None
        # With a ManualClock, a timer's deliveries finish before advance() returns, so tests step
        # through time deterministically; with real time the timer thread only hands work off.
        self._sync_timers = isinstance(self.clock, ManualClock)
        self._window = (0, 0, 0)                   # second, records, bytes (enforce_limits)
        self._plan = _Plan(self, destination, check=not restored)
        if source is not None:
            self._start_source()
        self.status = "ACTIVE"

    # --- native API ------------------------------------------------------------------
    def put_batch(self, records) -> int:
        """Buffer records (list of bytes/str, numpy array, or pyarrow binary/string array).

        Never waits on the destination. Raises ServiceUnavailableException while the stream has
        FIREHOSE_PENDING_BUFFERS_MAX sealed buffers undelivered, ResourceNotFoundException once the
        stream is deleted."""
        if self.source is not None:
            raise InvalidArgumentException("This operation is not permitted on KinesisStreamAsSource delivery "
                                           "stream type.")
        try:
            arr = export.as_binary_array(records)
        except (TypeError, ValueError, pa.ArrowException) as err:
            raise InvalidArgumentException(f"Records must be bytes or strings: {err}") from None
        if len(arr) == 0:
            return 0
        if arr.null_count:
            raise InvalidArgumentException("Record data must not be null.")
        sizes = np.diff(export.offsets(arr))
        if sizes.max() > limits.FIREHOSE_RECORD_MAX:
            raise InvalidArgumentException(f"A record is larger than {limits.FIREHOSE_RECORD_MAX} bytes.")
        self._append(_Chunk(arr, self.clock.now_ms()), accepting=True)
        return len(arr)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Deliver everything buffered now (a Kinesis source is read up to its tip first) and wait
        until each sealed buffer has had its delivery attempt. Failed writes keep waiting for their
        retry on the engine clock. Returns False if `timeout` (wall seconds) ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            more = self._poll() if self.source is not None else False
            with self._lock:
                self._seal_locked()
            if not self._wait_idle(deadline):
                return False
            if not more:
                return True

    def drain(self, timeout: Optional[float] = None) -> bool:
        """Wait until the worker has nothing queued or running (what is buffered stays buffered)."""
        return self._wait_idle(None if timeout is None else time.monotonic() + timeout)

    def read_source(self) -> bool:
        """Read what the Kinesis source holds into the buffer now, as the poll timer does (full
        buffers are sealed and handed to the worker). True when it stopped early because the
        stream has pending_buffers_max buffers undelivered, leaving records in Kinesis: call
        wait_for_room(), then read again. A producer that reads right after each put can let
        Kinesis drop what was read (a memory cap) without losing a record."""
        if self.source is None:
            raise InvalidArgumentException("This delivery stream has no Kinesis source.")
        return self._poll()

    def wait_for_room(self, timeout: Optional[float] = None) -> bool:
        """Wait until fewer than pending_buffers_max sealed buffers are undelivered (False if
        `timeout` wall seconds ran out first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._open_batches >= self.backend.pending_buffers_max:
                if not self._worker and self._queue:
                    self._lock.release()      # no worker thread could start: deliver here
                    try:
                        self._wait_idle(deadline)
                    finally:
                        self._lock.acquire()
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    @property
    def buffered_records(self) -> int:
        with self._lock:
            return sum(len(c.data) for c in self._chunks)

    @property
    def pending_buffers(self) -> int:
        """Sealed buffers not yet settled (queued, being delivered, or waiting for a retry)."""
        return self._open_batches

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

    def put_request(self, records: list[bytes]) -> int:
        """A PutRecord(Batch) request: at most FIREHOSE_BATCH_BYTES_MAX in all, DirectPut only, as
        many as this second's quota admits (in order). Returns how many were accepted."""
        total = sum(map(len, records))
        if total > limits.FIREHOSE_BATCH_BYTES_MAX:
            raise InvalidArgumentException(
                f"Records size exceeds {limits.FIREHOSE_BATCH_BYTES_MAX} bytes limit: {total} bytes. A PutRecordBatch "
                f"request can carry up to {limits.FIREHOSE_BATCH_RECORDS_MAX} records or 4 MiB.")
        if self.type != "DirectPut":
            raise InvalidArgumentException(f"This operation is not permitted on {self.type} delivery stream type.")
        accepted = self.admit([len(r) for r in records])
        if accepted:
            self.put_batch(records[:accepted] if accepted < len(records) else records)
        return accepted

    # --- tags and encryption ----------------------------------------------------------
    def tag(self, tags: dict) -> None:
        merged = {**self.tags, **tags}
        if len(merged) > limits.FIREHOSE_TAGS_MAX:
            raise LimitExceededException(
                f"Firehose {self.name} would have {len(merged)} tags; the limit is {limits.FIREHOSE_TAGS_MAX}.")
        self.tags = merged
        self._save_config()

    def untag(self, keys) -> None:
        self.tags = {k: v for k, v in self.tags.items() if k not in set(keys)}
        self._save_config()

    def _save_config(self) -> None:
        if self._disk is not None:
            self._disk.save_config(self)

    def tags_page(self, start_after: Optional[str], limit: int) -> tuple[list[tuple[str, str]], bool]:
        """Tags in key order after `start_after`, at most `limit`; and whether more follow."""
        keys = sorted(k for k in self.tags if start_after is None or k > start_after)
        return [(k, self.tags[k]) for k in keys[:limit]], len(keys) > limit

    def start_encryption(self, encryption: Encryption) -> None:
        self._check_encryptable()
        encryption.check()
        self.encryption = encryption
        self._save_config()

    def stop_encryption(self) -> None:
        self._check_encryptable()
        self.encryption = Encryption("DISABLED")
        self._save_config()

    def _check_encryptable(self) -> None:
        if self.type == "KinesisStreamAsSource":
            raise InvalidArgumentException("Encryption is not supported for delivery streams with "
                                           "KinesisStreamAsSource as source.")

    # --- buffering ---------------------------------------------------------------------
    def _append(self, chunk: _Chunk, accepting: bool) -> None:
        """Add to the buffer; seal it when full. `accepting`: a put, refused when closed or behind."""
        hints = self.destination.buffering
        ticket = None
        with self._lock:
            if accepting:
                if self._closed:
                    raise self._closed_error
                if self._open_batches >= self.backend.pending_buffers_max:
                    raise ServiceUnavailableException(
                        f"Firehose {self.name} has {self._open_batches} buffers waiting for delivery. Slow down.")
                if self._disk is not None:
                    ticket = self._disk.write(chunk)
            self._chunks.append(chunk)
            self._bytes += chunk.nbytes
            if self._bytes >= hints.size_mb * MiB:
                self._seal_locked()
            elif self._timer is None and not self._closed:
                self._timer = self.clock.call_later(hints.interval_s, self._on_interval)
        if ticket is not None:
            self._disk.commit(ticket)   # fsync mode: group commit with concurrent puts
        self._parse_ahead(chunk)

    def _parse_ahead(self, chunk: _Chunk) -> None:
        """Start the C pass over a large chunk now, on background threads, when its records will
        reach the buffer's parse as they are (no deaggregation or Lambda step before it)."""
        plan = self._plan
        if not limits.FIREHOSE_PARSE_AHEAD_MIN_BYTES <= chunk.nbytes < 2**31 or plan.deaggregation is not None or \
                plan.lambda_proc is not None or chunk.data.null_count:
            return
        try:
            reader = self._fast_reader(plan)
        except Exception:  # noqa: BLE001 - never the put's failure: the buffer's own parse decides
            return
        future = fastjson.parse_ahead(reader, chunk.data) if reader is not None else None
        if future is not None:
            chunk.ahead = (reader, future)

    def _seal_locked(self) -> None:
        """Hand the buffer to the worker (self._lock held)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._chunks:
            return
        batch = _Batch(self._chunks, self._plan, self.destination, self.version)
        if self._disk is not None:
            batch.marks = [(c.shard_id, c.seq) for c in self._chunks]
        self._chunks, self._bytes = [], 0
        self._open_batches += 1
        self._queue.append(_Process(batch))
        self._start_worker_locked()

    def _on_interval(self) -> None:
        with self._lock:
            self._timer = None
        if self.source is not None:
            self._poll()
        with self._lock:
            self._seal_locked()
        self._after_timer()

    def _after_timer(self) -> None:
        if self._sync_timers:
            self._wait_idle(None)

    # --- worker --------------------------------------------------------------------------
    def _start_worker_locked(self) -> None:
        if not self._worker and self._queue:
            self._worker = True
            try:
                threading.Thread(target=self._work, name=f"engine-firehose-{self.name}", daemon=True).start()
            except RuntimeError:   # no new threads at interpreter shutdown: _wait_idle runs the queue
                self._worker = False

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._worker = False
                    self._idle.notify_all()
                    return
                unit = self._current = self._queue.popleft()
            self._run_unit(unit)
            with self._lock:
                self._current = None

    def _run_unit(self, unit: _Unit) -> None:
        try:
            unit.run(self)
        except BaseException:  # noqa: BLE001 - a bug in delivery must not leave the unit's records unaccounted
            log.exception("Firehose %s: delivery of %d records failed", self.name, unit.n_records)
            if not unit.settled:
                self._undeliverable(unit, "Engine.InternalError", "delivery raised an unexpected error")

    def _wait_idle(self, deadline: Optional[float]) -> bool:
        with self._lock:
            while self._worker or self._queue:
                if not self._worker:          # no worker thread could start: deliver in this thread
                    self._worker = True
                    self._lock.release()
                    try:
                        self._work()
                    finally:
                        self._lock.acquire()
                    continue
                if deadline is None:
                    self._idle.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    # --- unit bookkeeping -------------------------------------------------------------
    def _add_units(self, units: list[_Unit]) -> None:
        with self._lock:
            for unit in units:
                unit.batch.open_units += 1
                unit.final = unit.final or self._final

    def _settle(self, unit: _Unit) -> None:
        with self._lock:
            if unit.settled:
                return
            unit.settled = True
            unit.batch.open_units -= 1
            done = unit.batch.open_units == 0
            if done:
                self._open_batches -= 1
                self._idle.notify_all()       # wait_for_room
        if done and self._disk is not None:
            self._disk.settled(unit.batch.marks, self._positions)

    def _count(self, **counts: int) -> None:
        """Add to the stream's counters. A durable stream writes the new counts beside its
        checkpoint before they are added, so a count once read is never lower after a crash."""
        if not any(counts.values()):
            return
        with self._count_lock:
            if self._disk is not None:
                self._disk.save_stats({name: n + counts.get(name, 0) for name, n in self.stats.items()})
            for name, n in counts.items():
                self.stats[name] += n

    def _written(self, unit: _Unit) -> None:
        if isinstance(unit, _Write) and unit.kind == _Write.ERROR:
            self._count(failed_records=unit.n_records)
        elif unit.kind in (_Write.DATA, "http", "iceberg"):
            self._count(delivered_records=unit.n_records, delivered_objects=int(unit.kind == _Write.DATA))
        self._settle(unit)

    def _replace(self, unit: _Unit, fallback: _Unit) -> None:
        """`unit` gave up; `fallback` (its error output) takes its records."""
        self._add_units([fallback])
        self._settle(unit)
        fallback.run(self)

    def _undeliverable(self, unit: _Unit, code: str, message: str) -> None:
        self._count(undeliverable_records=unit.n_records)
        log.error("Firehose %s: %d records could not be written to any output (%s %s: %s: %s)", self.name,
                  unit.n_records, unit.kind, getattr(unit, "key", ""), code, message)
        self._settle(unit)

    def _failed(self, unit: _Unit, code: str, message: str) -> None:
        """A unit's attempt failed: retry it on the engine clock, or give up after its duration."""
        now = self.clock.now()
        if unit.first_failure is None:
            unit.first_failure = now
        elapsed = now - unit.first_failure
        with self._lock:
            retry = not (unit.final or self._final) and elapsed < unit.retry_s
            if retry:
                unit.timer = self.clock.call_later(unit.delay(elapsed), lambda: self._retry(unit))
                self._parked.add(unit)
        if retry:
            self._count(retried_attempts=1)
        else:
            unit.give_up(self, code, message)

    def _retry(self, unit: _Unit) -> None:
        with self._lock:
            if unit not in self._parked:
                return           # moved to the queue by close
            self._parked.discard(unit)
            unit.timer = None
            self._queue.append(unit)
            self._start_worker_locked()
        self._after_timer()

    def _http_timeout(self) -> float:
        if self._drain_deadline is None:
            return self.backend.http_timeout
        return max(0.1, min(self.backend.http_timeout, self._drain_deadline - time.monotonic()))

    # --- Kinesis source ----------------------------------------------------------------
    def _kinesis_stream(self):
        info = parse_arn(self.source.stream_arn)
        kbackend = self.engine.backend("kinesis", info["region"])
        return kbackend.stream_by_arn(self.source.stream_arn)

    def _start_source(self) -> None:
        if self._disk is not None and self._disk.source_positions is not None:   # restored: from the checkpoint
            self._positions = dict(self._disk.source_positions)
            self._poll_timer = self.clock.call_later(limits.FIREHOSE_KINESIS_POLL_INTERVAL_S, self._poll_tick)
            return
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
        if self._disk is not None:
            self._disk.start_source(self._positions)
        self._poll_timer = self.clock.call_later(limits.FIREHOSE_KINESIS_POLL_INTERVAL_S, self._poll_tick)

    def _poll_tick(self) -> None:
        if self._closed:
            return
        try:
            self._poll()
        finally:
            with self._lock:
                if not self._closed:
                    self._poll_timer = self.clock.call_later(limits.FIREHOSE_KINESIS_POLL_INTERVAL_S,
                                                             self._poll_tick)
        self._after_timer()

    def _poll(self, final: bool = False) -> bool:
        """Read what the source holds into the buffer. Stops early (and returns True) while the
        stream has its maximum of sealed buffers pending, leaving the records in Kinesis;
        `final` (close) reads to the tip whatever is pending."""
        with self._poll_lock:
            if self._closed:
                return False
            try:
                stream = self._kinesis_stream()
            except ResourceNotFoundException:
                return False   # the source stream is gone; nothing more to read
            for shard in list(stream.shards):
                while True:   # read returns up to one chunk of the shard's log per call
                    if not final and self._open_batches >= self.backend.pending_buffers_max:
                        return True
                    batch = stream.read(shard.index, start_seq=self._positions.get(shard.index))
                    if batch.num_rows == 0:
                        break
                    seqs = batch.column("sequence_number")
                    first, last = int(seqs[0].as_py()), int(seqs[batch.num_rows - 1].as_py())
                    if stream.may_hold_aggregates:
                        batch = source_user_records(batch)    # KPL aggregates: their user records
                    arrival = batch.column("approximate_arrival_timestamp").cast(pa.int64())
                    arrival = arrival.to_numpy(zero_copy_only=arrival.null_count == 0)
                    chunk = _Chunk(batch.column("data"), arrival, batch, shard.shard_id)
                    if self._disk is not None:   # open before the read position passes it
                        self._disk.took(chunk, first)
                    self._positions[shard.index] = last + 1
                    self._append(chunk, accepting=False)
            return False

    # --- turning a buffer into units ------------------------------------------------------
    def _store(self):
        return store_for(self.engine)

    def _failure_type(self, batch: _Batch) -> str:
        if isinstance(batch.destination, IcebergDestination):
            return ICEBERG_FAILED
        return prefixes.HTTP_ENDPOINT_FAILED if isinstance(batch.destination, HttpEndpoint) else S3_FAILED

    def _make_units(self, batch: _Batch) -> list[_Unit]:
        """The writes and requests that deliver `batch`; never raises: a failure in a step sends the
        records it concerns to the error output, and an unexpected one sends the whole buffer."""
        records = _combine(batch.chunks)
        try:
            if isinstance(batch.destination, HttpEndpoint):
                return self._http_units(batch, records)
            if isinstance(batch.destination, IcebergDestination):
                return self._iceberg_units(batch, records)
            return self._s3_units(batch, records)
        except Exception as err:  # noqa: BLE001 - isolate the failure to this buffer, never lose it
            log.exception("Firehose %s: processing %d records failed", self.name, len(records))
            return [self._error_write(batch, records, np.arange(len(records)), prefixes.PROCESSING_FAILED,
                                      "Engine.ProcessingFailed", f"{type(err).__name__}: {err}", 1)]

    def _object_key(self, prefix: str, oldest_ms: int, dest: S3Destination, extension: str, version: int) -> str:
        tz = prefixes.timezone(dest.custom_time_zone)
        ext = dest.file_extension if dest.file_extension else extension
        return prefix + export.object_name(self.name, version, oldest_ms, tz, ext)

    def _s3_retry_s(self, batch: _Batch) -> float:
        dest = batch.destination
        if isinstance(dest, ExtendedS3) and dest.dynamic_partitioning:
            return dest.dynamic_partitioning_retry_s if dest.dynamic_partitioning_retry_s is not None \
                else limits.FIREHOSE_DP_RETRY_DURATION_DEFAULT_S
        return self.backend.s3_retry_s

    def _error_write(self, batch: _Batch, records: _Records, idx: np.ndarray, error_type: str, code: str,
                     message: str, attempts: int, layout: Optional[prefixes.Prefixes] = None) -> _Write:
        """Error documents for records[idx] under the destination's ErrorOutputPrefix (or `layout`'s)."""
        now = self.clock.now_ms()
        return self._docs_write(batch, error_type, [_error_doc(records, int(i), code, message, attempts, now)
                                                    for i in idx], layout)

    def _iceberg_rejected(self, unit: "_IcebergCommit", rejected: dict) -> _Write:
        """Error documents for the records of a commit that the table could not take ({i: (code, message)})."""
        now = self.clock.now_ms()
        docs = []
        for i, (code, message) in sorted(rejected.items()):
            doc = _error_doc(unit.records, i, code, message, unit.attempts, now)
            doc["destinationDatabaseName"], doc["destinationTableName"] = unit.database, unit.table
            docs.append(doc)
        return self._docs_write(unit.batch, ICEBERG_FAILED, docs, unit.error_layout())

    def _docs_write(self, batch: _Batch, error_type: str, docs: list[dict],
                    layout: Optional[prefixes.Prefixes] = None) -> _Write:
        """One error object holding `docs` (AWS's error documents, one JSON line each), under the
        ErrorOutputPrefix of `layout` (default: the destination's)."""
        s3 = batch.destination.s3
        oldest = min(d["arrivalTimestamp"] for d in docs)
        key = self._object_key((layout or batch.plan.prefixes).error_prefix(oldest, error_type), oldest, s3,
                               export.compression_extension(s3.compression), batch.version)
        body = "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs).encode("utf-8")
        payload = export.compress(body, s3.compression, inner_name=key.rsplit("/", 1)[-1])
        return _Write(batch, _Write.ERROR, s3, key, payload, len(docs), self.backend.s3_retry_s,
                      error_type=error_type)

    def _raw_write(self, batch: _Batch, kind: str, dest: S3Destination, prefix: str, records: _Records,
                   idx: Optional[np.ndarray], retry_s: float) -> _Write:
        part = records if idx is None else records.take(idx)
        oldest = int(part.arrival.min())
        key = self._object_key(prefix, oldest, dest, export.compression_extension(dest.compression), batch.version)
        payload = export.compress(export.concatenated(part.data), dest.compression,
                                  inner_name=key.rsplit("/", 1)[-1])
        return _Write(batch, kind, dest, key, payload, len(part), retry_s, records,
                      np.arange(len(records)) if idx is None else idx)

    def _deaggregate(self, batch: _Batch, records: _Records) -> tuple[_Records, list[_Unit]]:
        """The RecordDeAggregation processor (before the Lambda step, as AWS orders them): each
        record's sub-records become records of their own; one that can't be split goes to
        processing-failed."""
        proc = batch.plan.deaggregation
        if proc is None:
            return records, []
        from .transform import split_sub_records

        pieces, sources, failed = split_sub_records(records.data, proc.parameters.get("SubRecordType", "JSON"),
                                                    proc.parameters.get("Delimiter"))
        writes = []
        if len(failed):
            writes.append(self._error_write(
                batch, records, failed, prefixes.PROCESSING_FAILED, DEAGGREGATION_FAILED_CODE,
                f"The record could not be split into sub-records of type {proc.parameters.get('SubRecordType', 'JSON')}"
                f" (at most {limits.FIREHOSE_SUB_RECORDS_MAX} per record).", 1))
        parts = records.take(sources)
        split = _Records(pieces, parts.arrival, parts.meta, parts.shard_ids)
        if split.meta is not None:
            split.meta = split.meta.set_column(split.meta.schema.get_field_index("data"), "data",
                                               pieces.cast(split.meta.schema.field("data").type))
        return split, writes

    def _transform(self, batch: _Batch, records: _Records, with_otf: bool = False):
        """Lambda step -> (records that are Ok with their new data, lambda keys, processing-failed writes)
        and, `with_otf`, the otfMetadata the function returned per Ok record (or None)."""
        plan = batch.plan
        if plan.lambda_proc is None:
            return (records, None, [], None) if with_otf else (records, None, [])
        params = plan.lambda_proc.parameters
        kinesis = None
        if records.meta is not None:
            kinesis = {"stream_arn": self.source.stream_arn, "shard_id": records.shard_ids,
                       "partition_key": records.meta.column("partition_key").to_pylist(),
                       "sequence_number": records.meta.column("sequence_number").to_pylist()}
        buffer_mb = float(params.get("BufferSizeInMBs", limits.FIREHOSE_LAMBDA_BUFFER_DEFAULT_MB))
        from .transform import run_lambda

        result = run_lambda(self.engine, arn=params["LambdaArn"],
                            retries=int(params.get("NumberOfRetries", limits.FIREHOSE_LAMBDA_RETRIES)),
                            buffer_bytes=int(buffer_mb * MiB), stream_arn=self.arn, region=self.backend.region,
                            data=records.data, arrival_ms=records.arrival, kinesis=kinesis)
        writes = []
        if result.failed:
            arn = params.get("LambdaArn")
            docs = []
            for f in result.failed:
                doc = _error_doc(records, f.index, f.code, f.message, f.attempts, f.ended_ms)
                doc["lambdaArn"] = arn
                docs.append(doc)
            writes.append(self._docs_write(batch, prefixes.PROCESSING_FAILED, docs))
        self._count(dropped_records=result.dropped)
        ok = records.take(result.ok_index)
        ok = _Records(result.data, ok.arrival, ok.meta, ok.shard_ids)
        if ok.meta is not None:
            ok.meta = ok.meta.set_column(ok.meta.schema.get_field_index("data"), "data",
                                         result.data.cast(ok.meta.schema.field("data").type))
        if with_otf:
            return ok, result.lambda_keys, writes, result.otf_metadata
        return ok, result.lambda_keys, writes

    def _backup_and_deaggregate(self, batch: _Batch, dest, records: _Records) -> tuple[_Records, list[_Unit]]:
        """The first steps of an HTTP or Iceberg delivery: the AllData backup of the source records,
        then RecordDeAggregation (records it can't split become failure units)."""
        units: list[_Unit] = []
        if dest.backup_mode == "AllData":
            oldest = int(records.arrival.min())
            units.append(self._raw_write(batch, _Write.BACKUP, dest.s3, batch.plan.prefixes.data_prefix(oldest),
                                         records, None, self.backend.s3_retry_s))
        records, units_failed = self._deaggregate(batch, records)
        return records, units + units_failed

    def _http_units(self, batch: _Batch, records: _Records) -> list[_Unit]:
        dest: HttpEndpoint = batch.destination
        if len(records) == 0:
            return []
        records, units = self._backup_and_deaggregate(batch, dest, records)
        records, _keys, failed = self._transform(batch, records)
        units += failed
        if len(records):
            units.append(_HttpDelivery(batch, dest, records))
        return units

    def _iceberg_units(self, batch: _Batch, records: _Records) -> list[_Unit]:
        """Backup (AllData), transformation, routing to tables, then one commit unit per table."""
        from . import iceberg   # pyiceberg loads with the first Iceberg delivery

        dest: IcebergDestination = batch.destination
        if len(records) == 0:
            return []
        records, units = self._backup_and_deaggregate(batch, dest, records)
        records, _keys, failed, otf = self._transform(batch, records, with_otf=True)
        units += failed
        if len(records) == 0:
            return units
        routes, unrouted = iceberg.route(dest, batch.plan.queries, records.data, otf)
        if unrouted:
            now = self.clock.now_ms()
            units.append(self._docs_write(batch, ICEBERG_FAILED, [
                _error_doc(records, i, code, message, 1, now) for i, (code, message) in sorted(unrouted.items())]))
        for (database, table), (idx, operations) in routes.items():
            part = records.take(idx)
            units.append(_IcebergCommit(batch, dest, database, table, part, operations))
        return units

    def _s3_units(self, batch: _Batch, records: _Records) -> list[_Unit]:
        plan = batch.plan
        dest: ExtendedS3 = batch.destination
        s3 = dest.s3
        if len(records) == 0:
            return []
        units: list[_Unit] = []
        if plan.backup_prefixes is not None:
            oldest = int(records.arrival.min())
            units.append(self._raw_write(batch, _Write.BACKUP, dest.backup,
                                         plan.backup_prefixes.data_prefix(oldest), records, None,
                                         self.backend.s3_retry_s))
        records, units_failed = self._deaggregate(batch, records)
        units += units_failed
        records, lambda_keys, failed = self._transform(batch, records)
        units += failed
        if len(records) == 0:
            return units
        if plan.delimiter and plan.conversion is None:
            t = records.data.type
            records.data = pc.binary_join_element_wise(records.data, pa.scalar(b"", t), pa.scalar(plan.delimiter, t))

        parsed = self._parse_fast(plan, records)
        groups = [(None, np.arange(len(records), dtype=np.int64))]
        partitioning_failed: list[dict] = []      # one error object per buffer, as AWS writes them
        if plan.dynamic and (grouped := self._groups_parsed(plan, parsed)) is not None:
            groups = grouped
        elif plan.dynamic:
            keys, ok, why = self._partition_keys(plan, records, lambda_keys, parsed)
            if not ok.all():
                bad = np.flatnonzero(~ok)
                now = self.clock.now_ms()
                partitioning_failed += [_error_doc(records, int(i), "DynamicPartitioning.MetadataExtractionFailed",
                                                   why, 1, now) for i in bad]
                good = np.flatnonzero(ok)
                ia = pa.array(good, pa.int64())
                keys = {k: v.take(ia) for k, v in keys.items()}
                records = records.take(good)
            groups = export.group_indices(keys, list(dict.fromkeys(plan.key_names)))

        table = None
        if plan.conversion is not None and len(records):
            table, good, failed_write = self._convert(batch, records, parsed)
            if failed_write is not None:
                units.append(failed_write)
            if table is None or len(good) == 0:
                groups = []
            elif len(good) != len(records):
                # regroup: positions in `records` -> positions in the converted table
                where = np.full(len(records), -1, dtype=np.int64)
                where[good] = np.arange(len(good), dtype=np.int64)
                groups = [(values, where[idx][where[idx] >= 0]) for values, idx in groups]
                groups = [(values, idx) for values, idx in groups if len(idx)]
                records = records.take(good)

        retry_s = self._s3_retry_s(batch)
        query_names = set(plan.query_keys)
        objects = []
        for values, idx in groups:
            arrival = records.arrival[idx]
            oldest = int(arrival.min())
            qk = {k: v for k, v in (values or {}).items() if k in query_names}
            lk = {k: v for k, v in (values or {}).items() if k in plan.lambda_keys}
            prefix = plan.prefixes.data_prefix(oldest, qk, lk)
            if table is not None:
                key = self._object_key(prefix, oldest, s3, plan.format.extension, batch.version)
            else:
                key = self._object_key(prefix, oldest, s3, export.compression_extension(s3.compression),
                                       batch.version)
            if values is not None:
                problem = self._key_problem(s3.bucket, prefix, key)
                if problem is not None:
                    now = self.clock.now_ms()
                    partitioning_failed += [_error_doc(records, int(i), "DynamicPartitioning.InvalidPartitionKey",
                                                       problem, 1, now) for i in idx]
                    continue
            objects.append((prefix, key, idx))
        # Objects are encoded (Parquet, compression) on every core, the largest first; pyarrow and
        # zlib release the GIL.
        if table is None:
            records.join()
            units += fastjson.parallel_map(
                lambda o: self._raw_write(batch, _Write.DATA, s3, o[0], records, o[2], retry_s), objects,
                cost=lambda o: len(o[2]))
        else:
            units += fastjson.parallel_map(
                lambda o: self._columnar_write(batch, s3, o[1], table, records, o[2], retry_s), objects,
                cost=lambda o: len(o[2]))
        if partitioning_failed:
            units.append(self._docs_write(batch, PARTITIONING_FAILED, partitioning_failed))
        return units

    def _columnar_write(self, batch: _Batch, s3: S3Destination, key: str, table: pa.Table, records: _Records,
                        idx: np.ndarray, retry_s: float) -> _Unit:
        """One Parquet/ORC object of table rows `idx` (the records of the same positions)."""
        try:
            sink = pa.BufferOutputStream()
            batch.plan.format.write(export.rows_of(table, idx), sink)
            payload = sink.getvalue()
        except Exception as err:  # noqa: BLE001 - the rows could not be written in the format
            return self._conversion_failed(batch, records, idx, "DataFormatConversion.WriteFailed",
                                           f"{type(err).__name__}: {err}")
        return _Write(batch, _Write.DATA, s3, key, payload, len(idx), retry_s, records, idx)

    def _parse_fast(self, plan: _Plan, records: _Records) -> Optional[fastjson.Parsed]:
        """The C pass over the buffer's records for the JSON conversion's columns and the simple
        query keys (records.rows says which records it took), or None when it can take neither."""
        if any(c.null_count for c in records.chunks):
            return None
        reader = self._fast_reader(plan)
        if reader is None:
            return None
        ahead = None
        if records.ahead is not None and len(records.ahead) == len(records.chunks):
            # what was started for these very arrays with this very reader
            ahead = [a[2] if a is not None and a[0] is c and a[1] is reader else None
                     for a, c in zip(records.ahead, records.chunks)]
        parsed = reader.read(records.chunks, ahead)
        records.rows = parsed.row_of
        return parsed

    def _fast_reader(self, plan: _Plan) -> Optional[fastjson.FastReader]:
        """The C reader for the conversion's columns and the simple query keys, or None."""
        schema, mapping = None, {}
        conv = plan.conversion
        if conv is not None:
            try:
                resolved, kind, _table = self._resolve_schema(conv)
            except InvalidArgumentException:
                resolved, kind = None, None        # _convert sends the buffer to the error output
            if kind == "json":
                converter = plan.converter(resolved, conv)
                if converter.fast:
                    schema, mapping = resolved, converter.key_mapping
        return plan.fast_reader(schema, mapping) if (schema is not None or plan.dynamic) else None

    def _key_problem(self, bucket: str, prefix: str, key: str) -> Optional[str]:
        """Why an object key built from partition keys can't name an S3 object, or None."""
        if "\0" in prefix:
            return "The evaluated prefix contains a NUL character."
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            return "The evaluated prefix is not valid Unicode (it holds a lone surrogate)."
        if len(prefix) > limits.FIREHOSE_PREFIX_EVALUATED_MAX:
            return f"The evaluated prefix is longer than {limits.FIREHOSE_PREFIX_EVALUATED_MAX} characters."
        if size > limits.S3_KEY_MAX_BYTES:
            return f"The object key is longer than {limits.S3_KEY_MAX_BYTES} bytes."
        try:
            self._store().path(bucket, key)
        except InvalidObjectKey as err:
            return f"The object key can't be stored: {err}"
        return None

    @staticmethod
    def _groups_parsed(plan: _Plan, parsed: Optional[fastjson.Parsed]) -> Optional[list]:
        """The buffer's partitions as the parse ahead grouped them ([({key: value}, record
        positions)], what _partition_keys and group_indices give), when its keys are top-level
        members taken as they are (plan.key_members) and every chunk was grouped; else None."""
        if parsed is None or parsed.groups is None or plan.key_members is None:
            return None
        # (the reader groups only when built with the plan's members: each one is among its keys)
        at = {member: i for i, member in enumerate(parsed.key_names)}
        pick = [(name, at[member]) for name, member in plan.key_members.items()]
        return [({name: values[i] for name, i in pick}, rows) for values, rows in parsed.groups]

    def _partition_keys(self, plan: _Plan, records: _Records, lambda_keys, parsed: Optional[fastjson.Parsed]):
        """-> (keys {name: string array}, ok mask, why not ok) for dynamic partitioning."""
        n = len(records)
        keys = {}
        ok = np.ones(n, dtype=bool)
        if plan.query_keys:
            wanted = plan.wanted_queries
            fast = None
            if parsed is not None and records.rows is not None and all(q.path[0] in parsed.keys for q in wanted):
                fast = export.keys_from_columns(records.data if (records.rows < 0).any() else None, records.rows,
                                                parsed.keys, wanted)
            qkeys, qok = fast if fast is not None else export.extract_keys(records.data, wanted)
            keys.update(qkeys)
            ok &= qok
        for name in plan.lambda_keys:
            values = [export.partition_value((k or {}).get(name)) for k in (lambda_keys or [None] * n)]
            keys[name] = pa.array(values, pa.string())
            ok &= np.asarray([v is not None and v != "" for v in values], dtype=bool)
        return keys, ok, ("Partition keys could not be extracted from the record: a key is missing, null or "
                          "empty, or the record is not valid JSON.")

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

    def _conversion_failed(self, batch: _Batch, records: _Records, idx, code: str, message: str,
                           messages: Optional[dict] = None) -> _Write:
        conv = batch.plan.conversion
        region = conv.region or self.backend.region
        catalog_id = conv.catalog_id or self.backend.account_id
        catalog = {"catalogId": catalog_id, "databaseName": conv.database or "", "tableName": conv.table or "",
                   "region": region, "versionId": conv.version_id or "LATEST",
                   "catalogArn": f"arn:aws:glue:{region}:{catalog_id}:catalog"}
        now = self.clock.now_ms()
        seqs = records.meta.column("sequence_number") if records.meta is not None else None
        docs = []
        for i in (int(i) for i in idx):
            doc = {"attemptsMade": 1, "arrivalTimestamp": int(records.arrival[i]), "ErrorCode": code,
                   "ErrorMessage": (messages or {}).get(i, message), "attemptEndingTimestamp": now,
                   "rawData": base64.b64encode(records.data[i].as_py() or b"").decode("ascii")}
            if seqs is not None:
                doc["sequenceNumber"] = str(seqs[i].as_py())
                doc["subSequenceNumber"] = 0
            doc["dataCatalogTable"] = catalog
            docs.append(doc)
        return self._docs_write(batch, prefixes.FORMAT_CONVERSION_FAILED, docs)

    def _convert(self, batch: _Batch, records: _Records, parsed: Optional[fastjson.Parsed] = None):
        """-> (Arrow table of the converted rows or None, indices of those records, format-conversion-failed
        write or None). A schema that can't be used (table gone, type changed) fails the whole buffer.
        Rows the fast pass made (`parsed`, for the same schema) are used as they are; the records it
        left go through the converter."""
        plan = batch.plan
        conv = plan.conversion
        everything = np.arange(len(records), dtype=np.int64)
        try:
            schema, kind, _table = self._resolve_schema(conv)
            if kind == KINESIS_RECORDS and records.meta is not None:
                return self._kinesis_table(records.meta, schema), everything, None
            converter = plan.converter(schema, conv)
            if parsed is not None and parsed.table is not None and parsed.table.schema == schema and \
                    records.rows is not None:
                doubtful = records.data if (records.rows < 0).any() else None
                table, good, failed = export.merge_converted(parsed.table, records.rows, doubtful, converter)
            else:
                table, good, failed = converter.convert(records.data)
        except InvalidArgumentException as err:
            return None, None, self._conversion_failed(batch, records, everything,
                                                       "DataFormatConversion.EntityNotFound", err.message)
        except Exception as err:  # noqa: BLE001 - a schema the converter can't use
            return None, None, self._conversion_failed(batch, records, everything,
                                                       "DataFormatConversion.InvalidSchema",
                                                       f"{type(err).__name__}: {err}")
        write = None
        if failed:
            write = self._conversion_failed(batch, records, sorted(failed), "DataFormatConversion.MalformedData",
                                            "", messages=failed)
        return table, good, write

    def _json_rows(self, plan: _Plan, records: _Records, schema: pa.Schema) -> tuple[pa.Table, np.ndarray, dict]:
        """JSON records as rows of `schema` -> (rows, indices of the records they hold, {index: error}):
        the C pass where it can read the columns, the converter for what it leaves."""
        converter = export.JsonConverter(schema)
        reader = plan.fast_reader(schema, {}) if converter.fast and not any(c.null_count for c in records.chunks) \
            else None
        if reader is None:
            return converter.convert(records.data)
        parsed = reader.read(records.chunks)
        if parsed.table is None or parsed.table.schema != schema:
            return converter.convert(records.data)
        rows = parsed.row_of
        return export.merge_converted(parsed.table, rows, records.data if (rows < 0).any() else None, converter)

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

    # --- lifecycle ---------------------------------------------------------------------
    def apply_destination(self, destination: Destination) -> None:
        """Switch to a new configuration: what is buffered is sealed under the old one first."""
        plan = _Plan(self, destination)
        with self._lock:
            self._seal_locked()
            self.destination = destination
            self._plan = plan
            self.version += 1
            self.update_time = self.clock.now()
        self._save_config()

    def begin_close(self, error: Exception) -> None:
        """Refuse puts from now on (with `error`), read the source to its tip, seal the buffer, and
        give every unit waiting for a retry one last attempt; failures now go to the error output."""
        if self.source is not None and not self._closed:
            try:
                self._poll(final=True)
            except Exception:  # noqa: BLE001 - what was read is buffered; closing must go on
                log.exception("Firehose %s: the last read of the Kinesis source failed", self.name)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._closed_error = error
            self._final = True
            self._drain_deadline = time.monotonic() + self.backend.close_drain_s
            for timer in (self._timer, self._poll_timer):
                if timer is not None:
                    timer.cancel()
            self._poll_timer = None
            self._seal_locked()
            for unit in self._parked:
                if unit.timer is not None:
                    unit.timer.cancel()
                unit.final = True
                self._queue.append(unit)
            self._parked.clear()
            self._start_worker_locked()

    def finish_close(self, deadline: float) -> None:
        """Wait for the worker until `deadline` (monotonic); then what it has not reached goes to the
        error output from here, and what it is running is counted and reported."""
        if self._wait_idle(deadline):
            return
        with self._lock:
            late = list(self._queue)
            self._queue.clear()
            running = self._current
        n_late = sum(u.n_records for u in late)
        if running is not None:
            self._count(in_flight_at_close_records=running.n_records)
            log.warning("Firehose %s: %d records were still being delivered when the close drain time ran out; "
                        "they settle when that delivery returns", self.name, running.n_records)
        if late:
            self._count(expired_at_close_records=n_late)
            log.warning("Firehose %s: the close drain time ran out; %d records go to the error output",
                        self.name, n_late)
        for unit in late:
            try:
                unit.expire(self)
            except Exception:  # noqa: BLE001 - count them rather than stop closing
                log.exception("Firehose %s: writing %d records to the error output failed", self.name,
                              unit.n_records)
                if not unit.settled:
                    self._undeliverable(unit, CLOSE_TIMEOUT_CODE, CLOSE_TIMEOUT_MESSAGE)

    def close(self, error: Optional[Exception] = None) -> None:
        """Stop accepting, deliver everything within the backend's close drain time."""
        self.begin_close(error or ResourceNotFoundException(
            f"Firehose {self.name} under account {self.backend.account_id} not found."))
        self.finish_close(self._drain_deadline)


PARTITIONING_FAILED = "partitioning-failed"


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
        self.ssl_context: Optional[ssl.SSLContext] = None     # HTTPS endpoints: None = the default CAs
        self.s3_retry_s = float(limits.FIREHOSE_S3_RETRY_DURATION_S)
        self.close_drain_s = float(limits.FIREHOSE_CLOSE_DRAIN_S)
        self.pending_buffers_max = limits.FIREHOSE_PENDING_BUFFERS_MAX
        self._lock = threading.RLock()
        self._closed = False
        self._retired: list[DeliveryStream] = []      # deleted streams whose last delivery may still run
        self._iceberg_catalogs: dict[str, object] = {}  # region -> pyiceberg catalog over the engine's Glue
        # Durable engines keep each stream's configuration and undelivered records on disk.
        self._root, self._root_lock = region_root(engine, "firehose", region)
        if self._root is not None:
            from . import store
            for entry in sorted(os.listdir(self._root)):
                if entry != ".lock":
                    stream = store.restore(self, store.StreamStore(os.path.join(self._root, entry), engine.durability))
                    if stream is not None:
                        self.streams[stream.name] = stream

    def iceberg_catalog(self, catalog_arn: str):
        """The pyiceberg catalog of the engine's Glue Data Catalog a CatalogARN names."""
        from . import iceberg

        region = iceberg.catalog_region(self.engine, catalog_arn)
        with self._lock:
            if region not in self._iceberg_catalogs:
                self._iceberg_catalogs[region] = iceberg.make_catalog(self.engine, region)
            return self._iceberg_catalogs[region]

    def create_delivery_stream(self, name: str, destination: Destination, *, stream_type: str = "DirectPut",
                               kinesis_source: Optional[KinesisSource] = None,
                               encryption: Optional[Encryption] = None, tags: Optional[dict] = None,
                               direct_put_throughput_mb: Optional[int] = None) -> DeliveryStream:
        with self._lock:
            if self._closed:
                raise ServiceUnavailableException("The engine is closed; create a new engine.Engine().")
            if name in self.streams:
                raise ResourceInUseException(f"Firehose {name} under accountId {self.account_id} already exists")
            if len(self.streams) >= self.MAX_STREAMS:
                raise LimitExceededException(f"You have already consumed your firehose quota of {self.MAX_STREAMS} "
                                             "hoses.")
            if stream_type not in SUPPORTED_STREAM_TYPES:
                raise InvalidArgumentException(f"DeliveryStreamType {stream_type} is not supported by this engine.")
            if direct_put_throughput_mb is not None and stream_type != "DirectPut":
                raise InvalidArgumentException("DirectPutSourceConfiguration is only valid for DirectPut streams.")
            if tags and len(tags) > limits.FIREHOSE_TAGS_MAX:
                raise LimitExceededException(f"A Firehose stream can have at most {limits.FIREHOSE_TAGS_MAX} tags.")
            if encryption is not None:
                encryption.check()
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
            disk = None
            if self._root is not None:
                from . import store
                directory = os.path.join(self._root, file_name(name))
                shutil.rmtree(directory, ignore_errors=True)   # the files of a delete that never finished
                disk = store.StreamStore(directory, self.engine.durability)
            stream = DeliveryStream(self, name, stream_type, destination, kinesis_source,
                                    encryption or Encryption(), tags or {}, disk=disk)
            stream.direct_put_throughput_mb = direct_put_throughput_mb
            stream._save_config()
            self.streams[name] = stream
            return stream

    def validate(self, dest: Destination) -> None:
        """The rules AWS checks across fields and inside strings (types, ranges, patterns and enums
        of single members are the request layer's, from botocore's model)."""
        check_processing(dest.processing)
        for s3 in (dest.s3, getattr(dest, "backup", None)):
            if s3 is None:
                continue
            problem = bucket_name_problem(s3.bucket)
            if problem is not None:
                raise InvalidArgumentException(f"BucketARN {s3.bucket_arn} is not valid: {problem}")
        if isinstance(dest, HttpEndpoint):
            from . import httpdest

            problem = httpdest.url_problem(dest.url)
            if problem is not None:
                raise InvalidArgumentException(f"The HTTP endpoint URL is not valid: {problem}")
        if isinstance(dest, IcebergDestination):
            from . import iceberg

            iceberg.catalog_region(self.engine, dest.catalog_arn)
            if dest.warehouse is not None:
                problem = bucket_name_problem(parse_s3_uri(dest.warehouse)[0])
                if problem is not None:
                    raise InvalidArgumentException(f"WarehouseLocation {dest.warehouse} is not valid: {problem}")
            if dest.table_creation and dest.warehouse is None:
                raise InvalidArgumentException("TableCreationConfiguration needs a WarehouseLocation in "
                                               "CatalogConfiguration.")
        if isinstance(dest, ExtendedS3):
            if dest.backup_mode == "Enabled" and dest.backup is None:
                raise InvalidArgumentException("S3BackupConfiguration is required when S3BackupMode is Enabled.")
            conversion = dest.conversion is not None and dest.conversion.enabled
            if conversion:
                check_conversion(dest.conversion)
            if conversion and dest.s3.compression != "UNCOMPRESSED":
                raise InvalidArgumentException(
                    "CompressionFormat must be UNCOMPRESSED when DataFormatConversionConfiguration is enabled; "
                    "set the compression of the serializer instead.")
            for what, on in (("data format conversion", conversion), ("dynamic partitioning",
                                                                       bool(dest.dynamic_partitioning))):
                if on and dest.buffering.size_mb < limits.FIREHOSE_PARTITIONING_BUFFER_MIN_MB:
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

    def delete_delivery_stream(self, name: str) -> None:
        """Refuse new records at once, deliver what was accepted (within close_drain_s), then forget it."""
        stream = self.get(name)
        stream.status = "DELETING"
        try:
            stream.close()
        finally:
            with self._lock:
                if self.streams.get(name) is stream:
                    del self.streams[name]
            if stream._disk is not None:
                stream._disk.delete()
                self._retired = [s for s in self._retired if not s.drain(0)] + [stream]

    def list_delivery_streams(self, stream_type: Optional[str] = None, start_after: Optional[str] = None,
                              limit: Optional[int] = None) -> tuple[list[str], bool]:
        """Names in order after `start_after` (at most `limit`, default FIREHOSE_LIST_STREAMS_DEFAULT),
        and whether more follow."""
        limit = limit or limits.FIREHOSE_LIST_STREAMS_DEFAULT
        names = sorted(n for n, s in self.streams.items() if (stream_type is None or s.type == stream_type)
                       and (start_after is None or n > start_after))
        return names[:limit], len(names) > limit

    def current_destination(self, name: str, kind: type) -> Destination:
        """The stream's destination, which an update of `kind` changes (the type can't change)."""
        current = self.get(name).destination
        if not isinstance(current, kind):
            raise InvalidArgumentException(f"Changing the destination type to or from {current.kind} is not "
                                           "supported at this time.")
        return current

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

    def drain(self, timeout: Optional[float] = None) -> bool:
        """Wait (wall time) until no stream has a delivery queued or running. Buffers are not sealed
        and retries waiting on the engine clock are not run: advance a ManualClock for those."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            streams = list(self.streams.values()) + list(self._retired)
        return all([s._wait_idle(deadline) for s in streams])

    def close(self) -> None:
        """Engine close: every stream refuses puts at once, then all deliver in parallel within
        close_drain_s; what is left after that goes to the error output, counted in each stream's stats."""
        with self._lock:
            self._closed = True
            streams = list(self.streams.values())
        error = ServiceUnavailableException("The engine is closed; create a new engine.Engine().")
        for stream in streams:
            try:
                stream.begin_close(error)
            except Exception:  # noqa: BLE001 - close every stream even if one fails
                log.exception("Firehose %s: close failed", stream.name)
        deadline = time.monotonic() + self.close_drain_s
        for stream in streams:
            stream.finish_close(deadline)
        if self._root is not None:
            for stream in streams:
                stream._disk.close()
            self._root_lock.close()


__all__ = ["FirehoseBackend", "DeliveryStream", "ExtendedS3", "HttpEndpoint", "IcebergDestination", "IcebergTable",
           "S3Destination", "BufferingHints",
           "Processing", "Processor", "Conversion", "KinesisSource", "Encryption", "KINESIS_RECORDS_PARAMETER",
           "KINESIS_RECORDS", "PARTITIONING_FAILED", "S3_FAILED"]

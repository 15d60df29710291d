"""The pipeline the CLI runs: a Kinesis stream feeding a Firehose delivery stream that writes
Parquet (or JSON) objects under an S3-style root, through the services' native APIs."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa

from .. import limits

ROLE = "arn:aws:iam::000000000000:role/engine-cli"
PARQUET_COMPRESSION = {"snappy": "SNAPPY", "gzip": "GZIP", "zstd": "ZSTD", "none": "UNCOMPRESSED"}
RAW_COMPRESSION = {"snappy": "Snappy", "gzip": "GZIP", "zip": "ZIP", "none": "UNCOMPRESSED"}


@dataclass
class Stage:
    name: str
    records: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else float("inf")

    @property
    def mib_per_s(self) -> float:
        return self.bytes / 2**20 / self.seconds if self.seconds else float("inf")


class Timer:
    def __init__(self, stage: Stage):
        self.stage = stage

    def __enter__(self):
        self.start = time.perf_counter()
        return self.stage

    def __exit__(self, *exc):
        self.stage.seconds += time.perf_counter() - self.start


@dataclass
class Pipeline:
    """Kinesis stream -> Firehose (KinesisStreamAsSource) -> objects under s3_root/bucket/prefix."""

    eng: object
    stream_name: str
    shards: int
    bucket: str
    prefix: str
    output_format: str = "parquet"          # parquet | json
    compression: str = "snappy"
    partition_by: list = field(default_factory=list)
    database: str = "engine"
    table: str = "records"

    def __post_init__(self):
        self.delivery_name = f"{self.stream_name}-delivery"

    def create(self, schema: pa.Schema) -> None:
        """The stream, the Glue table (Parquet output) and the delivery stream, through the
        services' native APIs (what the boto3-shaped clients are built on: no request layer to load)."""
        from ..firehose import models as fh
        from ..glue import models as glue, types as glue_types

        stream = self.eng.backend("kinesis").create_stream(self.stream_name, self.shards)
        prefix = self.prefix
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        # failed records under <prefix>/errors/, beside the data and never mixed with it
        error_prefix = (self.prefix.rstrip("/") + "/" if self.prefix else "") + "errors/!{firehose:error-output-type}/"
        processing = fh.Processing()
        if self.partition_by:
            prefix += "".join(f"{c}=!{{partitionKeyFromQuery:{c}}}/" for c in self.partition_by)
            query = "{" + ", ".join(f"{c}: .{c}" for c in self.partition_by) + "}"
            processing = fh.Processing(True, [fh.Processor("MetadataExtraction", {
                "MetadataExtractionQuery": query, "JsonParsingEngine": "JQ-1.6"})])
        conversion = None
        compression = RAW_COMPRESSION[self.compression]
        if self.output_format == "parquet":
            catalog = self.eng.backend("glue")
            catalog.create_database(self.database)
            # Partition columns live in the object keys (hive style), not in the files, as in a Glue table.
            catalog.create_table(self.database, glue.Table(
                self.table, self.database,
                glue.StorageDescriptor(columns=[glue.Column(f.name, glue_types.glue_type(f.type))
                                                for f in schema if f.name not in self.partition_by]),
                partition_keys=[glue.Column(c, "string") for c in self.partition_by]))
            conversion = fh.Conversion(database=self.database, table=self.table, role_arn=ROLE,
                                       serializer_options={"Compression": PARQUET_COMPRESSION[self.compression]})
            compression = "UNCOMPRESSED"
        destination = fh.ExtendedS3(
            fh.S3Destination(f"arn:aws:s3:::{self.bucket}", ROLE, prefix=prefix, error_prefix=error_prefix,
                             buffering=fh.BufferingHints(limits.FIREHOSE_BUFFER_SIZE_MAX_MB,
                                                         limits.FIREHOSE_BUFFER_INTERVAL_MAX_S),
                             compression=compression),
            processing=processing, conversion=conversion, dynamic_partitioning=bool(self.partition_by) or None)
        self.eng.backend("firehose").create_delivery_stream(
            self.delivery_name, destination, stream_type="KinesisStreamAsSource",
            kinesis_source=fh.KinesisSource(stream.arn, ROLE))

    def put(self, data: pa.Array, partition_keys: pa.Array, explicit_hash_keys=None) -> None:
        """Put one batch of records into the stream through the native bulk API."""
        self.eng.backend("kinesis").get_stream(self.stream_name).put_batch(data, partition_keys, explicit_hash_keys)

    def delivery(self):
        """The Firehose delivery stream (native API)."""
        return self.eng.backend("firehose").get(self.delivery_name)

    def deliver(self) -> None:
        """Make Firehose read everything the stream holds and write it out now."""
        self.delivery().flush()

    def _store(self):
        from ..s3 import store_for

        return store_for(self.eng)

    def output_dir(self) -> str:
        """Where the objects are: a local directory, or the object store path as a URI."""
        store = self._store()
        where = store.path(self.bucket, self.prefix)
        return where if store.is_local else f"{store.filesystem.type_name}://{where}"

    def written_files(self) -> list[str]:
        """Paths (on the store's filesystem) of the data objects written, error outputs aside."""
        store = self._store()
        prefix = f"{self.prefix}/" if self.prefix else ""
        errors = f"{prefix}errors/"
        return [store.path(self.bucket, key) for key in store.list(self.bucket, prefix)
                if not key.startswith(errors)]

    def read_back(self) -> pa.Table:
        """The Parquet objects written, read back as one table (partition columns from the keys)."""
        import pyarrow.dataset as ds

        files = self.written_files()
        if not files:
            return pa.table({})
        partitioning = ds.partitioning(pa.schema([(c, pa.string()) for c in self.partition_by]), flavor="hive")
        return ds.dataset(files, filesystem=self._store().filesystem, format="parquet", partitioning=partitioning,
                          partition_base_dir=self._store().path(self.bucket, self.prefix)).to_table()


def pack_partition_keys(column: pa.Array) -> pa.Array:
    return column.cast(pa.string()) if not pa.types.is_string(column.type) else column

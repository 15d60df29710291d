"""The pipeline the CLI runs: a Kinesis stream feeding a Firehose delivery stream that writes
Parquet (or JSON) objects under an S3-style root, all through the public clients."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from .. import limits

ROLE = "arn:aws:iam::000000000000:role/engine-cli"
GLUE_TYPES = {
    pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint",
    pa.uint8(): "smallint", pa.uint16(): "int", pa.uint32(): "bigint", pa.uint64(): "bigint",
    pa.float16(): "float", pa.float32(): "float", pa.float64(): "double", pa.bool_(): "boolean",
    pa.string(): "string", pa.large_string(): "string", pa.binary(): "binary", pa.large_binary(): "binary",
    pa.date32(): "date", pa.date64(): "date",
}
PARQUET_COMPRESSION = {"snappy": "SNAPPY", "gzip": "GZIP", "zstd": "ZSTD", "none": "UNCOMPRESSED"}
RAW_COMPRESSION = {"snappy": "Snappy", "gzip": "GZIP", "zip": "ZIP", "none": "UNCOMPRESSED"}


def glue_type(t: pa.DataType) -> str:
    """The Hive/Glue column type a Firehose schema needs for an Arrow type."""
    if pa.types.is_dictionary(t):
        return glue_type(t.value_type)
    if t in GLUE_TYPES:
        return GLUE_TYPES[t]
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{glue_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{glue_type(t.key_type)},{glue_type(t.item_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.type)}" for f in t) + ">"
    if pa.types.is_null(t):
        return "string"
    raise ValueError(f"no Glue type for Arrow type {t}")


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
        self.kinesis = self.eng.client("kinesis")
        self.firehose = self.eng.client("firehose")
        self.glue = self.eng.client("glue")
        self.delivery_name = f"{self.stream_name}-delivery"

    def create(self, schema: pa.Schema) -> None:
        self.kinesis.create_stream(StreamName=self.stream_name, ShardCount=self.shards)
        stream_arn = self.kinesis.describe_stream_summary(StreamName=self.stream_name)[
            "StreamDescriptionSummary"]["StreamARN"]
        prefix = self.prefix
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        destination = {
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{self.bucket}",
            "BufferingHints": {"SizeInMBs": limits.FIREHOSE_BUFFER_SIZE_MAX_MB,
                               "IntervalInSeconds": limits.FIREHOSE_BUFFER_INTERVAL_MAX_S},
        }
        if self.partition_by:
            prefix += "".join(f"{c}=!{{partitionKeyFromQuery:{c}}}/" for c in self.partition_by)
            query = "{" + ", ".join(f"{c}: .{c}" for c in self.partition_by) + "}"
            destination["DynamicPartitioningConfiguration"] = {"Enabled": True}
            destination["ProcessingConfiguration"] = {"Enabled": True, "Processors": [{
                "Type": "MetadataExtraction",
                "Parameters": [{"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
                               {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}
            destination["ErrorOutputPrefix"] = (self.prefix.rstrip("/") + "/" if self.prefix else "") + \
                "errors/!{firehose:error-output-type}/"
        destination["Prefix"] = prefix
        if self.output_format == "parquet":
            self.glue.create_database(DatabaseInput={"Name": self.database})
            # Partition columns live in the object keys (hive style), not in the files, as in a Glue table.
            self.glue.create_table(DatabaseName=self.database, TableInput={
                "Name": self.table,
                "StorageDescriptor": {"Columns": [{"Name": f.name, "Type": glue_type(f.type)}
                                                  for f in schema if f.name not in self.partition_by]},
                "PartitionKeys": [{"Name": c, "Type": "string"} for c in self.partition_by],
            })
            destination["DataFormatConversionConfiguration"] = {
                "Enabled": True,
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {
                    "Compression": PARQUET_COMPRESSION[self.compression]}}},
                "SchemaConfiguration": {"DatabaseName": self.database, "TableName": self.table, "RoleARN": ROLE},
            }
        else:
            destination["CompressionFormat"] = RAW_COMPRESSION[self.compression]
        self.firehose.create_delivery_stream(
            DeliveryStreamName=self.delivery_name, DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": ROLE},
            ExtendedS3DestinationConfiguration=destination)

    def put(self, json_lines: pa.Array, partition_keys: pa.Array) -> None:
        """Put one batch into the stream through the native bulk API."""
        stream = self.eng.backend("kinesis").get_stream(self.stream_name)
        data = json_lines
        if self.output_format == "json":   # Firehose concatenates records as they are
            data = pc.binary_join_element_wise(json_lines, "\n", "")
        stream.put_batch(data, partition_keys)

    def deliver(self) -> None:
        """Make Firehose read everything the stream holds and write it out now."""
        self.eng.backend("firehose").get(self.delivery_name).flush()

    def output_dir(self) -> str:
        return os.path.join(str(self.eng.s3_root), self.bucket, self.prefix)

    def written_files(self) -> list[str]:
        root = self.output_dir()
        found = []
        for dirpath, _, names in os.walk(root):
            if os.sep + "errors" in dirpath[len(root) - 1:]:
                continue
            found += [os.path.join(dirpath, n) for n in names if not n.startswith(".")]
        return sorted(found)

    def read_back(self) -> pa.Table:
        import pyarrow.dataset as ds

        files = self.written_files()
        if not files:
            return pa.table({})
        if self.output_format == "parquet":
            partitioning = ds.partitioning(pa.schema([(c, pa.string()) for c in self.partition_by]), flavor="hive")
            return ds.dataset(self.output_dir(), format="parquet", partitioning=partitioning,
                              exclude_invalid_files=True,
                              ignore_prefixes=[".", "_", "errors"]).to_table()
        import pyarrow.json as pj

        return pa.concat_tables([pj.read_json(f) for f in files if os.path.getsize(f)])


def pack_partition_keys(column: pa.Array) -> pa.Array:
    return column.cast(pa.string()) if not pa.types.is_string(column.type) else column

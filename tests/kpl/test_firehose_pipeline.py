"""KPL aggregates through a Kinesis-sourced Firehose into Parquet: Firehose deaggregates a Kinesis
source's records before conversion, as AWS documents (kpl-with-firehose)."""
import json

import pyarrow.dataset as ds

from engine.kinesis import kpl
from engine.s3 import store_for

ROLE = "arn:aws:iam::000000000000:role/firehose"


def test_aggregated_json_records_land_as_rows(eng, clock):
    kinesis = eng.client("kinesis")
    kinesis.create_stream(StreamName="src", ShardCount=2)
    stream = eng.backend("kinesis").get_stream("src")
    glue = eng.client("glue")
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={"Name": "events", "StorageDescriptor": {"Columns": [
        {"Name": "id", "Type": "bigint"}, {"Name": "name", "Type": "string"}]}})
    eng.client("firehose").create_delivery_stream(
        DeliveryStreamName="ks", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream.arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bucket", "Prefix": "pq/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "DataFormatConversionConfiguration": {
                "Enabled": True, "SchemaConfiguration": {"DatabaseName": "db", "TableName": "events", "RoleARN": ROLE},
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}})
    n = 3000
    result = kpl.Producer(stream).put([json.dumps({"id": i, "name": f"n{i}"}).encode() for i in range(n)],
                                      [f"user-{i}" for i in range(n)])
    assert result.aggregates == 2
    clock.advance(61)
    table = ds.dataset(store_for(eng).path("bucket", "pq"), format="parquet").to_table()
    assert sorted(table.column("id").to_pylist()) == list(range(n))

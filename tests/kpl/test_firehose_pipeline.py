"""KPL aggregates through a Kinesis-sourced Firehose into Parquet: Firehose deaggregates a Kinesis
source's records before conversion, as AWS documents (kpl-with-firehose)."""
import json

import pyarrow.dataset as ds

from engine.kinesis import kpl
from engine.s3 import store_for

ROLE = "arn:aws:iam::000000000000:role/firehose"


def _delivery(eng):
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
    return stream


def _rows(eng):
    return ds.dataset(store_for(eng).path("bucket", "pq"), format="parquet").to_table()


def test_aggregated_json_records_land_as_rows(eng, clock):
    eng.client("kinesis").create_stream(StreamName="src", ShardCount=2)
    stream = _delivery(eng)
    n = 3000
    result = kpl.Producer(stream).put([json.dumps({"id": i, "name": f"n{i}"}).encode() for i in range(n)],
                                      [f"user-{i}" for i in range(n)])
    assert result.aggregates == 2
    clock.advance(61)
    assert sorted(_rows(eng).column("id").to_pylist()) == list(range(n))


def test_an_aggregate_put_by_any_client_after_plain_records_is_deaggregated(eng, clock):
    """The stream notes, as records are put, whether one may be an aggregate; Firehose looks for
    aggregates in what it reads only then, so the first aggregate, however it was put, counts."""
    kinesis = eng.client("kinesis")
    kinesis.create_stream(StreamName="src", ShardCount=1)
    stream = _delivery(eng)
    kinesis.put_records(StreamName="src", Records=[
        {"Data": json.dumps({"id": i, "name": "plain"}).encode(), "PartitionKey": "p"} for i in range(3)])
    assert not stream.may_hold_aggregates
    blob = kpl.aggregate([(f"k{i}", json.dumps({"id": i, "name": "user"}).encode()) for i in range(3, 8)])
    kinesis.put_records(StreamName="src", Records=[{"Data": blob, "PartitionKey": "agg"}])
    assert stream.may_hold_aggregates
    clock.advance(61)
    table = _rows(eng)
    assert sorted(zip(table.column("id").to_pylist(), table.column("name").to_pylist())) == \
        [(i, "plain") for i in range(3)] + [(i, "user") for i in range(3, 8)]


def test_a_stream_read_back_from_disk_may_hold_aggregates(clock, tmp_path):
    """Records reloaded after a restart were never looked at: the stream assumes aggregates."""
    import engine

    with engine.Engine(clock=clock, s3_root=str(tmp_path / "s3"), data_dir=str(tmp_path / "data")) as eng:
        eng.client("kinesis").create_stream(StreamName="src", ShardCount=1)
        eng.client("kinesis").put_record(StreamName="src", Data=b"plain", PartitionKey="p")
        assert not eng.backend("kinesis").get_stream("src").may_hold_aggregates
    with engine.Engine(clock=clock, s3_root=str(tmp_path / "s3"), data_dir=str(tmp_path / "data")) as eng:
        assert eng.backend("kinesis").get_stream("src").may_hold_aggregates

"""KinesisStreamAsSource: polling on the engine clock, raw and zero-copy record delivery."""
import base64

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

pytest.importorskip("engine.kinesis.models", reason="engine.kinesis is not importable in this build")

from engine.s3 import store_for  # noqa: E402

from .conftest import ROLE, conversion, get, keys, s3_config  # noqa: E402


@pytest.fixture
def source(eng):
    k = eng.client("kinesis")
    k.create_stream(StreamName="src", ShardCount=4)
    stream = eng.backend("kinesis").get_stream("src")
    return stream


def _create(fh, stream, **extra):
    cfg = s3_config(**extra)
    fh.create_delivery_stream(DeliveryStreamName="ks", DeliveryStreamType="KinesisStreamAsSource",
                              KinesisStreamSourceConfiguration={"KinesisStreamARN": stream.arn, "RoleARN": ROLE},
                              ExtendedS3DestinationConfiguration=cfg)


def test_raw_delivery_from_a_stream_starts_at_the_tip(eng, fh, clock, source, shape):
    source.put_batch([b"old"] * 3, ["k1", "k2", "k3"])
    _create(fh, source, Prefix="k/")
    desc = fh.describe_delivery_stream(DeliveryStreamName="ks")
    shape("firehose", "DescribeDeliveryStream", desc)
    src = desc["DeliveryStreamDescription"]["Source"]["KinesisStreamSourceDescription"]
    assert src["KinesisStreamARN"] == source.arn and "DeliveryStartTimestamp" in src
    assert desc["DeliveryStreamDescription"]["DeliveryStreamType"] == "KinesisStreamAsSource"
    sent = [b"%05d;" % i for i in range(2000)]
    for start in range(0, 2000, 400):
        source.put_batch(sent[start:start + 400], [str(i) for i in range(start, start + 400)])
        clock.advance(17)                    # polled every second, delivered every 60 s
    eng.backend("firehose").get("ks").flush()
    objects = keys(eng, "k/")
    assert len(objects) >= 2
    got = sorted(b"".join(get(eng, k) for k in objects).split(b";")[:-1])
    assert got == sorted(s[:-1] for s in sent)          # every record once, none from before creation
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="not permitted on KinesisStreamAsSource"):
        fh.put_record(DeliveryStreamName="ks", Record={"Data": b"x"})
    with pytest.raises(fh.exceptions.InvalidArgumentException):
        fh.start_delivery_stream_encryption(DeliveryStreamName="ks")


def test_kinesis_records_columns_zero_copy_to_parquet(eng, fh, clock, source, glue):
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={
        "Name": "records", "Parameters": {"engine.firehose.input": "kinesis-records"},
        "StorageDescriptor": {"Columns": [{"Name": "partition_key", "Type": "string"},
                                          {"Name": "data", "Type": "binary"},
                                          {"Name": "sequence_number", "Type": "bigint"},
                                          {"Name": "approximate_arrival_timestamp", "Type": "timestamp"}]}})
    _create(fh, source, Prefix="pq/", BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
            DataFormatConversionConfiguration=conversion(table="records"))
    n = 10_000
    source.put_batch([b"payload-%d" % i for i in range(n)], [str(i) for i in range(n)])
    clock.advance(61)
    store = store_for(eng)
    t = ds.dataset(store.path("bucket", "pq"), format="parquet").to_table()
    assert t.column_names == ["partition_key", "data", "sequence_number", "approximate_arrival_timestamp"]
    assert t.num_rows == n
    assert sorted(t.column("data").to_pylist()) == sorted(b"payload-%d" % i for i in range(n))
    assert pa.types.is_timestamp(t.schema.field("approximate_arrival_timestamp").type)
    assert t.column("approximate_arrival_timestamp")[0].as_py().timestamp() == 1_700_000_000


def test_json_conversion_and_lambda_metadata_from_kinesis(eng, fh, clock, source, glue):
    events = []

    def handler(event, context):
        events.append(event)
        return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]]}
    arn = eng.register_function("pass", handler)
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={"Name": "events", "StorageDescriptor": {
        "Columns": [{"Name": "id", "Type": "int"}]}})
    _create(fh, source, Prefix="j/", ErrorOutputPrefix="je/!{firehose:error-output-type}/",
            BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
            DataFormatConversionConfiguration=conversion(),
            ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
                {"ParameterName": "LambdaArn", "ParameterValue": arn}]}]})
    source.put_batch([b'{"id": %d}' % i for i in range(20)] + [b"oops"], [str(i) for i in range(21)])
    clock.advance(61)
    rec = events[0]["records"][0]
    assert events[0]["sourceKinesisStreamArn"] == source.arn
    meta = rec["kinesisRecordMetadata"]
    assert meta["shardId"].startswith("shardId-") and meta["sequenceNumber"].isdigit()
    assert set(meta) == {"shardId", "partitionKey", "approximateArrivalTimestamp", "sequenceNumber",
                         "subsequenceNumber"}
    t = ds.dataset(store_for(eng).path("bucket", "j"), format="parquet").to_table()
    assert sorted(t.column("id").to_pylist()) == list(range(20))
    (err,) = keys(eng, "je/format-conversion-failed/")
    import json
    (doc,) = [json.loads(x) for x in get(eng, err).splitlines()]
    assert base64.b64decode(doc["rawData"]) == b"oops" and doc["sequenceNumber"].isdigit()


def test_source_stream_must_exist(fh):
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="does not exist"):
        fh.create_delivery_stream(
            DeliveryStreamName="ks", DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={"KinesisStreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/no",
                                              "RoleARN": ROLE}, ExtendedS3DestinationConfiguration=s3_config())


def test_a_producer_reads_the_source_itself_and_waits_for_room(eng, fh, clock, source, faults):
    """read_source() takes what the stream holds now; while pending_buffers_max buffers wait
    for delivery it stops (records stay in Kinesis) until wait_for_room() says there is room."""
    eng.backend("firehose").pending_buffers_max = 1
    _create(fh, source, Prefix="k/", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60})
    delivery = eng.backend("firehose").get("ks")
    faults.fail.add("bucket")
    small, big = [b"x" * 1000] * 1000, [b"y" * 1000] * 1100   # under and over one 1 MiB buffer
    source.put_batch(small, [str(i) for i in range(len(small))])
    assert delivery.read_source() is False and delivery.buffered_records == len(small)
    source.put_batch(big, [str(i) for i in range(len(big))])
    assert delivery.read_source() is True                    # a buffer sealed: the rest waits in Kinesis
    assert delivery.pending_buffers == 1 and delivery.buffered_records < len(big)
    assert delivery.wait_for_room(timeout=0.2) is False      # the write keeps failing
    faults.fail.clear()
    clock.advance(1)                                         # the retry delivers
    assert delivery.wait_for_room(timeout=5) is True
    assert delivery.read_source() is False
    delivery.flush()
    assert delivery.stats["delivered_records"] == len(small) + len(big)
    fh.create_delivery_stream(DeliveryStreamName="dp", ExtendedS3DestinationConfiguration=s3_config())
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="no Kinesis source"):
        eng.backend("firehose").get("dp").read_source()


def test_records_put_just_before_close_are_delivered(eng, fh, source):
    # Closing reads the source to its tip before the Kinesis memory goes: every record the
    # stream acknowledged reaches the destination, none polled yet.
    _create(fh, source, Prefix="k/")
    sent = [b"%05d;" % i for i in range(1000)]
    source.put_batch(sent, [str(i) for i in range(1000)])
    eng.close()
    got = sorted(b"".join(get(eng, k) for k in keys(eng, "k/")).split(b";")[:-1])
    assert got == sorted(s[:-1] for s in sent)

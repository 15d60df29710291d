"""KPL aggregation: the format against aws-kinesis-agg both ways, packing limits, the aggregating
producer's routing, reading user records back, and a Lambda handler deaggregating as on AWS."""
import base64
import hashlib
import importlib.util

import pytest
from hypothesis import given, settings, strategies as st

from engine import limits
from engine.kinesis import kpl
from tests.tools import require

HAVE_AGG = importlib.util.find_spec("aws_kinesis_agg") is not None


def _agg():
    require(HAVE_AGG, "aws-kinesis-agg is not installed (pip install -e '.[test]')")
    from aws_kinesis_agg.aggregator import RecordAggregator
    from aws_kinesis_agg.deaggregator import deaggregate_records
    return RecordAggregator, deaggregate_records


def _lambda_record(blob, key="outer", seq="1"):
    return {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": key, "sequenceNumber": seq,
                        "approximateArrivalTimestamp": 1.0, "data": base64.b64encode(blob).decode()}}


records_st = st.lists(st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=200),
                                st.one_of(st.none(), st.integers(0, 2**128 - 1).map(str))), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(records_st)
def test_round_trip(records):
    assert kpl.deaggregate(kpl.aggregate(records)) == [kpl.UserRecord(*r) for r in records]


def test_same_bytes_as_aws_kinesis_agg():
    RecordAggregator, _ = _agg()
    records = [(f"key{i % 4}", b"payload-%d" % i, None if i % 3 else str(2**100 + i)) for i in range(50)]
    theirs = RecordAggregator()
    for key, data, ehk in records:
        theirs.add_user_record(key, data, ehk)
    assert theirs.clear_and_get().get_contents()[2] == kpl.aggregate(records)


def test_aws_kinesis_agg_reads_ours():
    _, deaggregate_records = _agg()
    records = [("a", b"1", None), ("b", "two".encode(), None), ("a", b"\x00\xff", None)]
    out = deaggregate_records([_lambda_record(kpl.aggregate(records), seq="49")])
    assert [(r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"]), r["kinesis"]["subSequenceNumber"])
            for r in out] == [("a", b"1", 0), ("b", b"two", 1), ("a", b"\x00\xff", 2)]


def test_we_read_aws_kinesis_agg():
    RecordAggregator, _ = _agg()
    theirs = RecordAggregator()
    for i in range(100):
        theirs.add_user_record(f"k{i % 7}", b"x" * i, str(i * 1000) if i % 5 == 0 else None)
    blob = theirs.clear_and_get().get_contents()[2]
    assert kpl.deaggregate(blob) == [kpl.UserRecord(f"k{i % 7}", b"x" * i, str(i * 1000) if i % 5 == 0 else None)
                                     for i in range(100)]


@pytest.mark.parametrize("blob", [
    b"plain text",
    kpl.MAGIC + b"\x0a\x01a" + b"0" * 16,                                   # digest does not match
    kpl.MAGIC + b"\x1a\x05\x08\x00\x1a\x09x" + hashlib.md5(b"\x1a\x05\x08\x00\x1a\x09x").digest(),  # truncated
    kpl.MAGIC + b"\x1a\x02\x08\x03" + hashlib.md5(b"\x1a\x02\x08\x03").digest(),  # no data, index past the table
    kpl.MAGIC[:3],
])
def test_not_an_aggregate(blob):
    assert kpl.deaggregate(blob) is None and not kpl.is_aggregated(blob)


def test_pack_stays_within_one_record():
    big = b"y" * 300_000
    items = [(f"key-{i}", big) for i in range(10)] + [("solo", b"z" * (limits.KPL_AGGREGATE_MAX_BYTES - 100))]
    packed = kpl.pack(items)
    assert [a.count for a in packed] == [3, 3, 3, 1, 1]
    for a in packed:
        assert len(a.data) + len(a.partition_key.encode()) <= limits.KPL_AGGREGATE_MAX_BYTES
    assert [u for a in packed for u in kpl.deaggregate(a.data)] == [kpl.UserRecord(k, d) for k, d in items]


def test_pack_sets_the_first_records_hash_key():
    (agg,) = kpl.pack([("first", b"1"), ("second", b"2")])
    assert agg.partition_key == "first"
    assert agg.explicit_hash_key == str(int(hashlib.md5(b"first").hexdigest(), 16))


def test_producer_routes_each_user_record_to_its_own_shard(eng):
    kinesis = eng.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="s", ShardCount=4)
    stream = eng.backend("kinesis").get_stream("s")
    keys = [f"user-{i}" for i in range(2000)]
    data = [f"event {i}".encode() for i in range(2000)]
    result = kpl.Producer(stream).put(data, keys)
    assert result.aggregates == 4
    ranges = {s["ShardId"]: (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
              for s in kinesis.list_shards(StreamName="s")["Shards"]}
    seen = {}
    for shard_id, (lo, hi) in ranges.items():
        batch = kpl.deaggregate_batch(stream.read(shard_id))
        for key, sub in zip(batch.column("partition_key").to_pylist(), batch.column("sub_sequence_number").to_pylist()):
            assert lo <= kpl.hash_key(key) <= hi
            seen[key] = sub
    assert sorted(seen) == sorted(keys)
    by_shard = {}
    for i in range(len(keys)):
        by_shard.setdefault(int(result.shard_index[i]), []).append(int(result.sub_sequence_number[i]))
    assert all(subs == list(range(len(subs))) for subs in by_shard.values())


def test_explicit_hash_keys_route_user_records(eng):
    kinesis = eng.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="s", ShardCount=2)
    stream = eng.backend("kinesis").get_stream("s")
    result = kpl.Producer(stream).put([b"low", b"high"], ["same", "same"], ["0", str(2**128 - 1)])
    assert list(result.shard_index) == [0, 1] and result.aggregates == 2


def test_reads_mix_aggregated_and_plain(eng):
    kinesis = eng.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    kinesis.put_record(StreamName="s", Data=b"plain", PartitionKey="p")
    stream = eng.backend("kinesis").get_stream("s")
    kpl.Producer(stream).put([b"u1", b"u2"], ["a", "b"])
    batch = kpl.deaggregate_batch(stream.read(0))
    assert batch.schema == kpl.USER_RECORD_SCHEMA
    assert batch.column("data").to_pylist() == [b"plain", b"u1", b"u2"]
    assert batch.column("sub_sequence_number").to_pylist() == [0, 0, 1]
    seqs = batch.column("sequence_number").to_pylist()
    assert seqs[1] == seqs[2] != seqs[0]


def test_boto3_get_records_then_aws_kinesis_agg(eng):
    _agg()
    from aws_kinesis_agg.deaggregator import iter_deaggregate_records
    kinesis = eng.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    kpl.Producer(eng.backend("kinesis").get_stream("s")).put([b"a", b"b", b"c"], ["k1", "k2", "k3"])
    it = kinesis.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    (record,) = kinesis.get_records(ShardIterator=it)["Records"]
    users = list(iter_deaggregate_records([record], data_format="Boto3"))
    assert [(u["kinesis"]["partitionKey"], u["kinesis"]["data"]) for u in users] == [
        ("k1", base64.b64encode(b"a")), ("k2", base64.b64encode(b"b")), ("k3", base64.b64encode(b"c"))]


def test_lambda_handler_deaggregates_as_on_aws(eng):
    """Lambda hands the aggregated record to the function unchanged (AWS documents that Lambda
    consumers deaggregate with the KPL deaggregation modules): a handler using aws-kinesis-agg
    sees the user records."""
    _, deaggregate_records = _agg()
    kinesis = eng.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    kpl.Producer(eng.backend("kinesis").get_stream("s")).put([b"a", b"b", b"c"], ["k1", "k2", "k3"])
    seen = []
    eng.register_function("f", lambda event, context: seen.extend(
        (r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"]))
        for r in deaggregate_records(event["Records"])))
    eng.client("lambda", region_name="us-east-1").create_event_source_mapping(
        FunctionName="f", EventSourceArn=arn, StartingPosition="TRIM_HORIZON")
    eng.backend("lambda").settle()
    assert seen == [("k1", b"a"), ("k2", b"b"), ("k3", b"c")]

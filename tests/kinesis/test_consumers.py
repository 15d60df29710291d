"""Enhanced fan-out through eng.client("kinesis"): register/describe/list/deregister consumers
and SubscribeToShard's EventStream (every event is checked against botocore's event shape)."""
import re

import pytest

from tests.kinesis.conftest import make_stream, shard_id, stream_arn


@pytest.fixture
def consumer(kin):
    make_stream(kin, "s", 2)
    return kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="app")["Consumer"]


def test_register_and_describe_consumer(kin, clock, consumer):
    assert consumer["ConsumerName"] == "app"
    assert consumer["ConsumerStatus"] == "ACTIVE"
    assert re.fullmatch(re.escape(stream_arn("s")) + r"/consumer/app:\d+", consumer["ConsumerARN"])
    assert consumer["ConsumerCreationTimestamp"].timestamp() == clock.now()
    by_arn = kin.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])["ConsumerDescription"]
    by_name = kin.describe_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="app")["ConsumerDescription"]
    assert by_arn == by_name
    assert by_arn["StreamARN"] == stream_arn("s")
    assert by_arn["ConsumerARN"] == consumer["ConsumerARN"]
    summary = kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]
    assert summary["ConsumerCount"] == 1


def test_list_stream_consumers_pages(kin, consumer):
    for name in ("b", "c", "d"):
        kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName=name)
    everything = kin.list_stream_consumers(StreamARN=stream_arn("s"))
    assert [c["ConsumerName"] for c in everything["Consumers"]] == ["app", "b", "c", "d"]
    assert "NextToken" not in everything
    page = kin.list_stream_consumers(StreamARN=stream_arn("s"), MaxResults=3)
    assert [c["ConsumerName"] for c in page["Consumers"]] == ["app", "b", "c"]
    page = kin.list_stream_consumers(StreamARN=stream_arn("s"), NextToken=page["NextToken"], MaxResults=3)
    assert [c["ConsumerName"] for c in page["Consumers"]] == ["d"] and "NextToken" not in page
    pages = list(kin.get_paginator("list_stream_consumers").paginate(
        StreamARN=stream_arn("s"), PaginationConfig={"PageSize": 2}))
    assert [[c["ConsumerName"] for c in p["Consumers"]] for p in pages] == [["app", "b"], ["c", "d"]]


def test_consumer_errors(kin, raw, consumer):
    with pytest.raises(raw.exceptions.ResourceInUseException):
        kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="app")
    with pytest.raises(raw.exceptions.ValidationException):
        kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="bad name")
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.register_stream_consumer(StreamARN=stream_arn("nope"), ConsumerName="x")
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.describe_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="other")
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"] + "0")
    for i in range(19):
        kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName=f"c{i}")
    with pytest.raises(raw.exceptions.LimitExceededException):
        kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="the-21st")
    assert len(kin.list_stream_consumers(StreamARN=stream_arn("s"))["Consumers"]) == 20


def test_deregister_consumer(kin, raw, consumer):
    kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="other")
    kin.deregister_stream_consumer(ConsumerARN=consumer["ConsumerARN"])
    kin.deregister_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="other")
    assert kin.list_stream_consumers(StreamARN=stream_arn("s"))["Consumers"] == []
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.deregister_stream_consumer(ConsumerARN=consumer["ConsumerARN"])
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"], ShardId=shard_id(0),
                               StartingPosition={"Type": "LATEST"})


def _subscribe(kin, consumer, shard=shard_id(0), **position):
    position.setdefault("Type", "TRIM_HORIZON")
    resp = kin.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"], ShardId=shard, StartingPosition=position)
    return resp["EventStream"]


def _events(stream, n):
    return [next(stream)["SubscribeToShardEvent"] for _ in range(n)]


def test_subscribe_to_shard_streams_records_in_order(kin, clock, consumer):
    sent = [b"r%d" % i for i in range(30)]
    kin.put_records(StreamName="s", Records=[{"Data": d, "PartitionKey": "k", "ExplicitHashKey": "0"} for d in sent])
    events = _subscribe(kin, consumer)
    first = next(events)["SubscribeToShardEvent"]
    assert [r["Data"] for r in first["Records"]] == sent
    seqs = [int(r["SequenceNumber"]) for r in first["Records"]]
    assert seqs == sorted(seqs)
    assert first["ContinuationSequenceNumber"] == first["Records"][-1]["SequenceNumber"]
    assert first["MillisBehindLatest"] == 0
    assert "ChildShards" not in first
    # nothing new: an empty event (the engine clock decides how long it waits)
    empty = next(events)["SubscribeToShardEvent"]
    assert empty["Records"] == [] and empty["ContinuationSequenceNumber"] == first["ContinuationSequenceNumber"]
    kin.put_record(StreamName="s", Data=b"later", PartitionKey="k", ExplicitHashKey="1")
    kin.put_record(StreamName="s", Data=b"other shard", PartitionKey="k", ExplicitHashKey=str(2**127 + 1))
    later = next(events)["SubscribeToShardEvent"]
    assert [r["Data"] for r in later["Records"]] == [b"later"]
    assert int(later["ContinuationSequenceNumber"]) > seqs[-1]


def test_subscribe_starting_positions(kin, clock, consumer):
    seqs = []
    for i in range(6):
        seqs.append(kin.put_record(StreamName="s", Data=b"%d" % i, PartitionKey="k", ExplicitHashKey="0")[
            "SequenceNumber"])
        clock.advance(10)
    t0 = clock.now() - 60
    cases = [({"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": seqs[2]}, [2, 3, 4, 5]),
             ({"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seqs[2]}, [3, 4, 5]),
             ({"Type": "AT_TIMESTAMP", "Timestamp": t0 + 40}, [4, 5]),
             ({"Type": "TRIM_HORIZON"}, [0, 1, 2, 3, 4, 5]),
             ({"Type": "LATEST"}, [])]
    for position, expected in cases:
        clock.advance(5)   # one subscription per consumer and shard at a time
        events = _subscribe(kin, consumer, **position)
        assert [r["Data"] for r in next(events)["SubscribeToShardEvent"]["Records"]] == [b"%d" % i for i in expected]
        events.close()


def test_resubscribe_from_continuation_loses_nothing(kin, clock, consumer):
    """A subscription that has read nothing yet still hands out a continuation number from which
    AFTER_SEQUENCE_NUMBER resumes without skipping the shard's first record."""
    events = _subscribe(kin, consumer, Type="LATEST")
    cont = next(events)["SubscribeToShardEvent"]["ContinuationSequenceNumber"]
    events.close()
    kin.put_record(StreamName="s", Data=b"first", PartitionKey="k", ExplicitHashKey="0")
    kin.put_record(StreamName="s", Data=b"second", PartitionKey="k", ExplicitHashKey="0")
    clock.advance(5)
    events = _subscribe(kin, consumer, Type="AFTER_SEQUENCE_NUMBER", SequenceNumber=cont)
    event = next(events)["SubscribeToShardEvent"]
    assert [r["Data"] for r in event["Records"]] == [b"first", b"second"]
    events.close()
    clock.advance(5)
    events = _subscribe(kin, consumer, Type="AFTER_SEQUENCE_NUMBER", SequenceNumber=event["ContinuationSequenceNumber"])
    kin.put_record(StreamName="s", Data=b"third", PartitionKey="k", ExplicitHashKey="0")
    assert [r["Data"] for r in next(events)["SubscribeToShardEvent"]["Records"]] == [b"third"]


def test_subscription_ends_with_child_shards_at_a_closed_shard(kin, consumer):
    kin.put_records(StreamName="s", Records=[{"Data": b"%d" % i, "PartitionKey": "k", "ExplicitHashKey": "0"}
                                            for i in range(3)])
    events = _subscribe(kin, consumer)
    assert len(next(events)["SubscribeToShardEvent"]["Records"]) == 3
    kin.put_record(StreamName="s", Data=b"last", PartitionKey="k", ExplicitHashKey="0")
    kin.split_shard(StreamName="s", ShardToSplit=shard_id(0), NewStartingHashKey="1000")
    rest = list(events)
    assert [r["Data"] for e in rest for r in e["SubscribeToShardEvent"]["Records"]] == [b"last"]
    final = rest[-1]["SubscribeToShardEvent"]
    assert [c["ShardId"] for c in final["ChildShards"]] == [shard_id(2), shard_id(3)]
    assert all(c["ParentShards"] == [shard_id(0)] for c in final["ChildShards"])
    assert all("ChildShards" not in e["SubscribeToShardEvent"] for e in rest[:-1])
    # the shard's end: no continuation (the KCL and the Flink/Beam connectors read it so)
    assert "ContinuationSequenceNumber" not in final
    assert all("ContinuationSequenceNumber" in e["SubscribeToShardEvent"] for e in rest[:-1])


def test_subscription_lasts_five_minutes(kin, clock, consumer):
    events = _subscribe(kin, consumer, shard=shard_id(1), Type="LATEST")
    next(events)
    clock.advance(299)
    kin.put_record(StreamName="s", Data=b"x", PartitionKey="k", ExplicitHashKey=str(2**127 + 5))
    assert [r["Data"] for r in next(events)["SubscribeToShardEvent"]["Records"]] == [b"x"]
    clock.advance(2)
    with pytest.raises(StopIteration):
        next(events)


def test_one_subscription_per_shard_at_a_time(kin, raw, clock, consumer):
    _subscribe(kin, consumer)
    with pytest.raises(raw.exceptions.ResourceInUseException):
        _subscribe(kin, consumer)
    _subscribe(kin, consumer, shard=shard_id(1))     # another shard is fine
    clock.advance(5)
    _subscribe(kin, consumer)                         # after 5 s a new subscription replaces the old


def test_subscribe_to_unknown_shard(kin, raw, consumer):
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        _subscribe(kin, consumer, shard=shard_id(7))

"""Documented throughput limits: Engine(enforce_limits=True) throttling with
ProvisionedThroughputExceededException and recovery on the engine clock; ON_DEMAND scaling."""
import pytest

from tests.kinesis.conftest import (ShapeCheckedClient, iterator, list_all_shards, make_stream, open_shards,
                                    read_shard, shard_id)

KiB = 1024


@pytest.fixture
def lk(limited, shape):
    return ShapeCheckedClient(limited.client("kinesis"), shape)


@pytest.fixture
def lraw(limited):
    return limited.client("kinesis")


def _batch(n, tag="x", explicit=None):
    records = [{"Data": f"{tag}{i}".encode(), "PartitionKey": f"{tag}{i}"} for i in range(n)]
    if explicit is not None:
        for r in records:
            r["ExplicitHashKey"] = explicit
    return records


def test_put_records_over_1000_records_per_second_fails_per_record(lk, clock):
    make_stream(lk, "s", 1)
    assert lk.put_records(StreamName="s", Records=_batch(500, "a"))["FailedRecordCount"] == 0
    resp = lk.put_records(StreamName="s", Records=_batch(500, "b") + _batch(0))
    assert resp["FailedRecordCount"] == 0
    resp = lk.put_records(StreamName="s", Records=_batch(300, "c"))
    assert resp["FailedRecordCount"] == 300
    for r in resp["Records"]:
        assert set(r) == {"ErrorCode", "ErrorMessage"}
        assert r["ErrorCode"] == "ProvisionedThroughputExceededException"
        assert shard_id(0) in r["ErrorMessage"]
    assert len(read_shard(lk, "s", shard_id(0))) == 1000        # refused records were not stored
    clock.advance(1)
    resp = lk.put_records(StreamName="s", Records=_batch(300, "c"))
    assert resp["FailedRecordCount"] == 0
    assert all("SequenceNumber" in r for r in resp["Records"])


def test_partial_failure_keeps_the_first_records(lk, clock):
    make_stream(lk, "s", 1)
    lk.put_records(StreamName="s", Records=_batch(500, "a"))
    lk.put_records(StreamName="s", Records=_batch(300, "b"))
    resp = lk.put_records(StreamName="s", Records=_batch(500, "c"))
    assert resp["FailedRecordCount"] == 300
    ok = [i for i, r in enumerate(resp["Records"]) if "SequenceNumber" in r]
    assert ok == list(range(200))
    stored = [r["Data"] for r in read_shard(lk, "s", shard_id(0))]
    assert stored[-200:] == [b"c%d" % i for i in range(200)] and len(stored) == 1000
    # tokens refill with time: half a second gives 500 more
    clock.advance(0.5)
    assert lk.put_records(StreamName="s", Records=_batch(500, "d"))["FailedRecordCount"] == 0
    assert lk.put_records(StreamName="s", Records=_batch(1, "e"))["FailedRecordCount"] == 1


def test_limits_are_per_shard(lk):
    make_stream(lk, "s", 2)
    top = str(2**128 - 1)
    for _ in range(2):
        assert lk.put_records(StreamName="s", Records=_batch(500, "a", explicit="0"))["FailedRecordCount"] == 0
    assert lk.put_records(StreamName="s", Records=_batch(10, "b", explicit="0"))["FailedRecordCount"] == 10
    assert lk.put_records(StreamName="s", Records=_batch(500, "c", explicit=top))["FailedRecordCount"] == 0
    mixed = _batch(3, "d", explicit="0") + _batch(3, "e", explicit=top)
    resp = lk.put_records(StreamName="s", Records=mixed)
    assert resp["FailedRecordCount"] == 3
    assert ["ErrorCode" in r for r in resp["Records"]] == [True] * 3 + [False] * 3


def test_one_mib_per_second_per_shard(lk, lraw, clock):
    make_stream(lk, "s", 1)
    big = b"\x07" * (600 * KiB)
    lk.put_record(StreamName="s", Data=big, PartitionKey="k")
    with pytest.raises(lraw.exceptions.ProvisionedThroughputExceededException):
        lk.put_record(StreamName="s", Data=big, PartitionKey="k")
    resp = lk.put_records(StreamName="s", Records=[{"Data": b"small", "PartitionKey": "k"},
                                                   {"Data": big, "PartitionKey": "k"},
                                                   {"Data": b"small", "PartitionKey": "k"}])
    # within one shard the engine refuses from the first record over the allowance on, so a
    # retry of the failed records keeps their order
    assert [("ErrorCode" in r) for r in resp["Records"]] == [False, True, True]
    assert resp["FailedRecordCount"] == 2
    clock.advance(1)
    lk.put_record(StreamName="s", Data=big, PartitionKey="k")
    assert [len(r["Data"]) for r in read_shard(lk, "s", shard_id(0))] == [len(big), 5, len(big)]


def test_put_record_raises_when_throttled_and_recovers(lk, lraw, clock):
    make_stream(lk, "s", 1)
    lk.put_records(StreamName="s", Records=_batch(500))
    lk.put_records(StreamName="s", Records=_batch(500))
    with pytest.raises(lraw.exceptions.ProvisionedThroughputExceededException) as err:
        lk.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert err.value.operation_name == "PutRecord"
    clock.advance(0.01)    # 10 records' worth
    lk.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    assert len(read_shard(lk, "s", shard_id(0))) == 1001


def test_get_records_over_five_calls_per_second(lk, lraw, clock):
    make_stream(lk, "s", 1)
    lk.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    it = iterator(lk, "s", shard_id(0))
    for _ in range(5):
        assert len(lk.get_records(ShardIterator=it)["Records"]) == 1
    with pytest.raises(lraw.exceptions.ProvisionedThroughputExceededException) as err:
        lk.get_records(ShardIterator=it)
    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    clock.advance(0.2)      # one call's worth
    lk.get_records(ShardIterator=it)
    with pytest.raises(lraw.exceptions.ProvisionedThroughputExceededException):
        lk.get_records(ShardIterator=it)
    clock.advance(1)
    for _ in range(5):
        lk.get_records(ShardIterator=it)


def test_read_bytes_two_mib_per_second(lk, lraw, clock):
    make_stream(lk, "s", 1)
    mib = b"\x01" * (1024 * KiB - 8)
    for _ in range(3):
        lk.put_record(StreamName="s", Data=mib, PartitionKey="k")
        clock.advance(1)
    resp = lk.get_records(ShardIterator=iterator(lk, "s", shard_id(0)))
    assert len(resp["Records"]) == 3          # one response may return more than the per-second rate
    with pytest.raises(lraw.exceptions.ProvisionedThroughputExceededException):
        lk.get_records(ShardIterator=resp["NextShardIterator"])      # ...and later calls wait it out
    clock.advance(0.3)
    with pytest.raises(lraw.exceptions.ProvisionedThroughputExceededException):
        lk.get_records(ShardIterator=resp["NextShardIterator"])
    clock.advance(0.3)
    assert lk.get_records(ShardIterator=resp["NextShardIterator"])["Records"] == []


def test_limits_are_off_by_default(kin):
    make_stream(kin, "s", 1)
    for _ in range(10):
        assert kin.put_records(StreamName="s", Records=_batch(500))["FailedRecordCount"] == 0
    it = iterator(kin, "s", shard_id(0))
    for _ in range(20):
        kin.get_records(ShardIterator=it, Limit=1)
    assert len(read_shard(kin, "s", shard_id(0))) == 5000


# --- ON_DEMAND scaling -------------------------------------------------------------------------

def _write_for(kin, clock, seconds, per_second, key=None):
    """Write `per_second` records each engine second for `seconds` seconds (500-record batches)."""
    n = 0
    for sec in range(seconds):
        left = per_second
        while left:
            size = min(500, left)
            records = [{"Data": b"d", "PartitionKey": key or f"{sec}-{n + i}"} for i in range(size)]
            assert kin.put_records(StreamName="od", Records=records)["FailedRecordCount"] == 0
            n += size
            left -= size
        clock.advance(1)
    return n


def test_on_demand_splits_shards_under_sustained_load(kin, clock):
    kin.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    _write_for(kin, clock, 61, 6000)          # ~1,500 records/s per shard, above 1,000
    kin.put_record(StreamName="od", Data=b"after", PartitionKey="k")
    opened = open_shards(kin, "od")
    assert len(opened) == 8
    parents = {s["ParentShardId"] for s in opened}
    assert parents == {shard_id(i) for i in range(4)}
    shards = list_all_shards(kin, "od")
    assert len(shards) == 12
    assert all("EndingSequenceNumber" in s["SequenceNumberRange"] for s in shards[:4])
    summary = kin.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 8


def test_on_demand_does_not_split_below_capacity(kin, clock):
    kin.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    _write_for(kin, clock, 61, 3000)          # ~750 records/s per shard
    kin.put_record(StreamName="od", Data=b"after", PartitionKey="k")
    assert len(open_shards(kin, "od")) == 4


def test_on_demand_ignores_a_short_burst(kin, clock):
    kin.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    _write_for(kin, clock, 20, 6000)          # 1,500/s per shard for 20 s, then quiet
    clock.advance(45)
    kin.put_record(StreamName="od", Data=b"after", PartitionKey="k")
    assert len(open_shards(kin, "od")) == 4


def test_on_demand_splits_only_the_hot_shard(kin, clock):
    kin.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    hot_key = "hot"
    _write_for(kin, clock, 61, 1500, key=hot_key)
    kin.put_record(StreamName="od", Data=b"after", PartitionKey="k")
    opened = open_shards(kin, "od")
    assert len(opened) == 5
    split = [s for s in opened if "ParentShardId" in s]
    assert len(split) == 2 and split[0]["ParentShardId"] == split[1]["ParentShardId"]
    hot_parent = split[0]["ParentShardId"]
    in_parent = read_shard(kin, "od", hot_parent)
    assert {r["PartitionKey"] for r in in_parent} == {hot_key}
    assert len(in_parent) >= 60 * 1500          # the split came once the 60 s window was over
    in_child = [r for s in split for r in read_shard(kin, "od", s["ShardId"]) if r["PartitionKey"] == hot_key]
    assert len(in_parent) + len(in_child) == 61 * 1500

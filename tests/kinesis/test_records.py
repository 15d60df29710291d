"""Writes and reads through eng.client("kinesis"): routing, sequence numbers, iterators of every
type, get_records paging, MillisBehindLatest, retention and iterator expiry."""
import base64
import datetime
import io
import random
import re

import pytest

from tests.kinesis.conftest import (HASH_MAX, drain, iterator, list_all_shards, make_stream, md5_int, owner,
                                    read_shard, read_stream, shard_id, stream_arn)

UTC = datetime.timezone.utc
DECIMAL = re.compile(r"0|[1-9][0-9]*")


def test_put_record_routes_by_md5_of_partition_key(kin):
    make_stream(kin, "s", 5)
    shards = list_all_shards(kin, "s")
    rng = random.Random(7)
    keys = ["user-1", "é", "日本語キー", "k" * 256, "🙂 emoji"] + [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_é€") for _ in range(rng.randint(1, 40)))
        for _ in range(200)]
    seen = set()
    for key in keys:
        resp = kin.put_record(StreamName="s", Data=key.encode(), PartitionKey=key)
        assert resp["ShardId"] == owner(shards, md5_int(key)), key
        seen.add(resp["ShardId"])
    assert len(seen) == 5   # 205 random keys reach every one of 5 shards
    stored = read_stream(kin, "s")
    for sid, records in stored.items():
        for r in records:
            assert owner(shards, md5_int(r["PartitionKey"])) == sid
            assert r["Data"] == r["PartitionKey"].encode()
    assert sum(len(r) for r in stored.values()) == len(keys)


def test_put_records_routes_each_record_and_keeps_request_order(kin):
    make_stream(kin, "s", 4)
    shards = list_all_shards(kin, "s")
    entries = [{"Data": f"payload-{i}".encode(), "PartitionKey": f"key-{i % 37}"} for i in range(500)]
    resp = kin.put_records(StreamName="s", Records=entries)
    assert resp["FailedRecordCount"] == 0
    assert resp["EncryptionType"] == "NONE"
    assert len(resp["Records"]) == 500
    for entry, result in zip(entries, resp["Records"]):
        assert set(result) == {"SequenceNumber", "ShardId"}
        assert result["ShardId"] == owner(shards, md5_int(entry["PartitionKey"]))
    stored = read_stream(kin, "s")
    by_seq = {r["SequenceNumber"]: r for recs in stored.values() for r in recs}
    for entry, result in zip(entries, resp["Records"]):
        rec = by_seq[result["SequenceNumber"]]
        assert rec["Data"] == entry["Data"] and rec["PartitionKey"] == entry["PartitionKey"]
    # within a shard, records are stored in request order
    for sid, recs in stored.items():
        expected = [e["Data"] for e, r in zip(entries, resp["Records"]) if r["ShardId"] == sid]
        assert [r["Data"] for r in recs] == expected


def test_explicit_hash_key_overrides_partition_key(kin):
    make_stream(kin, "s", 4)
    shards = list_all_shards(kin, "s")
    starts = [int(s["HashKeyRange"]["StartingHashKey"]) for s in shards]
    cases = [0, 1, starts[1] - 1, starts[1], starts[2], starts[3] - 1, starts[3], HASH_MAX]
    for value in cases:
        resp = kin.put_record(StreamName="s", Data=b"x", PartitionKey="same-key", ExplicitHashKey=str(value))
        assert resp["ShardId"] == owner(shards, value), value
    resp = kin.put_records(StreamName="s", Records=[
        {"Data": b"a", "PartitionKey": "same-key", "ExplicitHashKey": str(HASH_MAX)},
        {"Data": b"b", "PartitionKey": "same-key"},
        {"Data": b"c", "PartitionKey": "same-key", "ExplicitHashKey": "0"}])
    assert [r["ShardId"] for r in resp["Records"]] == [
        shard_id(3), owner(shards, md5_int("same-key")), shard_id(0)]


def test_sequence_numbers_are_decimal_strings_increasing_per_shard(kin):
    make_stream(kin, "s", 3)
    last = {}
    rng = random.Random(3)
    for batch in range(6):
        resp = kin.put_records(StreamName="s", Records=[
            {"Data": b"d", "PartitionKey": str(rng.random())} for _ in range(100)])
        for r in resp["Records"]:
            assert DECIMAL.fullmatch(r["SequenceNumber"]), r["SequenceNumber"]
            seq = int(r["SequenceNumber"])
            assert seq > last.get(r["ShardId"], -1)
            last[r["ShardId"]] = seq
        single = kin.put_record(StreamName="s", Data=b"d", PartitionKey=str(batch))
        assert int(single["SequenceNumber"]) > last.get(single["ShardId"], -1)
        last[single["ShardId"]] = int(single["SequenceNumber"])
    for sid, recs in read_stream(kin, "s").items():
        seqs = [int(r["SequenceNumber"]) for r in recs]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        starting = int(next(s for s in list_all_shards(kin, "s") if s["ShardId"] == sid)[
            "SequenceNumberRange"]["StartingSequenceNumber"])
        assert all(q >= starting for q in seqs)


def test_sequence_number_for_ordering(kin):
    make_stream(kin, "s", 2)
    prev = kin.put_record(StreamName="s", Data=b"1", PartitionKey="pk")["SequenceNumber"]
    for i in range(5):
        resp = kin.put_record(StreamName="s", Data=str(i).encode(), PartitionKey="pk",
                              SequenceNumberForOrdering=prev)
        assert int(resp["SequenceNumber"]) > int(prev)
        prev = resp["SequenceNumber"]


def test_data_blob_forms_round_trip(kin):
    make_stream(kin, "s")
    blobs = [b"\x00\xff\x00binary", "text é".encode(), b"", bytes(range(256))]
    kin.put_record(StreamName="s", Data=blobs[0], PartitionKey="k")
    kin.put_record(StreamName="s", Data="text é", PartitionKey="k")              # str: utf-8
    kin.put_record(StreamName="s", Data=bytearray(), PartitionKey="k")           # empty blob is allowed
    kin.put_record(StreamName="s", Data=io.BytesIO(blobs[3]), PartitionKey="k")  # file-like
    kin.put_records(StreamName="s", Records=[{"Data": b, "PartitionKey": "k"} for b in blobs])
    assert [r["Data"] for r in read_shard(kin, "s", shard_id(0))] == blobs + blobs


def test_records_carry_arrival_timestamp_from_engine_clock(kin, clock):
    make_stream(kin, "s")
    kin.put_record(StreamName="s", Data=b"a", PartitionKey="k")
    clock.advance(12.5)
    kin.put_record(StreamName="s", Data=b"b", PartitionKey="k")
    records = read_shard(kin, "s", shard_id(0))
    stamps = [r["ApproximateArrivalTimestamp"] for r in records]
    assert all(t.tzinfo is not None for t in stamps)
    assert [t.timestamp() for t in stamps] == [clock.now() - 12.5, clock.now()]


# --- iterators ------------------------------------------------------------------------------

@pytest.fixture
def ten(kin, clock):
    """One shard, records r0..r9 put one second apart; returns their sequence numbers."""
    make_stream(kin, "s")
    seqs = []
    for i in range(10):
        seqs.append(kin.put_record(StreamName="s", Data=b"r%d" % i, PartitionKey="k")["SequenceNumber"])
        clock.advance(1)
    return seqs


def _data(records):
    return [r["Data"] for r in records]


def test_trim_horizon_reads_everything(kin, ten):
    assert _data(drain(kin, iterator(kin, "s", shard_id(0)))[0]) == [b"r%d" % i for i in range(10)]


def test_latest_reads_only_new_records(kin, ten):
    it = iterator(kin, "s", shard_id(0), "LATEST")
    resp = kin.get_records(ShardIterator=it)
    assert resp["Records"] == [] and resp["MillisBehindLatest"] == 0
    kin.put_record(StreamName="s", Data=b"new", PartitionKey="k")
    assert _data(kin.get_records(ShardIterator=resp["NextShardIterator"])["Records"]) == [b"new"]


def test_at_and_after_sequence_number(kin, ten):
    at = iterator(kin, "s", shard_id(0), "AT_SEQUENCE_NUMBER", StartingSequenceNumber=ten[4])
    assert _data(drain(kin, at)[0]) == [b"r%d" % i for i in range(4, 10)]
    after = iterator(kin, "s", shard_id(0), "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=ten[4])
    assert _data(drain(kin, after)[0]) == [b"r%d" % i for i in range(5, 10)]
    after_last = iterator(kin, "s", shard_id(0), "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=ten[9])
    assert drain(kin, after_last)[0] == []


def test_at_timestamp(kin, ten, clock):
    t0 = clock.now() - 10   # r0 arrived at t0, r_i at t0 + i
    for ts, first in [(t0 + 3, 3), (t0 + 2.5, 3), (t0 - 100, 0), (t0 + 9, 9)]:
        for form in (ts, datetime.datetime.fromtimestamp(ts, UTC)):
            it = iterator(kin, "s", shard_id(0), "AT_TIMESTAMP", Timestamp=form)
            assert _data(drain(kin, it)[0]) == [b"r%d" % i for i in range(first, 10)], (ts, form)
    future = iterator(kin, "s", shard_id(0), "AT_TIMESTAMP", Timestamp=clock.now() + 60)
    assert drain(kin, future)[0] == []


def test_iterator_type_parameters_are_required(kin, raw, ten):
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        with pytest.raises(raw.exceptions.InvalidArgumentException):
            iterator(kin, "s", shard_id(0), kind)
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        iterator(kin, "s", shard_id(0), "AT_TIMESTAMP")
    with pytest.raises(raw.exceptions.InvalidArgumentException):   # a number from no record of this stream
        iterator(kin, "s", shard_id(0), "AT_SEQUENCE_NUMBER", StartingSequenceNumber=str(int(ten[-1]) + 1000))
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        iterator(kin, "s", shard_id(0), "AT_SEQUENCE_NUMBER", StartingSequenceNumber="1")


def test_get_records_limit_and_next_iterator(kin):
    make_stream(kin, "s")
    kin.put_records(StreamName="s", Records=[{"Data": b"%d" % i, "PartitionKey": "k"} for i in range(25)])
    it = iterator(kin, "s", shard_id(0))
    pages = []
    for _ in range(4):
        resp = kin.get_records(ShardIterator=it, Limit=10)
        pages.append(_data(resp["Records"]))
        assert "ChildShards" not in resp
        it = resp["NextShardIterator"]
    assert pages == [[b"%d" % i for i in range(0, 10)], [b"%d" % i for i in range(10, 20)],
                     [b"%d" % i for i in range(20, 25)], []]
    # an open shard always hands back a NextShardIterator, even when caught up
    kin.put_record(StreamName="s", Data=b"late", PartitionKey="k")
    assert _data(kin.get_records(ShardIterator=it)["Records"]) == [b"late"]


def test_get_records_default_limit_is_10000(kin, backend):
    make_stream(kin, "s")
    stream = backend.get_stream("s")
    stream.put_batch([b"x"] * 12_000, ["k"] * 12_000)
    resp = kin.get_records(ShardIterator=iterator(kin, "s", shard_id(0)))
    assert len(resp["Records"]) == 10_000
    assert len(kin.get_records(ShardIterator=resp["NextShardIterator"])["Records"]) == 2_000


def test_get_records_returns_at_most_10_mib(kin, backend):
    make_stream(kin, "s")
    backend.get_stream("s").put_batch([b"m" * (1024 * 1024 - 1)] * 12, ["k"] * 12)   # + the key: 1 MiB
    resp = kin.get_records(ShardIterator=iterator(kin, "s", shard_id(0)))
    assert len(resp["Records"]) == 10
    resp = kin.get_records(ShardIterator=resp["NextShardIterator"])
    assert len(resp["Records"]) == 2
    # a single record of the largest size still comes back alone
    kin.update_max_record_size(StreamARN=stream_arn("s"), MaxRecordSizeInKiB=10240)
    kin.put_record(StreamName="s", Data=b"L" * (10 * 1024 * 1024 - 1), PartitionKey="k")
    kin.put_record(StreamName="s", Data=b"tail", PartitionKey="k")
    resp = kin.get_records(ShardIterator=resp["NextShardIterator"])
    assert [len(r["Data"]) for r in resp["Records"]] == [10 * 1024 * 1024 - 1]
    assert [r["Data"] for r in kin.get_records(ShardIterator=resp["NextShardIterator"])["Records"]] == [b"tail"]


def test_millis_behind_latest(kin, clock):
    make_stream(kin, "s")
    kin.put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": "k"} for _ in range(20)])
    clock.advance(5)
    resp = kin.get_records(ShardIterator=iterator(kin, "s", shard_id(0)), Limit=5)
    assert resp["MillisBehindLatest"] == 5000
    resp = kin.get_records(ShardIterator=resp["NextShardIterator"])
    assert len(resp["Records"]) == 15
    assert resp["MillisBehindLatest"] == 0   # caught up
    clock.advance(2)
    assert kin.get_records(ShardIterator=resp["NextShardIterator"])["MillisBehindLatest"] == 0


def test_get_records_by_stream_arn_and_shard_id_forms(kin):
    make_stream(kin, "s", 2)
    kin.put_record(StreamName="s", Data=b"x", PartitionKey="k", ExplicitHashKey="0")
    it = kin.get_shard_iterator(StreamARN=stream_arn("s"), ShardId=shard_id(0),
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert _data(kin.get_records(ShardIterator=it, StreamARN=stream_arn("s"))["Records"]) == [b"x"]


# --- iterator expiry and malformed iterators ------------------------------------------------------

def test_iterator_expires_after_five_minutes(kin, raw, clock):
    make_stream(kin, "s")
    kin.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    it = iterator(kin, "s", shard_id(0))
    clock.advance(299)
    resp = kin.get_records(ShardIterator=it)
    assert _data(resp["Records"]) == [b"x"]
    clock.advance(2)
    with pytest.raises(raw.exceptions.ExpiredIteratorException) as err:
        kin.get_records(ShardIterator=it)           # issued 301 s ago
    assert err.value.response["Error"]["Code"] == "ExpiredIteratorException"
    # NextShardIterator is a fresh iterator: valid for 5 minutes from when it was handed out
    nxt = resp["NextShardIterator"]
    clock.advance(297)
    kin.get_records(ShardIterator=nxt)
    clock.advance(5)
    with pytest.raises(raw.exceptions.ExpiredIteratorException):
        kin.get_records(ShardIterator=nxt)


@pytest.mark.parametrize("token", [
    "garbage",
    "AAAA",
    "not base64 at all!!",
    base64.b64encode(b"e1|s|1|0|0").decode(),                 # too few fields
    base64.b64encode(b"e9|s|1|0|0|0").decode(),               # unknown version
    base64.b64encode(b"e1|s|x|0|0|0").decode(),               # not numbers
    base64.b64encode("e1|s|1|0|0|\udcff".encode("utf-8", "surrogatepass")).decode(),
])
def test_malformed_iterator_is_invalid_argument(kin, raw, token):
    make_stream(kin, "s")
    with pytest.raises(raw.exceptions.InvalidArgumentException) as err:
        kin.get_records(ShardIterator=token)
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"


def test_overlong_iterator_breaks_the_model_constraint(kin, raw):
    make_stream(kin, "s")
    with pytest.raises(raw.exceptions.ValidationException, match="at 'shardIterator' failed to satisfy constraint: "
                                                                   "Member must have length less than or equal to 512"):
        kin.get_records(ShardIterator="x" * 513)


# --- retention --------------------------------------------------------------------------------

def test_records_disappear_after_retention(kin, clock):
    make_stream(kin, "s")
    kin.put_record(StreamName="s", Data=b"old", PartitionKey="k")
    clock.advance(23 * 3600)
    kin.put_record(StreamName="s", Data=b"newer", PartitionKey="k")
    assert _data(read_shard(kin, "s", shard_id(0))) == [b"old", b"newer"]
    clock.advance(3600 + 2)                           # "old" is now 24 h + 2 s old
    assert _data(read_shard(kin, "s", shard_id(0))) == [b"newer"]
    clock.advance(23 * 3600)
    assert _data(read_shard(kin, "s", shard_id(0))) == []


def test_iterator_does_not_serve_records_past_retention(kin, clock):
    make_stream(kin, "s")
    kin.put_record(StreamName="s", Data=b"old", PartitionKey="k")
    clock.advance(24 * 3600 - 10)
    it = iterator(kin, "s", shard_id(0))              # still inside the retention period
    clock.advance(20)
    assert kin.get_records(ShardIterator=it)["Records"] == []


def test_increase_and_decrease_retention(kin, raw, clock):
    make_stream(kin, "s")
    kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=72)
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["RetentionPeriodHours"] == 72
    kin.put_record(StreamName="s", Data=b"a", PartitionKey="k")
    clock.advance(48 * 3600)
    kin.put_record(StreamName="s", Data=b"b", PartitionKey="k")
    assert _data(read_shard(kin, "s", shard_id(0))) == [b"a", b"b"]
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=48)   # shorter: not an increase
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=96)   # longer: not a decrease
    kin.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=24)
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["RetentionPeriodHours"] == 24
    assert _data(read_shard(kin, "s", shard_id(0))) == [b"b"]    # "a" (48 h old) left at once
    kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=8760)
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["RetentionPeriodHours"] == 8760
    clock.advance(300 * 24 * 3600)
    assert _data(read_shard(kin, "s", shard_id(0))) == [b"b"]


@pytest.mark.parametrize("hours", [1, 23, 8761, 100_000])
def test_retention_bounds(kin, raw, hours):
    make_stream(kin, "s")
    for op in (kin.increase_stream_retention_period, kin.decrease_stream_retention_period):
        with pytest.raises(raw.exceptions.InvalidArgumentException) as err:
            op(StreamName="s", RetentionPeriodHours=hours)
        assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["RetentionPeriodHours"] == 24

"""Resharding through eng.client("kinesis"): split_shard, merge_shards, update_shard_count,
lineage, closed shards' ends, list_shards filters and paging, and a hypothesis state machine
over random split/merge/update sequences checking that the open shards always cover
[0, 2^128-1] exactly and every record stays readable in order."""
import datetime
import random

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import engine
from tests.kinesis.conftest import (HASH_MAX, ShapeCheckedClient, drain, iterator, list_all_shards, make_stream,
                                    md5_int, open_shards, owner, read_shard, shard_id, stream_arn)
from tests.shapes import assert_shape

UTC = datetime.timezone.utc


def _range(shard):
    return int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])


def assert_open_shards_cover_hash_space(shards):
    opened = sorted((s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]), key=_range)
    assert opened, "no open shard"
    assert _range(opened[0])[0] == 0
    assert _range(opened[-1])[1] == HASH_MAX
    for a, b in zip(opened, opened[1:]):
        assert _range(b)[0] == _range(a)[1] + 1, (a["ShardId"], b["ShardId"])   # no gap, no overlap
    for s in opened:
        lo, hi = _range(s)
        assert lo <= hi


def assert_lineage_exact(shards):
    """Every child's range is exactly the union of its (at most two, adjacent) parents' ranges,
    and every parent is closed with an EndingSequenceNumber below the child's first number."""
    by_id = {s["ShardId"]: s for s in shards}
    for s in shards:
        parents = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p]
        if not parents or any(p not in by_id for p in parents):
            continue   # roots, or parents already past the retention period
        ranges = sorted(_range(by_id[p]) for p in parents)
        if len(ranges) == 2:
            assert ranges[0][1] + 1 == ranges[1][0], "parents must be adjacent"
        assert (ranges[0][0], ranges[-1][1]) == _range(s) or (
            len(parents) == 1 and ranges[0][0] <= _range(s)[0] <= _range(s)[1] <= ranges[0][1])
        for p in parents:
            end = by_id[p]["SequenceNumberRange"].get("EndingSequenceNumber")
            assert end is not None, f"parent {p} of {s['ShardId']} is still open"
            assert int(end) < int(s["SequenceNumberRange"]["StartingSequenceNumber"])
            assert int(end) >= int(by_id[p]["SequenceNumberRange"]["StartingSequenceNumber"]), "empty range"
    # a split's children tile their parent exactly
    children = {}
    for s in shards:
        if s.get("ParentShardId") and not s.get("AdjacentParentShardId"):
            children.setdefault(s["ParentShardId"], []).append(_range(s))
    for parent, ranges in children.items():
        if parent in by_id and len(ranges) == 2:
            ranges.sort()
            assert ranges[0][1] + 1 == ranges[1][0]
            assert (ranges[0][0], ranges[1][1]) == _range(by_id[parent])


# --- split ---------------------------------------------------------------------------------

def test_split_shard(kin, clock):
    make_stream(kin, "s", 1)
    kin.put_records(StreamName="s", Records=[{"Data": b"before-%d" % i, "PartitionKey": str(i)} for i in range(50)])
    last_parent_seq = int(read_shard(kin, "s", shard_id(0))[-1]["SequenceNumber"])
    clock.advance(10)
    middle = 2**127
    assert set(kin.split_shard(StreamName="s", ShardToSplit=shard_id(0), NewStartingHashKey=str(middle))) == {
        "ResponseMetadata"}
    shards = list_all_shards(kin, "s")
    assert [s["ShardId"] for s in shards] == [shard_id(0), shard_id(1), shard_id(2)]
    parent, low, high = shards
    assert _range(parent) == (0, HASH_MAX)
    end = int(parent["SequenceNumberRange"]["EndingSequenceNumber"])
    assert end >= last_parent_seq
    assert _range(low) == (0, middle - 1) and _range(high) == (middle, HASH_MAX)
    for child in (low, high):
        assert child["ParentShardId"] == shard_id(0) and "AdjacentParentShardId" not in child
        assert int(child["SequenceNumberRange"]["StartingSequenceNumber"]) > end
        assert "EndingSequenceNumber" not in child["SequenceNumberRange"]
    assert [s["ShardId"] for s in open_shards(kin, "s")] == [shard_id(1), shard_id(2)]
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["OpenShardCount"] == 2
    # new records go to the children by MD5; the parent keeps what it had
    resp = kin.put_records(StreamName="s", Records=[{"Data": b"after", "PartitionKey": str(i)} for i in range(50)])
    for i, r in enumerate(resp["Records"]):
        assert r["ShardId"] == (shard_id(1) if md5_int(str(i)) < middle else shard_id(2))
    assert [r["Data"] for r in read_shard(kin, "s", shard_id(0))] == [b"before-%d" % i for i in range(50)]


def test_closed_shard_end_has_child_shards_and_no_next_iterator(kin):
    make_stream(kin, "s", 1)
    kin.put_records(StreamName="s", Records=[{"Data": b"%d" % i, "PartitionKey": "k"} for i in range(5)])
    it = iterator(kin, "s", shard_id(0))
    first = kin.get_records(ShardIterator=it, Limit=3)
    assert "ChildShards" not in first and "NextShardIterator" in first
    kin.split_shard(StreamName="s", ShardToSplit=shard_id(0), NewStartingHashKey="1000")
    rest = kin.get_records(ShardIterator=first["NextShardIterator"])
    assert [r["Data"] for r in rest["Records"]] == [b"3", b"4"]
    assert "NextShardIterator" not in rest
    assert rest["ChildShards"] == [
        {"ShardId": shard_id(1), "ParentShards": [shard_id(0)],
         "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "999"}},
        {"ShardId": shard_id(2), "ParentShards": [shard_id(0)],
         "HashKeyRange": {"StartingHashKey": "1000", "EndingHashKey": str(HASH_MAX)}}]
    # LATEST on a closed shard is its end at once
    latest = kin.get_records(ShardIterator=iterator(kin, "s", shard_id(0), "LATEST"))
    assert latest["Records"] == [] and "NextShardIterator" not in latest and len(latest["ChildShards"]) == 2


def test_merge_shards(kin, clock):
    make_stream(kin, "s", 3)
    kin.put_records(StreamName="s", Records=[{"Data": b"%d" % i, "PartitionKey": str(i)} for i in range(60)])
    before = {sid: read_shard(kin, "s", sid) for sid in (shard_id(1), shard_id(2))}
    clock.advance(5)
    assert set(kin.merge_shards(StreamName="s", ShardToMerge=shard_id(1),
                                AdjacentShardToMerge=shard_id(2))) == {"ResponseMetadata"}
    shards = {s["ShardId"]: s for s in list_all_shards(kin, "s")}
    child = shards[shard_id(3)]
    assert child["ParentShardId"] == shard_id(1)
    assert child["AdjacentParentShardId"] == shard_id(2)
    assert _range(child) == (_range(shards[shard_id(1)])[0], HASH_MAX)
    for p in (shard_id(1), shard_id(2)):
        end = int(shards[p]["SequenceNumberRange"]["EndingSequenceNumber"])
        assert all(int(r["SequenceNumber"]) <= end for r in before[p])
        assert end < int(child["SequenceNumberRange"]["StartingSequenceNumber"])
        assert read_shard(kin, "s", p) == before[p]   # parents stay readable
        recs, last = drain(kin, iterator(kin, "s", p))
        assert last["ChildShards"] == [{"ShardId": shard_id(3), "ParentShards": [shard_id(1), shard_id(2)],
                                        "HashKeyRange": child["HashKeyRange"]}]
    assert [s["ShardId"] for s in open_shards(kin, "s")] == [shard_id(0), shard_id(3)]
    assert_open_shards_cover_hash_space(list(shards.values()))
    # merging in either order names the first argument as ParentShardId
    kin.merge_shards(StreamName="s", ShardToMerge=shard_id(3), AdjacentShardToMerge=shard_id(0))
    last = list_all_shards(kin, "s")[-1]
    assert (last["ParentShardId"], last["AdjacentParentShardId"]) == (shard_id(3), shard_id(0))
    assert _range(last) == (0, HASH_MAX)


def test_merge_refuses_non_adjacent_and_closed_shards(kin, raw):
    make_stream(kin, "s", 3)
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.merge_shards(StreamName="s", ShardToMerge=shard_id(0), AdjacentShardToMerge=shard_id(2))
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.merge_shards(StreamName="s", ShardToMerge=shard_id(1), AdjacentShardToMerge=shard_id(1))
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.merge_shards(StreamName="s", ShardToMerge=shard_id(1), AdjacentShardToMerge=shard_id(9))
    kin.merge_shards(StreamName="s", ShardToMerge=shard_id(0), AdjacentShardToMerge=shard_id(1))
    with pytest.raises(raw.exceptions.ResourceInUseException):
        kin.merge_shards(StreamName="s", ShardToMerge=shard_id(1), AdjacentShardToMerge=shard_id(2))
    with pytest.raises(raw.exceptions.ResourceInUseException):
        kin.split_shard(StreamName="s", ShardToSplit=shard_id(0), NewStartingHashKey="5")
    assert len(list_all_shards(kin, "s")) == 4


@pytest.mark.parametrize("where", ["start", "below", "above", "max+1"])
def test_split_point_outside_the_shard(kin, raw, where):
    make_stream(kin, "s", 2)
    lo, hi = _range(list_all_shards(kin, "s")[1])
    key = {"start": lo, "below": lo - 1, "above": hi + 1, "max+1": HASH_MAX + 1}[where]
    with pytest.raises(raw.exceptions.InvalidArgumentException) as err:
        kin.split_shard(StreamName="s", ShardToSplit=shard_id(1), NewStartingHashKey=str(key))
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert len(list_all_shards(kin, "s")) == 2


def test_split_at_the_last_hash_key(kin):
    make_stream(kin, "s", 1)
    kin.split_shard(StreamName="s", ShardToSplit=shard_id(0), NewStartingHashKey=str(HASH_MAX))
    shards = open_shards(kin, "s")
    assert [_range(s) for s in shards] == [(0, HASH_MAX - 1), (HASH_MAX, HASH_MAX)]
    resp = kin.put_record(StreamName="s", Data=b"x", PartitionKey="k", ExplicitHashKey=str(HASH_MAX))
    assert resp["ShardId"] == shards[1]["ShardId"]


def test_parents_readable_until_retention_passes(kin, raw, clock):
    make_stream(kin, "s", 1)
    kin.put_record(StreamName="s", Data=b"in parent", PartitionKey="k")
    kin.split_shard(StreamName="s", ShardToSplit=shard_id(0), NewStartingHashKey=str(2**127))
    clock.advance(23 * 3600)
    assert [r["Data"] for r in read_shard(kin, "s", shard_id(0))] == [b"in parent"]
    assert shard_id(0) in [s["ShardId"] for s in list_all_shards(kin, "s")]
    clock.advance(3600 + 5)
    assert [s["ShardId"] for s in list_all_shards(kin, "s")] == [shard_id(1), shard_id(2)]
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        iterator(kin, "s", shard_id(0))
    # the children's lineage still names the parent that is gone
    assert all(s["ParentShardId"] == shard_id(0) for s in list_all_shards(kin, "s"))


# --- update_shard_count ---------------------------------------------------------------------------

@pytest.mark.parametrize("start,steps", [(1, [2, 4, 8]), (4, [3, 2, 1]), (2, [3]), (3, [5, 7, 4, 2]),
                                         (5, [3]), (7, [4]), (6, [12, 6]), (10, [13])])
def test_update_shard_count(kin, start, steps):
    """The open shards cover the hash space; each new boundary lies within half an old
    shard's width of the even boundary (exactly on it where the lineage allows: doubling,
    halving, 4 -> 5); lineage exact."""
    make_stream(kin, "s", start)
    shards_before, even_before = start, True
    for target in steps:
        old_width = max(_range(s)[1] - _range(s)[0] + 1 for s in open_shards(kin, "s"))
        resp = kin.update_shard_count(StreamName="s", TargetShardCount=target, ScalingType="UNIFORM_SCALING")
        assert resp["StreamName"] == "s"
        assert resp["CurrentShardCount"] == shards_before
        assert resp["TargetShardCount"] == target
        shards = list_all_shards(kin, "s")
        opened = sorted(open_shards(kin, "s"), key=_range)
        assert len(opened) == target
        step = (HASH_MAX + 1) // target
        starts = [_range(s)[0] for s in opened]
        assert all(abs(got - i * step) <= old_width // 2 for i, got in enumerate(starts))
        if even_before and (target in (2 * shards_before, shards_before / 2) or (shards_before, target) == (4, 5)):
            assert starts == [i * step for i in range(target)]   # uniform
        even_before = starts == [i * step for i in range(target)]
        assert_open_shards_cover_hash_space(shards)
        assert_lineage_exact(shards)
        assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["OpenShardCount"] == target
        shards_before = target


@pytest.mark.parametrize("initial,target,total", [(2, 4, 6), (4, 5, 15), (10, 13, 37), (4, 2, 6), (5, 3, 7)])
def test_update_shard_count_leaves_the_shards_aws_leaves(kin, initial, target, total):
    """Shard counts recorded against AWS: every open shard splits once to scale up, then
    neighbours merge; scaling down merges neighbours."""
    make_stream(kin, "s", initial)
    kin.update_shard_count(StreamName="s", TargetShardCount=target, ScalingType="UNIFORM_SCALING")
    shards = kin.describe_stream(StreamName="s")["StreamDescription"]["Shards"]
    assert len(shards) == total
    assert len([s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]) == target


def test_update_shard_count_keeps_per_key_order_along_lineage(kin):
    """A consumer that finishes parents before children sees every key's records in order."""
    make_stream(kin, "s", 5)
    keys = [f"key-{i}" for i in range(60)]
    sent = {k: [] for k in keys}
    for round_, target in enumerate([3, 6, 4, 7, 5]):
        resp = kin.put_records(StreamName="s", Records=[{"Data": f"{k}/{round_}".encode(), "PartitionKey": k}
                                                        for k in keys])
        assert resp["FailedRecordCount"] == 0
        for k in keys:
            sent[k].append(f"{k}/{round_}".encode())
        kin.update_shard_count(StreamName="s", TargetShardCount=target, ScalingType="UNIFORM_SCALING")
    shards = list_all_shards(kin, "s")
    by_id = {s["ShardId"]: s for s in shards}
    contents = {sid: read_shard(kin, "s", sid) for sid in by_id}
    rng = random.Random(11)
    for _ in range(30):
        # Any shard whose parents are finished may be read next (as the KCL does): try many
        # such orders; each must give every key's records in the order they were put.
        done, order = set(), []
        while len(done) < len(shards):
            ready = [s["ShardId"] for s in shards if s["ShardId"] not in done
                     and {p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p} <= done]
            pick = rng.choice(ready)
            done.add(pick)
            order.append(pick)
        got = {k: [] for k in keys}
        for sid in order:
            for r in contents[sid]:
                got[r["PartitionKey"]].append(r["Data"])
        assert got == sent


def test_update_shard_count_limits(kin, raw):
    make_stream(kin, "s", 4)
    with pytest.raises(raw.exceptions.LimitExceededException):
        kin.update_shard_count(StreamName="s", TargetShardCount=9, ScalingType="UNIFORM_SCALING")
    with pytest.raises(raw.exceptions.LimitExceededException):
        kin.update_shard_count(StreamName="s", TargetShardCount=1, ScalingType="UNIFORM_SCALING")
    with pytest.raises(raw.exceptions.ValidationException):
        kin.update_shard_count(StreamName="s", TargetShardCount=8, ScalingType="SOMETHING")
    assert len(list_all_shards(kin, "s")) == 4
    kin.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    with pytest.raises(raw.exceptions.ValidationException,
                       match="Request is invalid. Stream od under account 000000000000 is in On-Demand mode."):
        kin.update_shard_count(StreamName="od", TargetShardCount=8, ScalingType="UNIFORM_SCALING")
    same = kin.update_shard_count(StreamName="s", TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    assert same["CurrentShardCount"] == 4 and len(list_all_shards(kin, "s")) == 4


# --- list_shards ------------------------------------------------------------------------------------

@pytest.fixture
def lineage(kin, clock):
    """t0: shards 0, 1.  t0+100: split 0 -> 2, 3.  t0+200: merge 2, 3 -> 4.  Now t0+300."""
    t0 = clock.now()
    make_stream(kin, "s", 2)
    clock.advance(100)
    kin.split_shard(StreamName="s", ShardToSplit=shard_id(0), NewStartingHashKey=str(2**126))
    clock.advance(100)
    kin.merge_shards(StreamName="s", ShardToMerge=shard_id(2), AdjacentShardToMerge=shard_id(3))
    clock.advance(100)
    return t0


def _ids(resp):
    return [s["ShardId"] for s in resp["Shards"]]


@pytest.mark.parametrize("shard_filter,expected", [
    (None, [0, 1, 2, 3, 4]),
    ({"Type": "FROM_TRIM_HORIZON"}, [0, 1, 2, 3, 4]),
    ({"Type": "AT_TRIM_HORIZON"}, [0, 1]),
    ({"Type": "AT_LATEST"}, [1, 4]),
    ({"Type": "AFTER_SHARD_ID", "ShardId": shard_id(1)}, [2, 3, 4]),
    ({"Type": "AFTER_SHARD_ID", "ShardId": shard_id(4)}, []),
    ({"Type": "AT_TIMESTAMP", "Timestamp": 50}, [0, 1]),
    ({"Type": "AT_TIMESTAMP", "Timestamp": 150}, [1, 2, 3]),
    ({"Type": "AT_TIMESTAMP", "Timestamp": 250}, [1, 4]),
    ({"Type": "AT_TIMESTAMP", "Timestamp": 100}, [0, 1, 2, 3]),     # 0 closes as 2 and 3 open
    ({"Type": "FROM_TIMESTAMP", "Timestamp": 150}, [1, 2, 3, 4]),
    ({"Type": "FROM_TIMESTAMP", "Timestamp": 250}, [1, 4]),
    ({"Type": "FROM_TIMESTAMP", "Timestamp": -1000}, [0, 1, 2, 3, 4]),
])
def test_list_shards_filters(kin, lineage, shard_filter, expected):
    kwargs = {}
    if shard_filter is not None:
        shard_filter = dict(shard_filter)
        if "Timestamp" in shard_filter:
            shard_filter["Timestamp"] = datetime.datetime.fromtimestamp(lineage + shard_filter["Timestamp"], UTC)
        kwargs["ShardFilter"] = shard_filter
    assert _ids(kin.list_shards(StreamName="s", **kwargs)) == [shard_id(i) for i in expected]


def test_list_shards_trim_horizon_moves_with_retention(kin, lineage, clock):
    clock.advance(24 * 3600 - 300 + 150)    # the trim horizon is now t0 + 150
    assert _ids(kin.list_shards(StreamName="s", ShardFilter={"Type": "AT_TRIM_HORIZON"})) == [
        shard_id(1), shard_id(2), shard_id(3)]
    assert _ids(kin.list_shards(StreamName="s")) == [shard_id(i) for i in (1, 2, 3, 4)]   # 0 closed at t0+100


def test_list_shards_at_trim_horizon_of_a_new_stream_on_the_real_clock():
    # The KCL starts at TRIM_HORIZON through this filter: a stream younger than its retention
    # must list its shards (they open when the stream does, not a moment after).
    with engine.Engine() as eng:
        kin = eng.client("kinesis")
        kin.create_stream(StreamName="s", ShardCount=2)
        assert _ids(kin.list_shards(StreamName="s", ShardFilter={"Type": "AT_TRIM_HORIZON"})) == [
            shard_id(0), shard_id(1)]


def test_list_shards_paging(kin, raw):
    make_stream(kin, "s", 5)
    page = kin.list_shards(StreamName="s", MaxResults=2)
    assert _ids(page) == [shard_id(0), shard_id(1)]
    token = page["NextToken"]
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.list_shards(StreamName="s", NextToken=token)      # NextToken and StreamName together
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.list_shards(NextToken=token, ShardFilter={"Type": "AT_LATEST"})
    page = kin.list_shards(NextToken=token, MaxResults=2)
    assert _ids(page) == [shard_id(2), shard_id(3)]
    page = kin.list_shards(NextToken=page["NextToken"], MaxResults=2)
    assert _ids(page) == [shard_id(4)] and "NextToken" not in page
    assert _ids(kin.list_shards(StreamName="s", ExclusiveStartShardId=shard_id(2))) == [shard_id(3), shard_id(4)]
    assert _ids(kin.list_shards(StreamARN=stream_arn("s"), MaxResults=1)) == [shard_id(0)]
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.list_shards(NextToken="bm90IGEgdG9rZW4=")
    kin.delete_stream(StreamName="s")
    make_stream(kin, "s", 5)
    with pytest.raises(raw.exceptions.ExpiredNextTokenException):
        kin.list_shards(NextToken=token)   # a token of the deleted stream


def test_list_shards_paginator(kin, raw):
    """botocore's paginator sends StreamName again with the NextToken, which AWS refuses
    (boto/botocore#2009): what works here must work there, so it fails here too. One page works."""
    make_stream(kin, "s", 5)
    whole = list(kin.get_paginator("list_shards").paginate(StreamName="s"))
    assert [_ids(p) for p in whole] == [[shard_id(i) for i in range(5)]]
    pages = iter(kin.get_paginator("list_shards").paginate(StreamName="s", PaginationConfig={"PageSize": 2}))
    assert _ids(next(pages)) == [shard_id(0), shard_id(1)]
    with pytest.raises(raw.exceptions.InvalidArgumentException, match="NextToken and StreamName"):
        next(pages)


@pytest.mark.parametrize("shard_filter,code", [
    ({"Type": "AFTER_SHARD_ID"}, "InvalidArgumentException"),
    ({"Type": "AT_TIMESTAMP"}, "InvalidArgumentException"),
    ({"Type": "FROM_TIMESTAMP"}, "InvalidArgumentException"),
    ({"Type": "SOMEWHERE"}, "ValidationException"),
])
def test_list_shards_bad_filters(kin, shard_filter, code):
    make_stream(kin, "s", 2)
    with pytest.raises(engine.ClientError) as err:
        kin.list_shards(StreamName="s", ShardFilter=shard_filter)
    assert err.value.response["Error"]["Code"] == code


# --- random resharding (hypothesis) --------------------------------------------------------------

class Resharding(RuleBasedStateMachine):
    """Random splits, merges, uniform rescales and writes on one stream."""

    def __init__(self):
        super().__init__()
        self.clock = engine.ManualClock()
        self.eng = engine.Engine(clock=self.clock)
        self.kin = ShapeCheckedClient(self.eng.client("kinesis"), assert_shape)
        self.kin.create_stream(StreamName="h", ShardCount=2)
        self.sent = []        # (partition key, data) in put order
        self.counter = 0

    def teardown(self):
        self.eng.close()

    def _open(self):
        return sorted(open_shards(self.kin, "h"), key=_range)

    @rule(pick=st.integers(min_value=0, max_value=10**6), fraction=st.integers(min_value=0, max_value=2**20))
    def split(self, pick, fraction):
        shards = self._open()
        if len(shards) >= 24:
            return
        s = shards[pick % len(shards)]
        lo, hi = _range(s)
        if lo == hi:
            return
        key = lo + 1 + (hi - lo - 1) * fraction // 2**20     # anywhere in (lo, hi]
        self.kin.split_shard(StreamName="h", ShardToSplit=s["ShardId"], NewStartingHashKey=str(key))

    @rule(pick=st.integers(min_value=0, max_value=10**6), swap=st.booleans())
    def merge(self, pick, swap):
        shards = self._open()
        if len(shards) < 2:
            return
        i = pick % (len(shards) - 1)
        a, b = shards[i]["ShardId"], shards[i + 1]["ShardId"]
        if swap:
            a, b = b, a
        self.kin.merge_shards(StreamName="h", ShardToMerge=a, AdjacentShardToMerge=b)

    @rule(factor=st.floats(min_value=0.5, max_value=2.0))
    def rescale(self, factor):
        current = len(self._open())
        target = max(1, min(24, int(current * factor)))
        if target * 2 < current:
            target = (current + 1) // 2
        self.kin.update_shard_count(StreamName="h", TargetShardCount=target, ScalingType="UNIFORM_SCALING")

    @rule(n=st.integers(min_value=1, max_value=40), explicit=st.booleans())
    def put(self, n, explicit):
        records = []
        for _ in range(n):
            key = f"k{self.counter % 23}"
            data = f"{self.counter}".encode()
            self.counter += 1
            entry = {"Data": data, "PartitionKey": key}
            if explicit:
                entry["ExplicitHashKey"] = str(md5_int(key))   # same routing, other code path
            records.append(entry)
        resp = self.kin.put_records(StreamName="h", Records=records)
        assert resp["FailedRecordCount"] == 0
        opened = self._open()
        for entry, result in zip(records, resp["Records"]):
            assert result["ShardId"] == owner(opened, md5_int(entry["PartitionKey"]))
            self.sent.append((entry["PartitionKey"], entry["Data"], result["ShardId"], result["SequenceNumber"]))

    @rule()
    def tick(self):
        self.clock.advance(7)

    @invariant()
    def open_shards_cover_the_hash_space(self):
        shards = list_all_shards(self.kin, "h")
        assert_open_shards_cover_hash_space(shards)
        assert_lineage_exact(shards)

    def check_records(self):
        shards = list_all_shards(self.kin, "h")
        stored = {}
        for s in shards:
            recs = read_shard(self.kin, "h", s["ShardId"])
            seqs = [int(r["SequenceNumber"]) for r in recs]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            for r in recs:
                stored[r["SequenceNumber"]] = (r["PartitionKey"], r["Data"], s["ShardId"], r["SequenceNumber"])
        assert sorted(stored.values(), key=lambda x: int(x[3])) == sorted(self.sent, key=lambda x: int(x[3]))

    @rule()
    def everything_readable(self):
        self.check_records()


Resharding.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
test_random_resharding = Resharding.TestCase

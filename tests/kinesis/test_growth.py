"""Growth with the account: the counts control-plane calls answer from (open shards,
On-Demand streams, stream names in order) are kept as streams come, reshard and go, and stay
exact; memory comes back once retention has expired every record of a stream."""
import random

import pytest

from engine import limits
from tests.kinesis.conftest import list_all_shards, make_stream, open_shards, stream_arn


def _brute_force(kin):
    names = []
    token = None
    while True:
        resp = kin.list_streams(**({"NextToken": token} if token else {"Limit": 7}))
        names += resp["StreamNames"]
        token = resp.get("NextToken")
        if not token:
            break
    opened = sum(len(open_shards(kin, n)) for n in names)
    on_demand = sum(kin.describe_stream_summary(StreamName=n)["StreamDescriptionSummary"]["StreamModeDetails"]
                    ["StreamMode"] == "ON_DEMAND" for n in names)
    return names, opened, on_demand


def test_counts_stay_exact_through_create_reshard_mode_and_delete(kin):
    rng = random.Random(5)
    alive = set()
    for step in range(120):
        action = rng.random()
        name = f"s{rng.randrange(40):02d}"
        if name not in alive and action < 0.5:
            if rng.random() < 0.2:
                kin.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
            else:
                make_stream(kin, name, rng.randint(1, 4))
            alive.add(name)
        elif name in alive and action < 0.65:
            kin.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
            alive.discard(name)
        elif name in alive and action < 0.8:
            mode = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamModeDetails"]
            if mode["StreamMode"] == "PROVISIONED":
                current = len(open_shards(kin, name))
                kin.update_shard_count(StreamName=name, TargetShardCount=rng.randint((current + 1) // 2, current * 2),
                                       ScalingType="UNIFORM_SCALING")
        elif name in alive:
            kin.update_stream_mode(StreamARN=stream_arn(name), StreamModeDetails={
                "StreamMode": rng.choice(["PROVISIONED", "ON_DEMAND"])})
        if step % 10 == 0:
            names, opened, on_demand = _brute_force(kin)
            assert names == sorted(alive)
            limits_now = kin.describe_limits()
            assert (limits_now["OpenShardCount"], limits_now["OnDemandStreamCount"]) == (opened, on_demand)


def test_shard_quota_counts_every_stream(kin, raw, monkeypatch):
    monkeypatch.setattr(limits, "KINESIS_SHARD_COUNT_MAX", 10)
    make_stream(kin, "a", 4)
    make_stream(kin, "b", 4)
    with pytest.raises(raw.exceptions.LimitExceededException):
        make_stream(kin, "c", 3)
    kin.update_shard_count(StreamName="a", TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    make_stream(kin, "c", 4)                                   # 2 + 4 + 4
    with pytest.raises(raw.exceptions.LimitExceededException):
        kin.split_shard(StreamName="c", ShardToSplit="shardId-000000000000", NewStartingHashKey="1")
    kin.delete_stream(StreamName="b")
    kin.split_shard(StreamName="c", ShardToSplit="shardId-000000000000", NewStartingHashKey="1")
    assert kin.describe_limits()["OpenShardCount"] == 7


def test_list_streams_pages_in_name_order(kin):
    names = [f"stream-{i:05d}" for i in random.Random(2).sample(range(100_000), 300)]
    for name in names:
        make_stream(kin, name)
    for name in names[::7]:
        kin.delete_stream(StreamName=name)
    expected = sorted(set(names) - set(names[::7]))
    got, start = [], None
    while True:
        resp = kin.list_streams(Limit=37, **({"ExclusiveStartStreamName": start} if start else {}))
        got += resp["StreamNames"]
        if not resp["HasMoreStreams"]:
            break
        start = resp["StreamNames"][-1]
    assert got == expected
    assert kin.list_streams(ExclusiveStartStreamName=expected[-1])["StreamNames"] == []


def test_list_shards_pages_keep_their_filter(kin, clock):
    make_stream(kin, "s", 6)
    kin.update_shard_count(StreamName="s", TargetShardCount=12, ScalingType="UNIFORM_SCALING")
    every = list_all_shards(kin, "s")
    latest, token = [], None
    while True:
        resp = kin.list_shards(NextToken=token, MaxResults=5) if token else \
            kin.list_shards(StreamName="s", MaxResults=5, ShardFilter={"Type": "AT_LATEST"})
        latest += resp["Shards"]
        token = resp.get("NextToken")
        if not token:
            break
    assert latest == [s for s in every if "EndingSequenceNumber" not in s["SequenceNumberRange"]]


def test_memory_comes_back_after_retention(kin, backend, clock):
    """After retention has expired every record, the shards hold no memory."""
    make_stream(kin, "s", 4)
    stream = backend.get_stream("s")
    payload = [b"x" * 1000] * 20_000
    for round_ in range(10):
        stream.put_batch(payload, [f"k{round_}-{i}" for i in range(20_000)])
        clock.advance(60)
    held = sum(s.log.stats()["bytes_allocated"] for s in stream.shards)
    assert held > 10 * 20_000 * 1000
    clock.advance(limits.KINESIS_RETENTION_DEFAULT_H * 3600 + 1)
    stream.housekeeping()
    stats = [s.log.stats() for s in stream.shards]
    assert [(st["records"], st["bytes_allocated"], st["spare_bytes"]) for st in stats] == [(0, 0, 0)] * 4
    stream.put_batch([b"after"], ["k"])
    assert sum(s.log.stats()["records"] for s in stream.shards) == 1


def test_a_stream_nobody_touches_gives_its_memory_back_as_its_records_expire(kin, backend, clock):
    """Retention runs on the engine clock too: no put or read after the records expire is needed."""
    make_stream(kin, "idle", 2)
    stream = backend.get_stream("idle")
    n = 20_000
    stream.put_batch([b"x" * 1000] * n, [f"old-{i}" for i in range(n)])
    clock.advance(6 * 3600)
    stream.put_batch([b"y" * 1000] * n, [f"new-{i}" for i in range(n)])
    retention = limits.KINESIS_RETENTION_DEFAULT_H * 3600

    def held():
        return [(st["records"], st["bytes_allocated"] + st["spare_bytes"]) for st in
                (s.log.stats() for s in stream.shards)]

    clock.advance(retention - 6 * 3600 + 1)          # the first batch has expired, the second not
    assert all(nbytes > 0 for _, nbytes in held())
    clock.advance(6 * 3600)                           # now both
    assert held() == [(0, 0)] * 2
    records = kin.get_records(ShardIterator=kin.get_shard_iterator(
        StreamName="idle", ShardId=stream.shards[0].shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"])
    assert records["Records"] == []


def test_a_deleted_stream_is_not_kept_alive_by_its_retention_timer(kin, backend):
    import gc
    import weakref

    make_stream(kin, "gone", 1)
    stream = weakref.ref(backend.get_stream("gone"))
    stream().put_batch([b"x" * 100] * 10, [f"k{i}" for i in range(10)])
    kin.delete_stream(StreamName="gone")
    gc.collect()
    assert stream() is None


def test_closing_an_engine_gives_its_records_memory_back_without_a_garbage_collection():
    import gc
    import weakref

    import engine
    eng = engine.Engine()
    eng.client("kinesis").create_stream(StreamName="closing", ShardCount=2)
    stream = eng.backend("kinesis").get_stream("closing")
    n = 50_000
    stream.put_batch([bytes([i % 256]) * 200 for i in range(n)], [f"k{i}" for i in range(n)])
    logs = [shard.log for shard in stream.shards]
    held = sum(log.stats()["bytes_allocated"] + log.stats()["spare_bytes"] for log in logs)
    assert held >= n * 200
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        alive = weakref.ref(eng)
        eng.close()
        del eng, stream
        assert alive() is not None      # the engine sits in reference cycles: only a collection frees it
        assert all(log.stats()["bytes_allocated"] == log.stats()["spare_bytes"] == 0 for log in logs)
        assert all(log.stats()["records"] == 0 for log in logs)
    finally:
        if was_enabled:
            gc.enable()

"""Kinesis with a data dir (issue 13): streams and every acknowledged record come back after a
restart, with their sequence numbers and arrival times; a SIGKILLed writer loses nothing it was
told was stored."""
import os
import random
import textwrap

import pytest

import engine
from engine import _core
from tests.kinesis.conftest import ShapeCheckedClient
from tests.killing import run_until_killed
from tests.powerloss import acknowledged_then_synced, cut_to_synced

KILL_ITERATIONS = int(os.environ.get("ENGINE_KILL_ITERATIONS", "4"))


def open_engine(data_dir, clock, durability=None):
    return engine.Engine(clock=clock, data_dir=str(data_dir), durability=durability)


def snapshot(kin, name):
    """Everything a reader sees of a stream: shards with lineage and ranges, every record."""
    shards = kin.list_shards(StreamName=name)["Shards"]
    records = {}
    for shard in shards:
        it = kin.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        got = []
        while it:
            page = kin.get_records(ShardIterator=it, Limit=10_000)
            got += [(r["SequenceNumber"], r["PartitionKey"], r["Data"], r["ApproximateArrivalTimestamp"])
                    for r in page["Records"]]
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            it = page.get("NextShardIterator")
        records[shard["ShardId"]] = got
    return shards, records


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_streams_and_records_come_back_after_a_restart(tmp_path, clock, shape, durability):
    eng = open_engine(tmp_path, clock, durability)
    kin = ShapeCheckedClient(eng.client("kinesis"), shape)
    kin.create_stream(StreamName="orders", ShardCount=3)
    kin.put_records(StreamName="orders", Records=[{"Data": b"a%d" % i, "PartitionKey": f"k{i}"} for i in range(200)])
    clock.advance(5)
    kin.put_record(StreamName="orders", Data=b"single", PartitionKey="p")
    kin.split_shard(StreamName="orders", ShardToSplit="shardId-000000000001", NewStartingHashKey=str(2**127))
    clock.advance(2)
    stream = eng.backend("kinesis").get_stream("orders")
    stream.put_batch([b"n%d" % i for i in range(300)], [f"b{i}" for i in range(300)])
    kin.add_tags_to_stream(StreamName="orders", Tags={"team": "ingest"})
    kin.increase_stream_retention_period(StreamName="orders", RetentionPeriodHours=48)
    kin.start_stream_encryption(StreamName="orders", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    consumer = kin.register_stream_consumer(StreamARN=stream.arn, ConsumerName="reader")["Consumer"]
    kin.tag_resource(ResourceARN=consumer["ConsumerARN"], Tags={"role": "audit"})
    kin.create_stream(StreamName="other", ShardCount=1)
    kin.put_record(StreamName="other", Data=b"o", PartitionKey="o")
    kin.delete_stream(StreamName="other")
    before = snapshot(kin, "orders")
    description = kin.describe_stream_summary(StreamName="orders")["StreamDescriptionSummary"]
    assert sum(len(r) for r in before[1].values()) == 501
    eng.close()

    eng = open_engine(tmp_path, clock, durability)
    kin = ShapeCheckedClient(eng.client("kinesis"), shape)
    assert kin.list_streams()["StreamNames"] == ["orders"]
    assert snapshot(kin, "orders") == before
    assert kin.describe_stream_summary(StreamName="orders")["StreamDescriptionSummary"] == description
    assert kin.list_tags_for_stream(StreamName="orders")["Tags"] == [{"Key": "team", "Value": "ingest"}]
    consumers = kin.list_stream_consumers(StreamARN=stream.arn)["Consumers"]
    assert [c["ConsumerARN"] for c in consumers] == [consumer["ConsumerARN"]]
    assert kin.list_tags_for_resource(ResourceARN=consumer["ConsumerARN"])["Tags"] == [{"Key": "role", "Value": "audit"}]
    # sequence numbers go on growing after the restart
    last = max(r[0] for recs in before[1].values() for r in recs)
    assert kin.put_record(StreamName="orders", Data=b"after", PartitionKey="p")["SequenceNumber"] > last
    eng.close()


def test_two_engines_never_share_a_data_dir(tmp_path, clock):
    first = open_engine(tmp_path, clock)
    first.client("kinesis").create_stream(StreamName="s", ShardCount=1)
    second = open_engine(tmp_path, clock)
    with pytest.raises(RuntimeError, match="in use by another engine"):
        second.client("kinesis")
    first.close()
    assert second.client("kinesis").list_streams()["StreamNames"] == ["s"]
    second.close()


def test_a_memory_engine_writes_nothing_even_with_a_data_dir(tmp_path, clock):
    eng = open_engine(tmp_path, clock, "memory")
    kin = eng.client("kinesis")
    kin.create_stream(StreamName="s", ShardCount=1)
    kin.put_record(StreamName="s", Data=b"x", PartitionKey="p")
    eng.close()
    assert os.listdir(tmp_path) == []


def test_retention_deletes_expired_segments_and_a_restart_does_not_bring_them_back(tmp_path, clock, monkeypatch):
    from engine.kinesis import store
    monkeypatch.setattr(store, "SEGMENT_MS", 60_000)   # a segment per engine minute
    eng = open_engine(tmp_path, clock)
    kin = eng.client("kinesis")
    kin.create_stream(StreamName="s", ShardCount=1)
    for minute in range(30):
        kin.put_record(StreamName="s", Data=b"m%d" % minute, PartitionKey="p")
        clock.advance(60)
    shard_dir = tmp_path / "kinesis" / "000000000000" / "us-east-1" / "s-s" / "shards" / "shardId-000000000000"
    assert len([f for f in os.listdir(shard_dir) if f.endswith(".log")]) == 30
    clock.advance(24 * 3600 - 15 * 60)   # the first ~15 minutes pass the 24 h retention
    eng.backend("kinesis").get_stream("s").apply_retention()
    logs = sorted(f for f in os.listdir(shard_dir) if f.endswith(".log"))
    assert 10 <= len(logs) <= 20
    kept = snapshot(kin, "s")[1]["shardId-000000000000"]
    eng.close()
    eng = open_engine(tmp_path, clock)
    assert snapshot(eng.client("kinesis"), "s")[1]["shardId-000000000000"] == kept
    eng.close()


def test_a_deleted_stream_leaves_no_files(tmp_path, clock):
    eng = open_engine(tmp_path, clock)
    kin = eng.client("kinesis")
    kin.create_stream(StreamName="gone", ShardCount=2)
    kin.put_record(StreamName="gone", Data=b"x", PartitionKey="p")
    kin.delete_stream(StreamName="gone")
    assert os.listdir(tmp_path / "kinesis" / "000000000000" / "us-east-1") == [".lock"]
    eng.close()
    eng = open_engine(tmp_path, clock)
    assert eng.client("kinesis").list_streams()["StreamNames"] == []
    eng.close()


def test_a_corrupt_sealed_segment_stops_the_restart_naming_the_file(tmp_path, clock, monkeypatch):
    from engine.kinesis import store
    monkeypatch.setattr(store, "SEGMENT_BYTES", 2_000)
    eng = open_engine(tmp_path, clock)
    kin = eng.client("kinesis")
    kin.create_stream(StreamName="s", ShardCount=1)
    for i in range(20):
        kin.put_records(StreamName="s", Records=[{"Data": b"x" * 50, "PartitionKey": "p"}] * 5)
    eng.close()
    shard_dir = tmp_path / "kinesis" / "000000000000" / "us-east-1" / "s-s" / "shards" / "shardId-000000000000"
    first = shard_dir / sorted(f for f in os.listdir(shard_dir) if f.endswith(".log"))[0]
    data = bytearray(first.read_bytes())
    data[100] ^= 0x10
    first.write_bytes(data)
    eng = open_engine(tmp_path, clock)
    with pytest.raises(_core.SegmentCorruptError, match=str(first)):
        eng.client("kinesis")   # the backend opens (and restores) on first use


WRITER = textwrap.dedent("""
    import os, sys
    import engine
    data_dir, durability, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = os.fdopen(int(sys.argv[4]), "w", buffering=1)
    eng = engine.Engine(data_dir=data_dir, durability=durability)
    kin = eng.client("kinesis")
    if "s" not in kin.list_streams()["StreamNames"]:
        kin.create_stream(StreamName="s", ShardCount=4)
    stream = eng.backend("kinesis").get_stream("s")
    out.write("ready\\n")
    n = 0
    while True:
        if n % 2:
            result = stream.put_batch([b"%d-%d" % (seed, n + i) for i in range(64)], [str(n + i) for i in range(64)])
            acks = [(stream.shards[int(s)].shard_id, int(q)) for s, q in zip(result.shard_index, result.sequence_number)]
        else:
            r = kin.put_records(StreamName="s", Records=[{"Data": b"%d-%d" % (seed, n + i), "PartitionKey": str(n + i)}
                                                         for i in range(64)])
            acks = [(x["ShardId"], int(x["SequenceNumber"])) for x in r["Records"]]
        out.write("".join(f"{shard} {seq}\\n" for shard, seq in acks))
        n += 64
""")


def kill_once(data_dir, durability, rng, seed):
    """(shard, sequence number) of every put the writer acknowledged before its SIGKILL."""
    return [(shard, int(seq)) for shard, seq in
            (line.split() for line in run_until_killed(WRITER, [data_dir, durability, seed], rng, (0.05, 0.6)))]


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_kill_9_loses_no_acknowledged_record(tmp_path, durability):
    rng = random.Random(durability)
    all_acked = []
    for iteration in range(KILL_ITERATIONS):
        all_acked += kill_once(tmp_path, durability, rng, iteration)
        eng = engine.Engine(data_dir=str(tmp_path), durability=durability)
        _, records = snapshot(eng.client("kinesis"), "s")
        eng.close()
        for shard, recs in records.items():
            seqs = [int(r[0]) for r in recs]
            assert seqs == sorted(set(seqs)), f"{shard}: out of order or duplicated"
        stored = {(shard, int(r[0])) for shard, recs in records.items() for r in recs}
        missing = [a for a in all_acked if a not in stored]
        assert not missing, f"iteration {iteration}: {len(missing)} acknowledged records lost, e.g. {missing[:3]}"
    assert all_acked


def test_fsync_mode_keeps_every_acknowledged_record_through_a_simulated_power_loss(tmp_path, monkeypatch):
    """Writers put while the 'power goes': each shard file is cut to what an fdatasync covered
    at that moment (files and indexes made later vanish), then the engine restarts."""
    from engine.kinesis import store
    monkeypatch.setattr(store, "SEGMENT_BYTES", 16_000)   # segments seal during the run
    eng = engine.Engine(data_dir=str(tmp_path), durability="fsync")
    eng.client("kinesis").create_stream(StreamName="s", ShardCount=3)
    stream = eng.backend("kinesis").get_stream("s")

    def put(k, n):
        result = stream.put_batch([b"%d-%d" % (k, 16 * n + i) for i in range(16)],
                                  [f"{k}-{16 * n + i}" for i in range(16)])
        return [(stream.shards[int(s)].shard_id, int(q)) for s, q in zip(result.shard_index, result.sequence_number)]

    acknowledged, on_disk = acknowledged_then_synced(put, 3_000, lambda: {
        shard_id: {i.base_seq: i for i in log.segments()} for shard_id, log in stream._store._logs.items()})
    eng.close()
    for shard_id, segments in on_disk.items():
        cut_to_synced(os.path.join(stream._store.directory, "shards", shard_id), segments)
    eng = engine.Engine(data_dir=str(tmp_path), durability="fsync")
    _, records = snapshot(eng.client("kinesis"), "s")
    eng.close()
    stored = {(shard, int(r[0])) for shard, recs in records.items() for r in recs}
    missing = [a for a in acknowledged if a not in stored]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:3]}"
    assert sum(1 for i in (i for s in on_disk.values() for i in s.values()) if i.sealed) > 0

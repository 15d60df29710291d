"""A durable delivery stream's counters (`stats`: delivered records and objects, failed records,
retries...) come back after a restart and go on from there: after a close they are exactly what
was delivered; after kill -9 they are never lower than a value read before the kill, and count
every acknowledged record at least once (a record delivered again after the restart is counted
again, so they may count more than the distinct records, never more than the records written)."""
import os
import random
import textwrap

import pytest

import engine
from engine.s3 import TMP_DIR

from .conftest import ROLE, StoreFaults, s3_config, scan_ids, tagged
from tests.killing import run_until_killed

START = 1_700_000_000.0
KILL_ITERATIONS = 12 if os.environ.get("ENGINE_SOAK") == "1" else 3
STATS_KEYS = ("delivered_records", "delivered_objects", "failed_records", "retried_attempts")


def _engine(tmp_path, durability="flush"):
    return engine.Engine(data_dir=str(tmp_path / "data"), s3_root=str(tmp_path / "s3"), durability=durability,
                         clock=engine.ManualClock(start=START))


def _partitioned(fh):
    fh.create_delivery_stream(DeliveryStreamName="dp", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="k=!{partitionKeyFromQuery:k}/", ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k: .k}"},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}))


def _put(fh, ids, **extra):
    fh.put_record_batch(DeliveryStreamName="dp", Records=[{"Data": d} for d in tagged(ids, **extra)])


def _counts(stream) -> dict:
    return {name: stream.stats[name] for name in STATS_KEYS}


def _written(tmp_path) -> tuple[int, int]:
    """(records, records in error documents) over every object under the bucket."""
    ids = scan_ids(tmp_path / "s3" / "bucket")
    failed = scan_ids(tmp_path / "s3" / "bucket" / "errors")
    return sum(ids.values()) - sum(failed.values()), sum(failed.values())


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_the_counters_come_back_after_a_close_and_go_on_counting(tmp_path, monkeypatch, durability):
    with _engine(tmp_path, durability) as eng:
        fh = eng.client("firehose")
        _partitioned(fh)
        _put(fh, range(10), k="a")
        _put(fh, range(10, 13))              # no partition key: the error output
        eng.clock.advance(60)
        faults = StoreFaults(eng, monkeypatch)
        faults.fail.add("bucket")
        _put(fh, range(13, 18), k="b")
        eng.clock.advance(60)                # the write fails, is retried
        faults.fail.clear()
        eng.clock.advance(30)
        before = _counts(eng.backend("firehose").get("dp"))
    assert before["delivered_records"] == 15 and before["failed_records"] == 3 and before["retried_attempts"] >= 1
    assert _written(tmp_path) == (15, 3)

    with _engine(tmp_path, durability) as eng:
        stream = eng.backend("firehose").get("dp")
        assert _counts(stream) == before
        _put(eng.client("firehose"), range(18, 22), k="a")
        eng.clock.advance(60)
        after = _counts(stream)
    assert after == {**before, "delivered_records": 19, "delivered_objects": before["delivered_objects"] + 1}
    assert _written(tmp_path) == (19, 3)
    with _engine(tmp_path, durability) as eng:
        assert _counts(eng.backend("firehose").get("dp")) == after


def test_a_stream_created_again_under_the_same_name_counts_from_zero(tmp_path):
    with _engine(tmp_path) as eng:
        fh = eng.client("firehose")
        fh.create_delivery_stream(DeliveryStreamName="s", ExtendedS3DestinationConfiguration=s3_config())
        fh.put_record(DeliveryStreamName="s", Record={"Data": b"a\n"})
        fh.delete_delivery_stream(DeliveryStreamName="s")
        fh.create_delivery_stream(DeliveryStreamName="s", ExtendedS3DestinationConfiguration=s3_config())
    with _engine(tmp_path) as eng:
        assert eng.backend("firehose").get("s").stats["delivered_records"] == 0


WRITER = textwrap.dedent(f"""
    import os, random, sys
    import engine
    data_dir, s3_root, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = os.fdopen(int(sys.argv[4]), "w", buffering=1)
    clock = engine.ManualClock(start={START})
    eng = engine.Engine(data_dir=data_dir, s3_root=s3_root, clock=clock)
    fh = eng.client("firehose")
    if "k" not in fh.list_delivery_streams()["DeliveryStreamNames"]:
        fh.create_delivery_stream(DeliveryStreamName="k", ExtendedS3DestinationConfiguration={{
            "RoleARN": {ROLE!r}, "BucketARN": "arn:aws:s3:::bucket",
            "BufferingHints": {{"SizeInMBs": 1, "IntervalInSeconds": 60}}}})
    stats = eng.backend("firehose").get("k").stats
    out.write(f"restored {{stats['delivered_records']}} {{stats['delivered_objects']}}\\n")
    out.write("ready\\n")
    rng = random.Random()
    while True:
        n = rng.randint(1, 500)
        fh.put_record_batch(DeliveryStreamName="k", Records=[{{"Data": b"%09d%s\\n" % (i, b"." * rng.randint(0, 300))}}
                                                            for i in range(first, first + n)])
        out.write(f"ack {{first}} {{first + n}}\\n")
        first += n
        clock.advance(rng.choice([0, 0, 0, 7]))   # now and then an interval passes: a buffer is delivered
        out.write(f"seen {{stats['delivered_records']}} {{stats['delivered_objects']}}\\n")
""")


def _objects(tmp_path) -> tuple[int, int]:
    """(objects, records) written under the bucket, duplicates included."""
    objects = records = 0
    for dirpath, _, names in os.walk(tmp_path / "s3" / "bucket"):
        if TMP_DIR in dirpath.split(os.sep):
            continue
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                records += f.read().count(b"\n")
            objects += 1
    return objects, records


def test_after_kill_9_the_counters_never_go_back_and_count_every_acknowledged_record(tmp_path):
    rng = random.Random()
    acknowledged: set = set()
    highest_seen = (0, 0)
    first = 0
    for _ in range(KILL_ITERATIONS):
        lines = run_until_killed(WRITER, [tmp_path / "data", tmp_path / "s3", first], rng)
        kind, *restored = lines[0].split()
        assert kind == "restored"
        assert int(restored[0]) >= highest_seen[0] and int(restored[1]) >= highest_seen[1]
        for line in lines[1:]:
            kind, a, b = line.split()
            if kind == "ack":
                acknowledged.update(range(int(a), int(b)))
                first = max(first, int(b))
            else:
                highest_seen = (max(highest_seen[0], int(a)), max(highest_seen[1], int(b)))
        first += 1_000_000   # a put killed before its acknowledgement may still be delivered: no reuse of its ids
    assert highest_seen[0] > 0, "nothing was delivered before a kill: the test proved nothing"
    with _engine(tmp_path) as eng:
        stream = eng.backend("firehose").get("k")
        assert stream.stats["delivered_records"] >= highest_seen[0]
        stream.flush()
        delivered, objects = stream.stats["delivered_records"], stream.stats["delivered_objects"]
    written_objects, written_records = _objects(tmp_path)
    assert len(acknowledged) <= delivered <= written_records
    assert objects <= written_objects

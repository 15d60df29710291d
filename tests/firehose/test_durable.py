"""Firehose on a data dir (issue 13): delivery streams keep their configuration, and every record a
put acknowledged is delivered after a crash (at least once: a record whose buffer was being
delivered when the engine died is delivered again, so duplicates are allowed, losses are not)."""
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import engine
from engine.s3 import store_for

from .conftest import EVENT_COLUMNS, ROLE, s3_config

REPO = os.path.dirname(os.path.dirname(engine.__file__))
START = 1_700_000_000.0
SOAK = os.environ.get("ENGINE_SOAK") == "1"


def _engine(tmp_path, clock=None, **kw):
    return engine.Engine(data_dir=str(tmp_path / "data"), s3_root=str(tmp_path / "s3"),
                         clock=clock or engine.ManualClock(start=START), **kw)


def _child(tmp_path, body: str, durability: str = "flush", **popen):
    """Run `body` in a new interpreter with `eng` (a ManualClock engine on tmp_path) and `fh`."""
    script = textwrap.dedent(f"""
        import os, sys, engine
        clock = engine.ManualClock(start={START})
        eng = engine.Engine(data_dir={str(tmp_path / 'data')!r}, s3_root={str(tmp_path / 's3')!r}, clock=clock,
                            durability={durability!r})
        fh = eng.client("firehose")
        ROLE = {ROLE!r}
    """) + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": REPO}
    if popen:
        return subprocess.Popen([sys.executable, "-c", script], env=env, **popen)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)


def _records(eng, prefix=""):
    store = store_for(eng)
    return b"".join(store.get("bucket", k) for k in store.list("bucket", prefix)).splitlines()


def _log_files(tmp_path, name):
    return [f for f in os.listdir(tmp_path / "data" / "firehose" / "000000000000" / "us-east-1" / f"n-{name}" / "log")
            if f.endswith(".log")]


def _descriptions(fh):
    out = {}
    for name in fh.list_delivery_streams()["DeliveryStreamNames"]:
        out[name] = (fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"],
                     fh.list_tags_for_delivery_stream(DeliveryStreamName=name)["Tags"])
    return out


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_delivery_streams_keep_their_configuration_and_tags(tmp_path, durability, shape):
    with _engine(tmp_path, durability=durability) as eng:
        glue, fh = eng.client("glue"), eng.client("firehose")
        glue.create_database(DatabaseInput={"Name": "db"})
        glue.create_table(DatabaseName="db", TableInput={"Name": "events",
                                                         "StorageDescriptor": {"Columns": EVENT_COLUMNS}})
        fh.create_delivery_stream(
            DeliveryStreamName="parquet", Tags=[{"Key": "team", "Value": "data"}],
            ExtendedS3DestinationConfiguration=s3_config(
                Prefix="p/!{partitionKeyFromQuery:name}/", ErrorOutputPrefix="err/!{firehose:error-output-type}/",
                BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
                DynamicPartitioningConfiguration={"Enabled": True},
                ProcessingConfiguration={"Enabled": True, "Processors": [
                    {"Type": "MetadataExtraction", "Parameters": [
                        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{name: .name}"},
                        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]},
                DataFormatConversionConfiguration={
                    "Enabled": True, "SchemaConfiguration": {"DatabaseName": "db", "TableName": "events",
                                                             "RoleARN": ROLE},
                    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                    "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "GZIP"}}}}))
        fh.create_delivery_stream(
            DeliveryStreamName="http", HttpEndpointDestinationConfiguration={
                "EndpointConfiguration": {"Url": "https://example.com/in", "Name": "ep", "AccessKey": "k"},
                "RequestConfiguration": {"ContentEncoding": "GZIP",
                                         "CommonAttributes": [{"AttributeName": "a", "AttributeValue": "1"}]},
                "RetryOptions": {"DurationInSeconds": 30}, "S3BackupMode": "FailedDataOnly",
                "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bucket"}})
        fh.create_delivery_stream(DeliveryStreamName="raw", ExtendedS3DestinationConfiguration=s3_config())
        fh.start_delivery_stream_encryption(DeliveryStreamName="raw", DeliveryStreamEncryptionConfigurationInput={
            "KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": "arn:aws:kms:us-east-1:000000000000:key/k"})
        fh.tag_delivery_stream(DeliveryStreamName="raw", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        fh.untag_delivery_stream(DeliveryStreamName="raw", TagKeys=["b"])
        version = fh.describe_delivery_stream(DeliveryStreamName="raw")["DeliveryStreamDescription"]["VersionId"]
        fh.update_destination(DeliveryStreamName="raw", CurrentDeliveryStreamVersionId=version,
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"Prefix": "raw/", "CompressionFormat": "GZIP"})
        fh.create_delivery_stream(DeliveryStreamName="gone", ExtendedS3DestinationConfiguration=s3_config())
        fh.delete_delivery_stream(DeliveryStreamName="gone")
        before = _descriptions(fh)
    assert sorted(before) == ["http", "parquet", "raw"]
    with _engine(tmp_path, durability=durability) as eng:
        fh = eng.client("firehose")
        shape("firehose", "DescribeDeliveryStream", fh.describe_delivery_stream(DeliveryStreamName="parquet"))
        assert _descriptions(fh) == before
        raw = before["raw"][0]
        assert raw["VersionId"] == "2" and raw["DeliveryStreamEncryptionConfiguration"]["Status"] == "ENABLED"


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_acknowledged_records_not_yet_delivered_are_delivered_after_a_crash(tmp_path, durability):
    _child(tmp_path, durability=durability, body="""
        fh.create_delivery_stream(DeliveryStreamName="s", ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bucket",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
        pad = b"." * 1000
        for i in range(1200):   # 1.2 MB: the first buffer fills, seals and is delivered
            fh.put_record(DeliveryStreamName="s", Record={"Data": b"%05d%s\\n" % (i, pad)})
        assert eng.backend("firehose").drain(30)
        fh.put_record_batch(DeliveryStreamName="s", Records=[{"Data": b"%05d\\n" % i} for i in range(1200, 1300)])
        os._exit(0)   # no close: the last records sit in the buffer, acknowledged, undelivered
    """)
    with _engine(tmp_path) as eng:
        assert len(_records(eng)) < 1300                 # some were only in the buffer
        eng.backend("firehose").get("s").flush()
        ids = sorted(int(r[:5]) for r in _records(eng))
        assert ids == list(range(1300))                  # delivered once: the delivered ones were checkpointed
        assert _log_files(tmp_path, "s") == []           # nothing undelivered: every segment dropped
        eng.client("firehose").put_record(DeliveryStreamName="s", Record={"Data": b"01300\n"})
    with _engine(tmp_path) as eng:   # numbering goes on after an emptied log: a new put is not taken as delivered
        assert sorted(int(r[:5]) for r in _records(eng)) == list(range(1301))


def test_a_kinesis_source_resumes_from_its_delivered_position(tmp_path):
    _child(tmp_path, """
        k = eng.client("kinesis")
        k.create_stream(StreamName="src", ShardCount=2)
        arn = k.describe_stream_summary(StreamName="src")["StreamDescriptionSummary"]["StreamARN"]
        fh.create_delivery_stream(DeliveryStreamName="ks", DeliveryStreamType="KinesisStreamAsSource",
                                  KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
                                  ExtendedS3DestinationConfiguration={
                                      "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bucket",
                                      "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
        def put(lo, hi, pad=b""):
            for start in range(lo, hi, 500):
                k.put_records(StreamName="src", Records=[{"Data": b"%05d%s\\n" % (i, pad), "PartitionKey": str(i)}
                                                         for i in range(start, min(hi, start + 500))])
        put(0, 300)
        eng.backend("firehose").get("ks").flush()        # delivered and checkpointed
        put(300, 1100, b"." * 1000)
        clock.advance(1)    # polled: 0.8 MB in the buffer
        put(1100, 1900, b"." * 1000)
        clock.advance(1)    # polled: the buffer fills in the middle of the read and is delivered, the rest waits
        assert eng.backend("firehose").drain(30)
        put(1900, 2000)                                  # still only in Kinesis
        os._exit(0)
    """)
    with _engine(tmp_path) as eng:
        delivered = [int(r[:5]) for r in _records(eng)]
        assert 1100 < len(delivered) < 1900
        eng.backend("firehose").get("ks").flush()
        # resumed at the checkpoint: no gap, and nothing delivered before it comes again
        assert sorted(int(r[:5]) for r in _records(eng)) == list(range(2000))


def test_a_deleted_stream_leaves_no_files_and_its_name_starts_fresh(tmp_path):
    with _engine(tmp_path) as eng:
        fh = eng.client("firehose")
        fh.create_delivery_stream(DeliveryStreamName="s", ExtendedS3DestinationConfiguration=s3_config())
        fh.put_record(DeliveryStreamName="s", Record={"Data": b"a\n"})
        fh.delete_delivery_stream(DeliveryStreamName="s")    # delivers what it held, then goes
        assert _records(eng) == [b"a"]
        fh.create_delivery_stream(DeliveryStreamName="s", ExtendedS3DestinationConfiguration=s3_config(Prefix="new/"))
    with _engine(tmp_path) as eng:
        desc = eng.client("firehose").describe_delivery_stream(DeliveryStreamName="s")["DeliveryStreamDescription"]
        assert desc["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"] == "new/"
        assert _records(eng) == [b"a"]


KILL_CHILD = """
    import random, time
    name = "k"
    if name not in fh.list_delivery_streams()["DeliveryStreamNames"]:
        fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bucket",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    print("ready", flush=True)
    rng = random.Random()
    first = FIRST
    while True:
        n = rng.randint(1, 500)
        records = [{"Data": b"%09d%s\\n" % (i, b"." * rng.randint(0, 300))} for i in range(first, first + n)]
        fh.put_record_batch(DeliveryStreamName=name, Records=records)
        print(first, first + n, flush=True)   # acknowledged
        first += n
        clock.advance(rng.choice([0, 0, 0, 7]))   # now and then an interval passes: a buffer is delivered
"""


def test_every_acknowledged_put_is_delivered_after_kill_9(tmp_path):
    """A child puts and reports each acknowledged range on a pipe; it is SIGKILLed at a random
    moment, several times over on the same data dir; then every reported record is delivered
    (duplicates allowed: at least once)."""
    acknowledged = _kill_loop(tmp_path, KILL_CHILD, 12 if SOAK else 3)
    with _engine(tmp_path) as eng:
        eng.backend("firehose").get("k").flush()
        delivered = {int(r[:9]) for r in _records(eng)}
    assert not _missing(acknowledged, delivered)


KINESIS_KILL_CHILD = """
    import random
    k = eng.client("kinesis")
    if "src" not in k.list_streams()["StreamNames"]:
        k.create_stream(StreamName="src", ShardCount=2)
        arn = k.describe_stream_summary(StreamName="src")["StreamDescriptionSummary"]["StreamARN"]
        fh.create_delivery_stream(DeliveryStreamName="ks", DeliveryStreamType="KinesisStreamAsSource",
                                  KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
                                  ExtendedS3DestinationConfiguration={
                                      "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bucket",
                                      "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    print("ready", flush=True)
    rng = random.Random()
    first = FIRST
    while True:
        n = rng.randint(1, 300)
        k.put_records(StreamName="src", Records=[{"Data": b"%09d\\n" % i, "PartitionKey": str(i)}
                                                 for i in range(first, first + n)])
        print(first, first + n, flush=True)   # acknowledged by Kinesis
        first += n
        clock.advance(rng.choice([0, 1, 1, 61]))   # polled now and then, delivered now and then
"""


def _kill_loop(tmp_path, script, iterations):
    """Run `script` (FIRST: its first record id) in a child, SIGKILL it at a random moment,
    `iterations` times on the same data dir; returns the (lo, hi) ranges it acknowledged."""
    rng = random.Random()
    acknowledged = []
    first = 0
    for _ in range(iterations):
        child = _child(tmp_path, script.replace("FIRST", str(first)), stdout=subprocess.PIPE, text=True)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while "ready\n" not in lines and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        assert "ready\n" in lines, "the child did not start"
        time.sleep(rng.uniform(0.05, 1.0))
        child.send_signal(signal.SIGKILL)
        child.wait()
        reader.join(10)
        for line in lines[1:]:
            parts = line.split()
            if len(parts) == 2 and line.endswith("\n"):    # a whole line: an acknowledged put
                lo, hi = map(int, parts)
                acknowledged.append((lo, hi))
                first = max(first, hi)
        first += 1_000_000    # a put killed before its acknowledgement may still be delivered: no reuse of its ids
    assert acknowledged
    return acknowledged


def _missing(acknowledged, delivered):
    return [(lo, hi) for lo, hi in acknowledged if not delivered.issuperset(range(lo, hi))]


def test_every_record_a_kinesis_source_acknowledged_is_delivered_after_kill_9(tmp_path):
    acknowledged = _kill_loop(tmp_path, KINESIS_KILL_CHILD, 12 if SOAK else 2)
    with _engine(tmp_path) as eng:
        eng.backend("firehose").get("ks").flush()
        delivered = {int(r) for r in _records(eng)}
    assert not _missing(acknowledged, delivered)


def test_a_stream_whose_glue_table_went_away_still_comes_back(tmp_path):
    """Creation refuses a conversion without its Glue table; a restart does not, as AWS keeps the
    stream: its records go to the error output until the table is back."""
    with _engine(tmp_path) as eng:
        glue, fh = eng.client("glue"), eng.client("firehose")
        glue.create_database(DatabaseInput={"Name": "db"})
        glue.create_table(DatabaseName="db", TableInput={"Name": "events",
                                                         "StorageDescriptor": {"Columns": EVENT_COLUMNS}})
        fh.create_delivery_stream(DeliveryStreamName="c", ExtendedS3DestinationConfiguration=s3_config(
            BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
            DataFormatConversionConfiguration={
                "Enabled": True, "SchemaConfiguration": {"DatabaseName": "db", "TableName": "events", "RoleARN": ROLE},
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}))
        glue.delete_table(DatabaseName="db", Name="events")
    with _engine(tmp_path) as eng:
        fh = eng.client("firehose")
        assert fh.list_delivery_streams()["DeliveryStreamNames"] == ["c"]
        fh.put_record(DeliveryStreamName="c", Record={"Data": b'{"id": 1}'})
        eng.backend("firehose").get("c").flush()
        (key,) = store_for(eng).list("bucket", "")
        assert "format-conversion-failed" in key

"""The Kinesis Client Library (KCL 3, through its Python MultiLangDaemon) end to end against
`engine serve`: leases in DynamoDB from moto's server on another port, CloudWatch metrics off.
Both runs use the KCL's default retrieval (enhanced fan-out: RegisterStreamConsumer, then
SubscribeToShard over cleartext HTTP/2 in CBOR) from TRIM_HORIZON.

record_processor.py writes each record it is given as a JSON line and checkpoints after every
batch. The test puts records before and while the daemon runs, stops it (SIGTERM: the daemon's
graceful shutdown asks each processor to checkpoint), puts more while it is down, starts it again
(it must resume at the checkpoints: nothing read twice), splits a shard and puts more (the children
are read after the parent's end, each partition key's records in order).

The jars come with the `kclpy-ext` wheel (the test extra), Java 17 from .ci/system-deps."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from tests.server.wire_server import free_port, serve
from tests.tools import require, require_tool

pytestmark = pytest.mark.slow(reason="a JVM, moto's server and the KCL's lease protocol: about 1-2 minutes")

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"
SHARDS = 2
INITIAL_SHARDS = {f"shardId-{i:012d}" for i in range(SHARDS)}
RECORDS_PER_BATCH = 40
PARTITION_KEYS = 16
START_TIMEOUT_S = 60
# the KCL waits up to 30 s (at random) before it fills an empty lease table, then assigns leases
READ_TIMEOUT_S = 240
STOP_TIMEOUT_S = 60
DAEMON_CLASS = "software.amazon.kinesis.multilang.MultiLangDaemon"
# a short-lived JVM on a busy machine: the C1 compiler alone and the serial collector cost less CPU
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
# Short lease timings so a test run takes seconds per step instead of the production defaults' minutes.
KCL_TIMINGS = {
    "failoverTimeMillis": 3000,
    "leaseAssignmentIntervalMillis": 1000,
    "shardSyncIntervalMillis": 1000,
    "parentShardPollIntervalMillis": 1000,
    "shutdownGraceMillis": 30000,   # SIGTERM: wait this long for the processors' final checkpoints
}


def kcl_jars() -> Path:
    spec = importlib.util.find_spec("amazon_kclpy")
    require(spec is not None, "amazon_kclpy not installed (pip install kclpy-ext, in the test extra)")
    jars = Path(spec.origin).parent / "jars"
    require(any(jars.glob("amazon-kinesis-client-multilang-*.jar")), f"no KCL multilang jar in {jars}")
    return jars


@contextlib.contextmanager
def moto_dynamodb(log_path: Path):
    """moto's server on a free port (the KCL's DynamoDB: leases, coordinator state, worker metrics)."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        endpoint = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                assert process.poll() is None, f"moto's server exited: {log_path.read_text()[-2000:]}"
                try:
                    with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                        break
                except OSError:
                    assert time.monotonic() < deadline, "moto's server did not start"
                    time.sleep(0.2)
            yield endpoint
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def write_properties(path: Path, stream: str, kinesis_endpoint: str, dynamodb_endpoint: str) -> None:
    settings = {
        "executableName": f"{sys.executable} {HERE / 'record_processor.py'}",
        "streamName": stream,
        "applicationName": f"{stream}-app",
        "workerId": "worker-1",   # a restarted daemon is the same worker and takes its leases back at once
        "AwsCredentialsProvider": "DefaultCredentialsProvider",   # AWS_ACCESS_KEY_ID etc. from the environment
        "regionName": REGION,
        "kinesisEndpoint": kinesis_endpoint,
        "dynamoDBEndpoint": dynamodb_endpoint,
        "metricsLevel": "NONE",
        "retrievalMode": "FANOUT",   # SubscribeToShard over h2c, CBOR
        "initialPositionInStream": "TRIM_HORIZON",
        **KCL_TIMINGS,
    }
    path.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))


class Daemon:
    """One run of the MultiLangDaemon; its processors append to `output`."""

    def __init__(self, java: str, jars: Path, properties: Path, output: Path, log_path: Path):
        self.log_path = log_path
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION,
               "KCL_TEST_OUTPUT": str(output)}
        env.pop("AWS_PROFILE", None)
        with open(log_path, "ab") as log:
            # its own session, so cleanup can end the processors with it; stop() signals the JVM alone
            self.process = subprocess.Popen([java, *JVM_OPTIONS, "-cp", f"{jars}/*", DAEMON_CLASS,
                                             "--properties-file", str(properties)],
                                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        """SIGTERM to the JVM: its shutdown hook shuts the processors down gracefully (each is asked
        to checkpoint, then loses its lease)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT_S)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def read_events(output: Path) -> list[dict]:
    if not output.exists():
        return []
    return [json.loads(line) for line in output.read_text().splitlines()]


def wait_for_records(daemon: Daemon, output: Path, expected: set[str]) -> list[dict]:
    deadline = time.monotonic() + READ_TIMEOUT_S
    while True:
        events = read_events(output)
        missing = expected - {e["data"] for e in events if e["event"] == "record"}
        if not missing:
            return events
        assert daemon.process.poll() is None, f"the KCL daemon exited:\n{daemon.log_tail()}"
        assert time.monotonic() < deadline, f"{len(missing)} records not read:\n{daemon.log_tail()}"
        time.sleep(0.5)


def put_batch(kinesis, stream: str, batch: str) -> dict[str, tuple[str, str]]:
    """RECORDS_PER_BATCH records named f"{batch}-{i}": data -> (partition key, shard id)."""
    data = [f"{batch}-{i}" for i in range(RECORDS_PER_BATCH)]
    keys = [f"key-{i % PARTITION_KEYS}" for i in range(RECORDS_PER_BATCH)]
    result = kinesis.put_records(StreamName=stream, Records=[{"Data": d.encode(), "PartitionKey": k}
                                                             for d, k in zip(data, keys)])
    assert result["FailedRecordCount"] == 0
    return {d: (k, r["ShardId"]) for d, k, r in zip(data, keys, result["Records"])}


def test_kcl_reads_every_record_across_a_restart_and_a_reshard(tmp_path):
    java = require_tool("java", "the KCL's MultiLangDaemon runs on Java 17")
    jars = kcl_jars()
    stream = "kcl-stream"
    output = tmp_path / "processed.jsonl"
    properties = tmp_path / "app.properties"
    with serve(log_path=tmp_path / "engine.log") as endpoint, moto_dynamodb(tmp_path / "moto.log") as dynamodb:
        kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name=REGION,
                               aws_access_key_id="test", aws_secret_access_key="test")
        kinesis.create_stream(StreamName=stream, ShardCount=SHARDS)
        write_properties(properties, stream, endpoint, dynamodb)
        put = put_batch(kinesis, stream, "before")

        daemon = Daemon(java, jars, properties, output, tmp_path / "daemon-1.log")
        try:
            wait_for_records(daemon, output, set(put))
            put |= put_batch(kinesis, stream, "during")
            wait_for_records(daemon, output, set(put))
            assert daemon.stop() == 128 + signal.SIGTERM, daemon.log_tail()   # the JVM's code after its hooks ran
        finally:
            daemon.kill()
        first_run = read_events(output)
        consumers = kinesis.list_stream_consumers(StreamARN=kinesis.describe_stream_summary(
            StreamName=stream)["StreamDescriptionSummary"]["StreamARN"])["Consumers"]
        assert [c["ConsumerName"] for c in consumers] == [f"{stream}-app"]   # it read by SubscribeToShard
        stopped = {e["shard"] for e in first_run if e["event"] == "shutdown_requested"}
        assert stopped == INITIAL_SHARDS, daemon.log_tail()

        put |= put_batch(kinesis, stream, "between")   # while no daemon runs
        # the second run resumes at the checkpoints and follows a split: the last event of the closed
        # parent (ChildShards, no ContinuationSequenceNumber) moves the KCL on to the children
        daemon = Daemon(java, jars, properties, output, tmp_path / "daemon-2.log")
        try:
            wait_for_records(daemon, output, set(put))
            parent = "shardId-000000000000"
            hash_range = next(s["HashKeyRange"] for s in kinesis.list_shards(StreamName=stream)["Shards"]
                              if s["ShardId"] == parent)
            middle = (int(hash_range["StartingHashKey"]) + int(hash_range["EndingHashKey"])) // 2 + 1
            kinesis.split_shard(StreamName=stream, ShardToSplit=parent, NewStartingHashKey=str(middle))
            put |= put_batch(kinesis, stream, "after")
            events = wait_for_records(daemon, output, set(put))
        finally:
            daemon.kill()

    records = [e for e in events if e["event"] == "record"]
    # every record read exactly once (checkpoints after each batch and at the graceful stop: the
    # second run resumes after the last one), on the shard it was put to
    assert sorted(e["data"] for e in records) == sorted(put)
    assert all(e["shard"] == put[e["data"]][1] for e in records)
    # the second run starts each shard at the first run's last checkpoint: its last record there
    resumed_at = {e["shard"]: e["sequence"] for e in events[len(first_run):] if e["event"] == "initialize"}
    last_read = {e["shard"]: e["sequence"] for e in first_run if e["event"] == "record"}
    assert {shard: resumed_at[shard] for shard in last_read} == last_read
    # the split: the parent read to its end and checkpointed there before its children start
    children = {put[d][1] for d in put if d.startswith("after-")} - INITIAL_SHARDS
    assert len(children) == 2
    parent_end = next(i for i, e in enumerate(events) if e["event"] == "shard_ended" and e["shard"] == parent)
    first_child_event = min(i for i, e in enumerate(events) if e["shard"] in children)
    assert parent_end < first_child_event
    # each partition key's records in the order they were put, across the restart and the split
    for key in {k for k, _ in put.values()}:
        read_order = [e["data"] for e in records if put[e["data"]][0] == key]
        assert read_order == [d for d in put if put[d][0] == key]

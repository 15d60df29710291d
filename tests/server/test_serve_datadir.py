"""`python -m engine serve --data-dir PATH`: a stream created through the server, and its
records, are there again after the server restarts, whether it was stopped or killed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore.config
import pytest

import engine
from tests.server.wire_server import REPO, START_TIMEOUT_S, STOP_TIMEOUT_S, free_port


class Server:
    def __init__(self, data_dir, *flags):
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--port", str(self.port), "--data-dir", str(data_dir), *flags],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/_engine/health", timeout=2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop(signal.SIGKILL)
                    raise AssertionError(f"engine serve did not start:\n{self.process.stdout.read()}")
                time.sleep(0.2)

    def kinesis(self):
        return boto3.client("kinesis", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=botocore.config.Config(retries={"max_attempts": 1}))

    def stop(self, sig) -> str:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        self.process.wait(STOP_TIMEOUT_S)
        return self.process.stdout.read()


def records(kinesis, stream):
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        page = kinesis.get_records(ShardIterator=it, Limit=10_000)
        out += [(r["SequenceNumber"], r["PartitionKey"], r["Data"]) for r in page["Records"]]
    return sorted(out)


@pytest.mark.parametrize("durability, stop", [("flush", signal.SIGKILL), ("fsync", signal.SIGTERM)])
def test_a_stream_created_through_the_server_survives_a_restart(tmp_path, durability, stop):
    server = Server(tmp_path, "--durability", durability)
    try:
        kinesis = server.kinesis()
        kinesis.create_stream(StreamName="kept", ShardCount=2)
        kinesis.add_tags_to_stream(StreamName="kept", Tags={"team": "ingest"})
        kinesis.put_records(StreamName="kept", Records=[{"Data": b"r%d" % i, "PartitionKey": f"k{i}"}
                                                        for i in range(100)])
        kinesis.put_record(StreamName="kept", Data=b"last", PartitionKey="p")
        before = records(kinesis, "kept")
    finally:
        banner = server.stop(stop)
    assert f"kept in {tmp_path} (durability {durability})" in banner

    server = Server(tmp_path)
    try:
        kinesis = server.kinesis()
        assert kinesis.list_streams()["StreamNames"] == ["kept"]
        assert len(before) == 101 and records(kinesis, "kept") == before
        assert kinesis.list_tags_for_stream(StreamName="kept")["Tags"] == [{"Key": "team", "Value": "ingest"}]
    finally:
        server.stop(signal.SIGTERM)


def test_fsync_without_a_data_dir_is_refused_before_serving():
    result = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", str(free_port()),
                             "--durability", "fsync"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--durability fsync needs --data-dir" in result.stderr


def test_damaged_data_of_the_default_account_stops_the_start_with_one_line_naming_the_file(tmp_path, monkeypatch):
    from engine.kinesis import store as kinesis_store
    monkeypatch.setattr(kinesis_store, "SEGMENT_BYTES", 2_000)   # the first segment seals after a few puts
    with engine.Engine(data_dir=str(tmp_path)) as eng:
        kinesis = eng.client("kinesis")
        kinesis.create_stream(StreamName="s", ShardCount=1)
        for _ in range(20):
            kinesis.put_records(StreamName="s", Records=[{"Data": b"x" * 50, "PartitionKey": "p"}] * 5)
    shard_dir = tmp_path / "kinesis" / "000000000000" / "us-east-1" / "s-s" / "shards" / "shardId-000000000000"
    sealed = shard_dir / sorted(f for f in os.listdir(shard_dir) if f.endswith(".log"))[0]
    data = bytearray(sealed.read_bytes())
    data[100] ^= 0x10
    sealed.write_bytes(data)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", str(free_port()), "--data-dir",
                             str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=START_TIMEOUT_S)
    assert result.returncode != 0
    line = next(x for x in (result.stdout + result.stderr).splitlines() if x.startswith("engine serve: "))
    assert f"the data in {tmp_path} cannot be restored" in line and str(sealed) in line
    assert "Traceback" not in result.stdout + result.stderr


def test_a_message_move_task_runs_on_after_a_restart_before_any_request(tmp_path):
    """A move task running when the server was killed goes on moving at once when it starts
    again, as AWS runs it server-side: not only once a client touches that region."""
    server = Server(tmp_path)
    try:
        sqs = boto3.client("sqs", endpoint_url=server.endpoint, region_name="eu-west-1", aws_access_key_id="test",
                           aws_secret_access_key="test", config=botocore.config.Config(retries={"max_attempts": 1}))
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        back = sqs.create_queue(QueueName="back", Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})["QueueUrl"]
        back_arn = sqs.get_queue_attributes(QueueUrl=back, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for k in range(10):
            sqs.send_message_batch(QueueUrl=dlq, Entries=[{"Id": str(i), "MessageBody": f"{k}-{i}"} for i in range(10)])
        sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=back_arn, MaxNumberOfMessagesPerSecond=10)
        time.sleep(0.5)
    finally:
        server.stop(signal.SIGKILL)
    server = Server(tmp_path)
    try:
        time.sleep(4)   # no request: the task moves on its own (10 a second)
        sqs = boto3.client("sqs", endpoint_url=server.endpoint, region_name="eu-west-1", aws_access_key_id="test",
                           aws_secret_access_key="test", config=botocore.config.Config(retries={"max_attempts": 1}))
        back = sqs.get_queue_url(QueueName="back")["QueueUrl"]
        moved = int(sqs.get_queue_attributes(QueueUrl=back, AttributeNames=["ApproximateNumberOfMessages"])
                    ["Attributes"]["ApproximateNumberOfMessages"])
        assert moved >= 30   # (about 5 before the kill, 40 in the 4 s since the start)
    finally:
        server.stop(signal.SIGTERM)

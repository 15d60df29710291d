"""`python -m engine serve` as a user runs it: the banner, and a graceful stop on SIGTERM or
Ctrl-C (long polls answered at once, Firehose buffers delivered, the process exits cleanly)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
import botocore.config
import pytest

from tests.server.wire_server import REPO, free_port

STOP_TIMEOUT_S = 30


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_answers_long_polls_and_delivers_firehose_buffers(tmp_path, stop):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port),
                                "--s3-root", str(tmp_path / "s3")], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/_engine/health", timeout=2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "engine serve did not start"
                time.sleep(0.2)
        kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test", config=botocore.config.Config(retries={"max_attempts": 1},
                                                                              read_timeout=60))
        firehose = boto3.client("firehose", **kw)
        firehose.create_delivery_stream(DeliveryStreamName="held", ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::held-bucket",
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}})
        firehose.put_record(DeliveryStreamName="held", Record={"Data": b'{"kept": true}\n'})
        sqs = boto3.client("sqs", **kw)
        url = sqs.create_queue(QueueName="waiting")["QueueUrl"]
        answered = {}

        def poll():
            started = time.monotonic()
            answered["response"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
            answered["after_s"] = time.monotonic() - started
        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(1.0)
        assert not list((tmp_path / "s3").rglob("*.*")), "nothing is delivered before the stop"
        os.kill(process.pid, stop)
        poller.join(STOP_TIMEOUT_S)
        assert not poller.is_alive()
        assert answered["after_s"] < 15 and "Messages" not in answered["response"]
        assert process.wait(STOP_TIMEOUT_S) == 0
        delivered = [p for p in (tmp_path / "s3" / "held-bucket").rglob("*") if p.is_file()]
        assert [p.read_bytes() for p in delivered] == [b'{"kept": true}\n']
        banner = process.stdout.read()
        assert f"on http://127.0.0.1:{port}" in banner
        assert all(name in banner for name in ("kinesis", "firehose", "sqs", "sns", "glue"))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

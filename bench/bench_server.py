"""`engine serve` benchmarks, side by side in one run:

- boto3's SQS pipeline (send_message_batch 10 + receive_message 10 + delete_message_batch 10,
  256-byte bodies) through the engine's server, a do-nothing server (granian with canned AWS
  answers: boto3's own ceiling on this machine) and moto's server;
- boto3 put_records (500 x 100 B) through the same three;
- the server's own cost, apart from any client: µs per request inside the ASGI app (SendMessage,
  PutRecords 500 x 100 B), and SendMessage requests/s from wrk (a C load generator) against the
  engine's server and the do-nothing one, with and without 2,000 idle long polls held open.

    python -m pytest bench/bench_server.py -p no:cacheprovider -o addopts= --benchmark-only
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import botocore.config
import pytest

import engine
from bench.bench_sqs import BODIES, round_trips
from bench.conftest import RECORD_BYTES, record_info

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 100            # pipeline round trips (10 messages each) per benchmark round
MOTO_ROUNDS = 10
PUTS = 20               # put_records calls per benchmark round
WRK_SECONDS = 5
WRK_CONNECTIONS = 32
IDLE_POLLS = 2000
IDLE_SETTLE_S = 3       # the server takes the idle polls in before wrk starts (they wait 20 s)
START_TIMEOUT_S = 60

GROUP_PIPELINE = "server: boto3 SQS pipeline (send_batch 10 + receive 10 + delete_batch 10)"
GROUP_PUT = "server: boto3 put_records (500 x 100 B)"
GROUP_INSIDE = "server: inside the app (no HTTP, no client)"
GROUP_WRK = "server: SendMessage requests/s from wrk"


# --- the do-nothing server: canned answers boto3 accepts ------------------------------------------
_CANNED_MESSAGES = [{"MessageId": f"m{k}", "ReceiptHandle": f"h{k}", "MD5OfBody": hashlib.md5(b.encode()).hexdigest(),
                     "Body": b} for k, b in enumerate(BODIES[:10])]
_CANNED = {
    "AmazonSQS.CreateQueue": {"QueueUrl": "http://127.0.0.1/000000000000/q"},
    "AmazonSQS.ReceiveMessage": {"Messages": _CANNED_MESSAGES},
    "AmazonSQS.SendMessage": {"MessageId": "m", "MD5OfMessageBody": hashlib.md5(b"x").hexdigest()},
    "Kinesis_20131202.PutRecords": {"FailedRecordCount": 0, "Records": [
        {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}] * 500},
}
_CANNED_BYTES = {k: json.dumps(v).encode() for k, v in _CANNED.items()}


async def do_nothing(scope, receive, send):
    """Reads the request and answers it from a table, as fast as granian lets an app."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    target = next((v.decode() for k, v in scope["headers"] if k == b"x-amz-target"), "")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/x-amz-json-1.0")]})
    await send({"type": "http.response.body", "body": _CANNED_BYTES.get(target, b"{}")})


# --- servers ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _server(argv: list[str], port: int, ready_path: str = "/"):
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(url + ready_path, timeout=2).close()
                break
            except urllib.error.HTTPError:
                break   # (it answers)
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[:4]} did not start")
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def engine_server():
    port = _free_port()
    with _server([sys.executable, "-m", "engine", "serve", "--port", str(port)], port, "/_engine/health") as url:
        yield url


@pytest.fixture(scope="module")
def nothing_server():
    port = _free_port()
    with _server([sys.executable, "-m", "granian", "--interface", "asgi", "--http", "auto", "--workers", "1",
                  "--port", str(port), "--log-level", "warning", "bench.bench_server:do_nothing"], port) as url:
        yield url


@pytest.fixture(scope="module")
def moto_server():
    pytest.importorskip("moto.server")
    port = _free_port()
    with _server([sys.executable, "-m", "moto.server", "-p", str(port)], port, "/moto-api/") as url:
        yield url


def _client(service: str, url: str):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=botocore.config.Config(retries={"max_attempts": 1}))


def _info(benchmark, group: str, kind: str, api: str, records: int, bytes_: int, **extra):
    benchmark.group = group
    record_info(benchmark, records=records, bytes_=bytes_, kind=kind, api=api, **extra)


# --- boto3 through each server ---------------------------------------------------------------------
@pytest.mark.parametrize("which", ["engine", "nothing", "moto"])
def test_boto3_sqs_pipeline(benchmark, which, request):
    url = request.getfixturevalue(f"{which}_server")
    sqs = _client("sqs", url)
    queue = sqs.create_queue(QueueName=f"bench-{os.getpid()}")["QueueUrl"]
    rounds = MOTO_ROUNDS if which == "moto" else ROUNDS
    kind, api = {"engine": ("engine", "engine serve + boto3"), "nothing": ("baseline", "do-nothing server + boto3"),
                 "moto": ("moto", "moto server + boto3")}[which]
    _info(benchmark, GROUP_PIPELINE, kind, api, rounds * 10, rounds * 10 * len(BODIES[0]))
    done = benchmark.pedantic(round_trips, args=(sqs, queue, rounds), rounds=5 if which != "moto" else 3,
                              iterations=1, warmup_rounds=1)
    assert done == rounds * 10


@pytest.fixture(scope="module")
def put_records_entries():
    data = [bytes([k % 251]) * RECORD_BYTES for k in range(500)]
    return [{"Data": d, "PartitionKey": f"user-{k}"} for k, d in enumerate(data)]


def _puts(kinesis, entries, n: int) -> int:
    for _ in range(n):
        kinesis.put_records(StreamName="bench", Records=entries)
    return n * len(entries)


@pytest.mark.parametrize("which", ["engine", "nothing", "moto"])
def test_boto3_put_records(benchmark, which, request, put_records_entries):
    url = request.getfixturevalue(f"{which}_server")
    kinesis = _client("kinesis", url)
    if which != "nothing":
        with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
            kinesis.create_stream(StreamName="bench", ShardCount=4)
        kinesis.get_waiter("stream_exists").wait(StreamName="bench", WaiterConfig={"Delay": 0.1})
    n = PUTS if which != "moto" else 3
    kind, api = {"engine": ("engine", "engine serve + boto3"), "nothing": ("baseline", "do-nothing server + boto3"),
                 "moto": ("moto", "moto server + boto3")}[which]
    _info(benchmark, GROUP_PUT, kind, api, n * 500, n * 500 * RECORD_BYTES)
    assert benchmark.pedantic(_puts, args=(kinesis, put_records_entries, n), rounds=3, iterations=1,
                              warmup_rounds=1) == n * 500


# --- the server's own cost ------------------------------------------------------------------------
def _app_loop(app, scope_headers: list, body: bytes, n: int) -> int:
    async def run():
        scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "scheme": "http",
                 "server": ("127.0.0.1", 4566), "headers": scope_headers}
        message = {"type": "http.request", "body": body, "more_body": False}
        statuses = []

        async def receive():
            return message

        async def send(m):
            if m["type"] == "http.response.start":
                statuses.append(m["status"])
        for _ in range(n):
            await app(scope, receive, send)
        assert set(statuses) == {200}, statuses[:3]
        return n
    return asyncio.run(run())


@pytest.fixture(scope="module")
def app_and_queue():
    from engine.server.app import make_app
    eng = engine.Engine()
    app = make_app(eng)
    url = eng.client("sqs").create_queue(QueueName="inside")["QueueUrl"]
    eng.client("kinesis").create_stream(StreamName="bench", ShardCount=4)
    yield app, url
    eng.close()


def test_inside_send_message(benchmark, app_and_queue):
    app, url = app_and_queue
    headers = [(b"host", b"127.0.0.1:4566"), (b"x-amz-target", b"AmazonSQS.SendMessage"),
               (b"content-type", b"application/x-amz-json-1.0")]
    body = json.dumps({"QueueUrl": url, "MessageBody": BODIES[0]}).encode()
    n = 2000
    _info(benchmark, GROUP_INSIDE, "engine", "SendMessage (µs/request = 1e6 / records/s)", n, n * len(BODIES[0]))
    assert benchmark.pedantic(_app_loop, args=(app, headers, body, n), rounds=5, iterations=1) == n


def test_inside_put_records(benchmark, app_and_queue, put_records_entries):
    app, _ = app_and_queue
    import base64
    headers = [(b"host", b"127.0.0.1:4566"), (b"x-amz-target", b"Kinesis_20131202.PutRecords"),
               (b"content-type", b"application/x-amz-json-1.1")]
    body = json.dumps({"StreamName": "bench", "Records": [
        {"Data": base64.b64encode(e["Data"]).decode(), "PartitionKey": e["PartitionKey"]}
        for e in put_records_entries]}).encode()
    n = 100
    _info(benchmark, GROUP_INSIDE, "engine", "PutRecords 500 x 100 B (records/s; ms/request = 500e3 / records/s)",
          n * 500, n * 500 * RECORD_BYTES)
    assert benchmark.pedantic(_app_loop, args=(app, headers, body, n), rounds=3, iterations=1) == n


# --- wrk: requests/s of the server alone ----------------------------------------------------------
_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["X-Amz-Target"] = "AmazonSQS.SendMessage"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.body = [[%s]]
"""


def _wrk(url: str, body: dict) -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT % json.dumps(body))
    out = subprocess.run(["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "-s", script.name, url],
                         capture_output=True, text=True, timeout=WRK_SECONDS + 60).stdout
    os.unlink(script.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert errors is None, out
    return requests


def _idle_polls(url: str, queue: str, n: int):
    """n ReceiveMessage long polls (20 s) held open on raw sockets; returns them to close."""
    body = json.dumps({"QueueUrl": queue, "WaitTimeSeconds": 20}).encode()
    host, port = url.rsplit("/", 1)[1].split(":")
    request = (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nX-Amz-Target: AmazonSQS.ReceiveMessage\r\n"
               f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    sockets = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)))
        s.sendall(request)
        sockets.append(s)
    return sockets


@pytest.mark.parametrize("which,idle", [("engine", 0), ("engine", IDLE_POLLS), ("nothing", 0)])
def test_wrk_send_message(benchmark, which, idle, request):
    if shutil.which("wrk") is None:
        pytest.skip("wrk not installed (apt-get install wrk)")
    url = request.getfixturevalue(f"{which}_server")
    queue = url + "/000000000000/q"
    if which == "engine":
        sqs = _client("sqs", url)
        queue = sqs.create_queue(QueueName="wrk")["QueueUrl"]
        sqs.create_queue(QueueName="idle")
    body = {"QueueUrl": queue, "MessageBody": BODIES[0]}
    held = _idle_polls(url, url + "/000000000000/idle", idle) if idle else []
    if held:
        time.sleep(IDLE_SETTLE_S)
    try:
        kind, api = ("engine", f"engine serve, {idle:,} idle long polls open") if which == "engine" else \
            ("baseline", "do-nothing server")
        counted = {}

        def run():
            counted["n"] = _wrk(url, body)
            return counted["n"]
        benchmark.pedantic(run, rounds=1, iterations=1)
        _info(benchmark, GROUP_WRK, kind, api, counted["n"], counted["n"] * len(BODIES[0]),
              connections=WRK_CONNECTIONS)
    finally:
        for s in held:
            s.close()


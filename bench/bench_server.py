"""`engine serve` benchmarks, side by side in one run:

- boto3's SQS pipeline (send_message_batch 10 + receive_message 10 + delete_message_batch 10,
  256-byte bodies) through the engine's server, a do-nothing server (granian with canned AWS
  answers: boto3's own ceiling on this machine) and moto's server;
- boto3 put_records (500 x 100 B) through the same three and kinesalite (npm; `npm ci` into
  bench/js when node is there);
- the server's own cost, apart from any client: µs per request inside the app (its RSGI entry) for each
  operation with a fast path (engine.server.fastpath), beside the same requests with the fast
  paths off (the generic codec: the baseline of its line), and SendMessage requests/s from wrk
  (a C load generator) against the engine's server and the do-nothing one, with and without
  2,000 idle long polls held open, and a plain asyncio responder with the same canned answer
  (the floor of Python's event loop and this machine's syscalls: the gap between it and the
  do-nothing server is what serving a request through granian costs, framework and protocol).

    python -m pytest bench/bench_server.py -p no:cacheprovider -o addopts= --benchmark-only
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

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
IDLE_PAIRS = 3          # rounds of wrk with the idle polls, each after one without them
PIPELINE_PAIRS = 9      # engine rounds of the boto3 pipeline, each after one through the do-nothing server
START_TIMEOUT_S = 60

GROUP_PIPELINE = "server: boto3 SQS pipeline (send_batch 10 + receive 10 + delete_batch 10)"
GROUP_PUT = "server: boto3 put_records (500 x 100 B)"
GROUP_INSIDE = "server: inside the app (no HTTP, no client), {}"
JS_DIR = REPO / "bench" / "js"
KINESALITE = JS_DIR / "node_modules" / ".bin" / "kinesalite"
NPM_TIMEOUT_S = 300
GROUP_WRK = "server: SendMessage requests/s from wrk"


# --- the do-nothing server: canned answers boto3 accepts ------------------------------------------
_CANNED_MESSAGES = [{"MessageId": f"m{k}", "ReceiptHandle": f"h{k}", "MD5OfBody": hashlib.md5(b.encode()).hexdigest(),
                     "Body": b} for k, b in enumerate(BODIES[:10])]
# The batch answers list every entry as AWS does (round_trips' ids: m0..m9 sent, 0..9 deleted), so
# that boto3 parses as much from this server as from the engine: an empty {} would spare the
# client the work a real answer costs it and charge that work to the engine's server.
_CANNED = {
    "AmazonSQS.CreateQueue": {"QueueUrl": "http://127.0.0.1/000000000000/q"},
    "AmazonSQS.SendMessageBatch": {"Successful": [
        {"Id": f"m{k}", "MessageId": f"m{k}", "MD5OfMessageBody": hashlib.md5(b"x").hexdigest()} for k in range(10)]},
    "AmazonSQS.ReceiveMessage": {"Messages": _CANNED_MESSAGES},
    "AmazonSQS.DeleteMessageBatch": {"Successful": [{"Id": str(k)} for k in range(10)]},
    "AmazonSQS.SendMessage": {"MessageId": "m", "MD5OfMessageBody": hashlib.md5(b"x").hexdigest()},
    "Kinesis_20131202.PutRecords": {"FailedRecordCount": 0, "Records": [
        {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}] * 500},
}
_CANNED_BYTES = {k: json.dumps(v).encode() for k, v in _CANNED.items()}


class _DoNothing:
    """Reads the request and answers it from a table, as fast as granian lets an app: the same
    interface (RSGI) and event loop (uvloop) as `engine serve`."""

    async def __rsgi__(self, scope, proto):
        if scope.proto != "http":
            return
        await proto()
        proto.response_bytes(200, [("content-type", "application/x-amz-json-1.0")],
                             _CANNED_BYTES.get(scope.headers.get("x-amz-target", ""), b"{}"))


do_nothing = _DoNothing()


# --- the floor under any server: plain asyncio, no HTTP framework -----------------------------------
_FLOOR_ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: %d\r\n\r\n"
                 % len(_CANNED_BYTES["AmazonSQS.SendMessage"]) + _CANNED_BYTES["AmazonSQS.SendMessage"])


class _FloorProtocol(asyncio.Protocol):
    """Answers each keep-alive request wrk sends with the canned SendMessage answer: what Python's
    event loop and this machine's syscalls cost per request, with no server around them."""

    def connection_made(self, transport):
        self.transport = transport
        self.pending = b""

    def data_received(self, data):
        self.pending += data
        while (end := self.pending.find(b"\r\n\r\n")) >= 0:
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", self.pending[:end + 2])
            size = end + 4 + (int(length.group(1)) if length else 0)
            if len(self.pending) < size:
                return
            self.pending = self.pending[size:]
            self.transport.write(_FLOOR_ANSWER)


def serve_floor(port: int) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(_FloorProtocol, "127.0.0.1", port)
        await server.serve_forever()
    asyncio.run(main())


# --- servers ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SESSIONS: dict[str, int] = {}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _session_cpu_s(session: int) -> float:
    """CPU seconds (user + system) of the live processes of a session (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue   # (gone meanwhile)
        if int(fields[3]) == session:   # (fields after the name: state, ppid, pgrp, session, ...)
            total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS


@contextlib.contextmanager
def _server(argv: list[str], port: int, ready_path: str = "/"):
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _SESSIONS[url] = process.pid   # (its session id: the server and its workers)
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
    with _server([sys.executable, "-m", "granian", "--interface", "rsgi", "--loop", "uvloop", "--http", "auto", "--workers", "1",
                  "--port", str(port), "--log-level", "warning", "bench.bench_server:do_nothing"], port) as url:
        yield url


@pytest.fixture(scope="module")
def floor_server():
    port = _free_port()
    with _server([sys.executable, "-c", f"import bench.bench_server as b; b.serve_floor({port})"], port) as url:
        yield url


@pytest.fixture(scope="module")
def moto_server():
    pytest.importorskip("moto.server")
    port = _free_port()
    with _server([sys.executable, "-m", "moto.server", "-p", str(port)], port, "/moto-api/") as url:
        yield url


@pytest.fixture(scope="module")
def kinesalite_server():
    """kinesalite from bench/js (npm ci on first use), in memory, streams active at once."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: no kinesalite")
    if not KINESALITE.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, timeout=NPM_TIMEOUT_S,
                       capture_output=True)
    port = _free_port()
    with _server([str(KINESALITE), "--port", str(port), "--createStreamMs", "0", "--deleteStreamMs", "0",
                  "--updateStreamMs", "0"], port) as url:
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
    if which != "engine":
        done = benchmark.pedantic(round_trips, args=(sqs, queue, rounds), rounds=5 if which != "moto" else 3,
                                  iterations=1, warmup_rounds=1)
        assert done == rounds * 10
        return
    # Each engine round follows (untimed) the same round trips through the do-nothing server:
    # paired_ratio, the median of (do-nothing time / engine time) over rounds, compares the two at
    # the same moment (a server process runs up to ~1.8x faster or slower than the next here).
    nothing = _client("sqs", request.getfixturevalue("nothing_server"))
    nothing_queue = nothing.create_queue(QueueName="bench")["QueueUrl"]
    before, ratios = [], []

    def nothing_first():
        start = time.perf_counter()
        round_trips(nothing, nothing_queue, rounds)
        before.append(time.perf_counter() - start)
        return (), {}

    def engine_round():
        start = time.perf_counter()
        done = round_trips(sqs, queue, rounds)
        ratios.append(before[-1] / (time.perf_counter() - start))
        return done
    assert benchmark.pedantic(engine_round, setup=nothing_first, rounds=PIPELINE_PAIRS, iterations=1,
                              warmup_rounds=1) == rounds * 10
    benchmark.extra_info["paired_ratio"] = round(statistics.median(ratios), 2)


@pytest.fixture(scope="module")
def put_records_entries():
    data = [bytes([k % 251]) * RECORD_BYTES for k in range(500)]
    return [{"Data": d, "PartitionKey": f"user-{k}"} for k, d in enumerate(data)]


def _puts(kinesis, entries, n: int) -> int:
    for _ in range(n):
        kinesis.put_records(StreamName="bench", Records=entries)
    return n * len(entries)


@pytest.mark.parametrize("which", ["engine", "nothing", "moto", "kinesalite"])
def test_boto3_put_records(benchmark, which, request, put_records_entries):
    url = request.getfixturevalue(f"{which}_server")
    kinesis = _client("kinesis", url)
    if which != "nothing":
        with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
            kinesis.create_stream(StreamName="bench", ShardCount=4)
        kinesis.get_waiter("stream_exists").wait(StreamName="bench", WaiterConfig={"Delay": 0.1})
    n = PUTS if which in ("engine", "nothing") else 3
    kind, api = {"engine": ("engine", "engine serve + boto3"), "nothing": ("baseline", "do-nothing server + boto3"),
                 "moto": ("moto", "moto server + boto3"),
                 "kinesalite": ("kinesalite", "kinesalite (npm) + boto3")}[which]
    _info(benchmark, GROUP_PUT, kind, api, n * 500, n * 500 * RECORD_BYTES)
    assert benchmark.pedantic(_puts, args=(kinesis, put_records_entries, n), rounds=3, iterations=1,
                              warmup_rounds=1) == n * 500


# --- the server's own cost ------------------------------------------------------------------------
INSIDE_REQUESTS = 1000   # requests per benchmark round (500-record batches: a tenth)
INSIDE_ROUNDS = 5


class _Headers(dict):
    """granian's RSGIHeaders as the app reads them (get, `in`, items)."""

    def items(self):
        return list(super().items())


class _Body:
    def __init__(self, body: bytes):
        self.body = body

    def __await__(self):   # (the body is there at once, as granian has read it before the app awaits)
        return self.body
        yield


class _Protocol:
    """An RSGI HTTP protocol answering one request: the body, and the status it was answered with."""

    __slots__ = ("body", "status")

    def __init__(self, body: bytes):
        self.body = body
        self.status = None

    def __call__(self):
        return _Body(self.body)

    async def client_disconnect(self):   # (never awaited here: nothing waits)
        await asyncio.Event().wait()

    def response_bytes(self, status, headers, body):
        self.status = status


def _app_loop(app, target: str, bodies: list, cpu: list) -> int:
    """Each body through the app's RSGI entry (what `engine serve` runs) as one request; every
    answer must be a 200. Appends the CPU seconds taken to `cpu`."""
    service_json = "1.0" if target.startswith("AmazonSQS") else "1.1"
    headers = {"host": "127.0.0.1:4566", "x-amz-target": target,
               "content-type": f"application/x-amz-json-{service_json}"}
    if target.startswith("SNS."):   # (the query protocol: a form, the service named by the signature)
        headers = {"host": "127.0.0.1:4566", "content-type": "application/x-www-form-urlencoded",
                   "authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sns/aws4_request, "
                                    "SignedHeaders=host, Signature=0"}
    scope = types.SimpleNamespace(proto="http", method="POST", path="/", query_string="", scheme="http",
                                  server="127.0.0.1:4566", authority=None, headers=_Headers(headers))
    statuses = set()
    started = time.process_time()
    for body in bodies:
        proto = _Protocol(body)
        try:
            app.__rsgi__(scope, proto).send(None)   # (nothing in these requests waits)
        except StopIteration:
            pass
        statuses.add(proto.status)
    cpu.append(time.process_time() - started)
    assert statuses == {200}, statuses
    return len(bodies)


@pytest.fixture(scope="module")
def inside_apps(tmp_path_factory):
    """{"fast": app, "generic": app with its fast paths off}, each over its own engine with a
    4-shard stream "bench" and a delivery stream "bench" (to S3 under a temporary root)."""
    from engine.server.app import make_app
    apps = {}
    for which in ("fast", "generic"):
        app = apps[which] = make_app(engine.Engine(s3_root=str(tmp_path_factory.mktemp(which))))
        if which == "generic":
            app.fast_paths = app.query_fast_paths = {}
        app.engines.default.client("kinesis").create_stream(StreamName="bench", ShardCount=4)
        app.engines.default.client("firehose").create_delivery_stream(
            DeliveryStreamName="bench", ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::000000000000:role/bench", "BucketARN": "arn:aws:s3:::bench"})
    yield apps
    for app in apps.values():
        app.engines.default.close()


_queues = itertools.count()


def _queue(eng, n: int) -> str:
    """A new queue holding n messages (untimed setup); its URL as a client of the server names it."""
    sqs = eng.client("sqs")
    name = f"inside-{next(_queues)}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for _ in range(0, n, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": BODIES[0]} for j in range(10)])
    return f"http://127.0.0.1:4566/000000000000/{name}"


def _handles(eng, queue: str, n: int) -> list[str]:
    """n receipt handles of the queue's messages (untimed setup)."""
    sqs = eng.client("sqs")
    url = sqs.get_queue_url(QueueName=queue.rsplit("/", 1)[1])["QueueUrl"]
    handles = []
    while len(handles) < n:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", [])
        handles += [m["ReceiptHandle"] for m in got]
    return handles[:n]


def _inside_bodies(operation: str, eng, put_entries) -> list[bytes]:
    n = INSIDE_REQUESTS
    dumps = lambda value: json.dumps(value).encode()  # noqa: E731
    if operation == "SendMessage":
        return [dumps({"QueueUrl": _queue(eng, 0), "MessageBody": BODIES[0]})] * n
    if operation == "SendMessageBatch":
        return [dumps({"QueueUrl": _queue(eng, 0), "Entries": [{"Id": str(k), "MessageBody": b}
                                                               for k, b in enumerate(BODIES[:10])]})] * n
    if operation == "ReceiveMessage":
        return [dumps({"QueueUrl": _queue(eng, n * 10), "MaxNumberOfMessages": 10})] * n
    if operation == "DeleteMessage":
        queue = _queue(eng, n)
        return [dumps({"QueueUrl": queue, "ReceiptHandle": h}) for h in _handles(eng, queue, n)]
    if operation == "DeleteMessageBatch":
        queue = _queue(eng, n * 10)
        handles = _handles(eng, queue, n * 10)
        return [dumps({"QueueUrl": queue, "Entries": [{"Id": str(j), "ReceiptHandle": h}
                                                      for j, h in enumerate(handles[k:k + 10])]})
                for k in range(0, n * 10, 10)]
    if operation == "PutRecords":
        return [dumps({"StreamName": "bench", "Records": [
            {"Data": base64.b64encode(e["Data"]).decode(), "PartitionKey": e["PartitionKey"]}
            for e in put_entries]})] * (n // 10)
    if operation == "PutRecord":
        entry = put_entries[0]
        return [dumps({"StreamName": "bench", "Data": base64.b64encode(entry["Data"]).decode(),
                       "PartitionKey": entry["PartitionKey"]})] * n
    if operation == "PutRecordBatch":
        return [dumps({"DeliveryStreamName": "bench", "Records": [
            {"Data": base64.b64encode(e["Data"]).decode()} for e in put_entries]})] * (n // 10)
    if operation == "Publish":
        topic = eng.client("sns").create_topic(Name="bench")["TopicArn"]
        return [urlencode({"Action": "Publish", "Version": "2010-03-31", "TopicArn": topic,
                           "Message": BODIES[0]}).encode()] * n
    if operation == "GetRecords":
        kinesis = eng.client("kinesis")
        kinesis.put_records(StreamName="bench", Records=put_entries)
        shard = kinesis.list_shards(StreamName="bench")["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(StreamName="bench", ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return [dumps({"ShardIterator": iterator, "Limit": 100})] * n
    raise ValueError(operation)


INSIDE_TARGETS = {"SendMessage": "AmazonSQS", "SendMessageBatch": "AmazonSQS", "ReceiveMessage": "AmazonSQS",
                  "DeleteMessage": "AmazonSQS", "DeleteMessageBatch": "AmazonSQS",
                  "PutRecords": "Kinesis_20131202", "PutRecord": "Kinesis_20131202", "GetRecords": "Kinesis_20131202",
                  "PutRecordBatch": "Firehose_20150804", "Publish": "SNS"}
BATCHED_500 = ("PutRecords", "PutRecordBatch")   # (500 records a request: a tenth as many requests)


@pytest.mark.parametrize("operation,which", [(op, which) for op in INSIDE_TARGETS for which in ("fast", "generic")])
def test_inside(benchmark, inside_apps, operation, which, put_records_entries):
    """Each fast-pathed operation inside the app (no HTTP, no client) against the same requests
    through the generic codec, one after the other. records/s here is requests/s; cpu_us is CPU
    µs per request in the round that took least (on a shared machine the other jobs only ever
    add to it, so the least is nearest the request's own cost)."""
    app = inside_apps[which]
    target = f"{INSIDE_TARGETS[operation]}.{operation}"
    cpu = []

    def setup():
        if operation == "PutRecordBatch":   # (the last round's buffers delivered: no 503 "Slow down" here)
            app.engines.default.backend("firehose").get("bench").flush()
        return (app, target, _inside_bodies(operation, app.engines.default, put_records_entries), cpu), {}
    n = INSIDE_REQUESTS // 10 if operation in BATCHED_500 else INSIDE_REQUESTS
    benchmark.group = GROUP_INSIDE.format(operation)
    assert benchmark.pedantic(_app_loop, setup=setup, rounds=INSIDE_ROUNDS, iterations=1) == n
    kind, api = ("engine", "fast path") if which == "fast" else ("baseline", "generic codec")
    _info(benchmark, GROUP_INSIDE.format(operation), kind, f"{operation}, {api} (requests/s)", n, 0,
          cpu_us=round(min(cpu) / n * 1e6, 1))


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


@pytest.mark.parametrize("which,idle", [("engine", 0), ("engine", IDLE_POLLS), ("nothing", 0), ("floor", 0)])
def test_wrk_send_message(benchmark, which, idle, request):
    """SendMessage from wrk for WRK_SECONDS. The row with idle long polls runs IDLE_PAIRS rounds,
    each preceded (untimed by the benchmark) by the same wrk run without them on the same server
    process; paired_ratio is the median over rounds of (requests with / requests without): one
    server process runs faster or slower than the next, and than itself a minute later, on this VM."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk not installed (apt-get install wrk)")
    url = request.getfixturevalue(f"{which}_server")
    queue = url + "/000000000000/q"
    if which == "engine":
        sqs = _client("sqs", url)
        queue = sqs.create_queue(QueueName="wrk")["QueueUrl"]
        sqs.create_queue(QueueName="idle")
    body = {"QueueUrl": queue, "MessageBody": BODIES[0]}
    held: list = []
    counts, cpus, without = [], [], []

    def idle_free_first():   # (pedantic's setup: not timed)
        if idle:
            if held:   # the last round's polls go first, and the server sees them go
                for s in held:
                    s.close()
                held.clear()
                time.sleep(IDLE_SETTLE_S)
            without.append(_wrk(url, body))
            held.extend(_idle_polls(url, url + "/000000000000/idle", idle))
            time.sleep(IDLE_SETTLE_S)
        return (), {}

    def run():
        cpu = _session_cpu_s(_SESSIONS[url])
        counts.append(_wrk(url, body))
        cpus.append(_session_cpu_s(_SESSIONS[url]) - cpu)
        return counts[-1]
    try:
        kind, api = {"engine": ("engine", f"engine serve, {idle:,} idle long polls open"),
                     "nothing": ("baseline", "do-nothing server"),
                     # (the HTTP server's own cost per request: the gap between this line and the last)
                     "floor": ("asyncio", "plain asyncio responder, no server framework")}[which]
        benchmark.group = GROUP_WRK
        # (a run before the timed one lets a fresh server process warm up: its first seconds run slower)
        rounds = IDLE_PAIRS if idle else 1
        benchmark.pedantic(run, setup=idle_free_first, rounds=rounds, iterations=1, warmup_rounds=0 if idle else 1)
        del counts[:-rounds], cpus[:-rounds]   # (the warm-up's)
        n = int(statistics.median(counts))
        extra = {"paired_ratio": round(statistics.median([w / o for w, o in zip(counts, without)]), 2)} if idle else {}
        # server_cpu_us: the server's CPU µs per request (its requests per CPU second on one worker
        # is 1e6 / server_cpu_us), steadier than the wall rate on a shared machine
        _info(benchmark, GROUP_WRK, kind, api, n, n * len(BODIES[0]), connections=WRK_CONNECTIONS,
              server_cpu_us=round(statistics.median([c / k for c, k in zip(cpus, counts)]) * 1e6, 1), **extra)
    finally:
        for s in held:
            s.close()

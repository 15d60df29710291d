"""SQS benchmarks: the full consumer round trip (send_message_batch + receive_message(10) +
delete_message_batch, 256-byte bodies) through eng.client("sqs"), the native queue API, a
pure-Python deque + dict baseline and moto's SQS, in the same run and the same groups; standard
and FIFO queues; 1 and 4 producer threads; and the memory a held message costs.

Every candidate runs the same driver code on the same prebuilt, distinct bodies, so the ratios
compare the queues, not the drivers. report.py turns timings into messages/s.

    python -m pytest bench/bench_sqs.py -p no:cacheprovider -o addopts= --benchmark-only
"""
from __future__ import annotations

import hashlib
import itertools
import threading
import time
import tracemalloc
import uuid
from collections import deque

import pytest

import engine
from bench.conftest import record_info, scaled

BODY_BYTES = 256
ROUNDS = 200          # round trips (of 10 messages) per benchmark round
MOTO_ROUNDS = 10
THREADS = 4
GROUPS = 10           # FIFO message groups


def make_bodies(n: int, seed: int = 0) -> list[str]:
    """n distinct printable-ASCII bodies of BODY_BYTES (no body is reused inside a round)."""
    out = []
    for i in range(n):
        head = f"{seed}:{i}:"
        out.append(head + hashlib.sha256(head.encode()).hexdigest() * 4)
    return [b[:BODY_BYTES].ljust(BODY_BYTES, "x") for b in out]


BODIES = make_bodies(ROUNDS * 10)
BATCHES = [[{"Id": f"m{j}", "MessageBody": BODIES[i * 10 + j]} for j in range(10)] for i in range(ROUNDS)]


def round_trips(client, url, rounds: int, batches=BATCHES) -> int:
    """The consumer loop a boto3 user writes; returns the messages that made the trip."""
    done = 0
    for i in range(rounds):
        client.send_message_batch(QueueUrl=url, Entries=batches[i % len(batches)])
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        client.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(got)])
        done += len(got)
    return done


_dedup = itertools.count()
FIFO_ROUNDS = 60      # benchmark rounds of the FIFO round trip (fresh entries each, built untimed)


def fifo_batch(i: int) -> list[dict]:
    """FIFO entries: one message per group, a fresh deduplication id each (the 5-minute window
    would otherwise swallow repeats)."""
    base = next(_dedup)
    bodies = BATCHES[i % len(BATCHES)]
    return [dict(e, MessageGroupId=f"g{j}", MessageDeduplicationId=f"{base}-{j}") for j, e in enumerate(bodies)]


def fifo_setup(client, url, rounds: int):
    """pytest-benchmark setup (not timed): one benchmark round's FIFO batches, prebuilt as the
    standard round trip's are, with deduplication ids never used before."""
    return (client, url, rounds, [fifo_batch(i) for i in range(rounds)]), {}


def fifo_round_trips(client, url, rounds: int) -> int:
    """The FIFO consumer loop building its entries inside the timed loop (the driver's dict
    copies and f-strings, ~0.45 us a message, count against every candidate)."""
    done = 0
    for i in range(rounds):
        client.send_message_batch(QueueUrl=url, Entries=fifo_batch(i))
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        client.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(got)])
        done += len(got)
    return done


class PythonSQS:
    """The obvious pure-Python queue in the boto3 shape: a deque of visible messages, a dict of
    in-flight ones by receipt handle, uuid4 ids, hashlib MD5s, one lock. No validation, no
    visibility expiry, no retention: the floor of doing it by hand."""

    def __init__(self):
        self.visible = deque()
        self.inflight = {}
        self.lock = threading.Lock()

    def send_message_batch(self, QueueUrl, Entries):
        out = []
        now = time.time()
        with self.lock:
            for e in Entries:
                body = e["MessageBody"]
                mid = str(uuid.uuid4())
                md5 = hashlib.md5(body.encode()).hexdigest()
                self.visible.append((mid, body, md5, now, e.get("MessageGroupId")))
                out.append({"Id": e["Id"], "MessageId": mid, "MD5OfMessageBody": md5})
        return {"Successful": out, "Failed": []}

    def receive_message(self, QueueUrl, MaxNumberOfMessages=1, VisibilityTimeout=30):
        msgs = []
        deadline = time.time() + VisibilityTimeout
        with self.lock:
            while self.visible and len(msgs) < MaxNumberOfMessages:
                mid, body, md5, sent, group = m = self.visible.popleft()
                handle = uuid.uuid4().hex
                self.inflight[handle] = (m, deadline)
                msgs.append({"MessageId": mid, "ReceiptHandle": handle, "MD5OfBody": md5, "Body": body})
        return {"Messages": msgs}

    def delete_message_batch(self, QueueUrl, Entries):
        ok = []
        with self.lock:
            for e in Entries:
                self.inflight.pop(e["ReceiptHandle"], None)
                ok.append({"Id": e["Id"]})
        return {"Successful": ok, "Failed": []}


@pytest.fixture
def eng():
    e = engine.Engine()
    yield e
    e.close()


def info(benchmark, group: str, kind: str, api: str, messages: int, **extra):
    benchmark.group = group
    record_info(benchmark, records=messages, bytes_=messages * BODY_BYTES, kind=kind, api=api, **extra)


# --- standard queue, one thread ------------------------------------------------------------------
GROUP_STD = "sqs round trip standard (send_batch+receive(10)+delete_batch)"


def test_round_trip_boto3_shape(benchmark, eng):
    sqs = eng.client("sqs")
    url = sqs.create_queue(QueueName="bench")["QueueUrl"]
    info(benchmark, GROUP_STD, "engine", "eng.client('sqs')", ROUNDS * 10)
    assert benchmark(round_trips, sqs, url, ROUNDS) == ROUNDS * 10


def native_round_trips(queue, batches) -> int:
    """The native queue API: bodies in, named columns out (ids, receipt handles, MD5s, bodies,
    ...), handles back; no per-message objects beyond the strings."""
    done = 0
    for bodies in batches:
        queue.send_raw(bodies)
        got = queue.receive(len(bodies))
        queue.delete_batch(got.handles)
        done += len(got.handles)
    return done


def test_round_trip_native(benchmark, eng):
    queue = eng.backend("sqs").create_queue("native")
    batches = [[e["MessageBody"] for e in batch] for batch in BATCHES]
    info(benchmark, GROUP_STD, "engine", "native (send_raw/receive/delete_batch), 10 per call", ROUNDS * 10)
    assert benchmark(native_round_trips, queue, batches) == ROUNDS * 10


def test_round_trip_native_bulk(benchmark, eng):
    """The same native calls with 100 messages per call (the native API has no batch cap)."""
    queue = eng.backend("sqs").create_queue("bulk")
    batches = [BODIES[i:i + 100] for i in range(0, len(BODIES), 100)]
    info(benchmark, GROUP_STD, "engine", "native (send_raw/receive/delete_batch), 100 per call", len(BODIES))
    assert benchmark(native_round_trips, queue, batches) == len(BODIES)


def test_round_trip_python_baseline(benchmark):
    q = PythonSQS()
    info(benchmark, GROUP_STD, "baseline", "pure Python deque+dict", ROUNDS * 10)
    assert benchmark(round_trips, q, "q", ROUNDS) == ROUNDS * 10


def test_round_trip_moto(benchmark):
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    info(benchmark, GROUP_STD, "moto", "moto + boto3", MOTO_ROUNDS * 10)
    with moto.mock_aws():
        client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        url = client.create_queue(QueueName="bench")["QueueUrl"]
        done = benchmark.pedantic(round_trips, args=(client, url, MOTO_ROUNDS), rounds=3, iterations=1)
    assert done == MOTO_ROUNDS * 10


# --- FIFO queue, one thread -----------------------------------------------------------------------
# Entries are prebuilt per benchmark round (untimed setup), as the standard round trip's are;
# the "entries built in the loop" group times the same trip with the driver building them.
GROUP_FIFO = f"sqs round trip FIFO ({GROUPS} groups)"
GROUP_FIFO_BUILD = f"sqs round trip FIFO ({GROUPS} groups), entries built in the loop"


def make_fifo_queue(sqs) -> str:
    return sqs.create_queue(QueueName="bench.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]


def test_fifo_round_trip_boto3_shape(benchmark, eng):
    sqs = eng.client("sqs")
    url = make_fifo_queue(sqs)
    info(benchmark, GROUP_FIFO, "engine", "eng.client('sqs')", ROUNDS * 10)
    done = benchmark.pedantic(round_trips, setup=lambda: fifo_setup(sqs, url, ROUNDS), rounds=FIFO_ROUNDS,
                              iterations=1, warmup_rounds=2)
    assert done == ROUNDS * 10


def test_fifo_round_trip_python_baseline(benchmark):
    q = PythonSQS()  # (keeps no per-group order: a floor, not a FIFO queue)
    info(benchmark, GROUP_FIFO, "baseline", "pure Python deque+dict", ROUNDS * 10)
    done = benchmark.pedantic(round_trips, setup=lambda: fifo_setup(q, "q", ROUNDS), rounds=FIFO_ROUNDS,
                              iterations=1, warmup_rounds=2)
    assert done == ROUNDS * 10


def test_fifo_round_trip_moto(benchmark):
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    info(benchmark, GROUP_FIFO, "moto", "moto + boto3", MOTO_ROUNDS * 10)
    with moto.mock_aws():
        client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        url = make_fifo_queue(client)
        done = benchmark.pedantic(round_trips, setup=lambda: fifo_setup(client, url, MOTO_ROUNDS), rounds=3,
                                  iterations=1)
    assert done == MOTO_ROUNDS * 10


def test_fifo_round_trip_building_entries_boto3_shape(benchmark, eng):
    sqs = eng.client("sqs")
    url = make_fifo_queue(sqs)
    info(benchmark, GROUP_FIFO_BUILD, "engine", "eng.client('sqs')", ROUNDS * 10)
    assert benchmark(fifo_round_trips, sqs, url, ROUNDS) == ROUNDS * 10


def test_fifo_round_trip_building_entries_python_baseline(benchmark):
    q = PythonSQS()
    info(benchmark, GROUP_FIFO_BUILD, "baseline", "pure Python deque+dict", ROUNDS * 10)
    assert benchmark(fifo_round_trips, q, "q", ROUNDS) == ROUNDS * 10


# --- four producer threads ---------------------------------------------------------------------
GROUP_THREADS = f"sqs round trip standard, {THREADS} threads"


def threaded(make_client, url, rounds_per_thread: int) -> int:
    counts = []

    def work():
        counts.append(round_trips(make_client(), url, rounds_per_thread))

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts)


def test_threads_round_trip_boto3_shape(benchmark, eng):
    url = eng.client("sqs").create_queue(QueueName="threads")["QueueUrl"]
    per_thread = ROUNDS // THREADS
    info(benchmark, GROUP_THREADS, "engine", "eng.client('sqs')", per_thread * THREADS * 10, threads=THREADS)
    done = benchmark(threaded, lambda: eng.client("sqs"), url, per_thread)
    assert done >= per_thread * THREADS * 10 * 0.9  # a receive may race ahead of a send: allow a little slack


def test_threads_round_trip_python_baseline(benchmark):
    q = PythonSQS()
    per_thread = ROUNDS // THREADS
    info(benchmark, GROUP_THREADS, "baseline", "pure Python deque+dict", per_thread * THREADS * 10, threads=THREADS)
    done = benchmark(threaded, lambda: q, "q", per_thread)
    assert done >= per_thread * THREADS * 10 * 0.9


# --- memory: messages held -------------------------------------------------------------------------
GROUP_HOLD = "sqs hold messages (send_message_batch, then held)"


def test_hold_messages_memory(benchmark):
    """Fill a queue with N distinct 256-byte messages (a million at scale 1); the time is the
    boto3-shaped fill and extra_info['overhead_bytes_per_message'] what each held message costs
    beyond its body: Python allocations (traced with tracemalloc on a separate fill, since
    tracing slows allocation) plus the native core's allocations (message slots, timer heap,
    arena chunks) minus the body bytes it holds."""
    n = scaled(1_000_000, minimum=20_000)
    bodies = make_bodies(n, seed=7)
    batches = [[{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])]
               for i in range(0, n, 10)]

    def fill():
        with engine.Engine() as eng:
            sqs = eng.client("sqs")
            url = sqs.create_queue(QueueName="hold")["QueueUrl"]
            for batch in batches:
                sqs.send_message_batch(QueueUrl=url, Entries=batch)
            return eng.backend("sqs").get_queue("hold").approximate_number_of_messages

    overhead, python_part, native_part = held_overhead(bodies, batches)
    info(benchmark, GROUP_HOLD, "engine", "eng.client('sqs')", n, overhead_bytes_per_message=round(overhead, 1),
         python_bytes_per_message=round(python_part, 1), native_bytes_per_message=round(native_part, 1))
    assert benchmark.pedantic(fill, rounds=2, iterations=1) == n


def held_overhead(bodies, batches) -> tuple[float, float, float]:
    """Bytes allocated per held message beyond its body: (total, Python part, native part).
    The Python part is what tracemalloc sees grow (the caller's body strings exist before);
    the native part is the core queue's allocation (slots, heap, arena) minus the body bytes
    it stores."""
    with engine.Engine() as eng:
        sqs = eng.client("sqs")
        url = sqs.create_queue(QueueName="traced")["QueueUrl"]
        queue = eng.backend("sqs").get_queue("traced")
        native_before = native_overhead(queue)
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for batch in batches:
            sqs.send_message_batch(QueueUrl=url, Entries=batch)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename")) / len(bodies)
        native = (native_overhead(queue) - native_before) / len(bodies)
        return grown + native, grown, native


def native_overhead(queue) -> int:
    st = queue.stats()
    return st["bytes_allocated"] - st["body_bytes"]

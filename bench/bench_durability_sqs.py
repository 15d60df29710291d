"""SQS with a data dir (issue 13), side by side in one run:

* "sqs round trip durability": the consumer round trip of bench_sqs (send_message_batch of 10
  256-byte bodies + receive_message(10) + delete_message_batch, through eng.client) on an
  in-memory engine (kind="baseline") and on engines with a data dir in flush and fsync mode:
  each call's operation is a frame of the queue's log before it returns. The queue is SSE-SQS
  (the default), so the flush and fsync frames are also AES-256-GCM sealed. The queue empties
  after every round trip, so its snapshots are empty ones, written at once; "flush-backlog"
  holds one message back (delayed 15 minutes), so its snapshots fold the log's frames on a
  background thread, as a queue that never empties does (one fold per ~20 MB of log: about
  once in this benchmark). "flush-plain" is flush on a queue without server-side encryption
  (SqsManagedSseEnabled=false): the difference to "flush" is the seal's share. Each row carries
  the median of its rounds' process CPU seconds (cpu_s): wall time on a shared machine drifts with
  the load, CPU time less. The rate of one process also drifts (memory mode alone has run 50 to
  90 µs per round trip from one process to the next on this VM), so each data-dir row also
  carries memory_cpu_ratio: before each of its rounds an in-memory engine in the same process
  runs the same round trips (untimed by the benchmark), and the median over rounds of
  (memory CPU time / this mode's CPU time) compares the two at the same moment.
* "sqs recovery": opening a data dir whose queue holds N messages (a million at scale 1, sent
  with the native bulk send in 1,000-message batches): the time until the queue answers.

Sizes scale with ENGINE_BENCH_SCALE.

    python -m pytest bench/bench_durability_sqs.py -p no:cacheprovider -o addopts= --benchmark-only
"""
import shutil
import statistics
import tempfile
import time

import pytest

import engine
from bench.bench_sqs import BODY_BYTES, ROUNDS, make_bodies, round_trips
from bench.conftest import record_info, scaled

ROUND_TRIP_GROUP = "sqs round trip durability (send_batch+receive(10)+delete_batch)"
RECOVERY_GROUP = "sqs recovery (open a data dir, queue answers)"
MODES = ["memory", "flush", "flush-plain", "flush-backlog", "fsync"]
PLAIN_QUEUE = {"SqsManagedSseEnabled": "false"}
BACKLOG_DELAY_S = 900
FILL_BATCH = 1000


@pytest.fixture
def data_root():
    root = tempfile.mkdtemp(prefix="bench-sqs-durability-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _open(root, durability):
    durability = durability.split("-")[0]
    data_dir = None if durability == "memory" else f"{root}/data"
    return engine.Engine(data_dir=data_dir, durability=durability if data_dir else None)


@pytest.mark.parametrize("durability", MODES)
def test_round_trip(benchmark, data_root, durability):
    eng = _open(data_root, durability)
    paired = None if durability == "memory" else engine.Engine()
    try:
        sqs = eng.client("sqs")
        url = sqs.create_queue(QueueName="bench",
                               Attributes=PLAIN_QUEUE if durability.endswith("-plain") else {})["QueueUrl"]
        if paired is not None:
            memory_sqs = paired.client("sqs")
            memory_url = memory_sqs.create_queue(QueueName="bench")["QueueUrl"]
        memory_cpu, own_cpu = [], []

        def memory_block():   # (pedantic's setup: not timed)
            if paired is not None:
                start = time.thread_time()
                round_trips(memory_sqs, memory_url, ROUNDS)
                memory_cpu.append(time.thread_time() - start)
            return (), {}
        if durability.endswith("-backlog"):
            sqs.send_message(QueueUrl=url, MessageBody="held back", DelaySeconds=BACKLOG_DELAY_S)
        benchmark.group = ROUND_TRIP_GROUP
        record_info(benchmark, records=ROUNDS * 10, bytes_=ROUNDS * 10 * BODY_BYTES,
                    kind="baseline" if durability == "memory" else "engine",
                    api=f"eng.client('sqs'), durability={durability}")
        cpu = []

        def measured():
            start, thread_start = time.process_time(), time.thread_time()
            done = round_trips(sqs, url, ROUNDS)
            cpu.append(time.process_time() - start)
            own_cpu.append(time.thread_time() - thread_start)
            return done
        done = benchmark.pedantic(measured, setup=memory_block, rounds=5 if durability == "fsync" else 20,
                                  iterations=1, warmup_rounds=1)
        benchmark.extra_info["cpu_s"] = round(statistics.median(cpu), 4)
        if paired is not None:
            benchmark.extra_info["memory_cpu_ratio"] = round(statistics.median(
                [m / o for m, o in zip(memory_cpu, own_cpu)]), 2)
        assert done == ROUNDS * 10
    finally:
        eng.close()
        if paired is not None:
            paired.close()


def test_recovery(benchmark, data_root):
    n = scaled(1_000_000, minimum=20_000)
    bodies = make_bodies(FILL_BATCH, seed=3)
    with _open(data_root, "flush") as eng:
        queue = eng.backend("sqs").create_queue("held")
        for _ in range(n // FILL_BATCH):
            queue.send_raw(bodies)

    def reopen():
        eng = _open(data_root, "flush")
        try:
            return eng.backend("sqs").get_queue("held").approximate_number_of_messages
        finally:
            eng.close()

    benchmark.group = RECOVERY_GROUP
    record_info(benchmark, records=n, bytes_=n * BODY_BYTES, kind="engine",
                api="Engine(data_dir) + backend('sqs'), flush")
    assert benchmark.pedantic(reopen, rounds=2, iterations=1) == n // FILL_BATCH * FILL_BATCH

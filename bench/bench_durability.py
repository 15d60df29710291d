"""Kinesis with a data dir (issue 13), each mode beside the in-memory engine in the same run:

* "durability put_batch": native put_batch of 500-record batches (100-byte records, 4 shards),
  one writer: memory (kind="baseline"), flush, fsync.
* "durability put_records": boto3-shaped put_records of 500 records through eng.client, the same.
* "durability 4 writers": four threads putting 500-record batches at once (put_batch): memory,
  flush, and fsync, where group commit shares each wave of fdatasyncs among the writers.
* "durability disk waves": what the disk allows group commit, without the engine around it: four
  threads each write a frame of 125 records (a 500-record put spread over 4 shards) to each of
  four segment logs and commit them together, in fsync mode, with the files growing
  (kind="baseline") or pre-allocated as the Kinesis store keeps them; records per wave and the
  mean wave time go in extra_info.
* "durability recovery": opening a data dir that holds RECOVERY_RECORDS records (10M at scale 1)
  in 500-record puts (a frame per put and shard, as put_records leaves them) until the stream
  answers, beside putting the same records into a memory engine in 100,000-record batches.

Each row also carries the process CPU seconds of its median round (cpu_s), since wall time on a
shared machine drifts with the load. The rate of a process drifts too (memory mode's put_batch
follows how fast the kernel hands it fresh pages at that moment), so the put_batch and
put_records rows of a data-dir mode also carry memory_cpu_ratio: before each of their rounds the
same puts go into an in-memory engine in the same process (untimed by the benchmark), and the
median over rounds of (memory CPU seconds / this mode's) compares the two at the same moment.
Sizes scale with ENGINE_BENCH_SCALE.
"""
import os
import shutil
import statistics
import tempfile
import threading
import time

import pytest

import engine
from engine import _core
from engine.kinesis import store
from bench.conftest import RECORD_BYTES, fixed_width_binary, random_keys, record_info, scaled

BATCH = 500
SHARDS = 4
WRITERS = 4
MODES = ["memory", "flush", "fsync"]
RECOVERY_RECORDS = 10_000_000
RECOVERY_BATCH = 100_000       # records per put of the memory engine's ingest


@pytest.fixture(scope="module")
def batches():
    n = scaled(200_000)
    data, keys = fixed_width_binary(n, RECORD_BYTES, seed=11), random_keys(n, seed=12)
    return [(data.slice(start, BATCH), keys.slice(start, BATCH)) for start in range(0, n, BATCH)]


@pytest.fixture
def make_engine():
    made = []

    def make(durability: str, data_dir: str | None = None):
        root = tempfile.mkdtemp(prefix="bench-durability-")
        if data_dir is None and durability != "memory":
            data_dir = root
        eng = engine.Engine(clock=engine.ManualClock(), data_dir=data_dir, durability=durability)
        made.append((eng, root))
        return eng
    yield make
    for eng, root in made:
        eng.close()
        shutil.rmtree(root, ignore_errors=True)


def new_stream(make_engine, durability: str):
    eng = make_engine(durability)
    eng.client("kinesis").create_stream(StreamName="bench", ShardCount=SHARDS)
    return eng


def timed_rounds(benchmark, run, setup, rounds=3, paired_setup=None):
    """benchmark.pedantic, keeping each round's CPU seconds; the median round's goes in cpu_s.
    With paired_setup (the memory engine's setup), each round is preceded by an untimed run on
    it, and the median of the rounds' CPU ratios goes in memory_cpu_ratio."""
    cpu, paired = [], []

    def setup_round():
        if paired_setup is not None:
            args, _ = paired_setup()
            start = time.process_time()
            run(*args)
            paired.append(time.process_time() - start)
        return setup()

    def measured(*args):
        start = time.process_time()
        run(*args)
        cpu.append(time.process_time() - start)
    benchmark.pedantic(measured, setup=setup_round, rounds=rounds, iterations=1)
    benchmark.extra_info["cpu_s"] = statistics.median(cpu)
    if paired:
        benchmark.extra_info["memory_cpu_ratio"] = round(statistics.median([m / c for m, c in zip(paired, cpu)]), 2)


def _info(benchmark, group, durability, n, api):
    benchmark.group = group
    record_info(benchmark, records=n, bytes_=n * RECORD_BYTES, kind="baseline" if durability == "memory" else "engine",
                shards=SHARDS, api=f"{api}, durability={durability}")


@pytest.mark.parametrize("durability", MODES)
def test_durability_put_batch(benchmark, make_engine, batches, durability):
    def setup(mode=durability):
        return (new_stream(make_engine, mode).backend("kinesis").get_stream("bench"),), {}

    def run(stream):
        for data, keys in batches:
            stream.put_batch(data, keys)

    _info(benchmark, "durability put_batch", durability, len(batches) * BATCH, "put_batch x500")
    timed_rounds(benchmark, run, setup, paired_setup=None if durability == "memory" else lambda: setup("memory"))


@pytest.mark.parametrize("durability", MODES)
def test_durability_put_records(benchmark, make_engine, batches, durability):
    requests = [[{"Data": d, "PartitionKey": k} for d, k in zip(data.to_pylist(), keys.to_pylist())]
                for data, keys in batches[:max(1, scaled(50_000) // BATCH)]]

    def setup(mode=durability):
        return (new_stream(make_engine, mode).client("kinesis"),), {}

    def run(kinesis):
        for request in requests:
            kinesis.put_records(StreamName="bench", Records=request)

    _info(benchmark, "durability put_records", durability, len(requests) * BATCH, "put_records x500")
    timed_rounds(benchmark, run, setup, paired_setup=None if durability == "memory" else lambda: setup("memory"))


@pytest.mark.parametrize("durability", MODES)
def test_durability_4_writers(benchmark, make_engine, batches, durability):
    shares = [batches[w::WRITERS] for w in range(WRITERS)]

    def setup():
        return (new_stream(make_engine, durability).backend("kinesis").get_stream("bench"),), {}

    def run(stream):
        def write(share):
            for data, keys in share:
                stream.put_batch(data, keys)
        threads = [threading.Thread(target=write, args=(share,)) for share in shares]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    _info(benchmark, "durability 4 writers", durability, len(batches) * BATCH, f"put_batch x500, {WRITERS} threads")
    timed_rounds(benchmark, run, setup)


FRAME_RECORDS = BATCH // SHARDS   # a put's records in each shard's frame


@pytest.mark.parametrize("files", ["growing", "pre-allocated"])
def test_durability_disk_waves(benchmark, files):
    puts = scaled(2_000, minimum=200) // WRITERS
    payload = os.urandom(FRAME_RECORDS * (RECORD_BYTES + 16))   # data and a partition key per record
    benchmark.group = "durability disk waves"
    records = puts * WRITERS * BATCH
    record_info(benchmark, records=records, bytes_=records * RECORD_BYTES, shards=SHARDS,
                kind="baseline" if files == "growing" else "engine",
                api=f"{WRITERS} threads x {SHARDS} segment logs, fsync, {files} files")
    made = []

    def setup():
        root = tempfile.mkdtemp(prefix="bench-waves-")
        logs = []
        ahead = 0 if files == "growing" else store.PREALLOCATE_BYTES
        for shard in range(SHARDS):
            os.makedirs(os.path.join(root, str(shard)))
            logs.append(_core.SegmentLog(os.path.join(root, str(shard)), segment_bytes=store.SEGMENT_BYTES,
                                         segment_ms=store.SEGMENT_MS, index_interval_bytes=store.INDEX_INTERVAL_BYTES,
                                         sync="fsync", preallocate_bytes=ahead))
        made.append((root, logs))
        return (logs,), {}

    waves = []

    def run(logs):
        seq, lock = [0], threading.Lock()

        def write():
            for _ in range(puts):
                with lock:   # frames reach each log in sequence order, as under a stream's persist lock
                    seq[0] += FRAME_RECORDS
                    tickets = [(log, log.write(seq[0], seq[0] + FRAME_RECORDS - 1, 0, payload)) for log in logs]
                _core.commit_many(tickets)
        before, start = _core.sync_waves(), time.perf_counter()
        threads = [threading.Thread(target=write) for _ in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        waves.append((_core.sync_waves() - before, time.perf_counter() - start))

    try:
        timed_rounds(benchmark, run, setup)
    finally:
        for root, logs in made:
            for log in logs:
                log.close()
            shutil.rmtree(root, ignore_errors=True)
    count, seconds = sorted(waves)[len(waves) // 2]
    benchmark.extra_info["records_per_wave"] = round(records / count)
    benchmark.extra_info["ms_per_wave"] = round(seconds / count * 1e3, 2)


@pytest.fixture(scope="module")
def recovery_input():
    n = scaled(RECOVERY_RECORDS, minimum=100_000)
    data, keys = fixed_width_binary(RECOVERY_BATCH, RECORD_BYTES, seed=13), random_keys(RECOVERY_BATCH, seed=14)
    return n, data, keys


@pytest.fixture(scope="module")
def recovery_dir(recovery_input):
    """A data dir holding the records in 500-record puts (flush mode), written once for the
    module (not timed)."""
    n, data, keys = recovery_input
    root = tempfile.mkdtemp(prefix="bench-recovery-")
    eng = engine.Engine(clock=engine.ManualClock(), data_dir=root, durability="flush")
    eng.client("kinesis").create_stream(StreamName="bench", ShardCount=SHARDS)
    stream = eng.backend("kinesis").get_stream("bench")
    for start in range(0, n, BATCH):
        offset = start % RECOVERY_BATCH
        count = min(BATCH, n - start, RECOVERY_BATCH - offset)
        stream.put_batch(data.slice(offset, count), keys.slice(offset, count))
    eng.close()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("how", ["memory ingest", "recovery"])
def test_durability_recovery(benchmark, make_engine, recovery_input, recovery_dir, how):
    n, data, keys = recovery_input
    benchmark.group = "durability recovery"
    record_info(benchmark, records=n, bytes_=n * RECORD_BYTES, kind="baseline" if how == "memory ingest" else "engine",
                shards=SHARDS, api="open a data dir until the stream answers" if how == "recovery"
                else f"put_batch x{RECOVERY_BATCH:,} into a memory engine")

    def setup():
        if how == "recovery":
            return (), {}
        return (new_stream(make_engine, "memory").backend("kinesis").get_stream("bench"),), {}

    def run(stream=None):
        if how == "recovery":
            eng = make_engine("flush", data_dir=recovery_dir)
            assert eng.backend("kinesis").get_stream("bench").shards
            eng.close()
            return
        for start in range(0, n, RECOVERY_BATCH):
            count = min(RECOVERY_BATCH, n - start)
            stream.put_batch(data.slice(0, count), keys.slice(0, count))

    timed_rounds(benchmark, run, setup, rounds=2)

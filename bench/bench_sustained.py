"""Sustained ingestion (issue 17): does the rate of the first calls hold as the data grows?

Group "sustained", a row per workload, each with its per-call rate against the records
ingested so far (extra_info["series"]: [records so far, records per wall second, records per
CPU second of the process]) for report.py's chart, the first calls' median rate and the lowest
call's ratio to it (wall and CPU: on a machine shared with other jobs the wall rate follows
their load, the CPU rate shows whether the work per record grows):
* Kinesis put_batch into a growing stream with default settings (24 h retention, no memory
  cap): 50M records, 1M per call, 4 shards, 100-byte records, random keys; resident bytes per
  record at the end, and beyond data and key (the overhead; the target is <= 40 B).
* Reads from the start of that stream against reads from the start of a 1M-record one; then
  resident memory as retention expires the older half of the stream, then all of it.
* boto3-shaped put_records (500-record requests) over 10M records, a point per million.
* Firehose with the Kinesis stream as source, delivering snappy Parquet, over 20M records
  (each put read by Firehose right away, as `engine ingest` does): rate per four calls (as many
  deliveries in each), peak RSS per call.
* SQS: native bulk sends into a backlog growing to 10M messages, then send -> receive ->
  delete rounds at that backlog.

ENGINE_SUSTAINED_SCALE (default ENGINE_BENCH_SCALE) scales every size: 0.02 is a quick run;
the full run (1.0) needs about 10 GB of memory.

    ENGINE_SUSTAINED_SCALE=0.02 python -m bench.report -k sustained
"""
import gc
import mmap
import os
import resource
import shutil
import statistics
import tempfile
import time

import numpy as np
import pyarrow.compute as pc
import pytest

import engine
from engine import _core
from bench.bench_firehose import _kinesis_delivery
from bench.conftest import RECORD_BYTES, SCALE, fixed_width_binary, random_keys, record_info

GROUP = "sustained"
SUSTAINED_SCALE = float(os.environ.get("ENGINE_SUSTAINED_SCALE", SCALE))
PUT_TOTAL = 50_000_000
PUT_CALL = 1_000_000
BOTO3_TOTAL = 10_000_000
BOTO3_REQUEST = 500                 # PutRecords' maximum
# requests per point of the series: a million records, as one put_batch call of the row above
# (at 50,000 records a point lasted ~50 ms, and the hold measured the 2 vCPUs' scheduling jitter)
BOTO3_WINDOW = PUT_CALL // BOTO3_REQUEST
FIREHOSE_TOTAL = 20_000_000
FIREHOSE_CALL_SECONDS = 1.0         # engine time between puts (a ManualClock: no interval flush)
# calls per point of the series: a call either waits for a delivery or not (4M records of 100 B
# fill three 128 MiB buffers), so single calls ran at 0.4-7M/s in turn however flat the stream
FIREHOSE_WINDOW_CALLS = 4
SQS_BACKLOG = 10_000_000
SQS_SEND_CALL = 100_000
SQS_ROUND = 10_000                  # messages per send -> receive -> delete round
SQS_ROUNDS = 50
SQS_BODY_BYTES = 100
READ_RECORDS = 1_000_000            # read from the start of each stream
GET_RECORDS_READ = 200_000          # of them through boto3-shaped get_records (shard 0)
SMALL_STREAM = 1_000_000
FIRST_CALLS = 3                     # "the first calls' median"
HOLD_RATIO = 0.8                    # every call's rate against that median (the target)
KEY_POOLS = 4                       # distinct random key arrays, cycled over the calls
TOUCH_PROBE_BYTES = 512 << 20       # memory made resident to measure what fresh memory costs


def sized(n: int, minimum: int) -> int:
    return max(minimum, int(n * SUSTAINED_SCALE))


def resident() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


def reset_peak() -> None:
    """Start VmHWM (peak RSS) over from the current RSS (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def peak() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_seconds() -> float:
    """User + system time of this process, every thread included (the prefault thread too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Per call: records so far, records per wall second and records per CPU second. On a
    machine shared with other jobs the wall rate follows their load; the CPU rate shows
    whether the work per record grows."""

    def __init__(self):
        self.series, self.done = [], 0
        self.start()

    def start(self):
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()

    def lap(self, n: int):
        wall, cpu = time.perf_counter(), cpu_seconds()
        self.done += n
        self.series.append((self.done, n / (wall - self.wall), n / max(cpu - self.cpu, 1e-6)))
        self.wall, self.cpu = wall, cpu


def memory_touch_rates(nbytes: int = TOUCH_PROBE_BYTES) -> dict:
    """GiB per CPU second of making memory resident (a write per page, huge pages advised):
    fresh memory, then as much again right after giving the first back. A growing stream
    needs every record's bytes fresh, so this rate (the kernel's zeroing, and on a VM whose
    balloon reports free pages to the host, the host's first touch too) bounds its ingestion."""
    out = {}
    for name in ("fresh", "recycled"):
        region = mmap.mmap(-1, nbytes)
        region.madvise(mmap.MADV_HUGEPAGE)
        pages = np.frombuffer(region, np.uint8)
        cpu = cpu_seconds()
        pages[::4096] = 1
        out[f"{name}_touch_gib_per_cpu_s"] = round(nbytes / 2**30 / max(cpu_seconds() - cpu, 1e-6), 2)
        del pages
        region.close()
    return out


def held(series: list) -> dict:
    """The first calls' median rate (wall and CPU), the lowest call against it, and the
    series rounded."""
    out = {"series": [[int(n), round(r), round(c)] for n, r, c in series], "load": load()}
    for name, column in (("", 1), ("cpu_", 2)):
        rates = [point[column] for point in series]
        first = statistics.median(rates[:FIRST_CALLS])
        out[f"{name}first_calls_median"] = round(first)
        out[f"{name}lowest_vs_first"] = round(min(rates) / first, 3)
    out["holds"] = out["lowest_vs_first"] >= HOLD_RATIO
    out["cpu_holds"] = out["cpu_lowest_vs_first"] >= HOLD_RATIO
    return out


def put_calls(stream, data, key_pools, total: int, call: int) -> list:
    meter = Meter()
    while meter.done < total:
        n = min(call, total - meter.done)
        keys = key_pools[(meter.done // call) % len(key_pools)]
        meter.start()
        stream.put_batch(data.slice(0, n), keys.slice(0, n))
        meter.lap(n)
    return meter.series


# --- Kinesis put_batch into a growing stream, then reads from its start ----------------------

@pytest.fixture(scope="module")
def put_input():
    call = min(PUT_CALL, sized(PUT_TOTAL, 100_000) // 10)
    data = fixed_width_binary(call, RECORD_BYTES, seed=11)
    return data, [random_keys(call, seed=20 + i) for i in range(KEY_POOLS)]


@pytest.fixture(scope="module")
def grown():
    """A 4-shard stream with default settings; the put benchmark fills it, the read one reads it."""
    state = {"eng": engine.Engine(), "filled": False}
    state["eng"].client("kinesis").create_stream(StreamName="grown", ShardCount=4)
    state["stream"] = state["eng"].backend("kinesis").get_stream("grown")
    yield state
    release(state)


def release(state: dict) -> None:
    """Close the engine and drop every reference to it, so its memory goes now."""
    if state:
        state["eng"].close()
        state.clear()
        gc.collect()


def test_put_batch_growing_stream(benchmark, grown, put_input):
    data, key_pools = put_input
    total, call = sized(PUT_TOTAL, 100_000), len(data)
    stream = grown["stream"]
    payload_per_record = RECORD_BYTES + statistics.mean(
        pc.mean(pc.binary_length(k)).as_py() for k in key_pools)
    gc.collect()    # engines of earlier workloads sit in reference cycles (and report.py disables gc)
    before = resident()
    out = {}

    def run():
        out["series"] = put_calls(stream, data, key_pools, total, call)

    benchmark.group = GROUP
    benchmark.pedantic(run, rounds=1, iterations=1)
    grown["filled"] = True
    _core.prefault_wait_idle()
    per_record = (resident() - before) / total
    record_info(benchmark, records=total, bytes_=total * RECORD_BYTES, kind="engine", shards=4,
                api=f"kinesis put_batch, growing stream ({call:,} per call)", **held(out["series"]),
                resident_bytes_per_record=round(per_record, 1),
                overhead_bytes_per_record=round(per_record - payload_per_record, 1), overhead_target=40,
                **memory_touch_rates())


def _read_from_start(stream, limit: int) -> float:
    """Records/s reading `limit` records from the start of every shard in turn (zero-copy)."""
    per_shard, got = limit // len(stream.shards), 0
    t0 = time.perf_counter()
    for index in range(len(stream.shards)):
        position, mine = 0, 0
        while mine < per_shard:
            batch = stream.read(index, position, per_shard - mine)
            if not batch.num_rows:
                break
            mine += batch.num_rows
            position = batch.column(2)[-1].as_py() + 1
        got += mine
    return got / (time.perf_counter() - t0)


def test_read_from_start_of_grown_stream(benchmark, grown, put_input):
    data, key_pools = put_input
    stream, total = grown["stream"], sized(PUT_TOTAL, 100_000)
    if not grown["filled"]:
        put_calls(stream, data, key_pools, total, len(data))
    limit = min(sized(READ_RECORDS, 100_000), total)
    small_eng = engine.Engine()
    small_eng.client("kinesis").create_stream(StreamName="small", ShardCount=4)
    small = small_eng.backend("kinesis").get_stream("small")
    put_calls(small, data, key_pools, max(limit, min(SMALL_STREAM, total)), len(data))
    small_rate = _read_from_start(small, limit)
    rates = []
    benchmark.group = GROUP
    benchmark.pedantic(lambda: rates.append(_read_from_start(stream, limit)), rounds=3, iterations=1)
    boto3_rates = [_get_records_from_start(eng, name, limit) for eng, name in ((small_eng, "small"),
                                                                               (grown["eng"], "grown"))]
    small_eng.close()
    expiry = retention_expiry_rss(stream)
    release(grown)      # the next workloads measure their memory without this stream's
    record_info(benchmark, records=limit, bytes_=limit * RECORD_BYTES, kind="engine", shards=4, direction="read",
                api=f"kinesis read from the start of a {total:,}-record stream",
                small_stream_records_per_s=round(small_rate), vs_small_stream=round(max(rates) / small_rate, 3),
                get_records_small_stream_records_per_s=round(boto3_rates[0]),
                get_records_records_per_s=round(boto3_rates[1]),
                get_records_vs_small_stream=round(boto3_rates[1] / boto3_rates[0], 3), load=load(), **expiry)


def retention_expiry_rss(stream) -> dict:
    """Resident memory (MiB) of the grown stream, after retention expires its older half (what
    is freed beyond a few spare chunks per shard goes back to the system), then all of it."""
    log = stream.shards[0].log
    middle = log.seq_at_or_after((log.stats()["first_seq"] + log.stats()["last_seq"]) // 2)
    middle_ms = log.read(middle, 1).column(3)[0].value
    gc.collect()
    out = {"rss_grown_mib": resident() >> 20}
    for name, now in (("half", middle_ms / 1000), ("all", stream.clock.now() + 1)):
        stream.apply_retention(now + stream.retention_seconds)
        out[f"rss_{name}_expired_mib"] = resident() >> 20
        out[f"chunk_mib_held_{name}_expired"] = sum(
            s.log.stats()["bytes_allocated"] + s.log.stats()["spare_bytes"] for s in stream.shards) >> 20
    return out


def _get_records_from_start(eng, name: str, limit: int) -> float:
    """Records/s of boto3-shaped get_records (10,000 per call) from TRIM_HORIZON of shard 0."""
    kinesis = eng.client("kinesis")
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got, wanted = 0, min(limit // 4, GET_RECORDS_READ)
    t0 = time.perf_counter()
    while got < wanted:
        out = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
        got += len(out["Records"])
        iterator = out["NextShardIterator"]
    return got / (time.perf_counter() - t0)


# --- boto3-shaped put_records ----------------------------------------------------------------

def test_put_records_growing_stream(benchmark):
    total = sized(BOTO3_TOTAL, 50_000)
    data = fixed_width_binary(BOTO3_REQUEST, RECORD_BYTES, seed=5).to_pylist()
    requests = [[{"Data": d, "PartitionKey": k} for d, k in zip(data, random_keys(BOTO3_REQUEST, seed=s).to_pylist())]
                for s in range(KEY_POOLS)]
    out = {}
    with engine.Engine() as eng:
        kinesis = eng.client("kinesis")
        kinesis.create_stream(StreamName="boto3", ShardCount=4)

        def run():
            calls, meter = total // BOTO3_REQUEST, Meter()
            for i in range(calls):
                kinesis.put_records(StreamName="boto3", Records=requests[i % KEY_POOLS])
                if (i + 1) % BOTO3_WINDOW == 0 or i + 1 == calls:
                    meter.lap((i + 1) * BOTO3_REQUEST - meter.done)
            out["series"] = meter.series

        benchmark.group = GROUP
        benchmark.pedantic(run, rounds=1, iterations=1)
    record_info(benchmark, records=total // BOTO3_REQUEST * BOTO3_REQUEST, bytes_=total * RECORD_BYTES, kind="engine",
                shards=4, api=f"kinesis put_records (boto3 shape, {BOTO3_REQUEST} per request)", **held(out["series"]))


# --- Firehose: Kinesis source to Parquet -------------------------------------------------------

def test_firehose_kinesis_to_parquet(benchmark, put_input):
    data, key_pools = put_input
    total = sized(FIREHOSE_TOTAL, 100_000)
    root = tempfile.mkdtemp(prefix="bench-sustained-s3-")
    out = {}
    try:
        with engine.Engine(s3_root=root, clock=engine.ManualClock()) as eng:
            stream, delivery = _kinesis_delivery(eng, "sustained")

            def run():
                peaks, put, window = [], 0, 0
                gc.collect()    # see test_put_batch_growing_stream
                reset_peak()
                out["start"] = resident()
                meter = Meter()
                while put < total:
                    n = min(len(data), total - put)
                    stream.put_batch(data.slice(0, n), key_pools[(put // len(data)) % KEY_POOLS].slice(0, n))
                    put_at = eng.clock.now()
                    while delivery.read_source():       # Firehose has it all before the next put
                        delivery.wait_for_room()
                    stream.apply_retention(put_at + stream.retention_seconds)   # what was read may go
                    eng.clock.advance(FIREHOSE_CALL_SECONDS)    # the next put arrives later
                    put, window = put + n, window + n
                    peaks.append(peak())
                    if len(peaks) % FIREHOSE_WINDOW_CALLS == 0 or put >= total:
                        meter.lap(window)
                        window = 0
                delivery.flush()
                out["series"], out["peaks"] = meter.series, peaks

            benchmark.group = GROUP
            benchmark.pedantic(run, rounds=1, iterations=1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    peaks = out["peaks"]
    record_info(benchmark, records=total, bytes_=total * RECORD_BYTES, kind="engine", shards=4,
                api="firehose kinesis source -> parquet (put + read per call)", **held(out["series"]),
                peak_rss_mib=round(max(peaks) / 2**20), peak_rss_first_calls_mib=round(peaks[FIRST_CALLS - 1] / 2**20),
                rss_at_start_mib=round(out["start"] / 2**20), peak_rss_series_mib=[round(p / 2**20) for p in peaks])


# --- SQS: a growing backlog, then round trips at it --------------------------------------------

@pytest.fixture(scope="module")
def backlog_queue():
    eng = engine.Engine()
    queue = eng.backend("sqs").create_queue("backlog")
    yield queue
    eng.close()


def test_sqs_send_into_growing_backlog(benchmark, backlog_queue):
    total = sized(SQS_BACKLOG, 100_000)
    call = min(SQS_SEND_CALL, total // 10)
    bodies = [f"{i:0{SQS_BODY_BYTES}d}" for i in range(call)]
    out = {}

    def run():
        meter = Meter()
        while meter.done < total:
            meter.start()
            backlog_queue.send_raw(bodies)
            meter.lap(call)
        out["series"] = meter.series

    benchmark.group = GROUP
    benchmark.pedantic(run, rounds=1, iterations=1)
    record_info(benchmark, records=total // call * call, bytes_=total * SQS_BODY_BYTES, kind="engine",
                api=f"sqs send_raw into a growing backlog ({call:,} per call)", **held(out["series"]))


def test_sqs_round_trips_at_backlog(benchmark, backlog_queue):
    if backlog_queue.approximate_number_of_messages < sized(SQS_BACKLOG, 100_000) // 2:
        pytest.skip("runs after test_sqs_send_into_growing_backlog (the backlog it builds)")
    backlog = backlog_queue.approximate_number_of_messages
    bodies = [f"{i:0{SQS_BODY_BYTES}d}" for i in range(SQS_ROUND)]
    out = {}

    def run():
        meter = Meter()
        for _ in range(SQS_ROUNDS):
            meter.start()
            backlog_queue.send_raw(bodies)
            got = backlog_queue.receive(SQS_ROUND)
            backlog_queue.delete_batch(got.handles)
            meter.lap(len(got.handles))
        out["series"] = meter.series

    benchmark.group = GROUP
    benchmark.pedantic(run, rounds=1, iterations=1)
    record_info(benchmark, records=SQS_ROUND * SQS_ROUNDS, bytes_=SQS_ROUND * SQS_ROUNDS * SQS_BODY_BYTES,
                kind="engine", api=f"sqs send -> receive -> delete ({SQS_ROUND:,} per round) at a {backlog:,} backlog",
                **held(out["series"]))

"""Kinesis Agent benchmark: single-line logs (~100-byte lines) tailed from a file into a 4-shard
stream, parse + send, in the same run as a pure-Python tailer (readline loop, 500-line batches,
the same native put) and the agent through the boto3-shaped client (PutRecords of 500).
The target on this machine is 1M lines/s for the native path."""
import itertools
import os

import pytest

from engine.agent import Agent, parse_config
from bench.conftest import record_info, scaled

SHARDS = 4
LINES = scaled(1_000_000, minimum=10_000)
CLIENT_LINES = scaled(100_000, minimum=5_000)
GROUP = f"agent single-line logs shards={SHARDS}"


def _log(path, n: int) -> int:
    with open(path, "w") as f:
        for i in range(n):
            f.write(f"2026-11-30T06:00:{i % 60:02d}Z INFO GET /api/v1/items/{i:09d} 200 {i % 997}ms host=web-{i % 8}\n")
    return os.path.getsize(path)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("agent")
    big, small = root / "big.log", root / "small.log"
    return root, (big, _log(big, LINES)), (small, _log(small, CLIENT_LINES))


def _stream(eng):
    eng.client("kinesis").create_stream(StreamName="logs", ShardCount=SHARDS)
    stream = eng.backend("kinesis").get_stream("logs")
    stream.memory_cap_bytes = 64 << 20      # steady state: old chunks are recycled
    return stream


_runs = itertools.count()


def _config(root, path):
    return parse_config({"checkpointFile": str(root / f"cp-{next(_runs)}.json"), "flows": [
        {"filePattern": str(path), "kinesisStream": "logs", "initialPosition": "START_OF_FILE"}]})


def _drain(agent):
    while agent.step():
        pass
    agent.close()
    return agent.totals().records


def test_agent_native(benchmark, eng, logs):
    root, (path, size), _ = logs
    _stream(eng)
    benchmark.group = GROUP
    record_info(benchmark, records=LINES, bytes_=size, kind="engine", shards=SHARDS, api="agent (native)")
    sent = benchmark.pedantic(_drain, setup=lambda: ((Agent.in_process(_config(root, path), eng),), {}), rounds=3)
    assert sent == LINES


def test_agent_client(benchmark, eng, logs):
    root, _, (path, size) = logs
    _stream(eng)
    client = eng.client("kinesis")
    benchmark.group = GROUP
    record_info(benchmark, records=CLIENT_LINES, bytes_=size, kind="engine", shards=SHARDS,
                api="agent (PutRecords)")
    sent = benchmark.pedantic(_drain, setup=lambda: ((Agent.with_clients(_config(root, path), kinesis=client),), {}),
                              rounds=3)
    assert sent == CLIENT_LINES


def test_python_tailer_baseline(benchmark, eng, logs):
    root, (path, size), _ = logs
    stream = _stream(eng)
    keys = [f"k{i}" for i in range(500)]
    benchmark.group = GROUP
    record_info(benchmark, records=LINES, bytes_=size, kind="baseline", shards=SHARDS, api="python readline loop")

    def run():
        sent, batch = 0, []
        with open(path, "rb") as f:
            for line in f:
                batch.append(line)
                if len(batch) == 500:
                    stream.put_batch(batch, keys)
                    sent += len(batch)
                    batch = []
        if batch:
            stream.put_batch(batch, keys[:len(batch)])
            sent += len(batch)
        return sent

    assert benchmark.pedantic(run, rounds=3) == LINES

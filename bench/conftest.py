"""Shared benchmark inputs. Sizes scale with ENGINE_BENCH_SCALE (1.0 = the report's default)."""
import os

import numpy as np
import pyarrow as pa
import pytest

import engine

SCALE = float(os.environ.get("ENGINE_BENCH_SCALE", "1.0"))
RECORD_BYTES = 100


def scaled(n: int, minimum: int = 1000) -> int:
    return max(minimum, int(n * SCALE))


def fixed_width_binary(n: int, width: int, seed: int = 0) -> pa.Array:
    """n random records of `width` bytes as one Arrow binary array (no Python objects)."""
    rng = np.random.default_rng(seed)
    payload = rng.integers(0, 256, n * width, dtype=np.uint8)
    offsets = (np.arange(n + 1, dtype=np.int32) * width)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(payload)])


def random_keys(n: int, seed: int = 1) -> pa.Array:
    rng = np.random.default_rng(seed)
    return pa.array(np.char.add("user-", rng.integers(0, 10**12, n).astype(str)))


@pytest.fixture(scope="session")
def put_batch_input():
    n = scaled(200_000)
    return fixed_width_binary(n, RECORD_BYTES), random_keys(n)


@pytest.fixture(scope="session")
def put_records_input():
    """500-record PutRecords requests, as boto3 users build them."""
    data = fixed_width_binary(500, RECORD_BYTES).to_pylist()
    keys = random_keys(500).to_pylist()
    return [{"Data": d, "PartitionKey": k} for d, k in zip(data, keys)]


@pytest.fixture
def eng():
    e = engine.Engine()
    yield e
    e.close()


def record_info(benchmark, *, records: int, bytes_: int, kind: str, shards: int | None = None, **extra):
    """What report.py needs to turn a timing into rates and ratios."""
    benchmark.extra_info.update({"records": records, "bytes": bytes_, "kind": kind, **extra})
    if shards is not None:
        benchmark.extra_info["shards"] = shards

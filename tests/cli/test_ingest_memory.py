"""ingest's memory is bounded: a file five times as large does not raise the process's peak RSS.

Each ingest runs in its own process, with blocks and Firehose buffers made small (what a 1 GB
file does with 16 MiB blocks and 128 MiB buffers, at a scale a test can afford), and reports its
own high-water mark (VmHWM: ru_maxrss would carry the forking process's peak across exec)."""
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from engine.cli.arrow_json import batch_to_json_lines
from engine.cli.demo import clickstream

EVENTS = 60_000                   # about 11 MiB of JSON lines; the larger file holds them TIMES times
TIMES = 5
GROWTH_MARGIN_MIB = 100           # the peak moves from run to run with the threads' timing (the
                                  # larger file's peak minus the smaller's: 5-51 MiB over twelve
                                  # pairs); keeping what Firehose read in the stream adds ~400 MiB

_CHILD = """
import json, sys
from engine import limits
from engine.cli import ingest
ingest.JSON_BLOCK_BYTES_PER_SHARD = ingest.JSON_BLOCK_BYTES_MIN = 64 * 1024
limits.FIREHOSE_BUFFER_SIZE_MAX_MB = limits.FIREHOSE_PARTITIONING_BUFFER_MIN_MB = 2
summary = ingest.run([sys.argv[1]], stream="ingest", shards=4, partition_key=None, to=sys.argv[2], fmt="parquet",
                     partition_by=["dt", "hour"], compression="snappy", quiet=True)
with open("/proc/self/status") as f:
    peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"peak_mib": peak_kib / 1024, "read": summary.records_read, "out": summary.records_out,
                  "objects": len(summary.objects)}))
"""


def _ingest_peak(path, out) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def json_lines_files(tmp_path_factory):
    table = clickstream(EVENTS)
    lines = pa.concat_arrays([batch_to_json_lines(b) for b in table.to_batches(50_000)])
    blob = pc.binary_join_element_wise(lines, "", "\n").cast(pa.binary())
    body = b"".join(blob.to_pylist())
    folder = tmp_path_factory.mktemp("memory")
    once, many = folder / "once.jsonl", folder / "many.jsonl"
    once.write_bytes(body)
    many.write_bytes(body * TIMES)
    return once, many


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmHWM from /proc")
def test_peak_rss_does_not_grow_with_the_input(json_lines_files, tmp_path):
    once, many = json_lines_files
    small = _ingest_peak(once, tmp_path / "once")
    large = _ingest_peak(many, tmp_path / "many")
    assert (small["read"], small["out"]) == (EVENTS, EVENTS)
    assert (large["read"], large["out"]) == (TIMES * EVENTS, TIMES * EVENTS)
    assert large["objects"] > small["objects"] > 5       # many buffers went through each run
    assert large["peak_mib"] - small["peak_mib"] < GROWTH_MARGIN_MIB, (small, large)

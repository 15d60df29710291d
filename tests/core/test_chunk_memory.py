"""Chunk memory: huge-page chunks, spares, memory given back, and the memory cap's limits."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from engine import _core

THP = "/sys/kernel/mm/transparent_hugepage/enabled"


def _vma_flags(address: int) -> list[str]:
    """VmFlags of this process's mapping that holds `address` (from /proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


def _fixed(n: int, width: int) -> pa.Array:
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(np.full(n * width, 7, np.uint8))])


@pytest.mark.skipif(not os.path.exists(THP), reason="no transparent huge pages on this system")
def test_large_chunks_are_advised_for_huge_pages_and_small_ones_are_not():
    shard, seqs = _core.Shard(), _core.SequenceSource(0)
    shard.append(seqs, 1, pa.array(["k"] * 10), _fixed(10, 10))
    # a small chunk comes from malloc, not a huge-page mapping (its VMA's flags are malloc's and
    # numpy's business: numpy advises huge pages for its own large arrays on the same heap)
    assert shard.stats()["bytes_allocated"] < 2 << 20
    big, seqs = _core.Shard(), _core.SequenceSource(0)
    big.append(seqs, 1, pa.array([f"k{i}" for i in range(40_000)]), _fixed(40_000, 100))   # ~5 MiB
    batch = big.read(0)
    assert big.stats()["bytes_allocated"] % (2 << 20) == 0      # whole huge pages
    assert "hg" in _vma_flags(batch.column("data").buffers()[2].address)
    assert batch.column("data")[39_999].as_py() == bytes([7]) * 100


def test_a_grown_shard_gets_a_spare_chunk_ready_before_it_needs_one():
    shard, seqs = _core.Shard(), _core.SequenceSource(0)
    n = 20_000
    data = pa.array([i.to_bytes(4, "little") * 50 for i in range(n)], pa.binary())
    keys = pa.array([f"key-{i}" for i in range(n)])
    appends = 6
    for t in range(appends):
        shard.append(seqs, t, keys, data)
    _core.prefault_wait_idle()
    stats = shard.stats()
    assert stats["spares"] == 1 and stats["spare_bytes"] >= 2 << 20
    while shard.stats()["chunks"] == stats["chunks"]:     # the next chunk is the spare
        shard.append(seqs, 9, keys, data)
        appends += 1
    position, got = 0, []
    while (batch := shard.read(position)) is not None:
        got += batch.column("data").to_pylist()
        position = batch.column("sequence_number")[-1].as_py() + 1
    assert got == data.to_pylist() * appends


def test_chunks_carved_for_changing_record_sizes_keep_every_record():
    shard, seqs = _core.Shard(min_chunk_records=4, max_chunk_records=64, min_chunk_bytes=64, max_chunk_bytes=4096), \
        _core.SequenceSource(0)
    expected = []
    for t, width in enumerate([1, 300, 5, 0, 1000, 2, 64]):       # averages shift from batch to batch
        data = [bytes([t]) * ((width + i) % (width + 3)) for i in range(25)]
        keys = [("k" * (1 + (i * width) % 40)) for i in range(25)]
        shard.append(seqs, t, keys, data)
        expected += list(zip(keys, data))
    got, position = [], 0
    while (batch := shard.read(position)) is not None:
        got += list(zip(batch.column("partition_key").to_pylist(), batch.column("data").to_pylist()))
        position = batch.column("sequence_number")[-1].as_py() + 1
    assert got == expected


def test_a_memory_cap_never_drops_the_newest_batch():
    """A batch larger than the cap spans several chunks; trimming by memory keeps all of them
    until the next batch, so the put that appended it can read it back."""
    shard, seqs = _core.Shard(min_chunk_records=4, max_chunk_records=16, min_chunk_bytes=64, max_chunk_bytes=512), \
        _core.SequenceSource(0)
    first = shard.append(seqs, 1, ["k"] * 60, [b"a" * 20] * 60)
    assert shard.stats()["chunks"] > 2
    shard.trim(0, 256)
    assert shard.stats()["first_seq"] == first[0]
    assert shard.stats()["records"] == 60
    second = shard.append(seqs, 2, ["k"] * 60, [b"b" * 20] * 60)
    shard.trim(0, 256)
    assert first[0] < shard.stats()["first_seq"] <= second[0]    # the older batch goes now (whole chunks)
    assert shard.read(second[0]).column("sequence_number")[0].as_py() == second[0]


def test_a_put_under_a_memory_cap_reads_back_its_own_records(eng):
    eng.client("kinesis").create_stream(StreamName="capped", ShardCount=2)
    stream = eng.backend("kinesis").get_stream("capped")
    stream.memory_cap_bytes = 64 << 10
    n = 20_000                                            # ~2.5 MiB, far over the cap
    data, keys = _fixed(n, 100), pa.array([f"user-{i}" for i in range(n)])
    for _ in range(2):
        put = stream.put_batch(data, keys)
        for index in range(2):
            mine = put.sequence_number[put.shard_index == index]
            table = stream.read_table(index, int(mine.min()))
            assert table.column("sequence_number").to_numpy().tolist() == mine.tolist()


# Prefixed to the scripts run in a subprocess below and in test_shard_spares.
CHUNK_RSS = textwrap.dedent('''
    def chunk_rss():   # resident bytes of huge-page-advised mappings: the engine's large chunks
        total = size = 0
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                if line.startswith("Rss:"):
                    size = int(line.split()[1]) * 1024
                elif line.startswith("VmFlags:") and "hg" in line.split():
                    total += size
        return total
''')


RETENTION_SCRIPT = CHUNK_RSS + textwrap.dedent("""
    import numpy as np, pyarrow as pa, engine
    from engine import _core

    def rss():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmRSS"))

    clock = engine.ManualClock(start=1_700_000_000.0)
    eng = engine.Engine(clock=clock)
    eng.client("kinesis").create_stream(StreamName="s", ShardCount=4)
    stream = eng.backend("kinesis").get_stream("s")
    n = 400_000
    offsets = np.arange(n + 1, dtype=np.int32) * 100
    data = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ones(n * 100, np.uint8))])
    keys = pa.array(np.char.add("user-", np.arange(n).astype(str)))
    before, chunks_before = rss(), chunk_rss()
    for _ in range(4):
        stream.put_batch(data, keys)
    _core.prefault_wait_idle()
    grown, chunks_grown = rss(), chunk_rss()
    clock.advance(stream.retention_seconds + 1)
    stream.apply_retention()
    print(before, grown, rss(), chunks_before, chunks_grown, chunk_rss())
""")


@pytest.mark.skipif(not os.path.exists(THP), reason="reads /proc/self/smaps; chunks are told apart by huge-page advice")
def test_memory_goes_back_to_the_system_when_retention_expires():
    out = subprocess.run([sys.executable, "-c", RETENTION_SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    before, grown, after, chunks_before, chunks_grown, chunks_after = map(int, out.stdout.split())
    assert chunks_grown - chunks_before > 150 << 20     # 1.6M records of ~110 bytes
    assert chunks_after - chunks_before < (chunks_grown - chunks_before) / 10    # unmapped, not kept
    if "asan" not in os.environ.get("LD_PRELOAD", ""):  # AddressSanitizer holds freed buffers in quarantine
        assert after - before < (grown - before) / 10


FORK_SCRIPT = textwrap.dedent("""
    import os, pyarrow as pa
    from engine import _core

    def grow():
        shard, seqs = _core.Shard(), _core.SequenceSource(0)
        data = pa.array([b"x" * 200] * 20_000, pa.binary())
        keys = pa.array(["k"] * 20_000)
        for t in range(6):
            shard.append(seqs, t, keys, data)
        _core.prefault_wait_idle()
        return shard.stats()["spares"]

    assert grow() == 1                 # the prefault thread runs in the parent
    pid = os.fork()
    if pid == 0:                       # the child has no such thread: the next request starts one
        os._exit(0 if grow() == 1 else 1)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status))
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_prefault_thread():
    out = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0"]

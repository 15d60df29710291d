"""Chunks trimmed while a reader pins them: back to the shard's spares on the last unpin (memory
already faulted in), freed when the shard is gone or released; spares kept within a bound, so
what retention frees beyond it goes back to the system. Run under ASan by .ci/sanitize."""
import gc
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from engine import _core
from tests.core.test_chunk_memory import CHUNK_RSS

THP = "/sys/kernel/mm/transparent_hugepage/enabled"


def _fixed(n: int, width: int, fill: int = 7) -> pa.Array:
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(np.full(n * width, fill, np.uint8))])


def _pinned_first_chunk():
    """A shard whose first chunk is trimmed while a read of it is held: (shard, batch, seqs,
    the chunk's bytes)."""
    shard, seqs = _core.Shard(min_chunk_records=1), _core.SequenceSource(0)   # 64 KiB, then doubling
    shard.append(seqs, 1, ["a"], _fixed(1, 60_000, fill=1))     # the first chunk holds this one record
    batch = shard.read(0)                                        # pins it
    first_chunk_bytes = shard.stats()["bytes_allocated"]
    shard.append(seqs, 2, ["b"] * 1000, _fixed(1000, 100, fill=2))   # in a second chunk
    assert shard.stats()["chunks"] == 2
    shard.trim(2)                                                # hides the first batch: its chunk goes
    assert shard.stats()["chunks"] == 1
    return shard, batch, seqs, first_chunk_bytes


def test_a_chunk_trimmed_while_pinned_becomes_a_spare_when_the_reader_lets_go():
    shard, batch, seqs, first_chunk_bytes = _pinned_first_chunk()
    assert shard.stats()["spares"] == 0
    assert batch.column("data").to_pylist() == [bytes([1]) * 60_000]      # still readable
    del batch
    gc.collect()
    stats = shard.stats()
    assert stats["spares"] == 1 and stats["spare_bytes"] == first_chunk_bytes
    # the writer's next chunk is that spare (a fresh one would be twice as large again)
    before = stats["bytes_allocated"]
    while shard.stats()["chunks"] == 1:
        shard.append(seqs, 3, ["c"] * 100, _fixed(100, 100, fill=3))
    after = shard.stats()
    assert after["spares"] == 0 and after["bytes_allocated"] == before + first_chunk_bytes
    assert shard.read(after["last_seq"]).column("data").to_pylist() == [bytes([3]) * 100]


def test_release_with_a_pin_outstanding_frees_the_chunk_when_the_pin_goes():
    shard, batch, seqs, _ = _pinned_first_chunk()
    newest = shard.read(shard.stats()["last_seq"])               # a pin on the chunk still in the list
    shard.release()
    assert (shard.stats()["bytes_allocated"], shard.stats()["spares"]) == (0, 0)
    assert batch.column("data")[0].as_py() == bytes([1]) * 60_000
    assert newest.column("data")[0].as_py() == bytes([2]) * 100
    del batch, newest                                            # a released shard keeps no spare
    gc.collect()
    assert shard.stats()["spares"] == 0
    shard.append(seqs, 4, ["d"], [b"x"])                         # appends may follow a release
    assert shard.read(0).column("data").to_pylist() == [b"x"]


@pytest.mark.parametrize("trimmed", [True, False], ids=["trimmed-chunk", "listed-chunk"])
def test_a_shard_destroyed_with_a_pin_outstanding_leaves_the_reader_its_chunk(trimmed):
    shard, batch, _, _ = _pinned_first_chunk()
    if not trimmed:
        batch = shard.read(shard.stats()["last_seq"])            # the chunk still in the shard's list
    expected = batch.column("data").to_pylist()
    del shard
    gc.collect()
    assert batch.column("data").to_pylist() == expected
    del batch
    gc.collect()


def test_spares_stay_within_the_bound_when_retention_frees_many_chunks():
    shard, seqs = _core.Shard(max_chunk_bytes=2 << 20), _core.SequenceSource(0)
    n = 20_000                                                   # ~2.5 MiB a batch: 2 chunks or more
    keys, data = ["k"] * n, _fixed(n, 100)
    for t in range(12):
        shard.append(seqs, t, keys, data)
    grown = shard.stats()
    assert grown["chunks"] > 2 * _core.SPARE_CHUNKS_MAX
    shard.trim(11)                                               # all but the newest batch expire
    stats = shard.stats()
    assert stats["records"] == n
    assert 0 < stats["spares"] <= _core.SPARE_CHUNKS_MAX
    assert stats["spare_bytes"] <= _core.SPARE_CHUNKS_MAX * (2 << 20)
    shard.trim(11)                                               # no batch since: an idle shard
    assert shard.stats()["spares"] == _core.SPARE_CHUNKS_MIN     # keeps fewer


def test_concurrent_reads_and_trims_keep_every_record_readable_until_unpinned():
    """Readers hold reads across trims that retire their chunks; the chunks they let go are
    reused by the writer, and nothing a reader holds changes under it."""
    import threading

    shard, seqs = _core.Shard(min_chunk_bytes=4096, max_chunk_bytes=1 << 16), _core.SequenceSource(0)
    stop, failures = threading.Event(), []

    def reader():
        while not stop.is_set():
            first = shard.stats()["first_seq"]
            batch = shard.read(max(first, 0))
            if batch is None:
                continue
            values = batch.column("data").to_pylist()
            seq = batch.column("sequence_number").to_pylist()
            if any(v != (s % 251).to_bytes(1, "little") * 50 for v, s in zip(values, seq)):
                failures.append(seq[0])

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for t in range(300):
            start = seqs.next_value
            data = [((start + i) % 251).to_bytes(1, "little") * 50 for i in range(200)]
            shard.append(seqs, t, ["k"] * 200, data)
            shard.trim(t - 2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures
    assert shard.stats()["spares"] <= _core.SPARE_CHUNKS_MAX


PARTIAL_RETENTION_SCRIPT = CHUNK_RSS + textwrap.dedent("""
    import numpy as np, pyarrow as pa
    from engine import _core

    n = 200_000
    offsets = np.arange(n + 1, dtype=np.int32) * 100
    data = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ones(n * 100, np.uint8))])
    keys = pa.array(np.char.add("user-", np.arange(n).astype(str)))
    shards, seqs = [_core.Shard() for _ in range(2)], _core.SequenceSource(0)
    before = chunk_rss()
    for t in range(10):
        for shard in shards:
            shard.append(seqs, t, keys, data)
    _core.prefault_wait_idle()
    grown = chunk_rss()
    for shard in shards:
        shard.trim(9)          # nine batches of ten expire
    held = sum(s.stats()["bytes_allocated"] + s.stats()["spare_bytes"] for s in shards)
    spares = max(s.stats()["spare_bytes"] for s in shards)
    print(before, grown, chunk_rss(), held, spares)
""")


@pytest.mark.skipif(not os.path.exists(THP), reason="reads /proc/self/smaps; chunks are told apart by huge-page advice")
def test_memory_beyond_the_spares_goes_back_to_the_system_when_part_of_a_stream_expires():
    out = subprocess.run([sys.executable, "-c", PARTIAL_RETENTION_SCRIPT], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    before, grown, after, held, spares = map(int, out.stdout.split())
    assert grown - before > 400 << 20                           # 4M records of ~110 bytes
    assert spares <= _core.SPARE_CHUNKS_MAX * (16 << 20)        # a few chunks of the largest size
    assert after - before <= held                               # the rest is unmapped, not kept
    assert after - before < (grown - before) / 2


def test_a_stream_under_a_memory_cap_maps_no_fresh_chunk_once_warm():
    """Each batch takes its chunks from the spares that the trim after the previous one gave
    back: the kernel zeroes no fresh memory in the steady state."""
    shard, seqs = _core.Shard(max_chunk_bytes=2 << 20), _core.SequenceSource(0)
    n = 40_000                                                   # ~5 MiB a batch: 2-4 chunks
    keys, data = [f"k{i}" for i in range(n)], _fixed(n, 100)
    mapped = []
    for t in range(16):
        shard.append(seqs, t, keys, data)
        shard.trim(0, 4 << 20)                                   # a 4 MiB cap: older chunks go
        _core.prefault_wait_idle()
        mapped.append(shard.stats()["chunks_mapped"])
    assert mapped[5] > 2
    assert mapped[-1] == mapped[5]


DRAINED_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np, pyarrow as pa
    from engine import _core

    n = 20_000                                                   # ~3 MiB a put: chunks reach 2 MiB
    offsets = np.arange(n + 1, dtype=np.int32) * 150
    data = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                 pa.py_buffer(np.full(n * 150, 7, np.uint8))])
    keys = ["k"] * n
    shard, seqs = _core.Shard(), _core.SequenceSource(0)
    shard.append(seqs, 0, keys, data)
    _core.prefault_wait_idle()
    out = {"growing": shard.stats()["spares"], "drained": []}
    for t in range(1, 6):
        shard.trim(t)                                            # everything read: the shard empties
        emptied = shard.stats()
        mapped = emptied["chunks_mapped"]
        shard.append(seqs, t, keys, data)
        _core.prefault_wait_idle()
        stats = shard.stats()
        out["drained"].append([emptied["bytes_allocated"], emptied["spares"], stats["spares"],
                               stats["chunks_mapped"] - mapped, stats["chunks"]])
    while shard.stats()["bytes_allocated"] < 24 << 20:           # it grows again
        shard.append(seqs, 9, keys, data)
    _core.prefault_wait_idle()
    out["regrown"] = shard.stats()["spares"]
    print(json.dumps(out))
""")


def test_a_shard_drained_between_puts_asks_for_no_prefaulted_chunk_until_it_grows_again():
    """`engine ingest` lets the stream go after each put (Firehose has read it): a chunk
    prefaulted for such a shard would be freed unused by the next trim, its zeroing wasted.
    Once the shard holds EN_PREFAULT_REGROW_BYTES again, it is growing: prefaults resume. (In a
    fresh process: the prefault thread is one per process, and this counts what it made.)"""
    out = subprocess.run([sys.executable, "-c", DRAINED_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["growing"] == 1                                # a growing shard gets its spare
    for emptied_bytes, emptied_spares, spares, mapped, chunks in result["drained"]:
        assert (emptied_bytes, emptied_spares) == (0, 0)
        assert spares == 0                                       # none made for a drained shard
        assert mapped == chunks                                  # only the writer's own chunks
    assert result["regrown"] >= 1

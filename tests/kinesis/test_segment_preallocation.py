"""Pre-allocated segments (csrc/segment.h): the active file is zero-filled ahead of its frames,
in fsync mode (so fdatasyncs need no journal commit) and in flush mode (where frames up to
SEG_MAP_FRAME_MAX are copied into a mapping of the file, inside the zeros). The zero tail is not
data: recovery ends the frames there without reporting a cut, while a torn frame or garbage
inside it is still cut and reported, a sealed segment ends with its last frame, a simulated
power loss keeps every committed frame (fsync), and a kill -9 keeps every frame written
(flush)."""
import os
import random

import pytest

from engine import _core
from tests.killing import run_until_killed

PREALLOCATE = 64 << 10


def open_log(path, segment_bytes=1 << 20, preallocate=PREALLOCATE, sync="fsync"):
    return _core.SegmentLog(path, segment_bytes=segment_bytes, segment_ms=10**12, index_interval_bytes=256,
                            sync=sync, preallocate_bytes=preallocate)


def fill(log, frames, seq=0):
    out = []
    for i in range(frames):
        data = os.urandom(50 + i % 300)
        log.append(seq, seq + 1, 1_000 + i, data)
        out.append((seq, seq + 1, 1_000 + i, data))
        seq += 2
    return out


def read_all(log):
    return [(f.first_seq, f.last_seq, f.ts_ms, f.payload.to_pybytes()) for f in log.frames()]


def active(log):
    info = log.segments()[-1]
    assert not info.sealed
    return log.segment_path(info.base_seq), info.size


MODES = ["flush", "fsync"]


@pytest.mark.parametrize("sync", MODES)
def test_the_active_file_is_zero_filled_ahead_and_a_reopen_reports_no_cut(tmp_path, sync):
    log = open_log(tmp_path, sync=sync)
    written = fill(log, 40)
    path, size = active(log)
    on_disk = open(path, "rb").read()
    assert len(on_disk) >= size + PREALLOCATE // 2
    assert on_disk[size:] == bytes(len(on_disk) - size)
    log.close()

    log = open_log(tmp_path, sync=sync)
    assert log.recovery.cut_bytes == 0 and log.recovery.cut_offset == -1
    assert log.recovery.kept_bytes == size
    assert read_all(log) == written
    more = fill(log, 5, seq=1_000)   # appends go on after the last frame, inside the zeros
    log.close()
    assert read_all(open_log(tmp_path, sync=sync)) == written + more


def test_flush_mode_maps_small_frames_and_writes_large_ones_in_one_file(tmp_path):
    """Frames on either side of SEG_MAP_FRAME_MAX, interleaved: the file holds them in order,
    as read through the file (the page cache) while the log is open, and after a reopen."""
    log = open_log(tmp_path, segment_bytes=32 << 20, preallocate=256 << 10, sync="flush")   # (one segment)
    rng = random.Random(7)
    sizes = [rng.choice([100, 4_000, _core.SEG_MAP_FRAME_MAX - 40, _core.SEG_MAP_FRAME_MAX + 1, 300_000])
             for _ in range(60)]
    written = []
    for i, size in enumerate(sizes):
        data = rng.randbytes(size)
        log.append(2 * i, 2 * i + 1, 1_000 + i, data)
        written.append((2 * i, 2 * i + 1, 1_000 + i, data))
    path, size = active(log)
    with open(path, "rb") as f:
        on_disk = f.read()
    offset = 0
    for first, _, _, data in written:   # each frame's payload where the log says it is
        length = int.from_bytes(on_disk[offset + 8:offset + 12], "little")
        assert (length, int.from_bytes(on_disk[offset + 16:offset + 24], "little")) == (len(data), first)
        assert on_disk[offset + 40:offset + 40 + length] == data
        offset += 40 + (length + 7) // 8 * 8
    assert offset == size and on_disk[size:] == bytes(len(on_disk) - size)
    log.close()
    assert read_all(open_log(tmp_path, segment_bytes=32 << 20, sync="flush")) == written


FLUSH_WRITER = """
import os, sys
from engine import _core
log = _core.SegmentLog(sys.argv[1], segment_bytes=256 << 10, segment_ms=10**12, index_interval_bytes=256,
                       sync="flush", preallocate_bytes=64 << 10)
out = os.fdopen(int(sys.argv[3]), "w", buffering=1)
seq = int(sys.argv[2])
out.write("ready\\n")
while True:
    size = 20 + seq * 7919 % 3000
    log.append(seq, seq, seq, seq.to_bytes(8, "little") * (size // 8))
    out.write(f"{seq}\\n")
    seq += 1
"""


def test_a_kill_9_keeps_every_frame_written_through_the_mapping(tmp_path):
    """Flush mode acknowledges a small frame once it is copied into the mapping: a SIGKILL at a
    random moment (mid-copy included) loses none acknowledged, across rolls and restarts."""
    rng = random.Random(13)
    acked, seq = [], 0
    for _ in range(4):
        acked += [int(line) for line in run_until_killed(FLUSH_WRITER, [tmp_path, seq], rng, (0.05, 0.4))]
        log = open_log(tmp_path, segment_bytes=256 << 10, preallocate=64 << 10, sync="flush")
        frames = [(f.first_seq, f.payload.to_pybytes()) for f in log.frames()]
        log.close()
        seqs = [s for s, _ in frames]
        assert set(acked) <= set(seqs) and seqs == sorted(set(seqs))
        for s, payload in frames:
            assert payload == s.to_bytes(8, "little") * ((20 + s * 7919 % 3000) // 8)
        seq = seqs[-1] + 1
    assert len(acked) > 1_000


@pytest.mark.parametrize("sync", MODES)
def test_a_zero_tail_is_the_end_of_the_frames_in_either_mode(tmp_path, sync):
    log = open_log(tmp_path, sync="flush", preallocate=0)   # no pre-allocation: every frame a write(2)
    written = fill(log, 10)
    path, size = active(log)
    assert os.path.getsize(path) == size
    log.close()
    with open(path, "ab") as f:
        f.write(bytes(10_000))
    log = open_log(tmp_path, sync=sync)
    assert (log.recovery.cut_bytes, log.recovery.kept_bytes) == (0, size)
    assert read_all(log) == written


@pytest.mark.parametrize("sync", MODES)
def test_a_torn_frame_inside_the_zero_tail_is_cut_and_reported(tmp_path, sync):
    log = open_log(tmp_path, sync=sync)
    written = fill(log, 20)
    path, size = active(log)
    last_start = size - (40 + (len(written[-1][3]) + 7) // 8 * 8)
    log.close()
    with open(path, "r+b") as f:   # the last frame's payload never reached the disk
        f.seek(last_start + 40)
        f.write(bytes(size - last_start - 40))
    log = open_log(tmp_path, sync=sync)
    assert log.recovery.cut_offset == last_start
    assert log.recovery.cut_bytes > 0
    assert read_all(log) == written[:-1]


@pytest.mark.parametrize("sync", MODES)
def test_garbage_after_zeros_is_cut_and_reported(tmp_path, sync):
    log = open_log(tmp_path, sync=sync)
    written = fill(log, 8)
    path, size = active(log)
    log.close()
    with open(path, "r+b") as f:
        f.seek(size + 1_000)
        f.write(b"\x01garbage")
    log = open_log(tmp_path, sync=sync)
    assert log.recovery.cut_offset == size
    assert read_all(log) == written


@pytest.mark.parametrize("sync", MODES)
def test_a_sealed_segment_ends_with_its_last_frame(tmp_path, sync):
    log = open_log(tmp_path, segment_bytes=8_000, sync=sync)
    written = fill(log, 300)
    sealed = [i for i in log.segments() if i.sealed]
    assert len(sealed) >= 3
    for info in sealed:
        assert os.path.getsize(log.segment_path(info.base_seq)) == info.size
    log.close()
    assert read_all(open_log(tmp_path, segment_bytes=8_000, sync=sync)) == written


@pytest.mark.parametrize("sync", MODES)
def test_a_sealed_segment_with_a_zero_tail_and_no_index_is_not_corrupt(tmp_path, sync):
    """A crash after the seal's truncate was lost but the next segment exists: the scan that
    rebuilds the index ends at the zeros."""
    log = open_log(tmp_path, segment_bytes=8_000, sync=sync)
    written = fill(log, 200)
    first = log.segments()[0]
    assert first.sealed
    path = log.segment_path(first.base_seq)
    log.close()
    os.remove(path[:-len(".log")] + ".index")
    with open(path, "ab") as f:
        f.write(bytes(PREALLOCATE))
    log = open_log(tmp_path, segment_bytes=8_000, sync=sync)
    assert read_all(log) == written


def test_a_power_loss_cut_at_the_synced_length_keeps_every_commit(tmp_path):
    log = open_log(tmp_path, segment_bytes=16_000)
    written = fill(log, 200)
    cuts = {log.segment_path(i.base_seq): i.synced for i in log.segments()}
    assert all(synced >= 0 for synced in cuts.values())
    log.close()
    for path, synced in cuts.items():
        os.truncate(path, synced)
    assert read_all(open_log(tmp_path, segment_bytes=16_000)) == written


def test_a_negative_preallocation_is_refused(tmp_path):
    with pytest.raises(_core.CoreValueError):
        open_log(tmp_path, preallocate=-1)

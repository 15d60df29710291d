"""Pre-allocated segments (fsync mode, csrc/segment.h): the active file is zero-filled ahead of
its frames. The zero tail is not data: recovery ends the frames there without reporting a cut,
while a torn frame or garbage inside it is still cut and reported, a sealed segment ends with
its last frame, and a simulated power loss keeps every committed frame."""
import os

import pytest

from engine import _core

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


def test_the_active_file_is_zero_filled_ahead_and_a_reopen_reports_no_cut(tmp_path):
    log = open_log(tmp_path)
    written = fill(log, 40)
    path, size = active(log)
    on_disk = open(path, "rb").read()
    assert len(on_disk) >= size + PREALLOCATE // 2
    assert on_disk[size:] == bytes(len(on_disk) - size)
    log.close()

    log = open_log(tmp_path)
    assert log.recovery.cut_bytes == 0 and log.recovery.cut_offset == -1
    assert log.recovery.kept_bytes == size
    assert read_all(log) == written
    more = fill(log, 5, seq=1_000)   # appends go on after the last frame, inside the zeros
    log.close()
    assert read_all(open_log(tmp_path)) == written + more


@pytest.mark.parametrize("sync", ["flush", "fsync"])
def test_a_zero_tail_is_the_end_of_the_frames_in_either_mode(tmp_path, sync):
    log = open_log(tmp_path, sync="flush", preallocate=0)   # flush mode never pre-allocates
    written = fill(log, 10)
    path, size = active(log)
    assert os.path.getsize(path) == size
    log.close()
    with open(path, "ab") as f:
        f.write(bytes(10_000))
    log = open_log(tmp_path, sync=sync)
    assert (log.recovery.cut_bytes, log.recovery.kept_bytes) == (0, size)
    assert read_all(log) == written


def test_a_torn_frame_inside_the_zero_tail_is_cut_and_reported(tmp_path):
    log = open_log(tmp_path)
    written = fill(log, 20)
    path, size = active(log)
    last_start = size - (40 + (len(written[-1][3]) + 7) // 8 * 8)
    log.close()
    with open(path, "r+b") as f:   # the last frame's payload never reached the disk
        f.seek(last_start + 40)
        f.write(bytes(size - last_start - 40))
    log = open_log(tmp_path)
    assert log.recovery.cut_offset == last_start
    assert log.recovery.cut_bytes > 0
    assert read_all(log) == written[:-1]


def test_garbage_after_zeros_is_cut_and_reported(tmp_path):
    log = open_log(tmp_path)
    written = fill(log, 8)
    path, size = active(log)
    log.close()
    with open(path, "r+b") as f:
        f.seek(size + 1_000)
        f.write(b"\x01garbage")
    log = open_log(tmp_path)
    assert log.recovery.cut_offset == size
    assert read_all(log) == written


def test_a_sealed_segment_ends_with_its_last_frame(tmp_path):
    log = open_log(tmp_path, segment_bytes=8_000)
    written = fill(log, 300)
    sealed = [i for i in log.segments() if i.sealed]
    assert len(sealed) >= 3
    for info in sealed:
        assert os.path.getsize(log.segment_path(info.base_seq)) == info.size
    log.close()
    assert read_all(open_log(tmp_path, segment_bytes=8_000)) == written


def test_a_sealed_segment_with_a_zero_tail_and_no_index_is_not_corrupt(tmp_path):
    """A crash after the seal's truncate was lost but the next segment exists: the scan that
    rebuilds the index ends at the zeros."""
    log = open_log(tmp_path, segment_bytes=8_000)
    written = fill(log, 200)
    first = log.segments()[0]
    assert first.sealed
    path = log.segment_path(first.base_seq)
    log.close()
    os.remove(path[:-len(".log")] + ".index")
    with open(path, "ab") as f:
        f.write(bytes(PREALLOCATE))
    log = open_log(tmp_path, segment_bytes=8_000)
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

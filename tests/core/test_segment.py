"""The on-disk segment log of the native core (csrc/segment.c): frames, rolls, indexes,
retention, recovery of a torn or garbage tail, corruption in sealed segments, group commit."""
import os
import random
import threading

import pyarrow as pa
import pytest

from engine import _core

SCHEMA = pa.schema([("data", pa.binary()), ("seq", pa.int64())])
HEADER = 40   # bytes of a frame header (csrc/segment.h)


def crc32c_reference(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def ipc_batch(first_seq, n, size=20):
    batch = pa.record_batch([pa.array([os.urandom(size) for _ in range(n)], pa.binary()),
                             pa.array(range(first_seq, first_seq + n), pa.int64())], schema=SCHEMA)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, SCHEMA) as w:
        w.write_batch(batch)
    return batch, sink.getvalue()


def open_log(path, segment_bytes=4096, segment_ms=10**12, interval=256, sync="flush"):
    return _core.SegmentLog(path, segment_bytes=segment_bytes, segment_ms=segment_ms,
                            index_interval_bytes=interval, sync=sync)


def fill(log, frames, seq=0, ts=1_000, gap=3, payload=lambda i: os.urandom(i % 97)):
    """Append `frames` frames of 1-3 sequence numbers with gaps; returns [(first, last, ts, bytes)]."""
    out = []
    for i in range(frames):
        first, last = seq, seq + i % 3
        data = payload(i)
        log.append(first, last, ts + i // 2, data)
        out.append((first, last, ts + i // 2, bytes(data)))
        seq = last + gap
    return out


def read_all(log, **start):
    return [(f.first_seq, f.last_seq, f.ts_ms, f.payload.to_pybytes()) for f in log.frames(**start)]


def active_path(log):
    info = log.segments()[-1]
    assert not info.sealed
    return log.segment_path(info.base_seq)


def test_crc32c_matches_the_castagnoli_reference():
    assert _core.crc32c(b"123456789") == 0xE3069283
    rng = random.Random(1)
    for n in (0, 1, 7, 8, 9, 63, 64, 1000):
        data = rng.randbytes(n)
        assert _core.crc32c(data) == crc32c_reference(data)
        assert _core.crc32c(data[n // 2:], _core.crc32c(data[:n // 2])) == crc32c_reference(data)


def test_each_frame_keeps_its_flags_across_a_reopen_and_a_roll(tmp_path):
    log = open_log(tmp_path, segment_bytes=256)
    for i in range(20):
        log.append(i, i, 1_000, b"x" * 50, flags=0x80000001 if i % 3 == 0 else 0)
    log.close()
    log = open_log(tmp_path, segment_bytes=256)
    assert len(log.segments()) > 2
    assert [f.flags for f in log.frames()] == [0x80000001 if i % 3 == 0 else 0 for i in range(20)]


def test_arrow_batches_round_trip_through_a_mapping_without_a_copy(tmp_path):
    log = open_log(tmp_path)
    written = []
    for k in range(5):
        batch, payload = ipc_batch(k * 10, 10)
        log.append(k * 10, k * 10 + 9, 1_000 + k, payload)
        written.append(batch)
    log.close()
    log = open_log(tmp_path)
    frames = list(log.frames())
    assert [(f.first_seq, f.last_seq, f.ts_ms) for f in frames] == [(k * 10, k * 10 + 9, 1_000 + k) for k in range(5)]
    for f, batch in zip(frames, written):
        assert f.payload.address % 8 == 0   # frames keep payloads 8-byte aligned
        got = pa.ipc.open_stream(f.payload).read_next_batch()
        assert got.equals(batch)
        data = got.column(0).buffers()[2]
        assert f.payload.address <= data.address < f.payload.address + f.payload.size   # in place


def test_segments_roll_by_size_and_seal_with_an_index(tmp_path):
    log = open_log(tmp_path, segment_bytes=1_000)
    written = fill(log, 60)
    infos = log.segments()
    assert len(infos) > 3
    assert all(i.sealed for i in infos[:-1]) and not infos[-1].sealed
    assert all(i.size <= 1_000 for i in infos)
    for info in infos[:-1]:
        assert os.path.exists(os.path.join(tmp_path, f"{info.base_seq:020d}.index"))
    assert [i.base_seq for i in infos] == sorted(i.base_seq for i in infos)
    assert read_all(log) == written
    log.close()
    log = open_log(tmp_path, segment_bytes=1_000)
    assert log.segments() == infos
    assert read_all(log) == written


def test_segments_roll_by_age(tmp_path):
    log = open_log(tmp_path, segment_bytes=1 << 30, segment_ms=10)
    for i in range(30):
        log.append(i, i, 1_000 + i, b"x")
    infos = log.segments()
    assert [i.first_ts for i in infos] == [1_000, 1_010, 1_020]
    assert all(i.max_ts - i.first_ts < 10 for i in infos)


def test_a_frame_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path):
    log = open_log(tmp_path, segment_bytes=100)
    log.append(0, 0, 1, b"a")
    log.append(1, 1, 1, b"b" * 500)
    log.append(2, 2, 1, b"c")
    assert [i.frames for i in log.segments()] == [1, 1, 1]
    assert [f.payload.to_pybytes() for f in log.frames()] == [b"a", b"b" * 500, b"c"]


def test_sequence_numbers_must_grow(tmp_path):
    log = open_log(tmp_path)
    log.append(5, 9, 1, b"x")
    for first, last in ((9, 10), (3, 4), (12, 11), (-1, 0)):
        with pytest.raises(_core.CoreValueError):
            log.append(first, last, 1, b"x")
    log.append(10, 10, 1, b"y")
    assert [f.first_seq for f in log.frames()] == [5, 10]


@pytest.mark.parametrize("reopen", [False, True])
def test_index_lookups_agree_with_a_scan(tmp_path, reopen):
    log = open_log(tmp_path, segment_bytes=2_000, interval=200)
    written = fill(log, 300)
    if reopen:
        log.close()
        log = open_log(tmp_path, segment_bytes=2_000, interval=200)
    assert any(i.index_entries > 1 for i in log.segments())   # sparse, but more than one entry
    for seq in range(-1, written[-1][1] + 3):
        expect = next((w for w in written if w[1] >= seq), None)
        got = next(iter(log.frames(start_seq=seq)), None)
        assert (got and (got.first_seq, got.last_seq)) == (expect and expect[:2]), seq
    for ts in range(written[0][2] - 1, written[-1][2] + 2):
        expect = next((w for w in written if w[2] >= ts), None)
        got = next(iter(log.frames(start_ts=ts)), None)
        assert (got and (got.first_seq, got.ts_ms)) == (expect and (expect[0], expect[2])), ts
    start = written[100][0]
    assert read_all(log, start_seq=start) == written[100:]


def test_retention_deletes_whole_segments_only(tmp_path):
    log = open_log(tmp_path, segment_bytes=1_000)
    written = fill(log, 80)
    infos = log.segments()
    cutoff = infos[2].max_ts + 1   # segments 0..2 hold only older frames
    assert log.retain(min_ts=cutoff) == 3
    assert log.segments() == infos[3:]
    for info in infos[:3]:
        assert not os.path.exists(log.segment_path(info.base_seq))
        assert not os.path.exists(os.path.join(tmp_path, f"{info.base_seq:020d}.index"))
    kept = [w for w in written if w[0] >= infos[3].base_seq]
    assert read_all(log) == kept
    assert log.retain(min_seq=infos[4].base_seq) == 1
    assert read_all(log)[0][0] == infos[4].base_seq
    log.close()
    log = open_log(tmp_path, segment_bytes=1_000)
    assert log.segments()[0].base_seq == infos[4].base_seq


def test_retention_of_everything_deletes_the_active_segment_and_appends_go_on(tmp_path):
    log = open_log(tmp_path, segment_bytes=1_000)
    written = fill(log, 30)
    n = len(log.segments())
    assert log.retain(min_ts=10**9) == n
    assert log.segments() == [] and os.listdir(tmp_path) == []
    with pytest.raises(_core.CoreValueError):   # the sequence still only grows
        log.append(written[-1][1], written[-1][1], 10**9, b"x")
    log.append(written[-1][1] + 1, written[-1][1] + 1, 10**9, b"new")
    log.close()
    log = open_log(tmp_path, segment_bytes=1_000)
    assert read_all(log) == [(written[-1][1] + 1, written[-1][1] + 1, 10**9, b"new")]


def frame_ends(written):
    ends, pos = [], 0
    for w in written:
        pos += HEADER + (len(w[3]) + 7) // 8 * 8
        ends.append(pos)
    return ends


def test_a_torn_tail_at_random_offsets_keeps_every_whole_frame(tmp_path):
    rng = random.Random(13)
    for trial in range(40):
        d = tmp_path / str(trial)
        d.mkdir()
        log = open_log(d, segment_bytes=1 << 20)
        written = fill(log, rng.randint(1, 20))
        path = active_path(log)
        size = os.path.getsize(path)
        log.close()
        cut = rng.randrange(0, size)
        os.truncate(path, cut)
        log = open_log(d, segment_bytes=1 << 20)
        ends = frame_ends(written)
        whole = sum(1 for e in ends if e <= cut)
        kept_bytes = ends[whole - 1] if whole else 0
        rec = log.recovery
        assert (rec.frames, rec.kept_bytes, rec.cut_bytes) == (whole, kept_bytes, cut - kept_bytes), trial
        assert rec.cut_offset == (kept_bytes if cut > kept_bytes else -1)
        assert read_all(log) == written[:whole]
        # appends continue after the cut, and the next recovery finds nothing to cut
        nxt = written[whole - 1][1] + 1 if whole else written[0][0]
        log.append(nxt, nxt, 5_000, b"after")
        log.close()
        log = open_log(d, segment_bytes=1 << 20)
        assert log.recovery.cut_bytes == 0
        assert read_all(log) == written[:whole] + [(nxt, nxt, 5_000, b"after")]
        log.close()


def test_garbage_appended_to_the_active_segment_is_cut_and_reported(tmp_path):
    rng = random.Random(5)
    for trial in range(20):
        d = tmp_path / str(trial)
        d.mkdir()
        log = open_log(d, segment_bytes=1 << 20)
        written = fill(log, 10)
        path = active_path(log)
        size = os.path.getsize(path)
        log.close()
        garbage = rng.randbytes(rng.randint(1, 300))
        with open(path, "ab") as f:
            f.write(garbage)
        log = open_log(d, segment_bytes=1 << 20)
        assert log.recovery.cut_offset == size and log.recovery.cut_bytes == len(garbage)
        assert os.path.getsize(path) == size
        assert read_all(log) == written
        log.close()


def test_a_copy_of_a_whole_frame_appended_again_is_cut(tmp_path):
    log = open_log(tmp_path)
    written = fill(log, 3)
    path = active_path(log)
    log.close()
    data = open(path, "rb").read()
    with open(path, "ab") as f:
        f.write(data[:frame_ends(written)[0]])   # valid CRC, but a sequence number gone back
    log = open_log(tmp_path)
    assert log.recovery.cut_bytes == frame_ends(written)[0]
    assert read_all(log) == written


def test_an_active_segment_torn_before_its_first_frame_is_removed(tmp_path):
    log = open_log(tmp_path, segment_bytes=1_000)
    written = fill(log, 40)
    path = active_path(log)
    log.close()
    os.truncate(path, 10)
    log = open_log(tmp_path, segment_bytes=1_000)
    assert not os.path.exists(path) and log.recovery.cut_bytes == 10
    assert all(i.sealed for i in log.segments())
    kept = read_all(log)
    assert kept == written[:len(kept)]
    nxt = kept[-1][1] + 1
    log.append(nxt, nxt, 1, b"z")   # a new active segment
    assert read_all(log)[-1] == (nxt, nxt, 1, b"z")


def test_a_bit_flip_in_a_sealed_segment_is_an_error_naming_the_file(tmp_path):
    rng = random.Random(7)
    for trial in range(10):
        d = tmp_path / str(trial)
        d.mkdir()
        log = open_log(d, segment_bytes=1_000)
        fill(log, 40, payload=lambda i: b"p" * (10 + i % 50))
        sealed = log.segments()[0]
        assert sealed.sealed
        path = log.segment_path(sealed.base_seq)
        log.close()
        data = bytearray(open(path, "rb").read())
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
        open(path, "wb").write(data)
        log = open_log(d, segment_bytes=1_000)   # sealed segments are trusted when opening
        with pytest.raises(_core.SegmentCorruptError) as e:
            list(log.frames())
        assert e.value.path == path and path in str(e.value)
        assert 0 <= e.value.offset <= at
        log.close()


def test_a_sealed_segment_shorter_than_its_index_is_an_error_naming_it(tmp_path):
    log = open_log(tmp_path, segment_bytes=1_000)
    fill(log, 40)
    path = log.segment_path(log.segments()[1].base_seq)
    log.close()
    os.truncate(path, os.path.getsize(path) - 1)
    with pytest.raises(_core.SegmentCorruptError) as e:
        open_log(tmp_path, segment_bytes=1_000)
    assert e.value.path == path


def test_a_lost_index_is_rebuilt_from_the_frames(tmp_path):
    log = open_log(tmp_path, segment_bytes=1_000)
    written = fill(log, 80)
    infos = log.segments()
    assert len(infos) > 3
    log.close()
    os.remove(os.path.join(tmp_path, f"{infos[1].base_seq:020d}.index"))
    with open(os.path.join(tmp_path, f"{infos[2].base_seq:020d}.index"), "r+b") as f:
        f.write(b"junk")
    log = open_log(tmp_path, segment_bytes=1_000)
    assert log.segments() == infos
    assert read_all(log, start_seq=infos[1].base_seq + 1) == [w for w in written if w[1] >= infos[1].base_seq + 1]


def test_a_payload_outlives_its_log_and_its_file(tmp_path):
    log = open_log(tmp_path, segment_bytes=100)
    log.append(0, 0, 1, b"kept in the mapping")
    log.append(1, 1, 100, b"y" * 200)
    payload = next(log.frames()).payload
    assert log.retain(min_ts=50) == 1
    log.close()
    del log
    assert payload.to_pybytes() == b"kept in the mapping"


def test_a_missing_directory_is_an_os_error_naming_it(tmp_path):
    with pytest.raises(_core.SegmentIOError) as e:
        open_log(tmp_path / "absent")
    assert isinstance(e.value, OSError) and e.value.filename == str(tmp_path / "absent")


@pytest.mark.parametrize("sync", ["flush", "fsync"])
def test_concurrent_writers_share_commits_and_keep_every_frame(tmp_path, sync):
    log = open_log(tmp_path, segment_bytes=8_000, sync=sync)
    order = threading.Lock()
    counter = [0]
    acked = []

    def writer(k):
        for i in range(40):
            with order:   # the caller orders its writes (as a shard's writer lock does) ...
                seq = counter[0]
                counter[0] += 2
                ticket = log.write(seq, seq + 1, 1_000 + seq, f"{k}:{i}".encode())
            log.commit(ticket)   # ... and waits for the disk outside that lock
            acked.append(seq)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(acked) == list(range(0, 480, 2))
    if sync == "fsync":
        assert 1 <= log.syncs <= 240 + len(log.segments())
    else:
        assert log.syncs == 0
    log.close()
    log = open_log(tmp_path, segment_bytes=8_000, sync=sync)
    assert [f.first_seq for f in log.frames()] == list(range(0, 480, 2))


def test_fsync_mode_reports_what_is_synced_and_a_cut_there_keeps_every_commit(tmp_path):
    log = open_log(tmp_path, segment_bytes=2_000, sync="fsync")
    written = fill(log, 30)
    infos = log.segments()
    assert all(i.synced == i.size for i in infos)   # every append returned after its fdatasync
    ticket = log.write(written[-1][1] + 1, written[-1][1] + 1, 9_999, b"written, not committed")
    active = log.segments()[-1]
    assert active.synced < active.size
    log.commit(ticket)
    assert log.segments()[-1].synced == log.segments()[-1].size


@pytest.mark.parametrize("sync", ["flush", "fsync"])
def test_commit_many_commits_every_log(tmp_path, sync):
    logs = [open_log(tmp_path / str(i), sync=sync) for i in range(3) if not (tmp_path / str(i)).mkdir()]
    pairs = [(log, log.write(i, i, 1, b"x" * 100)) for i, log in enumerate(logs)]
    if sync == "fsync":
        assert all(log.segments()[0].synced < log.segments()[0].size for log in logs)
    _core.commit_many(pairs)
    if sync == "fsync":
        assert all(log.segments()[0].synced == log.segments()[0].size for log in logs)
    _core.commit_many([])
    logs[1].close()
    with pytest.raises(_core.CoreValueError):   # a closed log is refused before anything runs
        _core.commit_many(pairs)


def test_one_wave_of_fdatasyncs_serves_writers_of_many_logs_while_logs_open_and_close(tmp_path):
    """Group commit spans logs: writers to different logs share waves (fewer fdatasyncs per log
    than commits), and a log closed while waves run (its writes uncommitted, so it may be on
    the dirty list) leaves them unharmed."""
    logs = [open_log(tmp_path / f"kept{i}", sync="fsync") for i in range(4) if not (tmp_path / f"kept{i}").mkdir()]
    done = threading.Event()
    commits = 60

    def writer(log):
        for i in range(commits):
            log.commit(log.write(i, i, 1_000, b"x" * 200))

    def churn():
        k = 0
        while not done.is_set():
            path = tmp_path / f"churn{k}"
            path.mkdir()
            log = open_log(path, sync="fsync")
            log.write(0, 0, 1_000, b"never committed")
            log.close()
            k += 1

    waves_before = _core.sync_waves()
    churner = threading.Thread(target=churn)
    churner.start()
    writers = [threading.Thread(target=writer, args=(log,)) for log in logs]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    churner.join()
    for log in logs:
        assert all(i.synced == i.size for i in log.segments())
        assert [f.first_seq for f in log.frames()] == list(range(commits))
    waves = _core.sync_waves() - waves_before
    # 240 commits on four logs: waves shared between logs, each syncing every log written
    assert waves < 4 * commits
    assert sum(log.syncs for log in logs) <= 4 * commits

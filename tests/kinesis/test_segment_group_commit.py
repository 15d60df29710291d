"""Group commit with overlapping waves (csrc/segment.c): however many writers share or overlap
waves of fdatasyncs, a commit returns only once its own frame is covered by a sync."""
import os
import threading

from engine import _core


def test_each_commit_returns_only_once_its_own_frame_is_synced(tmp_path):
    logs = []
    for name in ("a", "b"):
        os.makedirs(tmp_path / name)
        logs.append(_core.SegmentLog(tmp_path / name, segment_bytes=1 << 30, segment_ms=10**12,
                                     index_interval_bytes=4096, sync="fsync", preallocate_bytes=1 << 16))
    lock, seq, failures = threading.Lock(), [0], []
    waves_before = _core.sync_waves()

    def writer():
        for _ in range(40):
            with lock:
                seq[0] += 1
                tickets = [(log, log.write(seq[0], seq[0], 1_000, os.urandom(3_000))) for log in logs]
            _core.commit_many(tickets)
            # one segment per log, so a ticket is the end of its frame in the active file
            for log, ticket in tickets:
                synced = log.segments()[-1].synced
                if synced < ticket:
                    failures.append((ticket, synced))

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert _core.sync_waves() - waves_before < 8 * 40   # writers shared waves
    for log in logs:
        assert [f.first_seq for f in log.frames()] == list(range(1, 8 * 40 + 1))
        log.close()

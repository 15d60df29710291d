"""A simulated power loss for fsync-mode tests: writers run while the 'power goes', each segment
file is then cut to what an fdatasync had covered at that moment, and files made later vanish."""
from __future__ import annotations

import os
import threading
import time

WRITERS = 4


def acknowledged_then_synced(put, count: int, segments):
    """WRITERS threads call put(k, n) (writer k's n-th call, returning its acknowledgements) until
    `count` are in. Returns what was acknowledged, then segments() (what the disk holds), taken
    in that order: every acknowledgement must be covered by what the disk held after it."""
    acked, stop = [], threading.Event()

    def writer(k):
        n = 0
        while not stop.is_set():
            acked.extend(put(k, n))
            n += 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    for t in threads:
        t.start()
    while len(acked) < count:
        time.sleep(0.01)
    acknowledged = list(acked)
    on_disk = segments()
    stop.set()
    for t in threads:
        t.join()
    return acknowledged, on_disk


def cut_to_synced(directory, on_disk: dict) -> None:
    """Each log file in `directory` cut to its segment's synced length in on_disk ({base sequence
    number: segment info}); files not in it, and indexes of segments not sealed, removed."""
    for name in os.listdir(directory):
        info = on_disk.get(int(name.split(".")[0]))
        path = os.path.join(directory, name)
        if info is None or (name.endswith(".index") and not info.sealed):
            os.remove(path)
        elif name.endswith(".log"):
            os.truncate(path, info.synced)

"""The native message queue (csrc/queue.c through engine._core.MessageQueue): batch send with
text checks and MD5s, receive / delete / change visibility by (slot, generation) handles,
delays, visibility and retention on the caller's clock, receive-count moves, extras by tag,
threads, and a hypothesis state machine against a plain Python model."""
import hashlib
import re
import subprocess
import sys
import textwrap
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine import _core

HOUR = 3600 * 1000
_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def make(retention_ms=HOUR, **kw):
    return _core.MessageQueue(retention_ms, "id-", "h-", 1000, **kw)


def test_send_receive_delete_round_trip():
    q = make()
    stored = q.send(0, ["a", "bb", "é\U0001F600"])
    assert stored.status is None and stored.seqs is None and stored.dups is None
    assert stored.ids == ["id-1000", "id-1001", "id-1002"]
    assert stored.md5s == [hashlib.md5(b.encode()).hexdigest() for b in ["a", "bb", "é\U0001F600"]]
    got = q.receive(0, 10, 30_000)
    assert not got.over_limit and got.moved is None and len(got) == 3
    assert got.ids == stored.ids and got.md5s == stored.md5s and got.bodies == ["a", "bb", "é\U0001F600"]
    assert got.receive_counts == [1, 1, 1] and got.first_ms == [0, 0, 0] and got.sent_ms == [0, 0, 0]
    assert got.extras == [None] * 3 and got.groups is None
    assert all(h.startswith("h-") for h in got.handles) and len(set(got.handles)) == 3
    assert q.counts(0) == (0, 3, 0, 30_000)
    assert q.delete(0, got.handles) is None
    assert q.counts(0)[:3] == (0, 0, 0)
    assert q.stats(0)["heap"] == 0 and q.stats(0)["body_bytes"] == 0


def test_bytes_bodies_and_as_bytes():
    q = make()
    stored = q.send(5, [b"raw", "text"], strings=False)
    assert stored.status is None and stored.ids is None
    got = q.receive(5, 10, 1000, as_bytes=True)
    assert got.bodies == [b"raw", b"text"]


@pytest.mark.parametrize("body,code", [
    ("", _core.SEND_EMPTY), ("a\x00b", _core.SEND_BAD_TEXT), ("\ud800", _core.SEND_BAD_TEXT),
    ("\ufffe", _core.SEND_BAD_TEXT), ("\x0b", _core.SEND_BAD_TEXT), (b"\xff", _core.SEND_BAD_TEXT),
    (b"\xc0\x80", _core.SEND_BAD_TEXT), (b"\xed\xa0\x80", _core.SEND_BAD_TEXT), ("x" * 11, _core.SEND_TOO_LONG),
])
def test_refused_rows_are_reported_and_the_rest_stored(body, code):
    q = make()
    stored = q.send(0, ["ok1", body, "ok2"], max_len=10)
    assert stored.status == bytes([0, code, 0])
    assert stored.ids == ["id-1000", None, "id-1001"] and stored.md5s[1] is None
    assert q.receive(0, 10, 0).bodies == ["ok1", "ok2"]


def test_non_text_rows_raise():
    with pytest.raises(_core.CoreValueError):
        make().send(0, ["a", 3])


@given(st.text(max_size=40))
@settings(max_examples=400, deadline=None)
def test_xml_check_matches_the_character_ranges(text):
    ok = _XML.search(text) is None and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert make().send(0, [text or "x"]).status == (None if ok else bytes([_core.SEND_BAD_TEXT]))


@given(st.binary(min_size=1, max_size=40))
@settings(max_examples=400, deadline=None)
def test_xml_check_on_bytes_matches_utf8_decoding(raw):
    try:
        ok = _XML.search(raw.decode("utf-8")) is None
    except UnicodeDecodeError:
        ok = False
    assert make().send(0, [raw]).status == (None if ok else bytes([_core.SEND_BAD_TEXT]))


def test_visibility_expiry_returns_messages_first():
    q = make()
    q.send(0, ["a", "b", "c"])
    got = q.receive(0, 1, 10_000)
    assert got.bodies == ["a"]
    assert q.receive(9_999, 10, 0).bodies == ["b", "c"]   # vis 0: received, visible again at the tail
    got = q.receive(10_000, 10, 10_000)
    assert got.bodies == ["a", "b", "c"] and got.receive_counts == [2, 2, 2]
    assert got.first_ms == [0, 9_999, 9_999]                   # first receive times stay


def test_delays_and_per_row_delays():
    q = make()
    q.send(0, ["late", "later"], delays=[5_000, None], delay_ms=9_000)
    q.send(0, ["now"])
    assert q.counts(0) == (1, 0, 2, 5_000)
    assert q.receive(4_999, 10, 0).bodies == ["now"]
    assert q.receive(5_000, 10, 1).bodies == ["now", "late"]  # (a delayed one joins the tail)
    assert q.counts(9_000)[:3] == (3, 0, 0)


def test_retention_expires_every_state_and_releases_extras():
    q = make(retention_ms=60_000)
    q.send(0, ["v", "i", "d"], delays=[0, 0, 120_000], extras=[{"x": 1}, {"x": 2}, {"x": 3}])
    q.receive(0, 1, 300_000)
    assert q.counts(0)[:3] == (1, 1, 1)
    assert q.stats(59_999)["extras"] == 3
    assert q.counts(60_000)[:3] == (0, 0, 0)
    st = q.stats(60_000)
    assert st["extras"] == 0 and st["heap"] == 0 and st["body_bytes"] == 0


def test_set_retention_rekeys_the_heap():
    q = make(retention_ms=HOUR)
    q.send(0, ["a"])
    q.send(10_000, ["b"])
    q.set_retention(20_000, 15_000)
    assert q.counts(20_000)[:3] == (1, 0, 0)
    assert q.receive(20_000, 10, 0).bodies == ["b"]


def test_handles_current_stale_invalid():
    q = make()
    q.send(0, ["a"])
    h1 = q.receive(0, 1, 0).handles[0]
    h2 = q.receive(0, 1, 1000).handles[0]
    assert h1 != h2
    assert q.delete(0, [h1, "junk", "h-0", "h-01", "h-" + "9" * 30, None, "h-99999999999"]) == bytes(
        [_core.HANDLE_STALE] + [_core.HANDLE_INVALID] * 6)
    assert q.change_visibility(0, [h1], [10], HOUR) == bytes([_core.HANDLE_STALE])
    assert q.delete(0, [h2]) is None
    assert q.delete(0, [h2]) == bytes([_core.HANDLE_STALE])
    # the slot is reused: the old handles never touch the new message
    q.send(1, ["b"])
    assert q.delete(1, [h2, h1]) == bytes([_core.HANDLE_STALE, _core.HANDLE_STALE])
    assert q.counts(1)[0] == 1


def test_change_visibility():
    q = make()
    q.send(0, ["a", "b"])
    h = q.receive(0, 2, 1000).handles
    assert q.change_visibility(0, h, [5_000, 0], 10_000) == bytes([0, 0])
    assert q.counts(0)[:3] == (1, 1, 0)                     # b is back at once
    assert q.receive(4_999, 10, 0).bodies == ["b"]
    assert q.receive(5_000, 10, 0).bodies == ["a", "b"]
    h = q.receive(6_000, 1, 1000).handles
    assert q.change_visibility(6_000, h, [10_001], 10_000) == bytes([_core.HANDLE_TOO_LONG])
    assert q.change_visibility(6_500, h, [9_600], 10_000) == bytes([_core.HANDLE_TOO_LONG])
    assert q.change_visibility(6_500, h, [9_500], 10_000) == bytes([0])   # up to receive + 10 s
    h_vis = q.receive(16_000, 1, 0).handles
    assert q.change_visibility(16_000, h_vis, [10], 10_000) == bytes([_core.HANDLE_NOT_INFLIGHT])


def test_receive_count_limit_moves_messages_out():
    q = make()
    q.send(0, ["a", "b"], extras=[None, "x-b"])
    q.receive(0, 10, 0)
    got = q.receive(0, 10, 1000, max_rc=1)
    moved = got.moved
    assert not got.over_limit and got.bodies == [] and moved.bodies == ["a", "b"] and moved.handles is None
    assert moved.receive_counts == [1, 1] and moved.extras == [None, "x-b"]
    assert q.counts(0)[:3] == (0, 0, 0) and q.stats(0)["extras"] == 0


def test_inflight_limit_and_remove():
    q = make()
    q.send(0, ["a", "b", "c", "d"], extras=["xa", None, None, None])
    got = q.receive(0, 10, 1000, inflight_max=2)
    over = got.over_limit
    assert not over and got.bodies == ["a", "b"] and got.extras == ["xa", None]
    got = q.receive(0, 10, 1000, inflight_max=2)
    over = got.over_limit
    assert over and got.bodies == []
    got = q.receive(0, 10, 0, remove=True)
    assert got.bodies == ["c", "d"] and got.handles is None
    assert q.counts(0)[:3] == (0, 2, 0)


def test_restore_keeps_numbers_times_and_counts():
    q = make()
    md5 = hashlib.md5(b"x").hexdigest()
    ids = q.restore(100, ["x", "y"], [md5, md5], nums=[7, None], sent_ms=[50, None], rcs=[3, 0],
                    first_ms=[60, None], extras=["e", None])
    assert ids == ["id-7", "id-1000"]
    q.restore(100, ["front"], [md5], front=True)
    got = q.receive(100, 10, 1000)
    assert got.bodies == ["front", "x", "y"] and got.receive_counts == [1, 4, 1]
    assert got.first_ms == [100, 60, 100] and got.sent_ms == [100, 50, 100] and got.extras == [None, "e", None]


def test_big_bodies_grow_the_receive_buffer_and_the_arena():
    q = make(chunk_bytes=4096)
    bodies = ["x" * 100_000, "y" * 10, "z" * 30_000]
    q.send(0, bodies)
    got = []
    while len(got) < 3:
        got += q.receive(0, 10, 1000).bodies
    assert got == bodies
    assert q.stats(0)["chunks"] >= 2


def test_clear_releases_everything():
    q = make()
    q.send(0, ["a"] * 5000, extras=[i for i in range(5000)])
    q.receive(0, 100, 1000)
    q.clear()
    st = q.stats(0)
    assert (st["visible"], st["inflight"], st["heap"], st["extras"], st["body_bytes"]) == (0, 0, 0, 0, 0)
    q.send(0, ["b"])
    assert q.receive(0, 10, 0).bodies == ["b"]


def test_memory_per_message_stays_small():
    q = make()
    n = 50_000
    for i in range(0, n, 1000):
        q.send(0, ["m" * 256] * 1000)
    st = q.stats(0)
    # an 88-byte slot + a 4-byte heap entry, plus the slack of the last slot page, heap growth and
    # the last 1 MiB arena chunk (about 30 bytes a message at 50,000; under 100 at a million)
    assert (st["bytes_allocated"] - st["body_bytes"]) / n < 130


def test_threads_never_hand_out_a_message_twice():
    q = make()
    n_threads, per = 4, 2000
    seen = []
    lock = threading.Lock()
    done = threading.Event()

    def producer(k):
        for i in range(0, per, 10):
            q.send(0, [f"{k}:{j}" for j in range(i, i + 10)])

    def consumer():
        mine = []
        while True:
            got = q.receive(0, 10, HOUR)
            if got.bodies:
                mine += got.bodies
                assert q.delete(0, got.handles) is None
            elif done.is_set() and q.counts(0)[0] == 0:
                break
        with lock:
            seen.extend(mine)

    producers = [threading.Thread(target=producer, args=(k,)) for k in range(n_threads)]
    consumers = [threading.Thread(target=consumer) for _ in range(n_threads)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    done.set()
    for t in consumers:
        t.join()
    assert len(seen) == n_threads * per and len(set(seen)) == n_threads * per
    assert q.counts(0)[:3] == (0, 0, 0)


# --- a hypothesis state machine against a plain model -----------------------------------------------
class QueueMachine(RuleBasedStateMachine):
    RET = 100_000

    @initialize()
    def setup(self):
        self.q = _core.MessageQueue(self.RET, "i", "h", 0)
        self.now = 0
        self.model = {}      # id -> dict(body, sent, at, state, handle, rc)
        self.handles = []    # (handle, id) ever issued

    def live(self):
        return {i: m for i, m in self.model.items() if m["sent"] + self.RET > self.now}

    def expire(self):
        for i in [i for i, m in self.model.items() if m["sent"] + self.RET <= self.now]:
            del self.model[i]

    @rule(n=st.integers(1, 5), delay=st.sampled_from([0, 0, 1000, 50_000]))
    def send(self, n, delay):
        self.expire()
        bodies = [f"b{self.now}.{k}" for k in range(n)]
        stored = self.q.send(self.now, bodies, delay)
        assert stored.status is None
        for i, b in zip(stored.ids, bodies):
            self.model[i] = {"body": b, "sent": self.now, "at": self.now + delay, "handle": None, "rc": 0}

    @rule(n=st.integers(1, 10), vis=st.sampled_from([0, 500, 5_000, 200_000]))
    def receive(self, n, vis):
        self.expire()
        got = self.q.receive(self.now, n, vis)
        moved = got.moved
        assert moved is None
        receivable = {i for i, m in self.model.items() if m["at"] <= self.now}
        assert len(got.ids) == min(n, len(receivable))
        for i, h, body, rc in zip(got.ids, got.handles, got.bodies, got.receive_counts):
            assert i in receivable
            m = self.model[i]
            assert body == m["body"] and rc == m["rc"] + 1
            m["rc"] = rc
            m["handle"] = h
            m["at"] = self.now + vis
            self.handles.append((h, i))

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def delete(self, data):
        self.expire()
        h, i = data.draw(st.sampled_from(self.handles))
        res = self.q.delete(self.now, [h])
        m = self.model.get(i)
        if m is not None and m["handle"] == h:
            assert res is None
            del self.model[i]
        else:
            assert res == bytes([_core.HANDLE_STALE])

    @precondition(lambda self: self.handles)
    @rule(data=st.data(), vis=st.sampled_from([0, 100, 10_000]))
    def change(self, data, vis):
        self.expire()
        h, i = data.draw(st.sampled_from(self.handles))
        res = self.q.change_visibility(self.now, [h], [vis], 10**9)
        m = self.model.get(i)
        if m is None or m["handle"] != h:
            assert res == bytes([_core.HANDLE_STALE])
        elif m["at"] <= self.now:
            assert res == bytes([_core.HANDLE_NOT_INFLIGHT])
        else:
            assert res == bytes([0])
            m["at"] = self.now + vis

    @rule(dt=st.sampled_from([1, 499, 500, 1000, 5_000, 60_000]))
    def advance(self, dt):
        self.now += dt

    @invariant()
    def counts_match(self):
        if not hasattr(self, "q"):
            return
        self.expire()
        v, i, d, _ = self.q.counts(self.now)
        live = self.model.values()
        vis = sum(1 for m in live if m["at"] <= self.now)
        inflight = sum(1 for m in live if m["at"] > self.now and m["rc"])
        delayed = sum(1 for m in live if m["at"] > self.now and not m["rc"])
        assert (v, i, d) == (vis, inflight, delayed)


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])


@given(st.lists(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), min_size=1, max_size=300),
                min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_batch_digests_match_hashlib(bodies):
    """Rows are digested four at a time (SIMD lanes) where their padded lengths match."""
    assert make().send(0, bodies).md5s == [hashlib.md5(b.encode()).hexdigest() for b in bodies]


def test_one_receive_returns_more_bodies_than_its_first_buffer_holds():
    q = make()
    bodies = [f"{i:04d}" + "x" * 1000 for i in range(100)]
    q.send(0, bodies, extras=list(range(100)))
    q.send(0, ["y" * 50_000])
    got = q.receive(0, 101, 1000)
    assert got.bodies == bodies + ["y" * 50_000] and len(set(got.handles)) == 101 and got.extras == list(range(100)) + [None]
    assert q.delete(0, got.handles) is None and q.stats(0)["extras"] == 0


# --- numbers from the caller: sizes, counts, times ---------------------------------------------------
# Each case runs in a fresh interpreter, so a heap corruption fails the case instead of the run
# (and shows under ASan: ENGINE_SANITIZE=1 builds). Every case also checks that a refused call
# changed nothing.
_PRELUDE = """
from engine import _core
HOUR = 3600 * 1000
def make(retention_ms=HOUR, **kw):
    return _core.MessageQueue(retention_ms, "id-", "h-", 1000, **kw)
def fifo():
    return make(fifo=True, seq_base=10**19)
def refused(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc:
        return True
    raise AssertionError(f"{fn.__name__}{args} was accepted")
"""

NATIVE_CASES = {
    "receive count beyond any buffer, standard": """
        q = make()
        q.send(0, ["x" * 100] * 300)
        got = q.receive(0, 2**60, 30_000)
        over, moved = got.over_limit, got.moved
        assert not over and moved is None and len(got.ids) == 300 and got.bodies == ["x" * 100] * 300
        assert q.counts(0)[:3] == (0, 300, 0)
    """,
    "receive count beyond any buffer, FIFO": """
        q = fifo()
        n = 300
        q.send_fifo(0, ["y" * 100] * n, [f"g{i % 7}" for i in range(n)], [str(i) for i in range(n)])
        got = q.receive(0, 2**62, 30_000, fifo_cols=True)
        over, moved = got.over_limit, got.moved
        assert len(got.ids) == n and len(set(got.handles)) == n
        assert q.counts(0)[:3] == (0, n, 0)
    """,
    "take (remove) beyond any buffer": """
        q = make()
        q.send(0, ["z"] * 50)
        got = q.receive(0, 2**62, 0, remove=True)
        assert len(got.ids) == 50 and q.counts(0)[:3] == (0, 0, 0)
    """,
    "moves beyond max receive count with a huge count": """
        q = make()
        q.send(0, ["m"] * 40)
        q.receive(0, 2**62, 0)
        got = q.receive(0, 2**62, 1000, max_rc=1)
        moved = got.moved
        assert got.ids == [] and len(moved.ids) == 40
    """,
    "times and durations outside the range are refused": """
        q = make()
        q.send(0, ["a", "b"])
        for now, vis in ((-1, 1000), (2**62, 1000), (0, -1), (0, 2**62)):
            refused(_core.CoreRangeError, q.receive, now, 1, vis)
        refused(_core.CoreRangeError, q.receive, 0, 1, 1000, inflight_max=-5)
        assert q.counts(0)[:3] == (2, 0, 0)
        refused(_core.CoreRangeError, q.counts, -1)
        refused(_core.CoreRangeError, q.stats, 2**62)
        refused(_core.CoreRangeError, q.delete, -1, ["h-1"])
    """,
    "send delays outside the range store nothing": """
        q = make()
        for kw in ({"delays": [0, 2**62]}, {"delays": [-1, 0]}, {"delay_ms": 2**62}, {"delay_ms": -1}):
            refused(_core.CoreRangeError, q.send, 0, ["a", "b"], **kw)
        refused(_core.CoreRangeError, q.send, -5, ["a"])
        assert q.counts(0)[:3] == (0, 0, 0) and q.stats(0)["body_bytes"] == 0
    """,
    "change visibility outside the range changes nothing": """
        q = make()
        q.send(0, ["a", "b"])
        got = q.receive(0, 2, 10_000)
        for vis in ([2**62, 0], [0, -1]):
            refused(_core.CoreRangeError, q.change_visibility, 0, got.handles, vis, 12 * HOUR)
        refused(_core.CoreRangeError, q.change_visibility, 0, got.handles, [0, 0], -1)
        assert q.counts(0) == (0, 2, 0, 10_000)
    """,
    "retention and FIFO delay outside the range are refused": """
        q = make()
        q.send(0, ["a"])
        refused(_core.CoreRangeError, q.set_retention, 0, 2**62)
        refused(_core.CoreRangeError, q.set_retention, 0, -1)
        assert q.counts(HOUR - 1)[:3] == (1, 0, 0) and q.counts(HOUR)[:3] == (0, 0, 0)
        f = fifo()
        refused(_core.CoreRangeError, f.set_fifo, 0, 2**62, False)
        refused(_core.CoreRangeError, f.set_fifo, 0, -1, False)
        refused(_core.CoreRangeError, make, -1)
        refused(_core.CoreRangeError, make, HOUR, fifo=True, window_ms=-1)
        refused(_core.CoreRangeError, make, HOUR, fifo=True, delay_ms=2**62)
    """,
    "restore checks digests, times and counts": """
        q = make()
        md5 = "0" * 32
        refused(_core.CoreValueError, q.restore, 0, ["a"], ["00"])
        refused(ValueError, q.restore, 0, ["a"], ["zz" * 16])
        refused(_core.CoreRangeError, q.restore, 0, ["a"], [md5], sent_ms=[2**62])
        refused(_core.CoreRangeError, q.restore, 0, ["a"], [md5], first_ms=[-7])
        refused(_core.CoreRangeError, q.restore, 0, ["a"], [md5], rcs=[-1])
        refused(_core.CoreRangeError, q.restore, 0, ["a"], [md5], nums=[-2])
        assert q.counts(0)[:3] == (0, 0, 0)
        q.restore(0, ["a"], [md5], rcs=[2**31 - 1])
        got = q.receive(0, 1, 0)
        assert got.receive_counts == [2**31 - 1]  # a receive count saturates, never wraps
    """,
    "FIFO retry outside the range is refused": """
        q = fifo()
        q.send_fifo(0, ["a"], ["g"], ["d"])
        got = q.receive(0, 1, 10_000)
        refused(_core.CoreRangeError, q.retry, 0, got.handles, 10_000, 2**62)
        refused(_core.CoreRangeError, q.retry, -1, got.handles, 10_000, 0)
        assert q.retry(0, got.handles, 10_000, 5_000)
    """,
    "Python ints beyond int64 stop at the binding": """
        q = make()
        for call in (lambda: q.receive(0, 2**64, 0), lambda: q.send(0, ["a"], delays=[2**64]),
                     lambda: q.counts(2**70)):
            try:
                call()
            except OverflowError:
                pass
            else:
                raise AssertionError("accepted")
        assert q.counts(0)[:3] == (0, 0, 0)
    """,
}


def run_isolated(code: str) -> str:
    """Run code in a fresh interpreter (same environment, so LD_PRELOAD/ASAN_OPTIONS carry over)."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.mark.parametrize("case", sorted(NATIVE_CASES))
def test_native_numbers_never_corrupt_the_queue(case):
    run_isolated(_PRELUDE + textwrap.dedent(NATIVE_CASES[case]) + "\nprint('done')\n")

"""The native FIFO queue (csrc/queue.c in FIFO mode through engine._core.MessageQueue(fifo=True)):
per-group order, a group held while any of its messages is in flight, the ready list,
deduplication records (queue or group scope, a window on the caller's clock, kept after delete),
sequence numbers, retries of a receive, retroactive delay, take / move, and a hypothesis state
machine against a plain Python model."""
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine import _core

HOUR = 3600 * 1000
BASE = 10**19


def make(retention_ms=HOUR, **kw):
    kw.setdefault("seq_base", BASE)
    return _core.MessageQueue(retention_ms, "id-", "h-", 1000, fifo=True, **kw)


def send(q, now, rows, **kw):
    """rows: (body, group, dedup)"""
    return q.send_fifo(now, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], **kw)


def test_order_within_groups_and_groups_held_while_in_flight():
    q = make()
    status, ids, md5s, seqs, dups = send(q, 0, [("a1", "a", "1"), ("b1", "b", "2"), ("a2", "a", "3"),
                                                ("b2", "b", "4"), ("a3", "a", "5")])
    assert status is None and dups is None
    assert ids == [f"id-{1000 + k}" for k in range(5)]
    assert [int(s) for s in seqs] == [BASE + k for k in range(1, 6)] and seqs[0] == "10000000000000000001"
    got = q.receive(0, 2, 1000, fifo_cols=True)
    assert got.bodies == ["a1", "a2"]                       # one group as far as it goes first
    assert got.groups == ["a", "a"] and got.dedups == ["1", "3"] and got.seqs == seqs[0:3:2]
    got2 = q.receive(0, 10, 1000)
    assert got2.bodies == ["b1", "b2"]                      # group a is held: a3 waits
    assert q.receive(0, 10, 1000).ids == []
    assert q.delete(0, got.handles[:1]) is None              # a2 still in flight: a stays held
    assert q.receive(0, 10, 1000).ids == []
    assert q.delete(0, got.handles[1:]) is None
    assert q.receive(0, 10, 1000).bodies == ["a3"]
    assert q.stats(0)["groups"] == 2


def test_visibility_expiry_and_change_return_messages_in_order():
    q = make()
    send(q, 0, [(f"m{k}", "g", str(k)) for k in range(4)])
    got = q.receive(0, 3, 1000)
    assert got.bodies == ["m0", "m1", "m2"]
    # m1 back at once (visibility 0): the group stays held by m0 and m2
    assert q.change_visibility(0, [got.handles[1]], [0], HOUR) == bytes([0])
    assert q.receive(0, 10, 1000).ids == []
    assert q.delete(0, [got.handles[0]]) is None
    again = q.receive(2000, 10, 1000)               # m2 expired at 1000: all back, in order
    assert again.bodies == ["m1", "m2", "m3"] and again.receive_counts == [2, 2, 1]


def test_delete_needs_a_current_handle_of_a_message_in_flight():
    q = make()
    send(q, 0, [("x", "g", "1")])
    got = q.receive(0, 1, 1000)
    h = got.handles[0]
    assert q.delete(5000, [h]) == bytes([_core.HANDLE_NOT_INFLIGHT])   # visibility ran out
    got2 = q.receive(5000, 1, 0)                                  # visibility 0: visible again
    assert q.delete(5000, [got2.handles[0]]) == bytes([_core.HANDLE_NOT_INFLIGHT])
    assert q.delete(5000, [h]) == bytes([_core.HANDLE_STALE])
    assert q.delete(5000, ["h-999999999999"]) == bytes([_core.HANDLE_INVALID])
    got3 = q.receive(5000, 1, 1000)
    assert got3.receive_counts == [3] and q.delete(5000, got3.handles) is None
    assert q.counts(5000)[:3] == (0, 0, 0) and q.stats(5000)["groups"] == 0


def test_deduplication_window_outlives_the_message():
    q = make(window_ms=300_000)
    _, ids, _, seqs, _ = send(q, 0, [("one", "g", "d")])
    _, ids2, _, seqs2, dups = send(q, 10, [("two", "g", "d"), ("three", "h", "d")])
    assert dups == b"\x01\x01" and ids2 == ids * 2 and seqs2 == seqs * 2
    got = q.receive(20, 10, 1000)
    assert got.bodies == ["one"] and q.delete(20, got.handles) is None
    assert send(q, 299_999, [("four", "g", "d")])[4] == b"\x01"         # remembered after delete
    _, ids3, _, seqs3, dups = send(q, 300_000, [("five", "g", "d")])
    assert dups is None and ids3 != ids and int(seqs3[0]) > int(seqs[0])
    assert q.stats(300_000)["dedups"] == 1
    q.clear()                                                            # purge keeps the records
    assert send(q, 300_001, [("six", "g", "d")])[4] == b"\x01"


def test_group_scope_deduplicates_per_group():
    q = make(group_scope=True)
    assert send(q, 0, [("a", "g1", "d"), ("b", "g2", "d"), ("c", "g1", "d")])[4] == b"\x00\x00\x01"
    q.set_fifo(0, 0, False)                                              # queue scope from now on
    assert send(q, 0, [("x", "g1", "e"), ("y", "g2", "e")])[4] == b"\x00\x01"


def test_no_deduplication_id_means_no_deduplication():
    q = make()
    assert send(q, 0, [("a", "g", None), ("a", "g", None)])[4] is None
    assert q.counts(0)[0] == 2


def test_bad_rows_are_refused_the_rest_stored():
    q = make()
    rows = [("ok", "g", "1"), ("", "g", "2"), ("x", "bad group", "3"), ("y", "g", "é"), ("z", "g" * 129, "4"),
            ("w", 5, "5"), ("v", "g", "6"), ("\x00", "g", "7")]
    status, ids, _, seqs, _ = send(q, 0, rows, max_len=10)
    assert list(status) == [0, _core.SEND_EMPTY, _core.SEND_BAD_GROUP, _core.SEND_BAD_DEDUP, _core.SEND_BAD_GROUP,
                            _core.SEND_BAD_GROUP, 0, _core.SEND_BAD_TEXT]
    assert ids[1] is None and seqs[2] is None and ids[6] is not None
    assert q.receive(0, 10, 1000).bodies == ["ok", "v"]


def test_retry_returns_the_same_batch_only_while_unchanged():
    q = make()
    send(q, 0, [("a", "g", "1"), ("b", "g", "2")])
    got = q.receive(0, 10, 1000)
    assert q.retry(500, got.handles, 1000, 1000)                              # due again at 1500
    assert not q.retry(600, got.handles, 1000, 1000)                          # (not due at 1000 any more)
    assert q.retry(600, got.handles, 1500, 0)                                  # visibility 0: visible again
    assert q.counts(600)[:2] == (2, 0)
    assert not q.retry(600, got.handles, 600, 1000)
    got2 = q.receive(600, 1, 1000)
    assert q.delete(600, got2.handles) is None
    assert not q.retry(600, got2.handles, 1600, 1000)                          # deleted


def test_delay_is_retroactive_and_keeps_group_order():
    q = make(delay_ms=10_000)
    send(q, 0, [("a", "g", "1")])
    send(q, 4000, [("b", "g", "2"), ("c", "h", "3")])
    assert q.counts(4000)[2] == 3 and q.receive(9999, 10, 1000).ids == []
    assert q.receive(10_000, 10, 1000).bodies == ["a"]
    q.set_fifo(10_000, 2000, False)                                      # shorter: b and c are due now
    got = q.receive(10_000, 10, 1000)
    assert got.bodies == ["c"]                                               # g is held by a
    q.set_fifo(10_000, 0, False)
    send(q, 10_000, [("d", "h", "4")])
    assert q.counts(10_000)[:3] == (2, 2, 0)


def test_take_and_receive_count_moves_keep_fifo_columns():
    q = make()
    send(q, 0, [("a", "g", "1"), ("b", "g", "2"), ("c", "h", "3")])
    got = q.receive(0, 10, 0)                                       # rc 1 each, visible again
    assert got.bodies == ["a", "b", "c"]
    got = q.receive(0, 10, 1000, max_rc=1)
    moved = got.moved
    assert got.ids == [] and moved.bodies == ["a", "b", "c"] and moved.groups == ["g", "g", "h"] and moved.receive_counts == [1, 1, 1]
    assert moved.seqs == [str(BASE + k) for k in (1, 2, 3)]
    assert q.counts(0)[:3] == (0, 0, 0) and q.stats(0)["groups"] == 0
    send(q, 0, [("x", "g", "4"), ("y", "g", "5")])
    taken = q.receive(0, 1, 0, remove=True)
    assert taken.bodies == ["x"] and taken.groups == ["g"] and taken.dedups == ["4"] and taken.handles is None


def test_restore_keeps_sequence_order_in_the_group():
    q = make()
    _, ids, md5s, seqs, _ = send(q, 0, [("a", "g", "1"), ("b", "g", "2")])
    assert q.receive(0, 1, 0, remove=True).bodies == ["a"]         # a leaves
    q.restore(0, ["a"], [md5s[0]], groups=["g"], dedups=["1"], seqs=[int(seqs[0])], rcs=[3], extras=[{"x": 1}])
    got = q.receive(0, 10, 1000, fifo_cols=True)
    assert got.bodies == ["a", "b"] and got.receive_counts == [4, 1] and got.extras == [{"x": 1}, None] and got.seqs == seqs
    # without a kept sequence number a restored message is new, and deduplicated
    q.restore(0, ["dup"], [md5s[0]], groups=["g"], dedups=["2"], extras=[{"y": 2}])
    assert q.counts(0)[:2] == (0, 2) and q.stats(0)["extras"] == 1


def test_retention_and_many_groups_release_everything():
    q = make(retention_ms=1000)
    for i in range(50):
        send(q, i, [(f"b{i}.{k}", f"g{i}.{k}", f"{i}.{k}") for k in range(10)])
    assert q.stats(100)["groups"] == 500
    got = q.receive(100, 300, 10_000)
    assert len(got.ids) == 300
    st = q.stats(2000)
    assert (st["visible"], st["inflight"], st["groups"]) == (0, 0, 0)


def test_big_batches_release_the_gil_and_grow_the_tables():
    q = make()
    n = 5000
    status, ids, _, _, dups = send(q, 0, [(f"b{k}", f"g{k % 97}", f"d{k}") for k in range(n)])
    assert status is None and dups is None and len(set(ids)) == n
    got = q.receive(0, n, 1000, fifo_cols=True)
    assert len(got.ids) == n
    for g in range(97):                                                  # each group in send order
        bodies = [b for b, gg in zip(got.bodies, got.groups) if gg == f"g{g}"]
        assert bodies == [f"b{k}" for k in range(g, n, 97)]
    assert q.delete(0, got.handles) is None
    assert send(q, 1, [(f"b{k}", "g", f"d{k}") for k in range(n)])[4] == b"\x01" * n


# --- a hypothesis state machine against a plain model -----------------------------------------------
class FifoMachine(RuleBasedStateMachine):
    WINDOW = 10_000

    @initialize(group_scope=st.booleans())
    def setup(self, group_scope):
        self.scope = group_scope
        self.q = make(window_ms=self.WINDOW, group_scope=group_scope)
        self.now = 0
        self.msgs = {}       # id -> dict(body, group, seq, handle, due (in flight until; None), rc)
        self.dedup = {}      # key -> (expires, id, seq)
        self.handles = []    # (handle, id) ever issued
        self.last_seq = 0
        self.n = 0

    def waiting(self, g):
        return sorted((m["seq"], i) for i, m in self.msgs.items()
                      if m["group"] == g and (m["due"] is None or m["due"] <= self.now))

    def receivable(self, g):
        """Waiting messages of g before its first message in flight (AWS: a message back from
        flight can be received while later ones of its group are still in flight)."""
        first_held = min((m["seq"] for m in self.msgs.values()
                          if m["group"] == g and m["due"] is not None and m["due"] > self.now), default=float("inf"))
        return [w for w in self.waiting(g) if w[0] < first_held]

    @rule(rows=st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 6)), min_size=1, max_size=6))
    def send(self, rows):
        bodies = []
        for g, d in rows:
            self.n += 1
            bodies.append(f"m{self.n}")
        status, ids, _, seqs, dups = self.q.send_fifo(self.now, bodies, [g for g, _ in rows],
                                                      [str(d) for _, d in rows])
        assert status is None
        for k, ((g, d), body) in enumerate(zip(rows, bodies)):
            key = (g, d) if self.scope else d
            seen = self.dedup.get(key)
            if seen is not None and seen[0] > self.now:
                assert dups is not None and dups[k] == 1
                assert (ids[k], int(seqs[k])) == (seen[1], seen[2])
                continue
            assert dups is None or dups[k] == 0
            seq = int(seqs[k])
            assert seq > self.last_seq
            self.last_seq = seq
            self.dedup[key] = (self.now + self.WINDOW, ids[k], seq)
            self.msgs[ids[k]] = {"body": body, "group": g, "seq": seq, "handle": None, "due": None, "rc": 0}

    @rule(n=st.integers(1, 8), vis=st.sampled_from([0, 500, 5_000]))
    def receive(self, n, vis):
        eligible = {g: self.receivable(g) for g in "abc"}
        got = self.q.receive(self.now, n, vis, fifo_cols=True)
        moved = got.moved
        assert moved is None
        assert len(got.ids) == min(n, sum(len(w) for w in eligible.values()))
        seen_groups = []
        for i, h, body, rc, g in zip(got.ids, got.handles, got.bodies, got.receive_counts, got.groups):
            if not seen_groups or seen_groups[-1] != g:
                assert g not in seen_groups                  # one group as far as it goes, then the next
                seen_groups.append(g)
            assert g in eligible
            assert eligible[g] and eligible[g].pop(0)[1] == i   # in sequence order
            m = self.msgs[i]
            assert body == m["body"] and rc == m["rc"] + 1
            m["rc"] = rc
            m["handle"] = h
            m["due"] = self.now + vis
            self.handles.append((h, i))

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def delete(self, data):
        h, i = data.draw(st.sampled_from(self.handles))
        res = self.q.delete(self.now, [h])
        m = self.msgs.get(i)
        if m is not None and m["handle"] == h:
            if m["due"] is not None and m["due"] > self.now:
                assert res is None
                del self.msgs[i]
            else:
                assert res == bytes([_core.HANDLE_NOT_INFLIGHT])
        else:
            assert res == bytes([_core.HANDLE_STALE])

    @precondition(lambda self: self.handles)
    @rule(data=st.data(), vis=st.sampled_from([0, 100, 10_000]))
    def change(self, data, vis):
        h, i = data.draw(st.sampled_from(self.handles))
        res = self.q.change_visibility(self.now, [h], [vis], 10**9)
        m = self.msgs.get(i)
        if m is None or m["handle"] != h:
            assert res == bytes([_core.HANDLE_STALE])
        elif m["due"] is None or m["due"] <= self.now:
            assert res == bytes([_core.HANDLE_NOT_INFLIGHT])
        else:
            assert res == bytes([0])
            m["due"] = self.now + vis

    @rule(dt=st.sampled_from([1, 499, 500, 1000, 5_000, 10_000]))
    def advance(self, dt):
        self.now += dt

    @invariant()
    def counts_match(self):
        if not hasattr(self, "q"):
            return
        st_ = self.q.stats(self.now)
        inflight = sum(1 for m in self.msgs.values() if m["due"] is not None and m["due"] > self.now)
        assert (st_["visible"], st_["inflight"], st_["delayed"]) == (len(self.msgs) - inflight, inflight, 0)
        assert st_["groups"] == len({m["group"] for m in self.msgs.values()})
        assert st_["dedups"] == sum(1 for e in self.dedup.values() if e[0] > self.now)


TestFifoMachine = FifoMachine.TestCase
TestFifoMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                    suppress_health_check=[HealthCheck.too_slow])


def test_a_receive_bigger_than_its_buffer_goes_on_in_the_same_group():
    q = make()
    big = "x" * 10_000                       # the first buffer holds one body: the call goes on in rounds
    send(q, 0, [(big, "g", str(k)) for k in range(20)] + [(big, "h", f"h{k}") for k in range(5)])
    got = q.receive(0, 30, 1000, fifo_cols=True)
    assert got.groups == ["g"] * 20 + ["h"] * 5 and got.dedups == [str(k) for k in range(20)] + [f"h{k}" for k in range(5)]
    send(q, 0, [(big, "i", f"i{k}") for k in range(3)] + [(big, "j", f"j{k}") for k in range(3)])
    taken = q.receive(0, 5, 0, remove=True)
    assert taken.dedups == ["i0", "i1", "i2", "j0", "j1"]


def test_threads_never_share_a_message_and_groups_stay_ordered():
    import threading
    q = make()
    n_senders, per, batch = 4, 1000, 100          # 100-row batches: the C work runs without the GIL
    got = []
    lock = threading.Lock()
    done = threading.Event()

    def sender(t):
        for b in range(0, per, batch):
            rows = [(f"{t}:{k}", f"g{t}.{k % 3}", f"{t}.{k}") for k in range(b, b + batch)]
            stored = send(q, 0, rows)
            assert stored.status is None and stored.dups is None

    def receiver():
        while True:
            cols = q.receive(0, 100, 10**9)
            if cols.ids:
                with lock:
                    got.extend(cols.bodies)
                assert q.delete(0, cols.handles) is None
            elif done.is_set():
                return

    senders = [threading.Thread(target=sender, args=(t,)) for t in range(n_senders)]
    receivers = [threading.Thread(target=receiver) for _ in range(3)]
    for t in senders + receivers:
        t.start()
    for t in senders:
        t.join()
    done.set()
    for t in receivers:
        t.join()
    assert len(got) == n_senders * per and len(set(got)) == len(got)
    # a group is held until its batch is deleted, and each batch was recorded before its delete:
    # in the order recorded, every group's messages come in send order
    by_group = {}
    for body in got:
        t, k = map(int, body.split(":"))
        by_group.setdefault((t, k % 3), []).append(k)
    assert all(ks == sorted(ks) for ks in by_group.values())
    assert q.counts(0)[:3] == (0, 0, 0) and q.stats(0)["groups"] == 0

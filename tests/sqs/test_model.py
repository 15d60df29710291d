"""Model-level tests: the typed domain API (named results), bounded structures, and hypothesis
state machines that run random operation sequences against a naive reference model."""
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import engine
from engine import _core
from engine.sqs.models import AttributeValue, FifoQueue, OutgoingMessage, Queue, SentMessage


@pytest.fixture
def backend(eng):
    return eng.backend("sqs")


def test_native_api(backend, clock):
    q = backend.create_queue("native")
    assert isinstance(q, Queue) and not isinstance(q, FifoQueue)
    stored = q.send_raw(["a", "b", "\x00bad", "c"])
    assert stored.status == bytes([0, 0, _core.SEND_BAD_TEXT, 0]) and stored.ids[2] is None
    assert q.send_error("\x00bad", stored.status[2]).response["Error"]["Code"] == "InvalidMessageContents"
    assert q.approximate_number_of_messages == 3
    got = q.receive(max_messages=10, visibility_timeout=30)
    assert got.bodies == ["a", "b", "c"] and got.receive_counts == [1, 1, 1] and got.ids == stored.ids[:2] + [
        stored.ids[3]]
    assert q.delete_batch(got.handles) == [None, None, None]
    assert q.approximate_number_of_messages_not_visible == 0
    m = q.send("x")
    assert isinstance(m, SentMessage) and m.md5 == "9dd4e461268c8034f5c8564e155c67a6" and m.attrs_md5 is None
    sent = q.send_batch([OutgoingMessage("y", delay=5), ("z", None, {"k": AttributeValue("String", "v")}),
                         OutgoingMessage("")])
    assert sent[0].id and sent[1].attrs_md5 and sent[2].response["Error"]["Code"] == "MissingRequiredParameterException"
    assert q.approximate_number_of_messages_delayed == 1
    fifo = backend.create_queue("n.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"})
    assert isinstance(fifo, FifoQueue)
    m = fifo.send("y", group="g")
    assert m.seq.isdigit() and fifo.send("y", group="g") == m   # deduplicated by content
    got = fifo.receive(1, fifo_cols=True)
    assert got.groups == ["g"] and len(got.dedups[0]) == 64 and got.seqs == [m.seq]


def test_entries_sharing_one_attribute_map_are_each_checked_and_digested(backend, sqs):
    """send_batch checks and digests a map object given to many entries once: every entry still
    gets the digest its own attributes have, a message too long with them fails alone, and a map
    that is not valid refuses every entry that carries it."""
    url = sqs.create_queue(QueueName="shared", Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    q = backend.get_queue("shared")
    attrs = {"k": AttributeValue("String", "v" * 100)}
    one = q.send_batch([OutgoingMessage("solo", None, {"k": AttributeValue("String", "v" * 100)})])[0]
    sent = q.send_batch([OutgoingMessage("a", None, attrs), OutgoingMessage("x" * 1000, None, attrs),
                         OutgoingMessage("b", None, attrs), OutgoingMessage("c")])
    assert sent[0].attrs_md5 == sent[2].attrs_md5 == one.attrs_md5 and sent[3].attrs_md5 is None
    assert sent[1].response["Error"]["Code"] == "InvalidParameterValue"
    bad = {"k": AttributeValue("Strung", "v")}
    refused = q.send_batch([OutgoingMessage("d", None, bad), OutgoingMessage("e", None, bad)])
    assert [r.response["Error"]["Code"] for r in refused] == ["InvalidParameterValue"] * 2
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["Body"] for m in got) == ["a", "b", "c", "solo"]
    for m in got:
        if m["Body"] != "c":
            assert m["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": "v" * 100}}
            assert m["MD5OfMessageAttributes"] == one.attrs_md5


def test_store_stays_bounded_behind_a_long_lived_message(backend, clock):
    q = backend.create_queue("bounded")
    q.send_raw(["stuck"])
    q.receive(1, visibility_timeout=43200)  # in flight for 12 h
    for _ in range(3000):
        q.send_raw(["x"] * 10)
        q.delete_batch(q.receive(10, visibility_timeout=30).handles)
    assert q.approximate_number_of_messages == 0
    st = q.stats()                        # the native store: one timed entry per live message
    assert st["heap"] == 1 and st["inflight"] == 1
    assert st["slots"] <= 4096            # slots of deleted messages are reused
    assert st["chunks"] <= 2              # and so is the body arena
    assert st["extras"] == 0


def test_fifo_store_stays_bounded_behind_a_long_lived_message(backend, clock):
    q = backend.create_queue("bounded.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"})
    q.send("stuck", group="s")
    q.receive(1, visibility_timeout=43200)  # in flight for 12 h
    for i in range(3000):
        q.send_raw([f"x{i}.{k}" for k in range(10)], [f"g{k}" for k in range(10)], [f"{i}.{k}" for k in range(10)])
        q.delete_batch(q.receive(10, visibility_timeout=30).handles)
    assert q.approximate_number_of_messages == 0
    st = q.stats()
    assert st["heap"] == 1 and st["inflight"] == 1
    assert st["slots"] <= 4096
    assert st["chunks"] <= 2
    assert st["groups"] == 1              # empty groups are released
    assert st["dedups"] == 30_001         # deduplication ids stay for 5 minutes
    clock.advance(301)
    assert q.stats()["dedups"] == 0


@pytest.mark.parametrize("fifo", [False, True])
def test_dead_letters_stay_put_when_the_dlq_vanishes_mid_move(backend, clock, monkeypatch, fifo):
    suffix = ".fifo" if fifo else ""
    attrs = {"FifoQueue": "true"} if fifo else {}
    dlq = backend.create_queue("dlq" + suffix, attrs)
    src = backend.create_queue("src" + suffix, {**attrs, "VisibilityTimeout": "5", "RedrivePolicy": (
        '{"deadLetterTargetArn": "%s", "maxReceiveCount": 1}' % dlq.arn)})
    sent = src.send("poison", group="g", dedup="d") if fifo else src.send("poison")
    assert len(src.receive(1)) == 1
    clock.advance(5)
    real = backend.queue_by_arn
    calls = []

    def racing(arn):  # the DLQ exists for the check, and is gone when the move happens
        calls.append(arn)
        return real(arn) if len(calls) == 1 else None
    monkeypatch.setattr(backend, "queue_by_arn", racing)
    assert not src.receive(1).ids
    monkeypatch.setattr(backend, "queue_by_arn", real)
    assert src.approximate_number_of_messages == 1 and dlq.approximate_number_of_messages == 0  # not lost
    assert not src.receive(1).ids  # the DLQ is back: this receive moves it
    got = dlq.receive(1)
    assert list(zip(got.ids, got.bodies)) == [(sent.id, "poison")]
    assert got.extras[0].dlq_source == src.arn


def test_timed_transitions_run_in_deadline_order(backend, clock):
    q = backend.create_queue("timed")
    for delay in (30, 10, 20):
        q.send(f"d{delay}", delay=delay)
    clock.advance(10)
    assert q.receive(10).bodies == ["d10"]
    clock.advance(10)
    assert q.receive(10).bodies == ["d20"]
    assert q.stats()["next_due_ms"] == int((clock.now() + 10) * 1000)  # the d30 delay, before any visibility


# --- a standard queue against a reference model --------------------------------------------------
class StandardQueueMachine(RuleBasedStateMachine):
    RETENTION = 120

    @initialize()
    def setup(self):
        self.clock = engine.ManualClock(start=1_000_000.0)
        self.eng = engine.Engine(clock=self.clock)
        self.sqs = self.eng.client("sqs")
        self.url = self.sqs.create_queue(QueueName="m", Attributes={
            "MessageRetentionPeriod": str(self.RETENTION)})["QueueUrl"]
        self.ref = {}       # id -> dict(sent, at, received, handle, rc, deleted)
        self.handles = []   # every handle ever issued: (handle, id)

    def teardown(self):
        self.eng.close()

    def now(self):
        return self.clock.now()

    def live(self):
        now = self.now()
        return {i: r for i, r in self.ref.items() if not r["deleted"] and r["sent"] + self.RETENTION > now}

    def receivable(self):
        now = self.now()
        return {i for i, r in self.live().items() if r["at"] <= now}

    @rule(n=st.integers(1, 10), delay=st.sampled_from([None, 0, 5, 30]))
    def send(self, n, delay):
        entries = [{"Id": f"e{k}", "MessageBody": f"b{len(self.ref) + k}"} for k in range(n)]
        if delay is not None:
            for e in entries:
                e["DelaySeconds"] = delay
        out = self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
        assert len(out["Successful"]) == n
        for e in out["Successful"]:
            self.ref[e["MessageId"]] = {"sent": self.now(), "at": self.now() + (delay or 0), "received": False,
                                        "handle": None, "rc": 0, "deleted": False}

    @rule(n=st.integers(1, 10), vt=st.sampled_from([0, 1, 10, 60]))
    def receive(self, n, vt):
        expected = min(n, len(self.receivable()))
        candidates = self.receivable()
        got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=n, VisibilityTimeout=vt,
                                       AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        assert len(got) == expected
        ids = [m["MessageId"] for m in got]
        assert len(set(ids)) == len(ids) and set(ids) <= candidates
        for m in got:
            r = self.ref[m["MessageId"]]
            r["rc"] += 1
            assert m["Attributes"]["ApproximateReceiveCount"] == str(r["rc"])
            r["received"] = True
            r["handle"] = m["ReceiptHandle"]
            r["at"] = self.now() + vt
            self.handles.append((m["ReceiptHandle"], m["MessageId"]))

    @precondition(lambda self: self.handles)
    @rule(pick=st.integers(0, 10**6))
    def delete(self, pick):
        h, mid = self.handles[pick % len(self.handles)]
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=h)
        r = self.ref[mid]
        if r["handle"] == h:  # only the latest handle deletes
            r["deleted"] = True

    @precondition(lambda self: self.handles)
    @rule(pick=st.integers(0, 10**6), vt=st.sampled_from([0, 3, 40]))
    def change_visibility(self, pick, vt):
        h, mid = self.handles[pick % len(self.handles)]
        r = self.ref[mid]
        latest_in_flight = (r["handle"] == h and not r["deleted"] and r["at"] > self.now()
                            and r["sent"] + self.RETENTION > self.now())
        try:
            self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=h, VisibilityTimeout=vt)
        except self.sqs.exceptions.InvalidParameterValue:
            assert r["handle"] != h or r["deleted"] or r["sent"] + self.RETENTION <= self.now()
            return
        if latest_in_flight:
            r["at"] = self.now() + vt

    @rule(dt=st.sampled_from([1, 2, 5, 30]))
    def advance(self, dt):
        self.clock.advance(dt)

    @invariant()
    def counts_match(self):
        if not hasattr(self, "sqs"):
            return
        a = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        now = self.now()
        live = self.live()
        visible = sum(1 for r in live.values() if r["at"] <= now)
        inflight = sum(1 for r in live.values() if r["at"] > now and r["received"])
        delayed = sum(1 for r in live.values() if r["at"] > now and not r["received"])
        assert (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
                int(a["ApproximateNumberOfMessagesDelayed"])) == (visible, inflight, delayed)


TestStandardQueueMachine = StandardQueueMachine.TestCase
TestStandardQueueMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                             suppress_health_check=[HealthCheck.too_slow])


# --- a FIFO queue against a reference model --------------------------------------------------------
class FifoQueueMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.clock = engine.ManualClock(start=1_000_000.0)
        self.eng = engine.Engine(clock=self.clock)
        self.sqs = self.eng.client("sqs")
        self.url = self.sqs.create_queue(QueueName="m.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        self.groups = {}   # group -> [message ids in send order]
        self.ref = {}      # id -> dict(group, at, received, handle, deleted)
        self.dedup = {}    # dedup id -> (expiry, message id)
        self.handles = []
        self.counter = 0

    def teardown(self):
        self.eng.close()

    def deliverable(self):
        """group -> ids that may be delivered now, in order: the group's messages before its first
        message in flight (that one holds the rest of the group)."""
        now = self.clock.now()
        out = {}
        for g, ids in self.groups.items():
            ready = []
            for i in ids:
                r = self.ref[i]
                if r["deleted"]:
                    continue
                if r["at"] > now:
                    break
                ready.append(i)
            if ready:
                out[g] = ready
        return out

    @rule(group=st.sampled_from("abc"), dup=st.booleans())
    def send(self, group, dup):
        now = self.clock.now()
        if dup and self.dedup:
            dedup = sorted(self.dedup)[0]
        else:
            self.counter += 1
            dedup = f"d{self.counter}"
        out = self.sqs.send_message(QueueUrl=self.url, MessageBody=f"{group}{self.counter}", MessageGroupId=group,
                                    MessageDeduplicationId=dedup)
        seen = self.dedup.get(dedup)
        if seen and seen[0] > now:
            assert out["MessageId"] == seen[1]
            return
        self.dedup[dedup] = (now + 300, out["MessageId"])
        self.groups.setdefault(group, []).append(out["MessageId"])
        self.ref[out["MessageId"]] = {"group": group, "at": now, "received": False, "handle": None, "deleted": False}

    @rule(n=st.integers(1, 10), vt=st.sampled_from([0, 5, 20]))
    def receive(self, n, vt):
        ready = self.deliverable()
        got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=n, VisibilityTimeout=vt).get("Messages", [])
        assert len(got) == min(n, sum(len(v) for v in ready.values()))
        per_group = {}
        for m in got:
            r = self.ref[m["MessageId"]]
            assert r["group"] in ready
            per_group.setdefault(r["group"], []).append(m["MessageId"])
        for g, ids in per_group.items():
            assert ids == ready[g][:len(ids)]  # a prefix of the group, in order
        for m in got:
            r = self.ref[m["MessageId"]]
            r.update(received=True, handle=m["ReceiptHandle"], at=self.clock.now() + vt)
            self.handles.append((m["ReceiptHandle"], m["MessageId"]))

    @precondition(lambda self: self.handles)
    @rule(pick=st.integers(0, 10**6))
    def delete(self, pick):
        h, mid = self.handles[pick % len(self.handles)]
        r = self.ref[mid]
        in_flight = r["handle"] == h and not r["deleted"] and r["at"] > self.clock.now()
        try:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=h)
            assert in_flight
            r["deleted"] = True
        except self.sqs.exceptions.InvalidParameterValue:
            assert not in_flight

    @rule(dt=st.sampled_from([1, 5, 20, 400]))
    def advance(self, dt):
        self.clock.advance(dt)

    @invariant()
    def counts_match(self):
        if not hasattr(self, "sqs"):
            return
        a = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        now = self.clock.now()
        live = [r for r in self.ref.values() if not r["deleted"]]
        assert int(a["ApproximateNumberOfMessagesNotVisible"]) == sum(1 for r in live if r["at"] > now)
        assert int(a["ApproximateNumberOfMessages"]) == sum(1 for r in live if r["at"] <= now)


TestFifoQueueMachine = FifoQueueMachine.TestCase
TestFifoQueueMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])

"""Threads: long polling (woken by another thread, or at WaitTimeSeconds on the engine clock),
concurrent receivers, concurrent senders. No test sleeps for more than a fraction of a second."""
import sys
import threading
import time

import pytest

import engine

from .conftest import entries


class Poller(threading.Thread):
    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.result = None
        self.error = None
        self.done = threading.Event()

    def run(self):
        try:
            self.result = self.fn()
        except Exception as err:  # pragma: no cover - reported by the test
            self.error = err
        finally:
            self.done.set()


def start(fn):
    p = Poller(fn)
    p.start()
    return p


def test_long_poll_returns_when_another_thread_sends(sqs, queue_url, clock):
    t0 = clock.now()
    p = start(lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20))
    assert not p.done.wait(0.15)  # waiting: the engine clock does not move
    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    assert p.done.wait(2), "the poller was not woken by the send"
    assert [m["Body"] for m in p.result["Messages"]] == ["hello"]
    assert clock.now() == t0  # no engine time passed


def test_long_poll_times_out_at_wait_time_seconds(sqs, queue_url, clock):
    p = start(lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5))
    assert not p.done.wait(0.1)
    clock.advance(4.9)
    assert not p.done.wait(0.15)
    clock.advance(0.1)
    assert p.done.wait(2)
    assert "Messages" not in p.result


def test_queue_wait_time_attribute_is_the_default(sqs, clock):
    url = sqs.create_queue(QueueName="lp", Attributes={"ReceiveMessageWaitTimeSeconds": "3"})["QueueUrl"]
    p = start(lambda: sqs.receive_message(QueueUrl=url))
    assert not p.done.wait(0.1)
    clock.advance(3)
    assert p.done.wait(2) and "Messages" not in p.result
    # WaitTimeSeconds=0 overrides the queue default: a short poll
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_long_poll_woken_by_a_delay_ending(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="later", DelaySeconds=10)
    p = start(lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20))
    assert not p.done.wait(0.1)
    clock.advance(10)
    assert p.done.wait(2)
    assert [m["Body"] for m in p.result["Messages"]] == ["later"]


def test_long_poll_woken_by_visibility_expiry(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=5)
    p = start(lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20))
    assert not p.done.wait(0.1)
    clock.advance(5)
    assert p.done.wait(2)
    assert len(p.result["Messages"]) == 1


def test_fifo_long_poll_woken_when_the_group_is_released(sqs, fifo_url, clock):
    for b in ("a", "b"):
        sqs.send_message(QueueUrl=fifo_url, MessageBody=b, MessageGroupId="g", MessageDeduplicationId=b)
    h = sqs.receive_message(QueueUrl=fifo_url)["Messages"][0]["ReceiptHandle"]
    p = start(lambda: sqs.receive_message(QueueUrl=fifo_url, WaitTimeSeconds=20))
    assert not p.done.wait(0.15)
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=h)
    assert p.done.wait(2)
    assert [m["Body"] for m in p.result["Messages"]] == ["b"]


def test_fifo_long_poll_with_visibility_zero_and_attribute_changes(sqs, fifo_url, clock):
    p = start(lambda: sqs.receive_message(QueueUrl=fifo_url, WaitTimeSeconds=20, VisibilityTimeout=0))
    assert not p.done.wait(0.1)
    sqs.set_queue_attributes(QueueUrl=fifo_url, Attributes={"DelaySeconds": "0"})  # with a poller waiting
    sqs.send_message(QueueUrl=fifo_url, MessageBody="a", MessageGroupId="g", MessageDeduplicationId="a")
    assert p.done.wait(2), "the poller was not woken (or deadlocked)"
    assert p.error is None and [m["Body"] for m in p.result["Messages"]] == ["a"]
    again = start(lambda: sqs.receive_message(QueueUrl=fifo_url, WaitTimeSeconds=20, VisibilityTimeout=0,
                                              ReceiveRequestAttemptId="x"))
    assert again.done.wait(2) and again.error is None
    assert [m["Body"] for m in again.result["Messages"]] == ["a"]


def test_deleting_the_queue_releases_pollers(sqs, queue_url):
    p = start(lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20))
    assert not p.done.wait(0.1)
    sqs.delete_queue(QueueUrl=queue_url)
    assert p.done.wait(2)
    assert "Messages" not in p.result


def test_long_poll_at_the_inflight_limit_waits_without_error(sqs, queue_url, clock, monkeypatch):
    from engine import limits
    monkeypatch.setattr(limits, "SQS_INFLIGHT_STANDARD_MAX", 1)
    sqs.send_message_batch(QueueUrl=queue_url, Entries=entries(2))
    sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=5)
    p = start(lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20, VisibilityTimeout=100))
    assert not p.done.wait(0.1)
    clock.advance(5)  # the first message's visibility ends: room for one more in flight
    assert p.done.wait(2) and p.error is None
    assert len(p.result["Messages"]) == 1


def test_many_pollers_each_message_once(sqs, queue_url):
    pollers = [start(lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20, MaxNumberOfMessages=10,
                                                 VisibilityTimeout=600)) for _ in range(4)]
    assert not any(p.done.wait(0.05) for p in pollers)
    for i in range(4):
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"m{i}")
        time.sleep(0.01)
    got = []
    deadline = time.monotonic() + 3
    for p in pollers:
        assert p.done.wait(max(0.0, deadline - time.monotonic()))
        got += [m["Body"] for m in p.result.get("Messages", [])]
    assert sorted(got) == ["m0", "m1", "m2", "m3"]


@pytest.fixture
def busy_switching():
    """Switch threads every microsecond so races show up in short tests."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_concurrent_receivers_never_share_a_visible_message(eng, sqs, queue_url, busy_switching):
    n = 4000
    for i in range(0, n, 10):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries(10, start=i))
    seen: list = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def worker():
        mine = []
        client = eng.client("sqs")
        barrier.wait()
        while True:
            got = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", [])
            if not got:
                break
            mine += [(m["MessageId"], m["ReceiptHandle"]) for m in got]
            if len(mine) % 50 == 0:  # delete some, keep others in flight
                client.delete_message_batch(QueueUrl=queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": h} for i, (_, h) in enumerate(mine[-10:])])
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    ids = [mid for mid, _ in seen]
    assert len(ids) == n and len(set(ids)) == n  # every message exactly once inside its visibility window
    assert len({h for _, h in seen}) == n


def test_concurrent_senders_get_unique_ids_and_lose_nothing(eng, sqs, queue_url, busy_switching):
    per_thread = 500

    def sender(k):
        client = eng.client("sqs")
        ids = []
        for i in range(0, per_thread, 10):
            out = client.send_message_batch(QueueUrl=queue_url, Entries=entries(10, body=f"t{k}-{{}}", start=i))
            ids += [e["MessageId"] for e in out["Successful"]]
        for i in range(10):
            ids.append(client.send_message(QueueUrl=queue_url, MessageBody=f"single-{k}-{i}")["MessageId"])
        return ids

    results = []
    threads = [threading.Thread(target=lambda k=k: results.append(sender(k))) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    ids = [i for r in results for i in r]
    assert len(ids) == 4 * (per_thread + 10) == len(set(ids))
    a = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert int(a["ApproximateNumberOfMessages"]) == len(ids)


def test_fifo_order_with_concurrent_consumers(eng, sqs, fifo_url, busy_switching):
    groups = 8
    per_group = 40
    for i in range(per_group):
        sqs.send_message_batch(QueueUrl=fifo_url, Entries=[
            {"Id": f"g{g}", "MessageBody": f"{g}:{i}", "MessageGroupId": f"g{g}", "MessageDeduplicationId": f"{g}:{i}"}
            for g in range(groups)])
    order: list = []
    lock = threading.Lock()

    def worker():
        client = eng.client("sqs")
        idle = 0
        while idle < 20:
            got = client.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                idle += 1
                time.sleep(0.001)
                continue
            idle = 0
            with lock:  # record in processing order, then acknowledge
                order.extend(m["Body"] for m in got)
            client.delete_message_batch(QueueUrl=fifo_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(order) == groups * per_group
    for g in range(groups):
        assert [int(b.split(":")[1]) for b in order if b.startswith(f"{g}:")] == list(range(per_group))


def test_wall_clock_long_poll_wakes_promptly():
    with engine.Engine() as eng:  # real time
        sqs = eng.client("sqs")
        url = sqs.create_queue(QueueName="wall")["QueueUrl"]
        t0 = time.monotonic()
        p = start(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20))
        time.sleep(0.05)
        sqs.send_message(QueueUrl=url, MessageBody="now")
        assert p.done.wait(2)
        assert p.result["Messages"][0]["Body"] == "now"
        assert time.monotonic() - t0 < 1.0
        # a short wait on the real clock returns empty after WaitTimeSeconds (1 s is the smallest: skip);
        # a delayed message on the real clock wakes a poller when it becomes visible
        sqs.send_message(QueueUrl=url, MessageBody="soon", DelaySeconds=0)


def test_engine_close_releases_pollers():
    eng = engine.Engine(clock=engine.ManualClock())
    sqs = eng.client("sqs")
    url = sqs.create_queue(QueueName="c")["QueueUrl"]
    p = start(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20))
    assert not p.done.wait(0.05)
    eng.close()
    assert p.done.wait(2)

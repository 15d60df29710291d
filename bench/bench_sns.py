"""SNS fan-out benchmarks: publish to a topic with 1, 10 and 100 SQS subscriptions, half of them
with a filter policy that matches half the messages, measured as SQS deliveries per second.

In each group (`fanout subs=N`), in the same run:
- engine, native API: `Topic.publish_many` (one fan-out per call, one SQS lock per subscription);
- engine, native API with RawMessageDelivery (no envelope: the SQS append alone);
- engine, boto3 shape: `sns.publish_batch` (10 entries per call) and `sns.publish` (one per call);
- moto's SNS (boto3 against moto.mock_aws, same topology), few messages: it is slow;
- a pure-Python baseline: the same fan-out done the obvious way (interpreted filter dicts,
  json.dumps of the envelope per delivery, a deque per queue).

Group `fifo publish_batch durability`: sns.publish_batch (10 entries, explicit deduplication ids)
to a FIFO topic with one FIFO SQS subscription, in memory (the baseline) and with a data dir in
flush and fsync mode, where each call also writes its deduplication records (and the queue its
messages) before it returns.

Every round starts from empty queues (purged in an untimed setup: a ManualClock moves past
the 60-second PurgeQueue interval), so rounds measure the same work. Each figure also records
`cpu_us_per_delivery`, the CPU time per delivery of its cheapest round.

    python -m pytest bench/bench_sns.py -p no:cacheprovider -o addopts= --benchmark-only
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from collections import deque

import pytest

import engine
from bench.conftest import record_info, scaled

SUBS = [1, 10, 100]
BODY_BYTES = 200
ROUNDS = 5
POLICY = {"kind": ["even"]}
# messages per round, so a round is 10-30 ms of engine work whatever the fan-out
MESSAGES = {1: scaled(2000, 100), 10: scaled(1000, 100), 100: scaled(200, 20)}
MOTO_MESSAGES = {1: 40, 10: 10, 100: 2}
FIFO_MESSAGES = scaled(2000, 100)


def deliveries_per_round(subs: int, messages: int) -> int:
    """Subscriptions without a policy get every message, those with one (every second) half."""
    filtered = subs // 2
    return messages * (subs - filtered) + (messages // 2) * filtered


def make_bodies(n: int) -> list[str]:
    return [f'{{"order": {i}, "pad": "{"x" * (BODY_BYTES - 30)}"}}'[:BODY_BYTES] for i in range(n)]


def kind_of(i: int) -> str:
    return "even" if i % 2 == 0 else "odd"


class Fanout:
    """An engine with one topic and `subs` SQS subscriptions (every second one filtered)."""

    def __init__(self, subs: int, raw: bool = False):
        self.clock = engine.ManualClock()
        self.eng = engine.Engine(clock=self.clock)
        self.sns = self.eng.client("sns")
        sqs = self.eng.backend("sqs")
        self.topic_arn = self.sns.create_topic(Name="bench")["TopicArn"]
        self.topic = self.eng.backend("sns").topics[self.topic_arn]
        self.queues = []
        for i in range(subs):
            q = sqs.create_queue(f"q{i}")
            self.queues.append(q)
            attrs = {"RawMessageDelivery": "true"} if raw else {}
            if i % 2 == 1:
                attrs["FilterPolicy"] = json.dumps(POLICY)
            self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=q.arn, Attributes=attrs)

    def empty_queues(self):
        self.clock.advance(61)  # past the PurgeQueue interval
        for q in self.queues:
            q.purge()

    def delivered(self) -> int:
        return sum(q.approximate_number_of_messages for q in self.queues)

    def close(self):
        self.eng.close()


def cpu_timed(benchmark, fn, deliveries: int):
    """fn, also recording the CPU time per delivery of its cheapest round (the machine is shared:
    wall time carries other jobs' load, CPU time less so)."""
    rounds = []

    def timed():
        start = time.process_time()
        fn()
        rounds.append(time.process_time() - start)
        benchmark.extra_info["cpu_us_per_delivery"] = round(min(rounds) / deliveries * 1e6, 3)
    return timed


def run_pedantic(benchmark, fanout: Fanout, fn, expected: int):
    benchmark.pedantic(cpu_timed(benchmark, fn, expected), setup=fanout.empty_queues, rounds=ROUNDS, iterations=1,
                       warmup_rounds=1)
    assert fanout.delivered() == expected


@pytest.mark.parametrize("subs", SUBS)
def test_native_publish_many(benchmark, subs):
    n = MESSAGES[subs]
    fanout = Fanout(subs)
    bodies = make_bodies(n)
    attributes = [{"kind": ("String", kind_of(i))} for i in range(n)]
    chunk = 100
    per_round = deliveries_per_round(subs, n)
    benchmark.group = f"fanout subs={subs}"
    record_info(benchmark, records=per_round, bytes_=per_round * BODY_BYTES, kind="engine",
                api="Topic.publish_many", subscriptions=subs)

    def run():
        for i in range(0, n, chunk):
            fanout.topic.publish_many(bodies[i:i + chunk], attributes=attributes[i:i + chunk])

    run_pedantic(benchmark, fanout, run, per_round)
    fanout.close()


@pytest.mark.parametrize("subs", SUBS)
def test_native_publish_many_raw(benchmark, subs):
    n = MESSAGES[subs]
    fanout = Fanout(subs, raw=True)
    bodies = make_bodies(n)
    attributes = [{"kind": ("String", kind_of(i))} for i in range(n)]
    per_round = deliveries_per_round(subs, n)
    benchmark.group = f"fanout subs={subs}"
    record_info(benchmark, records=per_round, bytes_=per_round * BODY_BYTES, kind="engine",
                api="Topic.publish_many (raw delivery)", subscriptions=subs)

    def run():
        for i in range(0, n, 100):
            fanout.topic.publish_many(bodies[i:i + 100], attributes=attributes[i:i + 100])

    run_pedantic(benchmark, fanout, run, per_round)
    fanout.close()


def batch_requests(n: int) -> list[list[dict]]:
    bodies = make_bodies(n)
    return [[{"Id": f"e{j}", "Message": bodies[i + j],
              "MessageAttributes": {"kind": {"DataType": "String", "StringValue": kind_of(i + j)}}}
             for j in range(min(10, n - i))] for i in range(0, n, 10)]


@pytest.mark.parametrize("subs", SUBS)
def test_client_publish_batch(benchmark, subs):
    n = MESSAGES[subs]
    fanout = Fanout(subs)
    requests = batch_requests(n)
    per_round = deliveries_per_round(subs, n)
    benchmark.group = f"fanout subs={subs}"
    record_info(benchmark, records=per_round, bytes_=per_round * BODY_BYTES, kind="engine",
                api="sns.publish_batch", subscriptions=subs)
    sns, arn = fanout.sns, fanout.topic_arn

    def run():
        for entries in requests:
            sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)

    run_pedantic(benchmark, fanout, run, per_round)
    fanout.close()


@pytest.mark.parametrize("subs", SUBS)
def test_client_publish(benchmark, subs):
    n = MESSAGES[subs]
    fanout = Fanout(subs)
    bodies = make_bodies(n)
    attrs = [{"kind": {"DataType": "String", "StringValue": kind_of(i)}} for i in range(n)]
    per_round = deliveries_per_round(subs, n)
    benchmark.group = f"fanout subs={subs}"
    record_info(benchmark, records=per_round, bytes_=per_round * BODY_BYTES, kind="engine", api="sns.publish",
                subscriptions=subs)
    sns, arn = fanout.sns, fanout.topic_arn

    def run():
        for body, ma in zip(bodies, attrs):
            sns.publish(TopicArn=arn, Message=body, MessageAttributes=ma)

    run_pedantic(benchmark, fanout, run, per_round)
    fanout.close()


@pytest.mark.parametrize("durability", ["memory", "flush", "fsync"])
def test_fifo_publish_batch_durability(benchmark, durability):
    root = tempfile.mkdtemp(prefix="bench-sns-fifo-")
    clock = engine.ManualClock()
    eng = engine.Engine(clock=clock, data_dir=None if durability == "memory" else root, durability=durability)
    sns, sqs = eng.client("sns"), eng.client("sqs")
    arn = sns.create_topic(Name="bench.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    bodies = make_bodies(FIFO_MESSAGES)
    rounds = iter(range(1 << 30))
    benchmark.group = "fifo publish_batch durability"
    record_info(benchmark, records=FIFO_MESSAGES, bytes_=FIFO_MESSAGES * BODY_BYTES,
                kind="baseline" if durability == "memory" else "engine",
                api=f"sns.publish_batch FIFO, durability={durability}")

    def empty():
        clock.advance(61)
        sqs.purge_queue(QueueUrl=url)

    def run():
        r = next(rounds)   # (deduplication ids new in every round)
        for i in range(0, FIFO_MESSAGES, 10):
            sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
                {"Id": str(j), "Message": bodies[i + j], "MessageGroupId": str(j % 4),
                 "MessageDeduplicationId": f"{r}-{i + j}"} for j in range(min(10, FIFO_MESSAGES - i))])

    benchmark.pedantic(cpu_timed(benchmark, run, FIFO_MESSAGES), setup=empty, rounds=ROUNDS, iterations=1,
                       warmup_rounds=1)
    eng.close()
    shutil.rmtree(root, ignore_errors=True)


class PythonFanout:
    """The pure-Python baseline: what a straightforward emulator does per message."""

    def __init__(self, subs: int):
        self.arn = "arn:aws:sns:us-east-1:000000000000:bench"
        self.subs = [{"arn": f"{self.arn}:{uuid.uuid4()}", "queue": deque(),
                      "policy": POLICY if i % 2 == 1 else None} for i in range(subs)]

    @staticmethod
    def matches(policy, attributes) -> bool:
        for key, allowed in policy.items():
            attr = attributes.get(key)
            if attr is None or attr["StringValue"] not in allowed:
                return False
        return True

    def publish(self, message: str, attributes: dict) -> str:
        mid = str(uuid.uuid4())
        for sub in self.subs:
            if sub["policy"] is not None and not self.matches(sub["policy"], attributes):
                continue
            envelope = {"Type": "Notification", "MessageId": mid, "TopicArn": self.arn, "Message": message,
                        "Timestamp": "2023-11-14T22:13:20.000Z", "SignatureVersion": "1", "Signature": "x" * 344,
                        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
                        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&"
                                          f"SubscriptionArn={sub['arn']}",
                        "MessageAttributes": {k: {"Type": v["DataType"], "Value": v["StringValue"]}
                                              for k, v in attributes.items()}}
            sub["queue"].append(json.dumps(envelope, indent=2))
        return mid


@pytest.mark.parametrize("subs", SUBS)
def test_python_baseline(benchmark, subs):
    n = MESSAGES[subs]
    fan = PythonFanout(subs)
    bodies = make_bodies(n)
    attrs = [{"kind": {"DataType": "String", "StringValue": kind_of(i)}} for i in range(n)]
    per_round = deliveries_per_round(subs, n)
    benchmark.group = f"fanout subs={subs}"
    record_info(benchmark, records=per_round, bytes_=per_round * BODY_BYTES, kind="baseline", api="pure Python",
                subscriptions=subs)

    def clear():
        for sub in fan.subs:
            sub["queue"].clear()

    def run():
        for body, ma in zip(bodies, attrs):
            fan.publish(body, ma)

    benchmark.pedantic(cpu_timed(benchmark, run, per_round), setup=clear, rounds=ROUNDS, iterations=1,
                       warmup_rounds=1)
    assert sum(len(s["queue"]) for s in fan.subs) == per_round


@pytest.mark.parametrize("subs", SUBS)
def test_moto(benchmark, subs):
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    n = MOTO_MESSAGES[subs]
    bodies = make_bodies(n)
    per_round = deliveries_per_round(subs, n)
    benchmark.group = f"fanout subs={subs}"
    record_info(benchmark, records=per_round, bytes_=per_round * BODY_BYTES, kind="moto", api="moto",
                subscriptions=subs)
    creds = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    with moto.mock_aws():
        sns = boto3.client("sns", **creds)
        sqs = boto3.client("sqs", **creds)
        arn = sns.create_topic(Name="bench")["TopicArn"]
        for i in range(subs):
            url = sqs.create_queue(QueueName=f"q{i}")["QueueUrl"]
            qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attrs = {"FilterPolicy": json.dumps(POLICY)} if i % 2 == 1 else {}
            sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn, Attributes=attrs)

        def run():
            for i, body in enumerate(bodies):
                sns.publish(TopicArn=arn, Message=body,
                            MessageAttributes={"kind": {"DataType": "String", "StringValue": kind_of(i)}})

        benchmark.pedantic(run, rounds=2, iterations=1)

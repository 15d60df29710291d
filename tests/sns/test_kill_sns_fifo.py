"""SNS FIFO with a data dir, SIGKILLed (issue 13): a subprocess publishes to a FIFO topic (Publish
and PublishBatch, explicit and content-based deduplication ids) with a FIFO and a standard SQS
queue subscribed, and reports each acknowledged MessageId and SequenceNumber on a pipe; it is
killed at a random moment and restarted on the same data dir. Sequence numbers grow across the
restarts; every acknowledged publish, repeated afterwards inside its window, gets its MessageId
and SequenceNumber back and reaches no queue again; each queue holds every acknowledged message
once. ENGINE_SOAK=1 runs many more rounds."""
import os
import random
import shutil
import textwrap
import time
from collections import Counter

import pytest

import engine
from tests.killing import run_until_killed

ITERATIONS = 40 if os.environ.get("ENGINE_SOAK") else 2

WRITER = textwrap.dedent("""
    import os, random, sys
    import engine
    data_dir, durability, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = os.fdopen(int(sys.argv[4]), "w", buffering=1)
    rng = random.Random(seed)
    eng = engine.Engine(data_dir=data_dir, durability=durability)
    sns, sqs = eng.client("sns"), eng.client("sqs")
    topic = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true",
                                                       "ContentBasedDeduplication": "true"})["TopicArn"]
    for name, attributes in (("q.fifo", {"FifoQueue": "true"}), ("std", {})):
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    out.write("ready\\n")
    n = 0
    while True:
        if rng.random() < 0.5:   # content-based: the body is the deduplication key
            body = f"{seed}-{n}"
            got = sns.publish(TopicArn=topic, Message=body, MessageGroupId=f"g{n % 3}")
            out.write(f"P {body} - g{n % 3} {got['MessageId']} {got['SequenceNumber']}\\n")
            n += 1
        else:
            bodies = [f"{seed}-{n + i}" for i in range(rng.randint(1, 10))]
            got = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                {"Id": str(i), "Message": b, "MessageGroupId": "b", "MessageDeduplicationId": "d" + b}
                for i, b in enumerate(bodies)])["Successful"]
            out.write("".join(f"P {b} d{b} b {r['MessageId']} {r['SequenceNumber']}\\n" for b, r in zip(bodies, got)))
            n += len(bodies)
""")


def look(data_dir, copy_dir, acks):
    """From a copy of the data dir: each queue's messages, then every acknowledged publish made
    again (its answer and what reached the queues after it)."""
    shutil.rmtree(copy_dir, ignore_errors=True)
    shutil.copytree(data_dir, copy_dir)
    with engine.Engine(clock=engine.ManualClock(time.time()), data_dir=str(copy_dir)) as eng:
        sns, sqs = eng.client("sns"), eng.client("sqs")
        topic = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true",
                                                           "ContentBasedDeduplication": "true"})["TopicArn"]
        urls = [sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in ("q.fifo", "std")]

        def drain():
            out = []
            for url in urls:
                bodies = []
                while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                    bodies += [m["Body"] for m in got]
                    sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
                out.append(bodies)
            return out

        held = drain()
        again = {}
        for _, body, dedup, group, _, _ in acks:
            extra = {} if dedup == "-" else {"MessageDeduplicationId": dedup}
            got = sns.publish(TopicArn=topic, Message=body, MessageGroupId=group, **extra)
            again[body] = (got["MessageId"], got["SequenceNumber"])
        return held, again, drain()


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_kill_9_keeps_every_acknowledged_deduplication_record(tmp_path, durability):
    rng = random.Random(durability)
    data_dir, copy_dir = tmp_path / "data", tmp_path / "copy"
    acks = []
    for iteration in range(ITERATIONS):
        acks += [line.split() for line in run_until_killed(WRITER, [data_dir, durability, iteration], rng)]
        seqs = [int(a[5]) for a in acks]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "sequence numbers did not keep growing"
        held, again, after = look(data_dir, copy_dir, acks)
        for name, bodies in zip(("q.fifo", "std"), held):
            counts = Counter(bodies)
            assert not [b for b, c in counts.items() if c > 1], f"{name}: a message delivered twice"
            missing = [a[1] for a in acks if a[1] not in counts]
            assert not missing, f"{name}, iteration {iteration}: acknowledged messages not delivered: {missing[:3]}"
        changed = [a[1] for a in acks if again[a[1]] != (a[4], a[5])]
        assert not changed, f"iteration {iteration}: repeated publishes not deduplicated: {changed[:3]}"
        assert after == [[], []]
    assert acks

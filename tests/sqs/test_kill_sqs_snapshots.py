"""SQS with a data dir, SIGKILLed while snapshots come often (issue 13): a subprocess runs the
consumer round trip (send 10, receive, delete what it received) on a standard queue whose log
is shrunk so that a snapshot is due every few round trips, and the queue empties after most
of them, so most snapshots are the empty ones written without replaying the log. It reports
each acknowledgement on a pipe, is killed at a random moment, and the data dir is reopened:
every acknowledged message is there exactly once with the id its send returned, acknowledged
deletes stay deleted, and no message id is ever handed out twice across the restarts.
ENGINE_SOAK=1 runs many more rounds."""
import os
import random
import shutil
import textwrap
import time
from collections import Counter

import engine
from tests.killing import run_until_killed

ITERATIONS = 40 if os.environ.get("ENGINE_SOAK") else 2
VISIBILITY_S = 3600

WRITER = textwrap.dedent("""
    import os, random, sys
    import engine
    from engine.sqs import store
    store.SEGMENT_BYTES = 16 << 10        # a snapshot due every ~15 round trips
    store.COMPACT_MIN_BYTES = 64 << 10
    data_dir, seed = sys.argv[1], int(sys.argv[2])
    out = os.fdopen(int(sys.argv[3]), "w", buffering=1)
    rng = random.Random(seed)
    eng = engine.Engine(data_dir=data_dir, durability="flush")
    sqs = eng.client("sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    out.write("ready\\n")
    n = 0
    while True:
        bodies = [f"{seed}-{n + i}" for i in range(10)]
        sent = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": b, "DelaySeconds": 1 if rng.random() < 0.02 else 0}
            for i, b in enumerate(bodies)])["Successful"]
        out.write("".join(f"S {bodies[int(e['Id'])]} {e['MessageId']}\\n" for e in sent))
        n += 10
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                  VisibilityTimeout=VISIBILITY_S).get("Messages", [])
        if got:
            out.write("".join(f"T {m['Body']}\\n" for m in got))
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
            out.write("".join(f"D {m['Body']}\\n" for m in got))
""").replace("VISIBILITY_S", str(VISIBILITY_S))


def look(data_dir, copy_dir) -> list[tuple[str, str]]:
    """(body, message id) of every message in the queue, seen from a copy of the data dir."""
    shutil.rmtree(copy_dir, ignore_errors=True)
    shutil.copytree(data_dir, copy_dir)
    clock = engine.ManualClock(time.time() + 60)    # (past every delay)
    eng = engine.Engine(clock=clock, data_dir=str(copy_dir))
    sqs = eng.client("sqs")
    seen = []
    try:
        url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
        for _ in range(2):   # now, then past the writer's visibility deadlines
            while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                seen += [(m["Body"], m["MessageId"]) for m in got]
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
            clock.advance(VISIBILITY_S + 1)
    finally:
        eng.close()
    return seen


def test_kill_9_while_snapshots_come_often(tmp_path):
    rng = random.Random(13)
    data_dir, copy_dir = tmp_path / "data", tmp_path / "copy"
    acks = []
    for iteration in range(ITERATIONS):
        acks += [line.split() for line in run_until_killed(WRITER, [data_dir, iteration], rng, delay=(0.3, 1.5))]
        sent = {a[1]: a[2] for a in acks if a[0] == "S"}
        ids = Counter(sent.values())
        assert not [i for i, c in ids.items() if c > 1], "a message id was handed out twice"
        tried = {a[1] for a in acks if a[0] == "T"}
        deleted = {a[1] for a in acks if a[0] == "D"}
        seen = look(data_dir, copy_dir)
        bodies = Counter(b for b, _ in seen)
        assert not [b for b, c in bodies.items() if c > 1], "a message came back twice"
        missing = [b for b in sent if b not in tried and b not in bodies]
        assert not missing, f"iteration {iteration}: {len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
        assert not [b for b in deleted if b in bodies], "a deleted message came back"
        assert [(b, i) for b, i in seen if b in sent and sent[b] != i] == [], "a message came back with another id"
    assert len([a for a in acks if a[0] == "D"]) > 100   # (enough round trips for many snapshots)
    assert [f for f in os.listdir(data_dir / "sqs" / "000000000000" / "us-east-1" / "jobs") if f.startswith("snap-")]

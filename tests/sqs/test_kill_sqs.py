"""SQS with a data dir, SIGKILLed (issue 13): a subprocess sends, receives and deletes (standard
and FIFO queues) and reports each acknowledgement on a pipe; it is killed at a random moment and
the data dir reopened. Every acknowledged message is there exactly once (FIFO: each group in
send order), acknowledged deletes stay deleted, messages received before the kill stay in flight
until their visibility deadline and then come back, and no receive count is below the receives
acknowledged (a message whose delete was under way at the kill may be either there or gone).
ENGINE_SOAK=1 runs many more rounds."""
import os
import random
import shutil
import textwrap
import time
from collections import Counter, defaultdict

import pytest

import engine
from tests.killing import run_until_killed

ITERATIONS = 40 if os.environ.get("ENGINE_SOAK") else 2
VISIBILITY_S = 3600          # the writer's receives: in flight well past the check's first look
GROUPS = 4

WRITER = textwrap.dedent("""
    import os, random, sys
    import engine
    data_dir, durability, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = os.fdopen(int(sys.argv[4]), "w", buffering=1)
    rng = random.Random(seed)
    eng = engine.Engine(data_dir=data_dir, durability=durability)
    sqs = eng.client("sqs")
    std = sqs.create_queue(QueueName="std")["QueueUrl"]
    fifo = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    out.write("ready\\n")
    n = 0
    while True:
        bodies = [f"{seed}-{n + i}" for i in range(10)]
        sqs.send_message_batch(QueueUrl=std, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
        out.write("".join(f"S {b}\\n" for b in bodies))
        groups = [f"g{rng.randrange(GROUPS)}" for _ in bodies]
        sqs.send_message_batch(QueueUrl=fifo, Entries=[
            {"Id": str(i), "MessageBody": b, "MessageGroupId": g, "MessageDeduplicationId": b}
            for i, (b, g) in enumerate(zip(bodies, groups))])
        out.write("".join(f"F {b} {g}\\n" for b, g in zip(bodies, groups)))
        n += 10
        for url, kind in ((std, "S"), (fifo, "F")):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=rng.randint(1, 10),
                                      VisibilityTimeout=VISIBILITY_S).get("Messages", [])
            out.write("".join(f"R{kind} {m['Body']}\\n" for m in got))
            done = [m for m in got if rng.random() < 0.7]
            if done:   # (a delete may land without its acknowledgement: the kill between the two)
                out.write("".join(f"T{kind} {m['Body']}\\n" for m in done))
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
                out.write("".join(f"D{kind} {m['Body']}\\n" for m in done))
""").replace("VISIBILITY_S", str(VISIBILITY_S)).replace("GROUPS", str(GROUPS))


def run_writer(data_dir, durability, rng, seed) -> list[list[str]]:
    """Run a writer until a random moment after it is ready, SIGKILL it; its acknowledgements."""
    return [line.split() for line in run_until_killed(WRITER, [data_dir, durability, seed], rng)]


def look(data_dir, copy_dir):
    """Every message of both queues, seen from a copy of the data dir (the look changes nothing
    the next writer sees): those visible now, then those visible after the writer's deadlines,
    each taken and deleted."""
    shutil.rmtree(copy_dir, ignore_errors=True)
    shutil.copytree(data_dir, copy_dir)
    clock = engine.ManualClock(time.time())
    eng = engine.Engine(clock=clock, data_dir=str(copy_dir))
    sqs = eng.client("sqs")
    seen = {}
    try:
        for phase in ("now", "later"):
            for name in ("std", "q.fifo"):
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
                while True:
                    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                              ).get("Messages", [])
                    if not got:
                        break
                    seen.setdefault((name, phase), []).extend(
                        (m["Body"], int(m["Attributes"]["ApproximateReceiveCount"]), m["Attributes"].get("MessageGroupId"))
                        for m in got)
                    sqs.delete_message_batch(QueueUrl=url, Entries=[   # (a FIFO group goes on after it)
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
            clock.advance(VISIBILITY_S + 1)
    finally:
        eng.close()
    return seen


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_kill_9_loses_no_acknowledged_message(tmp_path, durability):
    rng = random.Random(durability)
    data_dir, copy_dir = tmp_path / "data", tmp_path / "copy"
    acks = []
    for iteration in range(ITERATIONS):
        acks += run_writer(data_dir, durability, rng, iteration)
        seen = look(data_dir, copy_dir)
        for kind, name in (("S", "std"), ("F", "q.fifo")):
            sent = [a[1] for a in acks if a[0] == kind]
            groups = {a[1]: a[2] for a in acks if a[0] == "F"}
            received = Counter(a[1] for a in acks if a[0] == "R" + kind)
            deleted = {a[1] for a in acks if a[0] == "D" + kind}
            tried = {a[1] for a in acks if a[0] == "T" + kind}
            now = seen.get((name, "now"), [])
            later = seen.get((name, "later"), [])
            bodies = Counter(b for b, _, _ in now + later)
            assert not [b for b, c in bodies.items() if c > 1], f"{name}: a message came back twice"
            missing = [b for b in sent if b not in tried and b not in bodies]
            assert not missing, f"{name}, iteration {iteration}: {len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
            assert not [b for b in deleted if b in bodies], f"{name}: a deleted message came back"
            early = [b for b, _, _ in now if received[b]]
            assert not early, f"{name}: received before the kill, visible before its deadline: {early[:3]}"
            low = [b for b, rc, _ in now + later if rc < received[b] + 1]
            assert not low, f"{name}: receive counts below the acknowledged receives: {low[:3]}"
            if kind == "F":
                order = {b: k for k, b in enumerate(sent)}
                by_group = defaultdict(list)
                for b, _, g in now + later:
                    assert g == groups.get(b, g), f"{b} came back in group {g}, sent to {groups[b]}"
                    by_group[g].append(order.get(b, -1))
                for g, seq in by_group.items():
                    known = [k for k in seq if k >= 0]
                    assert known == sorted(known), f"group {g} out of order"
    assert acks

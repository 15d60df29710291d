"""Message move tasks SIGKILLed (issue 13): a subprocess keeps sending to a dead-letter queue and
starting move tasks from it to another queue (one in four at a rate, moved each second on the wall
clock; the others without one, the whole backlog moved in the call), reporting each acknowledgement on
a pipe; it is killed at a random moment and the data dir reopened. The last task acknowledged is
listed (RUNNING with its handle if it had not finished), a running one carries on to completion,
and then every acknowledged message is in the dead-letter queue or the destination: at least
once, never lost (a batch being moved at the kill may be in both). ENGINE_SOAK=1 runs many more
rounds."""
import os
import random
import shutil
import textwrap
import time
from collections import Counter

import pytest

import engine
from engine import limits
from tests.killing import run_until_killed
from tests.sqs.conftest import Checked

ITERATIONS = 40 if os.environ.get("ENGINE_SOAK") else 2
RATE = 500                   # MaxNumberOfMessagesPerSecond of one task in four
KILL_AFTER_S = (0.2, 2.5)    # (a rated task's first step comes a second after its start)

WRITER = textwrap.dedent("""
    import json, os, sys, time
    import engine
    data_dir, durability, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = os.fdopen(int(sys.argv[4]), "w", buffering=1)
    eng = engine.Engine(data_dir=data_dir, durability=durability)
    sqs = eng.client("sqs")
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})
    dest = sqs.create_queue(QueueName="dest")["QueueUrl"]
    dest_arn = sqs.get_queue_attributes(QueueUrl=dest, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    out.write("ready\\n")
    n = rounds = 0
    while True:
        bodies = [f"{seed}-{n + i}" for i in range(10)]
        sqs.send_message_batch(QueueUrl=dlq, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
        out.write("".join(f"S {b}\\n" for b in bodies))
        n += 10
        latest = sqs.list_message_move_tasks(SourceArn=dlq_arn).get("Results", [])
        if not latest or latest[0]["Status"] != "RUNNING":
            # one task in four at a rate: the backlog it leaves moves in one call after it
            rate = {} if rounds % 4 != 3 else {"MaxNumberOfMessagesPerSecond": RATE}
            handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn, **rate)["TaskHandle"]
            out.write(f"T {handle}\\n")
            rounds += 1
        time.sleep(0.01)
""").replace("RATE", str(RATE))


def look(data_dir, copy_dir, last_handle, shape):
    """From a copy of the data dir: the task behind last_handle as listed after the restart, run
    to completion; then every body in the dead-letter queue and the destination."""
    shutil.rmtree(copy_dir, ignore_errors=True)
    shutil.copytree(data_dir, copy_dir)
    clock = engine.ManualClock(time.time())
    eng = engine.Engine(clock=clock, data_dir=str(copy_dir))
    sqs = Checked(eng.client("sqs"), shape)
    try:
        dlq = sqs.get_queue_url(QueueName="dead")["QueueUrl"]
        dest = sqs.get_queue_url(QueueName="dest")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        listed = eng.backend("sqs").list_message_move_tasks(dlq_arn, limits.SQS_LIST_MOVE_TASKS_MAX)
        # (a task started after the last acknowledged one may be newer)
        assert last_handle is None or last_handle in [t.handle for t in listed[:2]], "an acknowledged task is lost"
        newest = sqs.list_message_move_tasks(SourceArn=dlq_arn).get("Results", [{}])[0]
        if newest.get("Status") == "RUNNING":
            assert newest["TaskHandle"] == listed[0].handle
        for _ in range(1000):
            if newest.get("Status") != "RUNNING":
                break
            clock.advance(1)
            newest = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
        assert newest.get("Status") in (None, "COMPLETED"), newest
        seen = Counter()
        for url in (dlq, dest):
            while True:
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=3600
                                          ).get("Messages", [])
                if not got:
                    break
                seen.update(m["Body"] for m in got)
    finally:
        eng.close()
    return seen


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_kill_9_during_move_tasks_loses_no_message(tmp_path, durability, shape):
    rng = random.Random(durability)
    data_dir, copy_dir = tmp_path / "data", tmp_path / "copy"
    sent, last_handle = [], None
    for iteration in range(ITERATIONS):
        acks = [line.split() for line in run_until_killed(WRITER, [data_dir, durability, iteration], rng,
                                                          delay=KILL_AFTER_S)]
        sent += [a[1] for a in acks if a[0] == "S"]
        last_handle = next((a[1] for a in reversed(acks) if a[0] == "T"), last_handle)
        seen = look(data_dir, copy_dir, last_handle, shape)
        missing = [b for b in sent if b not in seen]
        assert not missing, f"iteration {iteration}: {len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
        doubled = sum(c - 1 for c in seen.values())
        assert doubled <= limits.SQS_MOVE_BATCH * (iteration + 1), f"{doubled} messages moved twice"
    assert sent and last_handle

"""Message move tasks with a data dir (issue 13): as on AWS, a task is service-side state. A task
running when the engine stops is listed RUNNING with its handle after the restart and carries on
moving; completed, cancelled and failed tasks stay listed (the latest ten per source queue); every
message is in the source or the destination, never in neither."""
import json
import os

import pytest

import engine
from engine.sqs.store import TASKS_DIR
from tests.sqs.conftest import START, arn_of, redrive


def setup_dlq(sqs, n, dest=True):
    """A dead-letter queue holding n messages sent to it directly, its source queue, and a
    destination queue: (dlq url, dlq arn, source url, destination url, destination arn)."""
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = arn_of(sqs, dlq)
    src = sqs.create_queue(QueueName="jobs", Attributes={"RedrivePolicy": redrive(dlq_arn, 1)})["QueueUrl"]
    for start in range(0, n, 10):
        sqs.send_message_batch(QueueUrl=dlq, Entries=[
            {"Id": str(i), "MessageBody": f"m{i}", "MessageAttributes": {
                "k": {"DataType": "String", "StringValue": f"v{i}"}}} for i in range(start, min(n, start + 10))])
    out = sqs.create_queue(QueueName="dest")["QueueUrl"] if dest else None
    return dlq, dlq_arn, src, out, arn_of(sqs, out) if dest else None


def drain(sqs, url):
    got = []
    while True:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                   VisibilityTimeout=600).get("Messages", [])
        if not page:
            return got
        got += page


def tasks(sqs, arn, n=10):
    return sqs.list_message_move_tasks(SourceArn=arn, MaxResults=n).get("Results", [])


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_a_running_task_runs_on_after_a_restart(reopen, durability):
    clock = engine.ManualClock(START)
    sqs = reopen(clock, durability)
    dlq, dlq_arn, _, dest, dest_arn = setup_dlq(sqs, 25)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn,
                                         MaxNumberOfMessagesPerSecond=4)["TaskHandle"]
    started_ms = int(clock.now() * 1000)
    clock.advance(2)   # 8 moved

    sqs = reopen(clock, durability)
    (task,) = tasks(sqs, dlq_arn)
    assert task == {"TaskHandle": handle, "Status": "RUNNING", "SourceArn": dlq_arn, "DestinationArn": dest_arn,
                    "MaxNumberOfMessagesPerSecond": 4, "ApproximateNumberOfMessagesMoved": 8,
                    "ApproximateNumberOfMessagesToMove": 25, "StartedTimestamp": started_ms}
    with pytest.raises(sqs._client.exceptions.InvalidParameterValue):   # still the source's active task
        sqs.start_message_move_task(SourceArn=dlq_arn)
    clock.advance(1)
    assert tasks(sqs, dlq_arn)[0]["ApproximateNumberOfMessagesMoved"] == 12   # moving on at its rate
    clock.advance(4)
    (task,) = tasks(sqs, dlq_arn)
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 25
    assert "TaskHandle" not in task

    sqs = reopen(clock, durability)   # the outcome stays listed
    (task,) = tasks(sqs, dlq_arn)
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 25
    moved = drain(sqs, dest)
    assert sorted(m["Body"] for m in moved) == sorted(f"m{i}" for i in range(25))   # each exactly once
    assert all(m["MessageAttributes"]["k"]["StringValue"] == "v" + m["Body"][1:] for m in moved)
    assert drain(sqs, dlq) == []


def test_a_cancelled_task_stays_cancelled(reopen):
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    dlq, dlq_arn, _, dest, dest_arn = setup_dlq(sqs, 10)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn,
                                         MaxNumberOfMessagesPerSecond=3)["TaskHandle"]
    clock.advance(1)
    assert sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"] == 3

    sqs = reopen(clock)
    clock.advance(10)
    (task,) = tasks(sqs, dlq_arn)
    assert task["Status"] == "CANCELLED" and task["ApproximateNumberOfMessagesMoved"] == 3
    with pytest.raises(sqs._client.exceptions.InvalidParameterValue):
        sqs.cancel_message_move_task(TaskHandle=handle)
    assert len(drain(sqs, dest)) == 3 and len(drain(sqs, dlq)) == 7
    sqs.start_message_move_task(SourceArn=dlq_arn)   # a new task may start
    assert [t["Status"] for t in tasks(sqs, dlq_arn)] == ["COMPLETED", "CANCELLED"]


def test_a_task_fails_after_a_restart_when_its_destination_is_gone(reopen):
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    dlq, dlq_arn, _, dest, dest_arn = setup_dlq(sqs, 6)
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn, MaxNumberOfMessagesPerSecond=2)
    clock.advance(1)
    sqs.delete_queue(QueueUrl=dest)

    sqs = reopen(clock)
    assert tasks(sqs, dlq_arn)[0]["Status"] == "RUNNING"
    clock.advance(1)
    (task,) = tasks(sqs, dlq_arn)
    assert task["Status"] == "FAILED" and task["FailureReason"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert task["ApproximateNumberOfMessagesMoved"] == 2
    sqs = reopen(clock)
    (task,) = tasks(sqs, dlq_arn)
    assert task["Status"] == "FAILED" and task["FailureReason"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert sorted(m["Body"] for m in drain(sqs, dlq)) == [f"m{i}" for i in range(2, 6)]   # nothing lost


def test_only_the_latest_ten_tasks_are_kept(reopen, tmp_path):
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    dlq, dlq_arn, src, _, _ = setup_dlq(sqs, 0, dest=False)
    for k in range(12):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"b{k}")
        sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=arn_of(sqs, src))   # completes at once
        clock.advance(1)
    before = tasks(sqs, dlq_arn)
    sqs = reopen(clock)
    after = tasks(sqs, dlq_arn)
    assert after == before and len(after) == 10
    assert [t["StartedTimestamp"] for t in after] == [int((START + k) * 1000) for k in range(11, 1, -1)]
    task_files = os.listdir(tmp_path / "sqs" / "000000000000" / "us-east-1" / TASKS_DIR)
    assert len(task_files) == 10
    assert sorted(m["Body"] for m in drain(sqs, src)) == sorted(f"b{k}" for k in range(12))


def test_back_to_the_sources_after_a_restart(reopen):
    """A task without a destination moves each message back to the queue it died in."""
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = arn_of(sqs, dlq)
    sources = [sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive(dlq_arn, 1)})["QueueUrl"]
               for name in ("a", "b")]
    for url in sources:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"{url[-1]}{i}"}
                                                      for i in range(5)])
        while sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1).get("Messages"):
            pass
    clock.advance(2)
    for url in sources:   # the next receive moves them to the dead-letter queue
        assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=3)
    clock.advance(1)
    sqs = reopen(clock)
    clock.advance(5)
    (task,) = tasks(sqs, dlq_arn)
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 10
    for url in sources:
        assert sorted(m["Body"] for m in drain(sqs, url)) == [f"{url[-1]}{i}" for i in range(5)]


def test_a_task_document_holds_the_task_not_its_messages(reopen, tmp_path):
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    _, dlq_arn, _, _, dest_arn = setup_dlq(sqs, 3)
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn, MaxNumberOfMessagesPerSecond=1)
    (path,) = (tmp_path / "sqs" / "000000000000" / "us-east-1" / TASKS_DIR).iterdir()
    doc = json.loads(path.read_text())
    assert (doc["status"], doc["source"], doc["destination"], doc["rate"], doc["to_move"]) == (
        "RUNNING", dlq_arn, dest_arn, 1, 3)
    assert "m0" not in path.read_text()

"""Dead-letter queues: RedrivePolicy, RedriveAllowPolicy, maxReceiveCount moves, move tasks."""
import json

import pytest

from .conftest import arn_of, error_of, redrive


@pytest.fixture
def dlq(sqs):
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    return url, arn_of(sqs, url)


def make_source(sqs, dlq_arn, count=2, name="src", fifo=False, **attrs):
    attributes = {"RedrivePolicy": redrive(dlq_arn, count), "VisibilityTimeout": "10", **attrs}
    if fifo:
        attributes["FifoQueue"] = "true"
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def receive_n_times(sqs, url, clock, n, vt=10):
    for _ in range(n):
        got = sqs.receive_message(QueueUrl=url).get("Messages", [])
        assert got
        clock.advance(vt)


def test_message_moves_after_max_receive_count(sqs, dlq, clock):
    dlq_url, dlq_arn = dlq
    src = make_source(sqs, dlq_arn, count=2)
    sent = sqs.send_message(QueueUrl=src, MessageBody="poison", MessageAttributes={
        "k": {"DataType": "String", "StringValue": "v"}})
    receive_n_times(sqs, src, clock, 2)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)  # the third receive moves it
    a = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["All"])["Attributes"]
    assert (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    got = sqs.receive_message(QueueUrl=dlq_url, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
    (m,) = got["Messages"]
    assert m["MessageId"] == sent["MessageId"] and m["Body"] == "poison"
    assert m["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": "v"}}
    assert m["Attributes"]["DeadLetterQueueSourceArn"] == arn_of(sqs, src)
    assert m["Attributes"]["ApproximateReceiveCount"] == "3"


def test_redrive_policy_attribute_round_trip_and_removal(sqs, dlq):
    _, dlq_arn = dlq
    src = make_source(sqs, dlq_arn, count=5)
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])["Attributes"][
        "RedrivePolicy"])
    assert policy == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
    sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": ""})
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])


def test_max_receive_count_as_string(sqs, dlq, clock):
    dlq_url, dlq_arn = dlq
    src = sqs.create_queue(QueueName="s", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}), "VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=src, MessageBody="x")
    receive_n_times(sqs, src, clock, 1, vt=1)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    assert len(sqs.receive_message(QueueUrl=dlq_url)["Messages"]) == 1


@pytest.mark.parametrize("policy,reason", [
    ("{bad json", "not a valid JSON map"),
    (json.dumps({"maxReceiveCount": 1}), "mandatory attribute: deadLetterTargetArn"),
    (json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"}), "mandatory attribute: maxReceiveCount"),
    (json.dumps({"deadLetterTargetArn": "dummy", "maxReceiveCount": 42}), "Invalid value for deadLetterTargetArn."),
    (json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": 0}),
     "Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."),
    (json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": 1001}),
     "valid values are from 1 to 1000"),
    (json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nope", "maxReceiveCount": 3}),
     "Dead letter target does not exist."),
])
def test_invalid_redrive_policies(sqs, dlq, policy, reason):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": policy})
    code, message = error_of(e)
    assert message.startswith(f"Value {policy} for parameter RedrivePolicy is invalid. Reason: ")
    assert reason in message


def test_dlq_type_must_match(sqs, dlq):
    _, dlq_arn = dlq
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.create_queue(QueueName="f.fifo", Attributes={"FifoQueue": "true", "RedrivePolicy": redrive(dlq_arn, 3)})
    assert "same type" in error_of(e)[1]


def test_redrive_allow_policy(sqs, clock):
    deny = sqs.create_queue(QueueName="deny", Attributes={
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})["QueueUrl"]
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        make_source(sqs, arn_of(sqs, deny))
    allowed_arn = "arn:aws:sqs:us-east-1:000000000000:chosen"
    by_queue = sqs.create_queue(QueueName="byq", Attributes={"RedriveAllowPolicy": json.dumps(
        {"redrivePermission": "byQueue", "sourceQueueArns": [allowed_arn]})})["QueueUrl"]
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        make_source(sqs, arn_of(sqs, by_queue), name="other")
    chosen = make_source(sqs, arn_of(sqs, by_queue), name="chosen", count=1)
    got = json.loads(sqs.get_queue_attributes(QueueUrl=by_queue, AttributeNames=["RedriveAllowPolicy"])[
        "Attributes"]["RedriveAllowPolicy"])
    assert got["redrivePermission"] == "byQueue"
    # tightening the policy later stops the moves: the message stays in its source queue
    sqs.set_queue_attributes(QueueUrl=by_queue, Attributes={
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})
    sqs.send_message(QueueUrl=chosen, MessageBody="x")
    receive_n_times(sqs, chosen, clock, 2)
    assert "Messages" not in sqs.receive_message(QueueUrl=by_queue)


@pytest.mark.parametrize("policy", [
    json.dumps({"redrivePermission": "sometimes"}),
    json.dumps({"redrivePermission": "byQueue"}),
    json.dumps({"redrivePermission": "allowAll", "sourceQueueArns": ["arn:aws:sqs:us-east-1:000000000000:x"]}),
    json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [f"arn:aws:sqs:us-east-1:0:q{i}" for i in range(11)]}),
    "not json",
])
def test_invalid_redrive_allow_policies(sqs, policy):
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.create_queue(QueueName="q", Attributes={"RedriveAllowPolicy": policy})


def test_deleted_dlq_keeps_messages_in_the_source(sqs, dlq, clock):
    dlq_url, dlq_arn = dlq
    src = make_source(sqs, dlq_arn, count=1)
    sqs.send_message(QueueUrl=src, MessageBody="x")
    receive_n_times(sqs, src, clock, 1)
    sqs.delete_queue(QueueUrl=dlq_url)
    assert len(sqs.receive_message(QueueUrl=src)["Messages"]) == 1


def test_fifo_dead_letter_queue(sqs, clock):
    dlq_url = sqs.create_queue(QueueName="dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    src = make_source(sqs, arn_of(sqs, dlq_url), count=1, name="src.fifo", fifo=True)
    a = sqs.send_message(QueueUrl=src, MessageBody="a", MessageGroupId="g", MessageDeduplicationId="same")
    receive_n_times(sqs, src, clock, 1)
    clock.advance(100)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    (m,) = sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["All"])["Messages"]
    assert m["MessageId"] == a["MessageId"]
    # the deduplication id becomes the original message id; the enqueue time resets
    assert m["Attributes"]["MessageDeduplicationId"] == a["MessageId"]
    assert m["Attributes"]["MessageGroupId"] == "g"
    assert int(m["Attributes"]["SentTimestamp"]) == int(clock.now() * 1000)


def test_standard_dlq_keeps_the_original_enqueue_time(sqs, clock):
    dlq_url = sqs.create_queue(QueueName="dlq", Attributes={"MessageRetentionPeriod": "100"})["QueueUrl"]
    src = make_source(sqs, arn_of(sqs, dlq_url), count=1)
    sent_at = clock.now()
    sqs.send_message(QueueUrl=src, MessageBody="x")
    sqs.send_message(QueueUrl=dlq_url, MessageBody="direct")  # a younger message already in the DLQ
    clock.advance(30)
    receive_n_times(sqs, src, clock, 1)
    sqs.receive_message(QueueUrl=src)
    got = sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["SentTimestamp"], MaxNumberOfMessages=10,
                              VisibilityTimeout=0).get("Messages", [])
    assert sorted(int(m["Attributes"]["SentTimestamp"]) for m in got) == [int(sent_at * 1000)] * 2
    clock.advance(60)  # 100 s after the original send: both expire in the DLQ
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)


# --- message move tasks --------------------------------------------------------------------------
def fill_dlq(sqs, dlq_arn, clock, n, name="src"):
    src = make_source(sqs, dlq_arn, count=1, name=name)
    sqs.send_message_batch(QueueUrl=src, Entries=[{"Id": str(i), "MessageBody": f"{name}-{i}"} for i in range(n)])
    while sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10).get("Messages", []):
        pass
    clock.advance(10)
    assert "Messages" not in sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10)
    return src


def test_move_task_back_to_sources(sqs, dlq, clock, shape):
    dlq_url, dlq_arn = dlq
    s1 = fill_dlq(sqs, dlq_arn, clock, 3, "s1")
    s2 = fill_dlq(sqs, dlq_arn, clock, 2, "s2")
    started = sqs.start_message_move_task(SourceArn=dlq_arn)
    shape("sqs", "StartMessageMoveTask", started)
    listed = sqs.list_message_move_tasks(SourceArn=dlq_arn)
    shape("sqs", "ListMessageMoveTasks", listed)
    (task,) = listed["Results"]
    assert task["Status"] == "COMPLETED" and task["SourceArn"] == dlq_arn
    assert task["ApproximateNumberOfMessagesMoved"] == 5 and task["ApproximateNumberOfMessagesToMove"] == 5
    assert "DestinationArn" not in task and "TaskHandle" not in task
    assert task["StartedTimestamp"] == int(clock.now() * 1000)
    back1 = sqs.receive_message(QueueUrl=s1, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"])
    assert sorted(m["Body"] for m in back1["Messages"]) == ["s1-0", "s1-1", "s1-2"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in back1["Messages"]} == {"1"}  # new messages
    assert sorted(m["Body"] for m in sqs.receive_message(QueueUrl=s2, MaxNumberOfMessages=10).get("Messages", [])) == [
        "s2-0", "s2-1"]
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq_url)


def test_move_task_to_a_destination_with_a_rate_and_cancel(sqs, dlq, clock, shape):
    dlq_url, dlq_arn = dlq
    fill_dlq(sqs, dlq_arn, clock, 10)
    dest = sqs.create_queue(QueueName="dest")["QueueUrl"]
    dest_arn = arn_of(sqs, dest)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn,
                                         MaxNumberOfMessagesPerSecond=3)["TaskHandle"]
    (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert task["Status"] == "RUNNING" and task["TaskHandle"] == handle and task["DestinationArn"] == dest_arn
    assert task["MaxNumberOfMessagesPerSecond"] == 3 and task["ApproximateNumberOfMessagesToMove"] == 10
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.start_message_move_task(SourceArn=dlq_arn)
    assert "Only one active task is allowed" in error_of(e)[1]
    clock.advance(1)
    assert sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["ApproximateNumberOfMessagesMoved"] == 3
    clock.advance(1)
    cancelled = sqs.cancel_message_move_task(TaskHandle=handle)
    shape("sqs", "CancelMessageMoveTask", cancelled)
    assert cancelled["ApproximateNumberOfMessagesMoved"] == 6
    clock.advance(10)
    (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert task["Status"] == "CANCELLED" and task["ApproximateNumberOfMessagesMoved"] == 6
    assert len(sqs.receive_message(QueueUrl=dest, MaxNumberOfMessages=10)["Messages"]) == 6
    assert len(sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]) == 4
    # a new task may start now; tasks are listed newest first
    clock.advance(100)
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn)
    results = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
    assert [t["Status"] for t in results] == ["COMPLETED", "CANCELLED"]


def test_move_task_runs_to_completion_with_rate(sqs, dlq, clock):
    _, dlq_arn = dlq
    src = fill_dlq(sqs, dlq_arn, clock, 5)
    sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=2)
    clock.advance(3)
    (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 5
    assert len(sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10)["Messages"]) == 5


def test_move_task_fails_when_the_destination_disappears(sqs, dlq, clock):
    dlq_url, dlq_arn = dlq
    fill_dlq(sqs, dlq_arn, clock, 4)
    dest = sqs.create_queue(QueueName="dest")["QueueUrl"]
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=arn_of(sqs, dest), MaxNumberOfMessagesPerSecond=1)
    clock.advance(1)
    sqs.delete_queue(QueueUrl=dest)
    clock.advance(1)
    (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert task["Status"] == "FAILED" and task["FailureReason"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert task["ApproximateNumberOfMessagesMoved"] == 1
    a = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert a["ApproximateNumberOfMessages"] == "3"  # nothing lost


def test_move_task_errors(sqs, dlq, queue_url):
    _, dlq_arn = dlq
    missing = "arn:aws:sqs:us-east-1:000000000000:missing"
    with pytest.raises(sqs.exceptions.ResourceNotFoundException) as e:
        sqs.start_message_move_task(SourceArn=missing)
    assert error_of(e) == ("ResourceNotFoundException",
                           "The resource that you specified for the SourceArn parameter doesn't exist.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.start_message_move_task(SourceArn=arn_of(sqs, queue_url))
    assert error_of(e)[1] == "Source queue must be configured as a Dead Letter Queue."
    make_source(sqs, dlq_arn)
    with pytest.raises(sqs.exceptions.ResourceNotFoundException) as e:
        sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=missing)
    assert "DestinationArn" in error_of(e)[1]
    for rate in (0, 501):
        with pytest.raises(sqs.exceptions.InvalidParameterValue):
            sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=rate)
    with pytest.raises(sqs.exceptions.ResourceNotFoundException):
        sqs.list_message_move_tasks(SourceArn=missing)
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=11)
    assert "Results" not in sqs.list_message_move_tasks(SourceArn=dlq_arn)
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.cancel_message_move_task(TaskHandle="not-a-handle")
    assert error_of(e)[1] == "Value for parameter TaskHandle is invalid."
    import base64
    fake = base64.b64encode(json.dumps({"taskId": "nope", "sourceArn": dlq_arn}).encode()).decode()
    with pytest.raises(sqs.exceptions.ResourceNotFoundException) as e:
        sqs.cancel_message_move_task(TaskHandle=fake)
    assert error_of(e)[1] == "Task does not exist."
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]  # completes at once (empty)
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.cancel_message_move_task(TaskHandle=handle)

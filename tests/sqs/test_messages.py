"""Standard-queue message semantics through eng.client("sqs"): send, receive, delete, visibility,
delays, retention, attributes, batches and every bad input."""
import hashlib
import uuid

import pytest

import engine

from engine import limits

from .conftest import delete_all, entries, error_of


def counts(sqs, url):
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
            int(a["ApproximateNumberOfMessagesDelayed"]))


# --- send / receive / delete ---------------------------------------------------------------
def test_round_trip_shapes(sqs, queue_url, shape):
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    shape("sqs", "SendMessage", sent)
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"hello").hexdigest()
    assert uuid.UUID(sent["MessageId"]).version == 4
    assert set(sent) == {"MD5OfMessageBody", "MessageId", "ResponseMetadata"}
    got = sqs.receive_message(QueueUrl=queue_url)
    shape("sqs", "ReceiveMessage", got)
    (m,) = got["Messages"]
    assert set(m) == {"MessageId", "ReceiptHandle", "MD5OfBody", "Body"}
    assert (m["MessageId"], m["Body"], m["MD5OfBody"]) == (sent["MessageId"], "hello", sent["MD5OfMessageBody"])
    shape("sqs", "DeleteMessage", sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"]))
    assert counts(sqs, queue_url) == (0, 0, 0)


def test_empty_receive_returns_empty_list(sqs, queue_url, shape):
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    shape("sqs", "ReceiveMessage", got)
    assert "Messages" not in got


def test_batch_round_trip(sqs, queue_url, shape):
    sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries(10))
    shape("sqs", "SendMessageBatch", sent)
    assert [e["Id"] for e in sent["Successful"]] == [f"e{i}" for i in range(10)] and "Failed" not in sent
    assert all(e["MD5OfMessageBody"] == hashlib.md5(f"m{i}".encode()).hexdigest()
               for i, e in enumerate(sent["Successful"]))
    assert len({e["MessageId"] for e in sent["Successful"]}) == 10
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    assert sorted(m["Body"] for m in got["Messages"]) == sorted(f"m{i}" for i in range(10))
    assert counts(sqs, queue_url) == (0, 10, 0)
    deleted = delete_all(sqs, queue_url, got["Messages"])
    shape("sqs", "DeleteMessageBatch", deleted)
    assert len(deleted["Successful"]) == 10 and "Failed" not in deleted
    assert counts(sqs, queue_url) == (0, 0, 0)


def test_receive_respects_max_and_order_is_fifo_ish(sqs, queue_url):
    sqs.send_message_batch(QueueUrl=queue_url, Entries=entries(10))
    sqs.send_message_batch(QueueUrl=queue_url, Entries=entries(5, start=10))
    first = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=4)["Messages"]
    assert [m["Body"] for m in first] == ["m0", "m1", "m2", "m3"]
    assert len(sqs.receive_message(QueueUrl=queue_url)["Messages"]) == 1
    assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]) == 10
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)


def test_unicode_and_edge_bodies(sqs, queue_url):
    bodies = ["a", "tab\tnl\ncr\r", "émoji 🎉 𝄞", "\ud7ff\ue000\ufffd", "\U0010ffff", "<xml/>", '{"json": 1}',
              "\x7f del is allowed"]
    for body in bodies:
        sent = sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == sorted(bodies)
    for m in got:
        assert m["MD5OfBody"] == hashlib.md5(m["Body"].encode()).hexdigest()


@pytest.mark.parametrize("body", ["\x00", "bell\x07", "a\x1fb", "\x0b", "\x0c", "\ufffe", "\uffff", "x\ud800y",
                                  "ünï\x01"])
def test_invalid_characters_are_refused(sqs, queue_url, body):
    with pytest.raises(sqs.exceptions.InvalidMessageContents) as e:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    assert error_of(e)[1].startswith("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD")
    sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "bad", "MessageBody": body},
                                                               {"Id": "good", "MessageBody": "fine"}])
    assert [e["Id"] for e in sent["Successful"]] == ["good"]
    assert sent["Failed"][0]["Id"] == "bad" and sent["Failed"][0]["Code"] == "InvalidMessageContents"
    assert sent["Failed"][0]["SenderFault"] is True
    assert counts(sqs, queue_url) == (1, 0, 0)  # nothing already accepted is lost


def test_empty_body_is_a_missing_parameter(sqs, queue_url):
    with pytest.raises(engine.ClientError) as e:
        sqs.send_message(QueueUrl=queue_url, MessageBody="")
    assert error_of(e) == ("MissingRequiredParameterException", "The request must contain the parameter MessageBody.")
    assert e.value.response["Error"]["Code"] == "MissingParameter"   # as boto3 shows it against AWS


def test_message_size_limit_default_and_configured(sqs, queue_url):
    limit = limits.SQS_MESSAGE_SIZE_DEFAULT
    sqs.send_message(QueueUrl=queue_url, MessageBody="x" * limit)
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.send_message(QueueUrl=queue_url, MessageBody="x" * (limit + 1))
    assert error_of(e)[1] == f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"MaximumMessageSize": "1024"})
    sqs.send_message(QueueUrl=queue_url, MessageBody="é" * 512)  # 1024 UTF-8 bytes
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.send_message(QueueUrl=queue_url, MessageBody="é" * 512 + "x")
    assert "shorter than 1024 bytes" in error_of(e)[1]
    # attributes count towards the size
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.send_message(QueueUrl=queue_url, MessageBody="x" * 1000,
                         MessageAttributes={"attr": {"DataType": "String", "StringValue": "y" * 30}})
    out = sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "big", "MessageBody": "x" * 1025},
                                                              {"Id": "ok", "MessageBody": "x" * 1024}])
    assert [e["Id"] for e in out["Successful"]] == ["ok"]
    assert out["Failed"] == [{"Id": "big", "SenderFault": True, "Code": "InvalidParameterValue",
                              "Message": "One or more parameters are invalid. Reason: Message must be shorter "
                                         "than 1024 bytes."}]


def test_one_mib_message(sqs):
    url = sqs.create_queue(QueueName="big", Attributes={"MaximumMessageSize": str(1024 * 1024)})["QueueUrl"]
    body = "é" * (512 * 1024)
    sqs.send_message(QueueUrl=url, MessageBody=body)
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == body


def test_batch_request_too_long(sqs, queue_url):
    big = "x" * (limits.SQS_BATCH_BYTES_MAX // 2)
    with pytest.raises(sqs.exceptions.BatchRequestTooLong) as e:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "a", "MessageBody": big},
                                                            {"Id": "b", "MessageBody": big + "y"}])
    assert error_of(e)[1] == (f"Batch requests cannot be longer than {limits.SQS_BATCH_BYTES_MAX} bytes. "
                              f"You have sent {limits.SQS_BATCH_BYTES_MAX + 1} bytes.")
    assert counts(sqs, queue_url) == (0, 0, 0)


@pytest.mark.parametrize("op", ["send", "delete", "change"])
def test_batch_request_validation(sqs, queue_url, op):
    def call(batch):
        if op == "send":
            return sqs.send_message_batch(QueueUrl=queue_url, Entries=[dict(e, MessageBody="x") for e in batch])
        if op == "delete":
            return sqs.delete_message_batch(QueueUrl=queue_url, Entries=[dict(e, ReceiptHandle="h") for e in batch])
        return sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
            dict(e, ReceiptHandle="h", VisibilityTimeout=1) for e in batch])
    kind = {"send": "SendMessageBatch", "delete": "DeleteMessageBatch", "change": "ChangeMessageVisibilityBatch"}[op]
    with pytest.raises(sqs.exceptions.EmptyBatchRequest) as e:
        call([])
    assert error_of(e)[1] == f"There should be at least one {kind}RequestEntry in the request."
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest) as e:
        call([{"Id": str(i)} for i in range(11)])
    assert error_of(e)[1] == "Maximum number of entries per request are 10. You have sent 11."
    for bad_id in ["", "a" * 81, "has space", "colon:id", "ü"]:
        with pytest.raises(sqs.exceptions.InvalidBatchEntryId) as e:
            call([{"Id": bad_id}])
        assert error_of(e)[1] == ("A batch entry id can only contain alphanumeric characters, hyphens and "
                                  "underscores. It can be at most 80 letters long.")
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct) as e:
        call([{"Id": "x"}, {"Id": "y"}, {"Id": "x"}])
    assert error_of(e)[1] == "Id x repeated."
    call([{"Id": "A-z_9" * 16}])  # 80 characters is fine


def test_delete_with_invalid_receipt_handles(sqs, queue_url):
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as e:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle="garbage")
    assert error_of(e)[1] == 'The input receipt handle "garbage" is not a valid receipt handle.'
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    m = sqs.receive_message(QueueUrl=queue_url)["Messages"][0]
    out = sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": "bad", "ReceiptHandle": "nope"},
                                                                {"Id": "ok", "ReceiptHandle": m["ReceiptHandle"]}])
    assert out["Successful"] == [{"Id": "ok"}]
    assert out["Failed"][0]["Code"] == "ReceiptHandleIsInvalid" and out["Failed"][0]["Id"] == "bad"
    # a handle of another queue is not valid here
    other = sqs.create_queue(QueueName="other")["QueueUrl"]
    sqs.send_message(QueueUrl=other, MessageBody="y")
    h = sqs.receive_message(QueueUrl=other)["Messages"][0]["ReceiptHandle"]
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=h)


def test_delete_twice_and_stale_handles_succeed(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    h1 = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=5)["Messages"][0]["ReceiptHandle"]
    clock.advance(5)
    h2 = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=5)["Messages"][0]["ReceiptHandle"]
    assert h1 != h2
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=h1)  # old handle: succeeds, deletes nothing
    assert counts(sqs, queue_url) == (0, 1, 0)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=h2)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=h2)  # twice: fine
    assert counts(sqs, queue_url) == (0, 0, 0)


def test_delete_with_latest_handle_after_visibility_expired(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    h = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=5)["Messages"][0]["ReceiptHandle"]
    clock.advance(6)
    assert counts(sqs, queue_url) == (1, 0, 0)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=h)
    assert counts(sqs, queue_url) == (0, 0, 0)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)


# --- visibility ----------------------------------------------------------------------------------
def test_visibility_timeout_queue_default_and_per_receive(sqs, clock):
    url = sqs.create_queue(QueueName="v", Attributes={"VisibilityTimeout": "20"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1
    clock.advance(19.9)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    clock.advance(0.1)
    got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=3, AttributeNames=["ApproximateReceiveCount"])
    assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"
    clock.advance(2.9)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    clock.advance(0.1)
    assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1


def test_new_receipt_handle_per_receive(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    handles = set()
    for _ in range(5):
        handles.add(sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=1)["Messages"][0]["ReceiptHandle"])
        clock.advance(1)
    assert len(handles) == 5


def test_visibility_zero_on_receive(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    a = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0, MaxNumberOfMessages=10)["Messages"]
    assert len(a) == 1  # not delivered twice in one response
    b = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0)["Messages"]
    assert len(b) == 1 and b[0]["ReceiptHandle"] != a[0]["ReceiptHandle"]
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=b[0]["ReceiptHandle"])
    assert counts(sqs, queue_url) == (0, 0, 0)


def test_change_message_visibility(sqs, queue_url, clock, shape):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    h = sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["ReceiptHandle"]
    shape("sqs", "ChangeMessageVisibility",
          sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=100))
    clock.advance(99)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)
    clock.advance(1)
    h = sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=0)
    assert counts(sqs, queue_url) == (1, 0, 0)
    h = sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=0)
    # shortening works too: the old deadline no longer applies
    h = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=60)["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=5)
    clock.advance(5)
    assert len(sqs.receive_message(QueueUrl=queue_url)["Messages"]) == 1


def test_visibility_is_not_remembered_for_the_next_receive(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    h = sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=1000)
    clock.advance(1000)
    sqs.receive_message(QueueUrl=queue_url)
    clock.advance(30)  # queue default again
    assert len(sqs.receive_message(QueueUrl=queue_url)["Messages"]) == 1


def test_change_visibility_errors(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    h = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=7200)["Messages"][0]["ReceiptHandle"]
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=43201)
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=-1)
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle="bogus", VisibilityTimeout=10)
    # the 12-hour ceiling counts from the receive
    clock.advance(3600)
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=43200)
    assert "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]" in error_of(e)[1]
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=43200 - 3600)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=h)
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=10)
    assert "Message does not exist or is not available for visibility timeout change" in error_of(e)[1]


def test_change_visibility_after_expiry_is_accepted(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    h = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=1)["Messages"][0]["ReceiptHandle"]
    clock.advance(2)
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=10)


def test_change_message_visibility_batch(sqs, queue_url, clock, shape):
    sqs.send_message_batch(QueueUrl=queue_url, Entries=entries(3))
    ms = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=3)["Messages"]
    out = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
        {"Id": "a", "ReceiptHandle": ms[0]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "b", "ReceiptHandle": ms[1]["ReceiptHandle"], "VisibilityTimeout": 500},
        {"Id": "c", "ReceiptHandle": "junk", "VisibilityTimeout": 5},
        {"Id": "d", "ReceiptHandle": ms[2]["ReceiptHandle"], "VisibilityTimeout": 99999}])
    shape("sqs", "ChangeMessageVisibilityBatch", out)
    assert [e["Id"] for e in out["Successful"]] == ["a", "b"]
    assert [(e["Id"], e["Code"]) for e in out["Failed"]] == [("c", "ReceiptHandleIsInvalid"),
                                                             ("d", "InvalidParameterValue")]
    assert counts(sqs, queue_url) == (1, 2, 0)
    clock.advance(30)
    assert counts(sqs, queue_url) == (2, 1, 0)
    clock.advance(470)
    assert counts(sqs, queue_url) == (3, 0, 0)


# --- delays -----------------------------------------------------------------------------------------
def test_message_delay(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="late", DelaySeconds=10)
    sqs.send_message(QueueUrl=queue_url, MessageBody="now")
    assert counts(sqs, queue_url) == (1, 0, 1)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]] == ["now"]
    clock.advance(9.99)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    clock.advance(0.01)
    assert counts(sqs, queue_url) == (1, 1, 0)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue_url)["Messages"]] == ["late"]


def test_queue_delay_and_per_message_override(sqs, clock):
    url = sqs.create_queue(QueueName="d", Attributes={"DelaySeconds": "30"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="queue-delay")
    sqs.send_message(QueueUrl=url, MessageBody="no-delay", DelaySeconds=0)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "batch-5", "DelaySeconds": 5},
                                                  {"Id": "b", "MessageBody": "batch-default"}])
    assert counts(sqs, url) == (1, 0, 3)
    clock.advance(5)
    assert sorted(m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == [
        "batch-5", "no-delay"]
    # standard queues: changing DelaySeconds is not retroactive
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
    assert counts(sqs, url) == (0, 2, 2)
    clock.advance(25)
    assert counts(sqs, url) == (2, 2, 0)


@pytest.mark.parametrize("delay", [-1, 901])
def test_invalid_delay(sqs, queue_url, delay):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.send_message(QueueUrl=queue_url, MessageBody="x", DelaySeconds=delay)
    assert error_of(e)[1] == f"Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
    out = sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "a", "MessageBody": "x", "DelaySeconds": delay}])
    assert "Successful" not in out and out["Failed"][0]["Code"] == "InvalidParameterValue"


# --- retention ------------------------------------------------------------------------------------
def test_retention_expires_messages_in_every_state(sqs, clock):
    url = sqs.create_queue(QueueName="r", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="visible")
    sqs.send_message(QueueUrl=url, MessageBody="inflight")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=120)
    clock.advance(30)
    sqs.send_message(QueueUrl=url, MessageBody="younger")
    assert counts(sqs, url) == (2, 1, 1)
    clock.advance(30)
    assert counts(sqs, url) == (1, 0, 0)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["younger"]
    clock.advance(30)
    assert counts(sqs, url) == (0, 0, 0)


def test_lowering_retention_expires_old_messages(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="old")
    clock.advance(3600)
    sqs.send_message(QueueUrl=queue_url, MessageBody="new")
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"MessageRetentionPeriod": "600"})
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]] == ["new"]


def test_default_retention_is_four_days(sqs, queue_url, clock):
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    clock.advance(4 * 86400 - 1)
    assert counts(sqs, queue_url) == (1, 0, 0)
    clock.advance(1)
    assert counts(sqs, queue_url) == (0, 0, 0)


# --- system and message attributes ----------------------------------------------------------------
def test_system_attributes(sqs, queue_url, clock, eng):
    sent_at = clock.now()
    sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageSystemAttributes={
        "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}})
    clock.advance(2)
    m = sqs.receive_message(QueueUrl=queue_url, MessageSystemAttributeNames=["All"], VisibilityTimeout=1)["Messages"][0]
    assert m["Attributes"] == {"SenderId": eng.account_id, "SentTimestamp": str(int(sent_at * 1000)),
                               "ApproximateReceiveCount": "1",
                               "ApproximateFirstReceiveTimestamp": str(int((sent_at + 2) * 1000)),
                               "AWSTraceHeader": "Root=1-abc"}
    clock.advance(5)
    m = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["ApproximateReceiveCount",
                                                                "ApproximateFirstReceiveTimestamp"])["Messages"][0]
    assert m["Attributes"] == {"ApproximateReceiveCount": "2",
                               "ApproximateFirstReceiveTimestamp": str(int((sent_at + 2) * 1000))}


def test_unknown_system_attribute_name(sqs, queue_url):
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.receive_message(QueueUrl=queue_url, MessageSystemAttributeNames=["Nonsense"])


def test_message_attributes_round_trip_and_filters(sqs, queue_url, shape):
    attrs = {"a.one": {"DataType": "String", "StringValue": "1"},
             "a.two": {"DataType": "Number", "StringValue": "2.5"},
             "blob": {"DataType": "Binary.gzip", "BinaryValue": b"\x1f\x8b\x00"},
             "zed": {"DataType": "String.custom", "StringValue": "ünïcödé"}}
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes=attrs)
    assert "MD5OfMessageAttributes" in sent

    def receive(names):
        return sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=names, VisibilityTimeout=0)["Messages"][0]
    m = receive(["All"])
    shape("sqs", "ReceiveMessage", {"Messages": [m], "ResponseMetadata": {"HTTPStatusCode": 200}})
    assert m["MessageAttributes"] == attrs and m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert receive([".*"])["MessageAttributes"] == attrs
    assert set(receive(["a.*"])["MessageAttributes"]) == {"a.one", "a.two"}
    assert set(receive(["zed", "blob", "missing"])["MessageAttributes"]) == {"zed", "blob"}
    assert "MessageAttributes" not in receive(["missing"])
    assert "MessageAttributes" not in sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0)["Messages"][0]
    # string-typed binary values are accepted as boto3 does (utf-8)
    sqs.send_message(QueueUrl=queue_url, MessageBody="y", MessageAttributes={
        "b": {"DataType": "Binary", "BinaryValue": "text"}})


@pytest.mark.parametrize("attrs,fragment", [
    ({f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}, "Number of message attributes [11]"),
    ({"": {"DataType": "String", "StringValue": "v"}}, "non-empty message (user) attribute names"),
    ({"AWS.x": {"DataType": "String", "StringValue": "v"}}, "reserved for internal use"),
    ({"amazon.x": {"DataType": "String", "StringValue": "v"}}, "reserved for internal use"),
    ({".lead": {"DataType": "String", "StringValue": "v"}}, "cannot start or end"),
    ({"a..b": {"DataType": "String", "StringValue": "v"}}, "cannot start or end"),
    ({"sp ace": {"DataType": "String", "StringValue": "v"}}, "can only contain upper and lower score characters"),
    ({"\u00f6ther": {"DataType": "String", "StringValue": "v"}}, "can only contain upper and lower score characters"),
    ({"k" * 257: {"DataType": "String", "StringValue": "v"}}, "shorter than 256 Bytes"),
    ({"k": {"DataType": "Number", "StringValue": "\u0663"}}, "to a number"),
    ({"k": {"DataType": "Number", "StringValue": "1e400"}}, "out of range"),
    ({"k": {"DataType": "Number", "StringValue": "1" * 39}}, "out of range"),
    ({"k": {"DataType": "Number.float", "StringValue": "1e-129"}}, "out of range"),
    ({"k": {"DataType": "Strong", "StringValue": "v"}}, "supported type prefixes"),
    ({"k": {"DataType": "String.", "StringValue": "v"}}, "supported type prefixes"),
    ({"k": {"DataType": "", "StringValue": "v"}}, "non-empty message attribute type"),
    ({"k": {"DataType": "String", "StringValue": ""}}, "must contain a non-empty value of type 'String'"),
    ({"k": {"DataType": "Number", "StringValue": "12a"}}, "to a number"),
    ({"k": {"DataType": "String"}}, "must contain non-empty message attribute value"),
    ({"k": {"DataType": "Binary", "StringValue": "v"}}, "must use field 'Binary'"),
    ({"k": {"DataType": "String", "StringValue": "bad\x00"}}, "Invalid characters"),
    ({"k": {"DataType": "String", "StringListValues": ["a"], "StringValue": "v"}}, "not implemented"),
])
def test_invalid_message_attributes(sqs, queue_url, attrs, fragment):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes=attrs)
    assert fragment in error_of(e)[1]


def test_invalid_system_attributes(sqs, queue_url):
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.send_message(QueueUrl=queue_url, MessageBody="x",
                         MessageSystemAttributes={"Other": {"DataType": "String", "StringValue": "v"}})
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.send_message(QueueUrl=queue_url, MessageBody="x",
                         MessageSystemAttributes={"AWSTraceHeader": {"DataType": "Binary", "BinaryValue": b"v"}})


def test_batch_with_attributes_and_mixed_entries(sqs, queue_url):
    out = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
        {"Id": "a", "MessageBody": "plain"},
        {"Id": "b", "MessageBody": "attrs", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
        {"Id": "c", "MessageBody": "delayed", "DelaySeconds": 5},
        {"Id": "d", "MessageBody": "bad-attr", "MessageAttributes": {"AWS.k": {"DataType": "String", "StringValue": "v"}}},
        {"Id": "e", "MessageBody": "trace", "MessageSystemAttributes": {
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}}},
    ])
    assert [e["Id"] for e in out["Successful"]] == ["a", "b", "c", "e"]
    assert "MD5OfMessageAttributes" in out["Successful"][1] and "MD5OfMessageAttributes" not in out["Successful"][0]
    assert "MD5OfMessageSystemAttributes" in out["Successful"][3]
    assert [f["Id"] for f in out["Failed"]] == ["d"]
    assert counts(sqs, queue_url) == (3, 0, 1)


def test_deduplication_id_refused_on_standard_queue_group_id_accepted(sqs, queue_url):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageDeduplicationId="d")
    assert "not valid for this queue type" in error_of(e)[1]
    # MessageGroupId on a standard queue: a fair-queue tenant id, returned as an attribute
    sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageGroupId="tenant-1")
    m = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["MessageGroupId"])["Messages"][0]
    assert m["Attributes"] == {"MessageGroupId": "tenant-1"}


# --- receive parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,fragment", [
    ({"MaxNumberOfMessages": 0}, "Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."),
    ({"MaxNumberOfMessages": 11}, "Value 11 for parameter MaxNumberOfMessages is invalid"),
    ({"WaitTimeSeconds": 21}, "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."),
    ({"WaitTimeSeconds": -1}, "Value -1 for parameter WaitTimeSeconds is invalid"),
    ({"VisibilityTimeout": 43201}, "Value 43201 for parameter VisibilityTimeout is invalid"),
    ({"ReceiveRequestAttemptId": "x" * 129}, "ReceiveRequestAttemptId can only include"),
])
def test_invalid_receive_parameters(sqs, queue_url, kwargs, fragment):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.receive_message(QueueUrl=queue_url, **kwargs)
    assert fragment in error_of(e)[1]


def test_inflight_limit_overlimit_on_short_poll(sqs, queue_url, eng, monkeypatch):
    monkeypatch.setattr(limits, "SQS_INFLIGHT_STANDARD_MAX", 15)
    for _ in range(2):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries(10))
    assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]) == 10
    assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]) == 5  # up to the limit
    with pytest.raises(sqs.exceptions.OverLimit) as e:
        sqs.receive_message(QueueUrl=queue_url)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    eng.clock.advance(30)  # visibility runs out: room again
    assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]) == 10


def test_inflight_limit_real_value_is_documented_one():
    assert limits.SQS_INFLIGHT_STANDARD_MAX == 120_000
    assert limits.SQS_INFLIGHT_FIFO_MAX == 120_000


def test_a_refused_plain_batch_row_fails_alone(sqs, queue_url):
    out = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
        {"Id": "a", "MessageBody": "ok"}, {"Id": "b", "MessageBody": "bad\x00"}, {"Id": "c", "MessageBody": ""}])
    assert [e["Id"] for e in out["Successful"]] == ["a"]
    assert [(e["Id"], e["Code"]) for e in out["Failed"]] == [("b", "InvalidMessageContents"),
                                                            ("c", "MissingRequiredParameterException")]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]] == ["ok"]


def test_a_deleted_queue_refuses_the_native_api(eng):
    q = eng.backend("sqs").create_queue("gone")
    eng.backend("sqs").delete_queue(q)
    for call in (lambda: q.send("x"), lambda: q.send_raw(["x"])):
        with pytest.raises(engine.ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "QueueDoesNotExist"
    assert q.receive(10).ids == []

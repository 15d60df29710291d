"""FIFO queues: group order, groups held while in flight, deduplication (5 minutes, after
delete, queue/group scope, content-based), sequence numbers, ReceiveRequestAttemptId."""
import hashlib

import pytest

import engine

from engine import limits

from .conftest import error_of


def send(sqs, url, body, group="g", dedup=None, **kw):
    return sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group,
                            MessageDeduplicationId=dedup or body, **kw)


def bodies(response):
    return [m["Body"] for m in response.get("Messages", [])]


def test_send_returns_sequence_numbers(sqs, fifo_url, shape):
    a = send(sqs, fifo_url, "a")
    shape("sqs", "SendMessage", a)
    b = send(sqs, fifo_url, "b", group="other")
    assert a["SequenceNumber"].isdigit() and len(a["SequenceNumber"]) >= 20
    assert int(b["SequenceNumber"]) > int(a["SequenceNumber"])
    m = sqs.receive_message(QueueUrl=fifo_url, AttributeNames=["All"])["Messages"][0]
    assert m["Attributes"]["SequenceNumber"] == a["SequenceNumber"]
    assert m["Attributes"]["MessageGroupId"] == "g" and m["Attributes"]["MessageDeduplicationId"] == "a"


def test_strict_order_within_a_group(sqs, fifo_url):
    for i in range(25):
        send(sqs, fifo_url, f"m{i}")
    seen = []
    while True:
        got = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        seen += [m["Body"] for m in got]
        sqs.delete_message_batch(QueueUrl=fifo_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    assert seen == [f"m{i}" for i in range(25)]


def test_group_is_held_while_a_message_is_in_flight(sqs, fifo_url, clock):
    for i in range(3):
        send(sqs, fifo_url, f"g{i}")
    send(sqs, fifo_url, "h0", group="h")
    first = sqs.receive_message(QueueUrl=fifo_url)["Messages"]
    assert bodies({"Messages": first}) == ["g0"]
    # group g is blocked; only h can deliver
    assert bodies(sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)) == ["h0"]
    assert "Messages" not in sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert bodies(sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)) == ["g1", "g2"]


def test_visibility_expiry_returns_messages_in_order(sqs, fifo_url, clock):
    for i in range(4):
        send(sqs, fifo_url, f"m{i}")
    got = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=2, VisibilityTimeout=10)["Messages"]
    assert bodies({"Messages": got}) == ["m0", "m1"]
    # m1 gets more time; m0 expires first and comes back at once (nothing before it is in flight),
    # while m1, still in flight, holds m2 and m3
    sqs.change_message_visibility(QueueUrl=fifo_url, ReceiptHandle=got[1]["ReceiptHandle"], VisibilityTimeout=20)
    clock.advance(10)
    m0 = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert bodies(m0) == ["m0"]
    clock.advance(10)
    again = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"])
    assert bodies(again) == ["m0", "m1", "m2", "m3"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in again["Messages"]] == ["3", "2", "1", "1"]


# Group visibility as AWS answers it (recorded against AWS by LocalStack's validated suite): a
# message of a group that comes back from flight can be received at once; later messages of its
# group still in flight keep the rest of the group back.
@pytest.fixture
def three(sqs):
    url = sqs.create_queue(QueueName="g.fifo", Attributes={
        "FifoQueue": "true", "VisibilityTimeout": "30", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for body, group in (("g1-m1", "1"), ("g1-m2", "1"), ("g2-m1", "2")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    return url


def test_a_message_made_visible_is_receivable_while_its_successor_is_in_flight(sqs, three):
    got = sqs.receive_message(QueueUrl=three, MaxNumberOfMessages=2)["Messages"]
    assert bodies({"Messages": got}) == ["g1-m1", "g1-m2"]
    sqs.change_message_visibility(QueueUrl=three, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
    assert bodies(sqs.receive_message(QueueUrl=three, MaxNumberOfMessages=3)) == ["g2-m1", "g1-m1"]


def test_a_message_whose_changed_visibility_ran_out_is_receivable(sqs, three, clock):
    got = sqs.receive_message(QueueUrl=three, MaxNumberOfMessages=2)["Messages"]
    sqs.change_message_visibility(QueueUrl=three, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=1)
    clock.advance(2)
    assert bodies(sqs.receive_message(QueueUrl=three, MaxNumberOfMessages=3)) == ["g2-m1", "g1-m1"]


def test_a_later_message_made_visible_waits_for_the_one_in_flight_before_it(sqs, three):
    got = sqs.receive_message(QueueUrl=three, MaxNumberOfMessages=2)["Messages"]
    sqs.change_message_visibility(QueueUrl=three, ReceiptHandle=got[1]["ReceiptHandle"], VisibilityTimeout=0)
    assert bodies(sqs.receive_message(QueueUrl=three, MaxNumberOfMessages=3)) == ["g2-m1"]
    sqs.change_message_visibility(QueueUrl=three, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
    assert bodies(sqs.receive_message(QueueUrl=three, MaxNumberOfMessages=3)) == ["g1-m1", "g1-m2"]


def test_a_partial_delete_keeps_the_group_held(sqs, fifo_url):
    for body, group in (("g1-m1", "1"), ("g2-m1", "2"), ("g1-m2", "1"), ("g2-m2", "2"), ("g1-m3", "1"),
                        ("g3-m1", "3")):
        send(sqs, fifo_url, body, group=group)
    got = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=2)["Messages"]
    assert bodies({"Messages": got}) == ["g1-m1", "g1-m2"]
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert bodies(sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)) == ["g2-m1", "g2-m2", "g3-m1"]


def test_visibility_zero_receives_leave_groups_in_order(sqs, fifo_url):
    for body, group in (("g1-m1", "1"), ("g2-m1", "2"), ("g2-m2", "2"), ("g3-m1", "3"), ("g1-m2", "1")):
        send(sqs, fifo_url, body, group=group)
    first = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=3, VisibilityTimeout=0)
    assert bodies(first) == ["g1-m1", "g1-m2", "g2-m1"]
    again = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert bodies(again) == ["g3-m1", "g1-m1", "g1-m2", "g2-m1", "g2-m2"]


def test_receive_prefers_one_group_then_fills_from_others(sqs, fifo_url):
    for i in range(3):
        send(sqs, fifo_url, f"a{i}", group="a")
    for i in range(3):
        send(sqs, fifo_url, f"b{i}", group="b")
    got = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=4, AttributeNames=["MessageGroupId"])
    assert bodies(got) == ["a0", "a1", "a2", "b0"]


def test_many_groups_interleave_but_each_stays_ordered(sqs, fifo_url):
    expected = {}
    for i in range(60):
        g = f"g{i % 7}"
        send(sqs, fifo_url, f"{g}-{i}", group=g)
        expected.setdefault(g, []).append(f"{g}-{i}")
    seen = {}
    while True:
        got = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10,
                                  AttributeNames=["MessageGroupId"]).get("Messages", [])
        if not got:
            break
        for m in got:
            seen.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
        sqs.delete_message_batch(QueueUrl=fifo_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    assert seen == expected


def test_deduplication_window_is_five_minutes_even_after_delete(sqs, fifo_url, clock):
    first = send(sqs, fifo_url, "body", dedup="d1")
    dup = send(sqs, fifo_url, "other body", dedup="d1")
    assert dup["MessageId"] == first["MessageId"] and dup["SequenceNumber"] == first["SequenceNumber"]
    m = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)["Messages"]
    assert bodies({"Messages": m}) == ["body"]
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=m[0]["ReceiptHandle"])
    clock.advance(299)
    send(sqs, fifo_url, "again", dedup="d1")
    assert "Messages" not in sqs.receive_message(QueueUrl=fifo_url)
    clock.advance(1)
    fresh = send(sqs, fifo_url, "again", dedup="d1")
    assert fresh["MessageId"] != first["MessageId"]
    assert bodies(sqs.receive_message(QueueUrl=fifo_url)) == ["again"]


def test_content_based_deduplication(sqs):
    url = sqs.create_queue(QueueName="cbd.fifo", Attributes={"FifoQueue": "true",
                                                             "ContentBasedDeduplication": "true"})["QueueUrl"]
    a = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    b = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g2",
                         MessageAttributes={"k": {"DataType": "String", "StringValue": "attrs do not count"}})
    assert a["MessageId"] == b["MessageId"]
    # an explicit id overrides the body hash; the hash is the SHA-256 of the body
    c = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g", MessageDeduplicationId="explicit")
    assert c["MessageId"] != a["MessageId"]
    d = sqs.send_message(QueueUrl=url, MessageBody="different", MessageGroupId="g",
                         MessageDeduplicationId=hashlib.sha256(b"same").hexdigest())
    assert d["MessageId"] == a["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["MessageDeduplicationId"])
    assert bodies(got) == ["same", "same"]
    assert got["Messages"][0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same").hexdigest()


def test_deduplication_scope_message_group(sqs):
    url = sqs.create_queue(QueueName="scope.fifo", Attributes={
        "FifoQueue": "true", "DeduplicationScope": "messageGroup"})["QueueUrl"]
    a = send(sqs, url, "x", group="g1", dedup="d")
    b = send(sqs, url, "x", group="g2", dedup="d")
    c = send(sqs, url, "x", group="g1", dedup="d")
    assert a["MessageId"] != b["MessageId"] and c["MessageId"] == a["MessageId"]
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 2


def test_deduplication_scope_queue(sqs, fifo_url):
    a = send(sqs, fifo_url, "x", group="g1", dedup="d")
    b = send(sqs, fifo_url, "y", group="g2", dedup="d")
    assert a["MessageId"] == b["MessageId"]


def test_batch_dedup_and_order(sqs, fifo_url):
    out = sqs.send_message_batch(QueueUrl=fifo_url, Entries=[
        {"Id": str(i), "MessageBody": f"b{i}", "MessageGroupId": "g", "MessageDeduplicationId": f"d{i % 3}"}
        for i in range(6)])
    assert len(out["Successful"]) == 6
    assert [e["MessageId"] for e in out["Successful"][3:]] == [e["MessageId"] for e in out["Successful"][:3]]
    assert all("SequenceNumber" in e for e in out["Successful"])
    assert bodies(sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)) == ["b0", "b1", "b2"]


def test_fifo_validation(sqs, fifo_url):
    with pytest.raises(engine.ClientError) as e:
        sqs.send_message(QueueUrl=fifo_url, MessageBody="x", MessageDeduplicationId="d")
    assert error_of(e) == ("MissingRequiredParameterException", "The request must contain the parameter MessageGroupId.")
    assert e.value.response["Error"]["Code"] == "MissingParameter"
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.send_message(QueueUrl=fifo_url, MessageBody="x", MessageGroupId="g")
    assert error_of(e)[1] == ("The queue should either have ContentBasedDeduplication enabled or "
                              "MessageDeduplicationId provided explicitly")
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        send(sqs, fifo_url, "x", DelaySeconds=2)
    assert error_of(e)[1] == ("Value 2 for parameter DelaySeconds is invalid. Reason: The request include "
                              "parameter that is not valid for this queue type.")
    send(sqs, fifo_url, "zero-delay-is-fine", DelaySeconds=0)
    for bad in ["", "x" * 129, "has space", "tab\t"]:
        with pytest.raises(sqs.exceptions.InvalidParameterValue):
            send(sqs, fifo_url, "x", group=bad)
        with pytest.raises(sqs.exceptions.InvalidParameterValue):
            send(sqs, fifo_url, "x", dedup=bad or "ok", group="g" if bad else "")
    send(sqs, fifo_url, "punctuation", group="""!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~""", dedup="p" * 128)


def test_fifo_batch_validation_fails_the_whole_batch(sqs, fifo_url):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.send_message_batch(QueueUrl=fifo_url, Entries=[
            {"Id": "a", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
            {"Id": "b", "MessageBody": "y", "MessageDeduplicationId": "2"}])
    assert error_of(e)[1] == "The request must contain the parameter MessageGroupId."
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.send_message_batch(QueueUrl=fifo_url, Entries=[{"Id": "a", "MessageBody": "x", "MessageGroupId": "g"}])
    assert "ContentBasedDeduplication" in error_of(e)[1]
    assert "Messages" not in sqs.receive_message(QueueUrl=fifo_url)


def test_fifo_expired_receipt_handle_cannot_delete(sqs, fifo_url, clock):
    send(sqs, fifo_url, "x")
    h = sqs.receive_message(QueueUrl=fifo_url, VisibilityTimeout=5)["Messages"][0]["ReceiptHandle"]
    clock.advance(5)
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=h)
    assert error_of(e)[1] == f"Value {h} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
    h2 = sqs.receive_message(QueueUrl=fifo_url)["Messages"][0]["ReceiptHandle"]
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=h)
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=h2)


def test_fifo_queue_delay_is_retroactive(sqs, clock):
    url = sqs.create_queue(QueueName="d.fifo", Attributes={"FifoQueue": "true", "DelaySeconds": "60"})["QueueUrl"]
    send(sqs, url, "a")
    send(sqs, url, "b", group="other")
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])["Attributes"]
    assert a == {"ApproximateNumberOfMessagesDelayed": "2"}
    clock.advance(10)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "10"})
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["a", "b"]


def test_fifo_delay_keeps_group_order(sqs, clock):
    url = sqs.create_queue(QueueName="d2.fifo", Attributes={"FifoQueue": "true", "DelaySeconds": "5"})["QueueUrl"]
    send(sqs, url, "a")
    clock.advance(3)
    send(sqs, url, "b")
    clock.advance(2)
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["a"]
    clock.advance(30)
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["a", "b"]


def test_receive_request_attempt_id_returns_the_same_batch(sqs, fifo_url, clock):
    for i in range(3):
        send(sqs, fifo_url, f"m{i}")
    send(sqs, fifo_url, "other", group="h")
    first = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-1",
                                VisibilityTimeout=30)
    assert bodies(first) == ["m0", "m1"]
    clock.advance(20)
    retry = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-1",
                                VisibilityTimeout=30)
    assert [(m["Body"], m["ReceiptHandle"]) for m in retry["Messages"]] == [
        (m["Body"], m["ReceiptHandle"]) for m in first["Messages"]]
    clock.advance(20)  # the retry restarted the visibility timeout: still hidden
    assert bodies(sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)) == ["other"]
    # once a message of the batch is modified, the attempt id gives a fresh receive
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=first["Messages"][0]["ReceiptHandle"])
    clock.advance(10)
    fresh = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1")
    assert bodies(fresh) == ["m1", "m2"]


def test_receive_request_attempt_id_expires_after_five_minutes(sqs, fifo_url, clock):
    send(sqs, fifo_url, "a")
    first = sqs.receive_message(QueueUrl=fifo_url, ReceiveRequestAttemptId="x", VisibilityTimeout=600)
    clock.advance(limits.SQS_ATTEMPT_ID_WINDOW_S)
    assert "Messages" not in sqs.receive_message(QueueUrl=fifo_url, ReceiveRequestAttemptId="x")
    assert first["Messages"]


def test_attempt_id_is_ignored_on_standard_queues(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="a")
    sqs.send_message(QueueUrl=queue_url, MessageBody="b")
    assert bodies(sqs.receive_message(QueueUrl=queue_url, ReceiveRequestAttemptId="r")) == ["a"]
    assert bodies(sqs.receive_message(QueueUrl=queue_url, ReceiveRequestAttemptId="r")) == ["b"]


def test_fifo_counts_and_purge(sqs, fifo_url):
    for i in range(5):
        send(sqs, fifo_url, f"m{i}", group=f"g{i % 2}")
    sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=2)
    a = sqs.get_queue_attributes(QueueUrl=fifo_url, AttributeNames=["All"])["Attributes"]
    assert (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]) == ("3", "2")
    sqs.purge_queue(QueueUrl=fifo_url)
    a = sqs.get_queue_attributes(QueueUrl=fifo_url, AttributeNames=["All"])["Attributes"]
    assert (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    # dedup ids outlive the purge (they are remembered for 5 minutes)
    send(sqs, fifo_url, "m0", group="g0")
    assert "Messages" not in sqs.receive_message(QueueUrl=fifo_url)
    send(sqs, fifo_url, "new", group="g0")
    assert bodies(sqs.receive_message(QueueUrl=fifo_url)) == ["new"]


def test_fifo_retention(sqs, clock):
    url = sqs.create_queue(QueueName="r.fifo", Attributes={"FifoQueue": "true",
                                                           "MessageRetentionPeriod": "60"})["QueueUrl"]
    send(sqs, url, "old")
    clock.advance(30)
    send(sqs, url, "young")
    clock.advance(30)
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["young"]


def test_fifo_visibility_zero(sqs, fifo_url):
    send(sqs, fifo_url, "a")
    send(sqs, fifo_url, "b")
    assert bodies(sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10, VisibilityTimeout=0)) == ["a", "b"]
    assert bodies(sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10, VisibilityTimeout=0)) == ["a", "b"]


def test_fifo_inflight_limit_gives_no_error(sqs, fifo_url, monkeypatch):
    monkeypatch.setattr(limits, "SQS_INFLIGHT_FIFO_MAX", 3)
    for i in range(5):
        send(sqs, fifo_url, f"m{i}", group=f"g{i}")
    assert len(sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)["Messages"]) == 3
    assert "Messages" not in sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)


def test_a_batch_row_with_a_bad_group_or_dedup_id_fails_alone(sqs, fifo_url):
    out = sqs.send_message_batch(QueueUrl=fifo_url, Entries=[
        {"Id": "a", "MessageBody": "ok", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
        {"Id": "b", "MessageBody": "x", "MessageGroupId": "bad group", "MessageDeduplicationId": "d2"},
        {"Id": "c", "MessageBody": "y", "MessageGroupId": "g", "MessageDeduplicationId": "\u00e9"},
        {"Id": "d", "MessageBody": "bad\x00", "MessageGroupId": "g", "MessageDeduplicationId": "d3"}])
    assert [e["Id"] for e in out["Successful"]] == ["a"]
    failed = {e["Id"]: (e["Code"], e["Message"]) for e in out["Failed"]}
    assert failed["b"][0] == failed["c"][0] == "InvalidParameterValue" and failed["d"][0] == "InvalidMessageContents"
    assert "MessageGroupId can only include" in failed["b"][1]
    assert "MessageDeduplicationId can only include" in failed["c"][1]
    assert bodies(sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)) == ["ok"]


def test_native_bulk_send_needs_dedup_ids_unless_content_based(eng):
    backend = eng.backend("sqs")
    q = backend.create_queue("n.fifo", {"FifoQueue": "true"})
    with pytest.raises(engine.ClientError) as e:
        q.send_raw(["a"], ["g"], [None])
    assert error_of(e)[0] == "InvalidParameterValue"
    c = backend.create_queue("c.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"})
    first = c.send_raw(["a", "a"], ["g", "g"], [None, None])
    assert first.ids[0] == first.ids[1] and first.dups == b"\x00\x01"   # the same content: deduplicated

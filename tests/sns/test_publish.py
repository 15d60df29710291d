"""Publishing: the SQS envelope and raw delivery, message rules, MessageStructure, FIFO topics,
publish_batch, dead-letter queues for undeliverable SQS messages."""
import base64
import hashlib
import json
import re

import pytest

from engine import ClientError

from .conftest import bodies

ARN = "arn:aws:sns:us-east-1:000000000000:"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def message(exc_info):
    return exc_info.value.response["Error"]["Message"]


@pytest.fixture
def topic(sns):
    return sns.create_topic(Name="t")["TopicArn"]


@pytest.fixture
def wired(sns, topic, make_queue):
    """A topic with one SQS subscription: (queue url, subscription arn)."""
    url, qarn = make_queue("q")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    return url, sub


def test_publish_shape_and_sqs_envelope_exactly_as_aws_writes_it(sns, topic, wired, receive, shape, clock):
    url, sub = wired
    r = sns.publish(TopicArn=topic, Message='hello "world"\n', Subject="Greetings",
                    MessageAttributes={"color": {"DataType": "String", "StringValue": "red"},
                                       "n": {"DataType": "Number", "StringValue": "42"},
                                       "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    shape("sns", "Publish", r)
    assert UUID.fullmatch(r["MessageId"]) and "SequenceNumber" not in r
    [m] = receive(url)
    body = m["Body"]
    doc = json.loads(body)
    assert list(doc) == ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                         "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes"]
    assert doc["Type"] == "Notification" and doc["MessageId"] == r["MessageId"] and doc["TopicArn"] == topic
    assert doc["Subject"] == "Greetings" and doc["Message"] == 'hello "world"\n'
    assert doc["Timestamp"] == "2023-11-14T22:13:20.000Z"  # the ManualClock's start, UTC, milliseconds
    assert doc["SignatureVersion"] == "1" and len(doc["Signature"]) == 344
    assert doc["SigningCertURL"].startswith("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-")
    assert doc["UnsubscribeURL"] == f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={sub}"
    assert doc["MessageAttributes"] == {"blob": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01").decode()},
                                        "color": {"Type": "String", "Value": "red"},
                                        "n": {"Type": "Number", "Value": "42"}}
    # AWS's layout: pretty-printed, `"Key" : value`, attributes one per line
    assert body.startswith('{\n  "Type" : "Notification",\n  "MessageId" : "')
    assert '\n  "MessageAttributes" : {\n    "blob" : {"Type":"Binary","Value":"AAE="},\n' in body
    assert body.endswith('"n" : {"Type":"Number","Value":"42"}\n  }\n}')


def test_envelope_without_subject_or_attributes(sns, topic, wired, receive):
    url, _ = wired
    sns.publish(TopicArn=topic, Message="plain")
    doc = bodies(receive(url))[0]
    assert "Subject" not in doc and "MessageAttributes" not in doc
    assert receive(url) == []


def test_raw_message_delivery_to_sqs_carries_attributes(sns, topic, make_queue, receive):
    url, qarn = make_queue("raw")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message="just the body", Subject="ignored",
                MessageAttributes={"s": {"DataType": "String", "StringValue": "v"},
                                   "n": {"DataType": "Number", "StringValue": "1.5"},
                                   "b": {"DataType": "Binary", "BinaryValue": b"\xff"},
                                   "arr": {"DataType": "String.Array", "StringValue": '["a", 1]'}})
    [m] = receive(url, attributes=True)
    assert m["Body"] == "just the body"
    assert m["MessageAttributes"] == {
        "s": {"DataType": "String", "StringValue": "v"},
        "n": {"DataType": "Number", "StringValue": "1.5"},
        "b": {"DataType": "Binary", "BinaryValue": b"\xff"},
        "arr": {"DataType": "String.Array", "StringValue": '["a", 1]'}}


def test_raw_delivery_with_more_than_10_attributes_goes_to_the_dlq(sns, topic, make_queue, receive, backend):
    url, qarn = make_queue("raw")
    dlq_url, dlq = make_queue("dlq")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                  Attributes={"RawMessageDelivery": "true", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq})})
    attrs = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}
    sns.publish(TopicArn=topic, Message="m", MessageAttributes=attrs)
    assert receive(url) == []
    [dead] = receive(dlq_url, attributes=True)
    assert dead["Body"] == "m"
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "InvalidParameterValue"
    assert "a0" not in dead["MessageAttributes"]  # 11 attributes cannot travel to SQS


def test_one_publish_fans_out_to_every_subscription(sns, topic, make_queue, receive):
    urls = []
    for i in range(5):
        url, qarn = make_queue(f"q{i}")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        urls.append(url)
    ids = [sns.publish(TopicArn=topic, Message=f"m{i}")["MessageId"] for i in range(3)]
    for url in urls:
        got = bodies(receive(url))
        assert sorted(d["MessageId"] for d in got) == sorted(ids)


def test_target_arn_and_phone_number(sns, topic, wired, receive, backend):
    url, _ = wired
    sns.publish(TargetArn=topic, Message="via target")
    assert bodies(receive(url))[0]["Message"] == "via target"
    r = sns.publish(PhoneNumber="+15555550100", Message="text me")
    [entry] = backend.outbox(protocol="sms", endpoint="+15555550100")
    assert entry["MessageId"] == r["MessageId"] and entry["Body"] == "text me"
    with pytest.raises(ClientError) as e:
        sns.publish(Message="nowhere")
    assert message(e) == "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, TargetArn=topic, Message="both")
    assert code(e) == "InvalidParameter"
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.publish(TopicArn=ARN + "missing", Message="x")
    with pytest.raises(ClientError) as e:
        sns.publish(PhoneNumber="call me", Message="x")
    assert code(e) == "InvalidParameter"


def test_message_size_limit(sns, topic, wired, receive):
    url, _ = wired
    sns.publish(TopicArn=topic, Message="x" * 262144)  # exactly 256 KiB is accepted
    assert len(json.loads(receive(url)[0]["Body"])["Message"]) == 262144
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="x" * 262145)
    assert code(e) == "InvalidParameter" and message(e) == "Invalid parameter: Message too long"
    with pytest.raises(ClientError) as e:  # attributes count towards the limit
        sns.publish(TopicArn=topic, Message="x" * 262140,
                    MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
    assert message(e) == "Invalid parameter: Message too long"
    with pytest.raises(ClientError) as e:  # bytes, not characters
        sns.publish(TopicArn=topic, Message="é" * 131073)
    assert message(e) == "Invalid parameter: Message too long"


@pytest.mark.parametrize("kwargs,text", [
    ({"Message": ""}, "Invalid parameter: Empty message"),
    ({"Message": "m", "Subject": ""}, "Invalid parameter: Subject"),
    ({"Message": "m", "Subject": "s" * 101}, "Subject must be less than 100 characters"),
    ({"Message": "m", "Subject": "line\nbreak"}, "Invalid parameter: Subject"),
    ({"Message": "m", "Subject": "tab\tbetween"}, "Invalid parameter: Subject"),
    ({"Message": "m", "Subject": "nel\x85"}, "Invalid parameter: Subject"),
    ({"Message": "m", "Subject": " leading space"}, "Invalid parameter: Subject"),
    ({"Message": "m", "Subject": "lone \ud800"}, "Invalid parameter: Subject"),
    ({"Message": "m", "MessageStructure": "xml"}, "Invalid parameter: MessageStructure"),
    ({"Message": "not json", "MessageStructure": "json"},
     "Invalid parameter: Message Structure - JSON message body failed to parse"),
    ({"Message": '{"sqs": "x"}', "MessageStructure": "json"},
     "Invalid parameter: Message Structure - No default entry in JSON message body"),
    ({"Message": "m", "MessageDeduplicationId": "d"},
     "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that "
     "is not valid for this topic type"),
])
def test_invalid_publish(sns, topic, kwargs, text):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, **kwargs)
    assert code(e) == "InvalidParameter"
    assert message(e) == text


@pytest.mark.parametrize("attrs,text", [
    ({".x": {"DataType": "String", "StringValue": "v"}},
     "Invalid message attribute name starting with character '.' was found."),
    ({"x.": {"DataType": "String", "StringValue": "v"}},
     "Invalid message attribute name ending with character '.' was found."),
    ({"a..b": {"DataType": "String", "StringValue": "v"}},
     "Message attribute name can not have successive '.' character."),
    ({"a b": {"DataType": "String", "StringValue": "v"}},
     "Invalid non-alphanumeric character '#x20' was found in the message attribute name. Can only include "
     "alphanumeric characters, hyphens, underscores, or dots."),
    ({"k": {"DataType": "Integer", "StringValue": "1"}},
     "The message attribute 'k' has an invalid message attribute type, the set of supported type prefixes is "
     "Binary, Number, and String."),
    ({"k": {"DataType": "String"}},
     "The message attribute 'k' must contain non-empty message attribute value for message attribute type 'String'."),
    ({"k": {"DataType": "String", "BinaryValue": b"x"}},
     "The message attribute 'k' with type 'String' must use field 'String'."),
    ({"k": {"DataType": "Binary", "StringValue": "x"}},
     "The message attribute 'k' with type 'Binary' must use field 'Binary'."),
    ({"k": {"DataType": "Number", "StringValue": "abc"}}, "Could not cast message attribute 'k' value to number."),
    ({"k" * 257: {"DataType": "String", "StringValue": "v"}},
     "Length of message attribute name must be less than 256 bytes."),
])
def test_invalid_message_attributes(sns, topic, attrs, text):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="m", MessageAttributes=attrs)
    assert code(e) == "ParameterValueInvalid"
    assert isinstance(e.value, sns.exceptions.InvalidParameterValueException)
    assert message(e) == text


def test_message_structure_json_per_protocol(sns, topic, make_queue, receive, backend):
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    raw_url, raw_arn = make_queue("raw")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"})
    sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+15555550100")
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": "fallback", "sqs": "for queues", "email": "for mail", "lambda": 5}))
    assert bodies(receive(url))[0]["Message"] == "for queues"
    assert receive(raw_url)[0]["Body"] == "for queues"
    assert backend.outbox(protocol="sms")[-1]["Body"] == "fallback"


def test_undeliverable_sqs_messages_go_to_the_dead_letter_queue(sns, sqs, topic, make_queue, receive, backend):
    small_url, small = make_queue("small", MaximumMessageSize=1024)
    dlq_url, dlq = make_queue("dlq")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=small,
                        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq})})["SubscriptionArn"]
    sns.publish(TopicArn=topic, Message="x" * 2000)      # too large for the queue: a client error
    sns.publish(TopicArn=topic, Message="fits")
    assert [d["Message"] for d in bodies(receive(small_url))] == ["fits"]
    [dead] = receive(dlq_url, attributes=True)
    assert json.loads(dead["Body"])["Message"] == "x" * 2000
    assert json.loads(dead["Body"])["UnsubscribeURL"].endswith(sub)
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "InvalidParameterValue"
    assert "RequestID" in dead["MessageAttributes"] and "ErrorMessage" in dead["MessageAttributes"]
    # queue deleted: the subscription stays, deliveries go to the DLQ
    sqs.delete_queue(QueueUrl=small_url)
    sns.publish(TopicArn=topic, Message="after delete")
    [dead] = receive(dlq_url, attributes=True)
    assert json.loads(dead["Body"])["Message"] == "after delete"
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_undeliverable_without_dlq_is_recorded(sns, topic, backend):
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs",
                        Endpoint="arn:aws:sqs:us-east-1:000000000000:ghost")["SubscriptionArn"]
    mid = sns.publish(TopicArn=topic, Message="lost")["MessageId"]
    [failure] = [f for f in backend.failures if f["MessageId"] == mid]
    assert failure["SubscriptionArn"] == sub and failure["ErrorCode"] == "AWS.SimpleQueueService.NonExistentQueue"


# --- FIFO -------------------------------------------------------------------------------------------
@pytest.fixture
def fifo(sns, make_queue):
    arn = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, qarn = make_queue("q.fifo")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    return arn, url


def test_fifo_publish_rules(sns, fifo):
    arn, _ = fifo
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="m", MessageDeduplicationId="d")
    assert message(e) == "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="m", MessageGroupId="g")
    assert message(e) == ("Invalid parameter: The topic should either have ContentBasedDeduplication enabled or "
                          "MessageDeduplicationId provided explicitly")
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="m", MessageGroupId="g" * 129, MessageDeduplicationId="d")
    assert code(e) == "InvalidParameter"


def test_fifo_delivery_order_ids_and_envelope(sns, fifo, receive, shape):
    arn, url = fifo
    seqs = []
    for i in range(20):
        r = sns.publish(TopicArn=arn, Message=f"m{i}", MessageGroupId=f"g{i % 2}", MessageDeduplicationId=f"d{i}")
        shape("sns", "Publish", r)
        seqs.append(int(r["SequenceNumber"]))
    assert seqs == sorted(seqs) and len(set(seqs)) == 20
    got = receive(url, attributes=True)
    for group in ("g0", "g1"):
        in_group = [m for m in got if m["Attributes"]["MessageGroupId"] == group]
        assert [json.loads(m["Body"])["Message"] for m in in_group] == [f"m{i}" for i in range(20)
                                                                        if f"g{i % 2}" == group]
    doc = json.loads(got[0]["Body"])
    assert "SequenceNumber" in doc and "Signature" not in doc
    assert got[0]["Attributes"]["MessageDeduplicationId"] == "d0"


def test_fifo_deduplication_window(sns, fifo, receive, clock):
    arn, url = fifo
    a = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="same")
    clock.advance(299)
    b = sns.publish(TopicArn=arn, Message="other body", MessageGroupId="g", MessageDeduplicationId="same")
    assert b == {**b, "MessageId": a["MessageId"], "SequenceNumber": a["SequenceNumber"]}
    assert len(receive(url)) == 1
    clock.advance(2)  # the 5-minute window has passed
    c = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="same")
    assert c["MessageId"] != a["MessageId"]
    assert len(receive(url)) == 1


def test_fifo_content_based_deduplication(sns, make_queue, receive):
    arn = sns.create_topic(Name="c.fifo", Attributes={"FifoTopic": "true",
                                                      "ContentBasedDeduplication": "true"})["TopicArn"]
    url, qarn = make_queue("c.fifo")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    a = sns.publish(TopicArn=arn, Message="same", MessageGroupId="g")
    b = sns.publish(TopicArn=arn, Message="same", MessageGroupId="g2")
    sns.publish(TopicArn=arn, Message="different", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"]
    got = receive(url, attributes=True)
    assert [json.loads(m["Body"])["Message"] for m in got] == ["same", "different"]
    assert got[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same").hexdigest()


# --- publish_batch ------------------------------------------------------------------------------------
def test_publish_batch(sns, topic, wired, receive, shape):
    url, _ = wired
    r = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "one", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
        {"Id": "b", "Message": "two", "Subject": "s"},
        {"Id": "c", "Message": ""},
        {"Id": "d", "Message": "{}", "MessageStructure": "json"},
    ])
    shape("sns", "PublishBatch", r)
    assert [s["Id"] for s in r["Successful"]] == ["a", "b"]
    assert r["Failed"] == [
        {"Id": "c", "Code": "InvalidParameter", "Message": "Invalid parameter: Empty message", "SenderFault": True},
        {"Id": "d", "Code": "InvalidParameter",
         "Message": "Invalid parameter: Message Structure - No default entry in JSON message body",
         "SenderFault": True}]
    got = bodies(receive(url))
    assert [d["Message"] for d in got] == ["one", "two"]
    assert [d["MessageId"] for d in got] == [s["MessageId"] for s in r["Successful"]]
    assert got[0]["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}


def test_publish_batch_request_rules(sns, topic):
    def batch(entries):
        return sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)

    with pytest.raises(ClientError) as e:
        batch([])
    assert code(e) == "EmptyBatchRequest"
    assert isinstance(e.value, sns.exceptions.EmptyBatchRequestException)
    with pytest.raises(ClientError) as e:
        batch([{"Id": str(i), "Message": "m"} for i in range(11)])
    assert code(e) == "TooManyEntriesInBatchRequest"
    assert message(e) == "The batch request contains more entries than permissible."
    with pytest.raises(ClientError) as e:
        batch([{"Id": "x", "Message": "m"}, {"Id": "x", "Message": "n"}])
    assert code(e) == "BatchEntryIdsNotDistinct"
    assert message(e) == "Two or more batch entries in the request have the same Id."
    with pytest.raises(ClientError) as e:
        batch([{"Id": "bad id!", "Message": "m"}])
    assert code(e) == "InvalidBatchEntryId"
    with pytest.raises(ClientError) as e:
        batch([{"Id": "a" * 81, "Message": "m"}])
    assert code(e) == "InvalidBatchEntryId"
    with pytest.raises(ClientError) as e:
        batch([{"Id": str(i), "Message": "x" * 30000} for i in range(10)])
    assert code(e) == "BatchRequestTooLong"
    assert message(e) == "The length of all the messages put together is more than the limit."
    with pytest.raises(ClientError) as e:
        batch([{"Id": "a", "Message": "m", "MessageAttributes": {"k": {"DataType": "Number", "StringValue": "x"}}}])
    assert code(e) == "ParameterValueInvalid"
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.publish_batch(TopicArn=ARN + "missing", PublishBatchRequestEntries=[{"Id": "a", "Message": "m"}])


def test_publish_batch_fifo(sns, fifo, receive):
    arn, url = fifo
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[{"Id": "a", "Message": "m"}])
    assert message(e) == "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    r = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": str(i), "Message": f"m{i}", "MessageGroupId": "g", "MessageDeduplicationId": f"d{i % 3}"}
        for i in range(6)])
    assert len(r["Successful"]) == 6 and all("SequenceNumber" in s for s in r["Successful"])
    assert r["Successful"][3]["MessageId"] == r["Successful"][0]["MessageId"]  # deduplicated within the batch
    assert [json.loads(m["Body"])["Message"] for m in receive(url)] == ["m0", "m1", "m2"]


def test_native_bulk_api(backend, sns, topic, wired, receive):
    url, _ = wired
    t = backend.topics[topic]
    msgs = t.publish_many([f"m{i}" for i in range(25)], attributes={"k": ("String", "v")})
    assert len(msgs) == 25 and len({m.id for m in msgs}) == 25
    got = bodies(receive(url))
    assert [d["Message"] for d in got] == [f"m{i}" for i in range(25)]
    assert got[0]["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    one = t.publish("single", subject="s")
    assert bodies(receive(url))[0]["MessageId"] == one.id


def test_native_bulk_api_gives_each_message_its_own_attribute_map(backend, topic, wired, receive):
    """Maps repeat, alternate, differ only in a value's type (bytes and bytearray resolve alike)
    and outnumber the maps a call remembers: each message still carries exactly its own."""
    maps = [{"k": ("String", "a")}, {"k": ("String", "b")}, {"k": ("String", "a")}, {"k": ("Binary", b"\x00")},
            {"k": ("Binary", bytearray(b"\x00"))}, None, {"k": ("Number", "1")}, {"j": ("String", "a")},
            {"k": ("String", "c"), "j": ("String", "a")}, {"k": ("String", "d")}, {"k": ("String", "a")}, {}]
    backend.topics[topic].publish_many([f"m{i}" for i in range(len(maps))], attributes=maps)
    got = [d.get("MessageAttributes") for d in bodies(receive(wired[0]))]
    expected = [{name: {"Type": dt, "Value": value if isinstance(value, str) else "AA=="}
                 for name, (dt, value) in m.items()} if m else None for m in maps]
    assert got == expected


def test_concurrent_publishers_and_subscription_changes(sns, topic, make_queue, receive):
    import threading
    url, qarn = make_queue("stable")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    errors = []

    def publisher(k):
        try:
            for i in range(200):
                sns.publish(TopicArn=topic, Message=f"{k}-{i}")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    def churn():
        try:
            for i in range(30):
                _, arn = make_queue(f"churn{i}")
                sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
                sns.unsubscribe(SubscriptionArn=sub)
        except Exception as err:  # pragma: no cover
            errors.append(err)

    threads = [threading.Thread(target=publisher, args=(k,)) for k in range(4)] + [threading.Thread(target=churn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    got = [d["Message"] for d in bodies(receive(url))]
    assert len(got) == 800 and len(set(got)) == 800
    for k in range(4):  # each publisher's messages arrive in its order
        mine = [m for m in got if m.startswith(f"{k}-")]
        assert mine == [f"{k}-{i}" for i in range(200)]


def test_fifo_concurrent_publishers_keep_sequence_order(sns, fifo, receive):
    import threading
    arn, url = fifo
    results = []
    lock = threading.Lock()

    def publisher(k):
        for i in range(100):
            r = sns.publish(TopicArn=arn, Message=f"{k}-{i}", MessageGroupId="one", MessageDeduplicationId=f"{k}-{i}")
            with lock:
                results.append((int(r["SequenceNumber"]), f"{k}-{i}"))

    threads = [threading.Thread(target=publisher, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    got = [json.loads(m["Body"])["Message"] for m in receive(url)]
    assert got == [m for _, m in sorted(results)]  # queue order == topic sequence order


def test_fifo_throughput_scope_message_group_dedups_per_group(sns, make_queue, receive):
    arn = sns.create_topic(Name="g.fifo", Attributes={"FifoTopic": "true",
                                                      "FifoThroughputScope": "MessageGroup"})["TopicArn"]
    url, qarn = make_queue("g.fifo", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    a = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g1", MessageDeduplicationId="d")
    b = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g2", MessageDeduplicationId="d")
    c = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g1", MessageDeduplicationId="d")
    assert a["MessageId"] != b["MessageId"] and c["MessageId"] == a["MessageId"]
    assert len(receive(url)) == 2


def test_subject_takes_any_utf8_text(sns, topic, make_queue, receive):
    # recorded from AWS (moto's suite): a subject with CJK characters is accepted and delivered
    url, qarn = make_queue("subjects")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    for subject in ("my\u6c49\u5b57subject", "\u00e9t\u00e9 \U0001F600", "x" * 100):
        sns.publish(TopicArn=topic, Message="m", Subject=subject)
    assert [json.loads(m["Body"])["Subject"] for m in receive(url)] == [
        "my\u6c49\u5b57subject", "\u00e9t\u00e9 \U0001F600", "x" * 100]


def test_empty_lists_are_present_as_aws_returns_them(sns, topic):
    # recorded from AWS: SNS (a query-protocol service) answers an empty list as [] and leaves out
    # only what it has nothing for (NextToken on the last page)
    r = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}])
    assert r["Failed"] == [] and len(r["Successful"]) == 1
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == []
    page = sns.list_subscriptions_by_topic(TopicArn=topic)
    assert page["Subscriptions"] == [] and "NextToken" not in page
    page = sns.list_subscriptions()
    assert page["Subscriptions"] == [] and "NextToken" not in page

"""The bulk fan-out into SQS (envelopes built into one buffer, one store call per subscription and
publish) delivers what AWS delivers: each message received through the SQS client with its exact
body, MD5OfBody, and, for raw delivery, its MessageAttributes and MD5OfMessageAttributes, computed
here independently of the engine (AWS's documented algorithm)."""
import hashlib
import json
import struct

import pytest

from engine.errors import ClientError, ParamValidationError
from engine.sns import delivery


def md5_of_attributes(attributes: dict) -> str:
    """The SQS MD5 of message attributes: per name in order, length-prefixed name, data type,
    transport byte (1 string, 2 binary) and value."""
    h = hashlib.md5()
    for name in sorted(attributes):
        a = attributes[name]
        for text in (name, a["DataType"]):
            h.update(struct.pack(">I", len(text.encode())) + text.encode())
        if "StringValue" in a:
            value = a["StringValue"].encode()
            h.update(b"\x01" + struct.pack(">I", len(value)) + value)
        else:
            h.update(b"\x02" + struct.pack(">I", len(a["BinaryValue"])) + a["BinaryValue"])
    return h.hexdigest()


def received(sqs, url, shape, n):
    out = []
    while len(out) < n:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        shape("sqs", "ReceiveMessage", got)
        assert got.get("Messages"), f"{len(out)} of {n} messages received"
        out.extend(got["Messages"])
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(got["Messages"])])
    return out


BODIES = [f'{{"order": {i}, "note": "caf\u00e9 \\"{i}\\"\\n\u6c49"}}' for i in range(150)]


def kind(i: int) -> str:
    return ("even", "odd", "third")[i % 3]


@pytest.mark.parametrize("raw", [False, True])
def test_publish_many_arrives_byte_for_byte(eng, sns, sqs, make_queue, shape, raw):
    topic_arn = sns.create_topic(Name="t")["TopicArn"]
    topic = eng.backend("sns").topics[topic_arn]
    url, qarn = make_queue("all")
    furl, fqarn = make_queue("filtered")
    attrs = {"RawMessageDelivery": "true"} if raw else {}
    all_sub = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=qarn, Attributes=attrs)["SubscriptionArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=fqarn,
                  Attributes={**attrs, "FilterPolicy": json.dumps({"kind": ["odd"]})})
    maps = [{"kind": ("String", kind(i)), "n": ("Number", str(i % 2)), "b": ("Binary", b"\x00\xff")}
            for i in range(len(BODIES))]
    msgs = topic.publish_many(BODIES, attributes=maps)
    assert len(msgs) == len(BODIES)
    unsubscribe_url = eng.backend("sns").subscriptions[all_sub].unsubscribe_url

    got = received(sqs, url, shape, len(BODIES))
    assert len(got) == len(BODIES)
    by_id = {}
    for m in got:
        assert m["MD5OfBody"] == hashlib.md5(m["Body"].encode()).hexdigest()
        if raw:
            assert m["MD5OfMessageAttributes"] == md5_of_attributes(m["MessageAttributes"])
            by_id[m["Body"]] = m
        else:
            assert "MessageAttributes" not in m
            by_id[json.loads(m["Body"])["MessageId"]] = m
    for i, (body, msg) in enumerate(zip(BODIES, msgs)):
        if raw:
            m = by_id[body]
            assert m["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": kind(i)},
                                              "n": {"DataType": "Number", "StringValue": str(i % 2)},
                                              "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}}
        else:
            m = by_id[msg.id]
            assert m["Body"] == msg.envelope("sqs", unsubscribe_url)
            doc = json.loads(m["Body"])
            assert doc["Message"] == body and doc["TopicArn"] == topic_arn and doc["Type"] == "Notification"
            assert doc["MessageAttributes"]["kind"] == {"Type": "String", "Value": kind(i)}
            assert doc["MessageAttributes"]["b"] == {"Type": "Binary", "Value": "AP8="}

    odd = received(sqs, furl, shape, len(BODIES) // 3)
    texts = sorted(m["Body"] if raw else json.loads(m["Body"])["Message"] for m in odd)
    assert texts == sorted(b for i, b in enumerate(BODIES) if kind(i) == "odd")
    assert "Messages" not in sqs.receive_message(QueueUrl=furl)


def test_publish_batch_through_the_client_arrives_with_its_digests(eng, sns, sqs, make_queue, shape):
    topic_arn = sns.create_topic(Name="t")["TopicArn"]
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=qarn)
    entries = [{"Id": f"e{i}", "Message": BODIES[i],
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": kind(i)}}} for i in range(10)]
    out = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
    shape("sns", "PublishBatch", out)
    ids = {s["Id"]: s["MessageId"] for s in out["Successful"]}
    got = received(sqs, url, shape, 10)
    docs = {json.loads(m["Body"])["MessageId"]: (m, json.loads(m["Body"])) for m in got}
    for i in range(10):
        m, doc = docs[ids[f"e{i}"]]
        assert m["MD5OfBody"] == hashlib.md5(m["Body"].encode()).hexdigest()
        assert doc["Message"] == BODIES[i] and doc["MessageAttributes"] == {"kind": {"Type": "String",
                                                                                     "Value": kind(i)}}


def test_a_body_the_queue_refuses_fails_alone(eng, sns, sqs, make_queue, shape):
    """A queue whose MaximumMessageSize is below one envelope: that message fails with the queue's
    error (recorded in the failures), the others arrive."""
    topic_arn = sns.create_topic(Name="t")["TopicArn"]
    topic = eng.backend("sns").topics[topic_arn]
    url, qarn = make_queue("small", MaximumMessageSize=1500)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=qarn)
    msgs = topic.publish_many(["short", "x" * 1400, "also short"])
    got = received(sqs, url, shape, 2)
    assert sorted(json.loads(m["Body"])["Message"] for m in got) == ["also short", "short"]
    [failure] = eng.backend("sns").failures
    assert failure["MessageId"] == msgs[1].id
    assert failure["ErrorCode"] == "InvalidParameterValue" and "shorter than 1500 bytes" in failure["ErrorMessage"]
    assert json.loads(failure["Body"])["Message"] == "x" * 1400


def test_packed_envelopes_read_back_as_rows(eng, sns):
    topic = eng.backend("sns").topics[sns.create_topic(Name="t")["TopicArn"]]
    msgs = topic.publish_many(["a", "b\u00e9", "c"])
    rows = delivery.sqs_envelopes(msgs, "https://u")
    assert len(rows) == 3 and rows[-1] == rows[2]
    assert [r.decode() for r in rows] == [m.envelope("sqs", "https://u") for m in msgs]
    with pytest.raises(IndexError):
        rows[3]


def test_many_distinct_attribute_maps_each_arrive_with_their_own(eng, sns, sqs, make_queue, shape):
    """More distinct maps than a publish compares against, in a cycle, equal maps as new objects:
    every message still carries its own attributes."""
    topic_arn = sns.create_topic(Name="t")["TopicArn"]
    topic = eng.backend("sns").topics[topic_arn]
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    bodies = [f"m{i}" for i in range(60)]
    topic.publish_many(bodies, attributes=[{"k": ("String", f"v{i % 7}")} if i % 5 else None for i in range(60)])
    got = {m["Body"]: m for m in received(sqs, url, shape, 60)}
    for i, body in enumerate(bodies):
        m = got[body]
        if i % 5:
            assert m["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": f"v{i % 7}"}}
            assert m["MD5OfMessageAttributes"] == md5_of_attributes(m["MessageAttributes"])
        else:
            assert "MessageAttributes" not in m


def test_sizes_are_counted_in_utf8_bytes(eng, sns, sqs, make_queue, shape):
    topic_arn = sns.create_topic(Name="t")["TopicArn"]
    topic = eng.backend("sns").topics[topic_arn]
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    largest = "\u00e9" * (256 * 1024 // 2)   # 2 bytes each: exactly the limit
    with pytest.raises(ClientError, match="Message too long"):
        topic.publish_many(["fine", largest + "x"])
    with pytest.raises(ClientError, match="Message too long"):
        topic.publish_many(["fine", largest[1:]], attributes={"k": ("String", "v")})
    assert len(topic.publish_many([])) == 0
    topic.publish_many(["fine", largest])
    assert sorted(m["Body"] for m in received(sqs, url, shape, 2)) == ["fine", largest]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_str_subclass_bodies_are_published_and_bad_ones_refused(eng, sns, sqs, make_queue, shape):
    class Text(str):
        pass

    topic_arn = sns.create_topic(Name="t")["TopicArn"]
    topic = eng.backend("sns").topics[topic_arn]
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    for bad, error in (([Text("a"), ""], ClientError), (["a", b"b"], ParamValidationError)):
        with pytest.raises(error):
            topic.publish_many(bad)
    topic.publish_many([Text("a"), "b"])
    assert sorted(m["Body"] for m in received(sqs, url, shape, 2)) == ["a", "b"]

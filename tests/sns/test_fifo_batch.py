"""publish_batch to a FIFO topic whose entries each carry their own group and deduplication ids:
the answers (MessageIds, SequenceNumbers, a duplicate's original ids, per-entry failures) and what
FIFO and standard SQS subscriptions receive (bodies, attributes, order, group and deduplication
ids), through the boto3-shaped clients."""
import hashlib
import json

import pytest


@pytest.fixture
def fifo_topic(sns, make_queue):
    """A FIFO topic with an enveloped and a raw FIFO queue subscribed, and a standard queue:
    (topic arn, {name: queue url})."""
    def make(**attributes):
        arn = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true", **attributes})["TopicArn"]
        urls = {}
        for name, raw in (("env.fifo", False), ("raw.fifo", True), ("std", False)):
            urls[name], qarn = make_queue(name)
            sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn,
                          Attributes={"RawMessageDelivery": "true"} if raw else {})
        return arn, urls
    return make


def receive_all(sqs, url):
    got = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                       MessageSystemAttributeNames=["All"]).get("Messages", []):
        got += batch
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(batch)])
    return got


def in_queue_order(messages):
    """A FIFO queue hands out one group's messages together: its order across groups is the
    queue's SequenceNumber."""
    return sorted(messages, key=lambda m: int(m["Attributes"]["SequenceNumber"]))


def entry(i, group, dedup, **extra):
    return {"Id": f"e{i}", "Message": f"body-{i}", "MessageGroupId": group, "MessageDeduplicationId": dedup, **extra}


def test_each_entry_with_its_own_ids_deduplicated_against_the_window_and_the_batch(sns, sqs, fifo_topic, shape):
    arn, urls = fifo_topic()
    before = sns.publish(TopicArn=arn, Message="before", MessageGroupId="a", MessageDeduplicationId="d-before")
    attrs = {"k": {"DataType": "String", "StringValue": "v"}}
    entries = [entry(0, "a", "d0", MessageAttributes=attrs),
               entry(1, "b", "d-before"),               # a duplicate of the earlier publish
               entry(2, "b", "d2", Subject="s"),
               entry(3, "c", "d0"),                     # a duplicate of entry 0, inside the batch
               entry(4, "a", "d4", MessageAttributes=attrs),
               entry(5, "c", "d5")]
    out = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    shape("sns", "PublishBatch", out)
    assert out["Failed"] == []
    ok = {s["Id"]: (s["MessageId"], s["SequenceNumber"]) for s in out["Successful"]}
    assert [s["Id"] for s in out["Successful"]] == [e["Id"] for e in entries]
    assert ok["e1"] == (before["MessageId"], before["SequenceNumber"])
    assert ok["e3"] == ok["e0"]
    fresh = ["e0", "e2", "e4", "e5"]
    seqs = [int(ok[i][1]) for i in fresh]
    assert seqs == list(range(int(before["SequenceNumber"]) + 1, int(before["SequenceNumber"]) + 5))
    ids = [ok[i][0] for i in fresh]
    assert len(set(ids)) == 4 and ids == sorted(ids) and before["MessageId"] < ids[0]   # numbered in entry order

    delivered = {0: "a", 2: "b", 4: "a", 5: "c"}
    env = in_queue_order(receive_all(sqs, urls["env.fifo"]))[1:]   # (after "before")
    assert [(m["Attributes"]["MessageGroupId"], m["Attributes"]["MessageDeduplicationId"]) for m in env] == \
        [(g, f"d{i}") for i, g in delivered.items()]
    docs = [json.loads(m["Body"]) for m in env]
    assert [(d["Message"], d["MessageId"], d["SequenceNumber"]) for d in docs] == \
        [(f"body-{i}", *ok[f"e{i}"]) for i in delivered]
    assert [d.get("Subject") for d in docs] == [None, "s", None, None]
    assert [d.get("MessageAttributes") for d in docs] == \
        [{"k": {"Type": "String", "Value": "v"}}, None, {"k": {"Type": "String", "Value": "v"}}, None]
    assert len({d["Timestamp"] for d in docs}) == 1

    raw = in_queue_order(receive_all(sqs, urls["raw.fifo"]))[1:]
    assert [(m["Body"], m["Attributes"]["MessageGroupId"], m["Attributes"]["MessageDeduplicationId"])
            for m in raw] == [(f"body-{i}", g, f"d{i}") for i, g in delivered.items()]
    assert [m.get("MessageAttributes", {}).get("k", {}).get("StringValue") for m in raw] == ["v", None, "v", None]

    std = receive_all(sqs, urls["std"])[1:]    # a standard queue: the envelope, no group
    assert [json.loads(m["Body"])["Message"] for m in std] == [f"body-{i}" for i in delivered]
    assert all("MessageGroupId" not in m["Attributes"] for m in std)


def test_a_refused_entry_fails_alone_and_the_others_keep_their_order(sns, sqs, fifo_topic, shape):
    arn, urls = fifo_topic()
    out = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        entry(0, "a", "d0"), entry(1, "a", "not valid"), entry(2, "b", "d2"), entry(3, "a", "d0")])
    shape("sns", "PublishBatch", out)
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in out["Failed"]] == [("e1", "InvalidParameter", True)]
    ok = {s["Id"]: (s["MessageId"], s["SequenceNumber"]) for s in out["Successful"]}
    assert list(ok) == ["e0", "e2", "e3"] and ok["e3"] == ok["e0"]
    assert int(ok["e2"][1]) == int(ok["e0"][1]) + 1
    assert [m["Body"] for m in in_queue_order(receive_all(sqs, urls["raw.fifo"]))] == ["body-0", "body-2"]


def test_content_based_deduplication_inside_one_batch(sns, sqs, fifo_topic, shape):
    arn, urls = fifo_topic(ContentBasedDeduplication="true")
    out = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": str(i), "Message": f"m{i % 2}", "MessageGroupId": f"g{i}"} for i in range(4)])
    shape("sns", "PublishBatch", out)
    got = [(s["MessageId"], s["SequenceNumber"]) for s in out["Successful"]]
    assert got[2] == got[0] and got[3] == got[1] and got[0] != got[1]
    raw = in_queue_order(receive_all(sqs, urls["raw.fifo"]))
    assert [(m["Body"], m["Attributes"]["MessageGroupId"], m["Attributes"]["MessageDeduplicationId"])
            for m in raw] == [(f"m{i}", f"g{i}", hashlib.sha256(f"m{i}".encode()).hexdigest()) for i in range(2)]


def test_deduplication_per_message_group(sns, sqs, fifo_topic, shape):
    arn, urls = fifo_topic(FifoThroughputScope="MessageGroup")
    out = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        entry(0, "a", "d"), entry(1, "b", "d"), entry(2, "a", "d")])
    shape("sns", "PublishBatch", out)
    got = [(s["MessageId"], s["SequenceNumber"]) for s in out["Successful"]]
    assert got[2] == got[0] and got[1] != got[0]
    # (the FIFO queues deduplicate "d" again across the queue: the standard one shows what SNS delivered)
    assert [json.loads(m["Body"])["Message"] for m in receive_all(sqs, urls["std"])] == ["body-0", "body-1"]


def test_a_repeated_batch_inside_the_window_is_all_duplicates(sns, sqs, fifo_topic, clock, shape):
    arn, urls = fifo_topic()
    entries = [entry(i, f"g{i % 3}", f"d{i}") for i in range(10)]
    first = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    clock.advance(299)
    again = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    shape("sns", "PublishBatch", again)
    assert again["Successful"] == first["Successful"]
    assert len(receive_all(sqs, urls["env.fifo"])) == 10
    clock.advance(2)   # past the 5-minute window: new messages
    later = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    assert {s["MessageId"] for s in later["Successful"]}.isdisjoint(s["MessageId"] for s in first["Successful"])
    assert [m["Body"] for m in in_queue_order(receive_all(sqs, urls["raw.fifo"]))] == \
        [f"body-{i}" for i in range(10)] * 2


def test_a_standard_topic_batch_with_a_group_id_per_entry(sns, sqs, make_queue, shape):
    arn = sns.create_topic(Name="std")["TopicArn"]
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    out = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "m0", "MessageGroupId": "g0"}, {"Id": "b", "Message": "m1"},
        {"Id": "c", "Message": "m2", "MessageGroupId": "g2"}])
    shape("sns", "PublishBatch", out)
    assert [s["Id"] for s in out["Successful"]] == ["a", "b", "c"] and out["Failed"] == []
    assert all("SequenceNumber" not in s for s in out["Successful"])
    got = {m["Body"]: m["Attributes"].get("MessageGroupId") for m in receive_all(sqs, url)}
    assert got == {"m0": "g0", "m1": None, "m2": "g2"}
    refused = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "m", "MessageDeduplicationId": "d"}, {"Id": "b", "Message": "m"}])
    assert [(f["Id"], f["Code"]) for f in refused["Failed"]] == [("a", "InvalidParameter")]
    assert [s["Id"] for s in refused["Successful"]] == ["b"]

"""A FIFO topic's notifications into SQS are built by the core in one pass (delivery.fifo_sqs_envelopes)
and sent with their group and deduplication ids in one call into the queue: byte for byte the
envelopes the Python path writes, for any body, subject, structure and attributes; what the core
cannot take (messages of one batch with different subjects, a lone surrogate) takes the Python
path; a body the queue refuses fails alone with the queue's own error."""
import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.sns import delivery
from engine.sns.models import NO_ATTRIBUTES, PublishEntry, attribute_set

UNSUB = "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:0:t.fifo:x"
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
attribute_maps = st.dictionaries(st.sampled_from(["a", "b.c"]),
                                 st.tuples(st.just("String"), st.sampled_from(["1", "x\"y\\z", "\u00e9\n"])),
                                 max_size=2)


@pytest.fixture
def fifo_topic(sns, backend):
    return backend.topics[sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]]


def published(backend, topic, bodies, subject=None, attributes=None, structure=None):
    """Messages prepared, stamped and numbered as a FIFO publish makes them, not fanned out."""
    sets = [attribute_set(attributes) if attributes else NO_ATTRIBUTES] * len(bodies)
    msgs = backend.prepare_many(topic, bodies, sets, subject=subject, structure=structure,
                                groups=[f"g{k % 3}" for k in range(len(bodies))],
                                dedups=[f"d{k}" for k in range(len(bodies))])
    now = backend.clock.now()
    msgs.stamp(now, delivery.iso_timestamp(now))
    for k, m in enumerate(msgs):
        m.seq = str(10**19 + k)
    return msgs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(texts, min_size=1, max_size=5), subject=st.one_of(st.none(), st.sampled_from(
    ["S", "my\u6c49\u5b57subject", 'quote " and \\ backslash'])), attrs=attribute_maps, structured=st.booleans())
def test_core_fifo_envelopes_are_the_python_ones(backend, fifo_topic, bodies, subject, attrs, structured):
    if structured:
        bodies = [json.dumps({"default": b, "sqs": b + "!"}) for b in bodies]
    attributes = {k: (dt, v, None) for k, (dt, v) in attrs.items()}
    msgs = published(backend, fifo_topic, bodies, subject, attributes, "json" if structured else None)
    built = delivery.fifo_sqs_envelopes(msgs, UNSUB)
    assert [b.decode("utf-8") for b in built] == [m.head("sqs") + UNSUB + m.tail() for m in msgs]
    for b, m in zip(built, msgs):
        doc = json.loads(b)
        assert (doc["MessageId"], doc["SequenceNumber"], doc["Message"]) == (m.id, m.seq, m.content("sqs"))
        assert "Signature" not in doc and doc.get("Subject") == subject


def test_what_the_core_cannot_build_takes_the_python_path(backend, fifo_topic):
    assert delivery.fifo_sqs_envelopes(published(backend, fifo_topic, ["lone \ud800"]), UNSUB) is None
    msgs = published(backend, fifo_topic, ["a", "b"], subject="one")
    msgs[1].subject = "two"   # (a publish_batch whose entries differ in subject)
    assert delivery.fifo_sqs_envelopes(msgs, UNSUB) is None


def test_entries_with_different_subjects_each_get_their_own(sns, sqs, make_queue, receive, shape):
    arn = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, qarn = make_queue("q.fifo")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    entries = [{"Id": str(k), "Message": f"m{k}", "Subject": f"s{k % 2}", "MessageGroupId": "g",
                "MessageDeduplicationId": f"d{k}"} for k in range(4)]
    out = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    shape("sns", "PublishBatch", out)
    got = [json.loads(m["Body"]) for m in receive(url)]
    assert [(d["Message"], d["Subject"], d["SequenceNumber"]) for d in got] == \
        [(f"m{k}", f"s{k % 2}", s["SequenceNumber"]) for k, s in enumerate(out["Successful"])]


def test_a_body_the_fifo_queue_refuses_fails_alone(backend, sns, sqs, make_queue, receive):
    arn = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, qarn = make_queue("raw.fifo")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    entries = [{"Id": str(k), "Message": body, "MessageGroupId": "g", "MessageDeduplicationId": f"d{k}"}
               for k, body in enumerate(["first", "control \x01 character", "third"])]
    assert len(sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)["Successful"]) == 3
    assert [m["Body"] for m in receive(url)] == ["first", "third"]   # the group's order kept
    [failure] = backend.failures
    assert (failure["ErrorCode"], failure["Body"]) == ("InvalidMessageContents", "control \x01 character")



def test_envelopes_in_a_durable_fifo_queue_read_back_the_same_after_a_restart(tmp_path):
    def opened():
        return engine.Engine(data_dir=str(tmp_path / "data"), clock=engine.ManualClock(start=1_700_000_000.0))

    with opened() as eng:
        sns, sqs, backend = eng.client("sns"), eng.client("sqs"), eng.backend("sns")
        arn = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sub_arn = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
        unsubscribe_url = backend.subscriptions[sub_arn].unsubscribe_url
        sent = backend.publish_batch(backend.topics[arn], [
            PublishEntry(str(k), f"m{k} \u00e9", group=f"g{k % 2}", dedup=f"d{k}") for k in range(4)])
        expected = {m.id: m.envelope("sqs", unsubscribe_url) for m in sent}
    with opened() as eng:
        got = eng.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert {json.loads(m["Body"])["MessageId"]: m["Body"] for m in got} == expected
        assert all(hashlib.md5(m["Body"].encode()).hexdigest() == m["MD5OfBody"] for m in got)

"""The SNS JSON envelope built in bulk by the core (engine._core.template_rows) is byte for byte the
one the Python path writes, for any body, subject and attributes; what the core cannot take (a
lone surrogate) takes the Python path; a message's placeholder signature is the same in every
protocol's rendering."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import _core
from engine.sns import delivery
from engine.sns.models import NO_ATTRIBUTES, attribute_set


def published(backend, topic, bodies, subject=None, attributes=None):
    """Messages prepared and stamped as a publish stamps them, not fanned out."""
    sets = [attribute_set(attributes)] * len(bodies) if attributes else [NO_ATTRIBUTES] * len(bodies)
    msgs = backend.prepare_many(topic, bodies, sets, subject=subject)
    now = backend.clock.now()
    msgs.stamp(now, delivery.iso_timestamp(now))
    return msgs


@pytest.fixture
def topic(sns, backend):
    return backend.topics[sns.create_topic(Name="t")["TopicArn"]]


UNSUB = "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:0:t:x"
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
attribute_maps = st.dictionaries(st.sampled_from(["a", "b.c", "Z_9"]),
                                 st.tuples(st.sampled_from(["String", "String.x", "Number"]),
                                           st.sampled_from(["1", "-2.5e3", "x\"y\\z", "\u00e9\n"])), max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(texts, min_size=1, max_size=5), subject=st.one_of(st.none(), st.sampled_from(
    ["S", "my\u6c49\u5b57subject", 'quote " and \\ backslash'])), attrs=attribute_maps)
def test_core_envelopes_are_the_python_ones(backend, topic, bodies, subject, attrs):   # the topic is only read
    attributes = {k: (dt, v, None) for k, (dt, v) in attrs.items()
                  if not (dt == "Number" and not v[0].isdigit() and v[0] != "-")}
    msgs = published(backend, topic, bodies, subject, attributes)
    built = delivery.sqs_envelopes(msgs, UNSUB)
    assert [b.decode("utf-8") for b in built] == [m.head("sqs") + UNSUB + m.tail() for m in msgs]
    for b, m in zip(built, msgs):
        doc = json.loads(b)
        assert doc["Message"] == m.body and doc["MessageId"] == m.id and doc.get("Subject") == subject


def test_shapes_the_core_does_not_build_take_the_python_path(backend, topic, sns, sqs, make_queue, receive):
    assert delivery.sqs_envelopes(published(backend, topic, ["lone \ud800"]), UNSUB) is None
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=topic.arn, Protocol="sqs", Endpoint=qarn)
    # a batch whose entries differ in subject (or structure, or group) is not plain: each its own envelope
    entries = [{"Id": "a", "Message": "a", "Subject": "one"}, {"Id": "b", "Message": "b", "Subject": "two"},
               {"Id": "c", "Message": '{"default": "c"}', "MessageStructure": "json"}]
    assert len(sns.publish_batch(TopicArn=topic.arn, PublishBatchRequestEntries=entries)["Successful"]) == 3
    got = [json.loads(m["Body"]) for m in receive(url)]
    assert [(d["Message"], d.get("Subject")) for d in got] == [("a", "one"), ("b", "two"), ("c", None)]
    # end to end: a body SQS refuses fails alone, the others of the same publish are delivered
    topic.publish_many(["fine", "lone \ud800", "also fine"])
    assert [json.loads(m["Body"])["Message"] for m in receive(url)] == ["fine", "also fine"]
    [failure] = backend.failures
    assert failure["ErrorCode"] == "InvalidMessageContents"


def test_a_message_has_one_signature_in_every_rendering(backend, topic, eng, sns, make_queue, receive):
    seen = []
    eng.register_function("f", lambda event, context: seen.append(event["Records"][0]["Sns"]))
    sns.subscribe(TopicArn=topic.arn, Protocol="lambda", Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f")
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=topic.arn, Protocol="sqs", Endpoint=qarn)
    ids = [m.id for m in topic.publish_many(["a", "b"])]
    backend.drain()
    from_sqs = {b["MessageId"]: b["Signature"] for b in (json.loads(m["Body"]) for m in receive(url))}
    from_lambda = {e["MessageId"]: e["Signature"] for e in seen}
    assert from_sqs == from_lambda and sorted(from_sqs) == sorted(ids)
    assert len(set(from_sqs.values())) == 2 and all(len(s) == 344 for s in from_sqs.values())


def test_template_rows():
    rows = _core.template_rows([b"<", b"|", b"|", b"|", b">"],
                               [(_core.ROW_HEX12, [0, 2 ** 48 - 1]), (_core.ROW_JSON, ['a"\\\x01\u00e9', ""]),
                                (_core.ROW_NOISE64, [1, 1], 7), (_core.ROW_RAW, [b"x", b""])], 2)
    assert rows[0] == b'<000000000000|"a\\"\\\\\\u0001\xc3\xa9"|' + _core.noise64(7, 1).encode() + b"|x>"
    assert rows[1] == b'<ffffffffffff|""|' + _core.noise64(7, 1).encode() + b"|>"
    assert _core.noise64(7, 1) != _core.noise64(7, 2) != _core.noise64(8, 2)
    assert _core.template_rows([b"k"], [], 3) == [b"k"] * 3


@pytest.mark.parametrize("fields", [
    [(_core.ROW_JSON, ["\ud800"])], [(_core.ROW_JSON, [b"bytes"])], [(_core.ROW_RAW, ["str"])],
    [(_core.ROW_HEX12, [-1])], [(_core.ROW_HEX12, [2 ** 64])], [(_core.ROW_HEX12, ["1"])], [(99, ["x"])],
    [(_core.ROW_JSON, ["a", "b"])],
])
def test_template_rows_refuses_what_it_cannot_write(fields):
    with pytest.raises(_core.CoreValueError):
        _core.template_rows([b"", b""], fields, 1)

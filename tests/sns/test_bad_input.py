"""Malformed values get AWS's error and leave state unchanged: JSON in string parameters however
deep, numbers of every odd shape, forged tokens and ARNs, bad endpoints and attribute names,
through the client and the native API."""
import json

import pytest

from engine import ClientError

DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000


def error(exc_info):
    return exc_info.value.response["Error"]


@pytest.fixture
def topic(sns):
    return sns.create_topic(Name="t")["TopicArn"]


@pytest.fixture
def sub(sns, topic, make_queue):
    _, qarn = make_queue("q")
    return sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]


@pytest.mark.parametrize("name", ["Policy", "DeliveryPolicy", "ArchivePolicy", "DataProtectionPolicy"])
@pytest.mark.parametrize("doc", [DEEP, DEEP_OBJECT])
def test_deep_json_in_topic_attributes(sns, topic, name, doc):
    fifo = sns.create_topic(Name="f.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    target = fifo if name == "ArchivePolicy" else topic
    before = sns.get_topic_attributes(TopicArn=target)["Attributes"]
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=target, AttributeName=name, AttributeValue=doc)
    assert error(e)["Code"] == "InvalidParameter"
    assert sns.get_topic_attributes(TopicArn=target)["Attributes"] == before
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="other", Attributes={name: doc})
    assert error(e)["Code"] == "InvalidParameter"


@pytest.mark.parametrize("name", ["FilterPolicy", "DeliveryPolicy", "RedrivePolicy"])
@pytest.mark.parametrize("doc", [DEEP, DEEP_OBJECT])
def test_deep_json_in_subscription_attributes(sns, topic, sub, make_queue, name, doc):
    before = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName=name, AttributeValue=doc)
    assert error(e)["Code"] == "InvalidParameter"
    assert "Document nesting depth (1001) exceeds the maximum allowed (1000" in error(e)["Message"]
    assert sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"] == before
    _, other = make_queue("other")
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=other, Attributes={name: doc})
    assert error(e)["Code"] == "InvalidParameter"
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1


@pytest.mark.parametrize("doc", [
    # within the parser's limit but deep: kept shallow by the policy's own fields
    json.dumps({"http": {"defaultRequestPolicy": {"headerContentType": "x",
                                                  "extra": json.loads("[" * 900 + "]" * 900)}}}),
    json.dumps({"http": {"disableSubscriptionOverrides": json.loads("[" * 900 + "]" * 900)}}),
])
def test_delivery_policies_hold_only_their_fields(sns, topic, doc):
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="DeliveryPolicy", AttributeValue=doc)
    assert error(e)["Code"] == "InvalidParameter"
    json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["EffectiveDeliveryPolicy"])


def test_deep_json_in_a_message_structure_body(sns, topic, sub):
    for body in (DEEP, '{"default": "x", "sqs": ' + DEEP + "}", '{"default": ' + DEEP + "}"):
        with pytest.raises(ClientError) as e:
            sns.publish(TopicArn=topic, Message=body, MessageStructure="json")
        assert error(e)["Code"] == "InvalidParameter"
    # deep but within the parser's limit: parsed, and the non-string member ignored
    ok = json.dumps({"default": "x", "other": json.loads("[" * 900 + "]" * 900)})
    assert sns.publish(TopicArn=topic, Message=ok, MessageStructure="json")["MessageId"]


def test_deep_json_in_a_string_array_attribute(sns, topic, sub):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="m",
                    MessageAttributes={"a": {"DataType": "String.Array", "StringValue": DEEP}})
    assert error(e)["Code"] == "ParameterValueInvalid"


def test_deep_json_body_under_a_body_policy_is_not_delivered(sns, topic, make_queue, receive):
    url, qarn = make_queue("bodyq")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={
        "FilterPolicyScope": "MessageBody", "FilterPolicy": json.dumps({"a": [{"exists": True}]})})
    deep_but_parseable = '{"a": ' + "[" * 900 + "1" + "]" * 900 + "}"
    for body in (DEEP_OBJECT, '{"a": ' + DEEP + "}", deep_but_parseable):
        assert sns.publish(TopicArn=topic, Message=body)["MessageId"]
    assert len(receive(url)) == 1


# --- message attributes ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["²", "٣", "1e400", "1e99999999999999999999", "1" * 39, "1e127", "1e-129", "NaN",
                                   "Infinity", "0x10", "1_000", "", " "])
def test_numbers_aws_cannot_hold_are_refused(sns, topic, value):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="m", MessageAttributes={"n": {"DataType": "Number", "StringValue": value}})
    assert error(e)["Code"] == "ParameterValueInvalid"


@pytest.mark.parametrize("value", ["1" * 38, "1e126", "-1e-128", "0.000", "+.5", "5.", "1E+3", " 7 "])
def test_numbers_aws_holds_are_accepted(sns, topic, value):
    assert sns.publish(TopicArn=topic, Message="m",
                       MessageAttributes={"n": {"DataType": "Number", "StringValue": value}})["MessageId"]


@pytest.mark.parametrize("data_type", ["Number.", "String.", "string", "", "Strings", "String.\ud800", "Binary\x00"])
def test_bad_data_types_are_refused(sns, topic, data_type):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="m", MessageAttributes={"a": {"DataType": data_type, "StringValue": "1"}})
    assert error(e) == {"Code": "ParameterValueInvalid", "Message": "The message attribute 'a' has an invalid message "
                        "attribute type, the set of supported type prefixes is Binary, Number, and String.",
                        **({"Type": error(e)["Type"]} if "Type" in error(e) else {})}


@pytest.mark.parametrize("name,bad", [("\ud800", "#xD800"), ("a b", "#x20"), ("é", "#xE9")])
def test_bad_attribute_names_are_refused(sns, topic, name, bad):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="m", MessageAttributes={name: {"DataType": "String", "StringValue": "v"}})
    assert error(e)["Message"].startswith(f"Invalid non-alphanumeric character '{bad}'")


@pytest.mark.parametrize("name,value", [("Owner", "x"), ("TopicArn", "x"), ("FifoTopic", "true"), ("Nope", "x"),
                                        ("", "x"), ("SubscriptionsConfirmed", "1"), ("displayname", "x")])
def test_topic_attribute_names_not_settable(sns, topic, name, value):
    before = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=topic, AttributeName=name, AttributeValue=value)
    assert error(e)["Message"] == "Invalid parameter: AttributeName"   # recorded from AWS
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"] == before


@pytest.mark.parametrize("value", ["²", "1" * 5000, "-1", "101", "1.5", ""])
def test_sample_rates_out_of_shape(sns, topic, value):
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="HTTPSuccessFeedbackSampleRate", AttributeValue=value)
    assert error(e)["Code"] == "InvalidParameter"


# --- the native API ------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda t: t.publish(5),
    lambda t: t.publish(b"bytes"),
    lambda t: t.publish("m", subject=5),
    lambda t: t.publish("m", structure=5),
    lambda t: t.publish("m", group=5),
    lambda t: t.publish("m", attributes=5),
    lambda t: t.publish("m", attributes={"a": "x"}),
    lambda t: t.publish("m", attributes={"a": ("String", "x", "y")}),
    lambda t: t.publish("m", attributes={5: ("String", "x")}),
    lambda t: t.publish("m", attributes={"a": ("String", 5)}),
    lambda t: t.publish("m", attributes={"a": (5, "x")}),
    lambda t: t.publish_many(None),
    lambda t: t.publish_many("abc"),
    lambda t: t.publish_many(["m", None]),
    lambda t: t.publish_many(["m"], attributes=[None, None]),
    lambda t: t.publish_many(["m"], attributes=[5]),
    lambda t: t.publish_many(["m"], attributes=["x"]),
])
def test_native_api_wrong_types_are_refused_before_anything_is_published(eng, backend, topic, sub, call):
    from engine.errors import ParamValidationError
    with pytest.raises(ParamValidationError):
        call(backend.topics[topic])
    assert eng.backend("sqs").get_queue("q").approximate_number_of_messages == 0


@pytest.mark.parametrize("call", [
    lambda t: t.publish(""),
    lambda t: t.publish("m", attributes={"a": ("Binary", "text")}),
    lambda t: t.publish("m", attributes={"a": ("Number", "x")}),
    lambda t: t.publish_many(["m", ""]),
    lambda t: t.publish("m", subject="two\nlines"),
])
def test_native_api_bad_values_get_aws_codes(backend, topic, call):
    with pytest.raises(ClientError) as e:
        call(backend.topics[topic])
    assert error(e)["Code"] in ("InvalidParameter", "ParameterValueInvalid")

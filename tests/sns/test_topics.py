"""Topics: create (standard, FIFO, idempotency), attributes, list, delete, tags."""
import json

import pytest

from engine import ClientError
from engine.errors import ParamValidationError

ARN = "arn:aws:sns:us-east-1:000000000000:"


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def message(exc_info):
    return exc_info.value.response["Error"]["Message"]


def test_create_topic_shape_and_arn(sns, shape):
    r = sns.create_topic(Name="orders")
    shape("sns", "CreateTopic", r)
    assert r["TopicArn"] == ARN + "orders"


def test_create_topic_is_idempotent_and_refuses_different_attributes(sns):
    a = sns.create_topic(Name="t", Attributes={"DisplayName": "one"})["TopicArn"]
    assert sns.create_topic(Name="t", Attributes={"DisplayName": "one"})["TopicArn"] == a
    assert sns.create_topic(Name="t")["TopicArn"] == a
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="t", Attributes={"DisplayName": "two"})
    assert code(e) == "InvalidParameter"
    assert message(e) == "Invalid parameter: Attributes Reason: Topic already exists with different attributes"
    assert len(sns.list_topics()["Topics"]) == 1


def test_create_topic_with_different_tags_is_refused(sns):
    sns.create_topic(Name="t", Tags=[{"Key": "team", "Value": "a"}])
    sns.create_topic(Name="t", Tags=[{"Key": "team", "Value": "a"}])
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="t", Tags=[{"Key": "team", "Value": "b"}])
    assert message(e) == "Invalid parameter: Tags Reason: Topic already exists with different tags"


@pytest.mark.parametrize("name", ["", "has space", "dot.name", "x" * 257, "a.fifo"])
def test_invalid_topic_names(sns, name):
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name)
    assert code(e) == "InvalidParameter"
    assert message(e) == "Invalid parameter: Topic Name"


def test_fifo_topic_creation_rules(sns):
    arn = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="nofifo", Attributes={"FifoTopic": "true"})
    assert message(e).startswith("Fifo Topic names must end with .fifo")
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="x.fifo", Attributes={"FifoTopic": "maybe"})
    assert code(e) == "InvalidParameter"
    arn2 = sns.create_topic(Name="cbd.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"})
    assert sns.get_topic_attributes(TopicArn=arn2["TopicArn"])["Attributes"]["ContentBasedDeduplication"] == "true"
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="std", Attributes={"ContentBasedDeduplication": "true"})
    assert code(e) == "InvalidParameter"


def test_get_topic_attributes_defaults(sns, shape):
    arn = sns.create_topic(Name="t", Attributes={"DisplayName": "Hello", "KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
    r = sns.get_topic_attributes(TopicArn=arn)
    shape("sns", "GetTopicAttributes", r)
    a = r["Attributes"]
    assert a["TopicArn"] == arn and a["Owner"] == "000000000000"
    assert a["DisplayName"] == "Hello" and a["KmsMasterKeyId"] == "alias/aws/sns"
    assert a["SubscriptionsPending"] == a["SubscriptionsConfirmed"] == a["SubscriptionsDeleted"] == "0"
    policy = json.loads(a["Policy"])
    assert policy["Statement"][0]["Resource"] == arn
    effective = json.loads(a["EffectiveDeliveryPolicy"])
    assert effective["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    assert "FifoTopic" not in a


def test_set_topic_attributes(sns, shape):
    arn = sns.create_topic(Name="t")["TopicArn"]
    shape("sns", "SetTopicAttributes", sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName",
                                                                AttributeValue="New"))
    policy = {"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 5, "numRetries": 2}}}
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(policy))
    sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
    a = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert a["DisplayName"] == "New" and a["SignatureVersion"] == "2"
    assert json.loads(a["DeliveryPolicy"]) == policy
    assert json.loads(a["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 2
    for name, value in [("FifoTopic", "true"), ("Bogus", "x"), ("SignatureVersion", "3"),
                        ("DeliveryPolicy", "{not json"), ("Policy", "[]"), ("ContentBasedDeduplication", "true"),
                        ("DeliveryPolicy", json.dumps({"http": {"defaultHealthyRetryPolicy": {"numRetries": 101}}}))]:
        with pytest.raises(ClientError) as e:
            sns.set_topic_attributes(TopicArn=arn, AttributeName=name, AttributeValue=value)
        assert code(e) == "InvalidParameter", name


def test_unknown_and_malformed_topic_arns(sns):
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=ARN + "missing")
    assert code(e) == "NotFound" and message(e) == "Topic does not exist"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert isinstance(e.value, sns.exceptions.NotFoundException)
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn="not-an-arn")
    assert code(e) == "InvalidParameter"
    assert message(e) == "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1"
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn="arn:aws:sns:eu-west-1:000000000000:t")
    assert message(e) == "Invalid parameter: TopicArn"
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.set_topic_attributes(TopicArn=ARN + "missing", AttributeName="DisplayName", AttributeValue="x")


def test_delete_topic_removes_subscriptions_and_is_idempotent(sns, make_queue, shape):
    arn = sns.create_topic(Name="t")["TopicArn"]
    _, qarn = make_queue("q")
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    shape("sns", "DeleteTopic", sns.delete_topic(TopicArn=arn))
    assert sns.list_topics()["Topics"] == []
    assert sns.list_subscriptions()["Subscriptions"] == []
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_subscription_attributes(SubscriptionArn=sub)
    sns.delete_topic(TopicArn=arn)  # again: no error
    with pytest.raises(ClientError) as e:
        sns.delete_topic(TopicArn="bad")
    assert code(e) == "InvalidParameter"


def test_list_topics_pages_of_100(sns, shape):
    arns = {sns.create_topic(Name=f"t{i:03d}")["TopicArn"] for i in range(250)}
    first = sns.list_topics()
    shape("sns", "ListTopics", first)
    assert len(first["Topics"]) == 100 and "NextToken" in first
    second = sns.list_topics(NextToken=first["NextToken"])
    third = sns.list_topics(NextToken=second["NextToken"])
    assert len(second["Topics"]) == 100 and len(third["Topics"]) == 50 and "NextToken" not in third
    seen = [t["TopicArn"] for page in (first, second, third) for t in page["Topics"]]
    assert set(seen) == arns and len(seen) == 250
    paged = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
    assert paged == seen
    with pytest.raises(ClientError) as e:
        sns.list_topics(NextToken="%%%")
    assert code(e) == "InvalidParameter"


def test_tags(sns, shape):
    arn = sns.create_topic(Name="t", Tags=[{"Key": "a", "Value": "1"}])["TopicArn"]
    shape("sns", "TagResource", sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"},
                                                                         {"Key": "a", "Value": "3"}]))
    r = sns.list_tags_for_resource(ResourceArn=arn)
    shape("sns", "ListTagsForResource", r)
    assert {t["Key"]: t["Value"] for t in r["Tags"]} == {"a": "3", "b": "2"}
    shape("sns", "UntagResource", sns.untag_resource(ResourceArn=arn, TagKeys=["a", "zzz"]))
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as e:
        sns.list_tags_for_resource(ResourceArn=ARN + "missing")
    assert code(e) == "ResourceNotFound"
    assert isinstance(e.value, sns.exceptions.ResourceNotFoundException)
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "d", "Value": "1"}, {"Key": "d", "Value": "2"}])
    assert message(e) == "Invalid parameter: Duplicated keys are not allowed."
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert code(e) == "TagLimitExceeded"
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert code(e) == "InvalidParameter"


def test_client_side_parameter_validation(sns):
    with pytest.raises(ParamValidationError):
        sns.create_topic(Name=5)
    with pytest.raises(ParamValidationError):
        sns.create_topic()
    with pytest.raises(ParamValidationError):
        sns.create_topic(Name="t", Bogus=1)
    with pytest.raises(ParamValidationError):
        sns.create_topic(Name="t", Tags=[{"Key": "k"}])
    with pytest.raises(TypeError):
        sns.create_topic("t")


def test_exceptions_namespace_has_codes_and_shape_names(sns):
    ex = sns.exceptions
    assert ex.NotFound is ex.NotFoundException
    assert ex.InvalidParameter is ex.InvalidParameterException
    assert ex.ParameterValueInvalid is ex.InvalidParameterValueException
    assert ex.BatchEntryIdsNotDistinctException.code == "BatchEntryIdsNotDistinct"

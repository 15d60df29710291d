"""Topic access policy edited by AddPermission/RemovePermission as AWS edits it, data protection
policies, every operation of botocore's SNS model on the client, and rules that live in the model
(so the native API obeys them too)."""
import json

import botocore.session
import pytest
from botocore import xform_name

from engine import ClientError
from engine.sns.models import PublishEntry

POLICY = {
    "Name": "pii", "Description": "no card numbers", "Version": "2021-06-01",
    "Statement": [{"Sid": "deny-cards", "DataDirection": "Inbound", "Principal": ["*"],
                   "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/CreditCardNumber"],
                   "Operation": {"Deny": {}}}],
}


def error(exc_info):
    return exc_info.value.response["Error"]


@pytest.fixture
def topic(sns):
    return sns.create_topic(Name="t")["TopicArn"]


def statements(sns, topic):
    return json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])["Statement"]


def test_add_and_remove_permission_edit_the_topic_policy(sns, topic, shape):
    r = sns.add_permission(TopicArn=topic, Label="partners", AWSAccountId=["111122223333", "444455556666"],
                           ActionName=["Publish", "Subscribe"])
    shape("sns", "AddPermission", r)
    sns.add_permission(TopicArn=topic, Label="one", AWSAccountId=["111122223333"], ActionName=["Publish"])
    default, partners, one = statements(sns, topic)
    assert default["Sid"] == "__default_statement_ID"
    assert partners == {"Sid": "partners", "Effect": "Allow",
                        "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]},
                        "Action": ["SNS:Publish", "SNS:Subscribe"], "Resource": topic}
    assert one["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"} and one["Action"] == "SNS:Publish"
    with pytest.raises(ClientError) as e:
        sns.add_permission(TopicArn=topic, Label="one", AWSAccountId=["111122223333"], ActionName=["Publish"])
    assert error(e)["Message"] == "Invalid parameter: Statement already exists"
    shape("sns", "RemovePermission", sns.remove_permission(TopicArn=topic, Label="partners"))
    sns.remove_permission(TopicArn=topic, Label="never-added")
    assert [s["Sid"] for s in statements(sns, topic)] == ["__default_statement_ID", "one"]


@pytest.mark.parametrize("kwargs,message", [
    ({"ActionName": ["Fly"]}, "Invalid parameter: Policy statement action out of service scope!"),
    ({"AWSAccountId": ["12"]}, "Invalid parameter: AWSAccountId Reason: 12 is not a valid account id"),
    ({"Label": "has space"}, "Invalid parameter: Label Reason: must be 1 to 80 alphanumeric characters, hyphens or "
                             "underscores"),
])
def test_add_permission_refusals_leave_the_policy(sns, topic, kwargs, message):
    before = statements(sns, topic)
    args = {"TopicArn": topic, "Label": "l", "AWSAccountId": ["111122223333"], "ActionName": ["Publish"], **kwargs}
    with pytest.raises(ClientError) as e:
        sns.add_permission(**args)
    assert error(e)["Message"] == message
    assert statements(sns, topic) == before


def test_permissions_on_a_missing_topic(sns):
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.add_permission(TopicArn="arn:aws:sns:us-east-1:000000000000:nope", Label="l",
                           AWSAccountId=["111122223333"], ActionName=["Publish"])


def test_data_protection_policy_round_trip(sns, topic, shape):
    got = sns.get_data_protection_policy(ResourceArn=topic)
    shape("sns", "GetDataProtectionPolicy", got)
    assert got["DataProtectionPolicy"] == ""
    text = json.dumps(POLICY)
    shape("sns", "PutDataProtectionPolicy", sns.put_data_protection_policy(ResourceArn=topic,
                                                                           DataProtectionPolicy=text))
    assert sns.get_data_protection_policy(ResourceArn=topic)["DataProtectionPolicy"] == text
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DataProtectionPolicy"] == text
    created = sns.create_topic(Name="with-policy", DataProtectionPolicy=text)["TopicArn"]
    assert sns.get_data_protection_policy(ResourceArn=created)["DataProtectionPolicy"] == text


@pytest.mark.parametrize("change,reason", [
    ({"Version": "2012-10-17"}, "Version must be 2021-06-01"),
    ({"Statement": []}, "Statement must be a non-empty list"),
    ({"Name": ""}, "Name is required"),
    ({"Statement": [{**POLICY["Statement"][0], "Operation": {"Audit": {}, "Deny": {}}}]},
     "Operation must name exactly one of Audit, Deny or Deidentify"),
    ({"Statement": [{**POLICY["Statement"][0], "DataIdentifier": ["CreditCardNumber"]}]},
     "DataIdentifier must be a non-empty list of data identifier ARNs"),
    ({"Statement": [{**POLICY["Statement"][0], "DataDirection": "Sideways"}]},
     "DataDirection must be Inbound or Outbound"),
    ({"Statement": [{**POLICY["Statement"][0], "Operation": {"Audit": {"SampleRate": "99"}}}] * 2},
     "a policy can have only one Audit statement"),
    ({"Statement": [{**POLICY["Statement"][0], "Operation": {"Audit": {"SampleRate": "100"}}}]},
     "Audit SampleRate must be an integer from 0 to 99"),
])
def test_data_protection_policy_refusals(sns, topic, change, reason):
    with pytest.raises(ClientError) as e:
        sns.put_data_protection_policy(ResourceArn=topic, DataProtectionPolicy=json.dumps({**POLICY, **change}))
    assert error(e) == {"Code": "InvalidParameter", "Type": "Sender",
                        "Message": f"Invalid parameter: DataProtectionPolicy Reason: {reason}"}
    assert sns.get_data_protection_policy(ResourceArn=topic)["DataProtectionPolicy"] == ""


def test_data_protection_policy_of_a_missing_topic(sns):
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_data_protection_policy(ResourceArn="arn:aws:sns:us-east-1:000000000000:nope")
    with pytest.raises(ClientError) as e:
        sns.get_data_protection_policy(ResourceArn="nope")
    assert error(e)["Message"] == "Invalid parameter: ResourceArn Reason: An ARN must have at least 6 elements, not 1"


def test_every_operation_of_the_model_is_on_the_client(sns):
    model = botocore.session.get_session().get_service_model("sns")
    missing = [op for op in model.operation_names if not callable(getattr(sns, xform_name(op), None))]
    assert missing == []


# --- rules in the model: the native API obeys them ---------------------------------------------------------
def test_native_batch_rules(backend):
    topic = backend.create_topic("native")
    with pytest.raises(ClientError) as e:
        backend.publish_batch(topic, [])
    assert error(e)["Code"] == "EmptyBatchRequest"
    with pytest.raises(ClientError) as e:
        backend.publish_batch(topic, [PublishEntry("a", "x"), PublishEntry("a", "y")])
    assert error(e)["Code"] == "BatchEntryIdsNotDistinct"
    with pytest.raises(ClientError) as e:
        backend.publish_batch(topic, [PublishEntry("a b", "x")])
    assert error(e)["Code"] == "InvalidBatchEntryId"
    with pytest.raises(ClientError) as e:
        backend.publish_batch(topic, [PublishEntry(str(i), "x") for i in range(11)])
    assert error(e)["Code"] == "TooManyEntriesInBatchRequest"


def test_native_duplicate_tag_keys_and_publish_targets(backend):
    with pytest.raises(ClientError) as e:
        backend.create_topic("tagged", tags=[("k", "1"), ("k", "2")])
    assert error(e)["Message"] == "Invalid parameter: Duplicated keys are not allowed."
    assert backend.list_topics()[0] == []
    with pytest.raises(ClientError) as e:
        backend.publish_to("x", topic_arn="arn:aws:sns:us-east-1:000000000000:t", phone_number="+15555550100")
    assert "Only one of TopicArn, TargetArn or PhoneNumber" in error(e)["Message"]

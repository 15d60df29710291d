"""Queue lifecycle, attributes, tags, permissions, listing, purge: through eng.client("sqs")."""
import json

import botocore.exceptions
import pytest

import engine
from engine import limits

from .conftest import arn_of, error_of, redrive

URL = "https://sqs.us-east-1.amazonaws.com/000000000000/"


def test_create_get_delete(sqs, shape):
    created = sqs.create_queue(QueueName="q1")
    shape("sqs", "CreateQueue", created)
    assert created["QueueUrl"] == URL + "q1"
    got = sqs.get_queue_url(QueueName="q1")
    shape("sqs", "GetQueueUrl", got)
    assert got["QueueUrl"] == URL + "q1"
    shape("sqs", "DeleteQueue", sqs.delete_queue(QueueUrl=created["QueueUrl"]))
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as e:
        sqs.get_queue_url(QueueName="q1")
    assert error_of(e) == ("QueueDoesNotExist", "The specified queue does not exist.")
    assert e.value.operation_name == "GetQueueUrl"
    assert isinstance(e.value, botocore.exceptions.ClientError)


def test_default_attributes(sqs, clock, shape):
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    shape("sqs", "GetQueueAttributes", attrs)
    assert attrs["Attributes"] == {
        "ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesDelayed": "0",
        "ApproximateNumberOfMessagesNotVisible": "0", "CreatedTimestamp": str(int(clock.now())),
        "DelaySeconds": "0", "LastModifiedTimestamp": str(int(clock.now())),
        "MaximumMessageSize": str(limits.SQS_MESSAGE_SIZE_DEFAULT), "MessageRetentionPeriod": "345600",
        "QueueArn": "arn:aws:sqs:us-east-1:000000000000:q", "ReceiveMessageWaitTimeSeconds": "0",
        "SqsManagedSseEnabled": "true", "VisibilityTimeout": "30"}
    assert limits.SQS_MESSAGE_SIZE_DEFAULT == 1_048_576  # current CreateQueue reference


def test_fifo_default_attributes(sqs, fifo_url):
    attrs = sqs.get_queue_attributes(QueueUrl=fifo_url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    assert attrs["DeduplicationScope"] == "queue"
    assert attrs["FifoThroughputLimit"] == "perQueue"


def test_get_queue_attributes_by_name_and_empty(sqs, queue_url):
    got = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout", "QueueArn"])
    assert got["Attributes"] == {"VisibilityTimeout": "30", "QueueArn": "arn:aws:sqs:us-east-1:000000000000:jobs"}
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=queue_url)
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])
    with pytest.raises(sqs.exceptions.InvalidAttributeName) as e:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Nope"])
    assert error_of(e) == ("InvalidAttributeName", "Unknown Attribute Nope.")


def test_create_with_attributes_and_tags(sqs):
    url = sqs.create_queue(QueueName="t", Attributes={
        "DelaySeconds": "5", "MaximumMessageSize": "2048", "MessageRetentionPeriod": "60",
        "ReceiveMessageWaitTimeSeconds": "20", "VisibilityTimeout": "43200",
        "KmsMasterKeyId": "alias/aws/sqs", "KmsDataKeyReusePeriodSeconds": "86400",
        "Policy": json.dumps({"Version": "2012-10-17", "Statement": []})}, tags={"team": "a", "env": ""})["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["DelaySeconds"] == "5" and attrs["MaximumMessageSize"] == "2048"
    assert attrs["MessageRetentionPeriod"] == "60" and attrs["ReceiveMessageWaitTimeSeconds"] == "20"
    assert attrs["VisibilityTimeout"] == "43200" and attrs["KmsMasterKeyId"] == "alias/aws/sqs"
    assert attrs["KmsDataKeyReusePeriodSeconds"] == "86400" and attrs["SqsManagedSseEnabled"] == "false"
    assert json.loads(attrs["Policy"])["Version"] == "2012-10-17"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a", "env": ""}


def test_create_existing_same_attributes_returns_it_different_fails(sqs):
    url = sqs.create_queue(QueueName="same", Attributes={"DelaySeconds": "3"})["QueueUrl"]
    assert sqs.create_queue(QueueName="same", Attributes={"DelaySeconds": "3"})["QueueUrl"] == url
    assert sqs.create_queue(QueueName="same")["QueueUrl"] == url
    assert sqs.create_queue(QueueName="same", Attributes={"VisibilityTimeout": "30"})["QueueUrl"] == url
    with pytest.raises(sqs.exceptions.QueueNameExists) as e:
        sqs.create_queue(QueueName="same", Attributes={"DelaySeconds": "4"})
    assert error_of(e) == ("QueueNameExists", "A queue already exists with the same name and a different "
                                              "value for attribute DelaySeconds")


@pytest.mark.parametrize("name", ["", "a" * 81, "has space", "dot.name", "sl/ash", "ü", "x.fifo"])
def test_invalid_standard_queue_names(sqs, name):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.create_queue(QueueName=name)
    assert "alphanumeric characters, hyphens, or underscores. 1 to 80 in length" in error_of(e)[1]


@pytest.mark.parametrize("name", ["nofifo", "a" * 76 + ".fifo", ".fifo", "a.b.fifo"])
def test_invalid_fifo_queue_names(sqs, name):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})
    assert "must end with .fifo suffix" in error_of(e)[1]


def test_valid_edge_names(sqs):
    sqs.create_queue(QueueName="a" * 80)
    sqs.create_queue(QueueName="A-z_0" * 15 + ".fifo", Attributes={"FifoQueue": "true"})
    sqs.create_queue(QueueName="b" * 75 + ".fifo", Attributes={"FifoQueue": "true"})


@pytest.mark.parametrize("name,value", [
    ("DelaySeconds", "901"), ("DelaySeconds", "-1"), ("DelaySeconds", "x"),
    ("MaximumMessageSize", "1023"), ("MaximumMessageSize", str(1024 * 1024 + 1)),
    ("MessageRetentionPeriod", "59"), ("MessageRetentionPeriod", "1209601"),
    ("ReceiveMessageWaitTimeSeconds", "21"), ("VisibilityTimeout", "43201"),
    ("KmsDataKeyReusePeriodSeconds", "59"), ("KmsDataKeyReusePeriodSeconds", "86401"),
    ("SqsManagedSseEnabled", "maybe"), ("Policy", "{not json"),
])
def test_invalid_attribute_values(sqs, name, value):
    with pytest.raises(sqs.exceptions.InvalidAttributeValue) as e:
        sqs.create_queue(QueueName="bad", Attributes={name: value})
    assert error_of(e) == ("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
    url = sqs.create_queue(QueueName="good")["QueueUrl"]
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={name: value})


@pytest.mark.parametrize("name", ["Bogus", "QueueArn", "ApproximateNumberOfMessages", "CreatedTimestamp", "All"])
def test_invalid_attribute_names(sqs, name):
    with pytest.raises(sqs.exceptions.InvalidAttributeName) as e:
        sqs.create_queue(QueueName="bad", Attributes={name: "1"})
    assert error_of(e) == ("InvalidAttributeName", f"Unknown Attribute {name}.")


def test_fifo_attributes_refused_on_standard_queues(sqs, queue_url):
    for name in ("FifoQueue", "ContentBasedDeduplication"):
        with pytest.raises(sqs.exceptions.InvalidAttributeName) as e:
            sqs.create_queue(QueueName="std", Attributes={name: "false"})
        assert error_of(e)[1] == f"Unknown Attribute {name}."
    with pytest.raises(sqs.exceptions.InvalidAttributeName) as e:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"DeduplicationScope": "queue"})
    assert "only when FifoQueue is set to true" in error_of(e)[1]


def test_queue_type_cannot_change(sqs, fifo_url):
    with pytest.raises(sqs.exceptions.InvalidAttributeValue) as e:
        sqs.set_queue_attributes(QueueUrl=fifo_url, Attributes={"FifoQueue": "false"})
    assert error_of(e)[1] == "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."


def test_high_throughput_fifo_rules(sqs):
    url = sqs.create_queue(QueueName="ht.fifo", Attributes={
        "FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"})["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["DeduplicationScope"] == "messageGroup" and attrs["FifoThroughputLimit"] == "perMessageGroupId"
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.create_queue(QueueName="bad.fifo", Attributes={"FifoQueue": "true", "FifoThroughputLimit": "perMessageGroupId"})
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.create_queue(QueueName="bad.fifo", Attributes={"FifoQueue": "true", "DeduplicationScope": "group"})


def test_sse_kms_and_sqs_are_exclusive(sqs, queue_url):
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"KmsMasterKeyId": "k"})
    with pytest.raises(sqs.exceptions.InvalidAttributeName) as e:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"SqsManagedSseEnabled": "true"})
    assert error_of(e)[1].startswith("You can use one type of server-side encryption (SSE) at one time.")
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["KmsMasterKeyId"])["Attributes"] == {
        "KmsMasterKeyId": "k"}
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"KmsMasterKeyId": ""})
    got = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert "KmsMasterKeyId" not in got and "KmsDataKeyReusePeriodSeconds" not in got


def test_set_queue_attributes_updates_last_modified(sqs, queue_url, clock, shape):
    clock.advance(100)
    shape("sqs", "SetQueueAttributes", sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "7"}))
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "7"
    assert int(attrs["LastModifiedTimestamp"]) == int(attrs["CreatedTimestamp"]) + 100


def test_unknown_queue_everywhere(sqs):
    url = URL + "missing"
    calls = [
        lambda: sqs.send_message(QueueUrl=url, MessageBody="x"),
        lambda: sqs.receive_message(QueueUrl=url),
        lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="h"),
        lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={}),
        lambda: sqs.purge_queue(QueueUrl=url),
        lambda: sqs.delete_queue(QueueUrl=url),
        lambda: sqs.list_queue_tags(QueueUrl=url),
        lambda: sqs.get_queue_url(QueueName="missing"),
        lambda: sqs.get_queue_url(QueueName="jobs", QueueOwnerAWSAccountId="111111111111"),
        lambda: sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="h", VisibilityTimeout=1),
        lambda: sqs.list_dead_letter_source_queues(QueueUrl=url),
        lambda: sqs.send_message(QueueUrl="https://sqs.us-east-1.amazonaws.com/111111111111/jobs", MessageBody="x"),
    ]
    for call in calls:
        with pytest.raises(sqs.exceptions.QueueDoesNotExist):
            call()


def test_queue_url_forms(sqs, queue_url):
    # a URL with another host (e.g. a local endpoint) and the bare name reach the same queue
    sqs.send_message(QueueUrl="http://localhost:4566/000000000000/jobs", MessageBody="a")
    sqs.send_message(QueueUrl="jobs", MessageBody="b")
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "2"


def test_recreate_after_delete_waits_60s(sqs, clock):
    url = sqs.create_queue(QueueName="re")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDeletedRecently) as e:
        sqs.create_queue(QueueName="re")
    assert "wait 60 seconds" in error_of(e)[1]
    clock.advance(60)
    assert sqs.create_queue(QueueName="re")["QueueUrl"] == url


def test_list_queues_prefix_and_pages(sqs, shape):
    assert "QueueUrls" not in sqs.list_queues()
    for name in ["b2", "a1", "b1", "c", "b3"]:
        sqs.create_queue(QueueName=name)
    full = sqs.list_queues()
    shape("sqs", "ListQueues", full)
    assert full["QueueUrls"] == [URL + n for n in ["a1", "b1", "b2", "b3", "c"]] and "NextToken" not in full
    assert sqs.list_queues(QueueNamePrefix="b")["QueueUrls"] == [URL + n for n in ["b1", "b2", "b3"]]
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="zz")
    page = sqs.list_queues(QueueNamePrefix="b", MaxResults=2)
    shape("sqs", "ListQueues", page)
    assert page["QueueUrls"] == [URL + "b1", URL + "b2"]
    rest = sqs.list_queues(QueueNamePrefix="b", MaxResults=2, NextToken=page["NextToken"])
    assert rest["QueueUrls"] == [URL + "b3"] and "NextToken" not in rest
    pages = list(sqs.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 2}))
    assert [u for p in pages for u in p["QueueUrls"]] == full["QueueUrls"]
    for bad in (0, 1001):
        with pytest.raises(sqs.exceptions.InvalidParameterValue):
            sqs.list_queues(MaxResults=bad)


def test_list_queues_is_per_region(eng, sqs):
    sqs.create_queue(QueueName="here")
    other = eng.client("sqs", region_name="eu-west-1")
    assert "QueueUrls" not in other.list_queues()
    assert other.create_queue(QueueName="here")["QueueUrl"] == "https://sqs.eu-west-1.amazonaws.com/000000000000/here"


def test_tags(sqs, queue_url, shape):
    shape("sqs", "TagQueue", sqs.tag_queue(QueueUrl=queue_url, Tags={"a": "1", "b": "2", "c": ""}))
    sqs.tag_queue(QueueUrl=queue_url, Tags={"a": "one"})
    got = sqs.list_queue_tags(QueueUrl=queue_url)
    shape("sqs", "ListQueueTags", got)
    assert got["Tags"] == {"a": "one", "b": "2", "c": ""}
    shape("sqs", "UntagQueue", sqs.untag_queue(QueueUrl=queue_url, TagKeys=["a", "zzz"]))
    assert sqs.list_queue_tags(QueueUrl=queue_url)["Tags"] == {"b": "2", "c": ""}
    sqs.untag_queue(QueueUrl=queue_url, TagKeys=["b", "c"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=queue_url)
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.tag_queue(QueueUrl=queue_url, Tags={f"k{i}": "v" for i in range(51)})
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.tag_queue(QueueUrl=queue_url, Tags={"k" * 129: "v"})
    with pytest.raises(engine.ClientError, match=r"\(MissingParameter\)"):
        sqs.tag_queue(QueueUrl=queue_url, Tags={})


def test_permissions(sqs, queue_url, shape):
    shape("sqs", "AddPermission", sqs.add_permission(QueueUrl=queue_url, Label="p1",
                                                     AWSAccountIds=["111111111111"], Actions=["SendMessage"]))
    sqs.add_permission(QueueUrl=queue_url, Label="p2", AWSAccountIds=["111111111111", "222222222222"],
                       Actions=["ReceiveMessage", "DeleteMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Version"] == "2008-10-17"
    assert [s["Sid"] for s in policy["Statement"]] == ["p1", "p2"]
    assert policy["Statement"][0] == {"Sid": "p1", "Effect": "Allow",
                                      "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                                      "Action": "SQS:SendMessage", "Resource": "arn:aws:sqs:us-east-1:000000000000:jobs"}
    assert policy["Statement"][1]["Action"] == ["SQS:ReceiveMessage", "SQS:DeleteMessage"]
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.add_permission(QueueUrl=queue_url, Label="p1", AWSAccountIds=["111111111111"], Actions=["SendMessage"])
    assert error_of(e)[1] == "Value p1 for parameter Label is invalid. Reason: Already exists."
    with pytest.raises(sqs.exceptions.OverLimit):
        sqs.add_permission(QueueUrl=queue_url, Label="p3", AWSAccountIds=["111111111111"],
                           Actions=["SendMessage"] * 8)
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.add_permission(QueueUrl=queue_url, Label="p4", AWSAccountIds=["111111111111"], Actions=["Explode"])
    shape("sqs", "RemovePermission", sqs.remove_permission(QueueUrl=queue_url, Label="p1"))
    sqs.remove_permission(QueueUrl=queue_url, Label="p2")
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as e:
        sqs.remove_permission(QueueUrl=queue_url, Label="p2")
    assert error_of(e)[1] == "Value p2 for parameter Label is invalid. Reason: can't find label."


def test_purge_clears_everything_and_refuses_a_second_purge(sqs, queue_url, clock, shape):
    sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(5)])
    sqs.send_message(QueueUrl=queue_url, MessageBody="delayed", DelaySeconds=60)
    sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=2)
    shape("sqs", "PurgeQueue", sqs.purge_queue(QueueUrl=queue_url))
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"],
            attrs["ApproximateNumberOfMessagesDelayed"]) == ("0", "0", "0")
    clock.advance(120)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    sqs.purge_queue(QueueUrl=queue_url)
    clock.advance(59)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress) as e:
        sqs.purge_queue(QueueUrl=queue_url)
    assert error_of(e) == ("PurgeQueueInProgress", "Only one PurgeQueue operation on jobs is allowed every 60 seconds.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    clock.advance(1)
    sqs.purge_queue(QueueUrl=queue_url)


def test_parameter_types_checked_client_side(sqs, queue_url):
    with pytest.raises(engine.ParamValidationError):
        sqs.create_queue(QueueName=5)
    with pytest.raises(engine.ParamValidationError):
        sqs.create_queue(QueueName="q", Attributes={"DelaySeconds": 5})
    with pytest.raises(engine.ParamValidationError):
        sqs.create_queue()
    with pytest.raises(engine.ParamValidationError):
        sqs.create_queue(QueueName="q", Bogus=1)
    with pytest.raises(engine.ParamValidationError):
        sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages="10")
    with pytest.raises(engine.ParamValidationError):
        sqs.send_message(QueueUrl=queue_url, MessageBody=b"bytes")
    with pytest.raises(engine.ParamValidationError):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "1", "MessageBody": "x", "Extra": 1}])
    with pytest.raises(engine.ParamValidationError):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "1"}])
    with pytest.raises(engine.ParamValidationError):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": "1", "ReceiptHandle": 5}])
    with pytest.raises(engine.ParamValidationError):
        sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes={"a": {"StringValue": "v"}})


def test_exceptions_namespace(sqs):
    for code in ("QueueDoesNotExist", "QueueNameExists", "QueueDeletedRecently", "InvalidAttributeName",
                 "InvalidAttributeValue", "InvalidParameterValue", "MissingRequiredParameterException", "InvalidMessageContents",
                 "ReceiptHandleIsInvalid", "MessageNotInflight", "BatchEntryIdsNotDistinct", "BatchRequestTooLong",
                 "EmptyBatchRequest", "InvalidBatchEntryId", "TooManyEntriesInBatchRequest", "PurgeQueueInProgress",
                 "OverLimit", "ResourceNotFoundException", "UnsupportedOperation", "InvalidIdFormat"):
        assert getattr(sqs.exceptions, code).code == code
    assert issubclass(sqs.exceptions.QueueDoesNotExist, sqs.exceptions.ClientError)


def test_every_modeled_error_shape_has_a_class(sqs):
    import botocore.session
    model = botocore.session.get_session().get_service_model("sqs")
    for shape in model.error_shapes:
        assert hasattr(sqs.exceptions, shape.name), shape.name


def test_query_codes_for_the_wire_layer():
    from engine.sqs import errors
    assert errors.query_code(errors.QueueDoesNotExist()) == "AWS.SimpleQueueService.NonExistentQueue"
    assert errors.query_code(errors.QueueNameExists("x")) == "QueueAlreadyExists"
    assert errors.query_code(errors.InvalidParameterValue("x")) == "InvalidParameterValue"


def test_dead_letter_source_listing(sqs, shape):
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    arn = arn_of(sqs, dlq)
    for name in ["s2", "s1", "s3"]:
        sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive(arn, 3)})
    sqs.create_queue(QueueName="unrelated")
    got = sqs.list_dead_letter_source_queues(QueueUrl=dlq)
    shape("sqs", "ListDeadLetterSourceQueues", got)
    assert got["queueUrls"] == [URL + "s1", URL + "s2", URL + "s3"]
    page = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2)
    assert page["queueUrls"] == [URL + "s1", URL + "s2"]
    rest = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2, NextToken=page["NextToken"])
    assert rest["queueUrls"] == [URL + "s3"]
    pages = sqs.get_paginator("list_dead_letter_source_queues").paginate(QueueUrl=dlq, PaginationConfig={"PageSize": 1})
    assert [u for p in pages for u in p["queueUrls"]] == got["queueUrls"]
    # queueUrls is required by the model: an empty list, never missing (code reads response["queueUrls"])
    none = sqs.list_dead_letter_source_queues(QueueUrl=URL + "unrelated")
    shape("sqs", "ListDeadLetterSourceQueues", none)
    assert none["queueUrls"] == []


# --- control-plane calls never walk every queue ------------------------------------------------------
class NoScan(dict):
    """The backend's queue table, refusing whole-table iteration: every control-plane call must
    find what it needs by key or through an index (O(1) or O(log n) in the number of queues)."""

    def __iter__(self):
        raise AssertionError("a control-plane call walked every queue")

    keys = values = items = __iter__


@pytest.fixture
def no_scan(eng):
    backend = eng.backend("sqs")
    backend.queues = NoScan(backend.queues)
    yield
    backend.queues = {name: backend.queues[name] for name in backend._names.after()}  # (for close)


def test_control_plane_calls_find_queues_without_scanning(sqs, eng, no_scan, clock):
    for i in range(300):
        sqs.create_queue(QueueName=f"q{i:03d}")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    for i in (5, 7, 250):
        sqs.set_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=f"q{i:03d}")["QueueUrl"],
                                 Attributes={"RedrivePolicy": policy})
    sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": policy})
    assert sqs.create_queue(QueueName="q001")["QueueUrl"].endswith("/q001")
    page = sqs.list_queues(QueueNamePrefix="q1", MaxResults=7)
    assert [u.rsplit("/", 1)[1] for u in page["QueueUrls"]] == [f"q1{i:02d}" for i in range(7)]
    rest = sqs.list_queues(QueueNamePrefix="q1", MaxResults=1000, NextToken=page["NextToken"])
    assert len(rest["QueueUrls"]) == 93 and "NextToken" not in rest
    assert len(sqs.list_queues()["QueueUrls"]) == 302
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert [u.rsplit("/", 1)[1] for u in sources] == ["q005", "q007", "q250", "src"]
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="q007")["QueueUrl"])
    sqs.set_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="q005")["QueueUrl"],
                             Attributes={"RedrivePolicy": ""})
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert [u.rsplit("/", 1)[1] for u in sources] == ["q250", "src"]
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"] == "COMPLETED"
    with pytest.raises(sqs.exceptions.InvalidParameterValue):
        sqs.cancel_message_move_task(TaskHandle=handle)


def test_move_tasks_keep_the_latest_ten_per_source(sqs, eng, clock):
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})
    for rate in range(1, 16):
        sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=rate)
        clock.advance(1)  # the (empty) move completes at its first step
    listed = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
    assert [t["MaxNumberOfMessagesPerSecond"] for t in listed] == list(range(15, 5, -1))
    assert len(eng.backend("sqs").move_tasks) == 10


def test_a_deleted_name_is_forgotten_after_the_wait(sqs, eng, clock):
    for i in range(50):
        sqs.delete_queue(QueueUrl=sqs.create_queue(QueueName=f"gone{i}")["QueueUrl"])
    clock.advance(limits.SQS_RECREATE_WAIT_S)
    sqs.create_queue(QueueName="gone0")
    assert len(eng.backend("sqs")._deleted) == 0

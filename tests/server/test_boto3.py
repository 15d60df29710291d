"""boto3 through `engine serve` answers as the in-process client does, for every operation of
every client (the wire adds no behaviour of its own), plus what only the wire has: errors with
their HTTP status, pagination, long polls, and the AWS CLI-style calls of the README."""
from __future__ import annotations

import datetime
import json
import socket
import threading
import time

import botocore.exceptions
import pytest
from botocore import xform_name

import engine
from engine.request import service_models
from tests.server.conftest import reset

SERVICES = ("sqs", "sns", "kinesis", "firehose", "glue")
# Optional members that name the resource (Kinesis takes a stream by name or ARN), always given.
IDENTIFYING = {"StreamName", "ConsumerARN"}
# Answered with an event stream, which the server-wire tests cover (tests/server/test_eventstream.py).
NOT_DIFFED = {("kinesis", "subscribe_to_shard")}
# Members whose values are the same resource named differently in each world, or fixed values.
NAMES = {
    "kinesis": {"StreamName": "s", "StreamARN": "{stream_arn}", "ShardId": "shardId-000000000000",
                "ShardToSplit": "shardId-000000000000", "ShardToMerge": "shardId-000000000000",
                "AdjacentShardToMerge": "shardId-000000000001", "NewStartingHashKey": "1000",
                "ConsumerName": "c", "ConsumerARN": "{consumer_arn}", "ShardIterator": "{iterator}",
                "ShardIteratorType": "TRIM_HORIZON", "ResourceARN": "{stream_arn}", "RetentionPeriodHours": 48,
                "TargetShardCount": 2, "ScalingType": "UNIFORM_SCALING", "EncryptionType": "KMS",
                "KeyId": "alias/aws/kinesis", "ShardLevelMetrics": ["IncomingBytes"], "Data": b"d",
                "PartitionKey": "k", "Records": [{"Data": b"d", "PartitionKey": "k"}],
                "StreamModeDetails": {"StreamMode": "ON_DEMAND"}, "MaxRecordSizeInKiB": 2048,
                "Policy": '{"Version": "2012-10-17", "Statement": []}', "Tags": {"k": "v"}, "TagKeys": ["k"]},
    "sqs": {"QueueUrl": "{queue_url}", "QueueName": "q", "SourceArn": "{dlq_arn}", "TaskHandle": "x",
            "ReceiptHandle": "x", "MessageBody": "b", "Label": "l", "AWSAccountIds": ["111111111111"],
            "Actions": ["SendMessage"], "Attributes": {"VisibilityTimeout": "7"}, "Tags": {"k": "v"},
            "TagKeys": ["k"], "VisibilityTimeout": 3, "AttributeNames": ["All"],
            "Entries": [{"Id": "1", "MessageBody": "b", "ReceiptHandle": "x"}]},
    "sns": {"TopicArn": "{topic_arn}", "SubscriptionArn": "{subscription_arn}", "ResourceArn": "{topic_arn}",
            "Protocol": "sqs", "Endpoint": "{queue_arn}", "Name": "t", "Message": "m", "Label": "l",
            "AWSAccountId": ["111111111111"], "ActionName": ["Publish"], "AttributeName": "DisplayName",
            "AttributeValue": "shown", "Tags": [{"Key": "k", "Value": "v"}], "TagKeys": ["k"],
            "PublishBatchRequestEntries": [{"Id": "1", "Message": "m"}], "phoneNumber": "+15555550100",
            "PhoneNumber": "+15555550100", "Platform": "GCM", "Attributes": {"PlatformCredential": "k"},
            "PlatformApplicationArn": "{topic_arn}", "EndpointArn": "{topic_arn}", "Token": "tok",
            "DataProtectionPolicy": "{}", "attributes": {"DefaultSMSType": "Promotional"}, "OneTimePassword": "123456"},
    "firehose": {"DeliveryStreamName": "d", "Record": {"Data": b"r\n"}, "Records": [{"Data": b"r\n"}],
                 "Tags": [{"Key": "k", "Value": "v"}], "TagKeys": ["k"], "CurrentDeliveryStreamVersionId": "1",
                 "DestinationId": "destinationId-000000000001"},
    "glue": {"DatabaseName": "db", "Name": "t", "DatabaseInput": {"Name": "db2"},
             "TableInput": {"Name": "t2", "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "int"}]}}},
}


def _placeholders(clients, kinesis_iterator) -> dict:
    stream = clients["kinesis"].describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    consumer = clients["kinesis"].describe_stream_consumer(StreamARN=stream, ConsumerName="c")
    queue_url = clients["sqs"].get_queue_url(QueueName="q")["QueueUrl"]
    topic = clients["sns"].create_topic(Name="t")["TopicArn"]
    subscription = clients["sns"].list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]
    return {"stream_arn": stream, "consumer_arn": consumer["ConsumerDescription"]["ConsumerARN"],
            "iterator": kinesis_iterator, "queue_url": queue_url,
            "queue_arn": "arn:aws:sqs:us-east-1:000000000000:q", "dlq_arn": "arn:aws:sqs:us-east-1:000000000000:dlq",
            "topic_arn": topic, "subscription_arn": subscription["SubscriptionArn"]}


def _populate(clients) -> dict:
    kinesis = clients["kinesis"]
    kinesis.create_stream(StreamName="s", ShardCount=2)
    arn = kinesis.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="c")
    kinesis.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    iterator = kinesis.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    sqs = clients["sqs"]
    sqs.create_queue(QueueName="dlq")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    topic = clients["sns"].create_topic(Name="t")["TopicArn"]
    clients["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q")
    clients["firehose"].create_delivery_stream(DeliveryStreamName="d", ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::bucket"})
    clients["glue"].create_database(DatabaseInput={"Name": "db"})
    clients["glue"].create_table(DatabaseName="db", TableInput={"Name": "t"})
    return _placeholders(clients, iterator)


def _value(shape, depth=0):
    kind = shape.type_name
    if kind == "structure":
        return {name: _value(shape.members[name], depth + 1) for name in shape.required_members} if depth < 4 else {}
    if kind == "list":
        return [_value(shape.member, depth + 1)]
    if kind == "map":
        return {"k": _value(shape.value, depth + 1)}
    return {"string": "x", "integer": 1, "long": 1, "boolean": False, "blob": b"x", "double": 1.0, "float": 1.0,
            "timestamp": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)}[kind]


def _params(service, operation, names) -> dict:
    shape = service_models.service_model(service).operation_model(operation).input_shape
    if shape is None:
        return {}
    table = NAMES[service]
    params = {}
    for member in [*shape.required_members, *(IDENTIFYING & set(shape.members) - set(shape.required_members))]:
        value = table.get(member, _value(shape.members[member]))
        params[member] = names[value[1:-1]] if isinstance(value, str) and value[1:-1] in names else value
    return params


def _outcome(call, params):
    """What a call answered, without the values that differ between two worlds (ids, times)."""
    try:
        return "ok", _form(call(**params))
    except botocore.exceptions.ClientError as err:
        return "error", err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]
    except botocore.exceptions.ParamValidationError:
        return "refused by boto3"


def _form(value):
    if isinstance(value, dict):
        return {k: _form(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_form(v) for v in value]
    return type(value).__name__


def _operations(service):
    """The client's operations, those that delete a world's resources last (so the others reach them)."""
    client_type = type(engine.Engine().client(service))
    names = [name for name in dir(client_type) if getattr(getattr(client_type, name), "operation_name", None)]
    return sorted(names, key=lambda name: (name.startswith(("delete_", "deregister_", "merge_", "split_")), name))


@pytest.fixture(scope="module")
def worlds(endpoint, aws, tmp_path_factory):
    reset(endpoint)
    local = engine.Engine(s3_root=str(tmp_path_factory.mktemp("s3")))
    here = {s: local.client(s, region_name="us-east-1") for s in SERVICES}
    there = {s: aws(s) for s in SERVICES}
    yield (here, _populate(here)), (there, _populate(there))
    local.close()


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_answers_over_the_wire_as_in_process(worlds, service, shape):
    (here, here_names), (there, there_names) = worlds
    differences = []
    shape_errors = []
    for method in _operations(service):
        if (service, method) in NOT_DIFFED:
            continue
        operation = here[service].meta.method_to_api_mapping[method]
        local = _outcome(getattr(here[service], method), _params(service, operation, here_names))

        def checked(**params):
            result = getattr(there[service], method)(**params)
            try:
                shape(service, operation, result)
            except AssertionError as err:
                shape_errors.append(str(err))
            return result
        remote = _outcome(checked, _params(service, operation, there_names))
        if local != remote:
            differences.append(f"{method}: in process {local}, over the wire {remote}")
    assert not differences, "\n".join(differences)
    assert not shape_errors, "\n".join(shape_errors)


# --- what only the wire has --------------------------------------------------------------------
@pytest.mark.parametrize("service,call,code,status", [
    ("sqs", lambda c: c.get_queue_url(QueueName="wire-missing"), "AWS.SimpleQueueService.NonExistentQueue", 400),
    ("kinesis", lambda c: c.describe_stream(StreamName="wire-missing"), "ResourceNotFoundException", 400),
    ("sns", lambda c: c.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:000000000000:wire-missing"),
     "NotFound", 404),
    ("firehose", lambda c: c.describe_delivery_stream(DeliveryStreamName="wire-missing"),
     "ResourceNotFoundException", 400),
    ("glue", lambda c: c.get_database(Name="wire-missing"), "EntityNotFoundException", 400),
])
def test_errors_reach_boto3_with_code_status_and_class(aws, service, call, code, status):
    client = aws(service)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(client)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert caught.value.response["ResponseMetadata"]["RequestId"]
    if service == "sqs":
        assert isinstance(caught.value, client.exceptions.QueueDoesNotExist)


def test_paginators_page_over_the_wire(aws):
    kinesis = aws("kinesis")
    for k in range(5):
        kinesis.create_stream(StreamName=f"page-{k}", ShardCount=3)
    pages = list(kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) >= 3
    assert {f"page-{k}" for k in range(5)} <= {name for p in pages for name in p["StreamNames"]}
    page = kinesis.list_shards(StreamName="page-0", MaxResults=1)
    shards = page["Shards"]
    while "NextToken" in page:   # (AWS refuses StreamName beside NextToken, so botocore's paginator can't)
        page = kinesis.list_shards(NextToken=page["NextToken"], MaxResults=1)
        shards += page["Shards"]
    assert [s["ShardId"] for s in shards] == [f"shardId-00000000000{k}" for k in range(3)]
    sqs = aws("sqs")
    for k in range(5):
        sqs.create_queue(QueueName=f"page-{k}")
    urls = [u for p in sqs.get_paginator("list_queues").paginate(QueueNamePrefix="page-",
                                                                 PaginationConfig={"PageSize": 2})
            for u in p.get("QueueUrls", [])]
    assert [u.rsplit("/", 1)[1] for u in urls] == [f"page-{k}" for k in range(5)]


def test_a_long_poll_returns_as_soon_as_a_message_arrives(aws, endpoint):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="wire-long-poll")["QueueUrl"]
    assert url.startswith(endpoint)
    got = {}

    def poll():
        got.update(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20, MaxNumberOfMessages=10))
    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    aws("sqs").send_message(QueueUrl=url, MessageBody="wake")
    poller.join(15)
    assert not poller.is_alive()
    assert [m["Body"] for m in got["Messages"]] == ["wake"]


def test_a_long_poll_whose_client_hung_up_takes_no_message(aws, endpoint):
    """A client that closed its connection during a long poll is no longer waiting: a message
    sent afterwards stays for the next receive instead of going in flight to nobody."""
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="wire-hung-up")["QueueUrl"]
    body = json.dumps({"QueueUrl": url, "WaitTimeSeconds": 20}).encode()
    host, port = endpoint.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port))) as gone:
        gone.sendall(f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nX-Amz-Target: AmazonSQS.ReceiveMessage\r\n"
                     f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        time.sleep(0.5)   # (the poll is waiting)
    time.sleep(0.5)       # (the server has seen the hang-up)
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    assert [m["Body"] for m in got.get("Messages", [])] == ["kept"]


def test_fifo_and_attributes_round_trip(aws, shape):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="wire.fifo", Attributes={"FifoQueue": "true",
                                                              "ContentBasedDeduplication": "true"})["QueueUrl"]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(k), "MessageBody": f"m{k}", "MessageGroupId": "g",
         "MessageAttributes": {"n": {"DataType": "Binary", "BinaryValue": bytes([k, 255])}}} for k in range(3)])
    shape("sqs", "SendMessageBatch", sent)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                              MessageSystemAttributeNames=["All"])
    shape("sqs", "ReceiveMessage", got)
    assert [m["Body"] for m in got["Messages"]] == ["m0", "m1", "m2"]
    assert [m["MessageAttributes"]["n"]["BinaryValue"] for m in got["Messages"]] == [b"\x00\xff", b"\x01\xff",
                                                                                     b"\x02\xff"]
    assert got["Messages"][0]["Attributes"]["MessageGroupId"] == "g"


def test_kinesis_records_round_trip(aws, shape):
    kinesis = aws("kinesis")
    kinesis.create_stream(StreamName="wire-records", ShardCount=1)
    data = [bytes([k]) * k for k in range(1, 50)]
    put = kinesis.put_records(StreamName="wire-records",
                              Records=[{"Data": d, "PartitionKey": str(k)} for k, d in enumerate(data)])
    shape("kinesis", "PutRecords", put)
    assert put["FailedRecordCount"] == 0
    iterator = kinesis.get_shard_iterator(StreamName="wire-records", ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = kinesis.get_records(ShardIterator=iterator)
    shape("kinesis", "GetRecords", got)
    assert [r["Data"] for r in got["Records"]] == data
    assert isinstance(got["Records"][0]["ApproximateArrivalTimestamp"], datetime.datetime)


def test_cleartext_http2_on_the_same_port(endpoint):
    """h2c with prior knowledge (as the JS SDK v3 and the KCL speak to Kinesis), beside HTTP/1.1."""
    import json
    import subprocess

    from tests.tools import require_tool

    curl = require_tool("curl", "an HTTP/2 client for the h2c check")
    done = subprocess.run([curl, "-s", "--http2-prior-knowledge", "-X", "POST", "-H",
                           "X-Amz-Target: AmazonSQS.CreateQueue", "-H", "Content-Type: application/x-amz-json-1.0",
                           "-d", '{"QueueName": "h2c"}', "-w", "\n%{http_version}", endpoint + "/"],
                          capture_output=True, text=True, timeout=30)
    body, version = done.stdout.rsplit("\n", 1)
    assert version == "2"
    assert json.loads(body) == {"QueueUrl": f"{endpoint}/000000000000/h2c"}

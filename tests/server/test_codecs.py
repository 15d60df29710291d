"""The wire codecs against botocore's own serializers and parsers (the clients' side of each
protocol): what botocore sends decodes to the parameters it was given, and what the server
encodes parses back to the result it encoded."""
from __future__ import annotations

import datetime

import botocore.parsers
import botocore.serialize
import pytest
from botocore.model import ServiceModel

from engine.request import service_models
from engine.server.protocols import json as json_protocol
from engine.server.protocols import query as query_protocol
from engine.server.protocols.sqs_query_model import MODEL as SQS_QUERY_MODEL

UTC = datetime.timezone.utc
SQS_QUERY = ServiceModel(SQS_QUERY_MODEL, "sqs")


def _operation(service, name):
    return SQS_QUERY.operation_model(name) if service == "sqs-query" else \
        service_models.service_model(service).operation_model(name)


def _sent_by_botocore(operation, params) -> dict:
    protocol = operation.service_model.protocol
    return botocore.serialize.create_serializer(protocol, include_validation=False).serialize_to_request(
        params, operation)


def _parsed_by_botocore(operation, status, headers, body) -> dict:
    parser = botocore.parsers.create_parser(operation.service_model.protocol)
    parsed = parser.parse({"status_code": status, "headers": headers, "body": body}, operation.output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


QUERY_REQUESTS = [
    ("sns", "Publish", {"TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Message": "m & <x>\r\n",
                        "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"},
                                              "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}}}),
    ("sns", "SetTopicAttributes", {"TopicArn": "arn:t", "AttributeName": "DisplayName", "AttributeValue": ""}),
    ("sns", "CreateTopic", {"Name": "t", "Attributes": {"FifoTopic": "true", "X": "y"},
                            "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2", "Value": ""}]}),
    ("sns", "PublishBatch", {"TopicArn": "arn:t", "PublishBatchRequestEntries": [
        {"Id": "1", "Message": "a", "MessageGroupId": "g"}, {"Id": "2", "Message": "b", "Subject": "s"}]}),
    ("sqs-query", "SendMessageBatch", {"QueueUrl": "http://h/000000000000/q", "Entries": [
        {"Id": "a", "MessageBody": "1", "DelaySeconds": 3,
         "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}}},
        {"Id": "b", "MessageBody": "2"}]}),
    ("sqs-query", "ReceiveMessage", {"QueueUrl": "u", "AttributeNames": ["All"], "MessageAttributeNames": ["a.*"],
                                     "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}),
    ("sqs-query", "CreateQueue", {"QueueName": "q", "Attributes": {"VisibilityTimeout": "5"}, "tags": {"a": "b"}}),
    ("sqs-query", "AddPermission", {"QueueUrl": "u", "Label": "l", "AWSAccountIds": ["111111111111"],
                                    "Actions": ["SendMessage", "ReceiveMessage"]}),
    ("sqs-query", "UntagQueue", {"QueueUrl": "u", "TagKeys": ["a", "b"]}),
]


@pytest.mark.parametrize("service,name,params", QUERY_REQUESTS, ids=[f"{s}.{n}" for s, n, _ in QUERY_REQUESTS])
def test_query_requests_decode_to_what_botocore_sent(service, name, params):
    operation = _operation(service, name)
    request = _sent_by_botocore(operation, params)
    form = dict(request["body"])
    assert form.pop("Action") == name
    form.pop("Version")
    assert query_protocol.decode(operation, {k: str(v) for k, v in form.items()}) == params


QUERY_RESULTS = [
    ("sns", "ListTopics", {"Topics": [{"TopicArn": "arn:1"}, {"TopicArn": "arn:2"}], "NextToken": "n"}),
    ("sns", "GetTopicAttributes", {"Attributes": {"Policy": '{"a": "<&>"}', "DisplayName": ""}}),
    ("sns", "PublishBatch", {"Successful": [{"Id": "1", "MessageId": "m", "SequenceNumber": "1"}],
                             "Failed": [{"Id": "2", "Code": "c", "Message": "x", "SenderFault": True}]}),
    ("sns", "CheckIfPhoneNumberIsOptedOut", {"isOptedOut": False}),
    ("sqs-query", "ReceiveMessage", {"Messages": [
        {"MessageId": "i", "ReceiptHandle": "h", "MD5OfBody": "d", "Body": "a\r\n<b>&\"",
         "Attributes": {"SentTimestamp": "1", "ApproximateReceiveCount": "2"},
         "MD5OfMessageAttributes": "e",
         "MessageAttributes": {"bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
                               "s": {"DataType": "String", "StringValue": "v"}}}]}),
    ("sqs-query", "ListQueues", {"QueueUrls": ["http://h/0/a", "http://h/0/b"], "NextToken": "t"}),
    ("sqs-query", "GetQueueAttributes", {"Attributes": {"VisibilityTimeout": "30", "Policy": "{}"}}),
    ("sqs-query", "SendMessageBatch", {"Successful": [{"Id": "a", "MessageId": "m", "MD5OfMessageBody": "d"}],
                                       "Failed": [{"Id": "b", "SenderFault": True, "Code": "c", "Message": "x"}]}),
    ("sqs-query", "ListQueueTags", {"Tags": {"a": "b"}}),
    ("sqs-query", "ListMessageMoveTasks", {"Results": [{"TaskHandle": "t", "Status": "RUNNING",
                                                        "ApproximateNumberOfMessagesMoved": 3,
                                                        "StartedTimestamp": 5}]}),
]


@pytest.mark.parametrize("service,name,result", QUERY_RESULTS, ids=[f"{s}.{n}" for s, n, _ in QUERY_RESULTS])
def test_query_results_parse_back_in_botocore(service, name, result):
    operation = _operation(service, name)
    body = query_protocol.encode(operation, dict(result), "rid")
    assert _parsed_by_botocore(operation, 200, {}, body) == result


def test_query_error_parses_in_botocore():
    operation = _operation("sqs-query", "GetQueueUrl")
    body = query_protocol.encode_error(SQS_QUERY, "AWS.SimpleQueueService.NonExistentQueue", "no <queue>", True, "r")
    parsed = botocore.parsers.create_parser("query").parse({"status_code": 400, "headers": {}, "body": body},
                                                           operation.output_shape)
    assert parsed["Error"] == {"Type": "Sender", "Code": "AWS.SimpleQueueService.NonExistentQueue",
                               "Message": "no <queue>", "Detail": None}
    assert parsed["ResponseMetadata"]["RequestId"] == "r"


JSON_REQUESTS = [
    ("kinesis", "PutRecords", {"StreamName": "s", "Records": [
        {"Data": b"\x00\xff", "PartitionKey": "p"}, {"Data": b"", "PartitionKey": "q", "ExplicitHashKey": "1"}]}),
    ("kinesis", "GetShardIterator", {"StreamName": "s", "ShardId": "shardId-000000000000",
                                     "ShardIteratorType": "AT_TIMESTAMP",
                                     "Timestamp": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)}),
    ("firehose", "PutRecordBatch", {"DeliveryStreamName": "d", "Records": [{"Data": b"a\n"}, {"Data": b"b"}]}),
    ("sqs", "SendMessage", {"QueueUrl": "u", "MessageBody": "b",
                            "MessageAttributes": {"x": {"DataType": "Binary", "BinaryValue": b"\x01"}}}),
    ("glue", "GetTables", {"DatabaseName": "db", "Expression": "t*"}),
]


@pytest.mark.parametrize("service,name,params", JSON_REQUESTS, ids=[f"{s}.{n}" for s, n, _ in JSON_REQUESTS])
def test_json_requests_decode_to_what_botocore_sent(service, name, params):
    operation = _operation(service, name)
    body = _sent_by_botocore(operation, params)["body"]
    assert json_protocol.Operation(operation).decode(body) == params


def test_json_drops_members_the_model_does_not_know():
    operation = json_protocol.Operation(_operation("kinesis", "ListStreams"))
    assert operation.decode(b'{"Limit": 5, "SomethingNewer": 1}') == {"Limit": 5}


@pytest.mark.parametrize("body", [b"{", b"[1]", b'"x"'])
def test_json_refuses_a_body_that_is_not_an_object(body):
    with pytest.raises(json_protocol.MalformedBody):
        json_protocol.Operation(_operation("kinesis", "ListStreams")).decode(body)


def test_json_refuses_a_blob_that_is_not_base64():
    operation = json_protocol.Operation(_operation("kinesis", "PutRecord"))
    with pytest.raises(json_protocol.MalformedBody):
        operation.decode(b'{"StreamName": "s", "PartitionKey": "k", "Data": "%%%"}')


def test_json_results_parse_back_in_botocore():
    operation = _operation("kinesis", "GetRecords")
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    result = {"Records": [{"SequenceNumber": "1", "ApproximateArrivalTimestamp": when, "Data": b"\x00\xff",
                           "PartitionKey": "k"}], "NextShardIterator": "it", "MillisBehindLatest": 0}
    parsed = _parsed_by_botocore(operation, 200, {}, json_protocol.encode(dict(result)))
    assert parsed["Records"][0]["ApproximateArrivalTimestamp"] == when
    assert parsed == result


def test_json_error_parses_in_botocore():
    operation = _operation("kinesis", "DescribeStream")
    parsed = botocore.parsers.create_parser("json").parse(
        {"status_code": 400, "headers": {}, "body": json_protocol.encode_error("ResourceNotFoundException", "gone")},
        operation.output_shape)
    assert parsed["Error"] == {"Code": "ResourceNotFoundException", "Message": "gone"}

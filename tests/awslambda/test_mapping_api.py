"""Create, get, list, update and delete event source mappings: shapes, defaults, source rules."""
import datetime

import pytest

from engine.awslambda.errors import InvalidParameterValueException
from engine.awslambda.mappings import MappingSettings
from engine.errors import ValidationException
from tests.awslambda.conftest import ROLE, queue_arn, stream_arn


@pytest.fixture
def fn(eng, lam):
    eng.register_function("f", lambda event, context: None)
    return lam.create_function(FunctionName="f", Role=ROLE, Code={"ZipFile": b""})["FunctionArn"]


@pytest.fixture
def q(sqs):
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    return queue_arn(sqs, url)


@pytest.fixture
def s(kinesis):
    kinesis.create_stream(StreamName="s", ShardCount=1)
    return stream_arn(kinesis, "s")


def test_sqs_mapping_lifecycle(lam, fn, q, shape):
    made = lam.create_event_source_mapping(FunctionName="f", EventSourceArn=q, BatchSize=50,
                                           MaximumBatchingWindowInSeconds=2, ScalingConfig={"MaximumConcurrency": 3},
                                           FunctionResponseTypes=["ReportBatchItemFailures"])
    shape("lambda", "CreateEventSourceMapping", made)
    assert made["State"] == "Creating" and made["FunctionArn"] == fn and made["EventSourceArn"] == q
    assert (made["BatchSize"], made["MaximumBatchingWindowInSeconds"], made["ScalingConfig"]) == (
        50, 2, {"MaximumConcurrency": 3})
    assert made["EventSourceMappingArn"].endswith(f":event-source-mapping:{made['UUID']}")
    got = lam.get_event_source_mapping(UUID=made["UUID"])
    shape("lambda", "GetEventSourceMapping", got)
    assert got["State"] == "Enabled" and got["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    updated = lam.update_event_source_mapping(UUID=made["UUID"], Enabled=False, BatchSize=5)
    shape("lambda", "UpdateEventSourceMapping", updated)
    got = lam.get_event_source_mapping(UUID=made["UUID"])
    assert (got["State"], got["BatchSize"], got["MaximumBatchingWindowInSeconds"]) == ("Disabled", 5, 2)
    deleted = lam.delete_event_source_mapping(UUID=made["UUID"])
    shape("lambda", "DeleteEventSourceMapping", deleted)
    assert deleted["State"] == "Deleting"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_event_source_mapping(UUID=made["UUID"])


def test_defaults_per_source(lam, fn, q, s):
    sqs_map = lam.create_event_source_mapping(FunctionName="f", EventSourceArn=q)
    assert (sqs_map["BatchSize"], sqs_map["MaximumBatchingWindowInSeconds"]) == (10, 0)
    assert "StartingPosition" not in sqs_map and "ParallelizationFactor" not in sqs_map
    at = datetime.datetime(2023, 11, 14, tzinfo=datetime.timezone.utc)
    stream_map = lam.create_event_source_mapping(FunctionName="f", EventSourceArn=s, StartingPosition="AT_TIMESTAMP",
                                                 StartingPositionTimestamp=at)
    assert stream_map["StartingPositionTimestamp"] == at
    assert (stream_map["BatchSize"], stream_map["ParallelizationFactor"], stream_map["MaximumRetryAttempts"],
            stream_map["MaximumRecordAgeInSeconds"], stream_map["BisectBatchOnFunctionError"],
            stream_map["TumblingWindowInSeconds"], stream_map["DestinationConfig"]) == (
        100, 1, -1, -1, False, 0, {"OnFailure": {}})


def test_list_filters_and_pages(lam, fn, q, s, shape, eng):
    eng.register_function("g", lambda event, context: None)
    a = lam.create_event_source_mapping(FunctionName="f", EventSourceArn=q)["UUID"]
    b = lam.create_event_source_mapping(FunctionName="f", EventSourceArn=s, StartingPosition="LATEST")["UUID"]
    c = lam.create_event_source_mapping(FunctionName="g", EventSourceArn=q)["UUID"]
    listed = lam.list_event_source_mappings()
    shape("lambda", "ListEventSourceMappings", listed)
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [a, b, c]
    assert [m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=q)["EventSourceMappings"]] == [a, c]
    assert [m["UUID"] for m in lam.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]] == [a, b]
    first = lam.list_event_source_mappings(MaxItems=2)
    assert len(first["EventSourceMappings"]) == 2
    rest = lam.list_event_source_mappings(MaxItems=2, Marker=first["NextMarker"])
    assert [m["UUID"] for m in rest["EventSourceMappings"]] == [c] and "NextMarker" not in rest
    pages = lam.get_paginator("list_event_source_mappings").paginate(PaginationConfig={"PageSize": 1})
    assert [m["UUID"] for page in pages for m in page["EventSourceMappings"]] == [a, b, c]


def test_one_mapping_per_source_and_function(lam, fn, q):
    first = lam.create_event_source_mapping(FunctionName="f", EventSourceArn=q)["UUID"]
    with pytest.raises(lam.exceptions.ResourceConflictException, match=first):
        lam.create_event_source_mapping(FunctionName="f", EventSourceArn=q)


@pytest.mark.parametrize("params, message", [
    ({"BatchSize": 11}, "Maximum batch window in seconds must be greater than 0"),
    ({"StartingPosition": "LATEST"}, "Unsupported StartingPosition"),
    ({"MaximumRetryAttempts": 3}, "Unsupported MaximumRetryAttempts"),
    ({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}}},
     "Unsupported DestinationConfig"),
])
def test_sqs_rules(lam, fn, q, params, message):
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match=message):
        lam.create_event_source_mapping(FunctionName="f", EventSourceArn=q, **params)


def test_fifo_batch_and_visibility_rules(eng, lam, sqs, fn):
    fifo = queue_arn(sqs, sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"])
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="FIFO"):
        lam.create_event_source_mapping(FunctionName="f", EventSourceArn=fifo, BatchSize=20,
                                        MaximumBatchingWindowInSeconds=1)
    short = queue_arn(sqs, sqs.create_queue(QueueName="short", Attributes={"VisibilityTimeout": "2"})["QueueUrl"])
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="less than Function timeout"):
        lam.create_event_source_mapping(FunctionName="f", EventSourceArn=short)


@pytest.mark.parametrize("params, message", [
    ({}, "startingPosition"),
    ({"StartingPosition": "AT_TIMESTAMP"}, "StartingPositionTimestamp"),
    ({"StartingPosition": "LATEST", "MaximumRecordAgeInSeconds": 30}, "MaximumRecordAgeInSeconds"),
    ({"StartingPosition": "LATEST", "ScalingConfig": {"MaximumConcurrency": 2}}, "Unsupported ScalingConfig"),
    ({"StartingPosition": "LATEST", "DestinationConfig": {"OnFailure": {
        "Destination": "arn:aws:lambda:us-east-1:000000000000:function:f"}}}, "Use an Amazon SQS queue"),
])
def test_stream_rules(lam, fn, s, params, message):
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match=message):
        lam.create_event_source_mapping(FunctionName="f", EventSourceArn=s, **params)


def test_missing_things(lam, fn, q):
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_event_source_mapping(FunctionName="nobody", EventSourceArn=q)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="does not exist"):
        lam.create_event_source_mapping(FunctionName="f", EventSourceArn="arn:aws:sqs:us-east-1:000000000000:gone")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.update_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000", BatchSize=1)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="not supported"):
        lam.create_event_source_mapping(FunctionName="f", EventSourceArn=q, Topics=["orders"])


def test_request_layer_refuses_what_boto3_refuses(lam, fn, q):
    import botocore.exceptions
    with pytest.raises(botocore.exceptions.ParamValidationError):
        lam.create_event_source_mapping(FunctionName="f", EventSourceArn=q, BatchSize=0)
    with pytest.raises(botocore.exceptions.ParamValidationError):
        lam.create_event_source_mapping(EventSourceArn=q)


def test_native_api_applies_the_same_rules(eng, fn, s, q):
    backend = eng.backend("lambda")
    with pytest.raises(ValidationException, match="startingPosition"):
        backend.create_event_source_mapping("f", s, MappingSettings(starting_position="SOMEWHERE"))
    with pytest.raises(InvalidParameterValueException, match="Unsupported ParallelizationFactor"):
        backend.create_event_source_mapping("f", q, MappingSettings(parallelization=2))
    mapping = backend.create_event_source_mapping("f", s, MappingSettings(starting_position="LATEST", batch_size=7))
    assert (mapping.settings.batch_size, mapping.settings.parallelization, mapping.state) == (7, 1, "Enabled")

"""The request layer: one validator from botocore's models, the error fields of each protocol,
and the refusal of calls on a closed engine."""
from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given, settings

import engine
from engine.request.validate import constraint_violations, validator_for
from tests.fuzzing import strategy

SESSION = botocore.session.get_session()


def botocore_report(service, operation, params) -> str:
    shape = SESSION.get_service_model(service).operation_model(operation).input_shape
    return ParamValidator().validate(params, shape).generate_report()


@pytest.fixture
def eng():
    with engine.Engine(clock=engine.ManualClock()) as e:
        yield e


@pytest.mark.parametrize("service,method,params", [
    ("kinesis", "create_stream", {"StreamName": 5, "ShardCount": "2", "Bogus": 1}),
    ("kinesis", "put_records", {"StreamName": "s", "Records": [{"Data": 1}, {"PartitionKey": "k"}, "x"]}),
    ("sqs", "send_message_batch", {"QueueUrl": "u", "Entries": [{"Id": "a"}, {"Id": 1, "MessageBody": "b", "X": 2}]}),
    ("sns", "publish", {"Message": ["not", "a", "string"], "MessageAttributes": {"a": {"StringValue": "v"}}}),
    ("firehose", "put_record_batch", {"DeliveryStreamName": "", "Records": []}),
    ("glue", "create_table", {"DatabaseName": "db", "TableInput": {"StorageDescriptor": {"SerdeInfo": "x"}}}),
])
def test_client_side_refusals_carry_botocores_report(eng, service, method, params):
    client = eng.client(service)
    with pytest.raises(engine.ParamValidationError) as err:
        getattr(client, method)(**params)
    operation = getattr(type(client), method).operation_name
    expected = botocore_report(service, operation, params)
    assert expected, "botocore refuses this request"
    assert str(err.value) == f"Parameter validation failed:\n{expected}"


def test_service_side_constraints_use_the_services_code_and_awss_message(eng):
    kin = eng.client("kinesis")
    kin.create_stream(StreamName="s", ShardCount=1)
    with pytest.raises(kin.exceptions.ValidationException) as err:
        kin.enable_enhanced_monitoring(StreamName="s", ShardLevelMetrics=["NotAMetric"])
    message = err.value.response["Error"]["Message"]
    assert message.startswith("1 validation error detected: Value '[NotAMetric]' at 'shardLevelMetrics' failed to "
                              "satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [")
    with pytest.raises(kin.exceptions.ValidationException, match=r"^.*2 validation errors detected: .*streamName.*; "):
        kin.create_stream(StreamName="bad name!" * 30, ShardCount=1)
    with pytest.raises(kin.exceptions.ValidationException, match=r"detected: Value at 'records' failed to satisfy "
                                                                   r"constraint: Member must have length less than"):
        kin.put_records(StreamName="s", Records=[{"Data": b"a", "PartitionKey": "k"}] * 501)
    glue = eng.client("glue")
    with pytest.raises(glue.exceptions.InvalidInputException, match="at 'name' failed to satisfy constraint: "
                                                                    "Member must have length less than or equal to 255"):
        glue.get_database(Name="d" * 256)
    assert kin.list_streams()["StreamNames"] == ["s"]


def test_sqs_errors_have_the_query_compatible_fields_boto3_shows(eng):
    sqs = eng.client("sqs")
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as err:
        sqs.get_queue_url(QueueName="missing")
    error = err.value.response["Error"]
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error["QueryErrorCode"] == "QueueDoesNotExist"
    assert error["Type"] == "Sender"
    assert "(AWS.SimpleQueueService.NonExistentQueue)" in str(err.value)


def test_sns_errors_have_type_sender_and_json_services_none(eng):
    sns, kin = eng.client("sns"), eng.client("kinesis")
    with pytest.raises(sns.exceptions.NotFound) as err:
        sns.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:000000000000:missing")
    assert err.value.response["Error"]["Type"] == "Sender"
    with pytest.raises(kin.exceptions.ResourceNotFoundException) as err:
        kin.describe_stream(StreamName="missing")
    assert "Type" not in err.value.response["Error"]


def test_a_closed_engine_refuses_every_call():
    eng = engine.Engine()
    clients = {name: eng.client(name) for name in ("kinesis", "firehose", "sqs", "sns", "glue")}
    eng.close()
    listing = {"kinesis": "list_streams", "firehose": "list_delivery_streams", "sqs": "list_queues",
               "sns": "list_topics", "glue": "get_databases"}
    for name, client in clients.items():
        with pytest.raises(engine.ClientError) as err:
            getattr(client, listing[name])()
        assert err.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_glue_forged_page_token(eng):
    glue = eng.client("glue")
    for token in (":", "-1", "99", "１"):
        with pytest.raises(glue.exceptions.InvalidInputException):
            glue.get_databases(NextToken=token)


@pytest.mark.parametrize("service,operation", [
    ("kinesis", "PutRecord"), ("kinesis", "GetShardIterator"), ("sqs", "SendMessageBatch"),
    ("sqs", "ReceiveMessage"), ("sns", "PublishBatch"), ("sns", "Subscribe"), ("firehose", "CreateDeliveryStream"),
    ("firehose", "PutRecordBatch"), ("glue", "CreateTable"),
])
def test_the_compiled_check_never_passes_what_the_models_refuse(service, operation):
    """The generated fast check may doubt a valid request (it then takes the slow path) but must
    never wave through one that botocore or the service constraints refuse. (PutRecords entries
    are checked column-wise by the Kinesis client: tests/kinesis/test_bad_input.py.)"""
    check = validator_for(service, operation)
    shape = SESSION.get_service_model(service).operation_model(operation).input_shape
    names = {"StreamName": strategy(shape.members["StreamName"], {})} if "StreamName" in shape.members else {}

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy(shape, names))
    def agree(params):
        if check.fast(params):
            assert not ParamValidator().validate(params, shape).has_errors(), params
            if check.constraint_error is not None:
                assert not constraint_violations(service, params, shape), params

    agree()


def test_meta_paginators_and_waiters_are_botocores(eng):
    kin, sqs = eng.client("kinesis"), eng.client("sqs")
    assert kin.meta.service_model.service_name == "kinesis"
    assert kin.meta.region_name == "us-east-1"
    assert kin.meta.method_to_api_mapping["put_records"] == "PutRecords"
    assert kin.waiter_names == ["stream_exists", "stream_not_exists"]
    kin.create_stream(StreamName="s", ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName="s", WaiterConfig={"Delay": 0, "MaxAttempts": 2})
    kin.delete_stream(StreamName="s")
    kin.get_waiter("stream_not_exists").wait(StreamName="s", WaiterConfig={"Delay": 0, "MaxAttempts": 2})
    for name in "abcde":
        sqs.create_queue(QueueName=name)
    assert sqs.can_paginate("list_queues") and not sqs.can_paginate("send_message")
    pages = list(sqs.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["QueueUrls"]) for p in pages] == [2, 2, 1]
    first = sqs.get_paginator("list_queues").paginate(PaginationConfig={"MaxItems": 3, "PageSize": 2}).build_full_result()
    assert len(first["QueueUrls"]) == 3 and "NextToken" in first
    rest = sqs.get_paginator("list_queues").paginate(PaginationConfig={"StartingToken": first["NextToken"]})
    assert len(rest.build_full_result()["QueueUrls"]) == 2
    with pytest.raises(ValueError, match="Waiter does not exist"):
        sqs.get_waiter("queue_exists")

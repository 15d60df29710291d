"""rest-json (Lambda, MQ): routes from the models' URIs, members by location (URI labels, query
string, headers, payload, JSON body under serialization names), checked against botocore's own
rest-json serializer and parser, in process and through boto3 against `engine serve`."""
from __future__ import annotations

import datetime
from urllib.parse import parse_qsl, urlencode

import botocore.exceptions
import botocore.parsers
import botocore.serialize
import pytest
from botocore.awsrequest import HeadersDict

from engine.request import service_models
from engine.server.protocols import rest

UTC = datetime.timezone.utc


def _routes():
    return rest.Routes({name: service_models.service_model(name) for name in ("lambda", "mq")})


ROUTES = _routes()


def _sent(service, operation, params):
    model = service_models.service_model(service).operation_model(operation)
    request = botocore.serialize.create_serializer("rest-json", include_validation=False).serialize_to_request(
        params, model)
    query = urlencode(request["query_string"], doseq=True)
    body = request["body"] if isinstance(request["body"], bytes) else (request["body"] or "").encode()
    headers = {k.lower(): v for k, v in request["headers"].items()}
    return request["method"], request["url_path"], query, headers, body


REQUESTS = [
    ("lambda", "Invoke", {"FunctionName": "f", "Payload": b'{"a": 1}', "InvocationType": "Event",
                          "Qualifier": "$LATEST"}),
    ("lambda", "ListFunctions", {"MaxItems": 5, "Marker": "m"}),
    ("lambda", "CreateEventSourceMapping", {"FunctionName": "f", "EventSourceArn": "arn:aws:sqs:us-east-1:0:q",
                                            "BatchSize": 10, "Enabled": True}),
    ("mq", "CreateBroker", {"BrokerName": "b", "EngineType": "RABBITMQ", "HostInstanceType": "mq.m5.large",
                            "PubliclyAccessible": False, "Users": [{"Username": "u", "Password": "p" * 12}],
                            "Tags": {"k": "v"}}),
    ("mq", "CreateTags", {"ResourceArn": "arn:aws:mq:us-east-1:000000000000:broker:b:b-1", "Tags": {"k": "v"}}),
    ("mq", "CreateUser", {"BrokerId": "b-1", "Username": "u", "Password": "p" * 12, "Groups": ["g"]}),
    ("mq", "DeleteTags", {"ResourceArn": "arn:aws:mq:us-east-1:000000000000:broker:b:b-1", "TagKeys": ["a", "b"]}),
]


@pytest.mark.parametrize("service,operation,params", REQUESTS, ids=[f"{s}.{o}" for s, o, _ in REQUESTS])
def test_requests_decode_to_what_botocore_sent(service, operation, params):
    method, path, query, headers, body = _sent(service, operation, params)
    route, labels = ROUTES.match(method, path.split("?")[0], dict(parse_qsl(query)), service)
    assert (route.service, route.operation.name) == (service, operation)
    assert rest.decode(route, labels, query, headers, body) == params


def test_the_signing_name_picks_between_services_and_specific_routes_win():
    route, labels = ROUTES.match("GET", "/v1/brokers/b-1/users/u", {}, "mq")
    assert route.operation.name == "DescribeUser" and labels == {"broker-id": "b-1", "username": "u"}
    route, _ = ROUTES.match("GET", "/2015-03-31/functions/", {}, None)
    assert route.operation.name == "ListFunctions"
    assert ROUTES.match("PATCH", "/nowhere", {}, None) == (None, None)


RESULTS = [
    ("lambda", "Invoke", {"StatusCode": 202, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST",
                          "Payload": b'{"ok": true}'}),
    ("mq", "DescribeBroker", {"BrokerId": "b-1", "BrokerName": "b", "BrokerState": "RUNNING",
                              "Created": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                              "BrokerInstances": [{"ConsoleURL": "http://x", "Endpoints": ["amqp://x"]}],
                              "Users": [{"Username": "u", "PendingChange": "CREATE"}], "Tags": {"k": "v"}}),
    ("mq", "ListBrokers", {"BrokerSummaries": [{"BrokerId": "b-1", "DeploymentMode": "SINGLE_INSTANCE",
                                                "EngineType": "RABBITMQ"}], "NextToken": "t"}),
]


@pytest.mark.parametrize("service,operation,result", RESULTS, ids=[f"{s}.{o}" for s, o, _ in RESULTS])
def test_results_parse_back_in_botocore(service, operation, result):
    model = service_models.service_model(service).operation_model(operation)
    route = next(r for r in ROUTES.routes if r.operation.name == operation and r.service == service)
    status, headers, body = rest.encode(route, dict(result))
    parsed = botocore.parsers.create_parser("rest-json").parse(
        {"status_code": status, "headers": HeadersDict({k.decode(): v.decode() for k, v in headers}), "body": body},
        model.output_shape)
    parsed.pop("ResponseMetadata")
    if isinstance(result.get("Payload"), bytes):   # (a blob payload: botocore hands the body on as it reads it)
        parsed["Payload"] = parsed["Payload"].encode()
    assert parsed == result


def test_errors_parse_in_botocore():
    headers, body = rest.encode_error("NotFoundException", "no broker")
    model = service_models.service_model("mq").operation_model("DescribeBroker")
    parsed = botocore.parsers.create_parser("rest-json").parse(
        {"status_code": 404, "headers": {k.decode(): v.decode() for k, v in headers}, "body": body},
        model.output_shape)
    assert parsed["Error"] == {"Code": "NotFoundException", "Message": "no broker"}


def test_boto3_reaches_lambda_and_mq_over_the_wire(aws, shape):
    mq = aws("mq")
    listed = mq.list_brokers()
    shape("mq", "ListBrokers", listed)
    with pytest.raises(mq.exceptions.NotFoundException) as caught:
        mq.describe_broker(BrokerId="b-missing")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    lam = aws("lambda")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        lam.get_function(FunctionName="missing")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

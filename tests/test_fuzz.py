"""Every operation of the five clients, fed malformed input drawn from botocore's own shapes.

The contract (DESIGN.md, "Every malformed input gets AWS's answer"): whatever a caller passes,
a call returns, or raises botocore's ParamValidationError (what boto3 refuses before sending),
or a ClientError with an AWS code; never a raw TypeError, RecursionError, OverflowError, ...

Values are mostly well-typed (so calls get past the validator and into the services), with
wrong types, missing and unknown members, out-of-range numbers, odd strings (surrogates, NUL,
control characters, deep JSON) mixed in. Resource names are biased towards resources that
exist, so the service code behind the validator is reached too.
"""
from __future__ import annotations

import datetime
import math

import botocore.session
import pytest
from botocore import xform_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine

SERVICES = ("kinesis", "firehose", "sqs", "sns", "glue")
EXAMPLES = 25
ACCOUNT = "000000000000"
REGION = "us-east-1"

# Members that would block (long polls on a manual clock) or reach the network are fixed.
FIXED = {
    "WaitTimeSeconds": st.sampled_from([0, -1, 21]),
}
LOOPBACK_URLS = st.sampled_from([
    "http://127.0.0.1:9/fuzz", "https://127.0.0.1:9/", "http://127.0.0.1:notaport/", "http://[::1]:99999/",
    "http://127.0.0.1:0/", "ftp://127.0.0.1/", "not a url", "", "http://", "https://127.0.0.1:9/\x00",
])
NETWORK_MEMBERS = {"Endpoint", "Url", "SubscribeURL", "EndpointUrl"}

DEEP_JSON = ["[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000, '{"a": [' * 2000]
ODD_STRINGS = st.sampled_from([
    "", " ", "\x00", "\ud800", "a\udcffb", "\u202e", "../../../../x", "..", "a" * 300, "a" * 5000,
    "1e400", "-1", "²", "NaN", "null", "{}", "[]", '{"a":', "arn:aws:", "arn:aws:sqs:us-east-1:000000000000:",
    "9" * 60, "0x10", "true", "\n", "é" * 200, "%00", "a b", *DEEP_JSON,
])
ODD_NUMBERS = st.sampled_from([-1, 0, 2 ** 31, 2 ** 63, 2 ** 64 + 1, 10 ** 40, -(2 ** 63) - 1])
ODD_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 1e-320])
WRONG_TYPES = st.sampled_from([None, 5, 1.5, True, "x", b"x", [], {}, ["x"], {"a": 1}, object()])


def names_for(fixture):
    """Plausible values for members that name resources, so calls reach the service code."""
    stream_arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s"
    return {
        "StreamName": st.sampled_from(["s", "missing"]),
        "StreamARN": st.sampled_from([stream_arn, stream_arn + "x"]),
        "ShardId": st.sampled_from(["shardId-000000000000", "shardId-000000000001", "shardId-999999999999"]),
        "ShardIterator": st.sampled_from([fixture["iterator"], fixture["iterator"][:-2], "AAAA"]),
        "ConsumerARN": st.sampled_from([fixture["consumer"], fixture["consumer"] + "1"]),
        "ConsumerName": st.sampled_from(["c", "c2"]),
        "ResourceARN": st.sampled_from([stream_arn, fixture["queue_arn"], fixture["topic"], fixture["delivery_arn"]]),
        "DeliveryStreamName": st.sampled_from(["d", "missing"]),
        "QueueUrl": st.sampled_from([fixture["queue"], fixture["fifo"], fixture["queue"] + "x"]),
        "QueueName": st.sampled_from(["q", "q.fifo", "new-q"]),
        "TopicArn": st.sampled_from([fixture["topic"], fixture["topic"] + "x"]),
        "TargetArn": st.sampled_from([fixture["topic"]]),
        "SubscriptionArn": st.sampled_from([fixture["subscription"], fixture["topic"] + ":nope"]),
        "Protocol": st.sampled_from(["sqs", "email", "lambda", "firehose", "application", "sms", "nope"]),
        "SourceArn": st.sampled_from([fixture["queue_arn"]]),
        "DatabaseName": st.sampled_from(["db", "missing"]),
        "TableName": st.sampled_from(["t", "missing"]),
        "Name": st.sampled_from(["t", "db", "new"]),
        "ReceiptHandle": st.sampled_from([fixture["receipt"], fixture["receipt"][:-3] + "abc", "x"]),
    }


def strategy(shape, names, depth=0):
    """Values for a shape: mostly valid, with malformed ones mixed in at every level."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 4:
            return st.just({})
        required = list(shape.required_members)
        optional = [m for m in shape.members if m not in required]
        fields = {m: member_strategy(m, shape.members[m], names, depth) for m in shape.members}

        @st.composite
        def build(draw):
            chosen = required + draw(st.lists(st.sampled_from(optional), max_size=4, unique=True)) if optional \
                else list(required)
            if required and draw(st.integers(0, 9)) == 0:          # a required member missing
                chosen.remove(draw(st.sampled_from(required)))
            value = {m: draw(fields[m]) for m in chosen}
            if draw(st.integers(0, 19)) == 0:                       # an unknown member
                value["NotAMember"] = draw(st.text(max_size=3))
            return value
        valid = build()
    elif kind == "list":
        valid = st.lists(strategy(shape.member, names, depth + 1), max_size=3)
    elif kind == "map":
        keys = st.one_of(strategy(shape.key, names, 0), st.sampled_from([5, None, 1.5, b"k"]))   # hashable
        valid = st.dictionaries(keys, strategy(shape.value, names, depth + 1), max_size=3)
    elif kind == "string":
        if shape.enum:
            valid = st.one_of(st.sampled_from(shape.enum), ODD_STRINGS)
        else:
            valid = st.one_of(st.text(max_size=12), ODD_STRINGS)
    elif kind in ("integer", "long"):
        lo = shape.metadata.get("min", -10)
        hi = shape.metadata.get("max", 1000)
        valid = st.one_of(st.integers(lo, max(lo, min(hi, lo + 1000))), ODD_NUMBERS)
    elif kind in ("float", "double"):
        valid = st.one_of(st.floats(-1e3, 1e3), ODD_FLOATS)
    elif kind == "boolean":
        valid = st.booleans()
    elif kind == "blob":
        valid = st.one_of(st.binary(max_size=64), st.text(max_size=8), st.just(b"x" * (1024 * 1024 + 1)))
    elif kind == "timestamp":
        valid = st.one_of(st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 1, 1)),
                          st.sampled_from(["2026-01-01", "yesterday", 1e20, -5, math.nan]))
    else:
        valid = st.none()
    return st.one_of(valid, WRONG_TYPES) if depth else valid


def member_strategy(name, shape, names, depth):
    if name in FIXED:
        return FIXED[name]
    if name in NETWORK_MEMBERS:
        return LOOPBACK_URLS
    if name in names and shape.type_name == "string":
        return st.one_of(names[name], ODD_STRINGS)
    return strategy(shape, names, depth + 1)


def operations():
    session = botocore.session.get_session()
    cases = []
    for service in SERVICES:
        client_cls = type(engine.Engine().client(service))
        model = session.get_service_model(service)
        for op in model.operation_names:
            if hasattr(client_cls, xform_name(op)) and op != "SubscribeToShard":
                cases.append((service, op))
    return cases


def populate(eng):
    """One resource of each kind, so that fuzzed calls find something to act on."""
    kin, fh, sqs, sns, glue = (eng.client(s) for s in SERVICES)
    kin.create_stream(StreamName="s", ShardCount=2)
    kin.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    stream_arn = kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    consumer = kin.register_stream_consumer(StreamARN=stream_arn, ConsumerName="c")["Consumer"]["ConsumerARN"]
    iterator = kin.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000",
                                      ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    fifo = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="m")
    receipt = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"][0]["ReceiptHandle"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="t")["TopicArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
    fh.create_delivery_stream(DeliveryStreamName="d", ExtendedS3DestinationConfiguration={
        "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/r", "BucketARN": "arn:aws:s3:::fuzz-bucket"})
    delivery_arn = fh.describe_delivery_stream(DeliveryStreamName="d")["DeliveryStreamDescription"]["DeliveryStreamARN"]
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={"Name": "t", "StorageDescriptor": {
        "Columns": [{"Name": "a", "Type": "int"}]}})
    return {"iterator": iterator, "consumer": consumer, "queue": queue, "fifo": fifo, "receipt": receipt,
            "queue_arn": queue_arn, "topic": topic, "subscription": subscription, "delivery_arn": delivery_arn}


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory):
    eng = engine.Engine(clock=engine.ManualClock(), s3_root=str(tmp_path_factory.mktemp("fuzz-s3")))
    fixture = populate(eng)
    yield eng, fixture
    eng.close()


@pytest.mark.parametrize("service,operation", operations(), ids=lambda v: v)
def test_malformed_input_gets_aws_answers(fuzz_engine, service, operation):
    eng, fixture = fuzz_engine
    client = eng.client(service)
    method = getattr(client, xform_name(operation))
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    params = strategy(shape, names_for(fixture)) if shape is not None else st.just({})

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(params)
    def call(kwargs):
        try:
            method(**kwargs)
        except (engine.ParamValidationError, engine.ClientError):
            pass

    call()

"""Every operation of the five clients, fed malformed input drawn from botocore's own shapes
(tests/fuzzing.py has the harness and states the contract)."""
from __future__ import annotations

import pytest
from botocore import xform_name
from hypothesis import strategies as st

import engine
from tests.fuzzing import fuzz_operation, service_model

SERVICES = ("kinesis", "firehose", "sqs", "sns", "glue")
ACCOUNT = "000000000000"
REGION = "us-east-1"


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


def operations():
    cases = []
    for service in SERVICES:
        client_cls = type(engine.Engine().client(service))
        model = service_model(service)
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
    fuzz_operation(eng.client(service), service, operation, names_for(fixture))

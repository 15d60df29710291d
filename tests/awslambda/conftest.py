import pytest

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


@pytest.fixture
def lam(eng):
    return eng.client("lambda", region_name="us-east-1")


@pytest.fixture
def settle(eng):
    """Wait until every mapping has done all it can at the engine's current time."""
    return eng.backend("lambda").settle


@pytest.fixture
def sqs(eng):
    return eng.client("sqs", region_name="us-east-1")


@pytest.fixture
def kinesis(eng):
    return eng.client("kinesis", region_name="us-east-1")


def queue_arn(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def stream_arn(kinesis, name):
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def drain(sqs, url):
    """Every message body now in the queue (received with visibility 0... then deleted)."""
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        for m in got:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

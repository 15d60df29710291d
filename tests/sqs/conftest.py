import json

import pytest

import engine
from engine.client_base import operation_name


@pytest.fixture
def sqs(eng):
    return eng.client("sqs")


@pytest.fixture
def queue_url(sqs):
    return sqs.create_queue(QueueName="jobs")["QueueUrl"]


@pytest.fixture
def fifo_url(sqs):
    return sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]


def arn_of(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def redrive(dlq_arn, count):
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": count})


def entries(n, body="m{}", start=0):
    return [{"Id": f"e{i}", "MessageBody": body.format(i)} for i in range(start, start + n)]


def delete_all(sqs, url, messages):
    return sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


def error_of(excinfo):
    """(JSON error code, message). Against AWS, boto3 puts the JSON code in QueryErrorCode and
    the legacy query code in Code (tests/test_request_layer.py checks both)."""
    err = excinfo.value.response["Error"]
    return err.get("QueryErrorCode", err["Code"]), err["Message"]


# --- durable engines (tests/sqs/test_durable*.py) ---
START = 1_700_000_000.0


class Checked:
    """The SQS client with every response checked against botocore's output shape."""

    def __init__(self, client, shape):
        self._client, self._shape = client, shape

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def call(**kwargs):
            response = method(**kwargs)
            self._shape("sqs", operation_name(name), response)
            return response
        return call


@pytest.fixture
def reopen(tmp_path, shape):
    """reopen(clock, durability=None): a new engine on the same data dir, closing the last one."""
    engines = []

    def open_(clock, durability=None):
        if engines:
            engines.pop().close()
        eng = engine.Engine(clock=clock, data_dir=str(tmp_path), durability=durability)
        engines.append(eng)
        return Checked(eng.client("sqs"), shape)
    yield open_
    for eng in engines:
        eng.close()

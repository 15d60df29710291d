"""Clients that pin their own botocore, each in its own venv: an old botocore (1.31.80) speaking
SQS's query/XML protocol for every SQS operation it has, and the AWS CLI v1 for the README's
create / put / get / send / receive / publish calls."""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from tests.server.venvs import client_venv, run

HERE = Path(__file__).resolve().parent
OLD_BOTOCORE = ("botocore==1.31.80", "boto3==1.28.80")


@pytest.fixture(scope="module")
def old_boto3():
    return client_venv("botocore-1.31.80", *OLD_BOTOCORE)


@pytest.fixture(scope="module")
def aws_cli():
    return client_venv("awscli-v1", "awscli")


def test_old_botocore_speaks_sqs_query_protocol(old_boto3, endpoint):
    done = run(old_boto3, str(old_boto3 / "python"), str(HERE / "old_botocore_sqs.py"), endpoint)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["botocore"] == "1.31.80"
    assert out["url"] == f"{endpoint}/000000000000/old-q" == out["get_queue_url"]
    assert out["attributes"]["VisibilityTimeout"] == "5"
    assert int(json.loads(out["attributes"]["RedrivePolicy"])["maxReceiveCount"]) == 5
    assert out["list_queues"] == [f"{endpoint}/000000000000/old-dlq", out["url"]]
    assert out["dead_letter_sources"] == [out["url"]]
    assert out["tags"] == {"env": "test"}
    assert out["send_md5"][0] == hashlib.md5("one\r\n<&>".encode()).hexdigest()   # (botocore checked both digests)
    assert out["batch"] == [["e0", "e1", "e2"], [["bad", "InvalidMessageContents"]]]
    assert out["received"] == ["m0", "m1", "m2", "one\r\n<&>"]
    assert out["attributes_of_first"] == {"b": {"BinaryValue": "00ff", "DataType": "Binary"},
                                          "s": {"StringValue": "v", "DataType": "String"}}
    assert {"SentTimestamp", "ApproximateReceiveCount", "SenderId"} <= set(out["system_attributes"])
    assert out["changed"] == ["c"]
    assert out["deleted"] == [["d"], [["x", "ReceiptHandleIsInvalid"]]]
    assert out["errors"] == {
        "get_queue_url": ["AWS.SimpleQueueService.NonExistentQueue", 400, "QueueDoesNotExist"],
        "bad_attribute": ["InvalidAttributeName", 400, "InvalidAttributeName"],
        "purge_again": ["AWS.SimpleQueueService.PurgeQueueInProgress", 403, "PurgeQueueInProgress"],
    }
    assert out["move_tasks"] == ["COMPLETED"]
    assert out["after_delete"] == []


def _aws(cli, endpoint, *args):
    done = run(cli, str(cli / "aws"), "--endpoint-url", endpoint, "--output", "json", *args)
    assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr[-2000:]}"
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_aws_cli_v1(aws_cli, endpoint):
    """One process per command (about 2 s each on a loaded machine): the README's calls only."""
    version = run(aws_cli, str(aws_cli / "aws"), "--version")
    assert version.returncode == 0 and "aws-cli/1." in version.stdout + version.stderr
    _aws(aws_cli, endpoint, "kinesis", "create-stream", "--stream-name", "cli", "--shard-count", "1")
    assert "cli" in _aws(aws_cli, endpoint, "kinesis", "list-streams")["StreamNames"]   # the "done when"
    put = _aws(aws_cli, endpoint, "kinesis", "put-record", "--stream-name", "cli", "--partition-key", "k",
               "--data", "aGVsbG8=")
    iterator = _aws(aws_cli, endpoint, "kinesis", "get-shard-iterator", "--stream-name", "cli", "--shard-id",
                    put["ShardId"], "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
    records = _aws(aws_cli, endpoint, "kinesis", "get-records", "--shard-iterator", iterator)["Records"]
    assert [base64.b64decode(r["Data"]) for r in records] == [b"aGVsbG8="]   # (CLI v1 sends --data as text)

    url = _aws(aws_cli, endpoint, "sqs", "create-queue", "--queue-name", "cli-q")["QueueUrl"]
    assert url == f"{endpoint}/000000000000/cli-q"
    _aws(aws_cli, endpoint, "sqs", "send-message", "--queue-url", url, "--message-body", "from the cli")
    got = _aws(aws_cli, endpoint, "sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "1")
    assert [m["Body"] for m in got["Messages"]] == ["from the cli"]

    topic = _aws(aws_cli, endpoint, "sns", "create-topic", "--name", "cli-t")["TopicArn"]
    assert _aws(aws_cli, endpoint, "sns", "publish", "--topic-arn", topic, "--message", "hi")["MessageId"]
    done = run(aws_cli, str(aws_cli / "aws"), "--endpoint-url", endpoint, "sqs", "get-queue-url",
               "--queue-name", "cli-missing")
    assert done.returncode != 0 and "NonExistentQueue" in done.stderr


"""The AWS SDK for JavaScript v3 (from npm) against `engine serve`: Kinesis over HTTP/2 with
SubscribeToShard, SQS, SNS and Firehose over HTTP/1.1, over http and over https.

run.mjs does the calls and prints one JSON line per check; this test starts the server, runs it
and asserts every check passed. node_modules is installed from package-lock.json on first use
(`npm ci`), or by .ci/system-deps in CI."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from engine.server.tls import write_self_signed
from tests.server.wire_server import serve
from tests.tools import require, require_tool

HERE = Path(__file__).resolve().parent
NODE_TIMEOUT_S = 120
CHECKS = {
    "kinesis": ["kinesis CreateStream", "kinesis DescribeStreamSummary", "kinesis ListStreams", "kinesis PutRecord",
                "kinesis PutRecords", "kinesis GetRecords", "kinesis SubscribeToShard",
                "kinesis error ResourceNotFoundException", "kinesis over HTTP/2"],
    "sqs": ["sqs CreateQueue", "sqs SendMessage and batch", "sqs ReceiveMessage and DeleteMessage",
            "sqs error QueueDoesNotExist", "sns Publish to an SQS subscription", "sns error NotFound"],
    "firehose": ["firehose CreateDeliveryStream", "firehose PutRecord and PutRecordBatch",
                 "firehose DescribeDeliveryStream"],
}


@pytest.fixture(scope="module")
def node() -> str:
    node = require_tool("node", "Node.js runs the AWS SDK for JavaScript v3")
    if not (HERE / "node_modules" / "@aws-sdk" / "client-kinesis").is_dir():
        npm = require_tool("npm", "npm installs the AWS SDK for JavaScript v3")
        installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True,
                                   timeout=600)
        require(installed.returncode == 0, f"npm ci failed: {installed.stderr[-2000:]}")
    return node


def _run(node: str, endpoint: str, only: str | None = None, env: dict | None = None) -> dict[str, dict]:
    args = [node, "run.mjs", endpoint] + ([only] if only else [])
    done = subprocess.run(args, cwd=HERE, capture_output=True, text=True, timeout=NODE_TIMEOUT_S,
                          env={**os.environ, **(env or {})})
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
            results[result["check"]] = result
    failed = {name: r for name, r in results.items() if not r["ok"]}
    assert not failed, json.dumps(failed, indent=1) + done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]
    return results


def test_js_sdk_v3_against_the_server(node, tmp_path):
    with serve("--s3-root", str(tmp_path / "s3")) as endpoint:
        results = _run(node, endpoint)
    assert sorted(results) == sorted(name for names in CHECKS.values() for name in names)


def test_js_sdk_v3_kinesis_over_https_and_http2(node, tmp_path):
    cert, key = write_self_signed(tmp_path)
    with serve("--tls-cert", str(cert), "--tls-key", str(key), scheme="https", ca_file=str(cert)) as endpoint:
        results = _run(node, endpoint, "kinesis", env={"NODE_EXTRA_CA_CERTS": str(cert)})
    assert sorted(results) == sorted(CHECKS["kinesis"])
    assert results["kinesis over HTTP/2"]["sessions"] >= 1


def test_js_sdk_v3_signatures_verify_over_http2_and_http1(node, tmp_path):
    # HTTP/2 carries the host as :authority: the signature must still verify
    keys = {"ENGINE_ACCESS_KEYS": "AKIDJAVASCRIPT js-secret 123456789012"}
    with serve("--require-auth", "--s3-root", str(tmp_path / "s3"), env=keys) as endpoint:
        results = _run(node, endpoint, env={"ENGINE_TEST_KEY": "AKIDJAVASCRIPT", "ENGINE_TEST_SECRET": "js-secret"})
    assert results["kinesis DescribeStreamSummary"]["arn"].startswith("arn:aws:kinesis:us-east-1:123456789012:")
    assert sorted(results) == sorted(name for names in CHECKS.values() for name in names)

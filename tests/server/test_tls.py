"""HTTPS: `engine serve --tls-cert/--tls-key` with a self-signed certificate (engine/server/tls.py)."""
from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from engine.server import tls
from tests.server.wire_server import serve


def test_options_name_granian_settings_for_a_matching_pair(tmp_path):
    cert, key = tls.write_self_signed(tmp_path)
    options = tls.granian_options(cert, key)
    assert options["ssl_cert"] == cert and options["ssl_key"] == key
    assert options["ssl_protocol_min"] == tls.TLS_PROTOCOL_MIN


def test_options_refuse_missing_unreadable_or_mismatched_files(tmp_path):
    cert, key = tls.write_self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = tls.write_self_signed(other)
    with pytest.raises(ValueError, match="--tls-cert .*not a readable PEM certificate"):
        tls.granian_options(tmp_path / "absent.pem", key)
    with pytest.raises(ValueError, match="--tls-key .*not a readable PEM private key"):
        tls.granian_options(cert, cert)
    with pytest.raises(ValueError, match="is not the private key of"):
        tls.granian_options(cert, other_key)


@pytest.fixture(scope="module")
def https_endpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = tls.write_self_signed(directory)
    with serve("--tls-cert", str(cert), "--tls-key", str(key), "--s3-root", str(directory / "s3"),
               scheme="https", ca_file=str(cert)) as endpoint:
        yield endpoint, str(cert)


def _client(service, endpoint, cert):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", verify=cert,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}))


def test_boto3_over_https_verifying_the_certificate(https_endpoint):
    endpoint, cert = https_endpoint
    kinesis = _client("kinesis", endpoint, cert)
    kinesis.create_stream(StreamName="tls", ShardCount=1)
    kinesis.put_record(StreamName="tls", Data=b"secret", PartitionKey="k")
    iterator = kinesis.get_shard_iterator(StreamName="tls", ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [b"secret"]
    sqs = _client("sqs", endpoint, cert)
    url = sqs.create_queue(QueueName="tls")["QueueUrl"]
    assert url.startswith(endpoint + "/")   # queue URLs keep the https endpoint


def test_clients_not_trusting_the_certificate_are_refused(https_endpoint):
    endpoint, _ = https_endpoint
    with pytest.raises(Exception, match="(?i)certificate"):
        boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t",
                     aws_secret_access_key="t", config=Config(retries={"max_attempts": 1})).list_queues()


def test_alpn_offers_http2_and_http1(https_endpoint):
    endpoint, cert = https_endpoint
    address = urlsplit(endpoint)
    for offered, chosen in ((["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1")):
        context = ssl.create_default_context(cafile=cert)
        context.set_alpn_protocols(offered)
        with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=address.hostname) as wrapped:
                assert wrapped.selected_alpn_protocol() == chosen
                assert wrapped.version() in ("TLSv1.2", "TLSv1.3")


def test_serve_refuses_a_key_that_is_not_the_certificates(tmp_path):
    import subprocess
    import sys

    from tests.server.wire_server import REPO, free_port

    cert, _ = tls.write_self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = tls.write_self_signed(other)
    done = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", str(free_port()), "--tls-cert", str(cert),
                           "--tls-key", str(other_key)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "is not the private key of" in done.stderr


def test_aws_cli_over_https_with_a_ca_bundle(https_endpoint):
    import json

    from tests.server.venvs import client_venv, run

    endpoint, cert = https_endpoint
    cli = client_venv("awscli-v1", "awscli")
    created = run(cli, str(cli / "aws"), "--endpoint-url", endpoint, "--ca-bundle", cert,
                  "kinesis", "create-stream", "--stream-name", "cli-tls", "--shard-count", "1")
    assert created.returncode == 0, created.stderr[-2000:]
    listed = run(cli, str(cli / "aws"), "--endpoint-url", endpoint, "--ca-bundle", cert, "kinesis", "list-streams")
    assert listed.returncode == 0 and "cli-tls" in json.loads(listed.stdout)["StreamNames"]
    untrusted = run(cli, str(cli / "aws"), "--endpoint-url", endpoint, "kinesis", "list-streams")
    assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr

"""SigV4 verification (engine/server/auth.py): requests signed by botocore's own signers,
good and bad, and the codes AWS answers per protocol family."""
from __future__ import annotations

import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from engine import limits
from engine.server import auth
from engine.server.app import Request
from engine.server.auth import JSON, QUERY, AccessKey, Authenticator, SignedRequest
from tests.server.conftest import RSGIHeaders

KEYS = {"AKIDALICE": AccessKey("AKIDALICE", "alice-secret", "111111111111"),
        "AKIDBOB": AccessKey("AKIDBOB", "bob-secret", "222222222222")}
ENDPOINT = "http://127.0.0.1:4566"


def _wire(request: AWSRequest) -> SignedRequest:
    """The prepared request as the server receives it."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in prepared.headers.items()}
    headers.setdefault("host", parts.netloc)
    body = prepared.body or b""
    return SignedRequest(prepared.method, parts.path or "/", parts.query, headers,
                         body.encode() if isinstance(body, str) else body)


def _signed(key_id="AKIDALICE", secret="alice-secret", service="kinesis", region="us-east-1",
            body=b'{"StreamName":"s"}', url=ENDPOINT + "/", method="POST", headers=None) -> SignedRequest:
    request = AWSRequest(method=method, url=url, data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1",
                                  "X-Amz-Target": "Kinesis_20131202.DescribeStream", **(headers or {})})
    SigV4Auth(Credentials(key_id, secret), service, region).add_auth(request)
    return _wire(request)


def _presigned(key_id="AKIDALICE", secret="alice-secret", expires=300,
               url=ENDPOINT + "/000000000000/my%20queue?Action=ReceiveMessage&Version=2012-11-05") -> SignedRequest:
    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(Credentials(key_id, secret), "sqs", "us-east-1", expires=expires).add_auth(request)
    return _wire(request)


def _authenticator(offset: float = 0.0) -> Authenticator:
    return Authenticator(KEYS, now=lambda: time.time() + offset)


def _fails(request: SignedRequest, protocol: str, offset: float = 0.0) -> auth.AuthError:
    with pytest.raises(auth.AuthError) as info:
        _authenticator(offset).verify(request, protocol)
    return info.value


def test_header_signature_names_the_key_account_and_scope():
    verified = _authenticator().verify(_signed(region="eu-west-1"), JSON)
    assert verified == auth.Verified("111111111111", "AKIDALICE", "eu-west-1", "kinesis")
    assert _authenticator().verify(_signed("AKIDBOB", "bob-secret"), JSON).account_id == "222222222222"


def test_path_and_query_with_characters_to_encode_verify():
    request = _signed(url=ENDPOINT + "/000000000000/q%3Aname/./x?b=2&a=%2F%20x&a=1", service="sqs")
    assert _authenticator().verify(request, QUERY).account_id == "111111111111"


def test_presigned_query_verifies_and_expires():
    assert _authenticator().verify(_presigned(), QUERY).service == "sqs"
    error = _fails(_presigned(expires=60), QUERY, offset=61)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message.startswith("Signature expired:")


@pytest.mark.parametrize("protocol, code, status", [(QUERY, "MissingAuthenticationToken", 403),
                                                     (JSON, "MissingAuthenticationTokenException", 400)])
def test_unsigned_request_is_missing_authentication(protocol, code, status):
    request = SignedRequest("POST", "/", "", {"host": "127.0.0.1:4566"}, b"Action=ListTopics")
    error = _fails(request, protocol)
    assert (error.code, error.status) == (code, status)
    assert error.response["Error"]["Message"] == "Request is missing Authentication Token"


@pytest.mark.parametrize("protocol, code", [(QUERY, "IncompleteSignature"), (JSON, "IncompleteSignatureException")])
def test_authorization_without_its_parts_is_incomplete(protocol, code):
    request = _signed()
    request.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/us-east-1/kinesis/aws4_request"
    error = _fails(request, protocol)
    assert error.code == code
    assert "requires 'Signature' parameter" in error.message and "'SignedHeaders'" in error.message


def test_other_algorithms_and_bad_scopes_are_incomplete():
    request = _signed()
    request.headers["authorization"] = "AWS AKIDALICE:c2lnbmF0dXJl"
    assert _fails(request, QUERY).code == "IncompleteSignature"
    request = _signed()
    request.headers["authorization"] = request.headers["authorization"].replace("/aws4_request", "")
    assert _fails(request, JSON).code == "IncompleteSignatureException"
    presigned = _presigned()
    presigned.query_string = presigned.query_string.replace("X-Amz-Date=", "X-Amz-Nodate=")
    assert "'X-Amz-Date'" in _fails(presigned, QUERY).message


@pytest.mark.parametrize("protocol, code, status", [(QUERY, "InvalidClientTokenId", 403),
                                                     (JSON, "UnrecognizedClientException", 400)])
def test_unknown_access_key(protocol, code, status):
    error = _fails(_signed("AKIDMALLORY", "whatever"), protocol)
    assert (error.code, error.status) == (code, status)
    assert error.message == "The security token included in the request is invalid."


@pytest.mark.parametrize("protocol, code, status", [(QUERY, "SignatureDoesNotMatch", 403),
                                                     (JSON, "InvalidSignatureException", 400)])
def test_wrong_secret_or_altered_request_does_not_match(protocol, code, status):
    assert (_fails(_signed(secret="not-alice"), protocol).code, status) == (code, status)
    altered = _signed()
    altered.body = b'{"StreamName":"other"}'
    assert _fails(altered, protocol).code == code
    retargeted = _signed()
    retargeted.headers["x-amz-target"] = "Kinesis_20131202.DeleteStream"
    assert _fails(retargeted, protocol).code == code
    moved = _presigned()
    moved.raw_path = "/000000000000/other"
    assert _fails(moved, protocol).code == code


def test_host_must_be_signed():
    request = _signed()
    authorization = request.headers["authorization"]
    request.headers["authorization"] = authorization.replace("SignedHeaders=", "SignedHeaders=x-amz-target;", 1)
    request.headers["authorization"] = request.headers["authorization"].replace("host;", "")
    assert _fails(request, JSON).code == "InvalidSignatureException"


@pytest.mark.parametrize("offset, phrase", [(limits.SIGV4_CLOCK_SKEW_MAX_S + 5, "Signature expired"),
                                            (-limits.SIGV4_CLOCK_SKEW_MAX_S - 5, "Signature not yet current")])
@pytest.mark.parametrize("protocol, code", [(QUERY, "SignatureDoesNotMatch"), (JSON, "InvalidSignatureException")])
def test_clock_skew_over_fifteen_minutes(offset, phrase, protocol, code):
    error = _fails(_signed(), protocol, offset=offset)
    assert error.code == code and error.message.startswith(phrase) and "15 min." in error.message


def test_clock_skew_within_fifteen_minutes_is_accepted():
    for offset in (limits.SIGV4_CLOCK_SKEW_MAX_S - 60, -limits.SIGV4_CLOCK_SKEW_MAX_S + 60):
        assert _authenticator(offset).verify(_signed(), JSON).account_id == "111111111111"


def test_date_header_instead_of_x_amz_date():
    # botocore signs with the Date header when the request has one
    request = _signed(service="sns", headers={"Date": "placeholder"})
    assert "x-amz-date" not in request.headers and "date" in request.headers
    assert _authenticator().verify(request, QUERY).service == "sns"
    del request.headers["date"]
    assert "'X-Amz-Date' or a 'Date' header" in _fails(request, QUERY).message


def test_keys_from_file_env_and_aws_variables(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("# id secret account\nAKID1 s1 123456789012\nAKID2 s2   # default account\n")
    keys = auth.load_keys(str(keys_file), environ={})
    assert keys["AKID1"].account_id == "123456789012" and keys["AKID2"].account_id == limits.ACCOUNT_ID
    keys = auth.load_keys(None, environ={auth.KEYS_ENV: "A s 111111111111; B t 222222222222"})
    assert {k.account_id for k in keys.values()} == {"111111111111", "222222222222"}
    keys = auth.load_keys(None, environ={"AWS_ACCESS_KEY_ID": "X", "AWS_SECRET_ACCESS_KEY": "Y"})
    assert keys["X"] == AccessKey("X", "Y", limits.ACCOUNT_ID)
    with pytest.raises(ValueError, match="needs access keys"):
        auth.load_keys(None, environ={})
    with pytest.raises(ValueError, match="entry 1"):
        auth.parse_keys("AKID secret 12345", "test")


def test_signed_request_from_asgi_scope_joins_repeated_headers():
    scope = {"method": "POST", "path": "/a b", "raw_path": b"/a%20b", "query_string": b"x=1",
             "headers": [(b"Host", b"h"), (b"X-Thing", b"1"), (b"x-thing", b"2")]}
    request = Request.from_asgi(scope, b"body").signed()
    assert (request.raw_path, request.query_string, request.headers) == ("/a%20b", "x=1", {"host": "h", "x-thing": "1,2"})


def test_signed_request_from_rsgi_rebuilds_the_path_as_sdks_encode_it():
    """granian's RSGI decodes the path: the signed path is encoded again as AWS SDKs encode a
    label (all but the unreserved characters), so a Lambda ARN in a path verifies."""
    scope = SimpleNamespace(method="GET", path="/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:f x/configuration",
                            query_string="Qualifier=%24LATEST", scheme="http", server="127.0.0.1:4566",
                            headers=RSGIHeaders([("host", "h"), ("x-thing", "1"), ("x-thing", "2")]))
    request = Request.from_rsgi(scope, b"", SimpleNamespace(client_disconnect=None))
    signed = request.signed()
    assert signed.raw_path == "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af%20x/configuration"
    assert (signed.query_string, signed.headers) == ("Qualifier=%24LATEST", {"host": "h", "x-thing": "1,2"})
    assert request.headers["x-thing"] == "2" and request.base_url == "http://h"


def test_one_engine_per_account():
    import engine
    default = engine.Engine()
    made = []
    accounts = auth.AccountEngines(default, lambda account: made.append(account) or engine.Engine(account_id=account))
    try:
        assert accounts.get(limits.ACCOUNT_ID) is default
        other = accounts.get("111111111111")
        assert accounts.get("111111111111") is other and made == ["111111111111"]
        default.client("sqs").create_queue(QueueName="q")
        assert other.client("sqs").list_queues().get("QueueUrls", []) == []
        assert other.client("sqs").create_queue(QueueName="q")["QueueUrl"].split("/")[-2] == "111111111111"
    finally:
        for eng in accounts.all():
            eng.close()


# --- over the wire: engine serve --require-auth ---------------------------------------------------
@pytest.fixture(scope="module")
def auth_endpoint(tmp_path_factory):
    from tests.server.wire_server import serve

    directory = tmp_path_factory.mktemp("auth")
    keys = directory / "keys"
    keys.write_text("AKIDALICE alice-secret 111111111111\nAKIDBOB bob-secret 222222222222\n")
    with serve("--require-auth", "--keys-file", str(keys), "--s3-root", str(directory / "s3")) as endpoint:
        yield endpoint


def _boto3(service, endpoint, key_id="AKIDALICE", secret="alice-secret", **config):
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}, **config))


def test_wire_resources_are_isolated_per_account(auth_endpoint):
    alice, bob = _boto3("sqs", auth_endpoint), _boto3("sqs", auth_endpoint, "AKIDBOB", "bob-secret")
    url = alice.create_queue(QueueName="mine")["QueueUrl"]
    assert "/111111111111/mine" in url
    assert bob.list_queues().get("QueueUrls", []) == []
    bob_url = bob.create_queue(QueueName="mine")["QueueUrl"]
    assert "/222222222222/mine" in bob_url
    alice.send_message(QueueUrl=url, MessageBody="for alice")
    assert "Messages" not in bob.receive_message(QueueUrl=bob_url)
    stream_arn = None
    kinesis = _boto3("kinesis", auth_endpoint, "AKIDBOB", "bob-secret")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    assert stream_arn == "arn:aws:kinesis:eu-west-1:222222222222:stream/s"   # region from the signature's scope


def test_wire_signed_paths_with_encoded_labels_verify(auth_endpoint):
    """rest-json labels travel percent-encoded (an ARN's ':' as %3A, a space as %20); the server
    gets the path decoded and must rebuild what the SDK signed."""
    from botocore.exceptions import ClientError

    lam = _boto3("lambda", auth_endpoint)
    arn = "arn:aws:lambda:eu-west-1:111111111111:function:absent"
    with pytest.raises(ClientError) as info:
        lam.get_function(FunctionName=arn, Qualifier="$LATEST")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    mq = _boto3("mq", auth_endpoint)
    with pytest.raises(ClientError) as info:
        mq.list_tags(ResourceArn="arn:aws:mq:eu-west-1:111111111111:broker:b x:b-0000")
    assert info.value.response["Error"]["Code"] == "NotFoundException"
    assert mq.list_brokers()["BrokerSummaries"] == []
    with pytest.raises(ClientError) as info:   # (and a wrong secret is still refused on such a path)
        _boto3("lambda", auth_endpoint, secret="not-alice").get_function(FunctionName=arn)
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"


@pytest.mark.parametrize("service, call, code, status", [
    ("sns", lambda c: c.list_topics(), "SignatureDoesNotMatch", 403),
    ("kinesis", lambda c: c.list_streams(), "InvalidSignatureException", 400),
    ("sqs", lambda c: c.list_queues(), "InvalidSignatureException", 400),
])
def test_wire_wrong_secret(auth_endpoint, service, call, code, status):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        call(_boto3(service, auth_endpoint, secret="not-alice"))
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.mark.parametrize("service, call, code", [
    ("sns", lambda c: c.list_topics(), "InvalidClientTokenId"),
    ("firehose", lambda c: c.list_delivery_streams(), "UnrecognizedClientException"),
])
def test_wire_unknown_key(auth_endpoint, service, call, code):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        call(_boto3(service, auth_endpoint, "AKIDMALLORY", "x"))
    assert info.value.response["Error"]["Code"] == code


@pytest.mark.parametrize("service, call, code", [
    ("sns", lambda c: c.list_topics(), "MissingAuthenticationToken"),
    ("kinesis", lambda c: c.list_streams(), "MissingAuthenticationTokenException"),
])
def test_wire_unsigned(auth_endpoint, service, call, code):
    from botocore import UNSIGNED
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        call(_boto3(service, auth_endpoint, signature_version=UNSIGNED))
    assert info.value.response["Error"]["Code"] == code


def test_wire_presigned_url(auth_endpoint):
    import urllib.error
    import urllib.request

    sns = _boto3("sns", auth_endpoint)
    # signed for the model's method (POST) by default, or for the method asked for
    for method, url in (("POST", sns.generate_presigned_url("list_topics", ExpiresIn=60)),
                        ("GET", sns.generate_presigned_url("list_topics", ExpiresIn=60, HttpMethod="GET"))):
        with urllib.request.urlopen(urllib.request.Request(url, method=method)) as response:
            assert b"ListTopicsResponse" in response.read()
    tampered = sns.generate_presigned_url("list_topics", ExpiresIn=60, HttpMethod="GET").replace(
        "Action=ListTopics", "Action=ListSubscriptions")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(tampered)
    assert info.value.code == 403 and b"SignatureDoesNotMatch" in info.value.read()


def test_http2_authority_signed_in_place_of_host():
    # the JS SDK v3 over HTTP/2 drops Host and signs the ':authority' pseudo-header instead
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data=b"{}",
                         headers={":authority": "127.0.0.1:4566", "X-Amz-Target": "Kinesis_20131202.ListStreams"})
    signer = SigV4Auth(Credentials("AKIDALICE", "alice-secret"), "kinesis", "us-east-1")
    signer.headers_to_sign = lambda r: _without_host(SigV4Auth.headers_to_sign(signer, r))
    signer.add_auth(request)
    wire = _wire(request)
    assert ":authority;" in wire.headers["authorization"] and ";host;" not in wire.headers["authorization"]
    del wire.headers[":authority"]   # the server sees it as the host header
    assert _authenticator().verify(wire, JSON).account_id == "111111111111"
    wire.headers["host"] = "elsewhere:4566"
    assert _fails(wire, JSON).code == "InvalidSignatureException"


def _without_host(headers):
    del headers["host"]
    return headers


_OLD_SQS_SCRIPT = """
import json, sys, boto3
endpoint, secret = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="AKIDALICE",
                   aws_secret_access_key=secret)
out = {}
try:
    url = sqs.create_queue(QueueName="query-signed")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="signed body")   # POSTed to the queue's path
    out["url"], out["body"] = url, sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"]
except Exception as error:
    out["error"] = error.response["Error"]["Code"]
print(json.dumps(out))
"""


def test_wire_sqs_query_protocol_signed_to_queue_paths(auth_endpoint):
    import json

    from tests.server.test_old_clients import OLD_BOTOCORE
    from tests.server.venvs import client_venv, run

    old = client_venv("botocore-1.31.80", *OLD_BOTOCORE)
    done = run(old, str(old / "python"), "-c", _OLD_SQS_SCRIPT, auth_endpoint, "alice-secret")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out == {"url": f"{auth_endpoint}/111111111111/query-signed", "body": "signed body"}
    done = run(old, str(old / "python"), "-c", _OLD_SQS_SCRIPT, auth_endpoint, "not-alice")
    assert json.loads(done.stdout) == {"error": "SignatureDoesNotMatch"}


def test_content_sha256_header_must_be_the_bodys():
    signed = _signed(headers={"X-Amz-Content-SHA256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                     body=b"")
    assert _authenticator().verify(signed, JSON).account_id == "111111111111"
    signed.body = b'{"StreamName":"swapped"}'   # signature intact, body not the one hashed
    assert "x-amz-content-sha256" in _fails(signed, JSON).message


@pytest.mark.parametrize("args, env, message", [
    (["--keys-file", "/nonexistent/keys"], {}, "--keys-file /nonexistent/keys: No such file or directory"),
    ([], {"ENGINE_ACCESS_KEYS": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "needs access keys"),
    ([], {"ENGINE_ACCESS_KEYS": "AKID secret 123"}, "12-digit ACCOUNT_ID"),
])
def test_serve_refuses_bad_keys_in_one_line(args, env, message):
    import os
    import subprocess
    import sys

    from tests.server.wire_server import REPO, free_port

    done = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", str(free_port()), "--require-auth",
                           *args], cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr

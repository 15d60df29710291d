"""The fast paths (engine.server.fastpath) answer exactly as the generic codec does.

Two apps over two engines set up alike (same clock, same calls): one with its fast paths, one
with none. The same requests, well-formed and mutated (members dropped, retyped, emptied,
unknown ones added, bodies that are not JSON), go to both in the same order; status, headers and
body must match once the per-call random ids (request ids, message ids, receipt handles, shard iterators) are
masked. Each fast path must also have answered some of them itself.
"""
from __future__ import annotations

import base64
import copy
import json
import random
import re
from urllib.parse import urlencode

import pytest

import engine
from engine.server.app import make_app
from tests.server.conftest import call_app, rsgi_request

SEED = 12
MUTANTS_PER_OPERATION = 150
JUNK = [None, 0, -1, 1, 11, 1.5, True, "", "x", "\u0000", "é" * 3, "a" * 300, [], {}, [1], {"a": 1}]
HANDLES = 12
_RANDOM_IDS = re.compile(rb'"(MessageId|ReceiptHandle|NextShardIterator|RecordId)":"[^"]*"')


def _app(fast: bool, s3_root):
    eng = engine.Engine(clock=engine.ManualClock(), s3_root=str(s3_root))
    app = make_app(eng)
    if not fast:
        app.fast_paths = app.query_fast_paths = {}
    sqs = eng.client("sqs")
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.create_queue(QueueName="f.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(k), "MessageBody": f"m{k}"} for k in range(10)])
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(k), "MessageBody": f"n{k}"} for k in range(10)])
    handles = [m["ReceiptHandle"] for _ in range(2)
               for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=300)["Messages"]]
    kinesis = eng.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=2)
    kinesis.put_records(StreamName="s", Records=[{"Data": bytes([k]) * 10, "PartitionKey": f"k{k}"} for k in range(20)])
    shard = kinesis.list_shards(StreamName="s")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    topic = eng.client("sns").create_topic(Name="t")["TopicArn"]
    sqs.create_queue(QueueName="n")
    eng.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:n")
    eng.client("firehose").create_delivery_stream(DeliveryStreamName="d", ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::bucket"})
    return app, eng, {"H": handles[:HANDLES], "I": iterator["ShardIterator"]}


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    """(app with fast paths, its ids), the same driven through its RSGI entry (what `engine
    serve` runs: the hot operations' lean answers), and the generic app."""
    fast, fast_engine, fast_ctx = _app(True, tmp_path_factory.mktemp("fast"))
    lean, lean_engine, lean_ctx = _app(True, tmp_path_factory.mktemp("lean"))
    generic, generic_engine, generic_ctx = _app(False, tmp_path_factory.mktemp("generic"))
    yield (fast, fast_ctx), (lean, lean_ctx), (generic, generic_ctx)
    fast_engine.close()
    generic_engine.close()


WIRE = "http://127.0.0.1:4566/000000000000/"
ENGINE = "https://sqs.us-east-1.amazonaws.com/000000000000/"
B64 = base64.b64encode(b"payload-" * 10).decode()
BIG_B64 = base64.b64encode(b"\x01" * 1_000_000).decode()   # (six of them: over PutRecords' 5 MiB)

BASES = {
    "AmazonSQS.SendMessage": [
        {"QueueUrl": WIRE + "q", "MessageBody": "hello"},
        {"QueueUrl": ENGINE + "q", "MessageBody": "héllo ✓"},
        {"QueueUrl": "q", "MessageBody": "bare name"},
        {"QueueUrl": WIRE + "f.fifo", "MessageBody": "fifo", "MessageGroupId": "g"},
        {"QueueUrl": WIRE + "q", "MessageBody": "delayed", "DelaySeconds": 5},
        {"QueueUrl": WIRE + "q", "MessageBody": "x" * 262_145},
        {"QueueUrl": WIRE + "nope", "MessageBody": "x"},
    ],
    "AmazonSQS.SendMessageBatch": [
        {"QueueUrl": WIRE + "q", "Entries": [{"Id": f"e{k}", "MessageBody": f"b{k}"} for k in range(3)]},
        {"QueueUrl": WIRE + "q", "Entries": [{"Id": "a", "MessageBody": "ok"}, {"Id": "b", "MessageBody": "\u0001"}]},
        {"QueueUrl": WIRE + "q", "Entries": [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]},
        {"QueueUrl": WIRE + "q", "Entries": [{"Id": str(k), "MessageBody": "x"} for k in range(11)]},
        {"QueueUrl": WIRE + "q", "Entries": [{"Id": "a", "MessageBody": "é" * 200_000}]},
        {"QueueUrl": WIRE + "q", "Entries": [{"Id": "a", "MessageBody": "attributes", "MessageAttributes": {
            "n": {"DataType": "Binary", "BinaryValue": "AP8="}, "s": {"DataType": "String", "StringValue": "v"}}}]},
        {"QueueUrl": WIRE + "q", "Entries": [{"Id": "a", "MessageBody": "x", "MessageAttributes": {
            "n": {"DataType": "Binary", "BinaryValue": "not base64!"}}}]},
    ],
    "AmazonSQS.ReceiveMessage": [
        {"QueueUrl": WIRE + "q", "MaxNumberOfMessages": 2, "VisibilityTimeout": 0},
        {"QueueUrl": WIRE + "q", "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0},
        {"QueueUrl": WIRE + "q"},
        {"QueueUrl": WIRE + "q", "MaxNumberOfMessages": 1, "AttributeNames": ["All"]},
        {"QueueUrl": WIRE + "q", "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"]},
    ],
    "AmazonSQS.DeleteMessage": [{"QueueUrl": WIRE + "q", "ReceiptHandle": f"{{H{k}}}"} for k in range(4)] + [
        {"QueueUrl": WIRE + "q", "ReceiptHandle": "not-a-handle"}],
    "AmazonSQS.DeleteMessageBatch": [
        {"QueueUrl": WIRE + "q", "Entries": [{"Id": f"d{k}", "ReceiptHandle": f"{{H{k}}}"} for k in range(4, 8)]},
        {"QueueUrl": WIRE + "q", "Entries": [{"Id": "d", "ReceiptHandle": "{H8}"},
                                             {"Id": "e", "ReceiptHandle": "bad"}]},
    ],
    "Kinesis_20131202.PutRecords": [
        {"StreamName": "s", "Records": [{"Data": B64, "PartitionKey": f"p{k}"} for k in range(4)]},
        {"StreamName": "s", "Records": [{"Data": "", "PartitionKey": "é"},
                                        {"Data": "QR==", "PartitionKey": "k" * 256}]},
        {"StreamName": "s", "Records": [{"Data": B64, "PartitionKey": "p", "ExplicitHashKey": "1"}]},
        {"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s",
         "Records": [{"Data": "QUJD", "PartitionKey": "p"}]},
        {"StreamName": "s", "Records": [{"Data": B64, "PartitionKey": "p"}] * 501},
        {"StreamName": "s", "Records": [{"Data": "QUJD====", "PartitionKey": "p"},
                                        {"Data": "QU=D", "PartitionKey": "p"}]},
        {"StreamName": "nope", "Records": [{"Data": B64, "PartitionKey": "p"}]},
        # (the body decoded by msgspec: base64 as strict as the generic codec's, text that is not UTF-8)
        {"StreamName": "s", "Records": [{"Data": "QQ", "PartitionKey": "p"}, {"Data": "QU JD", "PartitionKey": "p"}]},
        {"StreamName": "s", "Records": [{"Data": "QUJD\n", "PartitionKey": "p"}]},
        {"StreamName": "s", "Records": [{"Data": B64, "PartitionKey": "\ud800"}]},
        {"StreamName": "s", "Records": []},
        {"StreamName": None, "StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s",
         "Records": [{"Data": "QUJD", "PartitionKey": "p"}]},   # (null is not absent)
        {"StreamName": "s", "StreamARN": None, "Records": [{"Data": "QUJD", "PartitionKey": "p"}]},
        {"StreamName": "s", "Records": [{"Data": BIG_B64, "PartitionKey": f"p{k}"} for k in range(6)]},
    ],
    "Kinesis_20131202.PutRecord": [
        {"StreamName": "s", "Data": B64, "PartitionKey": "p"},
        {"StreamName": "s", "Data": "", "PartitionKey": "k" * 256, "ExplicitHashKey": "12"},
        {"StreamName": "s", "Data": "QUJD====", "PartitionKey": "p"},
        {"StreamName": "s", "Data": B64, "PartitionKey": "p", "SequenceNumberForOrdering": "1"},
        {"StreamName": "nope", "Data": B64, "PartitionKey": "p"},
    ],
    "Firehose_20150804.PutRecordBatch": [
        {"DeliveryStreamName": "d", "Records": [{"Data": B64} for _ in range(3)]},
        {"DeliveryStreamName": "d", "Records": [{"Data": "QU=D"}]},
        {"DeliveryStreamName": "d", "Records": []},
        {"DeliveryStreamName": "nope", "Records": [{"Data": B64}]},
    ],
    "Kinesis_20131202.GetRecords": [{"ShardIterator": "{I}", "Limit": 3}, {"ShardIterator": "{I}"},
                                    {"ShardIterator": "bogus"}],
}
TOPIC = "arn:aws:sns:us-east-1:000000000000:t"
# query-protocol requests: form fields (Action and Version added when sent)
QUERY_BASES = {
    "Publish": [
        {"TopicArn": TOPIC, "Message": "hello"},
        {"TopicArn": TOPIC, "Message": "héllo ✓", "Subject": "s"},
        {"TargetArn": TOPIC, "Message": "target"},
        {"TopicArn": TOPIC, "Message": ""},
        {"TopicArn": TOPIC + "-nope", "Message": "x"},
        {"TopicArn": "not an arn", "Message": "x"},
        {"TopicArn": TOPIC, "Message": "x", "Subject": "line\nbreak"},
        {"TopicArn": TOPIC, "Message": "x" * 262_145},
        {"TopicArn": TOPIC, "Message": "x", "MessageAttributes.entry.1.Name": "a",
         "MessageAttributes.entry.1.Value.DataType": "String", "MessageAttributes.entry.1.Value.StringValue": "v"},
    ],
}
QUERY_JUNK = ["", "x", "\u0000", "é", "a" * 300]
RAW_BODIES = [b"", b"[]", b"{", b"null", b'{"QueueUrl":', b"\xff\xfe", b'"text"', b"{}",
              # (a member twice: the last one counts, for PutRecords' own decoder too)
              b'{"StreamName":"nope","StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"p","PartitionKey":"q"}]}',
              b'\xef\xbb\xbf{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"p"}]} ']


def _paths(value, path=()):
    """Every place inside a JSON value: (path to it, value)."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for k, item in enumerate(value[:3]):
            yield from _paths(item, path + (k,))


def _mutated(base: dict, rng: random.Random) -> dict:
    """base with one to three random changes: a member dropped, retyped or added."""
    out = copy.deepcopy(base)
    for _ in range(rng.randint(1, 3)):
        places = [p for p, _ in _paths(out) if p]
        if not places:
            break
        path = rng.choice(places)
        parent = out
        for step in path[:-1]:
            parent = parent[step]
        how = rng.random()
        if how < 0.25 and isinstance(parent, dict):
            del parent[path[-1]]
        elif how < 0.35 and isinstance(parent, dict):
            parent["Unknown"] = rng.choice(JUNK)
        else:
            parent[path[-1]] = rng.choice(JUNK)
    return out


def _no_long_poll(params):
    """A positive wait would long-poll on the manual clock: every other value stays."""
    if isinstance(params, dict) and type(params.get("WaitTimeSeconds")) is int and params["WaitTimeSeconds"] > 0:
        params["WaitTimeSeconds"] = 0
    return params


def _requests():
    rng = random.Random(SEED)
    for target, bases in BASES.items():
        for base in bases:
            yield target, base
        for _ in range(MUTANTS_PER_OPERATION):
            yield target, _no_long_poll(_mutated(rng.choice(bases), rng))
        for raw in RAW_BODIES:
            yield target, raw


def _query_requests():
    rng = random.Random(SEED)
    for action, bases in QUERY_BASES.items():
        yield from ((action, base) for base in bases)
        for _ in range(MUTANTS_PER_OPERATION // 3):
            form = dict(rng.choice(bases))
            key = rng.choice(list(form) + ["Subject", "Unknown"])
            if rng.random() < 0.3:
                form.pop(key, None)
            else:
                form[key] = rng.choice(QUERY_JUNK)
            yield action, form


_QUERY_RANDOM_IDS = re.compile(rb"<(MessageId|RequestId)>[^<]*<")


def _send_query(app, action: str, form: dict) -> tuple[int, dict, bytes]:
    body = urlencode({"Action": action, "Version": "2010-03-31", **form}).encode()
    status, headers, out = call_app(app, "POST", "/", {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sns/aws4_request, "
                         "SignedHeaders=host, Signature=0"}, body)
    headers.pop("x-amzn-requestid")
    return status, headers, _QUERY_RANDOM_IDS.sub(rb"<\1>*<", out)


def _notifications(app) -> list:
    """(Subject, Message) of the SNS notifications waiting in queue n, which are then deleted."""
    sqs = app.engines.default.client("sqs")
    url = sqs.get_queue_url(QueueName="n")["QueueUrl"]
    found = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in got:
            body = json.loads(m["Body"])
            found.append((body.get("Subject"), body["Message"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return found


def _send(app, ctx, target: str, params, call=call_app) -> tuple[int, dict, bytes]:
    if isinstance(params, bytes):
        body = params
    else:
        text = json.dumps(params)
        for k, handle in enumerate(ctx["H"]):
            text = text.replace(f"{{H{k}}}", handle)
        body = text.replace("{I}", ctx["I"]).encode()
    content_type = "application/x-amz-json-1.0" if target.startswith("AmazonSQS") else "application/x-amz-json-1.1"
    status, headers, out = call(app, "POST", "/", {"x-amz-target": target, "content-type": content_type,
                                                   "x-amzn-query-mode": "true"}, body)
    headers.pop("x-amzn-requestid")
    return status, headers, _RANDOM_IDS.sub(rb'"\1":"*"', out)


def test_fast_paths_answer_as_the_generic_codec(apps, monkeypatch):
    (fast, fast_ctx), (lean, lean_ctx), (generic, generic_ctx) = apps
    answered = {key: 0 for key in [*fast.fast_paths, *fast.query_fast_paths]}
    for key, path in [*fast.fast_paths.items(), *fast.query_fast_paths.items()]:
        def counting(*args, _handler=path.handler, _key=key):
            result = _handler(*args)
            answered[_key] += result is not None
            return result
        monkeypatch.setattr(path, "handler", counting)
    lean_answered = {key: 0 for key in lean.fast_paths}
    lean_answer = lean._lean

    def counting_lean(path, *args):
        answer = lean_answer(path, *args)
        lean_answered[path.service, path.operation] += answer is not None
        return answer
    monkeypatch.setattr(lean, "_lean", counting_lean)
    for target, params in _requests():
        got = _send(fast, fast_ctx, target, params)
        expected = _send(generic, generic_ctx, target, params)
        assert got == expected, (target, params if isinstance(params, bytes) else json.dumps(params)[:300])
        got = _send(lean, lean_ctx, target, params, rsgi_request)
        assert got == expected, ("rsgi", target, params if isinstance(params, bytes) else json.dumps(params)[:300])
    for action, form in _query_requests():
        assert _send_query(fast, action, form) == _send_query(generic, action, form), (action, form)
        # (and what the publish fanned out to the subscribed queue n)
        assert _notifications(fast) == _notifications(generic), (action, form)
    assert all(answered.values()), answered
    assert all(lean_answered.values()), lean_answered


def test_every_fast_path_is_exercised():
    """No fast path that nothing here sends (each operation has its requests above)."""
    app = make_app(engine.Engine())
    try:
        prefixes = {"sqs": "AmazonSQS", "kinesis": "Kinesis_20131202", "firehose": "Firehose_20150804"}
        assert {f"{prefixes[service]}.{op}" for service, op in app.fast_paths} == set(BASES)
        assert {op for _, op in app.query_fast_paths} == set(QUERY_BASES)
    finally:
        app.engines.default.close()


def test_the_rsgi_entry_answers_in_the_signers_region_and_leaves_signed_requests_to_verification():
    """The lean answers of the RSGI entry name the queue by the credential scope's region, as the
    generic path does, and a server that verifies signatures refuses an unsigned hot request."""
    from engine.server.auth import Authenticator, parse_keys

    app = make_app(engine.Engine())
    try:
        app.engines.default.client("sqs", region_name="eu-west-1").create_queue(QueueName="r")
        body = json.dumps({"QueueUrl": "http://127.0.0.1:4566/000000000000/r", "MessageBody": "hello"}).encode()

        def send(region: str):
            return rsgi_request(app, "POST", "/", {
                "x-amz-target": "AmazonSQS.SendMessage", "content-type": "application/x-amz-json-1.0",
                "authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/{region}/sqs/aws4_request, "
                                 "SignedHeaders=host, Signature=0"}, body)
        status, _, out = send("eu-west-1")
        assert status == 200 and json.loads(out)["MD5OfMessageBody"] == "5d41402abc4b2a76b9719d911017c592"
        queue = app.engines.default.client("sqs", region_name="eu-west-1").get_queue_url(QueueName="r")["QueueUrl"]
        assert app.engines.default.client("sqs", region_name="eu-west-1").receive_message(
            QueueUrl=queue)["Messages"][0]["Body"] == "hello"
        status, _, out = send("us-east-1")
        assert (status, json.loads(out)["__type"]) == (400, "QueueDoesNotExist")
        app.authenticator = Authenticator(parse_keys("AKIDALICE alice-secret 111111111111", "test"))
        status, _, out = send("eu-west-1")
        assert (status, json.loads(out)["__type"]) == (400, "IncompleteSignatureException")   # (no X-Amz-Date)
        assert app.engines.default.backend("sqs", "eu-west-1").get_queue("r").approximate_number_of_messages == 0
    finally:
        app.engines.default.close()


def test_a_fast_path_that_fails_answers_internal_failure_through_either_entry(monkeypatch):
    app = make_app(engine.Engine())
    try:
        url = app.engines.default.client("sqs").create_queue(QueueName="q")["QueueUrl"]

        def broken(*args):
            raise RuntimeError("a bug")
        monkeypatch.setattr(app.fast_paths["sqs", "SendMessage"], "handler", broken)
        headers = {"x-amz-target": "AmazonSQS.SendMessage", "content-type": "application/x-amz-json-1.0"}
        body = json.dumps({"QueueUrl": url, "MessageBody": "m"}).encode()
        for call in (rsgi_request, call_app):
            status, _, out = call(app, "POST", "/", headers, body)
            assert (status, json.loads(out)["__type"]) == (500, "InternalFailure"), call
    finally:
        app.engines.default.close()

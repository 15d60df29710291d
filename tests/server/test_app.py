"""The ASGI app in this process: routing, errors as AWS sends them, queue URLs by Host, the admin
endpoints and SQS long polls on the event loop."""
from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest

import engine
from engine.server.app import make_app
from tests.server.conftest import asgi_request, call_app

IDLE_POLLS = 2000
SIGNED_SQS = "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/sqs/aws4_request, SignedHeaders=host, Signature=x"


@pytest.fixture
def app(tmp_path):
    eng = engine.Engine(s3_root=str(tmp_path / "s3"))
    yield make_app(eng)
    eng.close()


def _json(app, target, body, **headers):
    status, out_headers, out = call_app(app, "POST", "/", {"x-amz-target": target,
                                                          "content-type": "application/x-amz-json-1.1", **headers},
                                        json.dumps(body).encode())
    return status, out_headers, json.loads(out)


def _query(app, params, path="/", **headers):
    return call_app(app, "POST", path, {"content-type": "application/x-www-form-urlencoded", **headers},
                    urlencode(params).encode())


def test_json_target_reaches_the_service(app, shape):
    status, headers, body = _json(app, "Kinesis_20131202.ListStreams", {})
    assert status == 200
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert headers["x-amzn-requestid"]
    shape("kinesis", "ListStreams", {**body, "ResponseMetadata": {"HTTPStatusCode": status}})


def test_errors_carry_the_code_and_status(app):
    status, headers, body = _json(app, "Kinesis_20131202.DescribeStream", {"StreamName": "missing"})
    assert status == 400
    assert body["__type"] == "ResourceNotFoundException"
    assert "missing" in body["message"]


@pytest.mark.parametrize("target,code", [("Nope_2020.ListStreams", "UnknownOperationException"),
                                         ("Kinesis_20131202.NoSuchThing", "UnknownOperationException")])
def test_unknown_targets(app, target, code):
    status, _, body = _json(app, target, {})
    assert (status, body["__type"]) == (400, code)


def test_a_body_that_is_not_json_is_a_serialization_error(app):
    status, _, out = call_app(app, "POST", "/", {"x-amz-target": "Kinesis_20131202.ListStreams"}, b"{nope")
    assert status == 400
    assert json.loads(out)["__type"] == "SerializationException"


def test_a_wrongly_typed_member_is_a_validation_error(app):
    status, _, body = _json(app, "Kinesis_20131202.ListStreams", {"Limit": "many"})
    assert (status, body["__type"]) == (400, "ValidationException")


def test_sqs_json_errors_name_the_query_code_only_in_query_mode(app):
    status, headers, body = _json(app, "AmazonSQS.GetQueueUrl", {"QueueName": "missing"})
    assert (status, body["__type"]) == (400, "QueueDoesNotExist")
    assert "x-amzn-query-error" not in headers
    _, headers, _ = _json(app, "AmazonSQS.GetQueueUrl", {"QueueName": "missing"}, **{"x-amzn-query-mode": "true"})
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"


def test_queue_urls_follow_the_host_and_come_back(app):
    _, _, body = _json(app, "AmazonSQS.CreateQueue", {"QueueName": "q"}, host="localhost:9999")
    url = body["QueueUrl"]
    assert url == "http://localhost:9999/000000000000/q"
    status, _, _ = _json(app, "AmazonSQS.SendMessage", {"QueueUrl": url, "MessageBody": "x"}, host="localhost:9999")
    assert status == 200
    _, _, listed = _json(app, "AmazonSQS.ListQueues", {}, host="other:1")
    assert listed["QueueUrls"] == ["http://other:1/000000000000/q"]


def test_region_comes_from_the_credential_scope(app):
    _json(app, "AmazonSQS.CreateQueue", {"QueueName": "west"}, authorization=SIGNED_SQS)
    _, _, here = _json(app, "AmazonSQS.ListQueues", {})
    _, _, there = _json(app, "AmazonSQS.ListQueues", {}, authorization=SIGNED_SQS)
    assert "QueueUrls" not in here
    assert there["QueueUrls"] == ["http://127.0.0.1:4566/000000000000/west"]


def test_query_protocol_is_told_apart_by_version_signing_name_and_path(app):
    status, _, out = _query(app, {"Action": "CreateTopic", "Version": "2010-03-31", "Name": "t"})
    assert status == 200 and b"<CreateTopicResponse" in out and b"arn:aws:sns:us-east-1:000000000000:t" in out
    status, _, out = _query(app, {"Action": "CreateQueue", "Version": "2012-11-05", "QueueName": "q"})
    assert status == 200 and b"<QueueUrl>http://127.0.0.1:4566/000000000000/q</QueueUrl>" in out
    status, _, out = _query(app, {"Action": "ListQueues"}, authorization=SIGNED_SQS)
    assert status == 200 and b"<ListQueuesResponse" in out
    # older SDKs post to the queue URL itself
    status, _, out = _query(app, {"Action": "SendMessage", "MessageBody": "hi"}, path="/000000000000/q")
    assert status == 200 and b"<MD5OfMessageBody>49f68a5c8493ec2c0bf489821c21fc3b</MD5OfMessageBody>" in out


def test_query_errors_are_error_responses(app):
    status, _, out = _query(app, {"Action": "GetQueueUrl", "Version": "2012-11-05", "QueueName": "nope"})
    assert status == 400
    assert b"<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in out and b"<Type>Sender</Type>" in out
    status, _, out = _query(app, {"Action": "Frobnicate", "Version": "2010-03-31"})
    assert status == 400 and b"<Code>InvalidAction</Code>" in out
    status, _, out = _query(app, {"Action": "GetTopicAttributes", "Version": "2010-03-31",
                                  "TopicArn": "arn:aws:sns:us-east-1:000000000000:none"})
    assert status == 404 and b"<Code>NotFound</Code>" in out


def test_health_and_reset(app):
    status, _, out = call_app(app, "GET", "/_engine/health")
    health = json.loads(out)
    assert status == 200 and health["version"] == engine.__version__
    assert {"sqs", "sns", "kinesis", "firehose", "glue"} <= set(health["services"])
    _json(app, "Kinesis_20131202.CreateStream", {"StreamName": "s", "ShardCount": 1})
    for path in ("/_engine/reset", "/moto-api/reset"):
        status, _, out = call_app(app, "POST", path)
        assert (status, json.loads(out)) == (200, {"status": "ok"})
    _, _, body = _json(app, "Kinesis_20131202.ListStreams", {})
    assert body["StreamNames"] == []


def test_reset_drops_what_the_data_dir_holds(tmp_path):
    """With --data-dir, a reset empties the data dir too: nothing comes back from disk, neither
    in the server's fresh engines nor in an engine opened on the directory afterwards."""
    stored = {"data_dir": str(tmp_path / "data"), "s3_root": str(tmp_path / "s3")}
    app = make_app(engine.Engine(**stored), engine_factory=lambda account_id: engine.Engine(account_id=account_id,
                                                                                             **stored))
    _json(app, "Kinesis_20131202.CreateStream", {"StreamName": "s", "ShardCount": 1})
    status, _, _ = call_app(app, "POST", "/", {"x-amz-target": "AmazonSQS.CreateQueue",
                                               "content-type": "application/x-amz-json-1.0"}, b'{"QueueName": "q"}')
    assert status == 200
    call_app(app, "POST", "/_engine/reset")
    assert _json(app, "Kinesis_20131202.ListStreams", {})[2]["StreamNames"] == []
    _, _, out = call_app(app, "POST", "/", {"x-amz-target": "AmazonSQS.ListQueues",
                                            "content-type": "application/x-amz-json-1.0"}, b"{}")
    assert "QueueUrls" not in json.loads(out)
    for eng in app.engines.all():
        eng.close()
    with engine.Engine(**stored) as reopened:
        assert reopened.client("kinesis").list_streams()["StreamNames"] == []
        assert "QueueUrls" not in reopened.client("sqs").list_queues()


# --- long polls -----------------------------------------------------------------------------------
def _sqs(app, op, body, hang_up=None, **headers):
    return asgi_request(app, "POST", "/", {"x-amz-target": f"AmazonSQS.{op}",
                                           "content-type": "application/x-amz-json-1.0", **headers},
                        json.dumps(body).encode(), hang_up=hang_up)


def test_a_long_poll_waits_for_a_send_without_blocking_the_loop(app):
    async def scenario():
        _, _, out = await _sqs(app, "CreateQueue", {"QueueName": "lp"})
        url = json.loads(out)["QueueUrl"]
        polls = [asyncio.create_task(_sqs(app, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20}))
                 for _ in range(IDLE_POLLS)]
        queue = app.engines.default.backend("sqs", "us-east-1").get_queue("lp")
        while len(getattr(app.polls._waiters.get(queue), "futures", ())) < IDLE_POLLS:
            await asyncio.sleep(0.01)   # (until every poll has tried once and waits)
        assert not any(p.done() for p in polls)        # waiting, and the loop still serves:
        await _sqs(app, "SendMessage", {"QueueUrl": url, "MessageBody": "one"})
        done, pending = await asyncio.wait(polls, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        got = [json.loads((await p)[2]) for p in done]
        assert [m["Body"] for r in got for m in r["Messages"]] == ["one"]
        assert len(pending) == IDLE_POLLS - 1           # the send woke one poll, not all of them
        app.polls.close()                               # (as on SIGTERM: every poll answers now)
        rest = await asyncio.wait_for(asyncio.gather(*pending), 5)
        assert all(status == 200 and "Messages" not in json.loads(body) for status, _, body in rest)
    asyncio.run(scenario())


def test_a_long_poll_ends_at_its_deadline_or_when_a_delayed_message_turns_visible(app):
    async def scenario():
        _, _, out = await _sqs(app, "CreateQueue", {"QueueName": "d", "Attributes": {"ReceiveMessageWaitTimeSeconds": "1"}})
        url = json.loads(out)["QueueUrl"]
        status, _, out = await _sqs(app, "ReceiveMessage", {"QueueUrl": url})   # the queue's default wait
        assert status == 200 and "Messages" not in json.loads(out)
        await _sqs(app, "SendMessage", {"QueueUrl": url, "MessageBody": "later", "DelaySeconds": 1})
        _, _, out = await asyncio.wait_for(_sqs(app, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 5}), 4)
        assert [m["Body"] for m in json.loads(out)["Messages"]] == ["later"]
    asyncio.run(scenario())


def test_a_long_poll_whose_client_hung_up_takes_no_message(app):
    async def scenario():
        _, _, out = await _sqs(app, "CreateQueue", {"QueueName": "hangup"})
        url = json.loads(out)["QueueUrl"]
        hang_up = asyncio.Event()
        gone = asyncio.create_task(_sqs(app, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20}, hang_up))
        await asyncio.sleep(0.05)
        hang_up.set()
        await asyncio.wait_for(gone, 5)
        await _sqs(app, "SendMessage", {"QueueUrl": url, "MessageBody": "for someone listening"})
        _, _, out = await _sqs(app, "ReceiveMessage", {"QueueUrl": url})
        assert [m["Body"] for m in json.loads(out)["Messages"]] == ["for someone listening"]
    asyncio.run(scenario())


def test_a_deleted_queue_ends_its_long_polls(app):
    async def scenario():
        _, _, out = await _sqs(app, "CreateQueue", {"QueueName": "gone"})
        url = json.loads(out)["QueueUrl"]
        poll = asyncio.create_task(_sqs(app, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20}))
        await asyncio.sleep(0.05)
        await _sqs(app, "DeleteQueue", {"QueueUrl": url})
        status, _, out = await asyncio.wait_for(poll, 5)
        assert status == 200 and "Messages" not in json.loads(out)
    asyncio.run(scenario())


def test_an_invalid_wait_is_refused_without_waiting(app):
    async def scenario():
        _, _, out = await _sqs(app, "CreateQueue", {"QueueName": "w"})
        url = json.loads(out)["QueueUrl"]
        status, _, out = await asyncio.wait_for(_sqs(app, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 21}), 5)
        assert (status, json.loads(out)["__type"]) == (400, "InvalidParameterValue")
    asyncio.run(scenario())


# --- malformed requests get AWS's answers, never a 500 ------------------------------------------
_ODD_VALUES = [None, 1, -1, 1.5, True, "x", "", [], {}, ["x"], {"a": 1}, 2 ** 70]


def test_every_json_operation_answers_malformed_members_without_a_server_error(app):
    from engine.request import service_models
    failures = []
    requests = []
    for service, prefix in (("sqs", "AmazonSQS"), ("kinesis", "Kinesis_20131202"),
                            ("firehose", "Firehose_20150804"), ("glue", "AWSGlue")):
        model = service_models.service_model(service)
        for operation in model.operation_names:
            if operation == "SubscribeToShard":
                continue   # (an event stream; tests/server/test_eventstream.py)
            shape = model.operation_model(operation).input_shape
            members = list(shape.members) if shape is not None else []
            bodies = [b"", b"{}", b"[]", b"null", b'{"Unknown": 1}']
            bodies += [json.dumps({m: v}).encode() for m in members[:6] for v in _ODD_VALUES]
            requests.extend((f"{service}.{operation}", f"{prefix}.{operation}", body) for body in bodies)

    async def send_all():   # (one event loop for the few thousand requests)
        for name, target, body in requests:
            status, _, out = await asgi_request(app, "POST", "/", {"x-amz-target": target}, body)
            if status >= 500:
                failures.append(f"{name} {body[:60]!r}: {status} {out[:120]!r}")
    asyncio.run(send_all())
    assert not failures, "\n".join(failures[:20])


def test_every_query_operation_answers_malformed_fields_without_a_server_error(app):
    from engine.request import service_models
    failures = []
    for service, version in (("sns", "2010-03-31"), ("sqs", "2012-11-05")):
        model = service_models.service_model(service)
        for operation in model.operation_names:
            shape = model.operation_model(operation).input_shape
            members = list(shape.members) if shape is not None else []
            forms = [{}] + [{m: v} for m in members[:6] for v in ("", "x", "-1", "true", "\u0000", "1e999")]
            forms += [{f"{m}.member.1": "x", f"{m}.entry.1.key": "k"} for m in members[:6]]
            for form in forms:
                status, _, out = _query(app, {"Action": operation, "Version": version, **form})
                if status >= 500:
                    failures.append(f"{service}.{operation} {form}: {status} {out[:160]!r}")
    assert not failures, "\n".join(failures[:20])


def test_a_long_poll_over_the_in_flight_limit_waits_instead_of_failing(app):
    from engine import limits

    async def scenario():
        _, _, out = await _sqs(app, "CreateQueue", {"QueueName": "full"})
        url = json.loads(out)["QueueUrl"]
        queue = app.engines.default.backend("sqs", "us-east-1").get_queue("full")
        queue.send_raw(["x"] * (limits.SQS_INFLIGHT_STANDARD_MAX + 1))
        assert len(queue.receive(limits.SQS_INFLIGHT_STANDARD_MAX, visibility_timeout=600).ids) == \
            limits.SQS_INFLIGHT_STANDARD_MAX
        status, _, out = await _sqs(app, "ReceiveMessage", {"QueueUrl": url})
        assert (status, json.loads(out)["__type"]) == (403, "OverLimit")       # a short poll is refused
        status, _, out = await asyncio.wait_for(_sqs(app, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 1}), 10)
        assert status == 200 and "Messages" not in json.loads(out)            # a long poll waits, then answers
    asyncio.run(scenario())


def test_a_reset_answers_waiting_long_polls(app):
    async def scenario():
        _, _, out = await _sqs(app, "CreateQueue", {"QueueName": "reset-me"})
        url = json.loads(out)["QueueUrl"]
        poll = asyncio.create_task(_sqs(app, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20}))
        await asyncio.sleep(0.05)
        await app.reset()
        status, _, out = await asyncio.wait_for(poll, 5)
        assert status == 200 and "Messages" not in json.loads(out)
    asyncio.run(scenario())


def test_asgi_lifespan_shutdown_answers_long_polls_and_delivers_firehose_buffers(tmp_path):
    """Served by an ASGI server (engine serve uses RSGI), the app's lifespan shutdown does what a
    stop of engine serve does: waiting polls answered at once, Firehose buffers delivered."""
    eng = engine.Engine(s3_root=str(tmp_path / "s3"))
    app = make_app(eng)
    firehose = eng.client("firehose")
    firehose.create_delivery_stream(DeliveryStreamName="held", ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::held-bucket",
        "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}})
    firehose.put_record(DeliveryStreamName="held", Record={"Data": b'{"kept": true}\n'})
    _, _, body = _json(app, "AmazonSQS.CreateQueue", {"QueueName": "waiting"})
    url = body["QueueUrl"]

    async def scenario():
        lifespan = asyncio.Queue()
        sent = []
        await lifespan.put({"type": "lifespan.startup"})

        async def send(message):
            sent.append(message["type"])
        running = asyncio.ensure_future(app({"type": "lifespan"}, lifespan.get, send))
        poll = asyncio.ensure_future(asgi_request(app, "POST", "/", {
            "x-amz-target": "AmazonSQS.ReceiveMessage", "content-type": "application/x-amz-json-1.0"},
            json.dumps({"QueueUrl": url, "WaitTimeSeconds": 20}).encode()))
        await asyncio.sleep(0.5)
        assert not poll.done() and not list((tmp_path / "s3").rglob("*.*"))
        started = asyncio.get_running_loop().time()
        await lifespan.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(running, 10)
        poll_status, _, poll_body = await asyncio.wait_for(poll, 10)
        return sent, poll_status, json.loads(poll_body), asyncio.get_running_loop().time() - started
    sent, poll_status, answer, after_s = asyncio.run(scenario())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert poll_status == 200 and "Messages" not in answer and after_s < 5
    delivered = [p for p in (tmp_path / "s3" / "held-bucket").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in delivered] == [b'{"kept": true}\n']

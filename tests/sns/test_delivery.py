"""Delivery per protocol: HTTP/S against a local server (headers, bodies, retries per DeliveryPolicy
on the engine clock, dead-letter queue, slow endpoints), Lambda handlers, Firehose streams, and the
outbox protocols (email, email-json, sms, application)."""
import json
import os
import threading
import time

import pytest

from engine.sns.delivery import MANAGED_POLICY, Lane, RetryPolicy

from .conftest import bodies

FN = "arn:aws:lambda:us-east-1:000000000000:function:"


@pytest.fixture
def topic(sns):
    return sns.create_topic(Name="t", Attributes={"DisplayName": "Team"})["TopicArn"]


def confirmed_http(sns, backend, endpoint, topic, path="/", **attributes):
    arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url + path, ReturnSubscriptionArn=True,
                        **({"Attributes": attributes} if attributes else {}))["SubscriptionArn"]
    assert backend.drain()
    confirmation = [r for r in endpoint.wait_for(1) if r["path"] == path][0]
    sns.confirm_subscription(TopicArn=topic, Token=json.loads(confirmation["body"])["Token"])
    return arn


# --- HTTP/S --------------------------------------------------------------------------------------------
def test_http_notification_headers_and_body(sns, backend, endpoint, topic):
    sub = confirmed_http(sns, backend, endpoint, topic, "/in?x=1")
    mid = sns.publish(TopicArn=topic, Message="hi", Subject="S",
                      MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})["MessageId"]
    assert backend.drain()
    [req] = endpoint.of_type("Notification")
    assert req["path"] == "/in?x=1"
    h = req["headers"]
    assert h["x-amz-sns-message-id"] == mid and h["x-amz-sns-topic-arn"] == topic
    assert h["x-amz-sns-subscription-arn"] == sub
    assert h["content-type"] == "text/plain; charset=UTF-8"
    assert h["user-agent"] == "Amazon Simple Notification Service Agent"
    assert "x-amz-sns-rawdelivery" not in h
    body = json.loads(req["body"])
    assert body["Type"] == "Notification" and body["MessageId"] == mid and body["Message"] == "hi"
    assert body["Subject"] == "S" and body["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    assert body["UnsubscribeURL"].endswith(sub) and "Signature" in body


def test_http_raw_delivery_and_content_type_from_delivery_policy(sns, backend, endpoint, topic):
    policy = {"requestPolicy": {"headerContentType": "application/json"}}
    confirmed_http(sns, backend, endpoint, topic, RawMessageDelivery="true", DeliveryPolicy=json.dumps(policy))
    sns.publish(TopicArn=topic, Message='{"raw": true}')
    assert backend.drain()
    [req] = endpoint.of_type("Notification")
    assert req["body"] == '{"raw": true}'
    assert req["headers"]["x-amz-sns-rawdelivery"] == "true"
    assert req["headers"]["content-type"] == "application/json"


def test_pending_http_subscription_receives_nothing(sns, backend, endpoint, topic):
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
    sns.publish(TopicArn=topic, Message="early")
    assert backend.drain()
    assert endpoint.of_type("Notification") == [] and len(endpoint.of_type("SubscriptionConfirmation")) == 1


def test_http_default_retries_then_dead_letter_queue(sns, backend, endpoint, topic, clock, make_queue, receive):
    dlq_url, dlq = make_queue("dlq")
    sub = confirmed_http(sns, backend, endpoint, topic, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq}))
    endpoint.statuses.extend([500] * 10)
    sns.publish(TopicArn=topic, Message="doomed")
    assert backend.drain()
    assert len(endpoint.of_type("Notification")) == 1
    assert backend.dispatcher.scheduled_retries == 1
    for expected in (2, 3, 4):  # default policy: 3 retries, 20 s apart
        clock.advance(19.9)
        assert backend.drain()
        assert len(endpoint.of_type("Notification")) == expected - 1
        clock.advance(0.1)
        assert backend.drain()
        assert len(endpoint.of_type("Notification")) == expected
    clock.advance(3600)
    assert backend.drain()
    attempts = endpoint.of_type("Notification")
    assert len(attempts) == 4
    assert len({r["headers"]["x-amz-sns-message-id"] for r in attempts}) == 1  # same MessageId on every retry
    [dead] = receive(dlq_url, attributes=True)
    doc = json.loads(dead["Body"])
    assert doc["Message"] == "doomed" and doc["UnsubscribeURL"].endswith(sub)
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "HTTP 500"


def test_http_success_after_retry_and_4xx_is_not_retried(sns, backend, endpoint, topic, clock, make_queue, receive):
    dlq_url, dlq = make_queue("dlq")
    confirmed_http(sns, backend, endpoint, topic, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq}))
    endpoint.statuses.extend([503, 200])
    sns.publish(TopicArn=topic, Message="second time lucky")
    assert backend.drain()
    clock.advance(20)
    assert backend.drain()
    assert len(endpoint.of_type("Notification")) == 2
    endpoint.statuses.append(404)  # 2xx-4xx counts as delivered
    sns.publish(TopicArn=topic, Message="gone")
    assert backend.drain()
    clock.advance(3600)
    assert backend.drain()
    assert len(endpoint.of_type("Notification")) == 3
    assert receive(dlq_url) == [] and backend.dispatcher.scheduled_retries == 0


def test_custom_delivery_policy_phases(sns, backend, endpoint, topic, clock):
    policy = {"healthyRetryPolicy": {"numRetries": 5, "numNoDelayRetries": 1, "numMinDelayRetries": 1,
                                     "numMaxDelayRetries": 1, "minDelayTarget": 2, "maxDelayTarget": 10,
                                     "backoffFunction": "linear"}}
    sub = confirmed_http(sns, backend, endpoint, topic, DeliveryPolicy=json.dumps(policy))
    effective = json.loads(sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
                           ["EffectiveDeliveryPolicy"])
    assert effective["healthyRetryPolicy"]["numRetries"] == 5
    endpoint.statuses.extend([500] * 10)
    sns.publish(TopicArn=topic, Message="m")
    assert backend.drain()
    assert len(endpoint.of_type("Notification")) == 2  # first try + one immediate retry
    times = []
    start = clock.now()
    while backend.dispatcher.scheduled_retries:
        clock.advance(0.5)
        backend.drain()
        n = len(endpoint.of_type("Notification"))
        if n > len(times) + 2:
            times.append(round(clock.now() - start, 1))
    # pre-backoff at 2 s, two backoff retries (linear 2 -> 10), post-backoff at 10 s
    assert times == [2.0, 8.0, 18.0, 28.0]
    assert len(endpoint.of_type("Notification")) == 6


def test_topic_delivery_policy_applies_unless_subscription_overrides(sns, backend, endpoint, topic, clock):
    sns.set_topic_attributes(TopicArn=topic, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
        {"http": {"defaultHealthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 5, "maxDelayTarget": 5}}}))
    confirmed_http(sns, backend, endpoint, topic)
    endpoint.statuses.extend([500] * 5)
    sns.publish(TopicArn=topic, Message="m")
    backend.drain()
    clock.advance(5)
    backend.drain()
    clock.advance(100)
    backend.drain()
    assert len(endpoint.of_type("Notification")) == 2


def test_throttle_policy(sns, backend, endpoint, topic, clock):
    confirmed_http(sns, backend, endpoint, topic,
                   DeliveryPolicy=json.dumps({"throttlePolicy": {"maxReceivesPerSecond": 2}}))
    for i in range(5):
        sns.publish(TopicArn=topic, Message=f"m{i}")
    backend.drain()
    assert len(endpoint.of_type("Notification")) == 2
    clock.advance(1)
    backend.drain()
    assert len(endpoint.of_type("Notification")) == 4
    clock.advance(1)
    backend.drain()
    assert sorted(json.loads(r["body"])["Message"] for r in endpoint.of_type("Notification")) == \
        [f"m{i}" for i in range(5)]


def test_unreachable_endpoint_is_retried(sns, backend, topic, clock, endpoint):
    confirmed_http(sns, backend, endpoint, topic)
    endpoint.close()   # from now on nothing listens there
    sns.publish(TopicArn=topic, Message="m")
    assert backend.drain()
    assert backend.dispatcher.scheduled_retries == 1
    for _ in range(3):
        clock.advance(20)
        backend.drain()
    assert backend.dispatcher.scheduled_retries == 0
    failure = [f for f in backend.failures if f["Protocol"] == "http" and f["Body"]][-1]
    assert failure["ErrorCode"] == "ConnectionError"


def test_slow_endpoint_blocks_neither_publisher_nor_other_subscriptions(sns, backend, endpoint, endpoint2, topic,
                                                                        make_queue, receive):
    confirmed_http(sns, backend, endpoint, topic, "/slow")
    confirmed_http(sns, backend, endpoint2, topic, "/fast")
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    endpoint.hold = threading.Event()
    for i in range(5):
        sns.publish(TopicArn=topic, Message=f"m{i}")
    assert len(receive(url)) == 5                      # SQS got everything at once
    assert len(endpoint2.wait_for(6)) == 6             # the fast endpoint got all 5 (+ its confirmation)
    # the slow one still holds its first delivery: a publisher that waited for it would have
    # sat out each hold (5 s), and the slow endpoint would have seen every message by now
    assert len(endpoint.of_type("Notification")) == 1
    endpoint.hold.set()
    assert backend.drain()
    assert [json.loads(r["body"])["Message"] for r in endpoint.of_type("Notification")] == \
        [f"m{i}" for i in range(5)]                    # in order, per subscription


# --- Lambda --------------------------------------------------------------------------------------------------
def test_lambda_receives_the_documented_event(sns, eng, backend, topic):
    calls = []
    arn = eng.register_function("consumer", lambda event, context: calls.append((event, context)))
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)["SubscriptionArn"]
    mid = sns.publish(TopicArn=topic, Message="to lambda",
                      MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})["MessageId"]
    assert backend.drain()
    [(event, context)] = calls
    [record] = event["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == sub
    s = record["Sns"]
    assert s["Type"] == "Notification" and s["MessageId"] == mid and s["TopicArn"] == topic
    assert s["Message"] == "to lambda" and s["Subject"] is None
    assert s["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    assert s["UnsubscribeUrl"].endswith(sub) and s["SigningCertUrl"].endswith(".pem")
    assert s["Timestamp"].endswith("Z") and s["SignatureVersion"] == "1" and s["Signature"]
    assert context.function_name == "consumer" and context.invoked_function_arn == arn
    assert json.dumps(event)  # JSON-serialisable, as a real event is


def test_lambda_missing_function_goes_to_dlq(sns, backend, topic, make_queue, receive):
    dlq_url, dlq = make_queue("dlq")
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=FN + "nobody",
                  Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq})})
    sns.publish(TopicArn=topic, Message="m")
    assert backend.drain()
    [dead] = receive(dlq_url, attributes=True)
    assert json.loads(dead["Body"])["Message"] == "m"
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "ResourceNotFoundException"


def test_lambda_handler_errors_are_retried_like_async_invocations(sns, eng, backend, topic, clock):
    attempts = []

    def flaky(event, context):
        attempts.append(clock.now())
        raise RuntimeError("boom")

    arn = eng.register_function("flaky", flaky)
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)["SubscriptionArn"]
    start = clock.now()
    sns.publish(TopicArn=topic, Message="m")
    backend.drain()
    clock.advance(60)
    backend.drain()
    clock.advance(120)
    backend.drain()
    clock.advance(1000)
    backend.drain()
    assert [a - start for a in attempts] == [0, 60, 180]
    [failure] = [f for f in backend.failures if f["SubscriptionArn"] == sub]
    assert failure["ErrorCode"] == "Lambda.FunctionError" and "boom" in failure["ErrorMessage"]


def test_slow_lambda_does_not_block_others(sns, eng, backend, topic):
    gate = threading.Event()
    fast, slow_done = [], []
    eng.register_function("slow", lambda e, c: (gate.wait(5), slow_done.append(e)))
    eng.register_function("fast", lambda e, c: fast.append(e))
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=FN + "slow")
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=FN + "fast")
    for i in range(3):
        sns.publish(TopicArn=topic, Message=str(i))
    assert slow_done == []          # every publish returned while the slow function still waits
    deadline = time.monotonic() + 5
    while len(fast) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fast) == 3
    gate.set()
    assert backend.drain()


# --- Firehose ---------------------------------------------------------------------------------------------------
def _s3_objects(eng):
    out = {}
    root = eng.s3_root
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            if not any(part.startswith(".") for part in rel.split(os.sep)):
                with open(path, "rb") as fh:
                    out[rel] = fh.read()
    return out


@pytest.fixture
def stream(eng):
    fh = eng.client("firehose")
    fh.create_delivery_stream(DeliveryStreamName="archive", ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/fh", "BucketARN": "arn:aws:s3:::bucket",
        "Prefix": "sns/", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    return "arn:aws:firehose:us-east-1:000000000000:deliverystream/archive"


def test_firehose_receives_envelopes_one_per_line(sns, eng, backend, topic, stream, clock):
    sub = sns.subscribe(TopicArn=topic, Protocol="firehose", Endpoint=stream,
                        Attributes={"SubscriptionRoleArn": "arn:aws:iam::000000000000:role/sns"})["SubscriptionArn"]
    ids = [sns.publish(TopicArn=topic, Message=f"m{i}", Subject="s")["MessageId"] for i in range(3)]
    assert backend.drain()
    clock.advance(60)
    [(key, data)] = _s3_objects(eng).items()
    assert key.startswith(os.path.join("bucket", "sns"))
    lines = data.decode().splitlines()
    docs = [json.loads(line) for line in lines]
    assert [d["MessageId"] for d in docs] == ids and [d["Message"] for d in docs] == ["m0", "m1", "m2"]
    assert list(docs[0]) == ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "UnsubscribeURL"]
    assert docs[0]["UnsubscribeURL"].endswith(sub)
    assert lines[0].startswith('{"Type":"Notification"')  # compact JSON


def test_firehose_raw_and_missing_stream(sns, eng, backend, topic, stream, clock, make_queue, receive):
    sns.subscribe(TopicArn=topic, Protocol="firehose", Endpoint=stream, Attributes={"RawMessageDelivery": "true"})
    dlq_url, dlq = make_queue("dlq")
    sns.subscribe(TopicArn=topic, Protocol="firehose",
                  Endpoint="arn:aws:firehose:us-east-1:000000000000:deliverystream/missing",
                  Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq})})
    sns.publish(TopicArn=topic, Message="raw one")
    assert backend.drain()
    clock.advance(60)
    [data] = _s3_objects(eng).values()
    assert data == b"raw one\n"
    [dead] = receive(dlq_url, attributes=True)
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "ResourceNotFoundException"


# --- outbox protocols ----------------------------------------------------------------------------------------------
def test_email_email_json_sms_application_land_in_the_outbox(sns, eng, backend, topic):
    for proto, ep in [("email", "a@example.com"), ("email-json", "b@example.com")]:
        sns.subscribe(TopicArn=topic, Protocol=proto, Endpoint=ep)
        token = backend.outbox(protocol=proto, kind="SubscriptionConfirmation")[0]["Token"]
        sns.confirm_subscription(TopicArn=topic, Token=token)
    sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+15555550123")
    gcm = sns.create_platform_application(Name="myapp", Platform="GCM",
                                          Attributes={"PlatformCredential": "server-key"})["PlatformApplicationArn"]
    app = sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="device-1")["EndpointArn"]
    sns.subscribe(TopicArn=topic, Protocol="application", Endpoint=app)
    mid = sns.publish(TopicArn=topic, MessageStructure="json", Subject="Hi",
                      Message=json.dumps({"default": "plain", "email": "for email", "GCM": '{"data":{"k":1}}'}))[
        "MessageId"]
    notes = backend.outbox(kind="Notification")
    assert {e["Protocol"] for e in notes} == {"email", "email-json", "sms", "application"}
    assert all(e in eng.outbox and e["MessageId"] == mid and e["TopicArn"] == topic for e in notes)
    by = {e["Protocol"]: e for e in notes}
    assert by["email"]["Body"].startswith("for email\n\n--\nIf you wish to stop receiving notifications")
    assert by["email"]["EmailSubject"] == "Hi"
    doc = json.loads(by["email-json"]["Body"])
    assert doc["Type"] == "Notification" and doc["Message"] == "plain" and doc["Subject"] == "Hi"
    assert by["sms"]["Body"] == "plain" and by["sms"]["Endpoint"] == "+15555550123"
    assert by["application"]["Body"] == '{"data":{"k":1}}' and by["application"]["Endpoint"] == app


def test_email_json_confirmation_is_the_json_document(sns, backend, topic):
    sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint="b@example.com")
    [entry] = backend.outbox(protocol="email-json")
    doc = json.loads(entry["Body"])
    assert doc["Type"] == "SubscriptionConfirmation" and doc["Token"] == entry["Token"]


def test_unsubscribed_endpoint_gets_nothing_more(sns, backend, topic, make_queue, receive):
    url, qarn = make_queue("q")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    sns.publish(TopicArn=topic, Message="1")
    sns.unsubscribe(SubscriptionArn=sub)
    sns.publish(TopicArn=topic, Message="2")
    assert [d["Message"] for d in bodies(receive(url))] == ["1"]


# --- units: retry policies and lanes ------------------------------------------------------------------------------
def test_managed_policy_has_100015_attempts():
    p = MANAGED_POLICY
    assert p.retries == 100_015  # the table's phases: 3 + 2 + 10 + 100,000
    assert [p.delay(i) for i in (1, 2, 3)] == [0, 0, 0]
    assert [p.delay(i) for i in (4, 5)] == [1, 1]
    backoff = [p.delay(i) for i in range(6, 16)]
    assert backoff == sorted(backoff) and backoff[0] > 1 and backoff[-1] == pytest.approx(20)
    assert p.delay(16) == 20 and p.delay(100_015) == 20 and p.delay(100_016) is None


@pytest.mark.parametrize("fn", ["linear", "arithmetic", "geometric", "exponential"])
def test_backoff_functions_rise_from_min_to_max(fn):
    p = RetryPolicy(0, 0, 6, 0, 2, 30, fn)
    delays = [p.delay(i) for i in range(1, 7)]
    assert delays == sorted(delays) and delays[-1] == pytest.approx(30) and delays[0] >= 2
    assert p.delay(7) is None


def test_lane_runs_a_key_serially_and_keys_in_parallel():
    lane = Lane("t", 4)
    seen = []
    gate = threading.Event()
    lane.submit("slow", lambda: gate.wait(5))
    for i in range(3):
        lane.submit("slow", lambda i=i: seen.append(("slow", i)))
        lane.submit("fast", lambda i=i: seen.append(("fast", i)))
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert seen == [("fast", 0), ("fast", 1), ("fast", 2)]
    gate.set()
    assert lane.drain(5)
    assert [s for s in seen if s[0] == "slow"] == [("slow", 0), ("slow", 1), ("slow", 2)]
    assert lane.close(1) == []
    assert lane.submit("x", lambda: None) is False


def test_lane_closed_while_a_key_runs_leaves_its_queue_to_close():
    """close() hands back what a key still has queued while its worker is busy: that worker,
    when its item ends, neither runs those items too nor fails looking for the cleared queue."""
    lane, gate, ran, errors = Lane("t", 2), threading.Event(), [], []
    started = threading.Event()
    hook, threading.excepthook = threading.excepthook, lambda args: errors.append(args.exc_value)
    try:
        lane.submit("k", lambda: (started.set(), gate.wait(5)))
        lane.submit("k", lambda: ran.append("second"))
        assert started.wait(5)
        left = lane.close(0)            # the first still runs: the second comes back undone
        assert len(left) == 1
        gate.set()
        deadline = time.monotonic() + 5
        while lane._workers and time.monotonic() < deadline:
            time.sleep(0.005)
        assert lane._workers == 0 and ran == [] and errors == []
    finally:
        threading.excepthook = hook


def test_engine_close_stops_retries(clock, tmp_path):
    import engine
    eng = engine.Engine(clock=clock, s3_root=str(tmp_path))
    sns = eng.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="https://127.0.0.1:9/")
    backend = eng.backend("sns")
    eng.close()
    assert backend.dispatcher.scheduled_retries == 0
    clock.advance(100)  # nothing left to fire


def test_engine_close_delivers_sns_fan_out_into_firehose_before_firehose_flushes(sns, eng, topic, stream):
    # Firehose is created (by the fixture) before SNS delivers into it; close must still drain
    # SNS first so Firehose's final flush includes every notification.
    sns.subscribe(TopicArn=topic, Protocol="firehose", Endpoint=stream, Attributes={"RawMessageDelivery": "true"})
    for i in range(50):
        sns.publish(TopicArn=topic, Message=f"m{i}")
    eng.close()
    [(key, data)] = _s3_objects(eng).items()
    assert data.decode().splitlines() == [f"m{i}" for i in range(50)]

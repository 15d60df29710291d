"""Engine close: publishes are refused from then on (no MessageId for a delivery that cannot
happen), while what was accepted before is delivered; control-plane calls cost the same whatever the
number of topics and subscriptions (counted in interpreted lines, not timed)."""
import json
import sys
import threading

import pytest

import engine
from engine import ClientError


def test_publish_after_close_is_refused_by_the_native_api(clock, tmp_path):
    eng = engine.Engine(clock=clock, s3_root=str(tmp_path))
    sns = eng.client("sns")
    arn = sns.create_topic(Name="t")["TopicArn"]
    backend = eng.backend("sns")
    topic = backend.topics[arn]
    app = backend.mobile.create_application("app", "GCM", {"PlatformCredential": "k"})
    endpoint = backend.mobile.create_endpoint(app, "device", None, {})
    eng.close()
    for publish in (lambda: topic.publish_many(["a", "b"]), lambda: topic.publish("a"),
                    lambda: backend.publish_sms("+15555550100", "hi"),
                    lambda: backend.publish_to_endpoint(endpoint, "hi")):
        with pytest.raises(ClientError) as e:
            publish()
        assert e.value.response["Error"]["Code"] == "InternalError"
    assert eng.outbox == []


def test_what_was_accepted_before_close_is_delivered(clock, tmp_path):
    eng = engine.Engine(clock=clock, s3_root=str(tmp_path))
    sns = eng.client("sns")
    arn = sns.create_topic(Name="t")["TopicArn"]
    queue = eng.backend("sqs").create_queue("q")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue.arn)
    seen = []
    eng.register_function("f", lambda event, context: seen.append(event["Records"][0]["Sns"]["Message"]))
    sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f")
    topic = eng.backend("sns").topics[arn]
    ids = [m.id for m in topic.publish_many([f"m{i}" for i in range(200)])]
    assert queue.approximate_number_of_messages == 200 and len(set(ids)) == 200   # SQS: at once
    eng.close()   # the Lambda deliveries may still be queued on their lane: close drains them
    assert sorted(seen) == sorted(f"m{i}" for i in range(200))


def test_publishers_racing_close_are_either_delivered_or_refused(clock, tmp_path):
    eng = engine.Engine(clock=clock, s3_root=str(tmp_path))
    sns = eng.client("sns")
    arn = sns.create_topic(Name="t")["TopicArn"]
    queue = eng.backend("sqs").create_queue("q")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue.arn)
    topic = eng.backend("sns").topics[arn]
    accepted = []
    start = threading.Barrier(5)

    def publisher():
        start.wait()
        while True:
            try:
                accepted.extend(topic.publish_many(["m"] * 20))
            except ClientError:
                return

    threads = [threading.Thread(target=publisher) for _ in range(4)]
    for t in threads:
        t.start()
    start.wait()
    while len(accepted) < 200:
        pass
    eng.backend("sns").close()   # what Engine.close does first, before SQS closes
    for t in threads:
        t.join(10)
    # every accepted message reached the queue: close let the publishes under way finish
    assert queue.approximate_number_of_messages == len(accepted)
    eng.close()


# --- growth ----------------------------------------------------------------------------------------------
def lines_run(fn) -> int:
    """Interpreted lines executed by fn() in engine.sns: a loop over the account's resources shows
    up as a count that grows with them."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if "engine/sns/" not in frame.f_code.co_filename.replace("\\", "/"):
            return None
        if event == "line":
            count += 1
        return tracer

    previous = sys.gettrace()   # coverage's tracer, when measuring: put it back afterwards
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


def costs(n: int) -> dict:
    eng = engine.Engine(clock=engine.ManualClock())
    sns = eng.client("sns")
    backend = eng.backend("sns")
    for i in range(n):
        backend.create_topic(f"t{i}")
    small = backend.create_topic("small").arn
    for i in range(10):
        backend.subscribe(small, "sqs", f"arn:aws:sqs:us-east-1:000000000000:s{i}")
    arn = backend.create_topic("big").arn
    subs = [backend.subscribe(arn, "sqs", f"arn:aws:sqs:us-east-1:000000000000:q{i}",
                              {"FilterPolicy": json.dumps({"k": ["v"]})} if i % 50 == 0 else None)
            for i in range(n)]
    http = [backend.subscribe(arn, "http", f"http://127.0.0.1:9/{i}") for i in range(min(n, 50))]
    middle = sns.list_subscriptions_by_topic(TopicArn=arn)["NextToken"]
    out = {
        "subscribe": lines_run(lambda: backend.subscribe(arn, "sqs", "arn:aws:sqs:us-east-1:000000000000:new")),
        "subscribe again": lines_run(lambda: backend.subscribe(arn, "sqs", "arn:aws:sqs:us-east-1:000000000000:q7")),
        "subscribe http": lines_run(lambda: backend.subscribe(arn, "http", "http://127.0.0.1:9/new")),
        "with filter": lines_run(lambda: backend.subscribe(arn, "sqs", "arn:aws:sqs:us-east-1:000000000000:f",
                                                           {"FilterPolicy": json.dumps({"k": ["v"]})})),
        "unsubscribe": lines_run(lambda: backend.unsubscribe(subs[5].arn)),
        "unsubscribe pending": lines_run(lambda: backend.unsubscribe(http[-1].arn)),
        "topic page": lines_run(lambda: sns.list_subscriptions_by_topic(TopicArn=arn, NextToken=middle)),
        "account page": lines_run(lambda: sns.list_subscriptions(NextToken=middle)),
        "topics page": lines_run(lambda: sns.list_topics()),
        "topic attributes": lines_run(lambda: sns.get_topic_attributes(TopicArn=arn)),
        "create topic": lines_run(lambda: backend.create_topic("another")),
        "delete topic": lines_run(lambda: backend.delete_topic(small)),
    }
    eng.close()
    return out


def test_control_plane_calls_do_not_grow_with_the_account():
    small, large = costs(200), costs(3000)
    # 15 times the topics and subscriptions: a loop over them would add thousands of lines
    assert {op: large[op] - small[op] < 20 for op in small} == {op: True for op in small}, (small, large)


def test_deliveries_waiting_for_a_retry_at_close_are_accounted_for(clock, tmp_path, endpoint):
    eng = engine.Engine(clock=clock, s3_root=str(tmp_path))
    sns = eng.client("sns")
    backend = eng.backend("sns")
    arn = sns.create_topic(Name="t")["TopicArn"]
    dlq = eng.backend("sqs").create_queue("dlq")
    subs = []
    for path, attributes in (("/plain", {}), ("/dlq", {"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq.arn})})):
        subs.append(sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url + path,
                                  ReturnSubscriptionArn=True, Attributes=attributes)["SubscriptionArn"])
    backend.drain()
    for request in endpoint.wait_for(2):
        sns.confirm_subscription(TopicArn=arn, Token=json.loads(request["body"])["Token"])
    endpoint.statuses[:] = [500, 500]          # both notifications fail once: each waits for a retry
    mid = sns.publish(TopicArn=arn, Message="m")["MessageId"]
    backend.drain()
    assert backend.dispatcher.scheduled_retries == 2
    eng.close()
    assert backend.dispatcher.scheduled_retries == 0
    [failure] = [f for f in backend.failures if f["MessageId"] == mid]
    assert failure["SubscriptionArn"] == subs[0] and failure["ErrorCode"] == "EngineClosed"
    assert backend.dispatcher.dead_lettered == 1   # the other one went to its dead-letter queue

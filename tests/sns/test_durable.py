"""SNS on a data dir (issue 13): topics, subscriptions with their confirmation state and tokens,
platform applications and endpoints, and SMS settings survive a restart."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import engine

REPO = os.path.dirname(os.path.dirname(engine.__file__))
DLQ = "arn:aws:sqs:us-east-1:000000000000:dlq"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"
DATA_PROTECTION = json.dumps({
    "Name": "p", "Description": "", "Version": "2021-06-01",
    "Statement": [{"Sid": "deny", "DataDirection": "Inbound", "Principal": ["*"],
                   "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"],
                   "Operation": {"Deny": {}}}]})


def _engine(tmp_path, clock=None, **kw):
    return engine.Engine(data_dir=str(tmp_path / "data"), clock=clock or engine.ManualClock(start=1_700_000_000.0),
                         **kw)


def _state(sns):
    """What a user sees of every topic, subscription, application, endpoint and SMS setting."""
    out = {"topics": {}, "subscriptions": {}}
    for t in sns.list_topics()["Topics"]:
        arn = t["TopicArn"]
        out["topics"][arn] = (sns.get_topic_attributes(TopicArn=arn)["Attributes"],
                              sns.list_tags_for_resource(ResourceArn=arn)["Tags"],
                              sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"])
    for s in sns.list_subscriptions()["Subscriptions"]:
        if s["SubscriptionArn"] != "PendingConfirmation":
            out["subscriptions"][s["SubscriptionArn"]] = sns.get_subscription_attributes(
                SubscriptionArn=s["SubscriptionArn"])["Attributes"]
    out["applications"] = [(a, sns.list_endpoints_by_platform_application(
        PlatformApplicationArn=a["PlatformApplicationArn"])["Endpoints"])
        for a in sns.list_platform_applications()["PlatformApplications"]]
    out["sms"] = sns.get_sms_attributes()["attributes"]
    out["sandbox"] = sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"]
    return out


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_topics_subscriptions_applications_and_sms_settings_survive_a_restart(tmp_path, durability, shape):
    with _engine(tmp_path, durability=durability) as eng:
        sns = eng.client("sns")
        topic = sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders", "DeliveryPolicy": json.dumps(
            {"http": {"defaultHealthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 1, "maxDelayTarget": 9}}})},
            Tags=[{"Key": "team", "Value": "shop"}])["TopicArn"]
        fifo = sns.create_topic(Name="events.fifo", Attributes={"FifoTopic": "true",
                                                               "ContentBasedDeduplication": "true"})["TopicArn"]
        sns.add_permission(TopicArn=topic, Label="partner", AWSAccountId=["111122223333"], ActionName=["Publish"])
        sns.put_data_protection_policy(ResourceArn=topic, DataProtectionPolicy=DATA_PROTECTION)
        sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "tier", "Value": "1"}, {"Key": "tmp", "Value": "x"}])
        sns.untag_resource(ResourceArn=topic, TagKeys=["tmp"])
        filtered = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE, ReturnSubscriptionArn=True,
                                 Attributes={"FilterPolicy": json.dumps({"kind": ["paid"]}),
                                             "RawMessageDelivery": "true",
                                             "RedrivePolicy": json.dumps({"deadLetterTargetArn": DLQ})}
                                 )["SubscriptionArn"]
        sns.set_subscription_attributes(SubscriptionArn=filtered, AttributeName="FilterPolicyScope",
                                        AttributeValue="MessageBody")
        sns.subscribe(TopicArn=fifo, Protocol="sqs", Endpoint=QUEUE + ".fifo")
        gone = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE + "2",
                             ReturnSubscriptionArn=True)["SubscriptionArn"]
        sns.unsubscribe(SubscriptionArn=gone)
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")       # pending
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="boss@example.com")
        (confirm_ops, confirm_boss) = [e["Token"] for e in eng.backend("sns").outbox(kind="SubscriptionConfirmation")]
        sns.confirm_subscription(TopicArn=topic, Token=confirm_boss, AuthenticateOnUnsubscribe="true")
        sns.create_topic(Name="dropped")
        sns.delete_topic(TopicArn=topic.replace("orders", "dropped"))
        app = sns.create_platform_application(Name="android", Platform="GCM",
                                              Attributes={"PlatformCredential": "server-key"})["PlatformApplicationArn"]
        sns.set_platform_application_attributes(PlatformApplicationArn=app,
                                                Attributes={"EventEndpointCreated": topic})
        device = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="device-1",
                                              CustomUserData="user 7")["EndpointArn"]
        sns.set_endpoint_attributes(EndpointArn=device, Attributes={"Enabled": "false"})
        sns.set_sms_attributes(attributes={"DefaultSenderID": "Shop", "MonthlySpendLimit": "5"})
        sns.create_sms_sandbox_phone_number(PhoneNumber="+12065550100", LanguageCode="en-US")
        before = _state(sns)
    assert len(before["topics"]) == 2 and len(before["subscriptions"]) == 3
    with _engine(tmp_path, durability=durability) as eng:
        sns = eng.client("sns")
        after = _state(sns)
        assert after == before
        shape("sns", "GetSubscriptionAttributes", sns.get_subscription_attributes(SubscriptionArn=filtered))
        assert sns.get_data_protection_policy(ResourceArn=topic)["DataProtectionPolicy"] == DATA_PROTECTION
        # a token issued before the restart still confirms; the pending count follows
        arn = sns.confirm_subscription(TopicArn=topic, Token=confirm_ops)["SubscriptionArn"]
        assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "false"
        assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsPending"] == "0"
        # the restored filter policy filters, raw delivery stays raw
        sqs = eng.client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sns.publish(TopicArn=topic, Message=json.dumps({"kind": "free"}))
        sns.publish(TopicArn=topic, Message=json.dumps({"kind": "paid"}))
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in got] == [json.dumps({"kind": "paid"})]
        # new resources after a restart don't collide with restored ones in creation order
        sns.create_topic(Name="later")
        assert [t["TopicArn"].rsplit(":", 1)[1] for t in sns.list_topics()["Topics"]] == \
            ["orders", "events.fifo", "later"]
    with _engine(tmp_path) as eng:
        sns = eng.client("sns")
        assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "false"
        assert len(sns.list_topics()["Topics"]) == 3


def test_an_acknowledged_change_survives_a_process_that_dies_without_closing(tmp_path):
    script = textwrap.dedent(f"""
        import os, engine
        eng = engine.Engine(data_dir={str(tmp_path / 'data')!r})
        sns = eng.client("sns")
        arn = sns.create_topic(Name="t")["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint={QUEUE!r}, Attributes={{"RawMessageDelivery": "true"}})
        sns.set_sms_attributes(attributes={{"DefaultSMSType": "Transactional"}})
        os._exit(0)   # no close, no atexit: what the calls wrote is all there is
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, env={**os.environ, "PYTHONPATH": REPO})
    with _engine(tmp_path) as eng:
        sns = eng.client("sns")
        (sub,) = sns.list_subscriptions()["Subscriptions"]
        attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
        assert attributes["RawMessageDelivery"] == "true"
        assert sns.get_sms_attributes()["attributes"]["DefaultSMSType"] == "Transactional"


def _lambda_retry_child(tmp_path) -> str:
    """A child publishes to a Lambda subscription whose handler fails, so the delivery waits for
    its first retry (60 s of engine time), and dies; returns the message id."""
    script = textwrap.dedent(f"""
        import os, engine
        eng = engine.Engine(data_dir={str(tmp_path / 'data')!r}, clock=engine.ManualClock(start=1_700_000_000.0))
        def failing(event, context):
            raise RuntimeError("not yet")
        fn = eng.register_function("consumer", failing)
        sns = eng.client("sns")
        arn = sns.create_topic(Name="t")["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=fn)
        out = sns.publish(TopicArn=arn, Message="hello", Subject="s", MessageAttributes={{
            "kind": {{"DataType": "String", "StringValue": "paid"}},
            "blob": {{"DataType": "Binary", "BinaryValue": b"\\x00\\xff"}}}})
        assert eng.backend("sns").drain()                      # attempted once, failed: a retry is scheduled
        assert eng.backend("sns").dispatcher.scheduled_retries == 1
        print(out["MessageId"], flush=True)
        os._exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", script], check=True, timeout=120, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": REPO})
    return done.stdout.split()[-1]


def test_deliveries_waiting_for_a_retry_are_made_after_a_crash(tmp_path):
    """The restarted engine makes the delivery (with the same message id and attributes)."""
    message_id = _lambda_retry_child(tmp_path)
    events = []
    with _engine(tmp_path) as eng:
        eng.register_function("consumer", lambda event, context: events.append(event))   # before SNS opens
        assert eng.backend("sns").drain()
        assert len(events) == 1
        record = events[0]["Records"][0]["Sns"]
        assert record["MessageId"] == message_id and record["Message"] == "hello" and record["Subject"] == "s"
        assert record["MessageAttributes"]["kind"] == {"Type": "String", "Value": "paid"}
        assert record["MessageAttributes"]["blob"] == {"Type": "Binary", "Value": "AP8="}
    with _engine(tmp_path) as eng:   # delivered: not again
        eng.register_function("consumer", lambda event, context: events.append(event))
        assert eng.backend("sns").drain()
        assert len(events) == 1


def test_a_clean_close_keeps_undelivered_deliveries_for_the_next_start(tmp_path):
    events = []
    with _engine(tmp_path) as eng:
        def failing(event, context):
            raise RuntimeError("down")
        fn = eng.register_function("consumer", failing)
        sns = eng.client("sns")
        arn = sns.create_topic(Name="t")["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=fn)
        sns.publish(TopicArn=arn, Message="m1")
        backend = eng.backend("sns")
        assert backend.drain()
    assert list(backend.failures) == []   # not given up at close: kept
    with _engine(tmp_path) as eng:
        eng.register_function("consumer", lambda event, context: events.append(event["Records"][0]["Sns"]["Message"]))
        assert eng.backend("sns").drain()
    assert events == ["m1"]


def test_an_http_notification_refused_before_a_crash_is_posted_after_the_restart(tmp_path, endpoint):
    with _engine(tmp_path) as eng:
        sns = eng.client("sns")
        arn = sns.create_topic(Name="t")["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url + "/in")
        (confirmation,) = endpoint.wait_for(1)
        sns.confirm_subscription(TopicArn=arn, Token=json.loads(confirmation["body"])["Token"])
    endpoint.statuses = [500]    # the first notification is refused: a retry waits 20 s of engine time
    script = textwrap.dedent(f"""
        import os, engine
        eng = engine.Engine(data_dir={str(tmp_path / 'data')!r}, clock=engine.ManualClock(start=1_700_000_000.0))
        eng.client("sns").publish(TopicArn={arn!r}, Message="hello", Subject="greeting")
        assert eng.backend("sns").drain()
        assert eng.backend("sns").dispatcher.scheduled_retries == 1
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, env={**os.environ, "PYTHONPATH": REPO})
    with _engine(tmp_path) as eng:
        eng.backend("sns")
        refused, posted = [json.loads(r["body"]) for r in endpoint.wait_for(3)][1:]
        # the same notification (its id, text and timestamp); the placeholder signature is seeded per engine
        assert {k: v for k, v in posted.items() if k != "Signature"} == \
            {k: v for k, v in refused.items() if k != "Signature"}
        assert posted["Message"] == "hello" and posted["Subject"] == "greeting" and posted["TopicArn"] == arn
        assert endpoint.of_type("Notification")[-1]["headers"]["x-amz-sns-message-id"] == posted["MessageId"]


def test_a_deleted_topic_takes_its_subscriptions_with_it(tmp_path):
    with _engine(tmp_path) as eng:
        sns = eng.client("sns")
        arn = sns.create_topic(Name="t")["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=QUEUE)
        sns.delete_topic(TopicArn=arn)
        sns.create_topic(Name="t")      # the same ARN, a new topic
    with _engine(tmp_path) as eng:
        sns = eng.client("sns")
        assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []
        assert sns.list_subscriptions()["Subscriptions"] == []
        assert os.listdir(tmp_path / "data" / "sns" / "000000000000" / "us-east-1" / "subscriptions") == []


def test_the_delivery_journal_is_compacted_as_deliveries_settle(tmp_path, monkeypatch):
    from engine.sns import store
    monkeypatch.setattr(store, "JOURNAL_COMPACT_LINES", 50)
    events = []
    with _engine(tmp_path) as eng:
        fn = eng.register_function("consumer", lambda event, context: events.append(event))
        sns = eng.client("sns")
        arn = sns.create_topic(Name="t")["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=fn)
        for i in range(200):
            sns.publish(TopicArn=arn, Message=str(i))
        assert eng.backend("sns").drain()
        with open(tmp_path / "data" / "sns" / "000000000000" / "us-east-1" / "deliveries.log") as f:
            assert len(f.readlines()) < 100      # 400 lines written, settled ones dropped as it went
    assert len(events) == 200
    with _engine(tmp_path) as eng:
        eng.register_function("consumer", lambda event, context: events.append(event))
        assert eng.backend("sns").drain()
    assert len(events) == 200                    # none of them again


def test_a_restored_delivery_goes_on_counting_its_retries(tmp_path):
    """Lambda retries a failing handler twice (60 s, then 120 s later): one retry was used before
    the crash, so after the restart's attempt fails the last retry comes 120 s later, then it fails
    for good."""
    _lambda_retry_child(tmp_path)
    clock = engine.ManualClock(start=1_700_000_000.0)
    with _engine(tmp_path, clock=clock) as eng:
        def failing(event, context):
            raise RuntimeError("still down")
        eng.register_function("consumer", failing)
        backend = eng.backend("sns")
        assert backend.drain()
        assert backend.dispatcher.scheduled_retries == 1 and list(backend.failures) == []
        clock.advance(120)
        assert backend.drain()
        assert [f["ErrorCode"] for f in backend.failures] == ["Lambda.FunctionError"]


def test_fsync_mode_syncs_the_delivery_journal_only_when_a_publish_wrote_to_it(tmp_path, monkeypatch):
    synced = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    with _engine(tmp_path, durability="fsync") as eng:
        fn = eng.register_function("consumer", lambda event, context: None)
        sns = eng.client("sns")
        journal = eng.backend("sns").store.journal
        quiet = sns.create_topic(Name="quiet")["TopicArn"]
        sns.subscribe(TopicArn=quiet, Protocol="sqs", Endpoint=QUEUE)
        busy = sns.create_topic(Name="busy")["TopicArn"]
        sns.subscribe(TopicArn=busy, Protocol="lambda", Endpoint=fn)
        fd = journal._file.fileno()
        synced.clear()
        for _ in range(5):
            sns.publish(TopicArn=quiet, Message="m")
        assert fd not in synced              # nothing journaled: nothing to sync
        sns.publish(TopicArn=busy, Message="m")
        assert synced.count(fd) == 1         # the Lambda delivery, synced before the publish returned

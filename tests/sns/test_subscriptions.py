"""Subscriptions: endpoint rules per protocol, FIFO rules, attributes, confirmation, listing."""
import json

import pytest

from engine import ClientError

ARN = "arn:aws:sns:us-east-1:000000000000:"


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def message(exc_info):
    return exc_info.value.response["Error"]["Message"]


@pytest.fixture
def topic(sns):
    return sns.create_topic(Name="t")["TopicArn"]


@pytest.fixture
def fifo_topic(sns):
    return sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]


def test_subscribe_sqs_is_confirmed_at_once(sns, topic, make_queue, shape):
    _, qarn = make_queue("q")
    r = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    shape("sns", "Subscribe", r)
    arn = r["SubscriptionArn"]
    assert arn.startswith(topic + ":") and len(arn.split(":")) == 7
    a = sns.get_subscription_attributes(SubscriptionArn=arn)
    shape("sns", "GetSubscriptionAttributes", a)
    a = a["Attributes"]
    assert a["PendingConfirmation"] == "false" and a["ConfirmationWasAuthenticated"] == "true"
    assert a["Protocol"] == "sqs" and a["Endpoint"] == qarn and a["TopicArn"] == topic
    assert a["RawMessageDelivery"] == "false" and a["Owner"] == "000000000000"
    assert a["SubscriptionPrincipal"] == "arn:aws:iam::000000000000:user/engine"   # the caller, as AWS shows it
    assert "FilterPolicy" not in a and "FilterPolicyScope" not in a
    t = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert t["SubscriptionsConfirmed"] == "1" and t["SubscriptionsPending"] == "0"


def test_subscribe_is_idempotent(sns, topic, make_queue):
    _, qarn = make_queue("q")
    a = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    b = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "false"})
    assert b["SubscriptionArn"] == a
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    assert message(e) == "Invalid parameter: Attributes Reason: Subscription already exists with different attributes"
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1


@pytest.mark.parametrize("protocol,endpoint,text", [
    ("smtp", "a@b.c", "Invalid parameter: Amazon SNS does not support this protocol string: smtp"),
    ("sqs", "not-an-arn", "Invalid parameter: SQS endpoint ARN"),
    ("sqs", "arn:aws:lambda:us-east-1:000000000000:function:f", "Invalid parameter: SQS endpoint ARN"),
    ("sqs", "arn:aws:sqs:us-east-1:000000000000:bad name", "Invalid parameter: SQS endpoint ARN"),
    ("http", "https://example.com/", "Invalid parameter: Endpoint must match the specified protocol"),
    ("https", "ftp://example.com/", "Invalid parameter: Endpoint must match the specified protocol"),
    ("email", "not-an-email", "Invalid parameter: Email address"),
    ("sms", "12ab", "Invalid SMS endpoint: 12ab"),
    ("lambda", "arn:aws:sqs:us-east-1:000000000000:q", "Invalid parameter: Lambda endpoint ARN"),
    ("firehose", "arn:aws:s3:::bucket", "Invalid parameter: Firehose endpoint ARN"),
    ("application", "arn:aws:sns:us-east-1:000000000000:app/GCM/x", "Invalid parameter: ApplicationEndpoint ARN"),
    ("sqs", None, "Invalid parameter: Endpoint"),
])
def test_invalid_protocols_and_endpoints(sns, topic, protocol, endpoint, text):
    kwargs = {"TopicArn": topic, "Protocol": protocol}
    if endpoint is not None:
        kwargs["Endpoint"] = endpoint
    with pytest.raises(ClientError) as e:
        sns.subscribe(**kwargs)
    assert code(e) == "InvalidParameter"
    assert message(e) == text


def test_subscribe_unknown_topic(sns, make_queue):
    _, qarn = make_queue("q")
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.subscribe(TopicArn=ARN + "missing", Protocol="sqs", Endpoint=qarn)


def test_fifo_rules(sns, topic, fifo_topic, make_queue):
    _, fifo_q = make_queue("q.fifo")
    _, std_q = make_queue("q")
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fifo_q)
    assert message(e) == ("Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be "
                          "subscribed to standard SNS topics")
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=fifo_topic, Protocol="lambda",
                      Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f")
    assert message(e) == "Invalid parameter: Endpoint Reason: Please use FIFO SQS queue"   # prefixed once
    assert sns.subscribe(TopicArn=fifo_topic, Protocol="sqs", Endpoint=fifo_q)["SubscriptionArn"].startswith(fifo_topic)
    # AWS accepts standard queues on FIFO topics since 2025
    assert sns.subscribe(TopicArn=fifo_topic, Protocol="sqs", Endpoint=std_q)["SubscriptionArn"].startswith(fifo_topic)


def test_subscription_to_missing_queue_is_accepted(sns, topic):
    # AWS does not check that the queue exists (only that the endpoint is a queue ARN)
    r = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:later")
    assert r["SubscriptionArn"].startswith(topic)


def test_http_subscription_pending_until_confirmed(sns, topic, backend, endpoint, shape):
    r = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url + "/hook")
    assert r["SubscriptionArn"] == "pending confirmation"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed[0]["SubscriptionArn"] == "PendingConfirmation"
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsPending"] == "1"
    assert backend.drain()
    request = endpoint.wait_for(1)[0]
    assert request["path"] == "/hook"
    body = json.loads(request["body"])
    assert body["Type"] == "SubscriptionConfirmation"
    assert request["headers"]["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert request["headers"]["x-amz-sns-topic-arn"] == topic
    assert body["SubscribeURL"].startswith("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
    assert body["Token"] in body["SubscribeURL"] and body["TopicArn"] == topic
    for key in ("MessageId", "Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"):
        assert key in body
    c = sns.confirm_subscription(TopicArn=topic, Token=body["Token"])
    shape("sns", "ConfirmSubscription", c)
    a = sns.get_subscription_attributes(SubscriptionArn=c["SubscriptionArn"])["Attributes"]
    assert a["PendingConfirmation"] == "false" and a["Protocol"] == "http"
    assert json.loads(a["EffectiveDeliveryPolicy"])["healthyRetryPolicy"]["numRetries"] == 3
    # confirming again is idempotent
    assert sns.confirm_subscription(TopicArn=topic, Token=body["Token"])["SubscriptionArn"] == c["SubscriptionArn"]


def test_return_subscription_arn_and_subscribe_url_visit(sns, topic, backend, endpoint):
    arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    assert arn.startswith(topic + ":")
    backend.drain()
    body = json.loads(endpoint.wait_for(1)[0]["body"])
    assert backend.visit(body["SubscribeURL"]) == arn
    a = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert a["PendingConfirmation"] == "false" and a["ConfirmationWasAuthenticated"] == "false"


def test_confirm_subscription_errors(sns, topic, clock, backend, endpoint):
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
    backend.drain()
    token = json.loads(endpoint.wait_for(1)[0]["body"])["Token"]
    other = sns.create_topic(Name="other")["TopicArn"]
    for t, tok, expected in [(topic, "nope", "Invalid parameter: Token"), (other, token, "Invalid parameter: Token")]:
        with pytest.raises(ClientError) as e:
            sns.confirm_subscription(TopicArn=t, Token=tok)
        assert message(e) == expected
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.confirm_subscription(TopicArn=ARN + "missing", Token=token)
    clock.advance(3 * 24 * 3600 + 1)  # tokens are valid for three days
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn=topic, Token=token)
    assert message(e) == "Invalid parameter: Token"


def test_email_subscription_confirmation_lands_in_outbox(sns, topic, eng, backend):
    assert sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")["SubscriptionArn"] == \
        "pending confirmation"
    entries = backend.outbox(protocol="email", kind="SubscriptionConfirmation")
    assert len(entries) == 1 and entries[0] in eng.outbox
    entry = entries[0]
    assert entry["Endpoint"] == "ops@example.com" and entry["Token"] in entry["SubscribeURL"]
    arn = sns.confirm_subscription(TopicArn=topic, Token=entry["Token"])["SubscriptionArn"]
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "false"


def test_unsubscribe(sns, topic, make_queue, shape):
    _, qarn = make_queue("q")
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    shape("sns", "Unsubscribe", sns.unsubscribe(SubscriptionArn=arn))
    assert sns.list_subscriptions()["Subscriptions"] == []
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsDeleted"] == "1"
    sns.unsubscribe(SubscriptionArn=arn)  # idempotent
    with pytest.raises(ClientError) as e:
        sns.unsubscribe(SubscriptionArn="garbage")
    assert message(e) == "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1"
    with pytest.raises(ClientError) as e:
        sns.unsubscribe(SubscriptionArn=topic)
    assert message(e) == "Invalid parameter: SubscriptionId"
    with pytest.raises(sns.exceptions.NotFoundException) as e:
        sns.get_subscription_attributes(SubscriptionArn=arn)
    assert message(e) == "Subscription does not exist"


def test_http_unsubscribe_sends_unsubscribe_confirmation_that_can_restore(sns, topic, backend, endpoint):
    arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    backend.drain()
    token = json.loads(endpoint.wait_for(1)[0]["body"])["Token"]
    sns.confirm_subscription(TopicArn=topic, Token=token)
    sns.unsubscribe(SubscriptionArn=arn)
    backend.drain()
    request = endpoint.wait_for(2)[1]
    assert request["headers"]["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
    body = json.loads(request["body"])
    assert body["Type"] == "UnsubscribeConfirmation" and arn in body["Message"]
    restored = sns.confirm_subscription(TopicArn=topic, Token=body["Token"])["SubscriptionArn"]
    assert restored != arn
    assert sns.get_subscription_attributes(SubscriptionArn=restored)["Attributes"]["PendingConfirmation"] == "false"


def test_list_subscriptions_shapes_and_paging(sns, topic, make_queue, shape):
    other = sns.create_topic(Name="other")["TopicArn"]
    for i in range(120):
        _, qarn = make_queue(f"q{i}")
        sns.subscribe(TopicArn=topic if i < 110 else other, Protocol="sqs", Endpoint=qarn)
    first = sns.list_subscriptions()
    shape("sns", "ListSubscriptions", first)
    assert len(first["Subscriptions"]) == 100
    rest = sns.list_subscriptions(NextToken=first["NextToken"])
    assert len(rest["Subscriptions"]) == 20 and "NextToken" not in rest
    by_topic = sns.list_subscriptions_by_topic(TopicArn=topic)
    shape("sns", "ListSubscriptionsByTopic", by_topic)
    pages = list(sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic))
    assert sum(len(p["Subscriptions"]) for p in pages) == 110
    assert all(s["TopicArn"] == topic and s["Protocol"] == "sqs" for p in pages for s in p["Subscriptions"])
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.list_subscriptions_by_topic(TopicArn=ARN + "missing")


def test_subscription_attributes(sns, topic, make_queue, shape):
    _, qarn = make_queue("q")
    _, dlq = make_queue("dlq")
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    policy = json.dumps({"color": ["red"]})
    for name, value in [("RawMessageDelivery", "True"), ("FilterPolicy", policy),
                        ("RedrivePolicy", json.dumps({"deadLetterTargetArn": dlq})),
                        ("SubscriptionRoleArn", "arn:aws:iam::000000000000:role/r")]:
        shape("sns", "SetSubscriptionAttributes", sns.set_subscription_attributes(
            SubscriptionArn=arn, AttributeName=name, AttributeValue=value))
    a = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert a["RawMessageDelivery"] == "true"
    assert a["FilterPolicy"] == policy and a["FilterPolicyScope"] == "MessageAttributes"
    assert json.loads(a["RedrivePolicy"]) == {"deadLetterTargetArn": dlq}
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicyScope",
                                    AttributeValue="MessageBody")
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["FilterPolicyScope"] == "MessageBody"
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue="")
    a = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert "FilterPolicy" not in a and "FilterPolicyScope" not in a


@pytest.mark.parametrize("name,value,text", [
    ("Bogus", "x", "Invalid parameter: AttributeName"),
    ("RawMessageDelivery", "yes", "Invalid parameter: RawMessageDelivery: Invalid value [yes]. Must be true or false."),
    ("FilterPolicyScope", "Body", "Invalid parameter: FilterPolicyScope: Invalid value [Body]. Please use either "
                                  "MessageBody or MessageAttributes"),
    ("FilterPolicy", "{nope", "Invalid parameter: FilterPolicy: failed to parse JSON. Unexpected character ('n' "
                              "(code 110)): was expecting double-quote to start field name\n at [Source: REDACTED "
                              "(`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 2]"),
    # recorded from AWS
    ("RedrivePolicy", "{invalidjson}", "Invalid parameter: RedrivePolicy: failed to parse JSON. Unexpected character "
                                       "('i' (code 105)): was expecting double-quote to start field name\n at [Source: "
                                       "REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, "
                                       "column: 2]"),
    ("RedrivePolicy", json.dumps({"deadLetterTargetArn": "nope"}),
     "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
    ("DeliveryPolicy", json.dumps({"healthyRetryPolicy": {"numRetries": 500}}),
     "Invalid parameter: DeliveryPolicy: healthyRetryPolicy.numRetries must be between 0 and 100"),
])
def test_invalid_subscription_attributes(sns, topic, make_queue, name, value, text):
    _, qarn = make_queue("q")
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=name, AttributeValue=value)
    assert code(e) == "InvalidParameter"
    assert message(e) == text
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn + "x", Attributes={name: value})
    assert message(e) == text.replace("Invalid parameter: ", "Invalid parameter: Attributes Reason: ", 1)


def test_raw_delivery_only_for_some_protocols(sns, topic):
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f",
                      Attributes={"RawMessageDelivery": "true"})
    assert message(e) == ("Invalid parameter: Attributes Reason: Delivery protocol [lambda] does not support raw "
                          "message delivery.")


def test_fifo_subscription_needs_fifo_dlq(sns, fifo_topic, make_queue):
    _, fq = make_queue("q.fifo")
    _, std = make_queue("dlq")
    arn = sns.subscribe(TopicArn=fifo_topic, Protocol="sqs", Endpoint=fq)["SubscriptionArn"]
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RedrivePolicy",
                                        AttributeValue=json.dumps({"deadLetterTargetArn": std}))
    assert message(e) == ("Invalid parameter: RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to "
                          "a FIFO Topic.")


def test_unknown_subscription(sns):
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.set_subscription_attributes(SubscriptionArn=ARN + "t:0000", AttributeName="RawMessageDelivery",
                                        AttributeValue="true")


def test_unsubscribe_url_and_authenticate_on_unsubscribe(sns, topic, backend, endpoint, endpoint2):
    arns = []
    for ep, auth in ((endpoint, None), (endpoint2, "true")):
        arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=ep.url,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        backend.drain()
        token = json.loads(ep.wait_for(1)[0]["body"])["Token"]
        kwargs = {"AuthenticateOnUnsubscribe": auth} if auth else {}
        sns.confirm_subscription(TopicArn=topic, Token=token, **kwargs)
        arns.append(arn)
    free, guarded = [backend.subscriptions[a] for a in arns]
    assert backend.visit(free.unsubscribe_url) == free.arn
    with pytest.raises(sns.exceptions.AuthorizationErrorException):
        backend.visit(guarded.unsubscribe_url)
    sns.unsubscribe(SubscriptionArn=guarded.arn)  # an authenticated call may
    assert sns.list_subscriptions()["Subscriptions"] == []


def test_fifo_topic_delivers_to_a_standard_queue(sns, fifo_topic, make_queue, receive, sqs):
    url, std_q = make_queue("plain")
    dlq_url, dlq = make_queue("plain-dlq")
    arn = sns.subscribe(TopicArn=fifo_topic, Protocol="sqs", Endpoint=std_q)["SubscriptionArn"]
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RedrivePolicy",
                                    AttributeValue=json.dumps({"deadLetterTargetArn": dlq}))  # a standard DLQ
    for _ in range(2):   # the second is a duplicate within the topic's deduplication window
        sns.publish(TopicArn=fifo_topic, Message="Test", MessageGroupId="g", MessageDeduplicationId="d")
    [m] = receive(url, attributes=True)
    body = json.loads(m["Body"])
    # recorded from AWS: the FIFO envelope (a SequenceNumber, no signature); no MessageGroupId on the message
    assert body["Message"] == "Test" and body["SequenceNumber"] and "Signature" not in body
    assert "MessageGroupId" not in m["Attributes"]


def test_subscriptions_are_listed_in_creation_order_in_pages(sns, topic, backend):
    from engine import limits
    arns = [backend.subscribe(topic, "sqs", f"arn:aws:sqs:us-east-1:000000000000:q{i}").arn
            for i in range(limits.SNS_LIST_PAGE * 2 + 5)]
    for arn in arns[10:20]:   # holes in the middle of a page
        sns.unsubscribe(SubscriptionArn=arn)
    expected = arns[:10] + arns[20:]
    for call in (lambda **kw: sns.list_subscriptions(**kw),
                 lambda **kw: sns.list_subscriptions_by_topic(TopicArn=topic, **kw)):
        seen, kwargs = [], {}
        while True:
            page = call(**kwargs)
            assert len(page["Subscriptions"]) <= limits.SNS_LIST_PAGE
            seen += [s["SubscriptionArn"] for s in page["Subscriptions"]]
            if "NextToken" not in page:   # absent on the last page
                break
            kwargs = {"NextToken": page["NextToken"]}
        assert seen == expected
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"] == arns[0]


@pytest.mark.parametrize("token", ["", "x", "!!!", "AAAA", "_w==", "LTE=", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAx", "\ud800",
                                   "YXJuOmF3czpzbnM6dXMtZWFzdC0xOjAwMDAwMDAwMDAwMDp0", "٣"])
def test_forged_next_tokens_are_refused(sns, topic, token):
    for call in (lambda: sns.list_subscriptions(NextToken=token), lambda: sns.list_topics(NextToken=token),
                 lambda: sns.list_subscriptions_by_topic(TopicArn=topic, NextToken=token)):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "InvalidParameter" and message(e) == "Invalid parameter: NextToken"


def test_subscriptions_of_a_deleted_topic_are_gone(sns, topic, backend, make_queue):
    arns = [backend.subscribe(topic, "sqs", f"arn:aws:sqs:us-east-1:000000000000:q{i}").arn for i in range(300)]
    backend_topic = backend.topics[topic]
    other = sns.create_topic(Name="other")["TopicArn"]
    kept = sns.subscribe(TopicArn=other, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:k")
    sns.delete_topic(TopicArn=topic)
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]] == [kept["SubscriptionArn"]]
    for arn in arns[:3]:
        with pytest.raises(sns.exceptions.NotFoundException):
            sns.get_subscription_attributes(SubscriptionArn=arn)
        sns.unsubscribe(SubscriptionArn=arn)   # idempotent
    with pytest.raises(sns.exceptions.NotFoundException):   # a Topic object kept from before
        backend_topic.publish_many(["m"])
    # re-created under the same name, the topic starts empty
    sns.create_topic(Name="t")
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "0"


@pytest.mark.parametrize("endpoint", ["http://example.com:99999/", "http://example.com:-1/", "http://[::1/",
                                      "http://example.com:abc/", "http://exa mple.com/", "http://\ud800/",
                                      "http://example.com/\x00", "http:///path"])
def test_endpoint_urls_that_cannot_be_posted_to_are_refused(sns, topic, endpoint):
    for protocol, url in (("http", endpoint), ("https", endpoint.replace("http", "https", 1))):
        with pytest.raises(ClientError) as e:
            sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=url)
        assert code(e) == "InvalidParameter" and message(e) == "Invalid parameter: Endpoint"
    assert sns.list_subscriptions()["Subscriptions"] == []


@pytest.mark.parametrize("protocol", ["SQS", "", " sqs", "sqs\x00", "\ud800", "x" * 1000])
def test_unknown_protocols_are_refused(sns, topic, protocol):
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint="arn:aws:sqs:us-east-1:000000000000:q")
    assert message(e) == f"Invalid parameter: Amazon SNS does not support this protocol string: {protocol}"


@pytest.mark.parametrize("arn,text", [
    ("randomstring", "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1"),
    ("arn:aws:sns:us-east-1:random", "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 "
                                     "elements, not 5"),
    ("arn:aws:sns:us-east-1:111111111111:random", "Invalid parameter: SubscriptionId"),
])
def test_forged_subscription_arns(sns, topic, arn, text):
    # recorded from AWS (Unsubscribe); the attribute calls answer alike
    with pytest.raises(ClientError) as e:
        sns.unsubscribe(SubscriptionArn=arn)
    assert code(e) == "InvalidParameter" and message(e) == text
    for call in (lambda: sns.get_subscription_attributes(SubscriptionArn=arn),
                 lambda: sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RawMessageDelivery",
                                                         AttributeValue="true")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "InvalidParameter" and message(e) == text


@pytest.mark.parametrize("name", ["Owner", "SubscriptionArn", "Protocol", "PendingConfirmation", "Nope", "",
                                  "SubscriptionPrincipal", "rawmessagedelivery"])
def test_subscription_attribute_names_not_settable(sns, topic, make_queue, name):
    _, qarn = make_queue("q")
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    before = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=name, AttributeValue="true")
    assert message(e) == "Invalid parameter: AttributeName"   # recorded from AWS
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"] == before

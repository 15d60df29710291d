"""Mobile push: platform applications (credentials checked per platform), device endpoints, and
publish(TargetArn=endpoint) / topic fan-out delivering the payload each platform receives to the
outbox; disabled endpoints refuse."""
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from engine import ClientError

NOW = datetime.datetime.fromtimestamp(1_700_000_000, datetime.timezone.utc)   # the ManualClock's start


def error(exc_info):
    return exc_info.value.response["Error"]


def pem_key(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def certificate(key, days=365) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Apple Push Services: com.example.app")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def gcm(sns):
    return sns.create_platform_application(Name="android", Platform="GCM",
                                           Attributes={"PlatformCredential": "server-key"})["PlatformApplicationArn"]


@pytest.fixture
def apns(sns, rsa_key):
    return sns.create_platform_application(
        Name="ios", Platform="APNS",
        Attributes={"PlatformPrincipal": certificate(rsa_key), "PlatformCredential": pem_key(rsa_key)})[
        "PlatformApplicationArn"]


APNS_TOKEN = "a" * 64


# --- platform applications ---------------------------------------------------------------------------
def test_apns_certificate_application_reports_its_expiry(sns, apns, shape):
    assert apns == "arn:aws:sns:us-east-1:000000000000:app/APNS/ios"
    got = sns.get_platform_application_attributes(PlatformApplicationArn=apns)
    shape("sns", "GetPlatformApplicationAttributes", got)
    attrs = got["Attributes"]
    assert attrs["Enabled"] == "true"
    assert attrs["AppleCertificateExpirationDate"] == (NOW + datetime.timedelta(days=365)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert "PlatformCredential" not in attrs and "PlatformPrincipal" not in attrs   # never given back


def test_apns_refuses_a_key_of_another_certificate_and_an_expired_certificate(sns, rsa_key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ClientError) as e:
        sns.create_platform_application(Name="ios", Platform="APNS_SANDBOX", Attributes={
            "PlatformPrincipal": certificate(rsa_key), "PlatformCredential": pem_key(other)})
    assert error(e) == {"Code": "InvalidParameter", "Type": "Sender",
                        "Message": "Invalid parameter: Attributes Reason: Platform credentials are invalid"}
    with pytest.raises(ClientError) as e:
        sns.create_platform_application(Name="ios", Platform="APNS", Attributes={
            "PlatformPrincipal": certificate(rsa_key, days=-0.5), "PlatformCredential": pem_key(rsa_key)})
    assert "Platform credentials are invalid" in error(e)["Message"]
    with pytest.raises(ClientError) as e:
        sns.create_platform_application(Name="ios", Platform="APNS", Attributes={
            "PlatformPrincipal": "not a certificate", "PlatformCredential": pem_key(rsa_key)})
    assert error(e)["Message"] == "Invalid parameter: PlatformPrincipal not valid."
    assert sns.list_platform_applications()["PlatformApplications"] == []


def test_apns_token_credentials(sns):
    p8 = pem_key(ec.generate_private_key(ec.SECP256R1()))
    attrs = {"PlatformPrincipal": "ABC123DEFG", "PlatformCredential": p8, "ApplePlatformTeamID": "TEAM123456",
             "ApplePlatformBundleID": "com.example.app"}
    arn = sns.create_platform_application(Name="ios-token", Platform="APNS", Attributes=attrs)[
        "PlatformApplicationArn"]
    got = sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"]
    assert got["ApplePlatformTeamID"] == "TEAM123456" and got["ApplePlatformBundleID"] == "com.example.app"
    for bad in ({"ApplePlatformTeamID": "short"}, {"PlatformPrincipal": "key id!"},
                {"PlatformCredential": pem_key(ec.generate_private_key(ec.SECP384R1()))}):
        with pytest.raises(ClientError) as e:
            sns.create_platform_application(Name="other", Platform="APNS", Attributes={**attrs, **bad})
        assert error(e)["Code"] == "InvalidParameter"


def test_fcm_service_account_and_key_credentials(sns, rsa_key):
    service_account = json.dumps({"type": "service_account", "project_id": "p", "private_key": pem_key(rsa_key),
                                  "client_email": "sns@p.iam.gserviceaccount.com"})
    token = sns.create_platform_application(Name="fcm", Platform="GCM",
                                            Attributes={"PlatformCredential": service_account})
    attrs = sns.get_platform_application_attributes(PlatformApplicationArn=token["PlatformApplicationArn"])
    assert attrs["Attributes"]["AuthenticationMethod"] == "Token"
    legacy = sns.create_platform_application(Name="gcm", Platform="GCM",   # a principal is ignored, as by AWS
                                             Attributes={"PlatformPrincipal": "NA", "PlatformCredential": "AIza-key"})
    assert sns.get_platform_application_attributes(PlatformApplicationArn=legacy["PlatformApplicationArn"])[
        "Attributes"]["AuthenticationMethod"] == "Key"
    for credential in ('{"type": "service_account"}', "{not json"):
        with pytest.raises(ClientError) as e:
            sns.create_platform_application(Name="fcm2", Platform="GCM", Attributes={"PlatformCredential": credential})
        assert error(e)["Message"].endswith("Platform credentials are invalid")


@pytest.mark.parametrize("platform,attributes,message", [
    ("ADM", {"PlatformCredential": "secret"},
     "Invalid parameter: Attributes Reason: PlatformCredential attribute provided without PlatformPrincipal"),
    ("BAIDU", {"PlatformPrincipal": "api-key"},
     "Invalid parameter: Attributes Reason: PlatformPrincipal attribute provided without PlatformCredential"),
    ("WNS", {"PlatformPrincipal": "not-a-package-sid", "PlatformCredential": "secret"},
     "Invalid parameter: PlatformPrincipal not valid."),
    ("MPNS", {"PlatformPrincipal": "cert", "PlatformCredential": "key"},
     "Invalid parameter: PlatformPrincipal not valid."),
    ("GCM", {"PlatformCredential": "k", "Colour": "blue"},
     "Invalid parameter: Attributes Reason: Invalid attribute name: Colour"),
    ("GCM", {"PlatformCredential": "k", "SuccessFeedbackSampleRate": "101"},
     "Invalid parameter: Attributes Reason: SuccessFeedbackSampleRate must be an integer between 0 and 100"),
    ("SYMBIAN", {"PlatformCredential": "k"}, "Invalid parameter: Platform Reason: SYMBIAN is not supported"),
])
def test_platform_attributes_refused_as_aws_does(sns, platform, attributes, message):
    with pytest.raises(ClientError) as e:
        sns.create_platform_application(Name="app", Platform=platform, Attributes=attributes)
    assert error(e)["Message"] == message


def test_other_platforms_accept_their_credentials(sns):
    for platform, attrs in [("ADM", {"PlatformPrincipal": "amzn1.application-oa2-client.x", "PlatformCredential": "s"}),
                            ("BAIDU", {"PlatformPrincipal": "api", "PlatformCredential": "secret"}),
                            ("WNS", {"PlatformPrincipal": "ms-app://s-1-15-2-1-2-3", "PlatformCredential": "s"})]:
        sns.create_platform_application(Name=f"app-{platform}", Platform=platform, Attributes=attrs)
    listed = sns.list_platform_applications()["PlatformApplications"]
    assert [a["PlatformApplicationArn"].split(":app/")[1] for a in listed] == [
        "ADM/app-ADM", "BAIDU/app-BAIDU", "WNS/app-WNS"]


def test_application_name_rules(sns):
    for name, reason in [("a b", "must contain only characters 'a'-'z', 'A'-'Z', '0'-'9', '_', '-', and '.'"),
                         ("x" * 257, "must be at most 256 characters long")]:
        with pytest.raises(ClientError) as e:
            sns.create_platform_application(Name=name, Platform="GCM", Attributes={"PlatformCredential": "k"})
        assert error(e)["Message"] == f"Invalid parameter: {name} Reason: {reason}"


def test_set_attributes_checks_credentials_again(sns, apns, rsa_key, shape):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ClientError):
        sns.set_platform_application_attributes(PlatformApplicationArn=apns,
                                                Attributes={"PlatformCredential": pem_key(other)})
    r = sns.set_platform_application_attributes(PlatformApplicationArn=apns, Attributes={
        "PlatformPrincipal": certificate(other, days=30), "PlatformCredential": pem_key(other),
        "SuccessFeedbackSampleRate": "50"})
    shape("sns", "SetPlatformApplicationAttributes", r)
    attrs = sns.get_platform_application_attributes(PlatformApplicationArn=apns)["Attributes"]
    assert attrs["SuccessFeedbackSampleRate"] == "50"
    assert attrs["AppleCertificateExpirationDate"].startswith((NOW + datetime.timedelta(days=30)).strftime("%Y-%m-%d"))


def test_unknown_and_malformed_application_arns(sns):
    with pytest.raises(sns.exceptions.NotFoundException) as e:
        sns.get_platform_application_attributes(PlatformApplicationArn="arn:aws:sns:us-east-1:000000000000:app/GCM/x")
    assert error(e)["Message"] == "PlatformApplication does not exist"
    with pytest.raises(ClientError) as e:
        sns.get_platform_application_attributes(PlatformApplicationArn="nope")
    assert error(e)["Message"] == "Invalid parameter: PlatformApplicationArn Reason: An ARN must have at least 6 " \
                                  "elements, not 1"


# --- endpoints -----------------------------------------------------------------------------------------
def test_endpoint_lifecycle(sns, gcm, shape):
    r = sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="reg-1", CustomUserData="user 7")
    shape("sns", "CreatePlatformEndpoint", r)
    arn = r["EndpointArn"]
    assert arn.startswith("arn:aws:sns:us-east-1:000000000000:endpoint/GCM/android/")
    # idempotent for the same token and attributes; refused with other attributes
    assert sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="reg-1",
                                        CustomUserData="user 7")["EndpointArn"] == arn
    with pytest.raises(ClientError) as e:
        sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="reg-1", CustomUserData="user 8")
    assert error(e)["Message"] == (f"Invalid parameter: Token Reason: Endpoint {arn} already exists with the same "
                                   "Token, but different attributes.")
    got = sns.get_endpoint_attributes(EndpointArn=arn)
    shape("sns", "GetEndpointAttributes", got)
    assert got["Attributes"] == {"Enabled": "true", "CustomUserData": "user 7", "Token": "reg-1"}
    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "False", "Token": "reg-2"})
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]["Enabled"] == "false"
    listed = sns.list_endpoints_by_platform_application(PlatformApplicationArn=gcm)
    shape("sns", "ListEndpointsByPlatformApplication", listed)
    assert listed["Endpoints"] == [{"EndpointArn": arn, "Attributes": {"Enabled": "false", "CustomUserData": "user 7",
                                                                       "Token": "reg-2"}}]
    sns.delete_endpoint(EndpointArn=arn)
    sns.delete_endpoint(EndpointArn=arn)   # idempotent
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_endpoint_attributes(EndpointArn=arn)
    assert sns.list_endpoints_by_platform_application(PlatformApplicationArn=gcm)["Endpoints"] == []


def test_endpoint_attribute_rules(sns, gcm, apns):
    with pytest.raises(ClientError) as e:
        sns.create_platform_endpoint(PlatformApplicationArn=apns, Token="not hex")
    assert error(e)["Message"] == ("Invalid parameter: Token Reason: iOS device tokens must be no more than 400 "
                                   "hexadecimal characters")
    with pytest.raises(ClientError) as e:
        sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="t", CustomUserData="é" * 1025)
    assert "CustomUserData: must be at most 2048 bytes long in UTF-8 encoding" in error(e)["Message"]
    arn = sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="t")["EndpointArn"]
    for attrs, text in [({"Enabled": "maybe"}, "Enabled must be true or false"),
                        ({"Colour": "x"}, "Invalid attribute name: Colour")]:
        with pytest.raises(ClientError) as e:
            sns.set_endpoint_attributes(EndpointArn=arn, Attributes=attrs)
        assert text in error(e)["Message"]
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]["Enabled"] == "true"


def test_deleting_an_application_deletes_its_endpoints(sns, gcm):
    arn = sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="t")["EndpointArn"]
    sns.delete_platform_application(PlatformApplicationArn=gcm)
    sns.delete_platform_application(PlatformApplicationArn=gcm)   # idempotent
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_endpoint_attributes(EndpointArn=arn)
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.list_endpoints_by_platform_application(PlatformApplicationArn=gcm)


def test_listing_pages_through_botocore_paginators(sns, gcm):
    for i in range(105):
        sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token=f"t{i}")
    first = sns.list_endpoints_by_platform_application(PlatformApplicationArn=gcm)
    assert len(first["Endpoints"]) == 100 and "NextToken" in first
    pages = sns.get_paginator("list_endpoints_by_platform_application").paginate(PlatformApplicationArn=gcm)
    tokens = [e["Attributes"]["Token"] for page in pages for e in page["Endpoints"]]
    assert tokens == [f"t{i}" for i in range(105)]


# --- publishing --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("platform,expected", [
    ("GCM", {"data": {"default": "hello"}}),
    ("APNS", {"aps": {"alert": "hello"}}),
])
def test_publish_to_endpoint_wraps_a_plain_message_as_the_platform_receives_it(sns, eng, gcm, apns, platform,
                                                                                 expected, shape):
    app, token = (gcm, "reg") if platform == "GCM" else (apns, APNS_TOKEN)
    arn = sns.create_platform_endpoint(PlatformApplicationArn=app, Token=token)["EndpointArn"]
    r = sns.publish(TargetArn=arn, Message="hello")
    shape("sns", "Publish", r)
    [entry] = [e for e in eng.outbox if e["Endpoint"] == arn]
    assert entry["MessageId"] == r["MessageId"] and entry["Platform"] == platform and entry["Token"] == token
    assert entry["TopicArn"] is None and entry["Message"] == "hello"
    assert json.loads(entry["Body"]) == expected


def test_publish_to_endpoint_with_a_platform_payload(sns, eng, gcm, apns):
    ios = sns.create_platform_endpoint(PlatformApplicationArn=apns, Token=APNS_TOKEN)["EndpointArn"]
    android = sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="reg")["EndpointArn"]
    fcm = '{"fcmV1Message":{"message":{"notification":{"title":"Hi","body":"there"}}}}'
    message = json.dumps({"default": "plain", "GCM": fcm, "APNS": '{"aps":{"alert":"for apple","badge":1}}'})
    sns.publish(TargetArn=android, Message=message, MessageStructure="json")
    sns.publish(TargetArn=ios, Message=message, MessageStructure="json")
    by = {e["Platform"]: e for e in eng.outbox}
    assert by["GCM"]["Body"] == fcm
    assert json.loads(by["APNS"]["Body"]) == {"aps": {"alert": "for apple", "badge": 1}}
    with pytest.raises(ClientError) as e:
        sns.publish(TargetArn=ios, Message='{"APNS": "x"}', MessageStructure="json")
    assert error(e)["Message"] == "Invalid parameter: Message Structure - No default entry in JSON message body"


def test_disabled_and_missing_endpoints_refuse(sns, eng, gcm):
    arn = sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="reg",
                                       Attributes={"Enabled": "false"})["EndpointArn"]
    with pytest.raises(sns.exceptions.EndpointDisabledException) as e:
        sns.publish(TargetArn=arn, Message="x")
    assert error(e) == {"Code": "EndpointDisabled", "Message": "Endpoint is disabled", "Type": "Sender"}
    sns.delete_endpoint(EndpointArn=arn)
    with pytest.raises(ClientError) as e:
        sns.publish(TargetArn=arn, Message="x")
    assert error(e)["Message"] == "Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified"
    assert eng.outbox == []


def test_subscribing_a_deleted_endpoint_is_refused(sns, gcm):
    # AWS's answer, recorded by moto's AWS-verified test_publish_to_deleted_platform_endpoint
    topic = sns.create_topic(Name="news")["TopicArn"]
    arn = sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="reg")["EndpointArn"]
    sns.delete_endpoint(EndpointArn=arn)
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="application", Endpoint=arn)
    assert error(e) == {"Code": "InvalidParameter", "Type": "Sender",
                        "Message": f"Invalid parameter: Endpoint Reason: Endpoint does not exist for endpoint arn{arn}"}
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_topic_fan_out_to_endpoints_and_a_disabled_one_fails(sns, eng, backend, gcm, apns):
    topic = sns.create_topic(Name="news")["TopicArn"]
    ios = sns.create_platform_endpoint(PlatformApplicationArn=apns, Token=APNS_TOKEN)["EndpointArn"]
    android = sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="reg")["EndpointArn"]
    subs = {ep: sns.subscribe(TopicArn=topic, Protocol="application", Endpoint=ep)["SubscriptionArn"]
            for ep in (ios, android)}
    sns.set_endpoint_attributes(EndpointArn=android, Attributes={"Enabled": "false"})
    mid = sns.publish(TopicArn=topic, Message="breaking")["MessageId"]
    [entry] = eng.outbox
    assert entry["Endpoint"] == ios and entry["SubscriptionArn"] == subs[ios] and entry["TopicArn"] == topic
    assert json.loads(entry["Body"]) == {"aps": {"alert": "breaking"}} and entry["MessageId"] == mid
    [failure] = backend.failures
    assert failure["SubscriptionArn"] == subs[android] and failure["ErrorCode"] == "EndpointDisabled"


def test_application_events_go_to_the_named_topics(sns, make_queue, receive, gcm):
    topic = sns.create_topic(Name="events")["TopicArn"]
    url, qarn = make_queue("events")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    sns.set_platform_application_attributes(PlatformApplicationArn=gcm, Attributes={
        "EventEndpointCreated": topic, "EventEndpointDeleted": topic, "EventEndpointUpdated": topic,
        "EventDeliveryFailure": topic})
    news = sns.create_topic(Name="news")["TopicArn"]
    arn = sns.create_platform_endpoint(PlatformApplicationArn=gcm, Token="reg")["EndpointArn"]
    sns.subscribe(TopicArn=news, Protocol="application", Endpoint=arn)
    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "false"})
    mid = sns.publish(TopicArn=news, Message="to a disabled endpoint")["MessageId"]
    sns.delete_endpoint(EndpointArn=arn)
    notes = [json.loads(m["Body"]) for m in receive(url)]
    assert [n["Subject"] for n in notes] == [f"{kind} event for app android (GCM)" for kind in (
        "EndpointCreated", "EndpointUpdated", "DeliveryFailure", "EndpointDeleted")]
    events = [json.loads(n["Message"]) for n in notes]
    assert [e["EventType"] for e in events] == ["EndpointCreated", "EndpointUpdated", "DeliveryFailure",
                                                "EndpointDeleted"]
    assert all(e["EndpointArn"] == arn and e["Resource"] == gcm and e["Service"] == "SNS" for e in events)
    failure = events[2]
    assert failure["MessageId"] == mid and failure["FailureType"] == "EndpointDisabled"
    assert failure["DeliveryAttempts"] == 1 and failure["FailureMessage"] == "Endpoint is disabled"


def test_failed_deliveries_of_event_topics_raise_no_event_loop(sns, backend, gcm, apns):
    # each application's failures go to a topic that delivers to the other's disabled endpoint
    to_gcm, to_apns = (sns.create_topic(Name=n)["TopicArn"] for n in ("to-gcm", "to-apns"))
    sns.set_platform_application_attributes(PlatformApplicationArn=gcm, Attributes={"EventDeliveryFailure": to_apns})
    sns.set_platform_application_attributes(PlatformApplicationArn=apns, Attributes={"EventDeliveryFailure": to_gcm})
    for app, token, topic in ((gcm, "reg", to_gcm), (apns, APNS_TOKEN, to_apns)):
        arn = sns.create_platform_endpoint(PlatformApplicationArn=app, Token=token,
                                           Attributes={"Enabled": "false"})["EndpointArn"]
        sns.subscribe(TopicArn=topic, Protocol="application", Endpoint=arn)
    sns.publish(TopicArn=to_gcm, Message="x")
    # the GCM delivery fails, its event goes to to-apns, whose delivery fails with no further event
    assert [f["ErrorCode"] for f in backend.failures] == ["EndpointDisabled", "EndpointDisabled"]


def test_native_api_obeys_the_same_rules(backend):
    mobile = backend.mobile
    app = mobile.create_application("native", "GCM", {"PlatformCredential": "k"})
    with pytest.raises(ClientError) as e:
        mobile.create_endpoint(app, "", None, {})
    assert error(e)["Code"] == "InvalidParameter"
    ep = mobile.create_endpoint(app, "reg", None, {"Enabled": "false"})
    with pytest.raises(ClientError) as e:
        backend.publish_to_endpoint(ep, "x")
    assert error(e)["Code"] == "EndpointDisabled"
    other = mobile.create_endpoint(app, "reg-2", None, {})
    with pytest.raises(ClientError) as e:   # a token belongs to one endpoint of an application
        mobile.set_endpoint_attributes(other, {"Token": "reg"})
    assert error(e)["Message"] == f"Invalid parameter: Attributes Reason: Endpoint {ep.arn} already exists with " \
                                  "the same Token"
    mobile.delete_endpoint(other.arn)
    with pytest.raises(ClientError) as e:   # an endpoint object kept after its deletion
        backend.publish_to_endpoint(other, "x")
    assert error(e)["Code"] == "NotFound"

"""MD5OfMessageBody / MD5OfMessageAttributes / MD5OfMessageSystemAttributes, exactly as AWS.

Oracles, in order of authority:
- digests recorded from real AWS responses (published in LocalStack's AWS-validated snapshot
  tests: e.g. {"Foo": String "Bar"} -> ae7155c6..., the three-attribute map -> 4c360f3f...),
- the vectors of the aws-md5-of-message-attributes package (an SDK-compatible implementation),
- moto's own implementation (independent code), for random maps through hypothesis,
- an independent re-implementation of the AWS SDKs' checksum interceptor, applied to our
  responses as a real SDK would.

Installed botocore (1.43) ships no SQS MD5 validation handler (the Java/JS/Ruby/PHP/Go SDKs do),
so a real boto3 client cannot be pointed at one; test_botocore_has_no_sqs_md5_handler pins
that fact, and the boto3 client tests below push our responses through a real boto3 client
(botocore's Stubber validates them against the service model) and then run the SDK check.
"""
import hashlib
import struct

import boto3
import botocore.handlers
import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


AWS_RECORDED = [
    ({"Foo": {"DataType": "String", "StringValue": "Bar"}}, "ae7155c6026991b6d54b11589678bf9c"),
    ({"General": {"DataType": "String", "StringValue": "Kenobi"},
      "Hello": {"DataType": "String", "StringValue": "There"},
      "Help.Me": {"DataType": "String", "StringValue": "Me"}}, "4c360f3fdafd970e05fae2f149d997f5"),
    ({"General": {"DataType": "String", "StringValue": "Kenobi"},
      "Hello": {"DataType": "String", "StringValue": "There"}}, "fca026605781cb4126a1e9044df24232"),
    ({"Hello": {"DataType": "String", "StringValue": "There"}}, "a311262e065454b75da111d535b8dacd"),
    ({"Hello": {"DataType": "String", "StringValue": "There"},
      "Help.Me": {"DataType": "String", "StringValue": "Me"}}, "83fee93c1bcd8b9a5a923ffacdc636c7"),
    ({"attr1": {"DataType": "Binary",
                "BinaryValue": b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01"}},
     "8cbe4db156db8a94db8b801b7addb984"),
]
SDK_VECTORS = [
    ({"attribName1": {"DataType": "String", "StringValue": "attribValue 1"}}, "19e27d4e946b072f3f58da80d94fd778"),
    ({"customNumberTypeAttrib": {"DataType": "Number.float",
                                 "StringValue": "4563442423554324324264524243.32543234"}},
     "9fe1b90bbd9965bdf77bac517c7d2495"),
    ({"binaryAttribute": {"DataType": "Binary", "BinaryValue": b"Hello binary world!"}},
     "31a92b15d92f8db860eda32aceb656c3"),
    ({"attribName1": {"DataType": "String", "StringValue": "attribValue 1"},
      "customNumberTypeAttrib": {"DataType": "Number.float", "StringValue": "4563442423554324324264524243.32543234"},
      "binaryAttribute": {"DataType": "Binary", "BinaryValue": b"Hello binary world!"}},
     "c932db14a896c663f83c260297d594ff"),
]


def sdk_md5_of_attributes(attrs: dict) -> str:
    """What the AWS SDKs' SQS checksum interceptor computes (written from the developer guide,
    independently of engine.sqs.md5)."""
    buf = bytearray()
    for name in sorted(attrs):
        value = attrs[name]
        for part in (name.encode(), value["DataType"].encode()):
            buf += struct.pack(">I", len(part)) + part
        if "StringValue" in value:
            raw = value["StringValue"].encode()
            buf += b"\x01" + struct.pack(">I", len(raw)) + raw
        else:
            raw = bytes(value["BinaryValue"])
            buf += b"\x02" + struct.pack(">I", len(raw)) + raw
    return hashlib.md5(bytes(buf)).hexdigest()


def sdk_verify_send(request: dict, response: dict) -> None:
    """The SDK check after SendMessage(/Batch entry): raises AssertionError on a mismatch."""
    assert response["MD5OfMessageBody"] == hashlib.md5(request["MessageBody"].encode()).hexdigest()
    if request.get("MessageAttributes"):
        assert response["MD5OfMessageAttributes"] == sdk_md5_of_attributes(request["MessageAttributes"])
    else:
        assert "MD5OfMessageAttributes" not in response
    if request.get("MessageSystemAttributes"):
        assert response["MD5OfMessageSystemAttributes"] == sdk_md5_of_attributes(request["MessageSystemAttributes"])


def sdk_verify_receive(response: dict) -> None:
    for message in response.get("Messages", []):
        assert message["MD5OfBody"] == hashlib.md5(message["Body"].encode()).hexdigest()
        if message.get("MessageAttributes"):
            assert message["MD5OfMessageAttributes"] == sdk_md5_of_attributes(message["MessageAttributes"])


def sent_attributes_md5(sqs, url, attrs) -> str:
    return sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)["MD5OfMessageAttributes"]


@pytest.mark.parametrize("attrs,expected", AWS_RECORDED + SDK_VECTORS)
def test_attribute_digest_matches_aws_and_sdk_vectors(sqs, queue_url, attrs, expected):
    assert sent_attributes_md5(sqs, queue_url, attrs) == expected
    assert sdk_md5_of_attributes(attrs) == expected


def test_body_digest(sqs, queue_url):
    def md5_of(body):
        return sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MD5OfMessageBody"]
    assert md5_of("msg") == "6e2baaf3b97dbeef01c0043275f9a0e7"          # recorded from AWS
    assert md5_of("message-body-1") == "19c9e282d65f9733bc6b35d50062c7ee"
    assert md5_of("héllo ✓ 𝄞") == hashlib.md5("héllo ✓ 𝄞".encode()).hexdigest()


def test_botocore_has_no_sqs_md5_handler():
    # If botocore ever validates SQS digests, hook it into test_boto3_client_* below.
    sqs_handlers = [h for event, h, *_ in botocore.handlers.BUILTIN_HANDLERS if ".sqs" in event]
    assert sqs_handlers  # botocore does register SQS handlers (error-code compatibility) ...
    assert not any("md5" in getattr(h, "__name__", str(h)).lower() for h in sqs_handlers)  # ... but no MD5 check


attr_names = st.from_regex(r"[A-Za-z0-9_\-]{1,20}", fullmatch=True)
attr_values = st.one_of(
    st.builds(lambda t, v: {"DataType": t, "StringValue": v}, st.sampled_from(["String", "String.x"]),
              st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xD7FF), min_size=1, max_size=30)),
    st.builds(lambda t, v: {"DataType": t, "StringValue": str(v)}, st.sampled_from(["Number", "Number.int"]),
              st.integers(-10**30, 10**30)),
    st.builds(lambda v: {"DataType": "Binary", "BinaryValue": v}, st.binary(min_size=1, max_size=30)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(attrs=st.dictionaries(attr_names, attr_values, min_size=1, max_size=10))
def test_attribute_digest_against_independent_implementations(sqs, queue_url, attrs):
    from moto.sqs.models import Message as MotoMessage
    ours = sent_attributes_md5(sqs, queue_url, attrs)
    assert ours == sdk_md5_of_attributes(attrs)
    moto_message = MotoMessage("id", "body")
    moto_message.message_attributes = attrs
    assert ours == moto_message.attribute_md5


def test_send_and_receive_digests_pass_the_sdk_check(sqs, queue_url, shape):
    attrs = {"Str": {"DataType": "String", "StringValue": "värde ✓"},
             "Num": {"DataType": "Number.int", "StringValue": "-12.5e3"},
             "Bin": {"DataType": "Binary", "BinaryValue": b"\x00\xff\x10"}}
    system = {"AWSTraceHeader": {"DataType": "String",
                                 "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"}}
    request = {"MessageBody": "body with ünïcode 𝄞", "MessageAttributes": attrs, "MessageSystemAttributes": system}
    sent = sqs.send_message(QueueUrl=queue_url, **request)
    shape("sqs", "SendMessage", sent)
    sdk_verify_send(request, sent)
    got = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])
    shape("sqs", "ReceiveMessage", got)
    sdk_verify_receive(got)
    assert got["Messages"][0]["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]


def test_filtered_attributes_get_the_digest_of_what_is_returned(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="msg", MessageAttributes=AWS_RECORDED[1][0])
    got = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["General", "Hello"], VisibilityTimeout=0)
    assert got["Messages"][0]["MD5OfMessageAttributes"] == "fca026605781cb4126a1e9044df24232"
    got = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["Hel.*"], VisibilityTimeout=0)
    assert got["Messages"][0]["MD5OfMessageAttributes"] == "83fee93c1bcd8b9a5a923ffacdc636c7"
    sdk_verify_receive(got)


def _boto3_client():
    return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _strip(response):
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def test_boto3_client_accepts_our_responses(sqs, queue_url):
    """Our responses, fed through a real boto3 client: botocore's Stubber validates them
    against the service model, the client parses them, and the SDK digest check passes."""
    request = {"MessageBody": "x" * 100, "MessageAttributes": SDK_VECTORS[3][0]}
    sent = sqs.send_message(QueueUrl=queue_url, **request)
    batch = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
        {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two", "MessageAttributes": SDK_VECTORS[0][0]}])
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                              MessageSystemAttributeNames=["All"])
    real = _boto3_client()
    with Stubber(real) as stub:
        stub.add_response("send_message", _strip(sent), {"QueueUrl": queue_url, **request})
        assert "Failed" not in batch  # AWS omits the empty list; the Stubber checks the model's required members
        stub.add_response("send_message_batch", {"Failed": [], **_strip(batch)})
        stub.add_response("receive_message", _strip(got))
        via_boto3 = real.send_message(QueueUrl=queue_url, **request)
        sdk_verify_send(request, via_boto3)
        via_boto3 = real.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two"}])
        assert {e["Id"] for e in via_boto3["Successful"]} == {"a", "b"}
        via_boto3 = real.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        assert len(via_boto3["Messages"]) == 3
        sdk_verify_receive(via_boto3)


def test_a_wrong_digest_is_caught_by_the_sdk_check(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="abc", MessageAttributes=SDK_VECTORS[0][0])
    got = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])
    got["Messages"][0]["MessageAttributes"]["attribName1"]["StringValue"] = "tampered"
    with pytest.raises(AssertionError):
        sdk_verify_receive(got)

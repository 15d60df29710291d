"""Kinesis CBOR (engine/server/cbor.py): bodies as the Java SDK writes and reads them, round
trips through the in-process Kinesis client, answers checked against botocore's output shapes."""
from __future__ import annotations

import datetime

import cbor2
import pytest

from engine.server import cbor

UTC = datetime.timezone.utc


def _java_style(*items: bytes) -> bytes:
    """An indefinite-length map, as Jackson's CBORGenerator writes writeStartObject()."""
    return b"\xbf" + b"".join(items) + b"\xff"


def _text(s: str) -> bytes:
    return cbor2.dumps(s)


def test_content_type_is_recognised_with_parameters():
    assert cbor.is_cbor("application/x-amz-cbor-1.1")
    assert cbor.is_cbor("Application/X-Amz-Cbor-1.1; charset=utf-8")
    assert not cbor.is_cbor("application/x-amz-json-1.1") and not cbor.is_cbor(None)


def test_java_request_timestamps_are_tag_1_epoch_milliseconds():
    # StartingPosition.Timestamp as SdkCborGenerator writes it: 0xC1 then the integer of milliseconds
    millis = 1_700_000_000_123
    body = _java_style(_text("ShardIteratorType"), _text("AT_TIMESTAMP"),
                       _text("Timestamp"), b"\xc1" + cbor2.dumps(millis))
    params = cbor.decode_request(body)
    assert params == {"ShardIteratorType": "AT_TIMESTAMP",
                      "Timestamp": datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)}


def test_blobs_are_byte_strings_both_ways():
    body = _java_style(_text("Data"), cbor2.dumps(b"\x00\xffraw"), _text("PartitionKey"), _text("k"))
    assert cbor.decode_request(body) == {"Data": b"\x00\xffraw", "PartitionKey": "k"}
    encoded = cbor.encode_response({"Records": [{"Data": b"\x00\xff"}]})
    assert b"\x42\x00\xff" in encoded   # major type 2 (byte string) of length 2, not base64 text


def test_response_timestamps_encode_as_tag_1_integer_milliseconds():
    when = datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    encoded = cbor.encode_response({"StreamCreationTimestamp": when, "ResponseMetadata": {"RequestId": "x"}})
    assert b"\xc1\x1b" + (1_700_000_000_123).to_bytes(8, "big") in encoded
    decoded = cbor2.loads(encoded, semantic_decoders={1: lambda value, _immutable: value})
    assert decoded == {"StreamCreationTimestamp": 1_700_000_000_123}


def test_naive_and_pre_1970_timestamps_encode_as_utc_milliseconds():
    def millis(value):
        return cbor2.loads(cbor.encode_response({"t": value}), semantic_decoders={1: lambda v, _i: v})["t"]

    assert millis(datetime.datetime(2023, 11, 14, 22, 13, 20, 123000)) == 1_700_000_000_123
    assert millis(datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)) == -1000
    assert cbor.decode_request(cbor.encode_response({"t": datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)})) \
        == {"t": datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)}


@pytest.mark.parametrize("body", [b"\xbf\x61", b"\x83\x01\x02\x03", b"\xff"])
def test_malformed_or_non_map_bodies_are_refused(body):
    with pytest.raises(ValueError):
        cbor.decode_request(body)


def test_empty_body_is_no_parameters():
    assert cbor.decode_request(b"") == {}


def test_error_body_carries_type_and_message():
    assert cbor2.loads(cbor.encode_error("ResourceNotFoundException", "gone")) == {
        "__type": "ResourceNotFoundException", "message": "gone"}


def test_round_trip_through_the_kinesis_client(eng, shape):
    """What a CBOR request turns into through the client, and back: the answers a Java client reads."""
    kinesis = eng.client("kinesis")

    def call(operation: str, method: str, body: bytes) -> dict:
        result = getattr(kinesis, method)(**cbor.decode_request(body))
        shape("kinesis", operation, result)
        return cbor2.loads(cbor.encode_response(result), semantic_decoders={1: lambda value, _immutable: value})

    call("CreateStream", "create_stream", cbor2.dumps({"StreamName": "s", "ShardCount": 1}))
    put = call("PutRecords", "put_records", cbor2.dumps(
        {"StreamName": "s", "Records": [{"Data": b"\x01\x02", "PartitionKey": "a"}, {"Data": b"", "PartitionKey": "b"}]}))
    assert put["FailedRecordCount"] == 0 and len(put["Records"]) == 2
    # AT_TIMESTAMP one millisecond before the engine clock: both records
    at = int(eng.clock.now() * 1000) - 1
    iterator = call("GetShardIterator", "get_shard_iterator", _java_style(
        _text("StreamName"), _text("s"), _text("ShardId"), _text("shardId-000000000000"),
        _text("ShardIteratorType"), _text("AT_TIMESTAMP"), _text("Timestamp"), b"\xc1" + cbor2.dumps(at)))
    got = call("GetRecords", "get_records", cbor2.dumps({"ShardIterator": iterator["ShardIterator"]}))
    assert [r["Data"] for r in got["Records"]] == [b"\x01\x02", b""]
    assert got["Records"][0]["ApproximateArrivalTimestamp"] == int(eng.clock.now() * 1000)
    summary = call("DescribeStreamSummary", "describe_stream_summary", cbor2.dumps({"StreamName": "s"}))
    assert summary["StreamDescriptionSummary"]["StreamCreationTimestamp"] == int(eng.clock.now() * 1000)


# --- over the wire: engine serve answers CBOR in CBOR ----------------------------------------------
@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    from tests.server.wire_server import serve

    # signatures checked: the CBOR bodies are what is signed (botocore's signer, and curl's)
    with serve("--require-auth", "--s3-root", str(tmp_path_factory.mktemp("cbor") / "s3"),
               env={"ENGINE_ACCESS_KEYS": "test test"}) as url:
        yield url


def _post_cbor(endpoint: str, operation: str, body: dict | bytes):
    """A CBOR request as the Java SDK sends it, signed by botocore: (status, headers, body)."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = body if isinstance(body, bytes) else cbor2.dumps(body)
    request = AWSRequest(method="POST", url=endpoint + "/", data=data, headers={
        "Content-Type": cbor.CONTENT_TYPE, "X-Amz-Target": f"Kinesis_20131202.{operation}"})
    SigV4Auth(Credentials("test", "test"), "kinesis", "us-east-1").add_auth(request)
    prepared = request.prepare()
    wire = urllib.request.Request(prepared.url, data=data, method="POST", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(wire, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def _millis_as_tag(value, _immutable):
    return ("ms", value)


def test_wire_cbor_requests_get_cbor_answers(endpoint):
    status, headers, _ = _post_cbor(endpoint, "CreateStream", {"StreamName": "c", "ShardCount": 1})
    assert status == 200 and headers["Content-Type"] == cbor.CONTENT_TYPE
    status, _, body = _post_cbor(endpoint, "PutRecords", {
        "StreamName": "c", "Records": [{"Data": b"\x00\x01", "PartitionKey": "a"}]})
    assert status == 200 and cbor2.loads(body)["FailedRecordCount"] == 0
    _, _, body = _post_cbor(endpoint, "GetShardIterator", {
        "StreamName": "c", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"})
    iterator = cbor2.loads(body)["ShardIterator"]
    _, headers, body = _post_cbor(endpoint, "GetRecords", {"ShardIterator": iterator})
    records = cbor2.loads(body, semantic_decoders={1: _millis_as_tag})["Records"]
    assert records[0]["Data"] == b"\x00\x01"
    kind, millis = records[0]["ApproximateArrivalTimestamp"]
    assert kind == "ms" and isinstance(millis, int) and millis > 1_600_000_000_000


def test_wire_cbor_errors_are_cbor(endpoint):
    status, headers, body = _post_cbor(endpoint, "DescribeStreamSummary", {"StreamName": "absent"})
    assert status == 400 and headers["Content-Type"] == cbor.CONTENT_TYPE
    error = cbor2.loads(body)
    assert error["__type"] == "ResourceNotFoundException" and "absent" in error["message"]
    status, _, body = _post_cbor(endpoint, "ListStreams", b"\xbf\x61")   # truncated map
    assert status == 400 and cbor2.loads(body)["__type"] == "SerializationException"


def test_wire_subscribe_to_shard_in_cbor(endpoint):
    from botocore.eventstream import EventStreamBuffer

    _post_cbor(endpoint, "CreateStream", {"StreamName": "sub", "ShardCount": 1})
    _post_cbor(endpoint, "PutRecord", {"StreamName": "sub", "Data": b"pushed", "PartitionKey": "k"})
    _, _, body = _post_cbor(endpoint, "DescribeStreamSummary", {"StreamName": "sub"})
    arn = cbor2.loads(body, semantic_decoders={1: _millis_as_tag})["StreamDescriptionSummary"]["StreamARN"]
    _, _, body = _post_cbor(endpoint, "RegisterStreamConsumer", {"StreamARN": arn, "ConsumerName": "java"})
    consumer = cbor2.loads(body, semantic_decoders={1: _millis_as_tag})["Consumer"]["ConsumerARN"]
    _post_cbor(endpoint, "SplitShard", {"StreamName": "sub", "ShardToSplit": "shardId-000000000000",
                                        "NewStartingHashKey": str(2 ** 127)})   # the stream ends at the shard's end
    status, headers, body = _post_cbor(endpoint, "SubscribeToShard", {
        "ConsumerARN": consumer, "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "TRIM_HORIZON"}})
    assert status == 200 and headers["Content-Type"] == "application/vnd.amazon.eventstream"
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    messages = list(buffer)
    assert [m.headers[":event-type"] for m in messages][0] == "initial-response"
    events = [cbor2.loads(m.payload, semantic_decoders={1: _millis_as_tag}) for m in messages[1:]]
    assert all(m.headers[":content-type"] == cbor.CONTENT_TYPE for m in messages)
    assert [r["Data"] for e in events for r in e["Records"]] == [b"pushed"]
    assert "ChildShards" in events[-1]


def test_wire_cbor_subscribe_over_http2_signed_by_curl(endpoint, tmp_path):
    """What the KCL does: CBOR SubscribeToShard over cleartext HTTP/2, here sent by curl (nghttp2)
    and signed by curl's own SigV4 (an independent signer)."""
    import subprocess

    from botocore.eventstream import EventStreamBuffer

    from tests.tools import require_tool

    curl = require_tool("curl", "curl sends the HTTP/2 request")
    _post_cbor(endpoint, "CreateStream", {"StreamName": "h2", "ShardCount": 1})
    _post_cbor(endpoint, "PutRecord", {"StreamName": "h2", "Data": b"over h2", "PartitionKey": "k"})
    _, _, body = _post_cbor(endpoint, "DescribeStreamSummary", {"StreamName": "h2"})
    arn = cbor2.loads(body, semantic_decoders={1: _millis_as_tag})["StreamDescriptionSummary"]["StreamARN"]
    _, _, body = _post_cbor(endpoint, "RegisterStreamConsumer", {"StreamARN": arn, "ConsumerName": "kcl"})
    consumer = cbor2.loads(body, semantic_decoders={1: _millis_as_tag})["Consumer"]["ConsumerARN"]
    _post_cbor(endpoint, "SplitShard", {"StreamName": "h2", "ShardToSplit": "shardId-000000000000",
                                        "NewStartingHashKey": str(2 ** 127)})
    request = tmp_path / "request.cbor"
    request.write_bytes(cbor2.dumps({"ConsumerARN": consumer, "ShardId": "shardId-000000000000",
                                     "StartingPosition": {"Type": "TRIM_HORIZON"}}))
    def subscribe(secret: str) -> subprocess.CompletedProcess:
        return subprocess.run([curl, "-sS", "--http2-prior-knowledge", "--aws-sigv4", "aws:amz:us-east-1:kinesis",
                               "--user", f"test:{secret}", "-H", f"Content-Type: {cbor.CONTENT_TYPE}",
                               "-H", "X-Amz-Target: Kinesis_20131202.SubscribeToShard", "--data-binary", f"@{request}",
                               "-w", "%{http_version} %{http_code}", "-o", str(tmp_path / "events"), endpoint + "/"],
                              capture_output=True, text=True, timeout=60)

    refused = subscribe("wrong")
    assert refused.stdout == "2 400"
    assert cbor2.loads((tmp_path / "events").read_bytes())["__type"] == "InvalidSignatureException"
    done = subscribe("test")
    assert done.stdout == "2 200", done.stderr
    buffer = EventStreamBuffer()
    buffer.add_data((tmp_path / "events").read_bytes())
    messages = list(buffer)
    assert messages[0].headers[":event-type"] == "initial-response"
    records = [r for m in messages[1:] for r in cbor2.loads(m.payload, semantic_decoders={1: _millis_as_tag})["Records"]]
    assert [r["Data"] for r in records] == [b"over h2"]


JACKSON_JARS = ("/usr/share/java/jackson-core.jar", "/usr/share/java/jackson-dataformat-cbor.jar")


def test_java_jackson_cbor_client(tmp_path_factory):
    """java_cbor/CborClient.java writes and reads CBOR with Jackson's CBOR module, as the AWS SDK
    for Java does (tag 1 over epoch milliseconds, binary blobs), over HTTP/1.1, and reads a CBOR
    SubscribeToShard stream checking its frames with Java's own CRC32."""
    import subprocess
    from pathlib import Path

    from tests.server.wire_server import serve
    from tests.tools import require, require_tool

    java = require_tool("java", "Java runs the Jackson CBOR client")
    require(all(Path(jar).exists() for jar in JACKSON_JARS),
            "Jackson's CBOR jars missing (Debian: libjackson2-core-java, libjackson2-dataformat-cbor)")
    source = Path(__file__).resolve().parent / "java_cbor" / "CborClient.java"
    with serve("--s3-root", str(tmp_path_factory.mktemp("java") / "s3")) as url:
        done = subprocess.run([java, "-cp", ":".join(JACKSON_JARS), str(source), url],
                              capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and '"ok": true' in done.stdout, done.stdout + done.stderr[-3000:]
    assert '"events": 1' in done.stdout   # one event: the record, then the closed shard's end

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

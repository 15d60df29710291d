"""Kinesis over CBOR (`application/x-amz-cbor-1.1`), the default of the Java SDK v1/v2 and the KCL.

The body holds the same members as the JSON protocol's, with two differences the Java SDK
fixes: blobs are CBOR byte strings (no base64), and timestamps are tag 1 over an integer of
epoch *milliseconds* (SdkCborGenerator writes `writeTag(1); writeNumber(date.getTime())`, and
AwsCborProtocolFactory reads payload timestamps as UNIX_TIMESTAMP_MILLIS), not RFC 8949's
seconds. Requests decode straight into the client's keyword arguments (bytes, datetimes), and
the client's boto3-shaped result encodes as it is, so no model walk is needed either way.
Errors are CBOR maps with `__type` and `message`, as the JSON protocol's.
"""
from __future__ import annotations

import datetime
import struct

import cbor2

CONTENT_TYPE = "application/x-amz-cbor-1.1"
TIMESTAMP_TAG = 1
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def is_cbor(content_type: str | None) -> bool:
    return bool(content_type) and content_type.split(";", 1)[0].strip().lower() == CONTENT_TYPE


def _decode_timestamp(value, _immutable) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(milliseconds=value)


_TAGGED_UINT64 = struct.Struct(">BBQ")   # tag 1 (0xC1), then an unsigned 64-bit integer (0x1B)


def _encode_timestamp(encoder, value: datetime.datetime) -> None:
    # Written as bytes: cbor2 calls this once per datetime (every record of GetRecords has one),
    # and timestamp() arithmetic is several times cheaper than timedelta arithmetic.
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    millis = round(value.timestamp() * 1000)
    if millis >= 0:
        encoder.write(_TAGGED_UINT64.pack(0xC0 | TIMESTAMP_TAG, 0x1B, millis))
    else:
        encoder.encode(cbor2.CBORTag(TIMESTAMP_TAG, millis))


_DECODERS = {TIMESTAMP_TAG: _decode_timestamp}
_ENCODERS = {datetime.datetime: _encode_timestamp}


def decode_request(body: bytes) -> dict:
    """The operation's parameters; ValueError when the body is not a CBOR map (an empty body
    is no parameters, as in JSON)."""
    if not body:
        return {}
    try:
        params = cbor2.loads(body, semantic_decoders=_DECODERS)
    except (cbor2.CBORDecodeError, OverflowError) as error:
        raise ValueError(f"malformed CBOR body: {error}") from None
    if not isinstance(params, dict):
        raise ValueError("a CBOR request body must be a map")
    return params


def encode_response(result: dict) -> bytes:
    """A client's boto3-shaped result as the CBOR body (ResponseMetadata is not wire content)."""
    if "ResponseMetadata" in result:
        result = {k: v for k, v in result.items() if k != "ResponseMetadata"}
    return cbor2.dumps(result, encoders=_ENCODERS)


def encode_error(code: str, message: str) -> bytes:
    return cbor2.dumps({"__type": code, "message": message})

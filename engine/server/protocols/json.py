"""AWS JSON 1.0 / 1.1 (`X-Amz-Target: <prefix>.<Operation>`): SQS, Kinesis, Firehose, Glue.

Requests decode (orjson) into the client's keyword arguments: blobs arrive base64 and timestamps as
epoch seconds, so each operation gets a converter compiled from its input shape that touches
only the members whose shapes hold a blob or a timestamp (most operations have none and decode
with a JSON parse alone). Members the installed model does not know are dropped, as AWS ignores
them (a newer SDK may send them). Responses are the client's boto3-shaped dicts dumped as they
are: bytes (blobs) become base64 and datetimes (timestamps) epoch seconds through json's
`default`, so no walk is needed on the way out.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import functools
import sys

import orjson

_UTC = datetime.timezone.utc
# binascii's strict mode (3.11+) refuses what base64's validate=True refuses, without its Python wrapper.
b64decode = functools.partial(binascii.a2b_base64, strict_mode=True) if sys.version_info >= (3, 11) \
    else functools.partial(base64.b64decode, validate=True)


class MalformedBody(ValueError):
    """A body that is not JSON, or a blob that is not base64 (AWS: SerializationException)."""


def content_type(service_model) -> str:
    return f"application/x-amz-json-{service_model.metadata.get('jsonVersion', '1.0')}"


# --- requests ------------------------------------------------------------------------------
def _blob(value):
    if value.__class__ is not str:
        return value  # (the request layer reports the type)
    try:
        return b64decode(value)
    except (binascii.Error, ValueError):
        raise MalformedBody("Base64 encoded data is invalid") from None


def _timestamp(value):
    if value.__class__ in (int, float):
        try:
            return datetime.datetime.fromtimestamp(value, _UTC)
        except (OverflowError, OSError, ValueError):
            raise MalformedBody(f"Timestamp out of range: {value}") from None
    return value


def _converted(shape, path: frozenset) -> dict:
    """A structure's members that need converting: {name: converter}."""
    return {name: c for name, member in shape.members.items() if (c := _converter(member, path | {shape.name}))}


def _converter(shape, path: frozenset = frozenset()):
    """A function fixing the blobs and timestamps inside a value of `shape`, or None when the
    shape holds neither (recursive shapes stop at their second visit)."""
    kind = shape.type_name
    if kind == "blob":
        return _blob
    if kind == "timestamp":
        return _timestamp
    if shape.name in path:
        return None
    path = path | {shape.name}
    if kind == "structure":
        members = _converted(shape, path)
        if not members:
            return None
        if len(members) == 1:   # (the common case, e.g. a record's Data: no loop per value)
            (only, convert), = members.items()

            def one_member(value):
                if value.__class__ is dict:
                    item = value.get(only)
                    if item is not None:
                        value[only] = convert(item)
                return value
            return one_member

        def structure(value):
            if value.__class__ is dict:
                for name, convert in members.items():
                    item = value.get(name)
                    if item is not None:
                        value[name] = convert(item)
            return value
        return structure
    if kind == "list":
        convert = _converter(shape.member, path)
        if convert is None:
            return None
        member = shape.member
        if member.type_name == "structure" and len(_converted(member, path)) == 1:
            # (PutRecords' 500 entries, each with one blob: one loop, no call per entry)
            (only, convert_only), = _converted(member, path).items()

            def entries(value):
                if value.__class__ is list:
                    for entry in value:
                        if entry.__class__ is dict:
                            item = entry.get(only)
                            if item is not None:
                                entry[only] = convert_only(item)
                return value
            return entries
        return lambda value: [convert(v) for v in value] if value.__class__ is list else value
    if kind == "map":
        convert = _converter(shape.value, path)
        if convert is None:
            return None
        return lambda value: {k: convert(v) for k, v in value.items()} if value.__class__ is dict else value
    return None


def parse(body: bytes) -> dict:
    """A request body's JSON object, as sent (no member dropped or converted yet)."""
    if not body:
        return {}
    try:
        params = orjson.loads(body)
    except ValueError:
        raise MalformedBody("Start of structure or map found where not expected.") from None
    if params.__class__ is not dict:
        raise MalformedBody("Start of structure or map found where not expected.")
    return params


class Operation:
    """One operation's request decoding, compiled once."""

    __slots__ = ("name", "members", "convert")

    def __init__(self, operation_model):
        self.name = operation_model.name
        shape = operation_model.input_shape
        self.members = frozenset(shape.members) if shape is not None else frozenset()
        self.convert = _converter(shape) if shape is not None else None

    def decode(self, body: bytes) -> dict:
        return self.params(parse(body))

    def params(self, params: dict) -> dict:
        """Decoded members as the client takes them (shared with codecs that parse otherwise)."""
        if not params.keys() <= self.members:
            params = {k: v for k, v in params.items() if k in self.members}
        if self.convert is not None:
            self.convert(params)
        return params


# --- responses -----------------------------------------------------------------------------
def _default(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(result: dict) -> bytes:
    """A client's result as the response body (ResponseMetadata is not wire content). orjson
    writes large results (GetRecords, PutRecords' 500 entries) about ten times faster than json."""
    result.pop("ResponseMetadata", None)
    return orjson.dumps(result, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def encode_error(code: str, message: str) -> bytes:
    return orjson.dumps({"__type": code, "message": message})

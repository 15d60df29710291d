"""The AWS query protocol: form-encoded `Action=...&Version=...` requests, XML responses. SNS
speaks it, and so does SQS for the SDKs from before its JSON protocol (botocore <= 1.31.80 and
1.34.0-1.34.89, the older Java, Go and JS SDKs): those follow SQS's query model, which
engine.server.protocols.sqs_query_model keeps.

Both directions are driven by the operation's shapes, as botocore's QuerySerializer writes a
request and its QueryParser reads a response: lists as `Name.member.N` (flattened: `Name.N`
under the member's name), maps as `Name.entry.N.key/value` (flattened: `Name.N.<key>/<value>`
under the shape's names), nested structures as dotted prefixes; XML names from the same
serialization names. A value that does not parse as its shape's type is passed on as text, so
the request layer reports it as it reports any wrong type.
"""
from __future__ import annotations

import base64
import binascii
import datetime

from botocore.utils import parse_timestamp

_UTC = datetime.timezone.utc
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;", '"': "&quot;"})


def _member_key(member, name: str) -> str:
    """The name a structure member goes by on the wire (botocore's _member_key_name)."""
    if member.type_name == "list" and member.serialization.get("flattened"):
        item_name = member.member.serialization.get("name")
        if item_name is not None:
            return item_name
    return member.serialization.get("name", name)


# --- requests: form -> parameters ----------------------------------------------------------
def _prefixes(form: dict) -> set:
    """Every dotted prefix of every key: `A.member.1.B` gives A, A.member, A.member.1 and itself."""
    present = set()
    for key in form:
        present.add(key)
        cut = key.rfind(".")
        while cut > 0:
            head = key[:cut]
            if head in present:
                break
            present.add(head)
            cut = head.rfind(".")
    return present


def scalar_from_text(kind: str, text: str):
    """A scalar member sent as text (query form, rest-json URI, query string or header) as its type."""
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            return {"true": True, "false": False}.get(text.lower(), text)
        if kind == "blob":
            return base64.b64decode(text, validate=True)
        if kind == "timestamp":
            return parse_timestamp(text)
    except (ValueError, binascii.Error, OverflowError):
        pass
    return text


def _parse(shape, form: dict, present: set, prefix: str):
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            key = _member_key(member, name)
            full = f"{prefix}.{key}" if prefix else key
            if full in present:
                out[name] = _parse(member, form, present, full)
        return out
    if kind == "list":
        base = prefix if shape.serialization.get("flattened") else \
            f"{prefix}.{shape.member.serialization.get('name', 'member')}"
        items = []
        i = 1
        while f"{base}.{i}" in present:
            items.append(_parse(shape.member, form, present, f"{base}.{i}"))
            i += 1
        return items
    if kind == "map":
        base = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out = {}
        i = 1
        while f"{base}.{i}" in present:
            entry = f"{base}.{i}"
            key = form.get(f"{entry}.{key_name}")
            if key is not None and f"{entry}.{value_name}" in present:
                out[key] = _parse(shape.value, form, present, f"{entry}.{value_name}")
            i += 1
        return out
    text = form.get(prefix)
    if text is None:  # (a structure where the model has a scalar: let the request layer say so)
        return None
    return text if kind == "string" else scalar_from_text(kind, text)


def decode(operation_model, form: dict) -> dict:
    """The operation's parameters from the request's form fields (Action and Version removed)."""
    shape = operation_model.input_shape
    if shape is None:
        return {}
    params = _parse(shape, form, _prefixes(form), "")
    return {k: v for k, v in params.items() if v is not None}


# --- responses: result -> XML --------------------------------------------------------------
def _text(kind: str, value) -> str:
    if kind == "string":
        return str(value).translate(_ESCAPES)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    if kind == "timestamp":
        if isinstance(value, (int, float)):
            value = datetime.datetime.fromtimestamp(value, _UTC)
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        return value.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return str(value)


def _xml(out: list, shape, value, tag: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        out.append(f"<{tag}>")
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                _xml_member(out, member, item, _member_key(member, name))
        out.append(f"</{tag}>")
    elif kind in ("list", "map"):
        out.append(f"<{tag}>")
        _xml_member(out, shape, value, None)
        out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{_text(kind, value)}</{tag}>")


def _xml_member(out: list, shape, value, tag: str | None) -> None:
    """A structure member (tag: its wire name), or a list's/map's items inside its element (None)."""
    kind = shape.type_name
    flattened = shape.serialization.get("flattened")
    if kind == "list":
        if flattened and tag is not None:
            for item in value:
                _xml(out, shape.member, item, tag)
            return
        if tag is not None:
            out.append(f"<{tag}>")
        item_tag = shape.member.serialization.get("name", "member")
        for item in value:
            _xml(out, shape.member, item, item_tag)
        if tag is not None:
            out.append(f"</{tag}>")
    elif kind == "map":
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        if flattened and tag is not None:
            for k, v in value.items():
                out.append(f"<{tag}><{key_tag}>{_text('string', k)}</{key_tag}>")
                _xml(out, shape.value, v, value_tag)
                out.append(f"</{tag}>")
            return
        if tag is not None:
            out.append(f"<{tag}>")
        for k, v in value.items():
            out.append(f"<entry><{key_tag}>{_text('string', k)}</{key_tag}>")
            _xml(out, shape.value, v, value_tag)
            out.append("</entry>")
        if tag is not None:
            out.append(f"</{tag}>")
    else:
        _xml(out, shape, value, tag)


def _namespace(service_model) -> str:
    ns = service_model.metadata.get("xmlNamespace")
    return f' xmlns="{ns}"' if ns else ""


def encode(operation_model, result: dict, request_id: str) -> bytes:
    """`<OpResponse><OpResult>...</OpResult><ResponseMetadata>...` as botocore's QueryParser reads it."""
    name = operation_model.name
    out = [f"<?xml version=\"1.0\"?><{name}Response{_namespace(operation_model.service_model)}>"]
    shape = operation_model.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper") or operation_model.metadata.get("resultWrapper") \
            or f"{name}Result"
        _xml(out, shape, result, wrapper)
    out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
    return "".join(out).encode()


def encode_error(service_model, code: str, message: str, sender_fault: bool, request_id: str) -> bytes:
    kind = "Sender" if sender_fault else "Receiver"
    return (f"<?xml version=\"1.0\"?><ErrorResponse{_namespace(service_model)}><Error><Type>{kind}</Type>"
            f"<Code>{_text('string', code)}</Code><Message>{_text('string', message)}</Message><Detail/></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()

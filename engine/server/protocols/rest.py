"""rest-json (Lambda, MQ): the operation from the method and path against each model's
`http.requestUri` templates, members from the URI labels, query string, headers and the JSON
body (or a raw payload), and the result back as the output shape places it (status code,
headers, payload or JSON body), as botocore's RestJSONSerializer and RestJSONParser expect.
Body members go by their serialization names (MQ's `brokerName` for BrokerName)."""
from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import json
import re
from urllib.parse import parse_qsl, unquote

from .json import MalformedBody, _default
from .query import scalar_from_text

_UTC = datetime.timezone.utc
_LABEL = re.compile(r"\{([^}]+?)(\+?)\}")


class Route:
    """One operation's URI template, compiled."""

    __slots__ = ("service", "operation", "method", "pattern", "labels", "query", "literal")

    def __init__(self, service: str, operation_model):
        http = operation_model.http
        path, _, query = http["requestUri"].partition("?")
        self.service = service
        self.operation = operation_model
        self.method = http["method"]
        self.query = dict(parse_qsl(query, keep_blank_values=True))
        self.labels = {}
        regex = []
        last = 0
        for found in _LABEL.finditer(path):
            regex.append(re.escape(path[last:found.start()]))
            group = f"l{len(self.labels)}"
            self.labels[group] = found.group(1)
            regex.append(f"(?P<{group}>.+)" if found.group(2) else f"(?P<{group}>[^/]+)")
            last = found.end()
        regex.append(re.escape(path[last:]))
        self.pattern = re.compile("".join(regex).rstrip("/") + "/?")
        self.literal = len(_LABEL.sub("", path))   # (more literal text: the more specific route)

    def match(self, method: str, path: str, query: dict) -> dict | None:
        if method != self.method or any(query.get(k) != v for k, v in self.query.items()):
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {self.labels[g]: unquote(v) for g, v in found.groupdict().items()}


class Routes:
    """Every route of the rest-json services, most specific first."""

    def __init__(self, service_models: dict):
        self.routes = sorted((Route(name, model.operation_model(op)) for name, model in service_models.items()
                              for op in model.operation_names),
                             key=lambda r: (-r.literal, -len(r.query)))

    def match(self, method: str, raw_path: str, query: dict, signing_name: str | None):
        """(route, labels) for the request, preferring the service it was signed for."""
        best = None
        for route in self.routes:
            labels = route.match(method, raw_path, query)
            if labels is not None:
                if signing_name is None or route.service == signing_name:
                    return route, labels
                best = best or (route, labels)
        return best if best is not None else (None, None)


# --- values -----------------------------------------------------------------------------------------
def from_wire(shape, value):
    """A JSON body value as the client takes it: member names, bytes, datetimes."""
    kind = shape.type_name
    if kind == "structure" and value.__class__ is dict:
        members = shape.members
        out = {}
        for name, member in members.items():
            key = member.serialization.get("name", name)
            if key in value and value[key] is not None:
                out[name] = from_wire(member, value[key])
        return out
    if kind == "list" and value.__class__ is list:
        return [from_wire(shape.member, v) for v in value]
    if kind == "map" and value.__class__ is dict:
        return {k: from_wire(shape.value, v) for k, v in value.items()}
    if kind == "blob" and value.__class__ is str:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedBody("Base64 encoded data is invalid") from None
    if kind == "timestamp" and value.__class__ in (int, float):
        return datetime.datetime.fromtimestamp(value, _UTC)
    return value


def to_wire(shape, value):
    """A client's result value as the JSON body carries it (serialization names)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {member.serialization.get("name", name): to_wire(member, value[name])
                for name, member in shape.members.items() if value.get(name) is not None}
    if kind == "list" and isinstance(value, (list, tuple)):
        return [to_wire(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: to_wire(shape.value, v) for k, v in value.items()}
    return value


def decode(route: Route, labels: dict, query_string: str, headers: dict, body: bytes) -> dict:
    shape = route.operation.input_shape
    if shape is None:
        return {}
    query = {}
    for k, v in parse_qsl(query_string, keep_blank_values=True):
        query.setdefault(k, []).append(v)
    params = {}
    payload = shape.serialization.get("payload")
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if where == "uri":
            if wire in labels:
                params[name] = scalar_from_text(member.type_name, labels[wire])
        elif where == "querystring":
            if member.type_name == "map":
                params[name] = {k: v[0] for k, v in query.items()}
            elif wire in query:
                values = query[wire]
                params[name] = [scalar_from_text(member.member.type_name, v) for v in values] if member.type_name == "list" \
                    else scalar_from_text(member.type_name, values[0])
        elif where == "header":
            text = headers.get(wire.lower())
            if text is not None:
                params[name] = base64.b64decode(text).decode() if member.metadata.get("jsonvalue") \
                    else scalar_from_text(member.type_name, text)
        elif where == "headers":
            prefix = wire.lower()
            found = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}
            if found:
                params[name] = found
    if payload is not None:
        member = shape.members[payload]
        if member.type_name in ("blob", "string"):
            if body:
                params[payload] = body if member.type_name == "blob" else body.decode()
        elif body:
            params[payload] = from_wire(member, _json(body))
    elif body:
        document = _json(body)
        for name, value in from_wire(shape, document).items():
            if shape.members[name].serialization.get("location") is None:
                params[name] = value
    return params


def _json(body: bytes):
    try:
        value = json.loads(body.decode())
    except ValueError:
        raise MalformedBody("Unexpected character found in the JSON body.") from None
    if value.__class__ is not dict:
        raise MalformedBody("The JSON body must be an object.")
    return value


def _header_text(shape, value) -> str:
    if shape.type_name == "timestamp":
        return email.utils.format_datetime(value.astimezone(_UTC), usegmt=True)
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.metadata.get("jsonvalue"):
        return base64.b64encode(json.dumps(value).encode()).decode()
    return str(value)


def encode(route: Route, result: dict) -> tuple[int, list, bytes]:
    """(status, headers, body) of a result."""
    operation = route.operation
    status = operation.http.get("responseCode", 200)
    shape = operation.output_shape
    headers = []
    if shape is None:
        return status, [(b"content-type", b"application/json")], b"{}" if status != 204 else b""
    payload = shape.serialization.get("payload")
    body_members = {}
    for name, member in shape.members.items():
        value = result.get(name)
        if value is None:
            continue
        where = member.serialization.get("location")
        if where == "statusCode":
            status = int(value)
        elif where == "header":
            headers.append((member.serialization.get("name", name).lower().encode(),
                            _header_text(member, value).encode()))
        elif where == "headers":
            prefix = member.serialization.get("name", name).lower()
            headers.extend(((prefix + k).encode(), str(v).encode()) for k, v in value.items())
        elif name != payload:
            body_members[name] = value
    if payload is not None:
        member = shape.members[payload]
        value = result.get(payload)
        if member.type_name in ("blob", "string"):
            data = value if isinstance(value, (bytes, bytearray)) else (value or "").encode()
            headers.append((b"content-type", b"application/octet-stream"))
            return status, headers, bytes(data)
        body = to_wire(member, value) if value is not None else {}
    else:
        body = to_wire(shape, body_members)
    headers.append((b"content-type", b"application/json"))
    return status, headers, json.dumps(body, separators=(",", ":"), default=_default).encode()


def encode_error(code: str, message: str) -> tuple[list, bytes]:
    return ([(b"content-type", b"application/json"), (b"x-amzn-errortype", code.encode())],
            json.dumps({"message": message, "Message": message}).encode())

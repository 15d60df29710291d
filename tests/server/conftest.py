"""Fixtures for the server tests: one `engine serve` subprocess for the session, boto3 clients
pointed at it, and an in-process way to drive the ASGI app without a socket."""
from __future__ import annotations

import asyncio
import json
import urllib.request

import boto3
import botocore.config
import pytest

from tests.server.wire_server import serve

REGION = "us-east-1"


@pytest.fixture(scope="session")
def endpoint():
    """The URL of a running `python -m engine serve` (state shared: tests use their own names)."""
    with serve() as url:
        yield url


@pytest.fixture(scope="session")
def aws(endpoint):
    """aws(service) -> a boto3 client of the server, as a user makes one."""
    config = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=30)

    def make(service, **kwargs):
        return boto3.client(service, endpoint_url=endpoint, region_name=kwargs.pop("region_name", REGION),
                            aws_access_key_id="test", aws_secret_access_key="test", config=config, **kwargs)
    return make


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/_engine/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read()) == {"status": "ok"}


def call_app(app, method: str, path: str, headers: dict | None = None, body: bytes = b"",
             query: bytes = b"") -> tuple[int, dict, bytes]:
    """One request through the ASGI app in this process: (status, headers, body)."""
    return asyncio.run(asgi_request(app, method, path, headers, body, query))


async def asgi_request(app, method, path, headers=None, body=b"", query=b"", hang_up: asyncio.Event | None = None):
    """As call_app, on the running loop; the client stays connected until `hang_up` is set."""
    scope = {"type": "http", "method": method, "path": path, "query_string": query, "scheme": "http",
             "server": ("127.0.0.1", 4566),
             "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "127.0.0.1:4566", **(headers or {})}.items()]}
    sent = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await (hang_up or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, \
        b"".join(m.get("body", b"") for m in sent[1:])


class RSGIHeaders:
    """granian's RSGIHeaders as the app uses them (lower-case names; a repeated header's last
    value from get)."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def get(self, key, default=None):
        found = [v for k, v in self.pairs if k == key]
        return found[-1] if found else default

    def __contains__(self, key):
        return any(k == key for k, _ in self.pairs)

    def items(self):
        return list(self.pairs)


class _Body:
    """`await proto()`: the request body, at once (granian reads it before the app awaits)."""

    def __init__(self, body: bytes):
        self.body = body

    def __await__(self):
        return self.body
        yield   # (a generator: awaitable)


class _RSGIProtocol:
    def __init__(self, body: bytes):
        self.body = body
        self.response = None

    def __call__(self):
        return _Body(self.body)

    def response_bytes(self, status, headers, body):
        self.response = (status, headers, body)

    async def client_disconnect(self):
        await asyncio.Event().wait()


def rsgi_request(app, method: str, path: str, headers: dict | None = None, body: bytes = b"",
                 query: str = "") -> tuple[int, dict, bytes]:
    """One request through the app's RSGI entry (what `engine serve` runs): (status, headers, body)."""
    from types import SimpleNamespace

    pairs = [(k.lower(), v) for k, v in {"host": "127.0.0.1:4566", **(headers or {})}.items()]
    scope = SimpleNamespace(proto="http", method=method, path=path, query_string=query, scheme="http",
                            server="127.0.0.1:4566", authority=None, headers=RSGIHeaders(pairs))
    proto = _RSGIProtocol(body)
    asyncio.run(app.__rsgi__(scope, proto))
    status, out_headers, out = proto.response
    return status, dict(out_headers), out

"""The application behind `engine serve`: every service of an Engine on one endpoint, over the
AWS wire protocols, onto the same in-process clients (so validation, rules and error codes are
the request layer's and the models', shared with `eng.client(...)`).

    app = make_app(engine.Engine())   # an ASGI 3 callable, and an RSGI app (what granian serves)

A request is routed (engine.server.routing), decoded by its protocol's codec into the client's
keyword arguments, run on the client of its account and region, and the result or error encoded
as AWS sends it. The app only translates; queue URLs are the one thing it rewrites (the models
name queues by AWS's URL, clients of this endpoint by the request's Host).

Seams for the wire features beside it:
- `codecs`: content type -> module with decode_request(body) / encode_response(result) /
  encode_error(code, message), for JSON-protocol bodies in another encoding (CBOR);
- `authenticator`: an object with verify(SignedRequest, family) -> Verified(account_id, region,
  ...) raising the AWS auth error; None accepts any credentials (account 000000000000);
- `streams`: (service, operation) -> async handler(app, request, client, params, send) for
  operations answered with an event stream (SubscribeToShard);
- rest-json services (Lambda, MQ): engine.server.protocols.rest routes method and path by the
  models' http.requestUri and places members by their locations.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import uuid
from typing import Awaitable, Callable
from urllib.parse import parse_qsl, quote

from botocore import xform_name
from botocore.model import ServiceModel

from .. import __version__, limits
from ..arn import sqs_queue_url
from ..client_base import new_request_id
from ..engine import SERVICES, Engine, _load
from ..errors import ClientError, ParamValidationError
from ..request import service_models
from . import cbor, eventstream, fastpath, routing
from .auth import AccountEngines, AccountUnavailable, SignedRequest
from .longpoll import LongPolls
from .protocols import json as json_protocol
from .protocols import query as query_protocol
from .protocols import rest as rest_protocol
from .protocols.sqs_query_model import MODEL as SQS_QUERY_MODEL

log = logging.getLogger("engine.server")

JSON = "json"
QUERY = "query"
FORM_TYPE = "application/x-www-form-urlencoded"
HEALTH_PATH = "/_engine/health"
RESET_PATHS = ("/_engine/reset", "/moto-api/reset")
_CONTENT_TYPES_KEPT = 16   # the JSON content types the RSGI entry remembers (clients send a few)
# The SQS operations whose results carry queue URLs, and the members holding them.
_QUEUE_URL_OUTPUTS = {"CreateQueue": "QueueUrl", "GetQueueUrl": "QueueUrl", "ListQueues": "QueueUrls",
                      "ListDeadLetterSourceQueues": "queueUrls"}
# The code each service answers a failure of its own with (HTTP 500), where it is not the common
# InternalFailure: the services' models (SNS InternalErrorException, Lambda ServiceException, MQ
# InternalServerErrorException) and Glue's exceptions reference (InternalServiceException).
_INTERNAL_FAILURE_CODES = {"sns": "InternalError", "glue": "InternalServiceException", "lambda": "ServiceException",
                           "mq": "InternalServerErrorException"}


class Request:
    """One HTTP request as the app reads it, from either server interface: headers with
    lower-case names (a repeated header's last value; `signed()` joins them as SigV4 does)."""

    __slots__ = ("method", "path", "raw_path", "query_string", "headers", "header_pairs", "body", "scheme",
                 "server", "disconnected")

    def __init__(self, method: str, path: str, raw_path: str, query_string: str, headers: dict,
                 header_pairs, body: bytes, scheme: str = "http", server: str = "127.0.0.1:80",
                 disconnected: Callable[[], Awaitable[None]] | None = None):
        self.method = method
        self.path = path
        self.raw_path = raw_path           # as sent, percent-encoded, without the query
        self.query_string = query_string
        self.headers = headers
        self.header_pairs = header_pairs   # (name, value) str pairs, repeats kept
        self.body = body
        self.scheme = scheme
        self.server = server               # host:port of the listening socket
        # returns once the client has hung up (an event stream or long poll watches it)
        self.disconnected = disconnected

    @classmethod
    def from_asgi(cls, scope, body: bytes, receive=None) -> Request:
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        raw_path = scope.get("raw_path")
        server = scope.get("server") or ("127.0.0.1", 80)
        return cls(scope["method"], scope["path"],
                   raw_path.decode("latin-1").split("?", 1)[0] if raw_path else _raw_path(scope["path"]),
                   scope.get("query_string", b"").decode("latin-1"), dict(pairs), pairs, body,
                   scope.get("scheme", "http"), f"{server[0]}:{server[1]}",
                   None if receive is None else lambda: _disconnected(receive))

    @classmethod
    def from_rsgi(cls, scope, body: bytes, proto) -> Request:
        """granian's RSGI gives the path decoded, and an HTTP/2 request's authority apart from its
        headers. The raw path is rebuilt the way every AWS SDK encodes a URI label (all but
        RFC 3986's unreserved characters; no label of a served operation can hold a '/')."""
        pairs = scope.headers.items()
        headers = dict(pairs)
        if "host" not in headers and scope.authority:   # (HTTP/2: the authority, as ASGI servers hand it on)
            headers["host"] = scope.authority
            pairs.append(("host", scope.authority))
        return cls(scope.method, scope.path, _raw_path(scope.path), scope.query_string, headers, pairs, body,
                   scope.scheme, scope.server, proto.client_disconnect)

    @property
    def base_url(self) -> str:
        """scheme://host[:port] as the client addressed this server."""
        host = self.headers.get("host") or self.headers.get(":authority") or self.server
        return f"{self.scheme}://{host}"

    def signed(self) -> SignedRequest:
        return SignedRequest.from_pairs(self.method, self.raw_path, self.query_string, self.header_pairs, self.body)


def _raw_path(path: str) -> str:
    return path if path == "/" else quote(path, safe="/~")   # ("/": every JSON and query request)


class _Operation:
    """What the app keeps per (service, operation): the client method and the codecs' state."""

    __slots__ = ("service", "model", "method", "json")

    def __init__(self, service: str, operation_model):
        self.service = service
        self.model = operation_model
        self.method = xform_name(operation_model.name)
        self.json = json_protocol.Operation(operation_model)


class EngineApp:
    """The ASGI 3 and RSGI application; see the module docstring."""

    def __init__(self, engine: Engine, *, authenticator=None, engine_factory: Callable[[str], Engine] | None = None):
        self._factory = engine_factory or (lambda account_id: Engine(account_id=account_id, s3_root=engine.s3_root))
        self.engines = AccountEngines(engine, self._factory)
        self.authenticator = authenticator
        self.services = served_services()
        self._targets = routing.json_targets(self.services)
        self._versions = routing.query_versions(self.services)
        self._models: dict[str, ServiceModel] = {name: service_models.service_model(name) for name in self.services}
        self._sqs_query = ServiceModel(SQS_QUERY_MODEL, "sqs")
        self._content_types = {name: json_protocol.content_type(model).encode() for name, model in self._models.items()}
        self._routes = rest_protocol.Routes({name: model for name, model in self._models.items()
                                             if model.protocol == "rest-json"})
        self._operations: dict[tuple[str, str], _Operation | None] = {}
        self._clients: dict[tuple[str, str, str], object] = {}
        self._url_prefixes: dict[tuple[str, str, str], tuple[str, str]] = {}
        self.polls = LongPolls()
        self.fast_paths = fastpath.fast_paths()
        # "AmazonSQS.SendMessage" -> ("sqs", "SendMessage") for the operations with a fast path (the
        # RSGI entry's lean answers)
        self._fast_targets = {f"{prefix}.{operation}": (service, operation)
                              for prefix, service in self._targets.items()
                              for key_service, operation in self.fast_paths if key_service == service}
        self._text_content_types = {name: value.decode() for name, value in self._content_types.items()}
        self._json_content_types: set[str] = set()
        self.query_fast_paths = fastpath.query_fast_paths()
        self.codecs: dict[str, object] = {cbor.CONTENT_TYPE: cbor}
        self.streams: dict[tuple[str, str], Callable[..., Awaitable[None]]] = {
            ("kinesis", "SubscribeToShard"): eventstream.subscribe_to_shard}

    # --- ASGI ----------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._answer_polls_on_stop(asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _answer_polls_on_stop(self, loop) -> None:
        """On SIGINT/SIGTERM, answer the long polls at once: the server waits for requests in
        flight before it lets the app shut down. Our handler goes in front of the Python-level
        one the server installed (asyncio's, whose loop callback still runs: the signal reaches
        the loop through its wakeup fd whatever the Python handler is), and calls it after."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if not callable(previous) or previous is signal.default_int_handler:
                continue   # (no server handler to chain: the signal keeps its default action)

            def on_signal(signum, frame, previous=previous):
                loop.call_soon_threadsafe(self.polls.close)
                previous(signum, frame)
            try:
                signal.signal(sig, on_signal)
            except ValueError:   # not the main thread
                return

    async def close(self) -> None:
        """Answer every long poll, then close the engines (Firehose delivers what it buffered)."""
        self.polls.close()
        await asyncio.sleep(0)   # (the woken polls answer before the engines go)
        loop = asyncio.get_running_loop()
        for engine in self.engines.all():
            await loop.run_in_executor(None, engine.close)

    async def _http(self, scope, receive, send) -> None:
        message = await receive()
        body = message.get("body", b"")
        if message.get("more_body"):   # (chunks joined once: += would copy the body per chunk)
            chunks = [body]
            while message.get("more_body"):
                message = await receive()
                chunks.append(message.get("body", b""))
            body = b"".join(chunks)
        answer = await self._answer(Request.from_asgi(scope, body, receive), send)
        if answer is not None:
            status, headers, out = answer
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": out})

    async def _answer(self, request: Request, send):
        """(status, headers, body), or None when an event stream's handler answered through `send`."""
        path = request.path
        if path.startswith("/_engine/") or path in RESET_PATHS:
            return await self._admin(request)
        answer = await self.handle(request, send)
        return None if answer[0] is None else answer

    # --- RSGI: what `engine serve` runs (granian's own interface costs less per request) -------
    def __rsgi_init__(self, loop) -> None:
        self._answer_polls_on_stop(loop)

    def __rsgi_del__(self, loop) -> None:
        loop.run_until_complete(self.close())

    async def __rsgi__(self, scope, proto) -> None:
        if scope.proto != "http":   # (websockets are not served)
            return
        body = await proto()
        headers = scope.headers
        fast = self.fast_paths.get(self._fast_targets.get(headers.get("x-amz-target")))
        if fast is not None and self.authenticator is None and scope.path == "/":
            answer = self._lean(fast, scope, headers, body)
            if answer is not None:
                proto.response_bytes(*answer)
                return
        send = _RSGIStream(proto)
        answer = await self._answer(Request.from_rsgi(scope, body, proto), send)
        if answer is not None:
            status, headers, out = answer
            proto.response_bytes(status, _text_headers(headers), out)

    def _lean(self, fast: fastpath.FastPath, scope, headers, body: bytes):
        """A hot JSON operation's answer (status, text headers, body) straight from granian's
        request, or None: `handle` answers. What `handle` would do for it, without its Request
        (headers copied), routing and protocol dispatch; only where no signature is verified and the
        body is JSON (not CBOR) sent to a Host."""
        content_type = headers.get("content-type")
        if content_type is not None and content_type not in self._json_content_types:
            if self.codecs.get(content_type.split(";", 1)[0].strip()) is not None:
                return None
            if len(self._json_content_types) < _CONTENT_TYPES_KEPT:
                self._json_content_types.add(content_type)
        if "host" not in headers:
            return None   # (HTTP/2 names the authority apart: Request.from_rsgi adds it as the Host)
        request = Request(scope.method, "/", "/", scope.query_string, headers, None, body, scope.scheme, scope.server)
        region, _ = routing.credential_scope(headers.get("authorization"), scope.query_string)
        account = self.engines.default.account_id
        try:
            if fast.decoder is not None:
                out = fast.answer_body(self, request, account, region)
            else:
                try:
                    params = json_protocol.parse(body)
                except ValueError:
                    return None   # (handle's SerializationException)
                out = fast.answer(self, request, params, account, region)
        except ClientError as err:
            status, error_headers, out = self._error(request, fast.service, JSON, None, err)
            return status, _text_headers(error_headers), out
        except Exception:
            log.exception("%s.%s failed", fast.service, fast.operation)
            status, error_headers, out = self._error(request, fast.service, JSON, None, _internal_failure())
            return status, _text_headers(error_headers), out
        if out is None:
            return None
        return 200, [("content-type", self._text_content_types[fast.service]),
                     ("x-amzn-requestid", new_request_id())], out

    # --- admin endpoints -------------------------------------------------------------------------
    async def _admin(self, request: Request):
        if request.path == HEALTH_PATH and request.method in ("GET", "HEAD"):
            body = {"services": {name: "available" for name in self.services}, "version": __version__}
            return 200, [(b"content-type", b"application/json")], json.dumps(body).encode()
        if request.path in RESET_PATHS and request.method == "POST":
            await self.reset()
            return 200, [(b"content-type", b"application/json")], b'{"status": "ok"}'
        return 404, [(b"content-type", b"application/json")], b'{"message": "not found"}'

    async def reset(self) -> None:
        """Every account's resources gone, from the data dir too: fresh engines with the same
        settings. The old engines close first (they hold the data dir's locks and files)."""
        old = self.engines
        loop = asyncio.get_running_loop()
        for engine in old.all():
            await loop.run_in_executor(None, engine.close)
        data_dir = old.default.data_dir
        if data_dir is not None:   # every account's data, also of accounts not opened since the start
            for service in SERVICES:
                await loop.run_in_executor(None, shutil.rmtree, os.path.join(data_dir, service), True)
        self.engines = AccountEngines(self._factory(old.default.account_id), self._factory)
        self._clients.clear()   # (after the swap: a request during the reset may have cached an old client)

    # --- AWS requests ----------------------------------------------------------------------------
    async def handle(self, request: Request, send=None):
        """(status, headers, body) for one AWS request; status None when a stream handler answered."""
        headers = request.headers
        target = headers.get("x-amz-target")
        if target is not None:
            prefix, _, action = target.partition(".")
            service = self._targets.get(prefix)
            protocol = JSON
            codec = self.codecs.get(headers.get("content-type", "").split(";", 1)[0].strip())
            if service is None:
                return self._json_error(None, codec, 400, "UnknownOperationException",
                                        f"Unknown target: {target}")
        else:
            codec = None
            form = self._form(request)
            action = form.pop("Action", None)
            if action is None:
                return self._rest(request)
            protocol = QUERY
            version = form.pop("Version", None)
            _, signing_name = routing.credential_scope(headers.get("authorization"), request.query_string)
            service = routing.query_service(signing_name, version, request.path, self._versions)
            if service is None:
                return self._query_error(None, 400, "InvalidAction", True,
                                         f"Could not find operation {action} for version {version}")
        operation = self._operation(service, action)
        try:
            if operation is None:
                raise _unknown_operation(action, protocol)
            account, region = self._identify(request, service, protocol)
            if protocol == QUERY:
                fast = self.query_fast_paths.get((service, action))
                result = fast.result(self, request, form, account, region) if fast is not None else None
                if result is not None:
                    request_id = new_request_id()
                    return 200, [(b"content-type", b"text/xml"), (b"x-amzn-requestid", request_id.encode())], \
                        query_protocol.encode(self._query_model(service, operation), result, request_id)
            fast = self.fast_paths.get((service, action)) if protocol == JSON and codec is None else None
            if fast is not None and fast.decoder is not None:   # (a path that reads the body itself)
                body = fast.answer_body(self, request, account, region)
                if body is not None:
                    return 200, [(b"content-type", self._content_type(service)),
                                 (b"x-amzn-requestid", new_request_id().encode())], body
                fast = None
            try:
                if protocol == QUERY:
                    params = query_protocol.decode(self._query_model(service, operation), form)
                elif codec is None:
                    params = json_protocol.parse(request.body)
                else:
                    params = operation.json.params(codec.decode_request(request.body))
            except ValueError as err:   # a body its codec could not read
                raise wire_error("SerializationException", str(err)) from None
            if fast is not None:
                body = fast.answer(self, request, params, account, region)
                if body is not None:
                    return 200, [(b"content-type", self._content_type(service)),
                                 (b"x-amzn-requestid", new_request_id().encode())], body
            if protocol == JSON and codec is None:
                try:
                    params = operation.json.params(params)
                except ValueError as err:   # a blob that is not base64, a timestamp out of range
                    raise wire_error("SerializationException", str(err)) from None
            client = self._client(account, service, region)
            if service == "sqs":
                result = await self._sqs(request, client, operation, params, account, region)
            else:
                stream = self.streams.get((service, operation.model.name))
                if stream is not None:
                    await stream(self, request, client, params, send)
                    return None, None, None
                result = getattr(client, operation.method)(**params)
        except ClientError as err:
            return self._error(request, service, protocol, codec, err)
        except ParamValidationError as err:
            return self._error(request, service, protocol, codec, _invalid_request(service, protocol, err))
        except Exception:
            log.exception("%s.%s failed", service, action)
            return self._error(request, service, protocol, codec, _internal_failure())
        request_id = result.pop("ResponseMetadata")["RequestId"]
        # (no x-amz-crc32: AWS sends it for DynamoDB only, and the .NET SDK checks it wherever it appears)
        if protocol == JSON:
            if codec is None:
                return 200, [(b"content-type", self._content_type(service)),
                             (b"x-amzn-requestid", request_id.encode())], json_protocol.encode(result)
            return 200, [(b"content-type", codec.CONTENT_TYPE.encode()),
                         (b"x-amzn-requestid", request_id.encode())], codec.encode_response(result)
        body = query_protocol.encode(self._query_model(service, operation), result, request_id)
        return 200, [(b"content-type", b"text/xml"), (b"x-amzn-requestid", request_id.encode())], body

    def _rest(self, request: Request):
        """A rest-json request (Lambda, MQ): routed by method and path against the models' URIs."""
        path = request.raw_path
        _, signing_name = routing.credential_scope(request.headers.get("authorization"), request.query_string)
        route, labels = self._routes.match(request.method, path, dict(parse_qsl(request.query_string)),
                                           signing_name)
        if route is None:
            request_id = str(uuid.uuid4())
            headers, body = rest_protocol.encode_error("UnknownOperationException",
                                                       f"No service answers {request.method} {request.path}")
            return 404, headers + [(b"x-amzn-requestid", request_id.encode())], body
        service = route.service
        operation = self._operation(service, route.operation.name)
        try:
            if operation is None:
                raise _unknown_operation(route.operation.name, JSON)
            account, region = self._identify(request, service, JSON)
            try:
                params = rest_protocol.decode(route, labels, request.query_string, request.headers, request.body)
            except ValueError as err:   # a body that is not JSON, a blob that is not base64
                raise wire_error("SerializationException", str(err)) from None
            result = getattr(self._client(account, service, region), operation.method)(**params)
        except ClientError as err:
            return self._rest_error(err)
        except ParamValidationError as err:
            return self._rest_error(_invalid_request(service, JSON, err))
        except Exception:
            log.exception("%s.%s failed", service, route.operation.name)
            return self._rest_error(wire_error("ServiceException", "We encountered an internal error.", 500,
                                               sender_fault=False))
        request_id = result.pop("ResponseMetadata")["RequestId"]
        status, headers, body = rest_protocol.encode(route, result)
        return status, headers + [(b"x-amzn-requestid", request_id.encode())], body

    @staticmethod
    def _rest_error(err: ClientError):
        error = err.response["Error"]
        headers, body = rest_protocol.encode_error(error.get("QueryErrorCode") or error["Code"], error["Message"])
        return err.response["ResponseMetadata"]["HTTPStatusCode"], \
            headers + [(b"x-amzn-requestid", str(uuid.uuid4()).encode())], body

    def _form(self, request: Request) -> dict:
        """The query protocol's fields: the form body (POST) or the query string (GET)."""
        text = request.query_string
        if request.body and request.headers.get("content-type", "").startswith(FORM_TYPE):
            text = request.body.decode("utf-8", "surrogateescape")
        return dict(parse_qsl(text, keep_blank_values=True))

    def _identify(self, request: Request, service: str, protocol: str) -> tuple[str, str]:
        """(account id, region): the verified signer's when auth is on, else the default account
        and the region of the credential scope."""
        if self.authenticator is not None:
            verified = self.authenticator.verify(request.signed(), protocol)
            return verified.account_id, verified.region
        region, _ = routing.credential_scope(request.headers.get("authorization"), request.query_string)
        return self.engines.default.account_id, region

    def _operation(self, service: str, action: str) -> _Operation | None:
        key = (service, action)
        try:
            return self._operations[key]
        except KeyError:
            model = self._models[service]
            op = _Operation(service, model.operation_model(action)) if action in model.operation_names else None
            if op is not None and not hasattr(_load(SERVICES[service][1]), op.method):
                op = None   # (an operation of the model the engine's client does not have)
            self._operations[key] = op
            return op

    def _query_model(self, service: str, operation: _Operation):
        """The operation's model as its query clients speak it (SQS: its older query model)."""
        if service == "sqs":
            return self._sqs_query.operation_model(operation.model.name)
        return operation.model

    def _client(self, account: str, service: str, region: str):
        key = (account, service, region)
        client = self._clients.get(key)
        if client is None:
            try:
                engine = self.engines.get(account)
            except AccountUnavailable as failure:
                raise wire_error(_INTERNAL_FAILURE_CODES.get(service, "InternalFailure"),
                                 f"We encountered an internal error: {failure.message}", 500,
                                 sender_fault=False) from None
            client = self._clients[key] = engine.client(service, region_name=region)
        return client

    def _content_type(self, service: str) -> bytes:
        return self._content_types[service]

    # --- SQS: queue URLs by Host, long polls -----------------------------------------------------
    async def _sqs(self, request: Request, client, operation: _Operation, params: dict, account: str, region: str):
        engine_prefix, wire_prefix = self._url_prefix(request, account, region)
        url = params.get("QueueUrl")
        if url.__class__ is str and url.startswith(wire_prefix):
            params["QueueUrl"] = engine_prefix + url[len(wire_prefix):]
        elif url is None and operation.model.input_shape is not None \
                and "QueueUrl" in operation.model.input_shape.members and routing._QUEUE_PATH.fullmatch(request.path):
            params["QueueUrl"] = engine_prefix + request.path.rstrip("/").rsplit("/", 1)[1]  # (query: URL as path)
        name = operation.model.name
        method = getattr(client, operation.method)
        if name == "ReceiveMessage":
            result = await self._receive(request, client, method, params, region)
        else:
            result = method(**params)
        member = _QUEUE_URL_OUTPUTS.get(name)
        if member is not None and member in result:
            value = result[member]
            if value.__class__ is str:
                result[member] = wire_prefix + value[len(engine_prefix):] if value.startswith(engine_prefix) else value
            else:
                result[member] = [wire_prefix + v[len(engine_prefix):] if v.startswith(engine_prefix) else v
                                  for v in value]
        return result

    def _url_prefix(self, request: Request, account: str, region: str) -> tuple[str, str]:
        """(queue URL prefix as the engine names queues, as this request's client addresses them)."""
        key = (request.headers.get("host"), request.scheme, account, region)
        prefixes = self._url_prefixes.get(key)
        if prefixes is None:
            prefixes = self._url_prefixes[key] = (sqs_queue_url(region, account, ""),
                                                  f"{request.base_url}/{account}/")
        return prefixes

    async def _receive(self, request: Request, client, method, params: dict, region: str) -> dict:
        """ReceiveMessage: at once when it waits for nothing, else a long poll on the event loop."""
        wait = params.get("WaitTimeSeconds")
        url = params.get("QueueUrl")
        if url.__class__ is not str or not (wait is None or (wait.__class__ is int and
                                                             0 < wait <= limits.SQS_WAIT_TIME_MAX_S)):
            return method(**params)   # (no wait, or the client refuses the request)
        try:
            queue = client._engine.backend("sqs", region).queue_from_url(url)
        except ClientError:
            return method(**params)   # (the client's error, as it reports it)
        if wait is None:
            wait = queue.wait_time
        if not wait:
            return method(**params)
        attempt_params = dict(params, WaitTimeSeconds=0)

        def attempt() -> dict:
            try:
                return method(**attempt_params)
            except ClientError as err:
                if err.response["Error"].get("QueryErrorCode") == "OverLimit":  # (a long poll waits instead)
                    return {"ResponseMetadata": err.response["ResponseMetadata"]}
                raise
        hung_up = asyncio.ensure_future(request.disconnected()) if request.disconnected is not None else None
        try:
            result = await self.polls.receive(queue, client._engine.clock, wait, attempt, hung_up)
        finally:
            if hung_up is not None:
                hung_up.cancel()
        return result if result is not None else {"ResponseMetadata": {"RequestId": ""}}   # (nobody to answer)

    # --- errors ----------------------------------------------------------------------------------
    def _error(self, request: Request, service: str, protocol: str, codec, err: ClientError):
        error = err.response["Error"]
        status = err.response["ResponseMetadata"]["HTTPStatusCode"]
        sender = error.get("Type", "Sender") != "Receiver"
        if protocol == QUERY:
            return self._query_error(service, status, error["Code"], sender, error["Message"])
        code = error.get("QueryErrorCode") or error["Code"]
        response = self._json_error(service, codec, status, code, error["Message"])
        if "QueryErrorCode" in error and "x-amzn-query-mode" in request.headers:
            response[1].append((b"x-amzn-query-error", f"{error['Code']};{'Sender' if sender else 'Receiver'}".encode()))
        return response

    def _json_error(self, service: str | None, codec, status: int, code: str, message: str):
        request_id = str(uuid.uuid4())
        if codec is not None:
            return status, [(b"content-type", codec.CONTENT_TYPE.encode()),
                            (b"x-amzn-requestid", request_id.encode())], codec.encode_error(code, message)
        content_type = self._content_type(service) if service else b"application/x-amz-json-1.0"
        return status, [(b"content-type", content_type), (b"x-amzn-requestid", request_id.encode())], \
            json_protocol.encode_error(code, message)

    def _query_error(self, service: str | None, status: int, code: str, sender: bool, message: str):
        request_id = str(uuid.uuid4())
        model = self._sqs_query if service == "sqs" else self._models.get(service or "sns")
        return status, [(b"content-type", b"text/xml"), (b"x-amzn-requestid", request_id.encode())], \
            query_protocol.encode_error(model, code, message, sender, request_id)


async def _disconnected(receive) -> None:
    """Returns once the client has gone away: ASGI's http.disconnect (the body is already read;
    granian answers one more empty http.request first, then waits for the hang-up)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _text_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The app's (bytes, bytes) header pairs as RSGI takes them."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]


class _RSGIStream:
    """An ASGI `send` over an RSGI protocol, for the event stream handlers: the head goes out
    with the first body, then the response streams."""

    __slots__ = ("proto", "head", "transport")

    def __init__(self, proto):
        self.proto = proto
        self.head = None
        self.transport = None

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.head = (message["status"], _text_headers(message["headers"]))
            return
        body = message.get("body", b"")
        if self.transport is None:
            self.transport = self.proto.response_stream(*self.head)
        if body:
            await self.transport.send_bytes(body)


def wire_error(code: str, message: str, status: int = 400, sender_fault: bool = True) -> ClientError:
    """An error the server itself answers (no service raises it, so it is not a registered class)."""
    err = ClientError(message, code=code, status=status)
    err.response["Error"]["Type"] = "Sender" if sender_fault else "Receiver"
    return err


def _internal_failure() -> ClientError:
    return wire_error("InternalFailure", "We encountered an internal error. Please try again.", 500,
                      sender_fault=False)


def _unknown_operation(action: str, protocol: str) -> ClientError:
    if protocol == QUERY:
        return wire_error("InvalidAction", f"The action {action} is not valid for this web service.")
    return wire_error("UnknownOperationException", f"Unknown operation: {action}")


def _invalid_request(service: str, protocol: str, err: ParamValidationError) -> ClientError:
    """What a client sent that boto3 would have refused before sending (types, required members)."""
    if service == "sqs":
        wire = wire_error("InvalidParameterValue", err.report)
        wire.response["Error"]["QueryErrorCode"] = "InvalidParameterValue"
        return wire
    return wire_error("ValidationError" if protocol == QUERY else "ValidationException", err.report)


def served_services() -> list[str]:
    """The engine's services this server speaks: those whose client loads and whose protocol it
    has a codec for (json, query, rest-json)."""
    served = []
    for name, (_, client_path) in SERVICES.items():
        if service_models.service_model(name).protocol not in ("json", "query", "rest-json"):
            continue
        try:
            _load(client_path)
        except (ImportError, AttributeError):
            continue
        served.append(name)
    return served


def make_app(engine: Engine | None = None, **kwargs) -> EngineApp:
    """The ASGI app over `engine` (a new in-memory Engine by default)."""
    return EngineApp(engine if engine is not None else Engine(), **kwargs)

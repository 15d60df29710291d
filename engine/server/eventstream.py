"""`application/vnd.amazon.eventstream` framing, and SubscribeToShard answered as such a stream.

A message is a prelude (total length, headers length, CRC32 of those 8 bytes), the headers
(name length, name, value type 7 = string, value length, value), the payload, and the CRC32 of
all that precedes it. SubscribeToShard answers an `initial-response` event, then one
`SubscribeToShardEvent` per batch of records (or every 5 s without any), ending when the
subscription's 5 minutes run out or a closed shard is read to its end; an error after the
start is an `exception` message. Payloads are in the request's encoding (JSON or CBOR).

Waiting costs no thread per subscription: a subscription awaits a wake-up from one watcher
thread per stream (StreamWatchers), which waits on the stream's put signal for all of them and
wakes those that have records to send.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import threading
import zlib
from typing import Awaitable, Callable

from ..errors import ClientError
from . import cbor
from .protocols import json as json_protocol

log = logging.getLogger("engine.server")

CONTENT_TYPE = "application/vnd.amazon.eventstream"
JSON_CONTENT_TYPE = "application/json"
_STRING = 7   # header value type
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")
WATCH_INTERVAL_S = 1.0   # a watcher looks at least this often (bounds a missed wake-up's delay)

Send = Callable[[dict], Awaitable[None]]


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message with string headers."""
    encoded = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        encoded += bytes((len(raw_name),)) + raw_name + bytes((_STRING,)) + struct.pack(">H", len(raw_value)) + raw_value
    total = _PRELUDE.size + _CRC.size + len(encoded) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total, len(encoded))
    message = prelude + _CRC.pack(zlib.crc32(prelude)) + bytes(encoded) + payload
    return message + _CRC.pack(zlib.crc32(message))


def event_message(event_type: str, payload: bytes, content_type: str) -> bytes:
    return encode_message({":event-type": event_type, ":content-type": content_type, ":message-type": "event"},
                          payload)


def exception_message(code: str, payload: bytes, content_type: str) -> bytes:
    return encode_message({":exception-type": code, ":content-type": content_type, ":message-type": "exception"},
                          payload)


# --- payload encodings -----------------------------------------------------------------------
class Encoding:
    """How payloads of one subscription are written: JSON or the Java SDK's CBOR."""

    def __init__(self, use_cbor: bool):
        self.content_type = cbor.CONTENT_TYPE if use_cbor else JSON_CONTENT_TYPE
        self.encode = cbor.encode_response if use_cbor else json_protocol.encode


# --- waiting for puts ---------------------------------------------------------------------------
class StreamWatchers:
    """One thread per Kinesis stream with waiting subscriptions: it waits on the stream's put
    signal (Stream.wait_for_data) and wakes the subscriptions that have records to send. It also
    looks every WATCH_INTERVAL_S, so a put landing between a subscription's own check and its
    registration is seen within that time; idle subscriptions are never woken for nothing."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: dict[object, set[tuple[asyncio.AbstractEventLoop, asyncio.Future, Callable]]] = {}

    async def wait(self, stream, timeout: float, ready: Callable[[], bool]) -> None:
        """Return once `ready()` holds after a put to `stream`, or after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        entry = (loop, woken, ready)
        with self._lock:
            waiters = self._waiting.get(stream)
            if waiters is None:
                waiters = self._waiting[stream] = set()
                threading.Thread(target=self._watch, args=(stream,), daemon=True,
                                 name=f"kinesis-watch-{getattr(stream, 'name', '')}").start()
            waiters.add(entry)
        try:
            await asyncio.wait_for(woken, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                waiters.discard(entry)

    def _watch(self, stream) -> None:
        while True:
            stream.wait_for_data(stream.clock.now() + WATCH_INTERVAL_S)
            with self._lock:
                waiters = self._waiting[stream]
                if not waiters:
                    del self._waiting[stream]
                    return
                candidates = list(waiters)
            for loop, future, ready in candidates:
                if ready():
                    loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


# --- SubscribeToShard over HTTP --------------------------------------------------------------------
_WATCHERS = StreamWatchers()   # per process: keyed by the stream objects themselves


async def subscribe_to_shard(app, request, client, params: dict, send: Send) -> None:
    """The app's stream handler for Kinesis SubscribeToShard: the client call's errors are the
    app's to answer (nothing is sent before it returns); then the event stream."""
    result = client.subscribe_to_shard(**params)
    request_id = result["ResponseMetadata"]["RequestId"]
    await send_shard_events(send, request.disconnected, result["EventStream"],
                            Encoding(cbor.is_cbor(request.headers.get("content-type"))),
                            [(b"x-amzn-requestid", request_id.encode())], _WATCHERS)


async def send_shard_events(send: Send, disconnected: Callable[[], Awaitable[None]], events, encoding: Encoding,
                            headers: list[tuple[bytes, bytes]], watchers: StreamWatchers) -> None:
    """Answer a SubscribeToShard call whose client result holds `events` (a ShardEventStream):
    the response head, the initial response, then the events until the stream ends or the
    client goes away (the request body must have been read already)."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", CONTENT_TYPE.encode()), *headers]})
    await send({"type": "http.response.body", "more_body": True,
                "body": event_message("initial-response", encoding.encode({}), encoding.content_type)})
    pump = asyncio.ensure_future(_pump(send, events, encoding, watchers))
    gone = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, gone):
            task.cancel()
        events.close()
    if pump.done() and not pump.cancelled():
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump(send: Send, events, encoding: Encoding, watchers: StreamWatchers) -> None:
    try:
        while True:
            deadline = events.wait_until()
            if deadline is not None:
                await watchers.wait(events.stream, max(0.0, deadline - events.stream.clock.now()),
                                    lambda: events.wait_until() is None)
            try:
                event = events.take()
            except StopIteration:
                return
            body = event_message("SubscribeToShardEvent", encoding.encode(event["SubscribeToShardEvent"]),
                                 encoding.content_type)
            await send({"type": "http.response.body", "body": body, "more_body": True})
    except ClientError as error:   # after the head, an error can only be an exception message
        code = "InternalFailureException" if error.error_code == "InternalFailure" else error.error_code
        await _send_exception(send, encoding, code, error.message)
    except Exception:   # a bug: the client still gets the stream's modeled internal failure
        log.exception("SubscribeToShard event stream failed")
        await _send_exception(send, encoding, "InternalFailureException", "Internal service failure.")


async def _send_exception(send: Send, encoding: Encoding, code: str, message: str) -> None:
    await send({"type": "http.response.body", "more_body": True,
                "body": exception_message(code, encoding.encode({"message": message}), encoding.content_type)})

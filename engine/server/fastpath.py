"""Direct paths from a JSON body (or a query form) to the engine for the hot operations.

The generic path decodes a request by its model (blob and timestamp conversion, unknown members
dropped), runs it through the client's wrapper (validator, engine-closed check, error
translation, response metadata) and encodes the result. A fast path takes the parsed body and
first makes sure it is the plain request it knows: only the members it handles, and the
operation's validator (compiled from the model) certain it is valid. Then it calls the
engine's native API (SendMessage, PutRecords: the body straight into the store's columns) or
the client's own method without its wrapper (the batch and read operations, already columnar
inside; SNS Publish from a query form), and the result is encoded as the generic path encodes it.

PutRecords, PutRecordBatch and SendMessage read their bodies themselves: msgspec decodes the
JSON straight into typed members (each entry's Data base64-decoded in C, strictly, as the generic
codec decodes it), so no dict per entry and no Python-level base64 call.

`engine serve` (the app's RSGI entry) hands the hot operations to their paths before it builds
its Request or routes anything (EngineApp._lean), where no signature is to be verified.

Anything else (another member, a doubtful value, a FIFO queue, a long poll, a row the native
API refuses) answers None before anything is stored, and the request takes the generic path,
so every error stays the generic path's. A ClientError the client method raises is translated
as its wrapper translates it (client_base.wire_error). tests/server/test_fastpath.py diffs each
path against the generic one, status, headers and body.
"""
from __future__ import annotations

import msgspec
import numpy as np
import orjson
import pyarrow as pa

from .. import limits
from ..client_base import wire_error
from ..errors import ClientError
from ..request import service_models
from ..request.validate import compile_fast_check, validator_for
from .protocols import json as json_protocol



class FastPath:
    """One operation's direct path: the members it takes, the model's compiled check, the handler
    (app, request, client, params, account, region) -> the result dict or the encoded body, or None
    for the generic path. With a `body_type` (a msgspec Struct of the plain request), the path
    decodes the raw body itself (`answer_body`) and the handler gets the Struct."""

    __slots__ = ("service", "operation", "members", "check", "handler", "blobs", "decoder")

    def __init__(self, service: str, operation: str, members, handler, body_type=None,
                 entries_checked: frozenset = frozenset()):
        self.service = service
        self.operation = operation
        self.members = frozenset(members)
        # The model's compiled check, None where the typed decode already proves it (the Struct's
        # required str members are all the model asks); entries_checked: list members whose
        # entries the handler checks itself (the check takes only the list's type and length).
        if body_type is not None and _decoding_proves_valid(body_type, service, operation):
            self.check = None
        elif entries_checked:
            self.check = compile_fast_check(service, service_models.operation_model(service, operation).input_shape,
                                            entries_checked)
        else:
            self.check = validator_for(service, operation).fast
        self.handler = handler
        self.decoder = None if body_type is None else msgspec.json.Decoder(body_type)
        # Base64 blobs (and epoch timestamps) converted by the codec's own converter before the
        # check (the check takes text for a blob, as boto3 does), unless msgspec decodes them.
        self.blobs = None if body_type is not None else \
            json_protocol.Operation(service_models.operation_model(service, operation)).convert

    def answer_body(self, app, request, account: str, region: str) -> bytes | None:
        """The JSON response body for a request this path decodes itself, or None: the generic
        path answers (a body that is not the plain request, an invalid value, a refusal)."""
        try:
            body = self.decoder.decode(request.body)
        except msgspec.DecodeError:   # (ValidationError is one: another member, a type, bad base64)
            return None
        if self.check is not None:
            top = {name: value for name in self.members if (value := getattr(body, name)) is not msgspec.UNSET}
            if not self.check(top):
                return None
        result = self._run(app, request, body, account, region)
        if result is None or result.__class__ is bytes:
            return result
        return json_protocol.encode(result)

    def answer(self, app, request, params: dict, account: str, region: str) -> bytes | None:
        """The JSON response body, or None: the generic path answers."""
        result = self.result(app, request, params, account, region)
        if result is None or result.__class__ is bytes:
            return result
        return json_protocol.encode(result)

    def result(self, app, request, params: dict, account: str, region: str) -> dict | bytes | None:
        """The result (dict, or the encoded body), or None: the generic path answers (the
        conversion is idempotent: it may run again there)."""
        if not params.keys() <= self.members:
            return None
        if self.blobs is not None:
            try:
                self.blobs(params)
            except ValueError:   # (not base64: the generic path's SerializationException)
                return None
        if not self.check(params):
            return None
        return self._run(app, request, params, account, region)

    def _run(self, app, request, params, account: str, region: str):
        client = app._client(account, self.service, region)
        if client._engine._closed:
            return None   # (the wrapper's EngineClosed)
        try:
            return self.handler(app, request, client, params, account, region)
        except ClientError as err:
            raise wire_error(err.with_operation(self.operation), self.service) from None


def _decoding_proves_valid(body_type, service: str, operation: str) -> bool:
    """Whether a body msgspec decoded into `body_type` is valid by the model without a check:
    every field a required str member with no constraint, and every required member a field
    (the Struct refuses unknown members and wrong types itself)."""
    shape = service_models.operation_model(service, operation).input_shape
    fields = msgspec.structs.fields(body_type)
    for field in fields:
        member = shape.members.get(field.name)
        if member is None or member.type_name != "string" or member.metadata or field.type is not str \
                or field.required is False:
            return False
    return set(shape.required_members) <= {field.name for field in fields}


def _unwrapped(method_name: str):
    """The client's method without its wrapper (its validator already passed, as fast.check)."""
    def call(app, request, client, params, account, region):
        return getattr(type(client), method_name).__wrapped__(client, **params)
    return call


# --- SQS -------------------------------------------------------------------------------------------
def _queue_url(app, request, url: str, account: str, region: str) -> str:
    """The request's queue URL as the engine names it (clients name it by this endpoint's Host)."""
    engine_prefix, wire_prefix = app._url_prefix(request, account, region)
    return engine_prefix + url[len(wire_prefix):] if url.startswith(wire_prefix) else url


def _sqs_unwrapped(method_name: str):
    method = _unwrapped(method_name)

    def call(app, request, client, params, account, region):
        params["QueueUrl"] = _queue_url(app, request, params["QueueUrl"], account, region)
        return method(app, request, client, params, account, region)
    return call


class _SendMessageBody(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    QueueUrl: str
    MessageBody: str


def send_message(app, request, client, body: _SendMessageBody, account, region):
    """A standard queue's message straight into the store."""
    queue = client._by_url.get(_queue_url(app, request, body.QueueUrl, account, region))
    if queue is None or queue.fifo or queue.deleted:
        return None
    stored = queue.send_raw((body.MessageBody,))
    if stored.status is not None:   # (refused, nothing stored: the generic path says why)
        return None
    return {"MessageId": stored.ids[0], "MD5OfMessageBody": stored.md5s[0]}


def receive_message(app, request, client, params, account, region):
    """A receive that waits for nothing (a long poll is the generic path's, on the event loop)."""
    url = _queue_url(app, request, params["QueueUrl"], account, region)
    queue = client._by_url.get(url)
    if queue is None or params.get("WaitTimeSeconds", queue.wait_time):
        return None
    params["QueueUrl"] = url
    return type(client).receive_message.__wrapped__(client, **params)


# --- Kinesis ---------------------------------------------------------------------------------------
# gc=False: entries hold only bytes and text (no cycles), so the collector need not track 500 of
# them per request (a fifth of the decode).
class _PutRecordsEntry(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    Data: bytes          # (base64 in JSON: msgspec decodes it, as strictly as the generic codec)
    PartitionKey: str


class _PutRecordsBody(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    Records: list[_PutRecordsEntry]
    # (UNSET when absent: an explicit null is not absent, and the generic path refuses its type)
    StreamName: str | msgspec.UnsetType = msgspec.UNSET
    StreamARN: str | msgspec.UnsetType = msgspec.UNSET


def put_records(app, request, client, body: _PutRecordsBody, account, region):
    """Plain entries (Data and PartitionKey) straight into Arrow columns for the stream. An
    engine that enforces the throughput limits may store part of a batch: the generic path's."""
    if client._engine.enforce_limits:
        return None
    records = body.Records
    try:
        data = pa.array([r.Data for r in records], pa.binary())
        keys = pa.array([r.PartitionKey for r in records], pa.string())
    except (pa.ArrowException, UnicodeEncodeError):   # (a lone surrogate: the generic path's error)
        return None
    try:
        stream = client._stream(_given(body.StreamName), _given(body.StreamARN))
        result = stream.put_records(data, keys)
    except ClientError:
        return None   # (refused before anything is stored; the generic path judges the entries first)
    return _put_records_response(stream, result.sequence_number, result.shard_index)


def _given(value):
    """A member's value, None when the body left it out."""
    return None if value is msgspec.UNSET else value


_ENTRY_HEAD = b'{"SequenceNumber":"'


def _put_records_response(stream, sequence_numbers: np.ndarray, shard_index: np.ndarray) -> bytes:
    """The generic encoder's PutRecords body for stored rows, built in C: the sequence numbers'
    digits from orjson, interleaved with each row's shard tail (which opens the next entry)."""
    shard_ids = [orjson.dumps(s.shard_id) for s in stream.shards]
    tails = np.array([b'","ShardId":' + i + b"}," + _ENTRY_HEAD for i in shard_ids], dtype=object)
    digits = orjson.dumps(sequence_numbers, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    parts = [_ENTRY_HEAD] * (2 * len(digits) + 1)
    parts[0] = b'{"FailedRecordCount":0,"Records":[' + _ENTRY_HEAD
    parts[1::2] = digits
    parts[2::2] = tails[shard_index].tolist()
    parts[-1] = b'","ShardId":' + shard_ids[shard_index[-1]] + b'}],"EncryptionType":' + \
        orjson.dumps(stream.encryption_type) + b"}"
    return b"".join(parts)


# --- Firehose --------------------------------------------------------------------------------------
class _FirehoseRecord(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    Data: bytes          # (base64 in JSON: msgspec decodes it, as strictly as the generic codec)


class _PutRecordBatchBody(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    DeliveryStreamName: str
    Records: list[_FirehoseRecord]


def put_record_batch(app, request, client, body: _PutRecordBatchBody, account, region):
    """The records' bytes as msgspec decoded them, straight to the delivery stream (the check
    took the list's length; a record over the model's size is the generic path's error)."""
    blobs = [r.Data for r in body.Records]
    if max(map(len, blobs)) > limits.FIREHOSE_RECORD_MAX:
        return None
    return client._put_blobs(body.DeliveryStreamName, blobs)


def fast_paths() -> dict[tuple[str, str], FastPath]:
    """{(service, operation): FastPath} for the JSON protocol."""
    paths = [
        FastPath("sqs", "SendMessage", ("QueueUrl", "MessageBody"), send_message, body_type=_SendMessageBody),
        FastPath("sqs", "SendMessageBatch", ("QueueUrl", "Entries"), _sqs_unwrapped("send_message_batch")),
        FastPath("sqs", "ReceiveMessage", ("QueueUrl", "MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds"),
                 receive_message),
        FastPath("sqs", "DeleteMessage", ("QueueUrl", "ReceiptHandle"), _sqs_unwrapped("delete_message")),
        FastPath("sqs", "DeleteMessageBatch", ("QueueUrl", "Entries"), _sqs_unwrapped("delete_message_batch")),
        FastPath("kinesis", "PutRecords", ("StreamName", "StreamARN", "Records"), put_records,
                 body_type=_PutRecordsBody),
        FastPath("kinesis", "GetRecords", ("ShardIterator", "Limit", "StreamARN"), _unwrapped("get_records")),
        FastPath("kinesis", "PutRecord", ("StreamName", "StreamARN", "Data", "PartitionKey", "ExplicitHashKey"),
                 _unwrapped("put_record")),
        FastPath("firehose", "PutRecordBatch", ("DeliveryStreamName", "Records"), put_record_batch,
                 body_type=_PutRecordBatchBody, entries_checked=frozenset({"Records"})),
    ]
    return {(p.service, p.operation): p for p in paths}


def query_fast_paths() -> dict[tuple[str, str], FastPath]:
    """{(service, operation): FastPath} for the query protocol: the form's plain text members
    (no list or map members, whose flattened names need the codec), the result encoded as XML
    by the generic codec."""
    paths = [
        FastPath("sns", "Publish", ("TopicArn", "TargetArn", "Message", "Subject"), _unwrapped("publish")),
    ]
    return {(p.service, p.operation): p for p in paths}

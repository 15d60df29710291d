"""Kinesis behaviour tests: fixtures and oracles.

`kin` is the boto3-shaped client wrapped so that every response it returns is checked
against botocore's output shape for that operation (the `shape` fixture), including each
event of a SubscribeToShard EventStream. hashlib's MD5 is the routing oracle and
botocore's own ParamValidator tells which bad inputs boto3 refuses before sending.
"""
import hashlib

import botocore.session
import pytest
from botocore.validate import ParamValidator

import engine
from engine.client_base import operation_name
from tests.shapes import _check, output_shape

HASH_MAX = 2**128 - 1
ACCOUNT = "000000000000"
REGION = "us-east-1"

_model = botocore.session.get_session().get_service_model("kinesis")


def md5_int(key: str) -> int:
    return int.from_bytes(hashlib.md5(key.encode("utf-8")).digest(), "big")


def stream_arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def botocore_refuses(operation: str, params: dict) -> bool:
    """Would boto3 refuse these parameters client-side (ParamValidationError)?"""
    report = ParamValidator().validate(params, _model.operation_model(operation).input_shape)
    return report.has_errors()


def check_event(event: dict) -> None:
    """A SubscribeToShard event against the EventStream member's shape."""
    errors = []
    _check(output_shape("kinesis", "SubscribeToShard").members["EventStream"], event, "EventStream", errors)
    assert not errors, "\n".join(errors)


class _CheckedEvents:
    def __init__(self, events):
        self._events = events
        self.raw = events

    def __iter__(self):
        return self

    def __next__(self):
        event = next(self._events)
        check_event(event)
        return event

    def close(self):
        self._events.close()


class ShapeCheckedClient:
    """Delegates to an engine Kinesis client; validates every response against botocore."""

    def __init__(self, client, shape):
        self._client = client
        self._shape = shape

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if name.startswith("_") or not callable(attr) or not getattr(attr, "operation_name", None):
            return attr
        op = operation_name(name)

        def call(**kwargs):
            response = attr(**kwargs)
            if op == "SubscribeToShard":
                # the output is the EventStream alone; its events are checked one by one
                assert set(response) == {"EventStream", "ResponseMetadata"}, set(response)
                assert set(output_shape("kinesis", op).members) == {"EventStream"}
                assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
                response["EventStream"] = _CheckedEvents(response["EventStream"])
            else:
                self._shape("kinesis", op, response)
            return response

        return call

    def get_paginator(self, name):
        paginator = self._client.get_paginator(name)
        shape, op = self._shape, operation_name(name)

        class Checked:
            def paginate(self, **kwargs):
                for page in paginator.paginate(**kwargs):
                    shape("kinesis", op, page)
                    yield page

        return Checked()


@pytest.fixture
def kin(eng, shape):
    return ShapeCheckedClient(eng.client("kinesis"), shape)


@pytest.fixture
def raw(eng):
    """The unwrapped client (for exceptions and paginators)."""
    return eng.client("kinesis")


@pytest.fixture
def backend(eng):
    return eng.backend("kinesis")


@pytest.fixture
def limited(clock, tmp_path):
    """An Engine that applies the documented per-shard throughput limits."""
    e = engine.Engine(clock=clock, enforce_limits=True, s3_root=str(tmp_path / "s3"))
    yield e
    e.close()


def make_stream(kin, name="s", shards=1, **kwargs):
    kin.create_stream(StreamName=name, ShardCount=shards, **kwargs)
    return name


def list_all_shards(kin, name, **kwargs):
    return kin.list_shards(StreamName=name, **kwargs)["Shards"]


def open_shards(kin, name):
    return [s for s in list_all_shards(kin, name) if "EndingSequenceNumber" not in s["SequenceNumberRange"]]


def owner(shards, hash_key: int) -> str:
    """The shard whose HashKeyRange holds hash_key (exactly one must)."""
    owners = [s["ShardId"] for s in shards
              if int(s["HashKeyRange"]["StartingHashKey"]) <= hash_key <= int(s["HashKeyRange"]["EndingHashKey"])]
    assert len(owners) == 1, (hash_key, owners)
    return owners[0]


def iterator(kin, name, shard, kind="TRIM_HORIZON", **kwargs):
    return kin.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType=kind, **kwargs)["ShardIterator"]


def drain(kin, it, limit=None, max_calls=1000):
    """Read from an iterator until caught up (empty page) or the closed shard's end.
    Returns (records, last response)."""
    records = []
    for _ in range(max_calls):
        kwargs = {"ShardIterator": it}
        if limit is not None:
            kwargs["Limit"] = limit
        resp = kin.get_records(**kwargs)
        records.extend(resp["Records"])
        if "NextShardIterator" not in resp:
            return records, resp
        it = resp["NextShardIterator"]
        if not resp["Records"]:
            return records, resp
    raise AssertionError("iterator never caught up")


def read_shard(kin, name, shard):
    return drain(kin, iterator(kin, name, shard))[0]


def read_stream(kin, name):
    """{shard id: [records]} for every shard list_shards shows."""
    return {s["ShardId"]: read_shard(kin, name, s["ShardId"]) for s in list_all_shards(kin, name)}

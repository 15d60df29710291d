"""Event stream framing and SubscribeToShard over ASGI (engine/server/eventstream.py), read back
with botocore's own event stream parser (CRCs checked) as boto3 reads it."""
from __future__ import annotations

import asyncio
import threading

import botocore.session
import cbor2
import pytest
from botocore.eventstream import ChecksumMismatch, EventStream, EventStreamBuffer, EventStreamError
from botocore.parsers import EventStreamJSONParser

import engine
from tests import shapes
from engine.server import eventstream
from engine.server.eventstream import Encoding, StreamWatchers

SAFETY_S = 30   # an await that should return at once; only a hang reaches this

_output = botocore.session.get_session().get_service_model("kinesis").operation_model("SubscribeToShard").output_shape


def _messages(data: bytes) -> list:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def _boto3_events(data: bytes) -> EventStream:
    class Raw:
        def stream(self):
            yield data
    return EventStream(Raw(), _output.members["EventStream"], EventStreamJSONParser(), "SubscribeToShard")


def test_message_framing_parses_with_botocore_and_checks_crcs():
    frame = eventstream.event_message("SubscribeToShardEvent", b'{"a":1}', "application/json")
    (message,) = _messages(frame)
    assert message.headers == {":event-type": "SubscribeToShardEvent", ":content-type": "application/json",
                               ":message-type": "event"}
    assert message.payload == b'{"a":1}'
    assert message.prelude.total_length == len(frame)
    corrupted = bytearray(frame)
    corrupted[-5] ^= 1
    with pytest.raises(ChecksumMismatch):
        _messages(bytes(corrupted))


def test_exception_message_reads_as_the_modeled_error():
    frame = eventstream.exception_message("ResourceInUseException", b'{"message":"busy"}', "application/json")
    with pytest.raises(EventStreamError) as info:
        list(_boto3_events(frame))
    assert info.value.response["Error"] == {"Code": "ResourceInUseException", "Message": "busy"}


@pytest.fixture
def kinesis():
    eng = engine.Engine()
    client = eng.client("kinesis")
    client.create_stream(StreamName="s", ShardCount=1)
    arn = client.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    consumer = client.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]["ConsumerARN"]
    yield client, consumer
    eng.close()


class _Asgi:
    """send and the hang-up watch of one HTTP exchange; the client hangs up when `hang_up` is set."""

    def __init__(self):
        self.messages: list[dict] = []
        self.hang_up = asyncio.Event()
        self.events_seen = 0

    async def send(self, message: dict) -> None:
        self.messages.append(message)

    async def disconnected(self) -> None:
        await self.hang_up.wait()

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


def _subscribe(client, consumer, starting="TRIM_HORIZON"):
    return client.subscribe_to_shard(ConsumerARN=consumer, ShardId="shardId-000000000000",
                                     StartingPosition={"Type": starting})["EventStream"]


def _check_event(event: dict) -> None:
    errors: list[str] = []
    shapes._check(_output.members["EventStream"], event, "event", errors)
    assert not errors and set(event) == {"SubscribeToShardEvent"}, errors


def test_subscription_streams_records_then_child_shards_as_boto3_reads_them(kinesis):
    client, consumer = kinesis
    client.put_records(StreamName="s", Records=[{"Data": b"\x00one", "PartitionKey": "a"},
                                                {"Data": b"two", "PartitionKey": "b"}])
    client.split_shard(StreamName="s", ShardToSplit="shardId-000000000000",
                       NewStartingHashKey=str(2 ** 127))   # the shard closes: its stream ends
    asgi = _Asgi()
    asyncio.run(asyncio.wait_for(eventstream.send_shard_events(
        asgi.send, asgi.disconnected, _subscribe(client, consumer), Encoding(use_cbor=False),
        [(b"x-amzn-requestid", b"r1")], StreamWatchers()), SAFETY_S))
    start = asgi.messages[0]
    assert start["status"] == 200 and (b"content-type", b"application/vnd.amazon.eventstream") in start["headers"]
    assert asgi.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    first = _messages(asgi.body)[0]
    assert first.headers[":event-type"] == "initial-response"
    events = list(_boto3_events(asgi.body))
    for event in events:
        _check_event(event)
    records = [r for e in events for r in e["SubscribeToShardEvent"]["Records"]]
    assert [r["Data"] for r in records] == [b"\x00one", b"two"]
    assert records[0]["ApproximateArrivalTimestamp"].tzinfo is not None
    assert len(events[-1]["SubscribeToShardEvent"]["ChildShards"]) == 2


def test_cbor_subscription_payloads_are_cbor_with_millisecond_timestamps(kinesis):
    client, consumer = kinesis
    client.put_record(StreamName="s", Data=b"\x01", PartitionKey="a")
    client.split_shard(StreamName="s", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2 ** 127))
    asgi = _Asgi()
    asyncio.run(asyncio.wait_for(eventstream.send_shard_events(
        asgi.send, asgi.disconnected, _subscribe(client, consumer), Encoding(use_cbor=True), [], StreamWatchers()),
        SAFETY_S))
    messages = _messages(asgi.body)
    assert {m.headers[":content-type"] for m in messages} == {"application/x-amz-cbor-1.1"}
    event = cbor2.loads(messages[1].payload, semantic_decoders={1: lambda value, _immutable: ("ms", value)})
    record = event["Records"][0]
    assert record["Data"] == b"\x01" and record["ApproximateArrivalTimestamp"][0] == "ms"


def test_a_put_wakes_a_waiting_subscription_and_a_hang_up_ends_it(kinesis):
    client, consumer = kinesis
    events = _subscribe(client, consumer, "LATEST")
    asgi = _Asgi()

    async def scenario():
        task = asyncio.ensure_future(eventstream.send_shard_events(
            asgi.send, asgi.disconnected, events, Encoding(use_cbor=False), [], StreamWatchers()))
        while len(asgi.messages) < 2:   # head and initial response sent
            await asyncio.sleep(0)
        client.put_record(StreamName="s", Data=b"woke", PartitionKey="a")
        while not any(b"d29rZQ" in m.get("body", b"") for m in asgi.messages):   # base64 of b"woke"
            await asyncio.sleep(0.01)
        asgi.hang_up.set()
        await task

    asyncio.run(asyncio.wait_for(scenario(), SAFETY_S))
    records = [r for e in _boto3_events(asgi.body) for r in e["SubscribeToShardEvent"]["Records"]]
    assert [r["Data"] for r in records] == [b"woke"]
    assert events.wait_until() is None   # closed with the connection


def test_watchers_share_one_thread_per_stream_and_wake_only_the_ready(kinesis):
    client, consumer = kinesis
    stream = _subscribe(client, consumer).stream
    watchers = StreamWatchers()
    before = threading.active_count()
    woken_idle = []

    async def scenario():
        ready = asyncio.ensure_future(asyncio.gather(*(
            watchers.wait(stream, 3600, lambda: stream.shard("shardId-000000000000").has_records_from(0))
            for _ in range(50))))
        idle = asyncio.ensure_future(watchers.wait(stream, 3600, lambda: woken_idle.append(1) and False))
        await asyncio.sleep(0.05)
        assert threading.active_count() == before + 1
        client.put_record(StreamName="s", Data=b"x", PartitionKey="a")
        await ready   # the 50 whose condition a put made true
        assert not idle.done()   # asked (woken_idle), never woken
        idle.cancel()

    asyncio.run(asyncio.wait_for(scenario(), SAFETY_S))
    assert woken_idle


# --- over the wire: boto3's SubscribeToShard (HTTP/1.1) against engine serve ------------------------
@pytest.fixture(scope="module")
def wire_kinesis(tmp_path_factory):
    import boto3
    from botocore.config import Config

    from tests.server.wire_server import serve

    with serve("--s3-root", str(tmp_path_factory.mktemp("events") / "s3")) as endpoint:
        yield boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))


def _wire_consumer(client, name: str) -> str:
    client.create_stream(StreamName=name, ShardCount=1)
    arn = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return client.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]["ConsumerARN"]


def test_wire_boto3_reads_records_put_before_and_while_subscribed(wire_kinesis):
    client = wire_kinesis
    consumer = _wire_consumer(client, "wire")
    client.put_record(StreamName="wire", Data=b"before", PartitionKey="a")
    response = client.subscribe_to_shard(ConsumerARN=consumer, ShardId="shardId-000000000000",
                                         StartingPosition={"Type": "TRIM_HORIZON"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    seen = []
    for event in response["EventStream"]:
        _check_event(event)
        seen += [r["Data"] for r in event["SubscribeToShardEvent"]["Records"]]
        if seen == [b"before"]:
            client.put_record(StreamName="wire", Data=b"while", PartitionKey="a")
        if len(seen) == 2:
            break
    response["EventStream"].close()
    assert seen == [b"before", b"while"]


def test_wire_subscription_errors_before_the_stream_are_plain_errors(wire_kinesis):
    from botocore.exceptions import ClientError

    client = wire_kinesis
    consumer = _wire_consumer(client, "busy")
    first = client.subscribe_to_shard(ConsumerARN=consumer, ShardId="shardId-000000000000",
                                      StartingPosition={"Type": "LATEST"})
    with pytest.raises(ClientError) as info:   # a second subscription within 5 s
        client.subscribe_to_shard(ConsumerARN=consumer, ShardId="shardId-000000000000",
                                  StartingPosition={"Type": "LATEST"})
    assert info.value.response["Error"]["Code"] == "ResourceInUseException"
    first["EventStream"].close()
    with pytest.raises(ClientError) as info:
        client.subscribe_to_shard(ConsumerARN=consumer, ShardId="shardId-000000000099",
                                  StartingPosition={"Type": "LATEST"})
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_failure_after_the_head_is_an_internal_failure_exception_message(kinesis):
    client, consumer = kinesis
    events = _subscribe(client, consumer)

    def broken():
        raise RuntimeError("a bug")
    events.take = broken
    asgi = _Asgi()
    asyncio.run(asyncio.wait_for(eventstream.send_shard_events(
        asgi.send, asgi.disconnected, events, Encoding(use_cbor=False), [], StreamWatchers()), SAFETY_S))
    assert asgi.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    with pytest.raises(EventStreamError) as info:
        list(_boto3_events(asgi.body))
    assert info.value.response["Error"]["Code"] == "InternalFailureException"

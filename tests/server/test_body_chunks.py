"""A request body granian hands over in several chunks (more_body) reads as the whole body."""
from __future__ import annotations

import asyncio
import base64
import json

import engine
from engine.server.app import make_app


def _put_in_chunks(app, body: bytes, chunks: int):
    size = -(-len(body) // chunks)
    messages = [{"type": "http.request", "body": body[k:k + size], "more_body": k + size < len(body)}
                for k in range(0, len(body), size)]
    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "scheme": "http",
             "server": ("127.0.0.1", 4566),
             "headers": [(b"host", b"127.0.0.1:4566"), (b"x-amz-target", b"Kinesis_20131202.PutRecords"),
                         (b"content-type", b"application/x-amz-json-1.1")]}
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_a_body_in_chunks_is_read_whole(shape):
    eng = engine.Engine()
    try:
        app = make_app(eng)
        kinesis = eng.client("kinesis")
        kinesis.create_stream(StreamName="s", ShardCount=1)
        data = [bytes([k]) * 300 for k in range(50)]
        body = json.dumps({"StreamName": "s", "Records": [
            {"Data": base64.b64encode(d).decode(), "PartitionKey": str(k)} for k, d in enumerate(data)]}).encode()
        status, out = _put_in_chunks(app, body, 7)
        assert status == 200 and out["FailedRecordCount"] == 0
        shape("kinesis", "PutRecords", {**out, "ResponseMetadata": {"HTTPStatusCode": status}})
        shard = kinesis.list_shards(StreamName="s")["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(StreamName="s", ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == data
    finally:
        eng.close()

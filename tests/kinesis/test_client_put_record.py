"""PutRecord's single-record path (bytes and a str key straight into one-row arrays) stores
and refuses exactly what a one-record PutRecords batch does."""
from __future__ import annotations

import pytest

import engine
from engine.errors import ClientError

ROWS = [
    (b"payload", "key"),
    (b"", "é✓"),                              # empty data, a multi-byte key
    (b"\x00\xff" * 10, "k" * 256),            # binary data, the longest key
    (b"x" * (1024 * 1024 - 3), "abc"),        # data + key exactly at the record size
    ("text data", "key"),                     # a str blob (the native API takes one)
    (bytearray(b"mutable"), "key"),
]
BAD = [
    (b"x", "\ud800"),                         # a key that is not UTF-8 text
    (b"x", ""),                               # a key too short
    (b"x", "k" * 257),                        # a key too long
    (b"x" * (1024 * 1024 - 2), "abc"),        # data + key over the record size
    (b"x", b"bytes key \xff"),                # a bytes key that is not UTF-8
]


@pytest.fixture
def streams():
    eng = engine.Engine(clock=engine.ManualClock())
    backend = eng.backend("kinesis")
    for name in ("single", "batch"):
        eng.client("kinesis").create_stream(StreamName=name, ShardCount=3)
    yield backend.stream("single"), backend.stream("batch")
    eng.close()


def _stored(stream):
    rows = []
    for shard in stream.shards:
        batch = stream.read_table(shard.shard_id).to_pydict()
        rows += [(d, k, shard.shard_id) for d, k in zip(batch["data"], batch["partition_key"])]
    return rows


def test_put_record_stores_what_a_one_record_batch_stores(streams):
    single, batch = streams
    for data, key in ROWS:
        shard, seq = single.put_record(data, key)
        result = batch.put_records([data], [key])
        assert shard.shard_id == batch.shards[int(result.shard_index[0])].shard_id
        assert seq > 0
    assert _stored(single) == _stored(batch)
    assert len(_stored(single)) == len(ROWS)


@pytest.mark.parametrize("data,key", BAD)
def test_put_record_refuses_what_a_one_record_batch_refuses(streams, data, key):
    single, batch = streams
    with pytest.raises(ClientError) as got:
        single.put_record(data, key)
    with pytest.raises(ClientError) as expected:
        batch.put_records([data], [key])
    assert type(got.value) is type(expected.value)
    # (PutRecord names its own members; a batch names the row)
    assert str(got.value).replace("records.1.member.", "") == str(expected.value).replace("records.1.member.", "")
    assert _stored(single) == []


def test_put_record_through_the_client(streams, shape):
    eng_client = engine.Engine(clock=engine.ManualClock())
    try:
        kinesis = eng_client.client("kinesis")
        kinesis.create_stream(StreamName="s", ShardCount=2)
        response = kinesis.put_record(StreamName="s", Data=b"abc", PartitionKey="é")
        shape("kinesis", "PutRecord", response)
        iterator = kinesis.get_shard_iterator(StreamName="s", ShardId=response["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator)["Records"]
        assert [(r["Data"], r["PartitionKey"], r["SequenceNumber"]) for r in records] == \
            [(b"abc", "é", response["SequenceNumber"])]
    finally:
        eng_client.close()

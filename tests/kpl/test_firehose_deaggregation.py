"""Firehose's two deaggregations: KPL aggregates of a Kinesis source become user records; the
RecordDeAggregation processor splits JSON or delimited sub-records."""
import base64

import pyarrow as pa

from engine import limits
from engine.firehose.transform import source_user_records, split_sub_records
from engine.kinesis import kpl


def _read(eng, shards=1):
    kinesis = eng.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="s", ShardCount=shards)
    return kinesis, eng.backend("kinesis").get_stream("s")


def test_plain_reads_pass_through_unchanged(eng):
    kinesis, stream = _read(eng)
    kinesis.put_record(StreamName="s", Data=b"plain", PartitionKey="p")
    batch = stream.read(0)
    assert source_user_records(batch) is batch


def test_aggregates_become_user_records_in_the_read_schema(eng):
    kinesis, stream = _read(eng)
    kinesis.put_record(StreamName="s", Data=b"before", PartitionKey="p")
    kpl.Producer(stream).put([b'{"n":1}', b'{"n":2}'], ["a", "b"])
    kinesis.put_record(StreamName="s", Data=b"after", PartitionKey="p")
    batch = stream.read(0)
    users = source_user_records(batch)
    assert users.schema == batch.schema
    assert users.column("data").to_pylist() == [b"before", b'{"n":1}', b'{"n":2}', b"after"]
    assert users.column("partition_key").to_pylist() == ["p", "a", "b", "p"]
    seqs = users.column("sequence_number").to_pylist()
    assert seqs[1] == seqs[2] and seqs == sorted(seqs)


def test_json_sub_records():
    data = pa.array([b'{"a":1}{"a":2}', b'{"b":1}\n{"b":2}\n', b'{"c": [1, 2]}', b'[{"d":1}]', b"not json",
                     b""], pa.binary())
    pieces, sources, failed = split_sub_records(data, "JSON")
    assert pieces.to_pylist() == [b'{"a":1}', b'{"a":2}', b'{"b":1}', b'{"b":2}', b'{"c": [1, 2]}']
    assert sources.tolist() == [0, 0, 1, 1, 2]
    assert failed.tolist() == [3, 4]


def test_delimited_sub_records():
    data = pa.array([b"x####y####z", b"alone", b"####"], pa.binary())
    pieces, sources, failed = split_sub_records(data, "DELIMITED", base64.b64encode(b"####").decode())
    assert pieces.to_pylist() == [b"x", b"y", b"z", b"alone"]
    assert sources.tolist() == [0, 0, 0, 1] and failed.tolist() == []


def test_more_than_the_cap_fails_the_record():
    too_many = b"".join(b'{"i":%d}' % i for i in range(limits.FIREHOSE_SUB_RECORDS_MAX + 1))
    pieces, sources, failed = split_sub_records(pa.array([too_many, b'{"ok":1}'], pa.binary()), "JSON")
    assert failed.tolist() == [0] and pieces.to_pylist() == [b'{"ok":1}']

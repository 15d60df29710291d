"""The native bulk API on the stream model: put_batch with lists, numpy and pyarrow arrays,
read() returning a pyarrow RecordBatch, read_table across chunks."""
import datetime

import numpy as np
import pyarrow as pa
import pytest

from engine import _core
from engine.errors import ClientError, ValidationException
from tests.kinesis.conftest import HASH_MAX, md5_int

N = 64
KEYS = [f"key-{i}-é" for i in range(N)]
DATA = [f"value-{i}".encode() * (i % 5 + 1) for i in range(N)]


@pytest.fixture
def stream(backend):
    backend.create_stream("native", 4)
    return backend.get_stream("native")


def _owner_index(stream, hash_key):
    owners = [s.index for s in stream.open_shards() if s.start_hash <= hash_key <= s.end_hash]
    assert len(owners) == 1
    return owners[0]


def _assert_stored(stream, result, keys, data):
    keys = [k.decode() if isinstance(k, bytes) else k for k in keys]
    data = [d.encode() if isinstance(d, str) else d for d in data]
    assert isinstance(result.shard_index, np.ndarray) and isinstance(result.sequence_number, np.ndarray)
    assert result.sequence_number.dtype == np.int64
    assert len(result.shard_index) == len(keys) == len(result.sequence_number)
    assert result.failed_count == 0
    for k, idx in zip(keys, result.shard_index.tolist()):
        assert idx == _owner_index(stream, md5_int(k))
    rows = {}
    for s in stream.shards:
        table = stream.read_table(s.index)
        for k, d, q in zip(table.column("partition_key").to_pylist(), table.column("data").to_pylist(),
                           table.column("sequence_number").to_pylist()):
            rows[q] = (k, d, s.index)
    for k, d, q, idx in zip(keys, data, result.sequence_number.tolist(), result.shard_index.tolist()):
        assert rows[q] == (k, d, idx)


@pytest.mark.parametrize("form", ["list", "list-str-data", "list-bytes-keys", "numpy-fixed", "numpy-object",
                                  "arrow", "arrow-large", "arrow-chunked"])
def test_put_batch_input_forms(stream, form):
    keys, data = KEYS, DATA
    if form == "list-str-data":
        data = [d.decode() for d in DATA]
    elif form == "list-bytes-keys":
        keys = [k.encode() for k in KEYS]
    elif form == "numpy-fixed":
        keys, data = np.array(KEYS), np.array(DATA)          # <U and |S dtypes
    elif form == "numpy-object":
        keys, data = np.array(KEYS, dtype=object), np.array(DATA, dtype=object)
    elif form == "arrow":
        keys, data = pa.array(KEYS, pa.string()), pa.array(DATA, pa.binary())
    elif form == "arrow-large":
        keys, data = pa.array(KEYS, pa.large_string()), pa.array(DATA, pa.large_binary())
    elif form == "arrow-chunked":
        keys = pa.chunked_array([KEYS[:10], KEYS[10:]], pa.string())
        data = pa.chunked_array([DATA[:30], DATA[30:]], pa.binary())
    result = stream.put_batch(data, keys)
    _assert_stored(stream, result, KEYS, DATA)


def test_put_batch_explicit_hash_keys(stream):
    starts = sorted(s.start_hash for s in stream.open_shards())
    explicit = [str(starts[2]), None, "0", str(HASH_MAX), pa.scalar(str(starts[1] - 1)).as_py()]
    keys = ["a", "b", "c", "d", "e"]
    result = stream.put_batch([b"1", b"2", b"3", b"4", b"5"], keys, explicit_hash_keys=explicit)
    expected = [_owner_index(stream, starts[2]), _owner_index(stream, md5_int("b")), _owner_index(stream, 0),
                _owner_index(stream, HASH_MAX), _owner_index(stream, starts[1] - 1)]
    assert result.shard_index.tolist() == expected
    arrow_explicit = pa.array(explicit, pa.string())
    again = stream.put_batch([b"1", b"2", b"3", b"4", b"5"], keys, explicit_hash_keys=arrow_explicit)
    assert again.shard_index.tolist() == expected


def test_put_batch_sequence_numbers_increase_per_shard(stream):
    last = {}
    for round_ in range(5):
        keys = [f"{round_}-{i}" for i in range(1000)]
        result = stream.put_batch([b"x"] * 1000, keys)
        for idx, seq in zip(result.shard_index.tolist(), result.sequence_number.tolist()):
            assert seq > last.get(idx, -1)
            last[idx] = seq
    assert len(last) == 4


def test_read_returns_a_record_batch(stream, clock):
    stream.put_batch(DATA, KEYS, explicit_hash_keys=["0"] * N)
    batch = stream.read(0)
    assert isinstance(batch, pa.RecordBatch)
    assert batch.schema == _core.RECORD_SCHEMA
    assert batch.schema.names == ["partition_key", "data", "sequence_number", "approximate_arrival_timestamp"]
    assert batch.column("partition_key").to_pylist() == KEYS
    assert batch.column("data").to_pylist() == DATA
    seqs = batch.column("sequence_number").to_pylist()
    assert seqs == sorted(seqs)
    stamps = batch.column("approximate_arrival_timestamp").to_pylist()
    assert set(stamps) == {datetime.datetime.fromtimestamp(clock.now(), datetime.timezone.utc)}
    # from a sequence number, with a limit; by shard id as well as index
    part = stream.read("shardId-000000000000", start_seq=seqs[10], limit=5)
    assert part.column("sequence_number").to_pylist() == seqs[10:15]
    assert stream.read(0, start_seq=seqs[-1] + 1).num_rows == 0
    empty = stream.read(3)
    assert empty.num_rows == 0 and empty.schema == _core.RECORD_SCHEMA


def test_read_table_spans_chunks(stream):
    total = 0
    for round_ in range(12):
        n = 1000 + round_
        stream.put_batch([b"%d" % (total + i) for i in range(n)], ["k"] * n, explicit_hash_keys=["0"] * n)
        total += n
    table = stream.read_table(0)
    assert isinstance(table, pa.Table) and table.schema == _core.RECORD_SCHEMA
    assert table.num_rows == total
    assert len(table.to_batches()) > 1                       # more than one chunk
    assert table.column("data").to_pylist() == [b"%d" % i for i in range(total)]
    seqs = table.column("sequence_number").to_pylist()
    assert seqs == sorted(seqs) and len(set(seqs)) == total
    # one read() never crosses a chunk; following from the last number + 1 walks them all
    got, position = 0, None
    while True:
        batch = stream.read(0, start_seq=position)
        if batch.num_rows == 0:
            break
        got += batch.num_rows
        position = batch.column("sequence_number")[-1].as_py() + 1
    assert got == total
    assert stream.read_table(0, start_seq=seqs[100], limit=2500).column("sequence_number").to_pylist() == \
        seqs[100:2600]


def test_put_batch_of_nothing(stream):
    result = stream.put_batch([], [])
    assert len(result.shard_index) == 0 and len(result.sequence_number) == 0
    assert all(stream.read(s.index).num_rows == 0 for s in stream.shards)


@pytest.mark.parametrize("data,keys,explicit", [
    ([b"a", b"b"], ["k"], None),                               # lengths differ
    ([b"a"], ["k"], ["1", "2"]),
    ([b"a", b"b"], ["k", "k" * 257], None),                     # key too long
    ([b"a", b"b"], ["k", ""], None),                            # empty key
    ([b"a", b"b" * (1024 * 1024 + 1)], ["k", "k"], None),       # record too big
    ([b"a", None], ["k", "k"], None),                           # nulls
    ([b"a", b"b"], pa.array(["k", None]), None),
    ([1, 2], ["k", "k"], None),                                 # not bytes
    ([b"a", b"b"], [b"k", b"\xff\xfe"], None),                  # key not UTF-8
])
def test_put_batch_refuses_bad_batches_whole(stream, data, keys, explicit):
    with pytest.raises(ValidationException):
        stream.put_batch(data, keys, explicit_hash_keys=explicit)
    assert all(stream.read(s.index).num_rows == 0 for s in stream.shards)


@pytest.mark.parametrize("explicit,code", [
    (["1", str(HASH_MAX + 1)], "InvalidArgumentException"),     # a decimal, out of range
    (["1", "9" * 39], "InvalidArgumentException"),
    (["1", "abc"], "ValidationException"),                      # not the model's pattern
    (["1", "-5"], "ValidationException"),
    (["1", "01"], "ValidationException"),
    (["1", "1" * 40], "ValidationException"),
])
def test_put_batch_refuses_bad_explicit_hash_keys(stream, explicit, code):
    """The same codes as PutRecords answers for the same values."""
    with pytest.raises(ClientError) as err:
        stream.put_batch([b"a", b"b"], ["k", "k"], explicit_hash_keys=explicit)
    assert err.value.response["Error"]["Code"] == code
    assert explicit[1] in err.value.response["Error"]["Message"]
    assert all(stream.read(s.index).num_rows == 0 for s in stream.shards)


def test_native_writes_are_visible_to_the_client(stream, kin):
    stream.put_batch([b"native"], ["k"], explicit_hash_keys=["0"])
    it = kin.get_shard_iterator(StreamName="native", ShardId="shardId-000000000000",
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert [r["Data"] for r in kin.get_records(ShardIterator=it)["Records"]] == [b"native"]


def test_large_batches_on_two_threads_store_every_record(stream):
    """Batches past the parallel threshold are hashed and appended on two threads: every record
    lands in its MD5 shard once, in order per shard."""
    from engine import limits
    stream.writer_threads = 2
    n = limits.KINESIS_PUT_PARALLEL_MIN_RECORDS + 1000
    keys = [f"user-{i}" for i in range(n)]
    data = [b"%d" % i for i in range(n)]
    result = stream.put_batch(data, keys)
    assert len(np.unique(result.sequence_number)) == n
    stored = {}
    for s in stream.shards:
        table = stream.read_table(s.index)
        seqs = table.column("sequence_number").to_numpy()
        assert (np.diff(seqs) > 0).all()
        for k, d in zip(table.column("partition_key").to_pylist(), table.column("data").to_pylist()):
            stored[k] = (d, s.index)
    sample = range(0, n, 997)
    assert [stored[keys[i]] for i in sample] == [(data[i], _owner_index(stream, md5_int(keys[i]))) for i in sample]
    assert len(stored) == n

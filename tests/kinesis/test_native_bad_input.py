"""The native bulk API refuses every malformed batch with AWS's error and stores nothing:
keys that are not UTF-8 or not 1-256 characters, nulls, records over the size limit (data
plus partition key), wrong types, bad explicit hash keys, lengths that differ. Sliced and
chunked Arrow arrays are read at their offsets. Arrays assembled from raw buffers with
corrupt offsets are refused before any C loop reads them (checked in a subprocess, since
the failure this guards against is a crash). ASan/UBSan runs use this file (README)."""
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from engine.errors import ClientError
from tests.kinesis.conftest import HASH_MAX, iterator, shard_id

MiB = 1024 * 1024


@pytest.fixture
def stream(backend):
    backend.create_stream("native", 2)
    return backend.get_stream("native")


def stored(stream) -> list[tuple[str, bytes]]:
    rows = []
    for s in stream.shards:
        table = stream.read_table(s.index)
        rows += zip(table.column("partition_key").to_pylist(), table.column("data").to_pylist())
    return sorted(rows)


def refused(stream, code, *args, **kwargs) -> str:
    """Call put_batch, expect `code`, check nothing was stored; returns the message."""
    before, counter = stored(stream), stream._seq.next_value
    with pytest.raises(ClientError) as err:
        stream.put_batch(*args, **kwargs)
    assert err.value.response["Error"]["Code"] == code, err.value.response["Error"]
    assert stored(stream) == before
    assert stream._seq.next_value == counter
    return err.value.response["Error"]["Message"]


def not_utf8_strings(items: list[bytes]) -> pa.Array:
    """A pa.string() array over bytes that are not UTF-8 (Arrow does not check a view cast)."""
    return pa.array(items, pa.binary()).view(pa.string())


@pytest.mark.parametrize("keys", [
    pytest.param(lambda: not_utf8_strings([b"ok", b"\xff\xfe"]), id="arrow-string"),
    pytest.param(lambda: not_utf8_strings([b"ok", b"a\xc3"]), id="truncated"),
    pytest.param(lambda: not_utf8_strings([b"ok", b"\xed\xa0\x80"]), id="surrogate"),
    pytest.param(lambda: not_utf8_strings([b"ok", b"\xc0\xaf"]), id="overlong"),
    pytest.param(lambda: not_utf8_strings([b"ok", b"\xf4\x90\x80\x80"]), id="above-10ffff"),
    pytest.param(lambda: pa.array([b"ok", b"\x80"], pa.large_binary()), id="large-binary"),
    pytest.param(lambda: [b"ok", b"\xff"], id="list-bytes"),
    pytest.param(lambda: np.array([b"ok", b"\xff"]), id="numpy-bytes"),
])
def test_keys_that_are_not_utf8_are_refused_and_the_shard_stays_readable(stream, kin, keys):
    stream.put_batch([b"before"], ["k"], explicit_hash_keys=["0"])
    message = refused(stream, "ValidationException", [b"a", b"b"], keys(), explicit_hash_keys=["0", "0"])
    assert "records.2.member.partitionKey" in message
    records = kin.get_records(ShardIterator=iterator(kin, "native", shard_id(0)))["Records"]
    assert [(r["PartitionKey"], r["Data"]) for r in records] == [("k", b"before")]


@pytest.mark.parametrize("keys,ok", [
    (["k" * 256], True),
    (["é" * 256], True),                 # 512 bytes, 256 characters
    (["\U0001F600" * 256], True),        # 1,024 bytes, 256 characters
    ([""], False),
    (["k" * 257], False),
    (["é" * 257], False),
    (["\U0001F600" * 257], False),
])
def test_key_length_counts_characters(stream, keys, ok):
    if ok:
        result = stream.put_batch([b"x"], keys)
        assert result.failed_count == 0 and stored(stream) == [(keys[0], b"x")]
    else:
        assert "records.1.member.partitionKey" in refused(stream, "ValidationException", [b"x"], keys)


def test_record_size_counts_data_and_partition_key(stream):
    """AWS's rule: the 1 MiB record limit counts the data plus the partition key."""
    key = "key-é"                                          # 6 bytes in UTF-8
    fits = b"d" * (MiB - 6)
    stream.put_batch([b"small", fits], ["a", key])
    message = refused(stream, "ValidationException", [b"small", fits + b"x"], ["a", key])
    assert "records.2.member.data" in message and "1048576" in message
    stream.max_record_size_kib = 2048
    stream.put_batch([fits * 2], [key])
    assert len(stored(stream)) == 3


@pytest.mark.parametrize("data,keys", [
    ([b"a", None], ["k", "k"]),
    ([b"a", b"b"], ["k", None]),
    (pa.array([b"a", None]), ["k", "k"]),
    ([b"a", b"b"], pa.array(["k", None])),
    ([b"a", b"b"], pa.chunked_array([["k"], [None]])),
    ([b"a", b"b"], np.array(["k", None], dtype=object)),
])
def test_nulls_are_refused(stream, data, keys):
    assert "null" in refused(stream, "ValidationException", data, keys)


@pytest.mark.parametrize("data,keys", [
    ([1, 2], ["k", "k"]),
    ([b"a", b"b"], [1, 2]),
    ([1.5], ["k"]),
    ([[b"a"]], ["k"]),
    ([b"a", 1], ["k", "k"]),
    ([object()], ["k"]),
    ([b"a"], ["\ud800"]),                     # a lone surrogate cannot be UTF-8
    (np.arange(2), ["k", "k"]),
    (pa.array([1, 2]), ["k", "k"]),
    ([b"a", b"b"], pa.array([1, 2])),
    ("ab", ["k", "k"]),                       # a bare str is not a batch of two
    (b"ab", ["k", "k"]),
    ({b"a": 1}, ["k"]),
    (None, ["k"]),
    (5, ["k"]),
    ([b"a"], "k"),
])
def test_wrong_types_are_refused(stream, data, keys):
    refused(stream, "ValidationException", data, keys)


@pytest.mark.parametrize("data,keys,explicit", [
    ([b"a", b"b"], ["k"], None),
    ([b"a"], ["k", "k"], None),
    ([b"a"], ["k"], ["1", "2"]),
    ([b"a", b"b"], ["k", "k"], ["1"]),
    ([b"a", b"b"], ["k", "k"], pa.array(["1", None, "2"])),
])
def test_lengths_must_match(stream, data, keys, explicit):
    refused(stream, "ValidationException", data, keys, explicit_hash_keys=explicit)


@pytest.mark.parametrize("explicit,code", [
    (["1", str(HASH_MAX + 1)], "InvalidArgumentException"),
    (["1", "9" * 39], "InvalidArgumentException"),
    (["1", "-1"], "ValidationException"),
    (["1", "1e5"], "ValidationException"),
    (["1", " 1"], "ValidationException"),
    (["1", ""], "ValidationException"),
    (["1", "١"], "ValidationException"),          # an Arabic-Indic digit is not [0-9]
    ([1, 2], "ValidationException"),                # not strings
    (np.array([1, 2]), "ValidationException"),
    (pa.array([1, 2]), "ValidationException"),
    ("12", "ValidationException"),
])
def test_bad_explicit_hash_keys(stream, explicit, code):
    refused(stream, code, [b"a", b"b"], ["k", "k"], explicit_hash_keys=explicit)


def test_explicit_hash_keys_in_every_form(stream):
    starts = sorted(s.start_hash for s in stream.open_shards())
    for explicit in ([str(starts[1]), None], pa.array([str(starts[1]), None]), (str(starts[1]), None),
                     pa.chunked_array([[str(starts[1])], [None]]), iter([str(starts[1]), None])):
        result = stream.put_batch([b"a", b"b"], ["k", "k"], explicit_hash_keys=explicit)
        assert result.shard_index[0] == [s.index for s in stream.shards if s.start_hash == starts[1]][0]


def test_sliced_arrow_arrays_are_read_at_their_offsets(stream):
    keys = pa.array([f"key-{i}" for i in range(10)])
    data = pa.array([b"data-%d" % i for i in range(10)])
    stream.put_batch(data[5:9], keys[2:6])
    assert stored(stream) == sorted((f"key-{i + 2}", b"data-%d" % (i + 5)) for i in range(4))
    explicit = pa.array(["0"] * 5 + [str(HASH_MAX)] * 5)[4:6]
    result = stream.put_batch(data.cast(pa.large_binary())[8:10], keys.cast(pa.large_string())[0:2],
                              explicit_hash_keys=explicit)
    assert result.shard_index.tolist() == [0, 1]
    assert ("key-0", b"data-8") in stored(stream) and ("key-1", b"data-9") in stored(stream)


def test_chunked_arrays_with_other_boundaries(stream):
    keys = pa.chunked_array([["a"], ["b", "c"], [], ["d"]])
    data = pa.chunked_array([[b"1", b"2", b"3"], [b"4"]])
    stream.put_batch(data, keys)
    assert stored(stream) == [("a", b"1"), ("b", b"2"), ("c", b"3"), ("d", b"4")]
    empty = stream.put_batch(pa.chunked_array([], pa.binary()), pa.chunked_array([], pa.string()))
    assert len(empty.sequence_number) == 0


def test_dictionary_and_view_arrays_are_accepted(stream):
    keys = pa.array(["a", "b", "a"]).dictionary_encode()
    data = pa.array([b"1", b"2", b"3"], pa.binary_view())
    stream.put_batch(data, keys)
    assert stored(stream) == [("a", b"1"), ("a", b"3"), ("b", b"2")]


@pytest.mark.parametrize("kwargs", [
    {"start_seq": -1}, {"start_seq": "5"}, {"start_seq": 1.5}, {"start_seq": True},
    {"limit": 0}, {"limit": -3}, {"limit": "10"}, {"max_bytes": 0},
])
def test_read_refuses_bad_bounds(stream, kwargs):
    with pytest.raises(ClientError):
        stream.read(0, **kwargs)


def test_read_accepts_any_large_bound(stream):
    stream.put_batch([b"a"], ["k"], explicit_hash_keys=["0"])
    assert stream.read(0, start_seq=2**80).num_rows == 0
    assert stream.read(0, start_seq=np.int64(0), limit=2**70, max_bytes=2**70).num_rows == 1
    assert stream.read_table(0, limit=2**70).num_rows == 1
    for ref in (-1, 2**70, "shardId-x", 1.0, None):
        with pytest.raises(ClientError):
            stream.read(ref)


CORRUPT = textwrap.dedent("""
    import pyarrow as pa
    import engine
    from engine.errors import ValidationException

    eng = engine.Engine()
    eng.backend("kinesis").create_stream("s", 1)
    stream = eng.backend("kinesis").get_stream("s")
    data = pa.py_buffer(b"abcdefgh")

    def array(kind, offsets, n):
        return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(pa.array(offsets, pa.int32()).buffers()[1]), data])

    # pyarrow checks only the first and last offsets of arrays built this way
    bad = {
        "past the data": array(pa.binary(), [0, 1 << 30, 4], 2),
        "decreasing": array(pa.binary(), [2, 0, 6], 2),
        "negative": array(pa.binary(), [0, -100, 4], 2),
        "keys past the data": array(pa.string(), [0, 1 << 30, 2], 2),
        "keys decreasing": array(pa.string(), [4, 1, 6], 2),
    }
    good = pa.array([b"x", b"y"])
    for name, arr in bad.items():
        for data_arg, keys_arg in ((arr, ["k", "k"]), (good, arr)):
            try:
                stream.put_batch(data_arg, keys_arg)
            except ValidationException:
                continue
            raise SystemExit(f"accepted: {name}")
    assert stream.read_table(0).num_rows == 0
    print("refused all")
""")


def test_arrays_with_corrupt_offsets_are_refused_without_a_crash():
    proc = subprocess.run([sys.executable, "-c", CORRUPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "refused all"

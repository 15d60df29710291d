"""A put's frames built in C (csrc/arrowframe.c): each is the Arrow IPC record batch of one
shard's rows that pyarrow itself would serialize, read back by pyarrow, split when a shard's
part is too large for one frame, and written to the shards' logs with their sequence numbers."""
import numpy as np
import pyarrow as pa
import pytest

from engine import _core
from engine.kinesis.store import FRAME_SCHEMA

LABELS = ["shard-a", "shard-b", "shard-c", "shard-d"]


def rows(n, seed=1, key_type=pa.string(), data_type=pa.binary()):
    rng = np.random.default_rng(seed)
    keys = pa.array([f"key-{i}" * (i % 5) for i in range(n)], key_type)
    data = pa.array([rng.bytes(int(rng.integers(0, 300))).hex() for _ in range(n)]).cast(data_type)
    return keys, data, rng.integers(0, len(LABELS), n).astype(np.int32)


def encode(keys, data, position, stored=None, max_frame_bytes=None):
    extra = {} if max_frame_bytes is None else {"max_frame_bytes": max_frame_bytes}
    return _core.encode_routed(position, stored, _core.BinaryView(keys), _core.BinaryView(data), LABELS, **extra)


def decoded(frames):
    """{shard: [(first_row, last_row, RecordBatch)]} in frame order."""
    out = {}
    for i in range(len(frames)):
        batch = pa.ipc.read_record_batch(frames.payload(i), FRAME_SCHEMA)
        batch.validate(full=True)
        out.setdefault(frames.shard[i], []).append((frames.first_row[i], frames.last_row[i], batch))
    return out


@pytest.mark.parametrize("types", [(pa.string(), pa.binary()), (pa.large_string(), pa.large_binary()),
                                   (pa.binary(), pa.string())])
@pytest.mark.parametrize("max_frame_bytes", [None, 3_000])
@pytest.mark.parametrize("with_stored", [False, True])
def test_each_shards_rows_come_back_in_order_from_its_frames(types, max_frame_bytes, with_stored):
    keys, data, position = rows(800, key_type=types[0], data_type=types[1])
    stored = np.random.default_rng(2).random(800) < 0.7 if with_stored else None
    by_shard = decoded(encode(keys, data, position, stored, max_frame_bytes))
    for shard in range(len(LABELS)):
        want = np.flatnonzero((position == shard) & (True if stored is None else stored))
        frames = by_shard.get(shard, [])
        got = pa.Table.from_batches([b for _, _, b in frames], FRAME_SCHEMA)
        assert got.column("partition_key").to_pylist() == keys.take(want).cast(pa.binary()).to_pylist()
        assert got.column("data").to_pylist() == data.take(want).cast(pa.binary()).to_pylist()
        start = 0
        for first, last, batch in frames:   # each frame: consecutive rows among its shard's
            assert (first, last) == (want[start], want[start + batch.num_rows - 1])
            start += batch.num_rows
    if max_frame_bytes is not None:
        assert len(by_shard[0]) > 1


def test_a_frame_holds_the_bytes_pyarrow_serializes_after_its_own_metadata():
    keys, data, _ = rows(50)
    frames = encode(keys, data, np.zeros(50, np.int32))
    ours = frames.payload(0).to_pybytes()
    theirs = pa.RecordBatch.from_arrays([keys.cast(pa.binary()), data], schema=FRAME_SCHEMA).serialize().to_pybytes()
    metadata = int.from_bytes(theirs[4:8], "little")
    assert ours[232:] == theirs[8 + metadata:]   # the body: offsets and values, 8-byte aligned


def test_rows_of_empty_items_and_an_empty_put():
    keys, data = pa.array(["k", "k"]), pa.array([b"", b""])
    (_, _, batch), = decoded(encode(keys, data, np.array([2, 2], np.int32)))[2]
    assert batch.column(1).to_pylist() == [b"", b""]
    assert len(encode(pa.array([], pa.string()), pa.array([], pa.binary()), np.empty(0, np.int32))) == 0
    assert len(encode(keys, data, np.array([0, 1], np.int32), np.zeros(2, bool))) == 0


def test_bad_positions_and_a_record_larger_than_a_frame_are_refused():
    keys, data, position = rows(10)
    with pytest.raises(_core.CoreValueError):
        encode(keys, data, np.full(10, len(LABELS), np.int32))
    with pytest.raises(_core.CoreValueError):
        encode(keys, data, position[:5])
    with pytest.raises(_core.CoreTooBigError):
        encode(keys, pa.array([b"x" * 5_000] * 10), position, max_frame_bytes=4_096)


@pytest.mark.parametrize("sync", ["flush", "fsync"])
def test_written_frames_carry_each_shards_sequence_numbers(tmp_path, sync):
    keys, data, position = rows(300)
    frames = encode(keys, data, position)
    logs = []
    for label in LABELS:
        (tmp_path / label).mkdir()
        logs.append(_core.SegmentLog(tmp_path / label, segment_bytes=1 << 20, segment_ms=10**12,
                                     index_interval_bytes=4096, sync=sync, preallocate_bytes=1 << 16))
    # a shard's rows take consecutive sequence numbers, as a put's do
    seqs = np.empty(300, np.int64)
    for shard in range(len(LABELS)):
        mine = np.flatnonzero(position == shard)
        seqs[mine] = 1_000 * shard + np.arange(len(mine))
    _core.write_frames([logs[s] for s in frames.shard], frames, seqs, 77).commit()
    for shard, log in enumerate(logs):
        (frame,) = list(log.frames())
        mine = np.flatnonzero(position == shard)
        assert (frame.first_seq, frame.last_seq, frame.ts_ms) == (1_000 * shard, 1_000 * shard + len(mine) - 1, 77)
        batch = pa.ipc.read_record_batch(frame.payload, FRAME_SCHEMA)
        assert batch.column(1).to_pylist() == data.take(mine).to_pylist()
    with pytest.raises(_core.CoreValueError):   # one log per frame
        _core.write_frames(logs[:1], frames, seqs, 78)

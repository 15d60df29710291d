"""The native core through engine._core: MD5, routing, grouping, shard log, trimming, threads."""
import bisect
import hashlib
import threading

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from engine import _core


def md5_int(key: bytes) -> int:
    return int.from_bytes(hashlib.md5(key).digest(), "big")


@given(st.lists(st.binary(max_size=300), max_size=50))
@settings(max_examples=200, deadline=None)
def test_md5_matches_hashlib(keys):
    hi, lo = _core.md5_hash_keys(pa.array(keys, pa.binary()))
    got = [(int(h) << 64) | int(l) for h, l in zip(hi, lo)]
    assert got == [md5_int(k) for k in keys]


def test_md5_accepts_lists_numpy_and_arrow_inputs():
    keys = ["a", "é", "k" * 64, "0" * 55, "0" * 56]
    expected = [md5_int(k.encode()) for k in keys]
    for values in (keys, np.array(keys), pa.array(keys), pa.array(keys, pa.large_string()),
                   pa.chunked_array([keys[:2], keys[2:]]), pa.array(keys)[1:].to_pylist()):
        hi, lo = _core.md5_hash_keys(values)
        got = [(int(h) << 64) | int(l) for h, l in zip(hi, lo)]
        assert got == expected[len(expected) - len(got):]


def test_md5_refuses_nulls_and_non_binary():
    with pytest.raises(_core.CoreValueError):
        _core.md5_hash_keys(pa.array(["a", None]))
    with pytest.raises(_core.CoreValueError):
        _core.md5_hash_keys(pa.array([1, 2]))


@given(st.lists(st.integers(min_value=1, max_value=2**128 - 1), min_size=0, max_size=30, unique=True),
       st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=100))
@settings(max_examples=200, deadline=None)
def test_routing_matches_bisect_reference(cuts, keys):
    starts = [0] + sorted(cuts)
    router = _core.Router(starts)
    got = router.route(keys).tolist()
    expected = [bisect.bisect_right(starts, md5_int(k.encode())) - 1 for k in keys]
    assert got == expected


@given(st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=2**128 - 1)), min_size=1, max_size=50))
@settings(max_examples=100, deadline=None)
def test_explicit_hash_keys_override_md5(explicit):
    starts = [0, 2**64, 2**127, 2**127 + 5]
    keys = [f"key{i}" for i in range(len(explicit))]
    text = [None if e is None else str(e) for e in explicit]
    got = _core.Router(starts).route(keys, text).tolist()
    expected = [bisect.bisect_right(starts, md5_int(k.encode()) if e is None else e) - 1 for k, e in zip(keys, explicit)]
    assert got == expected


@given(st.lists(st.integers(min_value=0, max_value=2**128 - 1), min_size=1, max_size=50))
@settings(max_examples=100, deadline=None)
def test_hash_keys_from_values_route_as_the_same_keys_parsed(values):
    """HashKeys built from 128-bit values a caller computed (every row has one: nothing is hashed)
    route as the same values given as decimal text."""
    starts = [0, 2**64, 2**127, 2**127 + 5]
    router = _core.Router(starts)
    keys = [f"key{i}" for i in range(len(values))]
    built = _core.hash_keys(np.array([v >> 64 for v in values], np.uint64), np.array([v & (2**64 - 1) for v in values], np.uint64))
    assert router.route(keys, built).tolist() == router.route(keys, [str(v) for v in values]).tolist() == \
        [bisect.bisect_right(starts, v) - 1 for v in values]
    assert _core.parse_hash_keys(built) is built and len(built) == len(values)


def test_hash_keys_refuses_halves_of_other_shapes():
    with pytest.raises(_core.CoreValueError):
        _core.hash_keys(np.zeros(3, np.uint64), np.zeros(2, np.uint64))
    with pytest.raises(_core.CoreValueError):
        _core.hash_keys(np.zeros((2, 2), np.uint64), np.zeros((2, 2), np.uint64))


@pytest.mark.parametrize("bad,error", [("01", _core.CoreValueError), ("", _core.CoreValueError),
                                        ("12a", _core.CoreValueError), (str(2**128), _core.CoreRangeError),
                                        ("9" * 40, _core.CoreValueError)])
def test_parse_hash_keys_rejects_bad_rows(bad, error):
    with pytest.raises(error) as info:
        _core.parse_hash_keys(pa.array(["5", bad]))
    assert info.value.row == 1


def test_parse_hash_key_limits():
    keys = _core.parse_hash_keys(pa.array([str(2**128 - 1), "0", None]))
    assert (int(keys.hi[0]) << 64 | int(keys.lo[0])) == 2**128 - 1
    assert int(keys.hi[1]) == 0 and int(keys.lo[1]) == 0
    assert keys.present.tolist() == [True, True, False]


def test_router_rejects_bad_starts():
    for starts in ([], [1, 2], [0, 5, 5]):
        with pytest.raises(_core.CoreValueError):
            _core.Router(starts)


def small_shard():
    return _core.Shard(min_chunk_records=4, max_chunk_records=16, min_chunk_bytes=64, max_chunk_bytes=512)


def test_shard_append_read_roundtrip_across_chunks():
    shard, seqs = small_shard(), _core.SequenceSource(100)
    data = [bytes([i % 256]) * (i % 37) for i in range(200)]
    keys = [f"pk-{i}" for i in range(200)]
    out = np.concatenate([shard.append(seqs, 1000 + i, keys[i:i + 50], data[i:i + 50]) for i in range(0, 200, 50)])
    assert out.tolist() == list(range(100, 300))
    stats = shard.stats()
    assert stats["records"] == 200 and stats["chunks"] > 3
    got_data, got_keys, got_seq, position = [], [], [], 0
    while (batch := shard.read(position)) is not None:
        got_data += batch.column("data").to_pylist()
        got_keys += batch.column("partition_key").to_pylist()
        got_seq += batch.column("sequence_number").to_pylist()
        position = got_seq[-1] + 1
    assert got_data == data and got_keys == keys and got_seq == list(range(100, 300))


def test_shard_read_is_zero_copy_and_survives_trim():
    shard, seqs = small_shard(), _core.SequenceSource(0)
    shard.append(seqs, 1, ["k"] * 3, [b"abc", b"", b"xyz"])
    batch = shard.read(0)
    data = batch.column("data")
    # a second read sees the same memory: the chunk is shared, not copied
    assert shard.read(0).column("data").buffers()[2].address == data.buffers()[2].address
    for _ in range(20):
        shard.append(seqs, 10, ["k"] * 4, [b"later"] * 4)
    shard.trim(5)   # hides and frees the first chunk; our batch pins it
    assert shard.read(0).column("sequence_number")[0].as_py() > 2
    assert data.to_pylist() == [b"abc", b"", b"xyz"]
    del shard
    assert batch.column("partition_key").to_pylist() == ["k", "k", "k"]


def test_shard_read_limits_records_and_bytes():
    shard, seqs = _core.Shard(), _core.SequenceSource(0)
    shard.append(seqs, 1, ["k"] * 10, [b"x" * 10] * 10)
    assert shard.read(0, 3).num_rows == 3
    assert shard.read(0, 0, 25).num_rows == 2
    assert shard.read(0, 0, 1).num_rows == 1    # always at least one record
    assert shard.read(5).column("sequence_number")[0].as_py() == 5
    assert shard.read(10) is None


def test_shard_positions_by_time_and_sequence():
    shard, seqs = small_shard(), _core.SequenceSource(0)
    for t in range(10):
        shard.append(seqs, 1000 * t, [f"k{t}"] * 3, [b"d"] * 3)
    assert shard.seq_at_time(0) == 0
    assert shard.seq_at_time(4500) == 15
    assert shard.seq_at_time(10**12) == 30       # after the tip: the next record to come
    assert shard.seq_at_or_after(7) == 7
    assert shard.seq_at_or_after(1000) == 30
    shard.trim(5000)
    assert shard.seq_at_time(0) == 15
    assert shard.stats()["first_seq"] == 15
    assert shard.stats()["records"] == 15


def test_timestamps_never_go_backwards_within_a_shard():
    shard, seqs = _core.Shard(), _core.SequenceSource(0)
    shard.append(seqs, 5000, ["a"], [b"1"])
    shard.append(seqs, 1000, ["a"], [b"2"])
    ts = shard.read(0).column("approximate_arrival_timestamp").cast(pa.int64()).to_pylist()
    assert ts == [5000, 5000]


def test_trim_frees_whole_chunks_and_memory_cap():
    shard, seqs = small_shard(), _core.SequenceSource(0)
    for t in range(40):
        shard.append(seqs, t, ["k"] * 8, [b"x" * 20] * 8)
    before = shard.stats()
    shard.trim(0, 4096)
    after = shard.stats()
    assert after["bytes_allocated"] <= 4096 + 2048 and after["chunks"] < before["chunks"]
    first = after["first_seq"]
    assert first > 0 and shard.read(0).column("sequence_number")[0].as_py() == first
    shard.trim(10**9)    # everything expired: every chunk goes, the spare too
    stats = shard.stats()
    assert stats["records"] == 0 and stats["chunks"] == 0
    assert stats["bytes_allocated"] == 0 and stats["spare_bytes"] == 0
    assert shard.read(0) is None
    shard.append(seqs, 10**9, ["k"], [b"new"])
    assert shard.read(0).column("data").to_pylist() == [b"new"]


def test_big_record_gets_a_chunk_of_its_own():
    shard, seqs = small_shard(), _core.SequenceSource(0)
    with pytest.raises(_core.CoreTooBigError):
        shard.append(seqs, 1, ["k"], [b"x" * 1000])   # beyond this shard's max chunk bytes
    assert shard.stats()["records"] == 0
    big = _core.Shard(min_chunk_bytes=64, max_chunk_bytes=16 << 20)
    big.append(seqs, 1, ["k", "k"], [b"a", b"y" * (10 << 20)])
    assert [len(d) for d in big.read(0).column("data").to_pylist()] == [1, 10 << 20]


def test_append_routed_groups_rows_and_keeps_order_per_shard():
    shards = [_core.Shard() for _ in range(3)]
    seqs = _core.SequenceSource(0)
    where = np.array([2, 0, 2, 1, 0, 2], dtype=np.int32)
    out = _core.append_routed(shards, seqs, 7, where, [str(i) for i in range(6)], [b"%d" % i for i in range(6)])
    assert len(set(out.tolist())) == 6
    for s_index, shard in enumerate(shards):
        batch = shard.read(0)
        rows = [i for i in range(6) if where[i] == s_index]
        assert batch.column("partition_key").to_pylist() == [str(i) for i in rows]
        assert batch.column("sequence_number").to_pylist() == out[rows].tolist()
        assert out[rows].tolist() == sorted(out[rows].tolist())


def test_readers_never_see_half_a_batch():
    shard, seqs = _core.Shard(min_chunk_records=64, min_chunk_bytes=1024), _core.SequenceSource(0)
    batch_size, batches = 97, 300
    stop = threading.Event()
    problems = []

    def reader():
        while not stop.is_set():
            total, position = 0, 0
            while (b := shard.read(position)) is not None:
                total += b.num_rows
                position = b.column(2)[-1].as_py() + 1
            if total % batch_size:
                problems.append(total)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    keys = [f"k{i}" for i in range(batch_size)]
    data = [b"v" * (i % 50) for i in range(batch_size)]
    for i in range(batches):
        shard.append(seqs, i, keys, data)
    stop.set()
    for t in threads:
        t.join()
    assert not problems
    assert shard.stats()["records"] == batch_size * batches


def test_concurrent_writers_get_unique_increasing_sequence_numbers():
    shard, seqs = _core.Shard(), _core.SequenceSource(0)
    results = []

    def writer(tag):
        for _ in range(200):
            results.append(shard.append(seqs, 1, [tag] * 10, [tag.encode()] * 10))

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_seqs = np.concatenate(results)
    assert len(np.unique(all_seqs)) == 8000
    stored = []
    position = 0
    while (b := shard.read(position)) is not None:
        stored += b.column(2).to_pylist()
        position = stored[-1] + 1
    assert stored == sorted(all_seqs.tolist())


# --- every number and array a caller gives is checked before C uses it ---------------------------

@given(st.lists(st.binary(max_size=12), min_size=1, max_size=40))
@settings(max_examples=300, deadline=None)
def test_batch_check_agrees_with_python_on_utf8_and_length(raw_keys):
    def fault(k):
        try:
            chars = len(k.decode("utf-8"))
        except UnicodeDecodeError:
            return _core.BATCH_KEY_TEXT
        return _core.BATCH_KEY_LENGTH if not 1 <= chars <= 3 else _core.BATCH_OK

    expected = next(((i, f) for i, f in enumerate(map(fault, raw_keys)) if f != _core.BATCH_OK), (-1, _core.BATCH_OK))
    report = _core.check_batch(pa.array(raw_keys, pa.binary()), [b"d"] * len(raw_keys), 1, 3, 100)
    assert (report.row, report.fault) == expected


def test_batch_check_record_size_and_bytes():
    keys, data = ["ab", "é", "c"], [b"x" * 8, b"y" * 8, b"z" * 9]
    report = _core.check_batch(keys, data, 1, 256, 10)
    assert (report.fault, report.row, report.bytes) == (_core.BATCH_OK, -1, 2 + 8 + 2 + 8 + 1 + 9)
    report = _core.check_batch(keys, data, 1, 256, 9)
    assert (report.fault, report.row) == (_core.BATCH_RECORD_SIZE, 0)
    with pytest.raises(_core.CoreValueError):
        _core.check_batch(keys, data[:2], 1, 256, 10)


def test_router_refuses_starts_past_128_bits_and_uneven_hashes():
    with pytest.raises(_core.CoreRangeError):
        _core.Router([0, 2**128])
    router = _core.Router([0, 2**127])
    with pytest.raises(_core.CoreValueError):
        router.route_hashes(np.zeros(10, np.uint64), np.zeros(3, np.uint64))
    with pytest.raises(_core.CoreValueError):
        router.route(["a", "b"], ["1"])


def test_sequence_source_refuses_negative_and_overflowing_counts():
    with pytest.raises(_core.CoreRangeError):
        _core.SequenceSource(-1)
    seqs = _core.SequenceSource(5)
    with pytest.raises(_core.CoreRangeError):
        seqs.reserve(-3)
    assert seqs.reserve(0) == 5 and seqs.reserve(2) == 5 and seqs.next_value == 7
    near_end = _core.SequenceSource(2**63 - 3)
    with pytest.raises(_core.CoreRangeError):
        near_end.reserve(5)
    shard = _core.Shard()
    with pytest.raises(_core.CoreRangeError):
        shard.append(near_end, 1, ["k"] * 5, [b"x"] * 5)
    assert shard.stats()["records"] == 0 and near_end.next_value == 2**63 - 3
    assert shard.append(near_end, 1, ["k"], [b"x"]).tolist() == [2**63 - 3]


@pytest.mark.parametrize("where", [[0, 3], [0, -1], np.array([0, 2**32], np.int64), [0.0, 1.0], [[0], [1]], [0]])
def test_append_routed_refuses_bad_shard_positions(where):
    shards = [_core.Shard() for _ in range(3)]
    with pytest.raises(_core.CoreValueError):
        _core.append_routed(shards, _core.SequenceSource(0), 1, where, ["a", "b"], [b"1", b"2"])
    assert all(s.stats()["records"] == 0 for s in shards)
    with pytest.raises(_core.CoreValueError):
        _core.append_routed([], _core.SequenceSource(0), 1, [0], ["a"], [b"1"])


def test_append_routed_refuses_a_shard_listed_twice():
    shard, other = _core.Shard(), _core.Shard()
    for threads in (1, 2):
        with pytest.raises(_core.CoreValueError):
            _core.append_routed([shard, other, shard], _core.SequenceSource(0), 1, [0, 1, 2], ["a", "b", "c"],
                                [b"1", b"2", b"3"], threads)
    assert shard.stats()["records"] == other.stats()["records"] == 0


def test_shard_config_extremes_are_clamped():
    for kwargs in ({"min_chunk_records": 2**62, "max_chunk_records": 2**62}, {"min_chunk_records": -5},
                   {"min_chunk_bytes": 2**62, "max_chunk_bytes": -1}, {"max_chunk_bytes": 2**62}):
        shard = _core.Shard(**kwargs)
        try:
            shard.append(_core.SequenceSource(0), 1, ["k"], [b"v"])
        except _core.CoreMemoryError:
            continue   # a clamped but still huge chunk may not fit in memory: refused, not a crash
        assert shard.read(0).column("data").to_pylist() == [b"v"]


def test_reads_take_any_int64_bounds():
    shard, seqs = _core.Shard(), _core.SequenceSource(0)
    shard.append(seqs, 1, ["k"] * 3, [b"x"] * 3)
    for start in (-2**63, -1, 0):
        assert shard.read(start, -5, -5).num_rows == 3
    assert shard.read(2**63 - 1) is None
    assert shard.seq_at_time(-2**63) == 0 and shard.seq_at_time(2**63 - 1) == 3
    assert shard.seq_at_or_after(2**63 - 1) == 3
    shard.trim(-2**63, -2**63)
    shard.trim(2**63 - 1, 2**63 - 1)
    assert shard.stats()["records"] == 0


def test_memory_comes_back_when_retention_empties_a_shard():
    """Steady ingestion under retention keeps at most two spare chunks; once every record has
    expired the shard reports no memory at all; writing again starts from small chunks."""
    shard, seqs = _core.Shard(min_chunk_records=64, min_chunk_bytes=4096, max_chunk_bytes=1 << 20), \
        _core.SequenceSource(0)
    data = [b"x" * 1000] * 200
    peak = 0
    for t in range(200):
        shard.append(seqs, t * 1000, ["k"] * 200, data)
        shard.trim(t * 1000 - 5000)                      # keep five seconds
        stats = shard.stats()
        peak = max(peak, stats["bytes_allocated"])
        assert stats["spares"] <= 2 and stats["spare_bytes"] <= 2 << 20   # two chunks in reserve, never more
    assert shard.stats()["records"] == 6 * 200
    shard.trim(10**9)
    stats = shard.stats()
    assert (stats["bytes_allocated"], stats["spare_bytes"], stats["chunks"], stats["records"]) == (0, 0, 0, 0)
    shard.append(seqs, 10**9, ["k"], [b"again"])
    assert shard.read(0).column("data").to_pylist() == [b"again"]
    assert shard.stats()["bytes_allocated"] < peak / 10


def test_a_pinned_chunk_outlives_its_trim():
    shard, seqs = small_shard(), _core.SequenceSource(0)
    shard.append(seqs, 1, ["k"] * 3, [b"abc"] * 3)
    batch = shard.read(0)
    shard.trim(10**9)
    assert shard.stats()["bytes_allocated"] == 0
    assert batch.column("data").to_pylist() == [b"abc"] * 3      # the reader's pin keeps it alive


def test_read_records_builds_the_same_records_as_the_arrow_read():
    import datetime
    shard, seqs = small_shard(), _core.SequenceSource(10**18 - 5)
    keys = ["k", "é-ü", "\U0001F600", "plain-ascii-key-of-some-length"] * 10
    data = [b"", b"x" * 30, bytes(range(7)), b"tail"] * 10
    for i in range(0, 40, 8):
        shard.append(seqs, 1_700_000_000_000 + i * 250, keys[i:i + 8], data[i:i + 8])
    expected, position = [], 0
    while (batch := shard.read(position)) is not None:
        for k, d, q, t in zip(*(batch.column(j).to_pylist() for j in range(4))):
            expected.append({"SequenceNumber": str(q), "ApproximateArrivalTimestamp": t, "Data": d, "PartitionKey": k})
        position = batch.column(2)[-1].as_py() + 1
    got = shard.read_records(0, 1000, 10**9)
    assert got.records == expected and got.position == position
    assert all(r["ApproximateArrivalTimestamp"].tzinfo == datetime.timezone.utc for r in got.records)
    assert got.last_ts_ms == 1_700_000_000_000 + 32 * 250
    assert got.nbytes == sum(map(len, data))
    # limits: records, then bytes (only the first record may pass the cap), encryption by ranges
    assert [r["SequenceNumber"] for r in shard.read_records(0, 3, 10**9).records] == \
        [e["SequenceNumber"] for e in expected[:3]]
    assert len(shard.read_records(int(expected[1]["SequenceNumber"]), 100, 1).records) == 1
    assert len(shard.read_records(0, 100, 30).records) == 2          # b"" then 30 bytes
    starts = [int(expected[10]["SequenceNumber"]), int(expected[20]["SequenceNumber"])]
    flagged = shard.read_records(0, 100, 10**9, np.array(starts, np.int64), np.array([True, False]))
    assert [i for i, r in enumerate(flagged.records) if r.get("EncryptionType") == "KMS"] == list(range(10, 20))
    empty = shard.read_records(position, 10, 10)
    assert (empty.records, empty.position, empty.nbytes, empty.last_ts_ms) == ([], position, 0, -1)


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_append_routed_on_threads_matches_one_thread(threads):
    """Each shard keeps one writer: the shards are split between the threads, so per shard the
    rows and their order are those of a single-threaded append."""
    rng = np.random.default_rng(3)
    n, m = 50_000, 5
    where = rng.choice(m, n, p=[0.5, 0.3, 0.1, 0.05, 0.05]).astype(np.int32)
    keys = [f"k{i}" for i in range(n)]
    data = [b"%d" % i for i in range(n)]
    one = [_core.Shard() for _ in range(m)]
    many = [_core.Shard() for _ in range(m)]
    _core.append_routed(one, _core.SequenceSource(0), 1, where, keys, data, 1)
    out = _core.append_routed(many, _core.SequenceSource(0), 1, where, keys, data, threads)
    assert len(np.unique(out)) == n
    for a, b in zip(one, many):
        ta, tb = a.read(0, 10**9), b.read(0, 10**9)
        assert ta.column("data").to_pylist() == tb.column("data").to_pylist()
        seqs = tb.column("sequence_number").to_numpy()
        assert (np.diff(seqs) > 0).all()
    by_row = {}
    for s in many:
        t = s.read(0, 10**9)
        by_row.update(zip(t.column("sequence_number").to_pylist(), t.column("data").to_pylist()))
    assert [by_row[q] for q in out.tolist()] == data


def test_concurrent_routed_appends_on_threads_share_shards_without_deadlock():
    """Two batches at once over the same shards, listed in different orders, each split
    between threads: a thread holds the write locks of all its shards for its pass, so
    every one takes them in one global order; every record lands once, each batch's rows in
    row order per shard."""
    import threading

    m, n, rounds = 6, 20_000, 15
    shards = [_core.Shard() for _ in range(m)]
    seqs = _core.SequenceSource(0)
    rng = np.random.default_rng(9)
    failures = []

    def writer(tag, order):
        try:
            listed = [shards[i] for i in order]
            for r in range(rounds):
                where = rng.integers(0, m, n).astype(np.int32)
                data = [b"%s-%d-%d" % (tag, r, i) for i in range(n)]
                _core.append_routed(listed, seqs, 1, where, [tag.decode()] * n, data, 3)
        except Exception as exc:   # reported below: a thread's exception would otherwise vanish
            failures.append(exc)

    workers = [threading.Thread(target=writer, args=(b"a", list(range(m)))),
               threading.Thread(target=writer, args=(b"b", list(reversed(range(m)))))]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers) and not failures
    total = 0
    for shard in shards:
        parts, position = [], 0
        while (batch := shard.read(position)) is not None:     # a chunk at a time
            parts.append(batch)
            position = batch.column("sequence_number")[-1].as_py() + 1
        table = pa.Table.from_batches(parts).combine_chunks()
        total += table.num_rows
        assert (np.diff(table.column("sequence_number").to_numpy()) > 0).all()
        for tag in ("a", "b"):
            mine = [d for d, k in zip(table.column("data").to_pylist(), table.column("partition_key").to_pylist())
                    if k == tag]
            assert mine == sorted(mine, key=lambda d: tuple(int(x) for x in d.split(b"-")[1:]))
    assert total == 2 * rounds * n


def test_md5_on_threads_matches_one_thread():
    keys = pa.array([f"key-{i}" * (i % 7 + 1) for i in range(20_001)])
    router = _core.Router([0, 2**126, 2**127, 3 * 2**126])
    single = router.route(keys, None, 1)
    for threads in (2, 3, 16):
        assert (router.route(keys, None, threads) == single).all()
    sliced = keys.slice(3, 10_000)
    assert (router.route(sliced, None, 2) == single[3:10_003]).all()

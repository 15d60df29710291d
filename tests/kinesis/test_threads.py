"""A producer thread and a consumer thread on the same stream: every record is read exactly
once, in order per shard (and so per partition key)."""
import threading
import time

from tests.kinesis.conftest import iterator, make_stream, read_shard, shard_id

SHARDS = 4
BATCHES = 120
PER_BATCH = 100
TOTAL = BATCHES * PER_BATCH


def _run(producer, consumer, timeout=30.0):
    errors = []

    def guard(fn):
        def run():
            try:
                fn()
            except BaseException as exc:   # surfaced in the test thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guard(producer)), threading.Thread(target=guard(consumer))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def _check(sent_by_key, got_by_shard):
    seen = [r for recs in got_by_shard.values() for r in recs]
    assert len(seen) == TOTAL
    assert len({seq for seq, _, _ in seen}) == TOTAL                # each record exactly once
    for recs in got_by_shard.values():
        seqs = [seq for seq, _, _ in recs]
        assert seqs == sorted(seqs)                                 # in order within the shard
    got_by_key = {}
    for recs in got_by_shard.values():
        for _, key, data in recs:
            got_by_key.setdefault(key, []).append(data)
    assert got_by_key == sent_by_key                                # producer order per key


def test_client_producer_and_consumer_threads(eng):
    kin = eng.client("kinesis")
    make_stream(kin, "t", SHARDS)
    sent_by_key = {}
    for b in range(BATCHES):
        for i in range(PER_BATCH):
            n = b * PER_BATCH + i
            sent_by_key.setdefault(f"key-{n % 37}", []).append(b"%d" % n)
    got_by_shard = {shard_id(i): [] for i in range(SHARDS)}

    def producer():
        client = eng.client("kinesis")
        for b in range(BATCHES):
            records = [{"Data": b"%d" % (b * PER_BATCH + i), "PartitionKey": f"key-{(b * PER_BATCH + i) % 37}"}
                       for i in range(PER_BATCH)]
            resp = client.put_records(StreamName="t", Records=records)
            assert resp["FailedRecordCount"] == 0

    def consumer():
        client = eng.client("kinesis")
        iterators = {sid: iterator(client, "t", sid) for sid in got_by_shard}
        deadline = time.monotonic() + 25
        count = 0
        while count < TOTAL:
            assert time.monotonic() < deadline, f"read {count} of {TOTAL}"
            progressed = False
            for sid in iterators:
                resp = client.get_records(ShardIterator=iterators[sid], Limit=250)
                iterators[sid] = resp["NextShardIterator"]
                got_by_shard[sid].extend((int(r["SequenceNumber"]), r["PartitionKey"], r["Data"])
                                         for r in resp["Records"])
                count += len(resp["Records"])
                progressed |= bool(resp["Records"])
            if not progressed:
                time.sleep(0.001)

    _run(producer, consumer)
    _check(sent_by_key, got_by_shard)


def test_native_producer_and_consumer_threads(eng):
    backend = eng.backend("kinesis")
    backend.create_stream("n", SHARDS)
    stream = backend.get_stream("n")
    sent_by_key = {}
    for n in range(TOTAL):
        sent_by_key.setdefault(f"key-{n % 53}", []).append(b"%d" % n)
    got_by_shard = {i: [] for i in range(SHARDS)}

    def producer():
        for b in range(BATCHES):
            ns = range(b * PER_BATCH, (b + 1) * PER_BATCH)
            stream.put_batch([b"%d" % n for n in ns], [f"key-{n % 53}" for n in ns])

    def consumer():
        positions = {i: None for i in range(SHARDS)}
        deadline = time.monotonic() + 25
        count = 0
        while count < TOTAL:
            assert time.monotonic() < deadline, f"read {count} of {TOTAL}"
            for i in range(SHARDS):
                batch = stream.read(i, start_seq=positions[i])
                if batch.num_rows:
                    seqs = batch.column("sequence_number").to_pylist()
                    got_by_shard[i].extend(zip(seqs, batch.column("partition_key").to_pylist(),
                                               batch.column("data").to_pylist()))
                    positions[i] = seqs[-1] + 1
                    count += batch.num_rows

    _run(producer, consumer)
    _check(sent_by_key, got_by_shard)


def test_resharding_while_producing(eng):
    """Splits and merges from a third thread while a producer writes: nothing is lost or
    duplicated and the open shards keep covering the hash space."""
    kin = eng.client("kinesis")
    make_stream(kin, "r", 2)
    stop = threading.Event()
    sent = []

    def producer():
        client = eng.client("kinesis")
        b = 0
        while not stop.is_set() or b < 20:
            records = [{"Data": b"%d-%d" % (b, i), "PartitionKey": f"p{b}-{i}"} for i in range(50)]
            resp = client.put_records(StreamName="r", Records=records)
            assert resp["FailedRecordCount"] == 0
            sent.extend((r["ShardId"], r["SequenceNumber"], rec["Data"]) for r, rec in zip(resp["Records"], records))
            b += 1

    def resharder():
        client = eng.client("kinesis")
        try:
            for target in (4, 3, 6, 5, 3, 2, 4):
                client.update_shard_count(StreamName="r", TargetShardCount=target, ScalingType="UNIFORM_SCALING")
                time.sleep(0.005)
        finally:
            stop.set()

    _run(producer, resharder)
    stored = {}
    for s in kin.list_shards(StreamName="r")["Shards"]:
        for r in read_shard(kin, "r", s["ShardId"]):
            assert r["SequenceNumber"] not in stored
            stored[r["SequenceNumber"]] = (s["ShardId"], r["Data"])
    assert stored == {seq: (sid, data) for sid, seq, data in sent}

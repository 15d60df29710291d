"""The service rules live in the models (issue 11), so the native API obeys what the boto3
path obeys: the same refusals with the same codes, and nothing changed by a refused call.
Where the request layer refuses first for boto3 callers (types, enums, patterns), the model
still refuses the native caller with AWS's code rather than a raw exception."""
import pytest

import engine
from engine.kinesis import listing
from engine.kinesis.models import ITERATOR_TYPES
from tests.kinesis.conftest import HASH_MAX, shard_id, stream_arn


@pytest.fixture
def stream(backend):
    s = backend.create_stream("s", 2)
    s.put_batch([b"r%d" % i for i in range(20)], [str(i) for i in range(20)])   # both shards get some
    s.register_consumer("reader")
    s.add_tags({"team": "data"})
    return s


def state(stream):
    return (stream.retention_hours, stream.mode, dict(stream.tags), stream.encryption_type, stream.key_id,
            stream.max_record_size_kib, list(stream.shard_level_metrics), sorted(stream.consumers),
            stream.open_count, stream.backend.on_demand_stream_count(), stream.warm_throughput_mibps)


CASES = [
    ("increase retention below the minimum", lambda b, s: s.increase_retention(23), "InvalidArgumentException"),
    ("increase retention above the maximum", lambda b, s: s.increase_retention(8761), "InvalidArgumentException"),
    ("increase retention below the current", lambda b, s: (s.increase_retention(48), s.increase_retention(30)),
     "InvalidArgumentException"),
    ("decrease retention above the current", lambda b, s: s.decrease_retention(48), "InvalidArgumentException"),
    ("retention not an integer", lambda b, s: s.increase_retention("48"), "ValidationException"),
    ("unknown mode", lambda b, s: s.set_mode("FAST"), "ValidationException"),
    ("warm throughput on a provisioned stream", lambda b, s: s.set_warm_throughput(4), "InvalidArgumentException"),
    ("warm throughput not an integer", lambda b, s: s.set_mode("ON_DEMAND", -1), "ValidationException"),
    ("record size out of range", lambda b, s: s.set_max_record_size(512), "ValidationException"),
    ("record size not an integer", lambda b, s: s.set_max_record_size(None), "ValidationException"),
    ("empty tag map", lambda b, s: s.add_tags({}), "ValidationException"),
    ("tags not strings", lambda b, s: s.add_tags({"k": 1}), "ValidationException"),
    ("eleven tags in a call", lambda b, s: s.add_tags({f"k{i}": "v" for i in range(11)}), "InvalidArgumentException"),
    ("over 50 tags", lambda b, s: [s.add_tags({f"k{j}{i}": "v" for i in range(10)}) for j in range(6)],
     "LimitExceededException"),
    ("tag keys not a list", lambda b, s: s.remove_tags("team"), "ValidationException"),
    ("encryption type NONE to start", lambda b, s: s.start_encryption("NONE", "k"), "ValidationException"),
    ("encryption without a key", lambda b, s: s.start_encryption("KMS", ""), "ValidationException"),
    ("unknown metric", lambda b, s: s.set_metrics(["Bogus"], True), "ValidationException"),
    ("iterator type unknown", lambda b, s: s.shard_iterator(0, "OLDEST"), "InvalidArgumentException"),
    ("iterator AT_TIMESTAMP without a time", lambda b, s: s.shard_iterator(0, "AT_TIMESTAMP"),
     "InvalidArgumentException"),
    ("iterator AT_TIMESTAMP with text", lambda b, s: s.shard_iterator(0, "AT_TIMESTAMP", timestamp="now"),
     "ValidationException"),
    ("iterator sequence number from nowhere", lambda b, s: s.shard_iterator(0, "AT_SEQUENCE_NUMBER", "12"),
     "InvalidArgumentException"),
    ("iterator sequence number not text", lambda b, s: s.shard_iterator(0, "AT_SEQUENCE_NUMBER", 12),
     "InvalidArgumentException"),
    ("iterator of an unknown shard", lambda b, s: s.shard_iterator(shard_id(9), "LATEST"), "ResourceNotFoundException"),
    ("get_records limit 0", lambda b, s: b.get_records(s.shard_iterator(0, "TRIM_HORIZON"), 0), "ValidationException"),
    ("get_records limit too high", lambda b, s: b.get_records(s.shard_iterator(0, "TRIM_HORIZON"), 10_001),
     "ValidationException"),
    ("get_records limit not an integer", lambda b, s: b.get_records(s.shard_iterator(0, "TRIM_HORIZON"), "5"),
     "ValidationException"),
    ("get_records forged iterator", lambda b, s: b.get_records("bogus"), "InvalidArgumentException"),
    ("get_records iterator not text", lambda b, s: b.get_records(None), "InvalidArgumentException"),
    ("consumer name off the pattern", lambda b, s: s.register_consumer("has space"), "ValidationException"),
    ("consumer name not text", lambda b, s: s.register_consumer(5), "ValidationException"),
    ("consumer registered twice", lambda b, s: s.register_consumer("reader"), "ResourceInUseException"),
    ("consumer with 51 tags", lambda b, s: s.register_consumer("c2", {f"k{i}": "v" for i in range(51)}),
     "LimitExceededException"),
    ("deregister an unknown consumer", lambda b, s: s.deregister_consumer("nobody"), "ResourceNotFoundException"),
    ("list shards with an unknown filter", lambda b, s: listing.shards_page(b, "s", filter_type="NEWEST"),
     "InvalidArgumentException"),
    ("consumer without an ARN or name", lambda b, s: b.consumer(stream_arn("s")), "InvalidArgumentException"),
    ("consumer ARN not text", lambda b, s: b.consumer(consumer_arn=5), "ValidationException"),
    ("stream name and ARN disagree", lambda b, s: b.stream("other", stream_arn("s")), "InvalidArgumentException"),
    ("neither stream name nor ARN", lambda b, s: b.stream(), "ValidationException"),
    ("stream ARN not text", lambda b, s: b.stream(arn=7), "ValidationException"),
    ("split at a key that is not a number", lambda b, s: s.split_shard(0, "half"), "ValidationException"),
    ("split at a key past the range", lambda b, s: s.split_shard(0, str(HASH_MAX + 1)), "InvalidArgumentException"),
    ("split at a float", lambda b, s: s.split_shard(0, 1.5), "ValidationException"),
    ("shard count not an integer", lambda b, s: s.update_shard_count("4"), "ValidationException"),
    ("put_record without a key", lambda b, s: s.put_record(b"x", None), "ValidationException"),
    ("put_record with a bad ordering number", lambda b, s: s.put_record(b"x", "k", None, "01"),
     "ValidationException"),
    ("put_records over 500 records", lambda b, s: s.put_records([b"x"] * 501, ["k"] * 501), "ValidationException"),
    ("put_records over 5 MiB", lambda b, s: s.put_records([b"x" * ((1 << 20) - 2)] * 6, ["k"] * 6),
     "InvalidArgumentException"),
    ("subscribe with an unknown type", lambda b, s: s.subscribe(s.consumers["reader"], 0, "OLDEST"),
     "InvalidArgumentException"),
]


# cases whose calls change the stream before the refused one
_STEPS_FIRST = {"increase retention below the current", "over 50 tags"}


@pytest.mark.parametrize("name,call,code", CASES, ids=[c[0] for c in CASES])
def test_native_refusals(backend, stream, name, call, code):
    before = state(stream)
    with pytest.raises(engine.ClientError) as err:
        call(backend, stream)
    assert err.value.response["Error"]["Code"] == code, err.value.response["Error"]
    if name not in _STEPS_FIRST:
        assert state(stream) == before


@pytest.mark.parametrize("name,shard_count,mode,code", [
    ("bad name", 1, None, "ValidationException"),
    (None, 1, None, "ValidationException"),
    ("n" * 129, 1, None, "ValidationException"),
    ("n", None, "PROVISIONED", "InvalidArgumentException"),
    ("n", 2, "ON_DEMAND", "InvalidArgumentException"),
    ("n", 0, None, "ValidationException"),
    ("n", 1.5, None, "ValidationException"),
    ("n", 1, "FAST", "ValidationException"),
    ("n", 20_001, None, "LimitExceededException"),
])
def test_native_create_refusals(backend, name, shard_count, mode, code):
    with pytest.raises(engine.ClientError) as err:
        backend.create_stream(name, shard_count, mode)
    assert err.value.response["Error"]["Code"] == code
    assert backend.streams == {} and backend.open_shard_count() == 0


def test_native_create_defaults_to_on_demand(backend):
    stream = backend.create_stream("od")
    assert stream.mode == "ON_DEMAND" and stream.open_count == 4
    assert backend.on_demand_stream_count() == 1


def test_native_rules_that_change_state(backend, stream, clock):
    stream.increase_retention(48)
    stream.decrease_retention(24)
    stream.set_max_record_size(2048)
    assert stream.max_record_bytes == 2048 * 1024
    assert stream.set_metrics(["ALL"], True)[1] == sorted(stream.shard_level_metrics)
    stream.start_encryption("KMS", "alias/k")
    assert (stream.encryption_type, stream.key_id) == ("KMS", "alias/k")
    stream.stop_encryption("KMS")
    assert (stream.encryption_type, stream.key_id) == ("NONE", None)
    stream.remove_tags(["team", "absent"])
    assert stream.tags == {}
    assert stream.tag_page(None, 10) == ([], False)


@pytest.mark.parametrize("kind", ITERATOR_TYPES)
def test_native_iterators_read_like_boto3(kin, backend, stream, kind):
    """An iterator from the native API reads the same records as one from the client."""
    seq = str(stream.read(0).column("sequence_number")[0].as_py()) if kind.endswith("SEQUENCE_NUMBER") else None
    ts = stream.clock.now() - 1 if kind == "AT_TIMESTAMP" else None
    native = backend.get_records(stream.shard_iterator(0, kind, seq, ts)).records
    params = {"StreamName": "s", "ShardId": shard_id(0), "ShardIteratorType": kind}
    if seq is not None:
        params["StartingSequenceNumber"] = seq
    if ts is not None:
        params["Timestamp"] = ts
    it = kin.get_shard_iterator(**params)["ShardIterator"]
    assert kin.get_records(ShardIterator=it)["Records"] == native


def test_native_get_records_follows_child_shards(backend, stream):
    it = stream.shard_iterator(0, "TRIM_HORIZON")
    first = backend.get_records(it)
    stream.split_shard(0, 2**126)
    page = backend.get_records(first.next_iterator)
    assert page.next_iterator is None and page.records == []
    assert [c.shard_id for c in page.child_shards] == [shard_id(2), shard_id(3)]


def test_subscription_retry_interval(stream, clock):
    consumer = stream.consumers["reader"]
    stream.subscribe(consumer, 0, "LATEST")
    with pytest.raises(engine.ClientError) as err:
        stream.subscribe(consumer, 0, "LATEST")
    assert err.value.response["Error"]["Code"] == "ResourceInUseException"
    stream.subscribe(consumer, 1, "LATEST")   # another shard is free
    clock.advance(5)
    shard, position, expires = stream.subscribe(consumer, 0, "TRIM_HORIZON")
    assert (shard.index, position, expires) == (0, 0, clock.now() + 300)

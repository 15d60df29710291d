"""A Kinesis-source delivery stream's buffer owns the records it read: the source shard's
chunks are free to be trimmed and reused while the buffer waits for delivery."""
import pyarrow as pa
import pytest

pytest.importorskip("engine.kinesis.models", reason="engine.kinesis is not importable in this build")

from engine import _core  # noqa: E402

from .conftest import ROLE, get, keys, s3_config  # noqa: E402

RECORDS_PER_PUT = 60_000            # ~6 MiB a put
PUTS = 16
CAP_BYTES = 8 << 20                 # older chunks are trimmed as puts go on


def _payloads(n: int, start: int) -> pa.Array:
    """Records of 100 bytes: a number, padded, and a newline (told apart after delivery)."""
    return pa.array([b"%099d\n" % i for i in range(start, start + n)], pa.binary())


def _capped_stream(eng, name):
    eng.client("kinesis").create_stream(StreamName=name, ShardCount=1)
    stream = eng.backend("kinesis").get_stream(name)
    stream.memory_cap_bytes = CAP_BYTES
    return stream


def test_buffered_records_do_not_pin_the_source_chunks(eng, fh, clock):
    """Sixteen puts read into one buffer (128 MiB, 900 s) while the stream trims behind them: the
    writer maps no more fresh chunks than into a stream nobody reads (trimmed chunks come back
    as spares rather than staying pinned by the buffer), and every record is delivered unchanged."""
    read, unread = _capped_stream(eng, "read"), _capped_stream(eng, "unread")
    fh.create_delivery_stream(
        DeliveryStreamName="ks", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": read.arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=s3_config(
            Prefix="pins/", BufferingHints={"SizeInMBs": 128, "IntervalInSeconds": 900}))
    delivery = eng.backend("firehose").get("ks")
    partition_keys = pa.array(["k"] * RECORDS_PER_PUT)
    for put in range(PUTS):
        data = _payloads(RECORDS_PER_PUT, put * RECORDS_PER_PUT)
        for stream in (read, unread):
            stream.put_batch(data, partition_keys)
            _core.prefault_wait_idle()
        clock.advance(1)                     # polled: the records join the buffer
    assert delivery.buffered_records == PUTS * RECORDS_PER_PUT      # read, not yet delivered
    assert not keys(eng, "pins/")
    mapped = {s.name: s.shards[0].log.stats()["chunks_mapped"] for s in (read, unread)}
    assert mapped["unread"] > 2
    # (one apart at most: the background thread may make a spare a trim has just made needless)
    assert mapped["read"] <= mapped["unread"] + 1, mapped
    delivery.flush()
    got = b"".join(get(eng, k) for k in keys(eng, "pins/"))
    expected = b"".join(_payloads(RECORDS_PER_PUT, p * RECORDS_PER_PUT).buffers()[2].to_pybytes()
                        for p in range(PUTS))
    assert got == expected

"""Kinesis StreamEncryption with a data dir: records put while it is on are written sealed with
the data dir's key (engine.atrest) and read back after a restart."""
import pathlib

import pytest

import engine
from engine.atrest import KEY_FILE, AtRestDecryptError, AtRestKeyMissing
from tests.kinesis.conftest import ShapeCheckedClient


def open_engine(data_dir, clock):
    return engine.Engine(clock=clock, data_dir=str(data_dir))


def all_records(kin, name):
    out = []
    for shard in kin.list_shards(StreamName=name)["Shards"]:
        it = kin.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        page = kin.get_records(ShardIterator=it, Limit=10_000)
        out += [(r["Data"], r.get("EncryptionType")) for r in page["Records"]]
    return sorted(out)


def segment_bytes(data_dir) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(pathlib.Path(data_dir, "kinesis").rglob("*.log")))


def put(kin, marker: bytes, n=50):
    kin.put_records(StreamName="s", Records=[{"Data": marker + b"-%03d" % i, "PartitionKey": f"k{i}"}
                                             for i in range(n)])


def test_records_put_under_encryption_are_sealed_on_disk_and_read_after_a_restart(tmp_path, clock, shape):
    eng = open_engine(tmp_path, clock)
    kin = ShapeCheckedClient(eng.client("kinesis"), shape)
    kin.create_stream(StreamName="s", ShardCount=2)
    put(kin, b"PLAIN-BEFORE")
    assert not (tmp_path / KEY_FILE).exists()     # no key until something is encrypted
    kin.start_stream_encryption(StreamName="s", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    put(kin, b"SECRET-DURING")
    kin.put_record(StreamName="s", Data=b"SECRET-SINGLE", PartitionKey="p")
    kin.stop_stream_encryption(StreamName="s", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    put(kin, b"PLAIN-AFTER")
    before = all_records(kin, "s")
    eng.close()

    on_disk = segment_bytes(tmp_path)
    assert b"PLAIN-BEFORE-000" in on_disk and b"PLAIN-AFTER-049" in on_disk
    assert b"SECRET" not in on_disk
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o077 == 0

    eng = open_engine(tmp_path, clock)
    kin = ShapeCheckedClient(eng.client("kinesis"), shape)
    assert all_records(kin, "s") == before
    assert sum(1 for data, enc in before if enc == "KMS") == 51
    put(kin, b"PLAIN-LATER")   # the stream goes on taking records after the restart
    eng.close()


def restart_needs_the_key(tmp_path, clock, shape):
    eng = open_engine(tmp_path, clock)
    kin = ShapeCheckedClient(eng.client("kinesis"), shape)
    kin.create_stream(StreamName="s", ShardCount=1)
    kin.start_stream_encryption(StreamName="s", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    put(kin, b"SECRET")
    eng.close()


def test_a_missing_key_file_is_an_error_naming_it(tmp_path, clock, shape):
    restart_needs_the_key(tmp_path, clock, shape)
    (tmp_path / KEY_FILE).unlink()
    with pytest.raises(AtRestKeyMissing, match=KEY_FILE):
        open_engine(tmp_path, clock).client("kinesis").list_streams()


def test_another_key_is_an_error_not_garbage(tmp_path, clock, shape):
    restart_needs_the_key(tmp_path, clock, shape)
    (tmp_path / KEY_FILE).write_bytes(bytes(32))
    with pytest.raises(AtRestDecryptError, match="shardId-000000000000"):
        open_engine(tmp_path, clock).client("kinesis").list_streams()

"""DirectPut raw delivery: buffering, key layout, compression, atomic objects, s3_root URIs."""
import gzip
import io
import os
import random
import zipfile

import numpy as np
import pyarrow as pa
import pytest

import engine
from engine.firehose import export
from engine.s3 import TMP_DIR, store_for

from .conftest import BUCKET, ROLE, assert_name, get, keys, s3_config

MiB = 1024 * 1024


def test_raw_delivery_concatenates_and_lays_out_keys(eng, fh, clock, shape):
    out = fh.create_delivery_stream(DeliveryStreamName="raw", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="logs/"))
    shape("firehose", "CreateDeliveryStream", out)
    assert out["DeliveryStreamARN"] == "arn:aws:firehose:us-east-1:000000000000:deliverystream/raw"
    shape("firehose", "PutRecord", fh.put_record(DeliveryStreamName="raw", Record={"Data": b"a"}))
    batch = fh.put_record_batch(DeliveryStreamName="raw", Records=[{"Data": b"bc"}, {"Data": "d\n"}])
    shape("firehose", "PutRecordBatch", batch)
    assert batch["FailedPutCount"] == 0 and len(batch["RequestResponses"]) == 2
    assert keys(eng) == []
    clock.advance(59.9)
    assert keys(eng) == []                       # interval not reached yet
    clock.advance(0.1)
    (key,) = keys(eng)
    # clock starts at 1_700_000_000 = 2023-11-14 22:13:20 UTC
    assert key.startswith("logs/2023/11/14/22/raw-1-2023-11-14-22-13-20-")
    assert_name(key, "raw")
    assert get(eng, key) == b"abcd\n"            # concatenated, no delimiter


def test_size_threshold_delivers_without_waiting(eng, fh):
    fh.create_delivery_stream(DeliveryStreamName="s", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900}))
    rec = {"Data": b"x" * 100_000}
    for _ in range(10):
        fh.put_record_batch(DeliveryStreamName="s", Records=[rec])
    assert keys(eng) == []
    fh.put_record_batch(DeliveryStreamName="s", Records=[rec])   # 1.1 MB >= 1 MiB: sealed, handed to the worker
    assert eng.backend("firehose").drain()
    (key,) = keys(eng)
    assert len(get(eng, key)) == 1_100_000


def test_record_ids_are_firehose_shaped_and_never_repeat(eng, fh):
    """RecordIds are opaque 224-character base64-alphabet tokens, distinct across calls and
    threads (each request takes its own range of the process's counter)."""
    import re
    import threading

    fh.create_delivery_stream(DeliveryStreamName="s", ExtendedS3DestinationConfiguration=s3_config())
    ids = []

    def put():
        for _ in range(20):
            got = fh.put_record_batch(DeliveryStreamName="s", Records=[{"Data": b"x"}] * 50)["RequestResponses"]
            ids.extend(r["RecordId"] for r in got)
    threads = [threading.Thread(target=put) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids.append(fh.put_record(DeliveryStreamName="s", Record={"Data": b"y"})["RecordId"])
    assert len(ids) == 4 * 20 * 50 + 1 == len(set(ids))
    assert all(re.fullmatch(r"[A-Za-z0-9=]{224}", i) for i in ids)


def test_no_record_lost_or_duplicated_across_flush_boundaries(eng, fh, clock):
    fh.create_delivery_stream(DeliveryStreamName="n", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 5}, Prefix="n/"))
    rng = random.Random(7)
    sent = []
    for i in range(3000):
        payload = f"{i:06d}:{'y' * rng.randint(0, 2000)}\n".encode()
        sent.append(payload)
        if rng.random() < 0.5:
            fh.put_record(DeliveryStreamName="n", Record={"Data": payload})
        else:
            fh.put_record_batch(DeliveryStreamName="n", Records=[{"Data": payload}])
        if rng.random() < 0.01:
            clock.advance(rng.choice([0.5, 2, 5, 7]))
    eng.backend("firehose").get("n").flush()
    objects = keys(eng, "n/")
    assert len(objects) > 3
    # object names sort by time; within a second, the records say the order
    got = b"".join(sorted((get(eng, k) for k in objects), key=lambda b: b[:6]))
    assert got == b"".join(sent)


def test_flush_on_delete_and_on_close(clock, tmp_path):
    eng = engine.Engine(clock=clock, s3_root=str(tmp_path))
    fh = eng.client("firehose")
    for name in ("a", "b"):
        fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_config(
            Prefix=f"{name}/", BufferingHints={"SizeInMBs": 128, "IntervalInSeconds": 900}))
        fh.put_record(DeliveryStreamName=name, Record={"Data": name.encode()})
    fh.delete_delivery_stream(DeliveryStreamName="a")
    assert [get(eng, k) for k in keys(eng, "a/")] == [b"a"]
    with pytest.raises(fh.exceptions.ResourceNotFoundException):
        fh.put_record(DeliveryStreamName="a", Record={"Data": b"x"})
    assert keys(eng, "b/") == []
    eng.close()
    assert [get(eng, k) for k in keys(eng, "b/")] == [b"b"]


def test_native_put_batch_accepts_lists_numpy_and_arrow(eng, fh):
    fh.create_delivery_stream(DeliveryStreamName="nat", ExtendedS3DestinationConfiguration=s3_config())
    stream = eng.backend("firehose").get("nat")
    assert stream.put_batch([b"a", "b"]) == 2
    assert stream.put_batch(np.array([b"c", b"d"])) == 2
    assert stream.put_batch(np.array(["e"])) == 1
    assert stream.put_batch(pa.array(["f", "g"])) == 2
    assert stream.put_batch(pa.chunked_array([pa.array([b"h"], pa.binary())])) == 1
    stream.flush()
    (key,) = keys(eng)
    assert get(eng, key) == b"abcdefgh"


@pytest.mark.parametrize("fmt", ["GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"])
def test_compression_formats(eng, fh, fmt):
    fh.create_delivery_stream(DeliveryStreamName="c", ExtendedS3DestinationConfiguration=s3_config(
        CompressionFormat=fmt))
    payload = [(b"record-%d " % i) * 50 for i in range(2000)]
    eng.backend("firehose").get("c").put_batch(payload)
    eng.backend("firehose").get("c").flush()
    (key,) = keys(eng)
    body = get(eng, key)
    expected = b"".join(payload)
    if fmt == "GZIP":
        assert key.endswith(".gz") and gzip.decompress(body) == expected
    elif fmt == "ZIP":
        assert key.endswith(".zip")
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            assert zf.read(zf.namelist()[0]) == expected
    elif fmt == "Snappy":
        assert key.endswith(".snappy")
        assert _unframe_snappy(body) == expected
    else:
        assert _unblock_hadoop(body) == expected


def _varint(buf):
    value = shift = i = 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value
        shift += 7


def _unframe_snappy(body):
    assert body[:10] == b"\xff\x06\x00\x00sNaPpY"
    pos, out, codec = 10, [], pa.Codec("snappy")
    while pos < len(body):
        kind = body[pos]
        length = int.from_bytes(body[pos + 1:pos + 4], "little")
        crc = int.from_bytes(body[pos + 4:pos + 8], "little")
        chunk = body[pos + 8:pos + 4 + length]
        data = codec.decompress(chunk, decompressed_size=_varint(chunk), asbytes=True) if kind == 0 else chunk
        c = export.crc32c(data)
        assert crc == ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
        out.append(data)
        pos += 4 + length
    return b"".join(out)


def _unblock_hadoop(body):
    pos, out, codec = 0, [], pa.Codec("snappy")
    while pos < len(body):
        raw = int.from_bytes(body[pos:pos + 4], "big")
        comp = int.from_bytes(body[pos + 4:pos + 8], "big")
        out.append(codec.decompress(body[pos + 8:pos + 8 + comp], decompressed_size=raw, asbytes=True))
        pos += 8 + comp
    return b"".join(out)


def test_crc32c_known_value():
    assert export.crc32c(b"123456789") == 0xE3069283


def test_objects_are_atomic_and_temp_files_live_outside_buckets(eng, fh, tmp_path):
    fh.create_delivery_stream(DeliveryStreamName="at", ExtendedS3DestinationConfiguration=s3_config())
    fh.put_record(DeliveryStreamName="at", Record={"Data": b"z"})
    eng.backend("firehose").get("at").flush()
    root = tmp_path / "s3"
    assert sorted(os.listdir(root)) == [TMP_DIR, "bucket"]
    assert os.listdir(root / TMP_DIR) == []

    # a failing writer leaves nothing behind, neither the object nor a temporary file
    store = store_for(eng)

    def boom(out):
        out.write(b"partial")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        store.write("bucket", "k/partial", boom)
    assert "k/partial" not in store.list("bucket") and os.listdir(root / TMP_DIR) == []


@pytest.mark.parametrize("uri", ["file", "mock"])
def test_s3_root_as_a_pyarrow_uri(clock, tmp_path, uri):
    root = f"file://{tmp_path}/s3root" if uri == "file" else "mock://"
    eng = engine.Engine(clock=clock, s3_root=root)
    fh = eng.client("firehose")
    fh.create_delivery_stream(DeliveryStreamName="u", ExtendedS3DestinationConfiguration=s3_config(Prefix="p/"))
    fh.put_record_batch(DeliveryStreamName="u", Records=[{"Data": b"1"}, {"Data": b"2"}])
    eng.backend("firehose").get("u").flush()
    store = store_for(eng)
    (key,) = store.list("bucket", "p/")
    assert store.get("bucket", key) == b"12"
    if uri == "file":
        assert (tmp_path / "s3root" / "bucket" / key).read_bytes() == b"12"
    fs, path = engine.s3.resolve(eng, "s3://bucket/p/")
    assert fs is store.filesystem and path.endswith("bucket/p")
    eng.close()


def test_describe_list_tags_encryption(eng, fh, shape):
    fh.create_delivery_stream(DeliveryStreamName="d1", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="x/", ErrorOutputPrefix="e/", CompressionFormat="GZIP", FileExtension=".log.gz"),
        Tags=[{"Key": "team", "Value": "data"}])
    fh.create_delivery_stream(DeliveryStreamName="d2", S3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": BUCKET})
    d = fh.describe_delivery_stream(DeliveryStreamName="d1")
    shape("firehose", "DescribeDeliveryStream", d)
    desc = d["DeliveryStreamDescription"]
    assert desc["DeliveryStreamStatus"] == "ACTIVE" and desc["VersionId"] == "1"
    assert desc["DeliveryStreamType"] == "DirectPut" and desc["HasMoreDestinations"] is False
    assert desc["DeliveryStreamEncryptionConfiguration"] == {"Status": "DISABLED"}
    (dest,) = desc["Destinations"]
    assert dest["DestinationId"] == "destinationId-000000000001"
    ext = dest["ExtendedS3DestinationDescription"]
    assert ext["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 60}
    assert ext["CompressionFormat"] == "GZIP" and ext["Prefix"] == "x/" and ext["ErrorOutputPrefix"] == "e/"
    assert ext["EncryptionConfiguration"] == {"NoEncryptionConfig": "NoEncryption"}
    assert ext["S3BackupMode"] == "Disabled" and ext["FileExtension"] == ".log.gz"
    assert dest["S3DestinationDescription"]["BucketARN"] == BUCKET
    d2 = fh.describe_delivery_stream(DeliveryStreamName="d2")["DeliveryStreamDescription"]["Destinations"][0]
    assert d2["ExtendedS3DestinationDescription"]["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}
    assert d2["ExtendedS3DestinationDescription"]["CompressionFormat"] == "UNCOMPRESSED"

    lst = fh.list_delivery_streams()
    shape("firehose", "ListDeliveryStreams", lst)
    assert lst == {"DeliveryStreamNames": ["d1", "d2"], "HasMoreDeliveryStreams": False,
                   "ResponseMetadata": lst["ResponseMetadata"]}
    page = fh.list_delivery_streams(Limit=1)
    assert page["DeliveryStreamNames"] == ["d1"] and page["HasMoreDeliveryStreams"]
    assert fh.list_delivery_streams(ExclusiveStartDeliveryStreamName="d1")["DeliveryStreamNames"] == ["d2"]
    assert fh.list_delivery_streams(DeliveryStreamType="KinesisStreamAsSource")["DeliveryStreamNames"] == []

    shape("firehose", "TagDeliveryStream", fh.tag_delivery_stream(DeliveryStreamName="d1", Tags=[
        {"Key": "env", "Value": "dev"}]))
    tags = fh.list_tags_for_delivery_stream(DeliveryStreamName="d1")
    shape("firehose", "ListTagsForDeliveryStream", tags)
    assert tags["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "data"}]
    assert fh.list_tags_for_delivery_stream(DeliveryStreamName="d1", Limit=1)["HasMoreTags"] is True
    shape("firehose", "UntagDeliveryStream", fh.untag_delivery_stream(DeliveryStreamName="d1", TagKeys=["env"]))
    assert fh.list_tags_for_delivery_stream(DeliveryStreamName="d1")["Tags"] == [{"Key": "team", "Value": "data"}]

    shape("firehose", "StartDeliveryStreamEncryption", fh.start_delivery_stream_encryption(
        DeliveryStreamName="d1", DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"}))
    enc = fh.describe_delivery_stream(DeliveryStreamName="d1")["DeliveryStreamDescription"][
        "DeliveryStreamEncryptionConfiguration"]
    assert enc == {"Status": "ENABLED", "KeyType": "AWS_OWNED_CMK"}
    assert fh.put_record(DeliveryStreamName="d1", Record={"Data": b"x"})["Encrypted"] is True
    fh.stop_delivery_stream_encryption(DeliveryStreamName="d1")
    assert fh.put_record(DeliveryStreamName="d1", Record={"Data": b"x"})["Encrypted"] is False
    shape("firehose", "DeleteDeliveryStream", fh.delete_delivery_stream(DeliveryStreamName="d2"))


def test_update_destination(eng, fh, clock, shape):
    fh.create_delivery_stream(DeliveryStreamName="up", ExtendedS3DestinationConfiguration=s3_config(Prefix="v1/"))
    fh.put_record(DeliveryStreamName="up", Record={"Data": b"old"})
    clock.advance(10)
    out = fh.update_destination(DeliveryStreamName="up", CurrentDeliveryStreamVersionId="1",
                                DestinationId="destinationId-000000000001",
                                ExtendedS3DestinationUpdate={"Prefix": "v2/"})
    shape("firehose", "UpdateDestination", out)
    assert eng.backend("firehose").drain()
    # buffered records went out under the old configuration
    (old,) = keys(eng, "v1/")
    assert get(eng, old) == b"old"
    fh.put_record(DeliveryStreamName="up", Record={"Data": b"new"})
    eng.backend("firehose").get("up").flush()
    (new,) = keys(eng, "v2/")
    assert_name(new, "up", version=2)
    desc = fh.describe_delivery_stream(DeliveryStreamName="up")["DeliveryStreamDescription"]
    assert desc["VersionId"] == "2" and "LastUpdateTimestamp" in desc
    ext = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert ext["Prefix"] == "v2/" and ext["BufferingHints"]["SizeInMBs"] == 1   # merged, not replaced
    with pytest.raises(fh.exceptions.ConcurrentModificationException, match="do not match"):
        fh.update_destination(DeliveryStreamName="up", CurrentDeliveryStreamVersionId="1",
                              DestinationId="destinationId-000000000001", ExtendedS3DestinationUpdate={})
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="Destination Id"):
        fh.update_destination(DeliveryStreamName="up", CurrentDeliveryStreamVersionId="2",
                              DestinationId="destinationId-000000000009", ExtendedS3DestinationUpdate={})


def _code(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def test_bad_input_errors(eng, fh):
    with pytest.raises(fh.exceptions.ResourceNotFoundException) as e:
        fh.put_record(DeliveryStreamName="nope", Record={"Data": b"x"})
    assert _code(e) == ("ResourceNotFoundException", "Firehose nope under account 000000000000 not found.")
    with pytest.raises(fh.exceptions.ResourceNotFoundException):
        fh.describe_delivery_stream(DeliveryStreamName="nope")
    with pytest.raises(fh.exceptions.ResourceNotFoundException):
        fh.delete_delivery_stream(DeliveryStreamName="nope")
    fh.create_delivery_stream(DeliveryStreamName="ok", ExtendedS3DestinationConfiguration=s3_config())
    with pytest.raises(fh.exceptions.ResourceInUseException, match="already exists"):
        fh.create_delivery_stream(DeliveryStreamName="ok", ExtendedS3DestinationConfiguration=s3_config())
    with pytest.raises(fh.exceptions.ValidationException) as e:
        fh.put_record(DeliveryStreamName="ok", Record={"Data": b"x" * (1000 * 1024 + 1)})
    assert "at 'record.data' failed to satisfy constraint: Member must have length less than or equal to " \
           "1024000" in _code(e)[1]
    fh.put_record(DeliveryStreamName="ok", Record={"Data": b"x" * (1000 * 1024)})   # exactly the limit
    with pytest.raises(fh.exceptions.ValidationException, match="less than or equal to 500"):
        fh.put_record_batch(DeliveryStreamName="ok", Records=[{"Data": b"x"}] * 501)
    with pytest.raises(engine.ParamValidationError, match="valid min length: 1"):   # boto3 refuses it
        fh.put_record_batch(DeliveryStreamName="ok", Records=[])
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="4194304"):
        fh.put_record_batch(DeliveryStreamName="ok", Records=[{"Data": b"x" * 1_000_000}] * 5)
    with pytest.raises(fh.exceptions.ValidationException, match="regular expression pattern"):
        fh.create_delivery_stream(DeliveryStreamName="bad name", ExtendedS3DestinationConfiguration=s3_config())
    for hints, msg in (({"SizeInMBs": 129, "IntervalInSeconds": 60}, "less than or equal to 128"),
                       ({"SizeInMBs": 5, "IntervalInSeconds": 901}, "less than or equal to 900")):
        with pytest.raises(fh.exceptions.ValidationException, match=msg) as e:
            fh.create_delivery_stream(DeliveryStreamName="h", ExtendedS3DestinationConfiguration=s3_config(
                BufferingHints=hints))
        assert "extendedS3DestinationConfiguration.bufferingHints" in _code(e)[1]
    with pytest.raises(engine.ParamValidationError, match="valid min value: 1"):   # boto3 refuses it
        fh.create_delivery_stream(DeliveryStreamName="h", ExtendedS3DestinationConfiguration=s3_config(
            BufferingHints={"SizeInMBs": 0, "IntervalInSeconds": 60}))
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="Exactly one destination"):
        fh.create_delivery_stream(DeliveryStreamName="h")
    with pytest.raises(fh.exceptions.InvalidArgumentException):
        fh.create_delivery_stream(DeliveryStreamName="h", DeliveryStreamType="KinesisStreamAsSource",
                                  ExtendedS3DestinationConfiguration=s3_config())
    with pytest.raises(engine.ParamValidationError):
        fh.put_record(DeliveryStreamName="ok", Record={"Data": 5})
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == ["ok"]


@pytest.mark.parametrize("prefix,error_prefix,message", [
    ("a/!{firehose:error-output-type}/", "e/!{firehose:error-output-type}/", "only valid in ErrorOutputPrefix"),
    ("a/!{timestamp:yyyy}/", None, "ErrorOutputPrefix cannot be null"),
    ("a/!{timestamp:yyyy}/", "e/!{timestamp:yyyy}/", "must include at least one"),
    ("a/!{timestamp:bbb}/", "e/!{firehose:error-output-type}", "not a valid DateTimeFormatter"),
    ("a/!{nope:x}/", "e/!{firehose:error-output-type}", "is not valid"),
    ("a/!{firehose:what}/", "e/!{firehose:error-output-type}", "is not valid"),
    ("a/!{timestamp:yyyy", "e/!{firehose:error-output-type}", "not closed"),
    ("a/!{partitionKeyFromQuery:k}/", "e/!{firehose:error-output-type}", "require DynamicPartitioning"),
    ("a/", "e/!{firehose:error-output-type}/!{partitionKeyFromLambda:k}", "ErrorOutputPrefix"),
])
def test_prefix_expressions_aws_rejects(fh, prefix, error_prefix, message):
    cfg = s3_config(Prefix=prefix)
    if error_prefix is not None:
        cfg["ErrorOutputPrefix"] = error_prefix
    with pytest.raises(fh.exceptions.InvalidArgumentException, match=message):
        fh.create_delivery_stream(DeliveryStreamName="p", ExtendedS3DestinationConfiguration=cfg)
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == []


def test_prefix_expressions_evaluate(eng, fh, clock):
    fh.create_delivery_stream(DeliveryStreamName="px", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="y=!{timestamp:yyyy}/m=!{timestamp:MM}/!{timestamp:'day'dd'T'HH}/!{firehose:random-string}/",
        ErrorOutputPrefix="err/!{firehose:error-output-type}/"))
    fh.put_record(DeliveryStreamName="px", Record={"Data": b"1"})
    clock.advance(3600)      # the oldest record's arrival names the object, not the delivery time
    (key,) = keys(eng)
    parts = key.split("/")
    assert parts[:3] == ["y=2023", "m=11", "day14T22"]
    assert len(parts[3]) == 11
    assert_name(key, "px")


def test_custom_time_zone(eng, fh):
    fh.create_delivery_stream(DeliveryStreamName="tz", ExtendedS3DestinationConfiguration=s3_config(
        CustomTimeZone="Asia/Tokyo"))
    fh.put_record(DeliveryStreamName="tz", Record={"Data": b"1"})
    eng.backend("firehose").get("tz").flush()
    (key,) = keys(eng)
    assert key.startswith("2023/11/15/07/tz-1-2023-11-15-07-13-20-")


def test_enforce_limits_throttles_per_record(clock, tmp_path):
    eng = engine.Engine(clock=clock, s3_root=str(tmp_path), enforce_limits=True)
    fh = eng.client("firehose")
    fh.create_delivery_stream(DeliveryStreamName="t", ExtendedS3DestinationConfiguration=s3_config())
    results = [fh.put_record_batch(DeliveryStreamName="t", Records=[{"Data": b"x"}] * 500) for _ in range(11)]
    failed = sum(r["FailedPutCount"] for r in results)
    assert failed == 500
    last = results[-1]["RequestResponses"][0]
    assert last == {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
    with pytest.raises(fh.exceptions.ServiceUnavailableException):
        fh.put_record(DeliveryStreamName="t", Record={"Data": b"x"})
    clock.advance(1)
    assert fh.put_record_batch(DeliveryStreamName="t", Records=[{"Data": b"x"}])["FailedPutCount"] == 0
    eng.close()

"""Every write lands under <s3_root>/<bucket>/ (temporary files under <s3_root>/.engine-tmp/),
whatever a key holds; bucket names follow S3's rules (issue 9, item 6)."""
import base64
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.errors import ClientError
from engine.firehose.models import ExtendedS3, S3Destination
from engine.s3 import TMP_DIR, S3Store, key_to_path, path_to_key

from .conftest import BUCKET, ROLE, get, keys, s3_config


def _files(top):
    return sorted(os.path.relpath(os.path.join(d, n), top) for d, _, names in os.walk(top) for n in names)


@pytest.fixture
def jail(tmp_path, clock):
    """An engine whose s3_root is nested, so anything escaping it shows up next to it."""
    root = tmp_path / "a" / "b" / "s3"
    eng = engine.Engine(clock=clock, s3_root=str(root))
    yield eng, root, tmp_path
    eng.close()


def _only_under_bucket(root, top, buckets=("bucket",)):
    outside = [f for f in _files(top) if not any(f.startswith(os.path.join("a", "b", "s3", b) + os.sep)
                                                 for b in buckets + (TMP_DIR,))]
    assert outside == []


TRAVERSALS = ["../../../../x", "..", ".", "/etc/passwd", "a\\..\\..\\b", "a//b", "%2E%2E", "..\\x"]


def test_partition_keys_from_a_query_cannot_leave_the_bucket(jail):
    eng, root, top = jail
    fh = eng.client("firehose")
    fh.create_delivery_stream(DeliveryStreamName="q", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60}, Prefix="data/!{partitionKeyFromQuery:k}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/", DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k: .k}"},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}))
    fh.put_record_batch(DeliveryStreamName="q", Records=[{"Data": json.dumps({"k": k})} for k in TRAVERSALS])
    eng.clock.advance(60)
    _only_under_bucket(root, top)
    # each key is its own flat S3 key: listed back exactly as Firehose named it
    prefixes = sorted({k[len("data/"):k.rindex("/")] for k in keys(eng, "data/")})
    assert prefixes == sorted(TRAVERSALS)
    for key in keys(eng, "data/"):
        value = key[len("data/"):key.rindex("/")]
        assert json.loads(get(eng, key)) == {"k": value}


def test_partition_keys_from_a_lambda_cannot_leave_the_bucket(jail):
    eng, root, top = jail
    values = iter(TRAVERSALS)

    def handler(event, context):
        return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"],
                             "metadata": {"partitionKeys": {"k": next(values)}}} for r in event["records"]]}
    arn = eng.register_function("keys", handler)
    fh = eng.client("firehose")
    fh.create_delivery_stream(DeliveryStreamName="l", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60}, Prefix="!{partitionKeyFromLambda:k}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/", DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
            {"ParameterName": "LambdaArn", "ParameterValue": arn}]}]}))
    fh.put_record_batch(DeliveryStreamName="l", Records=[{"Data": b"r%d" % i} for i in range(len(TRAVERSALS))])
    eng.clock.advance(60)
    _only_under_bucket(root, top)
    assert len(keys(eng)) == len(TRAVERSALS)


def test_dot_dot_in_prefixes_stays_a_key(jail):
    eng, root, top = jail
    fh = eng.client("firehose")
    arn = eng.register_function("fails", lambda e, c: {"records": [
        {"recordId": r["recordId"], "result": "ProcessingFailed"} if r["data"] == base64.b64encode(b"bad").decode()
        else {"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in e["records"]]})
    fh.create_delivery_stream(DeliveryStreamName="p", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="../../../../up/", ErrorOutputPrefix="/../../err/!{firehose:error-output-type}/",
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
            {"ParameterName": "LambdaArn", "ParameterValue": arn}]}]},
        S3BackupMode="Enabled", S3BackupConfiguration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup",
                                                       "Prefix": "..\\..\\..\\..\\bk/"}))
    fh.put_record_batch(DeliveryStreamName="p", Records=[{"Data": b"good"}, {"Data": b"bad"}])
    eng.clock.advance(60)
    _only_under_bucket(root, top, buckets=("bucket", "backup"))
    assert sorted(k.split("/")[:5] for k in keys(eng)) == [["", "..", "..", "err", "processing-failed"],
                                                           ["..", "..", "..", "..", "up"]]
    (backup,) = keys(eng, bucket="backup")
    assert backup.startswith("..\\..\\..\\..\\bk/")


@pytest.mark.parametrize("bucket", ["..", "b", "UPPER", "a..b", "-dash", "192.168.0.1", "x" * 64, "a/b",
                                    "xn--bucket", "bucket-s3alias"])
def test_bucket_names_follow_s3_rules(eng, fh, bucket):
    arn = f"arn:aws:s3:::{bucket}"
    with pytest.raises(ClientError) as err:
        fh.create_delivery_stream(DeliveryStreamName="b", ExtendedS3DestinationConfiguration=s3_config(BucketARN=arn))
    assert err.value.response["Error"]["Code"] in ("InvalidArgumentException", "ValidationException")
    with pytest.raises(ClientError) as err:
        eng.backend("firehose").create_delivery_stream("b", ExtendedS3(S3Destination(arn, ROLE)))
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
    fh.create_delivery_stream(DeliveryStreamName="ok", ExtendedS3DestinationConfiguration=s3_config())
    for update in ({"BucketARN": arn}, {"S3BackupMode": "Enabled", "S3BackupUpdate": {"BucketARN": arn,
                                                                                        "RoleARN": ROLE}}):
        with pytest.raises(ClientError) as err:
            fh.update_destination(DeliveryStreamName="ok", CurrentDeliveryStreamVersionId="1",
                                  DestinationId="destinationId-000000000001", ExtendedS3DestinationUpdate=update)
        assert err.value.response["Error"]["Code"] in ("InvalidArgumentException", "ValidationException")
    assert fh.describe_delivery_stream(DeliveryStreamName="ok")["DeliveryStreamDescription"]["VersionId"] == "1"


def test_a_static_prefix_the_filesystem_cannot_hold_is_refused_at_create_time(fh):
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="can't be stored"):
        fh.create_delivery_stream(DeliveryStreamName="long", ExtendedS3DestinationConfiguration=s3_config(
            Prefix="x" * 300 + "/"))


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(), max_size=40) | st.lists(st.sampled_from(["..", ".", "", "/", "\\", "\0", "%", "a"]),
                                                       max_size=12).map("".join))
def test_any_key_maps_to_a_path_under_the_bucket_and_back(key):
    path = key_to_path(key)
    assert path_to_key(path) == key
    parts = path.split("/")
    assert all(p not in ("", ".", "..") and "\0" not in p and "\\" not in p for p in parts)
    store = S3Store("/root/s3")
    full = store.path("bucket", key) if key else store.path("bucket")
    assert os.path.normpath(full).startswith("/root/s3/bucket")


def test_store_refuses_bucket_names_outside_the_rules(tmp_path):
    store = S3Store(str(tmp_path))
    for bucket in ("..", "", "a/b", "."):
        with pytest.raises(ValueError):
            store.put(bucket, "k", b"x")
    assert os.listdir(tmp_path) == []

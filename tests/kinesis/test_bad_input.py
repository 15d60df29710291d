"""Bad input gets AWS's error codes, and nothing already stored changes.

Where boto3 itself refuses a request before sending it (wrong type, missing member, a value
under the model's `min`), the engine raises botocore-style ParamValidationError; everything
else is a ClientError with the code AWS returns. botocore's own ParamValidator is the oracle
for which is which: each case below is checked against it.
"""
import datetime

import botocore.exceptions
import pytest

import engine
from tests.kinesis.conftest import (HASH_MAX, botocore_refuses, iterator, list_all_shards, make_stream,
                                    read_stream, shard_id, stream_arn)

PVE = "ParamValidationError"
MiB = 1024 * 1024
REC = {"Data": b"x", "PartitionKey": "k"}
S = {"StreamName": "s"}

CASES = [
    # --- stream names ---
    ("create_stream", {"StreamName": "", "ShardCount": 1}, PVE),
    ("create_stream", {"StreamName": "n" * 129, "ShardCount": 1}, "ValidationException"),
    ("create_stream", {"StreamName": "has space", "ShardCount": 1}, "ValidationException"),
    ("create_stream", {"StreamName": "slash/name", "ShardCount": 1}, "ValidationException"),
    ("create_stream", {"StreamName": "ünïcode", "ShardCount": 1}, "ValidationException"),
    ("create_stream", {"StreamName": 5, "ShardCount": 1}, PVE),
    ("describe_stream", {"StreamName": "bad name"}, "ValidationException"),
    ("put_record", {"StreamName": "n" * 129, "Data": b"x", "PartitionKey": "k"}, "ValidationException"),
    # --- shard count, mode, record size ---
    ("create_stream", {"StreamName": "n", "ShardCount": 0}, PVE),
    ("create_stream", {"StreamName": "n", "ShardCount": -3}, PVE),
    ("create_stream", {"StreamName": "n", "ShardCount": 20_001}, "LimitExceededException"),
    ("create_stream", {"StreamName": "n", "ShardCount": "2"}, PVE),
    ("create_stream", {"StreamName": "n", "ShardCount": 2.0}, PVE),
    ("create_stream", {"StreamName": "n", "StreamModeDetails": {"StreamMode": "FAST"}}, "ValidationException"),
    ("create_stream", {"StreamName": "n", "StreamModeDetails": "ON_DEMAND"}, PVE),
    ("create_stream", {"StreamName": "n", "ShardCount": 1, "MaxRecordSizeInKiB": 1023}, PVE),
    ("create_stream", {"StreamName": "n", "ShardCount": 1, "MaxRecordSizeInKiB": 10241}, "ValidationException"),
    ("create_stream", {"StreamName": "n", "ShardCount": 1, "Tags": []}, PVE),
    ("create_stream", {"StreamName": "n", "ShardCount": 1, "Tags": {}}, "ValidationException"),
    ("create_stream", {"StreamName": "s", "ShardCount": 1}, "ResourceInUseException"),
    ("update_max_record_size", {"StreamARN": stream_arn("s"), "MaxRecordSizeInKiB": 512}, PVE),
    ("update_max_record_size", {"StreamARN": stream_arn("s"), "MaxRecordSizeInKiB": 20480}, "ValidationException"),
    # --- partition keys ---
    ("put_record", {**S, "Data": b"x", "PartitionKey": ""}, PVE),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k" * 257}, "ValidationException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "é" * 257}, "ValidationException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": 7}, PVE),
    ("put_records", {**S, "Records": [REC, {"Data": b"x", "PartitionKey": ""}]}, PVE),
    ("put_records", {**S, "Records": [REC, {"Data": b"x", "PartitionKey": "k" * 257}]}, "ValidationException"),
    # --- data ---
    ("put_record", {**S, "Data": b"x" * (MiB + 1), "PartitionKey": "k"}, "ValidationException"),
    ("put_record", {**S, "Data": 123, "PartitionKey": "k"}, PVE),
    ("put_record", {**S, "Data": ["x"], "PartitionKey": "k"}, PVE),
    ("put_records", {**S, "Records": [REC, {"Data": b"x" * (MiB + 1), "PartitionKey": "k"}]}, "ValidationException"),
    ("put_records", {**S, "Records": [{"Data": 1, "PartitionKey": "k"}]}, PVE),
    # the 1 MiB record limit counts data plus partition key (AWS's rule)
    ("put_record", {**S, "Data": b"x" * MiB, "PartitionKey": "k"}, "ValidationException"),
    ("put_records", {**S, "Records": [REC, {"Data": b"x" * (MiB - 1), "PartitionKey": "kk"}]}, "ValidationException"),
    # entries of PutRecords: botocore refuses unknown members and non-string hash keys
    ("put_records", {**S, "Records": [REC, {**REC, "Foo": 1}]}, PVE),
    ("put_records", {**S, "Records": [REC, {**REC, "ExplicitHashKey": None}]}, PVE),
    ("put_records", {**S, "Records": [REC, {**REC, "ExplicitHashKey": 5}]}, PVE),
    ("put_records", {**S, "Records": [REC, {"Data": b"x", "PartitionKey": "\ud800"}]}, "ValidationException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "\ud800"}, "ValidationException"),
    # --- PutRecords request size ---
    ("put_records", {**S, "Records": []}, PVE),
    ("put_records", {**S, "Records": [REC] * 501}, "ValidationException"),
    ("put_records", {**S, "Records": [{"Data": b"x" * MiB, "PartitionKey": "k"}] * 5 + [REC]},
     "InvalidArgumentException"),
    ("put_records", {**S, "Records": [{"Data": b"x" * (MiB - 1), "PartitionKey": "k"}] * 5 + [
        {"Data": b"", "PartitionKey": "k" * 6}]}, "InvalidArgumentException"),        # keys count too
    ("put_records", {**S, "Records": REC}, PVE),
    ("put_records", {**S, "Records": ["not a dict"]}, PVE),
    ("put_records", {**S, "Records": [{"PartitionKey": "k"}]}, PVE),
    # --- explicit hash keys ---
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": str(HASH_MAX + 1)},
     "InvalidArgumentException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": "9" * 39}, "InvalidArgumentException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": "-1"}, "ValidationException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": "01"}, "ValidationException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": "0x10"}, "ValidationException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": "1" * 40}, "ValidationException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": ""}, "ValidationException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": 5}, PVE),
    ("put_records", {**S, "Records": [REC, {**REC, "ExplicitHashKey": str(HASH_MAX + 1)}]}, "InvalidArgumentException"),
    ("put_records", {**S, "Records": [REC, {**REC, "ExplicitHashKey": "abc"}]}, "ValidationException"),
    ("put_record", {**S, "Data": b"x", "PartitionKey": "k", "SequenceNumberForOrdering": "abc"}, "ValidationException"),
    # --- unknown stream or shard ---
    ("put_record", {"StreamName": "nope", "Data": b"x", "PartitionKey": "k"}, "ResourceNotFoundException"),
    ("put_records", {"StreamName": "nope", "Records": [REC]}, "ResourceNotFoundException"),
    ("describe_stream", {"StreamName": "nope"}, "ResourceNotFoundException"),
    ("describe_stream_summary", {"StreamARN": stream_arn("nope")}, "ResourceNotFoundException"),
    ("list_shards", {"StreamName": "nope"}, "ResourceNotFoundException"),
    ("delete_stream", {"StreamName": "nope"}, "ResourceNotFoundException"),
    ("increase_stream_retention_period", {"StreamName": "nope", "RetentionPeriodHours": 48},
     "ResourceNotFoundException"),
    ("add_tags_to_stream", {"StreamName": "nope", "Tags": {"a": "b"}}, "ResourceNotFoundException"),
    ("start_stream_encryption", {"StreamName": "nope", "EncryptionType": "KMS", "KeyId": "k"},
     "ResourceNotFoundException"),
    ("register_stream_consumer", {"StreamARN": stream_arn("nope"), "ConsumerName": "c"}, "ResourceNotFoundException"),
    ("get_shard_iterator", {"StreamName": "nope", "ShardId": shard_id(0), "ShardIteratorType": "LATEST"},
     "ResourceNotFoundException"),
    ("get_shard_iterator", {**S, "ShardId": shard_id(9), "ShardIteratorType": "LATEST"}, "ResourceNotFoundException"),
    ("get_shard_iterator", {**S, "ShardId": "shardId-x", "ShardIteratorType": "LATEST"}, "ResourceNotFoundException"),
    ("split_shard", {**S, "ShardToSplit": shard_id(9), "NewStartingHashKey": "5"}, "ResourceNotFoundException"),
    ("merge_shards", {**S, "ShardToMerge": shard_id(0), "AdjacentShardToMerge": shard_id(9)},
     "ResourceNotFoundException"),
    ("update_shard_count", {"StreamName": "nope", "TargetShardCount": 2, "ScalingType": "UNIFORM_SCALING"},
     "ResourceNotFoundException"),
    # --- iterators ---
    ("get_shard_iterator", {**S, "ShardId": shard_id(0), "ShardIteratorType": "OLDEST"}, "ValidationException"),
    ("get_shard_iterator", {**S, "ShardId": shard_id(0), "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                            "StartingSequenceNumber": "12ab"}, "ValidationException"),   # the model's pattern
    ("get_shard_iterator", {**S, "ShardId": shard_id(0), "ShardIteratorType": "AT_TIMESTAMP",
                            "Timestamp": ["not a time"]}, PVE),
    ("get_shard_iterator", {**S, "ShardId": shard_id(0)}, PVE),
    ("get_shard_iterator", {**S, "ShardId": "", "ShardIteratorType": "LATEST"}, PVE),
    ("get_records", {"ShardIterator": ""}, PVE),
    ("get_records", {"ShardIterator": "bogus"}, "InvalidArgumentException"),
    ("get_records", {"ShardIterator": 42}, PVE),
    # --- retention ---
    ("increase_stream_retention_period", {**S, "RetentionPeriodHours": 23}, "InvalidArgumentException"),
    ("increase_stream_retention_period", {**S, "RetentionPeriodHours": 8761}, "InvalidArgumentException"),
    ("decrease_stream_retention_period", {**S, "RetentionPeriodHours": 23}, "InvalidArgumentException"),
    ("decrease_stream_retention_period", {**S, "RetentionPeriodHours": 8761}, "InvalidArgumentException"),
    ("increase_stream_retention_period", {**S, "RetentionPeriodHours": "48"}, PVE),
    ("increase_stream_retention_period", {**S}, PVE),
    # --- resharding ---
    ("split_shard", {**S, "ShardToSplit": shard_id(0), "NewStartingHashKey": "0"}, "InvalidArgumentException"),
    ("split_shard", {**S, "ShardToSplit": shard_id(0), "NewStartingHashKey": str(2**127)}, "InvalidArgumentException"),
    ("split_shard", {**S, "ShardToSplit": shard_id(0), "NewStartingHashKey": str(HASH_MAX + 1)},
     "InvalidArgumentException"),
    ("split_shard", {**S, "ShardToSplit": shard_id(0), "NewStartingHashKey": "half"}, "ValidationException"),
    ("split_shard", {**S, "ShardToSplit": shard_id(0), "NewStartingHashKey": 5}, PVE),
    ("split_shard", {**S, "ShardToSplit": shard_id(0)}, PVE),
    ("merge_shards", {**S, "ShardToMerge": shard_id(0), "AdjacentShardToMerge": shard_id(2)},
     "InvalidArgumentException"),
    ("merge_shards", {**S, "ShardToMerge": shard_id(1), "AdjacentShardToMerge": shard_id(1)},
     "InvalidArgumentException"),
    ("update_shard_count", {**S, "TargetShardCount": 0, "ScalingType": "UNIFORM_SCALING"}, PVE),
    ("update_shard_count", {**S, "TargetShardCount": 7, "ScalingType": "UNIFORM_SCALING"}, "LimitExceededException"),
    ("update_shard_count", {**S, "TargetShardCount": 1, "ScalingType": "UNIFORM_SCALING"}, "LimitExceededException"),
    ("update_shard_count", {**S, "TargetShardCount": 4, "ScalingType": "RANDOM"}, "ValidationException"),
    # --- listing ---
    ("list_shards", {**S, "MaxResults": 0}, PVE),
    ("list_shards", {**S, "MaxResults": 10_001}, "ValidationException"),
    ("list_shards", {**S, "MaxResults": "5"}, PVE),
    ("list_shards", {**S, "ShardFilter": "AT_LATEST"}, PVE),
    ("list_shards", {**S, "ShardFilter": {"Type": "AFTER_SHARD_ID", "ShardId": ""}}, PVE),
    ("list_streams", {"Limit": 0}, PVE),
    ("list_streams", {"Limit": 10_001}, "ValidationException"),
    ("describe_stream", {**S, "Limit": 0}, PVE),
    ("get_records", {"ShardIterator": "bogus", "Limit": 0}, PVE),
    ("get_records", {"ShardIterator": "bogus", "Limit": 10_001}, "ValidationException"),
    ("list_tags_for_stream", {**S, "Limit": 51}, "ValidationException"),
    # --- tags ---
    ("add_tags_to_stream", {**S, "Tags": {f"k{i}": "v" for i in range(11)}}, "InvalidArgumentException"),
    ("add_tags_to_stream", {**S, "Tags": {"": "v"}}, PVE),
    ("add_tags_to_stream", {**S, "Tags": {}}, "ValidationException"),
    ("add_tags_to_stream", {**S, "Tags": {"k" * 129: "v"}}, "ValidationException"),
    ("add_tags_to_stream", {**S, "Tags": [("k", "v")]}, PVE),
    ("remove_tags_from_stream", {**S, "TagKeys": []}, PVE),
    ("remove_tags_from_stream", {**S, "TagKeys": "k"}, PVE),
    # --- encryption, consumers ---
    ("start_stream_encryption", {**S, "EncryptionType": "KMS", "KeyId": ""}, PVE),
    ("start_stream_encryption", {**S, "EncryptionType": "KMS"}, PVE),
    ("register_stream_consumer", {"StreamARN": stream_arn("s"), "ConsumerName": ""}, PVE),
    ("register_stream_consumer", {"StreamARN": stream_arn("s"), "ConsumerName": "has space"}, "ValidationException"),
    ("register_stream_consumer", {"StreamARN": stream_arn("s")}, PVE),
    # --- missing or unknown parameters ---
    ("create_stream", {"ShardCount": 1}, PVE),
    ("put_record", {**S, "PartitionKey": "k"}, PVE),
    ("put_records", {**S}, PVE),
    ("get_records", {}, PVE),
    ("merge_shards", {**S, "ShardToMerge": shard_id(0)}, PVE),
    ("describe_stream", {**S, "Shards": 3}, PVE),
]


def _id(case):
    op, params, code = case
    short = {k: (v if len(repr(v)) < 30 else f"<{type(v).__name__}>") for k, v in params.items()}
    return f"{op}-{code}-{short}"


@pytest.fixture
def populated(kin, clock):
    """Stream "s" with 3 shards, a consumer, tags and records, plus a snapshot function."""
    make_stream(kin, "s", 3)
    kin.add_tags_to_stream(StreamName="s", Tags={"team": "data"})
    kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="reader")
    kin.put_records(StreamName="s", Records=[{"Data": b"%d" % i, "PartitionKey": str(i)} for i in range(30)])
    clock.advance(1)

    def snapshot():
        summary = kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]
        return {
            "streams": kin.list_streams()["StreamNames"],
            "summary": summary,
            "shards": list_all_shards(kin, "s"),
            "records": read_stream(kin, "s"),
            "tags": kin.list_tags_for_stream(StreamName="s")["Tags"],
            "consumers": [c["ConsumerName"] for c in kin.list_stream_consumers(StreamARN=stream_arn("s"))["Consumers"]],
        }

    return snapshot


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_bad_input(kin, raw, populated, case):
    op, params, code = case
    before = populated()
    with pytest.raises(Exception) as err:
        getattr(kin, op)(**params)
    exc = err.value
    if code == PVE:
        assert botocore_refuses(operation_name(op), params), "boto3 would send this; the service must judge it"
        assert isinstance(exc, engine.ParamValidationError), repr(exc)
        assert isinstance(exc, botocore.exceptions.ParamValidationError)
        assert not isinstance(exc, engine.ClientError)
        assert str(exc).startswith("Parameter validation failed:\n")
    else:
        assert not botocore_refuses(operation_name(op), params), "boto3 refuses this before sending"
        assert isinstance(exc, engine.ClientError), repr(exc)
        assert isinstance(exc, botocore.exceptions.ClientError)
        assert exc.response["Error"]["Code"] == code, exc.response["Error"]
        assert exc.response["Error"]["Message"]
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert isinstance(exc, getattr(raw.exceptions, code))
        assert exc.operation_name == operation_name(op)
        assert f"when calling the {operation_name(op)} operation" in str(exc)
    assert populated() == before


def operation_name(method):
    return "".join(part.capitalize() for part in method.split("_"))


def test_every_error_code_is_a_client_exception(raw):
    for code in ("ResourceNotFoundException", "ResourceInUseException", "InvalidArgumentException",
                 "ValidationException", "LimitExceededException", "ProvisionedThroughputExceededException",
                 "ExpiredIteratorException", "ExpiredNextTokenException", "KMSNotFoundException"):
        cls = getattr(raw.exceptions, code)
        assert issubclass(cls, raw.exceptions.ClientError) and cls.code == code


def test_neither_stream_name_nor_arn(kin, raw):
    with pytest.raises(raw.exceptions.ValidationException):
        kin.describe_stream_summary()


def test_positional_arguments_are_refused(raw):
    with pytest.raises(TypeError):
        raw.describe_stream("s")


def test_rejected_put_records_stores_nothing(kin, raw, populated):
    """One bad record refuses the whole PutRecords request: the good ones are not stored."""
    before = populated()
    good = [{"Data": b"good-%d" % i, "PartitionKey": f"g{i}"} for i in range(10)]
    for bad in ({"Data": b"x", "PartitionKey": "k" * 257}, {"Data": b"x" * (MiB + 1), "PartitionKey": "k"},
                {"Data": b"x", "PartitionKey": "k", "ExplicitHashKey": str(HASH_MAX + 1)},
                {"Data": b"x", "PartitionKey": ""}, {"Data": None, "PartitionKey": "k"}):
        with pytest.raises((engine.ClientError, engine.ParamValidationError)):
            kin.put_records(StreamName="s", Records=good[:5] + [bad] + good[5:])
    assert populated() == before


def test_rejected_native_batch_stores_nothing(backend, populated):
    before = populated()
    stream = backend.get_stream("s")
    with pytest.raises(engine.ClientError):
        stream.put_batch([b"a", b"b", b"c"], ["a", "b", "k" * 300])
    with pytest.raises(engine.ClientError):
        stream.put_batch([b"a", b"b"], ["a", "b"], explicit_hash_keys=["1", str(HASH_MAX + 1)])
    assert populated() == before


def test_rejected_tag_requests_change_no_tags(kin, raw, populated):
    before = populated()
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.add_tags_to_stream(StreamName="s", Tags={f"n{i}": "v" for i in range(11)})
    with pytest.raises(raw.exceptions.ValidationException):
        kin.add_tags_to_stream(StreamName="s", Tags={"fine": "v", "k" * 129: "v"})
    assert populated() == before


def test_expired_iterator_changes_nothing(kin, raw, populated, clock):
    before = populated()
    it = iterator(kin, "s", shard_id(0))
    clock.advance(301)
    with pytest.raises(raw.exceptions.ExpiredIteratorException):
        kin.get_records(ShardIterator=it)
    assert populated()["records"] == before["records"]


def test_timestamp_as_iso_string(kin, populated, clock):
    # boto3 accepts datetime, epoch numbers and ISO-8601 strings for timestamps
    iso = datetime.datetime.fromtimestamp(clock.now() - 3600, datetime.timezone.utc).isoformat()
    it = iterator(kin, "s", shard_id(0), "AT_TIMESTAMP", Timestamp=iso)
    assert len(kin.get_records(ShardIterator=it)["Records"]) == len(populated()["records"][shard_id(0)])


@pytest.mark.parametrize("op,params,field", [
    ("put_record", {"StreamName": "s", "Data": b"x"}, "partitionKey"),
    ("put_records", {"StreamName": "s", "Records": [REC, {"Data": b"x"}]}, "records.2.member.partitionKey"),
])
def test_missing_partition_key_is_refused_by_the_service(kin, populated, op, params, field):
    """Newer botocore models make PartitionKey optional (the AUTO record distribution
    strategy); on USER_PARTITION_KEY streams, ours, the service refuses a record without one,
    whatever botocore version the user has."""
    before = populated()
    if botocore_refuses(operation_name(op), params):   # older models: boto3 refuses before sending
        with pytest.raises(engine.ParamValidationError, match="PartitionKey"):
            getattr(kin, op)(**params)
    else:
        with pytest.raises(kin.exceptions.ValidationException) as err:
            getattr(kin, op)(**params)
        assert f"Value null at '{field}'" in err.value.response["Error"]["Message"]
    assert populated() == before


@pytest.mark.parametrize("hours,message", [
    (23, "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short."),
    (9999, "Maximum allowed retention period is 8760 hours. Requested retention period (9999 hours) is too long."),
])
def test_retention_bounds_with_aws_messages(kin, raw, populated, hours, message):
    before = populated()
    for op in (kin.increase_stream_retention_period, kin.decrease_stream_retention_period):
        with pytest.raises(raw.exceptions.InvalidArgumentException) as err:
            op(StreamName="s", RetentionPeriodHours=hours)
        assert err.value.response["Error"]["Message"] == message
    assert populated() == before

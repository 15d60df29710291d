"""Stream lifecycle and metadata through eng.client("kinesis"): create/delete/describe/list,
stream modes, tags, encryption, record size, monitoring."""
import datetime

import pytest

from tests.kinesis.conftest import (HASH_MAX, iterator, list_all_shards, make_stream, read_shard, shard_id,
                                    stream_arn)

UTC = datetime.timezone.utc


def _ranges(shards):
    return [(int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])) for s in shards]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_create_provisioned_stream_splits_hash_space_evenly(kin, clock, count):
    kin.create_stream(StreamName="orders", ShardCount=count)
    desc = kin.describe_stream(StreamName="orders")["StreamDescription"]
    assert desc["StreamName"] == "orders"
    assert desc["StreamARN"] == stream_arn("orders")
    assert desc["StreamStatus"] == "ACTIVE"
    assert desc["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert desc["RetentionPeriodHours"] == 24
    assert desc["EncryptionType"] == "NONE"
    assert desc["HasMoreShards"] is False
    assert desc["StreamCreationTimestamp"] == datetime.datetime.fromtimestamp(clock.now(), UTC)
    assert [s["ShardId"] for s in desc["Shards"]] == [shard_id(i) for i in range(count)]
    ranges = _ranges(desc["Shards"])
    assert ranges[0][0] == 0 and ranges[-1][1] == HASH_MAX
    for (lo, hi), (nlo, _) in zip(ranges, ranges[1:]):
        assert nlo == hi + 1
    step = (HASH_MAX + 1) // count
    assert [lo for lo, _ in ranges] == [i * step for i in range(count)]
    for s in desc["Shards"]:
        assert "ParentShardId" not in s and "AdjacentParentShardId" not in s
        assert s["SequenceNumberRange"]["StartingSequenceNumber"].isdigit()
        assert "EndingSequenceNumber" not in s["SequenceNumberRange"]


def test_create_stream_response_is_empty(kin):
    resp = kin.create_stream(StreamName="s", ShardCount=1)
    assert set(resp) == {"ResponseMetadata"}
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_on_demand_stream_starts_with_four_shards(kin):
    kin.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    summary = kin.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert summary["OpenShardCount"] == 4
    assert len(list_all_shards(kin, "od")) == 4


def test_explicit_provisioned_mode(kin):
    kin.create_stream(StreamName="p", ShardCount=2, StreamModeDetails={"StreamMode": "PROVISIONED"})
    summary = kin.describe_stream_summary(StreamName="p")["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert summary["OpenShardCount"] == 2


def test_mode_and_shard_count_must_agree(kin, raw):
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.create_stream(StreamName="a", StreamModeDetails={"StreamMode": "PROVISIONED"})
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.create_stream(StreamName="b", ShardCount=2, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert kin.list_streams()["StreamNames"] == []


def test_max_record_size_on_create(kin, raw):
    kin.create_stream(StreamName="big", ShardCount=1, MaxRecordSizeInKiB=2048)
    summary = kin.describe_stream_summary(StreamName="big")["StreamDescriptionSummary"]
    assert summary["MaxRecordSizeInKiB"] == 2048
    largest = b"\x01" * (2 * 1024 * 1024 - 1)       # with the one-byte key: 2 MiB
    kin.put_record(StreamName="big", Data=largest, PartitionKey="k")
    with pytest.raises(raw.exceptions.ValidationException):
        kin.put_record(StreamName="big", Data=largest + b"x", PartitionKey="k")
    records = read_shard(kin, "big", shard_id(0))
    assert [r["Data"] for r in records] == [largest]


def test_update_max_record_size(kin, raw):
    make_stream(kin, "s")
    two_mib = b"z" * (2 * 1024 * 1024)
    with pytest.raises(raw.exceptions.ValidationException) as err:
        kin.put_record(StreamName="s", Data=two_mib, PartitionKey="k")
    assert "1048576" in err.value.response["Error"]["Message"]
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["MaxRecordSizeInKiB"] == 1024
    kin.update_max_record_size(StreamARN=stream_arn("s"), MaxRecordSizeInKiB=10240)
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["MaxRecordSizeInKiB"] == 10240
    resp = kin.put_record(StreamName="s", Data=two_mib, PartitionKey="k")
    kin.put_records(StreamName="s", Records=[{"Data": two_mib, "PartitionKey": "k"}])
    records = read_shard(kin, "s", shard_id(0))
    assert [r["SequenceNumber"] for r in records][0] == resp["SequenceNumber"]
    assert [len(r["Data"]) for r in records] == [len(two_mib)] * 2
    with pytest.raises(raw.exceptions.ValidationException):
        kin.put_record(StreamName="s", Data=b"z" * (10 * 1024 * 1024 + 1), PartitionKey="k")
    with pytest.raises(raw.exceptions.ValidationException):
        kin.update_max_record_size(StreamARN=stream_arn("s"), MaxRecordSizeInKiB=10241)
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["MaxRecordSizeInKiB"] == 10240


def test_duplicate_stream_name_is_in_use(kin, raw):
    make_stream(kin, "dup", 2)
    with pytest.raises(raw.exceptions.ResourceInUseException) as err:
        kin.create_stream(StreamName="dup", ShardCount=5)
    assert err.value.response["Error"]["Code"] == "ResourceInUseException"
    assert len(list_all_shards(kin, "dup")) == 2


def test_delete_stream(kin, raw):
    make_stream(kin, "gone")
    make_stream(kin, "kept")
    kin.put_record(StreamName="gone", Data=b"x", PartitionKey="k")
    it = iterator(kin, "gone", shard_id(0))
    assert set(kin.delete_stream(StreamName="gone")) == {"ResponseMetadata"}
    assert kin.list_streams()["StreamNames"] == ["kept"]
    for call in (lambda: kin.describe_stream(StreamName="gone"),
                 lambda: kin.describe_stream_summary(StreamName="gone"),
                 lambda: kin.put_record(StreamName="gone", Data=b"x", PartitionKey="k"),
                 lambda: kin.get_records(ShardIterator=it),
                 lambda: kin.delete_stream(StreamName="gone")):
        with pytest.raises(raw.exceptions.ResourceNotFoundException) as err:
            call()
        assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # a new stream under the old name starts empty; old iterators do not reach it
    make_stream(kin, "gone")
    assert read_shard(kin, "gone", shard_id(0)) == []
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.get_records(ShardIterator=it)


def test_delete_stream_by_arn(kin):
    make_stream(kin, "a")
    kin.delete_stream(StreamARN=stream_arn("a"))
    assert kin.list_streams()["StreamNames"] == []


def test_delete_stream_with_consumers_needs_enforce(kin, raw):
    make_stream(kin, "s")
    kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="c")
    with pytest.raises(raw.exceptions.ResourceInUseException):
        kin.delete_stream(StreamName="s")
    assert kin.list_streams()["StreamNames"] == ["s"]
    kin.delete_stream(StreamName="s", EnforceConsumerDeletion=True)
    assert kin.list_streams()["StreamNames"] == []


def test_stream_name_and_arn_must_match(kin, raw):
    make_stream(kin, "a")
    make_stream(kin, "b")
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.describe_stream_summary(StreamName="a", StreamARN=stream_arn("b"))
    assert kin.describe_stream_summary(StreamName="a", StreamARN=stream_arn("a"))[
        "StreamDescriptionSummary"]["StreamName"] == "a"
    assert kin.describe_stream(StreamARN=stream_arn("b"))["StreamDescription"]["StreamName"] == "b"


def test_describe_stream_pages_by_limit_and_exclusive_start(kin):
    make_stream(kin, "s", 5)
    first = kin.describe_stream(StreamName="s", Limit=2)["StreamDescription"]
    assert [s["ShardId"] for s in first["Shards"]] == [shard_id(0), shard_id(1)]
    assert first["HasMoreShards"] is True
    second = kin.describe_stream(StreamName="s", Limit=2, ExclusiveStartShardId=shard_id(1))["StreamDescription"]
    assert [s["ShardId"] for s in second["Shards"]] == [shard_id(2), shard_id(3)]
    assert second["HasMoreShards"] is True
    last = kin.describe_stream(StreamName="s", Limit=2, ExclusiveStartShardId=shard_id(3))["StreamDescription"]
    assert [s["ShardId"] for s in last["Shards"]] == [shard_id(4)]
    assert last["HasMoreShards"] is False
    everything = kin.describe_stream(StreamName="s")["StreamDescription"]
    assert len(everything["Shards"]) == 5 and everything["HasMoreShards"] is False


def test_describe_stream_summary(kin, clock):
    make_stream(kin, "s", 3)
    kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="c1")
    kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="c2")
    kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=48)
    summary = kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]
    assert summary["StreamName"] == "s"
    assert summary["StreamARN"] == stream_arn("s")
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 3
    assert summary["ConsumerCount"] == 2
    assert summary["RetentionPeriodHours"] == 48
    assert summary["EncryptionType"] == "NONE"
    assert summary["StreamCreationTimestamp"].tzinfo is not None
    assert summary["StreamCreationTimestamp"].timestamp() == clock.now()
    assert summary["EnhancedMonitoring"] == [{"ShardLevelMetrics": []}]


def test_list_streams_pages(kin):
    names = [f"stream-{i:02d}" for i in range(7)]
    for name in reversed(names):
        make_stream(kin, name)
    everything = kin.list_streams()
    assert everything["StreamNames"] == names
    assert everything["HasMoreStreams"] is False
    assert [s["StreamName"] for s in everything["StreamSummaries"]] == names
    assert everything["StreamSummaries"][0]["StreamARN"] == stream_arn(names[0])
    assert everything["StreamSummaries"][0]["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    page = kin.list_streams(Limit=3)
    assert page["StreamNames"] == names[:3] and page["HasMoreStreams"] is True
    page = kin.list_streams(Limit=3, NextToken=page["NextToken"])
    assert page["StreamNames"] == names[3:6] and page["HasMoreStreams"] is True
    page = kin.list_streams(Limit=3, NextToken=page["NextToken"])
    assert page["StreamNames"] == names[6:] and page["HasMoreStreams"] is False
    assert "NextToken" not in page
    assert kin.list_streams(ExclusiveStartStreamName=names[4])["StreamNames"] == names[5:]


def test_list_streams_paginator(kin):
    names = [f"p{i}" for i in range(5)]
    for name in names:
        make_stream(kin, name)
    pages = list(kin.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2}))
    assert [p["StreamNames"] for p in pages] == [names[:2], names[2:4], names[4:]]
    capped = list(kin.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2, "MaxItems": 2}))
    assert [n for p in capped for n in p["StreamNames"]] == names[:2]


def test_list_streams_is_per_region(eng):
    eng.client("kinesis", region_name="eu-west-1").create_stream(StreamName="eu", ShardCount=1)
    assert eng.client("kinesis").list_streams()["StreamNames"] == []
    summary = eng.client("kinesis", region_name="eu-west-1").describe_stream_summary(StreamName="eu")
    assert summary["StreamDescriptionSummary"]["StreamARN"] == "arn:aws:kinesis:eu-west-1:000000000000:stream/eu"


# --- tags ---------------------------------------------------------------------------------

def test_tags_add_list_remove(kin):
    kin.create_stream(StreamName="s", ShardCount=1, Tags={"team": "data"})
    assert kin.list_tags_for_stream(StreamName="s")["Tags"] == [{"Key": "team", "Value": "data"}]
    kin.add_tags_to_stream(StreamName="s", Tags={"env": "prod", "team": "core", "empty": ""})
    resp = kin.list_tags_for_stream(StreamName="s")
    assert resp["Tags"] == [{"Key": "empty", "Value": ""}, {"Key": "env", "Value": "prod"},
                            {"Key": "team", "Value": "core"}]
    assert resp["HasMoreTags"] is False
    page = kin.list_tags_for_stream(StreamName="s", Limit=2)
    assert [t["Key"] for t in page["Tags"]] == ["empty", "env"] and page["HasMoreTags"] is True
    page = kin.list_tags_for_stream(StreamName="s", ExclusiveStartTagKey="env")
    assert [t["Key"] for t in page["Tags"]] == ["team"] and page["HasMoreTags"] is False
    kin.remove_tags_from_stream(StreamName="s", TagKeys=["env", "absent"])
    assert [t["Key"] for t in kin.list_tags_for_stream(StreamName="s")["Tags"]] == ["empty", "team"]


def test_tag_limits(kin, raw):
    make_stream(kin, "s")
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.add_tags_to_stream(StreamName="s", Tags={f"k{i}": "v" for i in range(11)})
    assert kin.list_tags_for_stream(StreamName="s")["Tags"] == []
    for start in range(0, 50, 10):
        kin.add_tags_to_stream(StreamName="s", Tags={f"k{i:02d}": "v" for i in range(start, start + 10)})
    with pytest.raises(raw.exceptions.LimitExceededException):
        kin.add_tags_to_stream(StreamName="s", Tags={"one-more": "v"})
    tags = kin.list_tags_for_stream(StreamName="s")["Tags"]
    assert len(tags) == 50 and "one-more" not in {t["Key"] for t in tags}
    kin.add_tags_to_stream(StreamName="s", Tags={"k00": "overwritten"})   # not a new key: fine
    assert kin.list_tags_for_stream(StreamName="s", Limit=1)["Tags"] == [{"Key": "k00", "Value": "overwritten"}]
    with pytest.raises(raw.exceptions.ValidationException):
        kin.add_tags_to_stream(StreamName="s", Tags={"k" * 129: "v"})
    with pytest.raises(raw.exceptions.ValidationException):
        kin.add_tags_to_stream(StreamName="s", Tags={"k": "v" * 257})


def test_tag_resource_family(kin, raw):
    make_stream(kin, "s")
    arn = stream_arn("s")
    kin.tag_resource(ResourceARN=arn, Tags={"a": "1", "b": "2"})
    assert kin.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "a", "Value": "1"},
                                                                   {"Key": "b", "Value": "2"}]
    assert kin.list_tags_for_stream(StreamName="s")["Tags"] == [{"Key": "a", "Value": "1"},
                                                                {"Key": "b", "Value": "2"}]
    kin.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert kin.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.tag_resource(ResourceARN=stream_arn("nope"), Tags={"a": "1"})


# --- encryption ---------------------------------------------------------------------------

def test_stream_encryption_shows_on_stream_and_records(kin):
    make_stream(kin, "s")
    before = kin.put_record(StreamName="s", Data=b"plain", PartitionKey="k")
    assert before["EncryptionType"] == "NONE"
    kin.start_stream_encryption(StreamName="s", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    summary = kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]
    assert summary["EncryptionType"] == "KMS" and summary["KeyId"] == "alias/aws/kinesis"
    assert kin.describe_stream(StreamName="s")["StreamDescription"]["KeyId"] == "alias/aws/kinesis"
    during = kin.put_record(StreamName="s", Data=b"secret", PartitionKey="k")
    assert during["EncryptionType"] == "KMS"
    assert kin.put_records(StreamName="s", Records=[{"Data": b"secret2", "PartitionKey": "k"}])["EncryptionType"] == "KMS"
    kin.stop_stream_encryption(StreamName="s", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    summary = kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]
    assert summary["EncryptionType"] == "NONE" and "KeyId" not in summary
    after = kin.put_record(StreamName="s", Data=b"plain again", PartitionKey="k")
    assert after["EncryptionType"] == "NONE"
    records = read_shard(kin, "s", shard_id(0))
    # each record keeps the encryption it was written with
    assert [(r["Data"], r.get("EncryptionType")) for r in records] == [
        (b"plain", None), (b"secret", "KMS"), (b"secret2", "KMS"), (b"plain again", None)]


def test_encryption_type_must_be_kms(kin, raw):
    make_stream(kin, "s")
    with pytest.raises(raw.exceptions.ValidationException):
        kin.start_stream_encryption(StreamName="s", EncryptionType="AES", KeyId="k")
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["EncryptionType"] == "NONE"


# --- mode, monitoring, limits ----------------------------------------------------------------

def test_update_stream_mode(kin):
    make_stream(kin, "s", 2)
    kin.update_stream_mode(StreamARN=stream_arn("s"), StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamModeDetails"] == {
        "StreamMode": "ON_DEMAND"}


def test_enhanced_monitoring(kin):
    make_stream(kin, "s")
    resp = kin.enable_enhanced_monitoring(StreamName="s", ShardLevelMetrics=["IncomingBytes", "OutgoingRecords"])
    assert resp["CurrentShardLevelMetrics"] == []
    assert resp["DesiredShardLevelMetrics"] == ["IncomingBytes", "OutgoingRecords"]
    resp = kin.disable_enhanced_monitoring(StreamName="s", ShardLevelMetrics=["IncomingBytes"])
    assert resp["DesiredShardLevelMetrics"] == ["OutgoingRecords"]
    assert kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["EnhancedMonitoring"] == [
        {"ShardLevelMetrics": ["OutgoingRecords"]}]


def test_describe_limits_counts_open_shards(kin):
    make_stream(kin, "a", 3)
    kin.create_stream(StreamName="b", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    limits = kin.describe_limits()
    assert limits["OpenShardCount"] == 7
    assert limits["OnDemandStreamCount"] == 1
    assert limits["ShardLimit"] >= 7

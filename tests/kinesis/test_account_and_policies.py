"""The rest of the Kinesis API (issue 16): every operation of botocore's model exists on the
client; resource policies on streams and consumers; account settings (the minimum
throughput billing commitment); warm throughput of on-demand streams; capacity mode switches;
consumer tags. Each rule is checked through the boto3-shaped client and the native API."""
import datetime
import json

import botocore.session
import pytest
from botocore import xform_name

import engine
from tests.kinesis.conftest import make_stream, open_shards, stream_arn

DAY = 24 * 3600


def policy(resource: str, **statement) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "write", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
        "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": resource, **statement}]})


def test_every_operation_of_the_model_is_a_client_method(raw):
    model = botocore.session.get_session().get_service_model("kinesis")
    missing = [op for op in model.operation_names if not callable(getattr(raw, xform_name(op), None))]
    assert missing == []


# --- resource policies ------------------------------------------------------------------------
@pytest.fixture
def consumer_arn(kin):
    make_stream(kin, "s", 1)
    return kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="reader")["Consumer"]["ConsumerARN"]


def test_stream_policy_round_trip(kin, consumer_arn):
    arn = stream_arn("s")
    assert kin.get_resource_policy(ResourceARN=arn)["Policy"] == "{}"
    text = policy(arn)
    kin.put_resource_policy(ResourceARN=arn, Policy=text)
    assert kin.get_resource_policy(ResourceARN=arn)["Policy"] == text
    assert kin.get_resource_policy(ResourceARN=consumer_arn)["Policy"] == "{}"   # the consumer has its own
    kin.delete_resource_policy(ResourceARN=arn)
    assert kin.get_resource_policy(ResourceARN=arn)["Policy"] == "{}"


def test_consumer_policy_round_trip(kin, consumer_arn):
    text = policy(consumer_arn, Action="kinesis:SubscribeToShard")
    kin.put_resource_policy(ResourceARN=consumer_arn, Policy=text)
    assert kin.get_resource_policy(ResourceARN=consumer_arn)["Policy"] == text
    assert kin.get_resource_policy(ResourceARN=stream_arn("s"))["Policy"] == "{}"
    kin.delete_resource_policy(ResourceARN=consumer_arn)
    assert kin.get_resource_policy(ResourceARN=consumer_arn)["Policy"] == "{}"


def test_a_stream_created_again_has_no_policy(kin):
    make_stream(kin, "s", 1)
    kin.put_resource_policy(ResourceARN=stream_arn("s"), Policy=policy(stream_arn("s")))
    kin.delete_stream(StreamName="s")
    make_stream(kin, "s", 1)
    assert kin.get_resource_policy(ResourceARN=stream_arn("s"))["Policy"] == "{}"


BAD_POLICIES = [
    pytest.param("not json", id="not-json"),
    pytest.param("[]", id="not-an-object"),
    pytest.param(json.dumps({"Version": "2012-10-17"}), id="no-statement"),
    pytest.param(json.dumps({"Statement": []}), id="empty-statement"),
    pytest.param(json.dumps({"Version": "2020-01-01", "Statement": {
        "Effect": "Allow", "Principal": "*", "Action": "kinesis:*", "Resource": "*"}}), id="unknown-version"),
    pytest.param(policy("*", Effect="Maybe"), id="bad-effect"),
    pytest.param(policy("*", Action="s3:GetObject"), id="other-service-action"),
    pytest.param(policy("*", Action=[]), id="no-action"),
    pytest.param(policy("*", Principal={"Nobody": "x"}), id="bad-principal"),
    pytest.param(json.dumps({"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}}),
                 id="no-principal"),
    pytest.param(json.dumps({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kinesis:*"}}),
                 id="no-resource"),
    pytest.param(policy("*", Colour="blue"), id="unknown-element"),
    pytest.param(json.dumps({"Statement": [], "Owner": "me"}), id="unknown-top-element"),
    pytest.param(json.dumps({"Statement": ["Allow"]}), id="statement-not-an-object"),
    pytest.param(policy("*", Condition=["StringEquals"]), id="condition-not-an-object"),
    pytest.param(policy("*", Sid="x" * 30_000), id="too-large"),
]


@pytest.mark.parametrize("text", BAD_POLICIES)
def test_invalid_policies_are_refused_and_change_nothing(kin, raw, consumer_arn, text):
    good = policy(stream_arn("s"))
    kin.put_resource_policy(ResourceARN=stream_arn("s"), Policy=good)
    for arn in (stream_arn("s"), consumer_arn):
        with pytest.raises(raw.exceptions.InvalidArgumentException):
            kin.put_resource_policy(ResourceARN=arn, Policy=text)
    assert kin.get_resource_policy(ResourceARN=stream_arn("s"))["Policy"] == good
    assert kin.get_resource_policy(ResourceARN=consumer_arn)["Policy"] == "{}"


@pytest.mark.parametrize("op", ["put_resource_policy", "get_resource_policy", "delete_resource_policy"])
@pytest.mark.parametrize("arn", [stream_arn("nope"), stream_arn("s") + "/consumer/nope:1"],
                         ids=["stream", "consumer"])
def test_policy_of_an_unknown_resource(kin, raw, consumer_arn, op, arn):
    params = {"ResourceARN": arn, **({"Policy": policy(arn)} if op == "put_resource_policy" else {})}
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        getattr(kin, op)(**params)


def test_policy_arn_outside_the_model_pattern_is_a_validation_error(kin, raw):
    with pytest.raises(raw.exceptions.ValidationException):
        kin.get_resource_policy(ResourceARN="arn:aws:sqs:us-east-1:000000000000:queue")


def test_native_policy_rules_match(backend):
    backend.create_stream("n", 1)
    arn = backend.get_stream("n").arn
    with pytest.raises(engine.ClientError) as err:
        backend.put_policy(arn, "{")
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
    with pytest.raises(engine.ClientError) as err:
        backend.put_policy(arn, None)
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
    backend.put_policy(arn, policy(arn))
    assert json.loads(backend.get_policy(arn))["Statement"][0]["Effect"] == "Allow"


# --- account settings ---------------------------------------------------------------------------
def commitment(kin):
    return kin.describe_account_settings()["MinimumThroughputBillingCommitment"]


def at(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


def set_commitment(kin, status):
    return kin.update_account_settings(MinimumThroughputBillingCommitment={"Status": status})[
        "MinimumThroughputBillingCommitment"]


def test_commitment_starts_disabled(kin):
    assert commitment(kin) == {"Status": "DISABLED"}


def test_commitment_lasts_at_least_a_day(kin, clock):
    start = clock.now()
    enabled = set_commitment(kin, "ENABLED")
    assert enabled == {"Status": "ENABLED", "StartedAt": at(start), "EarliestAllowedEndAt": at(start + DAY)}
    assert commitment(kin) == enabled
    clock.advance(3600)
    ending = set_commitment(kin, "DISABLED")   # too early: scheduled for the earliest allowed end
    assert ending["Status"] == "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
    assert ending["EarliestAllowedEndAt"] == at(start + DAY)
    clock.advance(DAY - 3600 - 1)
    assert commitment(kin)["Status"] == "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
    clock.advance(1)
    assert commitment(kin) == {"Status": "DISABLED", "StartedAt": at(start), "EndedAt": at(start + DAY),
                               "EarliestAllowedEndAt": at(start + DAY)}


def test_enabling_again_cancels_a_scheduled_end(kin, clock):
    start = clock.now()
    set_commitment(kin, "ENABLED")
    set_commitment(kin, "DISABLED")
    again = set_commitment(kin, "ENABLED")
    assert again == {"Status": "ENABLED", "StartedAt": at(start), "EarliestAllowedEndAt": at(start + DAY)}
    clock.advance(2 * DAY)
    assert commitment(kin)["Status"] == "ENABLED"


def test_disabling_after_a_day_ends_at_once(kin, clock):
    set_commitment(kin, "ENABLED")
    clock.advance(DAY + 5)
    ended = set_commitment(kin, "DISABLED")
    assert ended["Status"] == "DISABLED" and ended["EndedAt"] == at(clock.now())


def test_commitment_status_outside_the_enum(kin, raw):
    with pytest.raises(raw.exceptions.ValidationException):
        set_commitment(kin, "ENABLED_UNTIL_EARLIEST_ALLOWED_END")
    assert commitment(kin) == {"Status": "DISABLED"}


# --- warm throughput ------------------------------------------------------------------------------
def on_demand(kin, name="od", **kwargs):
    kin.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"}, **kwargs)
    return stream_arn(name)


def test_warm_throughput_needs_an_on_demand_stream_and_a_commitment(kin, raw):
    arn = on_demand(kin)
    make_stream(kin, "prov", 1)
    with pytest.raises(raw.exceptions.InvalidArgumentException, match="MinimumThroughputBillingCommitment"):
        kin.update_stream_warm_throughput(StreamARN=arn, WarmThroughputMiBps=8)
    set_commitment(kin, "ENABLED")
    with pytest.raises(raw.exceptions.InvalidArgumentException, match="ON_DEMAND"):
        kin.update_stream_warm_throughput(StreamName="prov", WarmThroughputMiBps=8)
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.create_stream(StreamName="p2", ShardCount=1, WarmThroughputMiBps=8)
    with pytest.raises(raw.exceptions.LimitExceededException):
        kin.update_stream_warm_throughput(StreamARN=arn, WarmThroughputMiBps=10241)
    assert "WarmThroughput" not in kin.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]
    assert len(open_shards(kin, "od")) == 4
    assert kin.list_streams()["StreamNames"] == ["od", "prov"]


def test_warm_throughput_opens_capacity(kin):
    set_commitment(kin, "ENABLED")
    arn = on_demand(kin)
    out = kin.update_stream_warm_throughput(StreamARN=arn, WarmThroughputMiBps=10)
    assert out["StreamName"] == "od" and out["StreamARN"] == arn
    assert out["WarmThroughput"] == {"TargetMiBps": 10, "CurrentMiBps": 10}
    assert len(open_shards(kin, "od")) == 10
    summary = kin.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]
    assert summary["WarmThroughput"] == {"TargetMiBps": 10, "CurrentMiBps": 10}
    assert summary["OpenShardCount"] == 10
    lower = kin.update_stream_warm_throughput(StreamName="od", WarmThroughputMiBps=2)["WarmThroughput"]
    assert lower == {"TargetMiBps": 2, "CurrentMiBps": 10}   # capacity is not taken away


def test_warm_throughput_at_creation_and_mode_switch(kin):
    set_commitment(kin, "ENABLED")
    on_demand(kin, "od", WarmThroughputMiBps=6)
    shards = kin.list_shards(StreamName="od")["Shards"]
    assert len(shards) == 6 and all("ParentShardId" not in s for s in shards)   # created open, not split
    make_stream(kin, "p", 2)
    kin.update_stream_mode(StreamARN=stream_arn("p"), StreamModeDetails={"StreamMode": "ON_DEMAND"},
                           WarmThroughputMiBps=5)
    assert kin.describe_stream_summary(StreamName="p")["StreamDescriptionSummary"]["WarmThroughput"]["TargetMiBps"] == 5
    assert len(open_shards(kin, "p")) == 5
    kin.update_stream_mode(StreamARN=stream_arn("p"), StreamModeDetails={"StreamMode": "PROVISIONED"})
    assert "WarmThroughput" not in kin.describe_stream_summary(StreamName="p")["StreamDescriptionSummary"]


def test_warm_throughput_respects_the_shard_quota(kin, raw, backend):
    set_commitment(kin, "ENABLED")
    arn = on_demand(kin)
    make_stream(kin, "big", 19_990)
    with pytest.raises(raw.exceptions.LimitExceededException):
        kin.update_stream_warm_throughput(StreamARN=arn, WarmThroughputMiBps=20)
    assert len(open_shards(kin, "od")) == 4
    make_stream(kin, "p", 2)
    with pytest.raises(raw.exceptions.LimitExceededException):   # refused before the mode changes
        kin.update_stream_mode(StreamARN=stream_arn("p"), StreamModeDetails={"StreamMode": "ON_DEMAND"},
                               WarmThroughputMiBps=20)
    assert kin.describe_stream_summary(StreamName="p")["StreamDescriptionSummary"]["StreamModeDetails"] == {
        "StreamMode": "PROVISIONED"}
    with pytest.raises(raw.exceptions.LimitExceededException):   # and no stream is left half made
        on_demand(kin, "od2", WarmThroughputMiBps=20)
    assert kin.list_streams()["StreamNames"] == ["big", "od", "p"]
    assert backend.open_shard_count() == 19_996


# --- capacity mode switches --------------------------------------------------------------------------
def test_mode_switches_twice_a_day(kin, raw, clock):
    make_stream(kin, "s", 2)
    arn = stream_arn("s")
    for mode in ("ON_DEMAND", "PROVISIONED"):
        kin.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": mode})
    with pytest.raises(raw.exceptions.LimitExceededException):
        kin.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert kin.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]["StreamModeDetails"] == {
        "StreamMode": "PROVISIONED"}
    kin.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"})   # no switch: allowed
    clock.advance(DAY)
    kin.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert kin.describe_limits()["OnDemandStreamCount"] == 1


def test_on_demand_stream_quota(kin, raw):
    limit = kin.describe_limits()["OnDemandStreamCountLimit"]
    for i in range(limit):
        on_demand(kin, f"od{i}")
    with pytest.raises(raw.exceptions.LimitExceededException):
        on_demand(kin, "one-more")
    make_stream(kin, "p", 1)
    with pytest.raises(raw.exceptions.LimitExceededException):
        kin.update_stream_mode(StreamARN=stream_arn("p"), StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert kin.describe_limits()["OnDemandStreamCount"] == limit


# --- consumer tags -----------------------------------------------------------------------------------
def test_consumer_tags(kin, raw):
    make_stream(kin, "s", 1)
    arn = kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="c",
                                       Tags={"team": "data"})["Consumer"]["ConsumerARN"]
    assert kin.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    kin.tag_resource(ResourceARN=arn, Tags={"env": "test"})
    kin.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert kin.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "test"}]
    assert kin.list_tags_for_resource(ResourceARN=stream_arn("s"))["Tags"] == []   # the stream's are its own
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.tag_resource(ResourceARN=arn, Tags={f"k{i}": "v" for i in range(11)})
    with pytest.raises(raw.exceptions.ValidationException):
        kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="d", Tags={})
    assert [c["ConsumerName"] for c in kin.list_stream_consumers(StreamARN=stream_arn("s"))["Consumers"]] == ["c"]


# --- StreamCreationTimestamp ---------------------------------------------------------------------------
def test_stream_creation_timestamp_names_one_incarnation(kin, raw, clock):
    make_stream(kin, "s", 2)
    old = kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamCreationTimestamp"]
    kin.delete_stream(StreamName="s")
    clock.advance(60)
    make_stream(kin, "s", 3)
    new = kin.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamCreationTimestamp"]
    assert len(kin.list_shards(StreamName="s", StreamCreationTimestamp=new)["Shards"]) == 3
    assert kin.list_stream_consumers(StreamARN=stream_arn("s"), StreamCreationTimestamp=new)["Consumers"] == []
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.list_shards(StreamName="s", StreamCreationTimestamp=old)
    with pytest.raises(raw.exceptions.ResourceNotFoundException):
        kin.list_stream_consumers(StreamARN=stream_arn("s"), StreamCreationTimestamp=old)
    token = kin.list_shards(StreamName="s", MaxResults=1)["NextToken"]
    with pytest.raises(raw.exceptions.InvalidArgumentException):
        kin.list_shards(NextToken=token, StreamCreationTimestamp=new)

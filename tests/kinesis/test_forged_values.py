"""Values that hide inside strings: tokens, sequence numbers, timestamps, tags. A NextToken or
ShardIterator this service did not issue (random text, base64 garbage, huge numbers, a real
one with a field edited) gets AWS's code, never a raw Python exception; so do sequence
numbers of every shape and timestamps of every kind, and nothing changes."""
import base64
import datetime
import re

import botocore.exceptions
import pytest

import engine
from tests.kinesis.conftest import botocore_refuses, make_stream, shard_id, stream_arn

UTC = datetime.timezone.utc


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


def edited(token: str) -> list[str]:
    """A real token with one character changed at several places, still valid base64."""
    out = []
    for i in (0, len(token) // 3, len(token) // 2, len(token) - 6):
        c = token[i]
        out.append(token[:i] + ("B" if c != "B" else "C") + token[i + 1:])
    return out


FORGED = ["x", "AAAA", "%%%%", "not base64 at all!!", b64("s|1|99999999999999999999999999"), b64("e1|s|1|0|0|0"),
          b64("e1|s|1|0|" + "9" * 30 + "|1700000000000"), b64("e1|s|1|0|0|-99999999999999"), b64("\udcff" * 8),
          b64("s|" + "9" * 5000 + "|1")[:500]]


@pytest.fixture
def setup(kin, clock):
    make_stream(kin, "s", 3)
    for name in ("a", "b", "c"):
        make_stream(kin, name)
    for name in ("c1", "c2", "c3"):
        kin.register_stream_consumer(StreamARN=stream_arn("s"), ConsumerName=name)
    kin.put_records(StreamName="s", Records=[{"Data": b"%d" % i, "PartitionKey": str(i)} for i in range(30)])
    return kin


def _code(call):
    with pytest.raises((engine.ClientError, engine.ParamValidationError)) as err:
        call()
    if isinstance(err.value, engine.ParamValidationError):
        return "ParamValidationError"
    assert isinstance(err.value, botocore.exceptions.ClientError)
    return err.value.response["Error"]["Code"]


def _pages(kin):
    return {
        "streams": lambda **kw: kin.list_streams(Limit=1, **kw),
        "shards": lambda **kw: kin.list_shards(MaxResults=1, **kw) if kw else kin.list_shards(StreamName="s",
                                                                                           MaxResults=1),
        "consumers": lambda **kw: kin.list_stream_consumers(StreamARN=stream_arn("s"), MaxResults=1, **kw),
    }


@pytest.mark.parametrize("kind", ["streams", "shards", "consumers"])
def test_forged_next_tokens_are_invalid_argument(setup, kind):
    page = _pages(setup)[kind]
    real = page()["NextToken"]
    for token in FORGED + edited(real):
        assert _code(lambda: page(NextToken=token)) == "InvalidArgumentException", token
    assert page(NextToken=real)["NextToken"] != real          # the real one still works


def test_a_token_of_one_list_is_no_token_of_another(setup):
    pages = _pages(setup)
    tokens = {kind: page()["NextToken"] for kind, page in pages.items()}
    for kind, page in pages.items():
        for other, token in tokens.items():
            if other != kind:
                assert _code(lambda: page(NextToken=token)) == "InvalidArgumentException"
    assert _code(lambda: setup.get_records(ShardIterator=tokens["shards"])) == "InvalidArgumentException"


def test_next_tokens_expire_after_300_seconds_where_documented(setup, clock):
    pages = _pages(setup)
    tokens = {kind: page()["NextToken"] for kind, page in pages.items()}
    clock.advance(299)
    for kind in tokens:
        assert pages[kind](NextToken=tokens[kind])
    clock.advance(2)
    assert _code(lambda: pages["shards"](NextToken=tokens["shards"])) == "ExpiredNextTokenException"
    assert _code(lambda: pages["consumers"](NextToken=tokens["consumers"])) == "ExpiredNextTokenException"
    assert pages["streams"](NextToken=tokens["streams"])["StreamNames"]


def test_consumer_token_of_another_stream(setup):
    for name in ("d1", "d2"):
        setup.register_stream_consumer(StreamARN=stream_arn("a"), ConsumerName=name)
    token = setup.list_stream_consumers(StreamARN=stream_arn("a"), MaxResults=1)["NextToken"]
    assert _code(lambda: setup.list_stream_consumers(StreamARN=stream_arn("s"), NextToken=token)) == \
        "InvalidArgumentException"


def test_forged_shard_iterators_are_invalid_argument(setup, clock):
    real = setup.get_shard_iterator(StreamName="s", ShardId=shard_id(0),
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    before = setup.get_records(ShardIterator=real)["Records"]
    for token in FORGED + edited(real):
        assert _code(lambda: setup.get_records(ShardIterator=token)) == "InvalidArgumentException", token
    assert setup.get_records(ShardIterator=real)["Records"] == before
    clock.advance(301)
    assert _code(lambda: setup.get_records(ShardIterator=real)) == "ExpiredIteratorException"


SEQUENCE_SHAPES = ["", "0", "00", "-1", "1e5", "١٢", "٣", " 1", "1 ", "+5", "1_000", "0x10", "1.0", "\ud800",
                   "9" * 129, "9" * 130, str(2**63), str(2**64), "1" + "0" * 17]
_PATTERN = re.compile(r"0|([1-9][0-9]{0,128})")


@pytest.mark.parametrize("value", SEQUENCE_SHAPES)
def test_sequence_numbers_of_every_shape(setup, value):
    """The model's pattern (ASCII digits) or ValidationException; a number in the pattern that
    this shard never issued is InvalidArgumentException; nothing else escapes."""
    expected = "InvalidArgumentException" if _PATTERN.fullmatch(value) else "ValidationException"
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        params = {"StreamName": "s", "ShardId": shard_id(0), "ShardIteratorType": kind,
                  "StartingSequenceNumber": value}
        if botocore_refuses("GetShardIterator", params):
            expected = "ParamValidationError"
        assert _code(lambda: setup.get_shard_iterator(**params)) == expected
    consumer = setup.describe_stream_consumer(StreamARN=stream_arn("s"), ConsumerName="c1")
    arn = consumer["ConsumerDescription"]["ConsumerARN"]
    code = _code(lambda: next(iter(setup.subscribe_to_shard(
        ConsumerARN=arn, ShardId=shard_id(0),
        StartingPosition={"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": value})["EventStream"])))
    assert code in (expected, "ResourceInUseException")
    ordering = {"StreamName": "s", "Data": b"x", "PartitionKey": "k", "SequenceNumberForOrdering": value}
    if not _PATTERN.fullmatch(value):
        assert _code(lambda: setup.put_record(**ordering)) in ("ValidationException", "ParamValidationError")


def _records_at(kin, when):
    it = kin.get_shard_iterator(StreamName="s", ShardId=shard_id(0), ShardIteratorType="AT_TIMESTAMP",
                                Timestamp=when)["ShardIterator"]
    return kin.get_records(ShardIterator=it)["Records"]


def test_timestamps_naive_aware_and_extreme(setup, clock):
    now = datetime.datetime.fromtimestamp(clock.now(), UTC)
    everything = _records_at(setup, now)
    assert everything
    assert _records_at(setup, now.replace(tzinfo=None)) == everything        # naive means UTC, as in boto3
    assert _records_at(setup, now.astimezone(datetime.timezone(datetime.timedelta(hours=5)))) == everything
    assert _records_at(setup, now + datetime.timedelta(milliseconds=1)) == []
    assert _records_at(setup, datetime.datetime(1, 1, 1)) == everything
    assert _records_at(setup, -1) == everything
    assert _records_at(setup, datetime.datetime(9999, 12, 31, 23, 59, 59)) == []
    assert _records_at(setup, "9999-12-31T23:59:59Z") == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1e20, -1e20, 2**70, "nan", "1e400",
                                   "garbage", [1]])
def test_timestamps_boto3_cannot_send(setup, value):
    for call in (
        lambda: setup.get_shard_iterator(StreamName="s", ShardId=shard_id(0), ShardIteratorType="AT_TIMESTAMP",
                                         Timestamp=value),
        lambda: setup.list_shards(StreamName="s", ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": value}),
        lambda: setup.list_shards(StreamName="s", StreamCreationTimestamp=value),
    ):
        assert _code(call) in ("ParamValidationError", "InvalidArgumentException", "ValidationException")


@pytest.mark.parametrize("tags,code", [
    ({"k": "v" * 257}, "ValidationException"), ({"k" * 129: "v"}, "ValidationException"),
    ({"": "v"}, "ParamValidationError"), ({"\ud800": "v"}, None), ({"k": "\ud800"}, None), ({"k\x00": ""}, None),
])
def test_odd_tags_get_an_answer(setup, tags, code):
    """Refused with AWS's code and nothing changed, or stored exactly."""
    before = setup.list_tags_for_stream(StreamName="s")["Tags"]
    for call in (lambda: setup.add_tags_to_stream(StreamName="s", Tags=tags),
                 lambda: setup.tag_resource(ResourceARN=stream_arn("s"), Tags=tags)):
        if code is None:
            call()
            assert {t["Key"]: t["Value"] for t in setup.list_tags_for_resource(ResourceARN=stream_arn("s"))["Tags"]} \
                == {**{t["Key"]: t["Value"] for t in before}, **tags}
            setup.remove_tags_from_stream(StreamName="s", TagKeys=list(tags))
        else:
            assert _code(call) == code
        assert setup.list_tags_for_stream(StreamName="s")["Tags"] == before
    if code is not None:
        assert _code(lambda: setup.create_stream(StreamName="t", ShardCount=1, Tags=tags)) == code
        assert "t" not in setup.list_streams()["StreamNames"]

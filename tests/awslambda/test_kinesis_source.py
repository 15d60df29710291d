"""Kinesis -> Lambda: starting positions, batches, parallelization with per-key order, retries,
bisection, record age, on-failure destinations, partial batch responses, tumbling windows and
function timeouts, on the manual clock."""
import base64
import datetime
import json
import threading

import pytest

from tests.awslambda.conftest import ROLE, drain, queue_arn, stream_arn


class Recorder:
    def __init__(self, respond=None):
        self.events = []
        self.lock = threading.Lock()
        self.respond = respond      # respond(event) -> result, may raise

    def __call__(self, event, context):
        with self.lock:
            self.events.append(event)
        return self.respond(event) if self.respond else None

    def batches(self):
        return [[_data(r) for r in e["Records"]] for e in self.events]

    def all(self):
        return [d for b in self.batches() for d in b]


def _data(record) -> str:
    return base64.b64decode(record["kinesis"]["data"]).decode()


def _stream(kinesis, shards=1, name="s"):
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return stream_arn(kinesis, name)


def _put(kinesis, items, key="k", name="s"):
    for item in items:
        kinesis.put_record(StreamName=name, Data=item.encode(), PartitionKey=key)


def _map(eng, lam, arn, handler, timeout=None, **params):
    eng.register_function("f", handler)
    lam.create_function(FunctionName="f", Role=ROLE, Code={"ZipFile": b""}, **({"Timeout": timeout} if timeout else {}))
    params.setdefault("StartingPosition", "TRIM_HORIZON")
    return lam.create_event_source_mapping(FunctionName="f", EventSourceArn=arn, **params)["UUID"]


def _run(clock, settle, seconds, step=1):
    """Move the clock `seconds` in steps, letting the mappings catch up after each."""
    settle()
    for _ in range(int(seconds / step)):
        clock.advance(step)
        settle()


def test_event_shape(eng, lam, kinesis, clock, settle):
    arn = _stream(kinesis)
    seq = kinesis.put_record(StreamName="s", Data=b"hello", PartitionKey="pk")["SequenceNumber"]
    rec = Recorder()
    _map(eng, lam, arn, rec)
    settle()
    (record,) = rec.events[0]["Records"]
    assert record == {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "pk", "sequenceNumber": seq,
                    "data": base64.b64encode(b"hello").decode(), "approximateArrivalTimestamp": clock.now()},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"shardId-000000000000:{seq}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::000000000000:role/lambda-role",
        "awsRegion": "us-east-1", "eventSourceARN": arn}


def test_starting_positions(eng, lam, kinesis, clock, settle):
    arn = _stream(kinesis)
    _put(kinesis, ["old"])
    clock.advance(10)
    cut = clock.now()
    _put(kinesis, ["mid"])
    latest, horizon, at = Recorder(), Recorder(), Recorder()
    for name, handler in (("latest", latest), ("horizon", horizon), ("at", at)):
        eng.register_function(name, handler)
    lam.create_event_source_mapping(FunctionName="latest", EventSourceArn=arn, StartingPosition="LATEST")
    lam.create_event_source_mapping(FunctionName="horizon", EventSourceArn=arn, StartingPosition="TRIM_HORIZON")
    lam.create_event_source_mapping(FunctionName="at", EventSourceArn=arn, StartingPosition="AT_TIMESTAMP",
                                    StartingPositionTimestamp=datetime.datetime.fromtimestamp(
                                        cut, datetime.timezone.utc))
    settle()
    _put(kinesis, ["new"])
    settle()
    assert (latest.all(), horizon.all(), at.all()) == (["new"], ["old", "mid", "new"], ["mid", "new"])


def test_batch_size_and_window(eng, lam, kinesis, clock, settle):
    arn = _stream(kinesis)
    rec = Recorder()
    _map(eng, lam, arn, rec, BatchSize=10, MaximumBatchingWindowInSeconds=5)
    _put(kinesis, [str(i) for i in range(23)])
    settle()
    assert rec.batches() == [[str(i) for i in range(10)], [str(i) for i in range(10, 20)]]
    clock.advance(4)
    settle()
    assert len(rec.events) == 2
    clock.advance(1)
    settle()
    assert rec.batches()[2] == ["20", "21", "22"]


def test_parallelization_keeps_order_per_key(eng, lam, kinesis, settle):
    arn = _stream(kinesis)
    keys = [f"key{k}" for k in range(8)]
    for i in range(20):
        for key in keys:
            kinesis.put_record(StreamName="s", Data=f"{key}:{i}".encode(), PartitionKey=key)
    running, peak, lock, release = [0], [0], threading.Lock(), threading.Event()

    def slow(event):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(0.05)
        with lock:
            running[0] -= 1

    rec = Recorder(slow)
    _map(eng, lam, arn, rec, BatchSize=5, ParallelizationFactor=4)
    settle()
    for event in rec.events:
        assert len({r["kinesis"]["partitionKey"] for r in event["Records"]} & set(keys)) >= 1
    for key in keys:
        assert [d for d in rec.all() if d.startswith(key + ":")] == [f"{key}:{i}" for i in range(20)]
    assert 1 < peak[0] <= 4


def test_retries_then_on_failure_to_sqs(eng, lam, kinesis, sqs, clock, settle):
    arn = _stream(kinesis)
    dest_url = sqs.create_queue(QueueName="failures")["QueueUrl"]
    _put(kinesis, ["a", "b"])

    def fail(event):
        raise ValueError("nope")

    rec = Recorder(fail)
    _map(eng, lam, arn, rec, MaximumRetryAttempts=2,
         DestinationConfig={"OnFailure": {"Destination": queue_arn(sqs, dest_url)}})
    _run(clock, settle, 10)
    assert rec.batches() == [["a", "b"]] * 3
    (body,) = drain(sqs, dest_url)
    doc = json.loads(body)
    seqs = [r["kinesis"]["sequenceNumber"] for r in rec.events[0]["Records"]]
    assert doc["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert doc["requestContext"]["approximateInvokeCount"] == 3
    assert doc["requestContext"]["functionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:f"
    assert doc["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert doc["version"] == "1.0"
    info = doc["KinesisBatchInfo"]
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"],
            info["streamArn"]) == ("shardId-000000000000", seqs[0], seqs[1], 2, arn)
    _put(kinesis, ["c"])            # the shard moved on past the discarded batch
    _run(clock, settle, 1)
    assert rec.batches()[3] == ["c"]


def test_on_failure_to_sns(eng, lam, kinesis, sqs, clock, settle):
    sns = eng.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="failures")["TopicArn"]
    url = sqs.create_queue(QueueName="sub")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(sqs, url),
                  Attributes={"RawMessageDelivery": "true"})
    arn = _stream(kinesis)
    _put(kinesis, ["x"])
    _map(eng, lam, arn, Recorder(lambda e: 1 / 0), MaximumRetryAttempts=0,
         DestinationConfig={"OnFailure": {"Destination": topic}})
    _run(clock, settle, 2)
    bodies = []
    for _ in range(100):
        bodies = drain(sqs, url)
        if bodies:
            break
        threading.Event().wait(0.02)
    assert json.loads(bodies[0])["requestContext"]["condition"] == "RetryAttemptsExhausted"


def test_bisect_isolates_the_bad_record(eng, lam, kinesis, clock, settle):
    arn = _stream(kinesis)
    _put(kinesis, [f"ok{i}" if i != 4 else "bad" for i in range(10)])

    def check(event):
        if any(_data(r) == "bad" for r in event["Records"]):
            raise ValueError("bad record")

    rec = Recorder(check)
    _map(eng, lam, arn, rec, BatchSize=10, BisectBatchOnFunctionError=True, MaximumRetryAttempts=1)
    _run(clock, settle, 5)
    assert rec.batches() == [
        ["ok0", "ok1", "ok2", "ok3", "bad", "ok5", "ok6", "ok7", "ok8", "ok9"],
        ["ok0", "ok1", "ok2", "ok3", "bad"], ["ok0", "ok1", "ok2"], ["ok3", "bad"], ["ok3"], ["bad"], ["bad"],
        ["ok5", "ok6", "ok7", "ok8", "ok9"]]


def test_maximum_record_age_discards_without_invoking(eng, lam, kinesis, sqs, clock, settle):
    arn = _stream(kinesis)
    dest_url = sqs.create_queue(QueueName="failures")["QueueUrl"]
    _put(kinesis, ["stale"])
    clock.advance(120)
    _put(kinesis, ["fresh"])
    rec = Recorder()
    _map(eng, lam, arn, rec, MaximumRecordAgeInSeconds=60,
         DestinationConfig={"OnFailure": {"Destination": queue_arn(sqs, dest_url)}})
    settle()
    assert rec.all() == ["fresh"]
    doc = json.loads(drain(sqs, dest_url)[0])
    assert doc["requestContext"]["condition"] == "RecordAgeExceeded"
    assert doc["requestContext"]["approximateInvokeCount"] == 0 and "responseContext" not in doc


def test_partial_batch_response_checkpoints_at_first_failure(eng, lam, kinesis, clock, settle):
    arn = _stream(kinesis)
    _put(kinesis, ["a", "b", "c", "d"])
    calls = []

    def respond(event):
        calls.append(len(calls))
        records = event["Records"]
        if len(calls) == 1:   # report c (and d): a and b are done
            return {"batchItemFailures": [{"itemIdentifier": records[3]["kinesis"]["sequenceNumber"]},
                                          {"itemIdentifier": records[2]["kinesis"]["sequenceNumber"]}]}
        return {"batchItemFailures": []}

    rec = Recorder(respond)
    _map(eng, lam, arn, rec, FunctionResponseTypes=["ReportBatchItemFailures"])
    _run(clock, settle, 2)
    assert rec.batches() == [["a", "b", "c", "d"], ["c", "d"]]


def test_function_timeout_is_a_failure(eng, lam, kinesis, clock, settle):
    arn = _stream(kinesis)
    _put(kinesis, ["t"])

    def respond(event):
        if len(rec.events) == 1:
            clock.advance(4)
        return None

    rec = Recorder(respond)
    _map(eng, lam, arn, rec, timeout=3)
    _run(clock, settle, 2)
    assert rec.batches() == [["t"], ["t"]]


def test_tumbling_window_state_and_final_invoke(eng, lam, kinesis, clock, settle):
    clock.set(1_700_000_040.0)          # a minute boundary: windows are [..:00, ..:60)
    arn = _stream(kinesis)

    def total(event):
        state = dict(event["state"])
        state["sum"] = state.get("sum", 0) + sum(int(_data(r)) for r in event["Records"])
        return {"state": state}

    _put(kinesis, ["1", "2", "3"])
    rec = Recorder(total)
    _map(eng, lam, arn, rec, BatchSize=2, TumblingWindowInSeconds=60)
    settle()
    clock.advance(30)
    _put(kinesis, ["4"])
    _run(clock, settle, 40, step=10)
    windows = [(e["window"], e["state"], e["isFinalInvokeForWindow"], [_data(r) for r in e["Records"]])
               for e in rec.events]
    w = {"start": "2023-11-14T22:14:00Z", "end": "2023-11-14T22:15:00Z"}
    assert windows == [(w, {}, False, ["1", "2"]), (w, {"sum": 3}, False, ["3"]), (w, {"sum": 6}, False, ["4"]),
                       (w, {"sum": 10}, True, [])]
    assert rec.events[0]["shardId"] == "shardId-000000000000" and rec.events[0]["isWindowTerminatedEarly"] is False


def test_tumbling_window_response_without_state_is_retried(eng, lam, kinesis, clock, settle):
    arn = _stream(kinesis)
    rec = Recorder(lambda e: {"state": {}} if len(rec.events) > 1 else None)
    _map(eng, lam, arn, rec, TumblingWindowInSeconds=60)
    _put(kinesis, ["x"])
    _run(clock, settle, 2)
    assert rec.batches()[:2] == [["x"], ["x"]]


def test_children_after_parents(eng, lam, kinesis, settle):
    arn = _stream(kinesis)
    _put(kinesis, ["before"])
    shard = kinesis.list_shards(StreamName="s")["Shards"][0]
    kinesis.split_shard(StreamName="s", ShardToSplit=shard["ShardId"], NewStartingHashKey=str(2**127))
    _put(kinesis, ["after"])
    rec = Recorder()
    _map(eng, lam, arn, rec)
    settle()
    assert rec.all() == ["before", "after"]


@pytest.mark.parametrize("disabled_first", [True, False])
def test_disable_and_enable(eng, lam, kinesis, settle, disabled_first):
    arn = _stream(kinesis)
    rec = Recorder()
    uuid = _map(eng, lam, arn, rec, Enabled=not disabled_first)
    if not disabled_first:
        lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    _put(kinesis, ["x"])
    settle()
    assert rec.events == []
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    settle()
    assert rec.all() == ["x"]


def test_a_stream_consumer_as_the_source(eng, lam, kinesis, settle):
    """A mapping may name an enhanced fan-out consumer; records still name the stream."""
    arn = _stream(kinesis)
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="lambda")["Consumer"]["ConsumerARN"]
    _put(kinesis, ["x"])
    rec = Recorder()
    _map(eng, lam, consumer, rec)
    settle()
    assert rec.all() == ["x"] and rec.events[0]["Records"][0]["eventSourceARN"] == arn
    assert lam.list_event_source_mappings()["EventSourceMappings"][0]["EventSourceArn"] == consumer

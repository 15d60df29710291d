"""SQS -> Lambda: batches, windows, concurrency, partial batch responses, redrive, FIFO order,
function timeouts and the event shape, all on the manual clock."""
import hashlib
import threading

import pytest

from tests.awslambda.conftest import ROLE, drain, queue_arn


class Recorder:
    """A handler that keeps every event; `fail(record)` decides per record, `result` the response."""

    def __init__(self, fail=None, result=None, raise_on=None):
        self.events = []
        self.lock = threading.Lock()
        self.fail = fail
        self.result = result
        self.raise_on = raise_on

    def __call__(self, event, context):
        with self.lock:
            self.events.append(event)
        records = event["Records"]
        if self.raise_on is not None and any(self.raise_on(r) for r in records):
            raise RuntimeError("handler failed")
        if self.fail is not None:
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if self.fail(r)]}
        return self.result

    def bodies(self):
        return [r["body"] for e in self.events for r in e["Records"]]

    def sizes(self):
        return [len(e["Records"]) for e in self.events]


def _queue(sqs, name="q", **attrs):
    url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attrs.items()})["QueueUrl"]
    return url, queue_arn(sqs, url)


def _send(sqs, url, bodies, **kw):
    for i in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": b, **kw}
                                                      for k, b in enumerate(bodies[i:i + 10])])


def _map(eng, lam, arn, handler, timeout=None, **params):
    eng.register_function("f", handler)
    lam.create_function(FunctionName="f", Role=ROLE, Code={"ZipFile": b""}, **({"Timeout": timeout} if timeout else {}))
    return lam.create_event_source_mapping(FunctionName="f", EventSourceArn=arn, **params)["UUID"]


def _counts(sqs, url):
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def test_event_shape_and_delete_on_success(eng, lam, sqs, settle):
    url, arn = _queue(sqs)
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes={
        "s": {"DataType": "String", "StringValue": "v"}, "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    rec = Recorder()
    _map(eng, lam, arn, rec)
    settle()
    (record,) = rec.events[0]["Records"]
    assert record["body"] == "hello" and record["md5OfBody"] == hashlib.md5(b"hello").hexdigest()
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == ("aws:sqs", arn, "us-east-1")
    assert record["messageAttributes"] == {
        "b": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        "s": {"stringValue": "v", "stringListValues": [], "binaryListValues": [], "dataType": "String"}}
    assert set(record["attributes"]) == {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                         "ApproximateFirstReceiveTimestamp"}
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert list(record) == ["messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                            "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"]
    assert _counts(sqs, url) == (0, 0)


def test_batch_size_caps_every_batch_and_all_arrive_once(eng, lam, sqs, settle):
    url, arn = _queue(sqs)
    bodies = [f"m{i}" for i in range(53)]
    _send(sqs, url, bodies)
    rec = Recorder()
    _map(eng, lam, arn, rec, BatchSize=7)
    settle()
    assert max(rec.sizes()) <= 7 and sorted(rec.bodies()) == sorted(bodies)
    assert _counts(sqs, url) == (0, 0)


def test_batching_window_waits_for_the_clock(eng, lam, sqs, clock, settle):
    url, arn = _queue(sqs)
    rec = Recorder()
    _map(eng, lam, arn, rec, BatchSize=100, MaximumBatchingWindowInSeconds=5)
    _send(sqs, url, [f"m{i}" for i in range(30)])
    settle()
    clock.advance(4)
    settle()
    assert rec.events == []
    clock.advance(1)
    settle()
    assert rec.sizes() == [30]


def test_full_batch_goes_before_the_window(eng, lam, sqs, settle):
    url, arn = _queue(sqs)
    _send(sqs, url, [f"m{i}" for i in range(25)])
    rec = Recorder()
    _map(eng, lam, arn, rec, BatchSize=20, MaximumBatchingWindowInSeconds=300)
    settle()
    assert rec.sizes() == [20]


def test_maximum_concurrency(eng, lam, sqs, settle):
    url, arn = _queue(sqs)
    _send(sqs, url, [f"m{i}" for i in range(40)])
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()
    seen = []

    def handler(event, context):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            seen.extend(r["body"] for r in event["Records"])
        release.wait(10)
        with lock:
            running[0] -= 1

    _map(eng, lam, arn, handler, BatchSize=1, ScalingConfig={"MaximumConcurrency": 3})
    for _ in range(200):
        with lock:
            if running[0] == 3:
                break
        threading.Event().wait(0.01)
    release.set()
    settle()
    assert peak[0] == 3 and sorted(seen) == sorted(f"m{i}" for i in range(40))


def test_partial_batch_response_returns_only_failed(eng, lam, sqs, clock, settle):
    url, arn = _queue(sqs, VisibilityTimeout=30)
    _send(sqs, url, [f"m{i}" for i in range(10)])
    attempts = {}

    def fail(record):
        attempts[record["body"]] = attempts.get(record["body"], 0) + 1
        return record["body"] in ("m3", "m7") and attempts[record["body"]] == 1

    rec = Recorder(fail=fail)
    _map(eng, lam, arn, rec, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    settle()
    assert rec.sizes() == [10]
    assert _counts(sqs, url) == (0, 2)         # the two failed wait out their visibility timeout
    clock.advance(30)
    settle()
    assert sorted(rec.events[1]["Records"][k]["body"] for k in range(2)) == ["m3", "m7"]
    assert rec.events[1]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert _counts(sqs, url) == (0, 0)


def test_invalid_partial_response_fails_the_whole_batch(eng, lam, sqs, settle):
    url, arn = _queue(sqs)
    _send(sqs, url, ["a", "b"])
    rec = Recorder(result={"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]})
    _map(eng, lam, arn, rec, FunctionResponseTypes=["ReportBatchItemFailures"])
    settle()
    assert _counts(sqs, url) == (0, 2)


def test_without_report_a_failure_returns_the_whole_batch(eng, lam, sqs, settle):
    url, arn = _queue(sqs)
    _send(sqs, url, ["a", "b"])
    _map(eng, lam, arn, Recorder(fail=lambda r: r["body"] == "a"))   # its response is ignored: all deleted
    settle()
    assert _counts(sqs, url) == (0, 0)
    _send(sqs, url, ["c"])
    lam.update_event_source_mapping(UUID=lam.list_event_source_mappings()["EventSourceMappings"][0]["UUID"],
                                    Enabled=False)
    settle()
    assert _counts(sqs, url) == (1, 0)


def test_failures_go_to_the_dead_letter_queue_by_redrive(eng, lam, sqs, clock, settle):
    dlq_url, dlq_arn = _queue(sqs, "dlq")
    url, arn = _queue(sqs, "q", VisibilityTimeout=10,
                      RedrivePolicy=f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}')
    _send(sqs, url, ["poison", "fine"])
    rec = Recorder(raise_on=lambda r: r["body"] == "poison")
    _map(eng, lam, arn, rec, BatchSize=1)
    for _ in range(3):
        settle()
        clock.advance(10)
    settle()
    assert rec.bodies().count("poison") == 2 and rec.bodies().count("fine") == 1
    assert drain(sqs, dlq_url) == ["poison"]
    assert _counts(sqs, url) == (0, 0)


def test_function_timeout_fails_the_batch(eng, lam, sqs, clock, settle):
    url, arn = _queue(sqs, VisibilityTimeout=30)
    _send(sqs, url, ["slow"])
    calls = []

    def slow(event, context):
        calls.append(context.get_remaining_time_in_millis())
        if len(calls) == 1:
            clock.advance(6)             # longer than the 5 s Timeout: the result does not count
        return None

    _map(eng, lam, arn, slow, timeout=5)
    settle()
    assert _counts(sqs, url) == (0, 1)
    clock.advance(30)
    settle()
    assert len(calls) == 2 and calls[0] == 5000 and _counts(sqs, url) == (0, 0)


def test_fifo_order_per_group(eng, lam, sqs, settle):
    url, arn = _queue(sqs, "q.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    sent = {g: [f"{g}-{i}" for i in range(30)] for g in ("a", "b", "c")}
    for i in range(30):
        for g in sent:
            sqs.send_message(QueueUrl=url, MessageBody=sent[g][i], MessageGroupId=g)
    rec = Recorder()
    _map(eng, lam, arn, rec, BatchSize=4, ScalingConfig={"MaximumConcurrency": 3})
    settle()
    got = {g: [b for b in rec.bodies() if b.startswith(g)] for g in sent}
    assert got == sent
    first = rec.events[0]["Records"][0]["attributes"]
    assert {"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"} <= set(first)


def test_close_drains_in_flight_invocations(eng, lam, sqs):
    url, arn = _queue(sqs)
    _send(sqs, url, ["x"])
    started, finished = threading.Event(), []

    def handler(event, context):
        started.set()
        threading.Event().wait(0.2)
        finished.append(event)

    _map(eng, lam, arn, handler)
    assert started.wait(10)
    eng.close()
    assert len(finished) == 1


@pytest.mark.parametrize("batch", [1, 10])
def test_deleted_mapping_stops_polling(eng, lam, sqs, settle, batch):
    url, arn = _queue(sqs)
    rec = Recorder()
    uuid = _map(eng, lam, arn, rec, BatchSize=batch)
    lam.delete_event_source_mapping(UUID=uuid)
    _send(sqs, url, ["after"])
    settle()
    assert rec.events == [] and _counts(sqs, url) == (1, 0)

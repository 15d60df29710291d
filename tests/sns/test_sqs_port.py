"""The narrow port SNS delivers into SQS through (delivery.SqsInbox): named entries in
(OutgoingMessage), named results out (Stored.status, SentMessage or ClientError per entry). A
recording queue stands in for the SQS model here; test_delivery.py covers the real queues."""
import hashlib

from engine import _core
from engine.sqs.errors import InvalidMessageContents
from engine.sqs.models import AttributeValue, OutgoingMessage, SentMessage


class RecordingInbox:
    """An SqsInbox that records what SNS hands it and answers as told."""

    def __init__(self, fifo: bool, status: bytes | None = None):
        self.fifo = fifo
        self.deleted = False
        self.status = status
        self.batches = []
        self.raw = []

    def send_batch(self, entries):
        self.batches.append(list(entries))
        return [SentMessage(f"id-{i}", "md5") for i, _ in enumerate(entries)]

    def send_raw(self, bodies):
        self.raw.append(list(bodies))
        return _core.Stored(self.status, None, None)

    def send_packed(self, rows):
        assert isinstance(rows, _core.PackedRows)
        self.raw.append(list(rows))
        return self.status

    def send_error(self, body, code):
        return InvalidMessageContents(f"refused ({code})")


def subscribed(backend, make_queue, topic, queue_name, inbox, attributes=None):
    _, qarn = make_queue(queue_name)
    sub = backend.subscribe(topic.arn, "sqs", qarn, attributes or {})
    sub.target._queue = inbox
    return sub


def test_fifo_deliveries_hand_the_queue_named_entries(backend, make_queue):
    topic = backend.create_topic("t.fifo", {"FifoTopic": "true", "ContentBasedDeduplication": "true"})
    inbox = RecordingInbox(fifo=True)
    subscribed(backend, make_queue, topic, "q.fifo", inbox, {"RawMessageDelivery": "true"})
    topic.publish("hello", group="g", attributes={"k": ("String", "v")})
    [[entry]] = inbox.batches
    assert isinstance(entry, OutgoingMessage)
    assert entry.body == "hello" and entry.group == "g" and entry.delay is None
    assert entry.dedup == hashlib.sha256(b"hello").hexdigest()
    assert entry.attributes == {"k": AttributeValue("String", "v", None)}
    assert inbox.raw == []


def test_plain_deliveries_use_the_bulk_send_and_its_status(backend, make_queue):
    topic = backend.create_topic("t")
    inbox = RecordingInbox(fifo=False, status=bytes([0, _core.SEND_TOO_LONG]))
    sub = subscribed(backend, make_queue, topic, "q", inbox)
    msgs = topic.publish_many(["one", "two"])
    [bodies] = inbox.raw
    assert len(bodies) == 2 and inbox.batches == []
    # the second body was refused by the queue: it fails alone, with the queue's error
    [failure] = backend.failures
    assert failure["SubscriptionArn"] == sub.arn and failure["MessageId"] == msgs[1].id
    assert failure["ErrorCode"] == "InvalidMessageContents"
    assert failure["ErrorMessage"] == f"refused ({_core.SEND_TOO_LONG})"

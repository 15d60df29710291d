"""The boto3-shaped SQS client: `eng.client("sqs")`.

The request layer (engine.client_base) checks every request against botocore's model before a
method runs; each method here only translates: boto3 members into typed calls on
engine.sqs.models (where every rule lives, so the native API obeys the same ones), and the
model's named results into the response shape boto3 returns with the AWS JSON protocol (a
member AWS has nothing for is absent). Errors carry the code the JSON protocol reports
(QueueDoesNotExist, InvalidParameterValue, ...).

The calls of a consumer loop (send_message_batch, receive_message, delete_message_batch) read
plain entries column-wise into the queues' bulk forms; which form is chosen by the entries'
shape and the queue's type.
"""
from __future__ import annotations

import base64

from .. import limits
from ..client_base import BaseClient, to_blob
from ..errors import ClientError, InvalidParameterValue
from . import errors as sqs_errors
from .errors import InvalidAttributeName, QueueDoesNotExist
from .md5 import attributes_md5
from .models import AttributeValue, FifoQueue, MoveTask, OutgoingMessage, SentMessage
from .rules import SYSTEM_ATTRIBUTE_NAMES, attributes_size, check_batch_ids, check_batch_size, receive_limit


# --- translation helpers -----------------------------------------------------------------------
def _attribute_values(value: dict) -> dict:
    """boto3 MessageAttributes / MessageSystemAttributes -> {name: AttributeValue}."""
    out = {}
    for key, attr in value.items():
        if attr.get("StringListValues") or attr.get("BinaryListValues"):
            raise InvalidParameterValue(f"Message (user) attribute '{key}': StringListValues and "
                                        "BinaryListValues are not implemented (reserved for future use).")
        bv = attr.get("BinaryValue")
        out[key] = AttributeValue(attr["DataType"], attr.get("StringValue"),
                                  None if bv is None else to_blob(f"{key}.BinaryValue", bv))
    return out


def _trace_header(value: dict) -> str | None:
    """MessageSystemAttributes -> the AWSTraceHeader value (the only one AWS accepts)."""
    for key, attr in _attribute_values(value).items():
        if key != "AWSTraceHeader":
            raise InvalidParameterValue(f"Message system attribute name '{key}' is invalid.")
        if attr.data_type != "String" or attr.string_value is None:
            raise InvalidParameterValue("Message system attribute 'AWSTraceHeader' must be of type String "
                                        "and contain a StringValue.")
        return attr.string_value
    return None


def _outgoing(e: dict) -> OutgoingMessage:
    """A SendMessage(Batch) entry as the model's OutgoingMessage."""
    ma = e.get("MessageAttributes")
    sa = e.get("MessageSystemAttributes")
    return OutgoingMessage(e["MessageBody"], e.get("DelaySeconds"), _attribute_values(ma) if ma else None,
                           _trace_header(sa) if sa else None, e.get("MessageGroupId"), e.get("MessageDeduplicationId"))


def _sent(out: dict, m: SentMessage) -> dict:
    """A send's result: ids and digests (a member AWS has nothing for is absent)."""
    out["MessageId"] = m.id
    out["MD5OfMessageBody"] = m.md5
    if m.attrs_md5:
        out["MD5OfMessageAttributes"] = m.attrs_md5
    if m.trace_md5:
        out["MD5OfMessageSystemAttributes"] = m.trace_md5
    if m.seq:
        out["SequenceNumber"] = m.seq
    return out


def _batch(ok: list, failed: list) -> dict:
    """A batch result: AWS omits the list that has no entries."""
    out = {}
    if ok:
        out["Successful"] = ok
    if failed:
        out["Failed"] = failed
    return out


def _failed(eid: str, err: ClientError) -> dict:
    e = err.response["Error"]
    return {"Id": eid, "SenderFault": err.sender_fault, "Code": e["Code"], "Message": e["Message"]}


def _body_size(body) -> int:
    if body.__class__ is str:
        return len(body) if body.isascii() else len(body.encode("utf-8", "surrogatepass"))
    return len(body)


def _page_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _page_after(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeError):  # not base64 of UTF-8 text
        raise InvalidParameterValue("Invalid NextToken value.") from None


def _paginate(listing, next_token, max_results):
    """ListQueues / ListDeadLetterSourceQueues paging: listing(after, limit) pages the model's
    names; a NextToken (the last name, encoded) only when MaxResults was given."""
    after = _page_after(next_token) if next_token is not None else ""
    page, more = listing(after, limits.SQS_LIST_QUEUES_MAX if max_results is None else max_results)
    token = _page_token(page[-1].name) if max_results is not None and more else None
    return page, token


def _system_attribute_names(*lists) -> set | None:
    names = None
    for requested in lists:
        for name in requested or ():
            if names is None:
                names = set()
            if name == "All":
                names.update(SYSTEM_ATTRIBUTE_NAMES)
            elif name in SYSTEM_ATTRIBUTE_NAMES:
                names.add(name)
            elif name != "SqsManagedSseEnabled":
                raise InvalidAttributeName(f"Unknown Attribute {name}.")
    return names


class SQSClient(BaseClient):
    """boto3's SQS client, in process."""

    service_name = "sqs"
    error_modules = (sqs_errors,)

    def __init__(self, engine, region_name: str):
        super().__init__(engine, region_name)
        self._backend = engine.backend("sqs", region_name)
        self._by_url = self._backend.by_url
        self._account = engine.account_id

    def _queue(self, url):
        q = self._by_url.get(url)
        return q if q is not None else self._backend.queue_from_url(url)

    # --- queues ---------------------------------------------------------------------------------
    def create_queue(self, *, QueueName, Attributes=None, tags=None):
        return {"QueueUrl": self._backend.create_queue(QueueName, Attributes, tags).url}

    def get_queue_url(self, *, QueueName, QueueOwnerAWSAccountId=None):
        if QueueOwnerAWSAccountId is not None and QueueOwnerAWSAccountId != self._account:
            raise QueueDoesNotExist()
        return {"QueueUrl": self._backend.get_queue(QueueName).url}

    def list_queues(self, *, QueueNamePrefix=None, NextToken=None, MaxResults=None):
        page, token = _paginate(lambda after, limit: self._backend.list_queues(QueueNamePrefix, after, limit),
                                NextToken, MaxResults)
        out = {}
        if page:
            out["QueueUrls"] = [q.url for q in page]
        if token:
            out["NextToken"] = token
        return out

    def delete_queue(self, *, QueueUrl):
        self._backend.delete_queue(self._queue(QueueUrl))
        return {}

    def get_queue_attributes(self, *, QueueUrl, AttributeNames=None):
        queue = self._queue(QueueUrl)
        attributes = queue.get_attributes(AttributeNames) if AttributeNames else None
        return {"Attributes": attributes} if attributes else {}

    def set_queue_attributes(self, *, QueueUrl, Attributes):
        self._backend.set_queue_attributes(self._queue(QueueUrl), Attributes)
        return {}

    def purge_queue(self, *, QueueUrl):
        self._queue(QueueUrl).purge()
        return {}

    def list_dead_letter_source_queues(self, *, QueueUrl, NextToken=None, MaxResults=None):
        queue = self._queue(QueueUrl)
        page, token = _paginate(lambda after, limit: self._backend.dead_letter_sources(queue, after, limit),
                                NextToken, MaxResults)
        out = {"queueUrls": [q.url for q in page]}   # required by the model: [] when there are none
        if token:
            out["NextToken"] = token
        return out

    # --- tags and permissions -------------------------------------------------------------------
    def tag_queue(self, *, QueueUrl, Tags):
        self._backend.tag_queue(self._queue(QueueUrl), Tags)
        return {}

    def untag_queue(self, *, QueueUrl, TagKeys):
        self._backend.untag_queue(self._queue(QueueUrl), TagKeys)
        return {}

    def list_queue_tags(self, *, QueueUrl):
        tags = self._queue(QueueUrl).tags
        return {"Tags": dict(tags)} if tags else {}

    def add_permission(self, *, QueueUrl, Label, AWSAccountIds, Actions):
        self._backend.add_permission(self._queue(QueueUrl), Label, AWSAccountIds, Actions)
        return {}

    def remove_permission(self, *, QueueUrl, Label):
        self._backend.remove_permission(self._queue(QueueUrl), Label)
        return {}

    # --- sending --------------------------------------------------------------------------------
    def send_message(self, *, QueueUrl, MessageBody, DelaySeconds=None, MessageAttributes=None,
                     MessageSystemAttributes=None, MessageDeduplicationId=None, MessageGroupId=None):
        queue = self._queue(QueueUrl)
        m = queue.send(MessageBody, DelaySeconds,
                       _attribute_values(MessageAttributes) if MessageAttributes else None,
                       _trace_header(MessageSystemAttributes) if MessageSystemAttributes else None,
                       MessageGroupId, MessageDeduplicationId)
        return _sent({}, m)

    def send_message_batch(self, *, QueueUrl, Entries):
        queue = self._queue(QueueUrl)
        ids = [e["Id"] for e in Entries]
        check_batch_ids(ids, "SendMessageBatch")
        # Plain entries (Id and MessageBody; FIFO: also the two ids) go to the queue's bulk form
        # as columns; any other entry takes the whole batch through send_batch.
        fifo = isinstance(queue, FifoQueue)
        bodies = [e["MessageBody"] for e in Entries if len(e) == (4 if fifo else 2)]
        if fifo and len(bodies) == len(Entries):
            groups = [e.get("MessageGroupId") for e in Entries]
            dedups = [e.get("MessageDeduplicationId") for e in Entries]
            if None in groups or None in dedups:
                bodies = ()
        if len(bodies) == len(Entries):
            check_batch_size(_body_size("".join(bodies)))
            if fifo:
                stored = queue.send_raw(bodies, groups, dedups)
                seqs = stored.seqs
                if stored.status is None:
                    return {"Successful": [{"Id": eid, "MessageId": mid, "MD5OfMessageBody": md5, "SequenceNumber": seq}
                                           for eid, mid, md5, seq in zip(ids, stored.ids, stored.md5s, seqs)]}
                return _batch([{"Id": ids[k], "MessageId": stored.ids[k], "MD5OfMessageBody": stored.md5s[k],
                                "SequenceNumber": seqs[k]} for k, code in enumerate(stored.status) if not code],
                              [_failed(ids[k], queue.send_error(bodies[k], code, groups[k], dedups[k]))
                               for k, code in enumerate(stored.status) if code])
            stored = queue.send_raw(bodies)
            if stored.status is None:
                return {"Successful": [{"Id": eid, "MessageId": mid, "MD5OfMessageBody": md5}
                                       for eid, mid, md5 in zip(ids, stored.ids, stored.md5s)]}
            return _batch([{"Id": ids[k], "MessageId": stored.ids[k], "MD5OfMessageBody": stored.md5s[k]}
                           for k, code in enumerate(stored.status) if not code],
                          [_failed(ids[k], queue.send_error(bodies[k], code))
                           for k, code in enumerate(stored.status) if code])
        entries = [_outgoing(e) for e in Entries]
        check_batch_size(sum(_body_size(m.body) + (attributes_size(m.attributes) if m.attributes else 0)
                             for m in entries))
        ok = []
        failed = []
        for eid, result in zip(ids, queue.send_batch(entries)):
            if isinstance(result, ClientError):
                failed.append(_failed(eid, result))
            else:
                ok.append(_sent({"Id": eid}, result))
        return _batch(ok, failed)

    # --- receiving ------------------------------------------------------------------------------
    def receive_message(self, *, QueueUrl, AttributeNames=None, MessageSystemAttributeNames=None,
                        MessageAttributeNames=None, MaxNumberOfMessages=None, VisibilityTimeout=None,
                        WaitTimeSeconds=None, ReceiveRequestAttemptId=None):
        queue = self._queue(QueueUrl)
        n = 1 if MaxNumberOfMessages is None else receive_limit(MaxNumberOfMessages)
        system = _system_attribute_names(AttributeNames, MessageSystemAttributeNames) \
            if AttributeNames or MessageSystemAttributeNames else None
        got = queue.receive(n, VisibilityTimeout, WaitTimeSeconds, ReceiveRequestAttemptId,
                            fifo_cols=system is not None and queue.fifo)
        if not got.ids:
            return {}
        if system is None and not MessageAttributeNames:
            return {"Messages": [{"MessageId": i, "ReceiptHandle": h, "MD5OfBody": m, "Body": b}
                                 for i, h, m, b in zip(got.ids, got.handles, got.md5s, got.bodies)]}
        msgs = []
        for k, (mid, h, md5, body, x) in enumerate(zip(got.ids, got.handles, got.md5s, got.bodies, got.extras)):
            d = {"MessageId": mid, "ReceiptHandle": h, "MD5OfBody": md5, "Body": body}
            if system:
                attributes = self._system_attributes(got, k, system)
                if attributes:
                    d["Attributes"] = attributes
            if MessageAttributeNames and x is not None and x.attrs:
                self._user_attributes(d, x, MessageAttributeNames)
            msgs.append(d)
        return {"Messages": msgs}

    def _system_attributes(self, got, k: int, wanted: set) -> dict:
        x = got.extras[k]
        values = {
            "SenderId": self._account,
            "SentTimestamp": str(got.sent_ms[k]),
            "ApproximateReceiveCount": str(got.receive_counts[k]),
            "ApproximateFirstReceiveTimestamp": str(got.first_ms[k]),
            "SequenceNumber": got.seqs[k] if got.seqs is not None else None,
            "MessageDeduplicationId": got.dedups[k] if got.dedups is not None else None,
            "MessageGroupId": got.groups[k] if got.groups is not None else (x.group if x is not None else None),
            "AWSTraceHeader": x.trace if x is not None else None,
            "DeadLetterQueueSourceArn": x.dlq_source if x is not None else None,
        }
        return {name: values[name] for name in SYSTEM_ATTRIBUTE_NAMES if name in wanted and values[name] is not None}

    @staticmethod
    def _user_attributes(d: dict, x, wanted) -> None:
        attrs = x.attrs
        if "All" in wanted or ".*" in wanted:
            chosen = attrs
        else:
            prefixes = tuple(w[:-2] for w in wanted if w.endswith(".*"))
            chosen = {k: v for k, v in attrs.items() if k in wanted or (prefixes and k.startswith(prefixes))}
        out = {}
        for name in sorted(chosen):
            a = chosen[name]
            if a.string_value is not None:
                out[name] = {"StringValue": a.string_value, "DataType": a.data_type}
            else:
                out[name] = {"BinaryValue": a.binary_value, "DataType": a.data_type}
        if out:
            d["MD5OfMessageAttributes"] = x.attrs_md5 if len(chosen) == len(attrs) else attributes_md5(chosen)
            d["MessageAttributes"] = out

    # --- deleting and visibility ----------------------------------------------------------------
    def delete_message(self, *, QueueUrl, ReceiptHandle):
        self._queue(QueueUrl).delete(ReceiptHandle)
        return {}

    def delete_message_batch(self, *, QueueUrl, Entries):
        queue = self._queue(QueueUrl)
        ids = [e["Id"] for e in Entries]
        check_batch_ids(ids, "DeleteMessageBatch")
        errors = queue.delete_batch([e["ReceiptHandle"] for e in Entries])
        if not any(errors):
            return {"Successful": [{"Id": eid} for eid in ids]}
        return _batch([{"Id": eid} for eid, err in zip(ids, errors) if err is None],
                      [_failed(eid, err) for eid, err in zip(ids, errors) if err is not None])

    def change_message_visibility(self, *, QueueUrl, ReceiptHandle, VisibilityTimeout):
        self._queue(QueueUrl).change_visibility(ReceiptHandle, VisibilityTimeout)
        return {}

    def change_message_visibility_batch(self, *, QueueUrl, Entries):
        queue = self._queue(QueueUrl)
        ids = [e["Id"] for e in Entries]
        check_batch_ids(ids, "ChangeMessageVisibilityBatch")
        # (VisibilityTimeout is optional in the model; AWS treats a missing one as 0)
        errors = queue.change_visibility_batch([(e["ReceiptHandle"], e.get("VisibilityTimeout", 0)) for e in Entries])
        return _batch([{"Id": eid} for eid, err in zip(ids, errors) if err is None],
                      [_failed(eid, err) for eid, err in zip(ids, errors) if err is not None])

    # --- message move tasks ---------------------------------------------------------------------
    def start_message_move_task(self, *, SourceArn, DestinationArn=None, MaxNumberOfMessagesPerSecond=None):
        task = self._backend.start_message_move_task(SourceArn, DestinationArn, MaxNumberOfMessagesPerSecond)
        return {"TaskHandle": task.handle}

    def list_message_move_tasks(self, *, SourceArn, MaxResults=None):
        results = []
        for task in self._backend.list_message_move_tasks(SourceArn, 1 if MaxResults is None else MaxResults):
            entry = {}
            if task.status == MoveTask.RUNNING:
                entry["TaskHandle"] = task.handle
            entry["Status"] = task.status
            entry["SourceArn"] = task.source_arn
            if task.destination_arn is not None:
                entry["DestinationArn"] = task.destination_arn
            if task.rate is not None:
                entry["MaxNumberOfMessagesPerSecond"] = task.rate
            entry["ApproximateNumberOfMessagesMoved"] = task.moved
            entry["ApproximateNumberOfMessagesToMove"] = task.to_move
            if task.failure is not None:
                entry["FailureReason"] = task.failure
            entry["StartedTimestamp"] = task.started_ms
            results.append(entry)
        return {"Results": results} if results else {}

    def cancel_message_move_task(self, *, TaskHandle):
        task = self._backend.cancel_message_move_task(TaskHandle)
        return {"ApproximateNumberOfMessagesMoved": task.moved}


__all__ = ["SQSClient"]

"""The boto3-shaped SQS client: `eng.client("sqs")`.

Every method validates its parameters as botocore would client-side (ParamValidationError for
wrong types, missing or unknown members), turns them into typed calls on engine.sqs.models, and
shapes the response exactly as boto3 returns it with the AWS JSON protocol. Errors carry the
code the JSON protocol reports (QueueDoesNotExist, InvalidParameterValue, ...).

The three calls of a consumer loop (send_message_batch, receive_message, delete_message_batch)
have hand-tuned fast paths: plain entries take no generic validation detour, batch Ids are
checked through a small cache, and the queue is found by URL with one dict lookup.
"""
from __future__ import annotations

import base64
import re

from .. import limits
from ..client_base import BaseClient, check_dict, check_int, check_list, check_str, to_blob
from ..client_base import check_members as _check_members, check_str_map as _str_map, type_error as _type_error
from ..errors import ClientError, InvalidParameterValue, ParamValidationError
from . import errors as sqs_errors
from .errors import (BatchEntryIdsNotDistinct, BatchRequestTooLong, EmptyBatchRequest,
                     InvalidAttributeName, InvalidBatchEntryId, QueueDoesNotExist,
                     TooManyEntriesInBatchRequest, invalid_value)
from .md5 import attributes_md5
from .models import SYSTEM_ATTRIBUTE_NAMES, AttributeValue, Message, MoveTask

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,%d}" % limits.SQS_BATCH_ID_MAX)
_ATTEMPT_ID = re.compile(r"""[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}""")
_ok_ids: dict = {}  # batch entry Ids already found valid (a bounded cache)

_SEND_ENTRY_KEYS = ("Id", "MessageBody", "DelaySeconds", "MessageAttributes", "MessageSystemAttributes",
                    "MessageDeduplicationId", "MessageGroupId")
_DELETE_ENTRY_KEYS = ("Id", "ReceiptHandle")
_CHANGE_ENTRY_KEYS = ("Id", "ReceiptHandle", "VisibilityTimeout")
_ATTRIBUTE_VALUE_KEYS = ("StringValue", "BinaryValue", "StringListValues", "BinaryListValues", "DataType")


# --- botocore-style client-side checks -----------------------------------------------------------


def _opt_int(name, value):
    if value is not None:
        check_int(name, value)
    return value


def _str_list(name: str, value) -> list:
    check_list(name, value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _type_error(f"{name}[{i}]", item, "<class 'str'>")
    return value


def _message_attributes(name: str, value) -> dict:
    """boto3 MessageAttributes map -> {name: AttributeValue}."""
    check_dict(name, value)
    out = {}
    for key, attr in value.items():
        check_str(f"{name} keys", key)
        where = f"{name}.{key}"
        _check_members(where, attr, _ATTRIBUTE_VALUE_KEYS, ("DataType",))
        data_type = check_str(f"{where}.DataType", attr["DataType"])
        sv = attr.get("StringValue")
        if sv is not None:
            check_str(f"{where}.StringValue", sv)
        bv = attr.get("BinaryValue")
        if bv is not None:
            bv = to_blob(f"{where}.BinaryValue", bv)
        if attr.get("StringListValues") or attr.get("BinaryListValues"):
            raise InvalidParameterValue(f"Message (user) attribute '{key}': StringListValues and "
                                        "BinaryListValues are not implemented (reserved for future use).")
        out[key] = AttributeValue(data_type, sv, bv)
    return out


def _trace_header(name: str, value) -> str | None:
    """MessageSystemAttributes -> the AWSTraceHeader value (validated by the model)."""
    attrs = _message_attributes(name, value)
    if not attrs:
        return None
    for key, attr in attrs.items():
        if key != "AWSTraceHeader":
            raise InvalidParameterValue(f"Message system attribute name '{key}' is invalid.")
        if attr.data_type != "String" or attr.string_value is None:
            raise InvalidParameterValue("Message system attribute 'AWSTraceHeader' must be of type String "
                                        "and contain a StringValue.")
        return attr.string_value
    return None  # pragma: no cover


def _check_batch(entries, name: str, kind: str, keys, required) -> list:
    """The request-level batch rules shared by the three batch calls; returns the Ids."""
    if entries.__class__ is not list:
        check_list(name, entries)
        entries = list(entries)
    n = len(entries)
    if not n:
        raise EmptyBatchRequest(f"There should be at least one {kind}RequestEntry in the request.")
    if n > limits.SQS_BATCH_MAX:
        raise TooManyEntriesInBatchRequest(f"Maximum number of entries per request are {limits.SQS_BATCH_MAX}. "
                                           f"You have sent {n}.")
    ids = []
    for i, e in enumerate(entries):
        if e.__class__ is not dict:
            raise _type_error(f"{name}[{i}]", e, "<class 'dict'>")
        eid = e.get("Id")
        if eid not in _ok_ids:
            _check_members(f"{name}[{i}]", e, keys, required)
            if not isinstance(eid, str):
                raise _type_error(f"{name}[{i}].Id", eid, "<class 'str'>")
            if not _BATCH_ID.fullmatch(eid):
                raise InvalidBatchEntryId()
            if len(_ok_ids) > 4096:
                _ok_ids.clear()
            _ok_ids[eid] = True
        ids.append(eid)
    if len(set(ids)) != n:
        seen = set()
        for eid in ids:
            if eid in seen:
                raise BatchEntryIdsNotDistinct(f"Id {eid} repeated.")
            seen.add(eid)
    return ids


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


def _body_size(body: str) -> int:
    return len(body) if body.isascii() else len(body.encode("utf-8", "surrogatepass"))


def _attributes_size(attrs: dict) -> int:
    size = 0
    for key, a in attrs.items():
        size += len(key.encode("utf-8", "surrogatepass")) + len(a.data_type.encode("utf-8", "surrogatepass"))
        if a.string_value is not None:
            size += len(a.string_value.encode("utf-8", "surrogatepass"))
        if a.binary_value is not None:
            size += len(a.binary_value)
    return size


def _page_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _page_after(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeError, AttributeError):  # not base64 of UTF-8 text, not a string
        raise InvalidParameterValue("Invalid NextToken value.") from None


def _paginate(listing, next_token, max_results):
    """ListQueues / ListDeadLetterSourceQueues paging: listing(after, limit) pages the model's
    names; a NextToken (the last name, encoded) only when MaxResults was given."""
    after = _page_after(next_token) if next_token is not None else ""
    page, more = listing(after, limits.SQS_LIST_QUEUES_MAX if max_results is None else max_results)
    token = _page_token(page[-1].name) if max_results is not None and more else None
    return page, token



def _sent_digests(out: dict, m) -> dict:
    """Add what a send reports beyond id and body digest: attribute digests, FIFO sequence number."""
    x = m.x
    if x is not None:
        if x.attrs_md5:
            out["MD5OfMessageAttributes"] = x.attrs_md5
        if x.trace_md5:
            out["MD5OfMessageSystemAttributes"] = x.trace_md5
        if x.seq:
            out["SequenceNumber"] = str(x.seq)
    return out

class SQSClient(BaseClient):
    """boto3's SQS client, in process."""

    service_name = "sqs"
    error_modules = (sqs_errors,)
    def __init__(self, engine, region_name: str):
        super().__init__(engine, region_name)
        self._backend = engine.backend("sqs", region_name)
        self._by_url = self._backend.by_url
        self._account = engine.account_id

    # --- helpers (not operations) ---------------------------------------------------------------
    def _queue(self, url):
        q = self._by_url.get(url) if url.__class__ is str else None
        if q is None:
            check_str("QueueUrl", url)
            q = self._backend.queue_from_url(url)
        return q

    # --- queues ------------------------------------------------------------------------------------
    def create_queue(self, *, QueueName, Attributes=None, tags=None):
        check_str("QueueName", QueueName)
        attributes = _str_map("Attributes", Attributes) if Attributes is not None else {}
        tag_map = _str_map("tags", tags) if tags is not None else None
        queue = self._backend.create_queue(QueueName, attributes, tag_map)
        return {"QueueUrl": queue.url}

    def get_queue_url(self, *, QueueName, QueueOwnerAWSAccountId=None):
        check_str("QueueName", QueueName)
        if QueueOwnerAWSAccountId is not None:
            check_str("QueueOwnerAWSAccountId", QueueOwnerAWSAccountId)
            if QueueOwnerAWSAccountId != self._account:
                raise QueueDoesNotExist()
        return {"QueueUrl": self._backend.get_queue(QueueName).url}

    def list_queues(self, *, QueueNamePrefix=None, NextToken=None, MaxResults=None):
        if QueueNamePrefix is not None:
            check_str("QueueNamePrefix", QueueNamePrefix)
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
        names = _str_list("AttributeNames", AttributeNames) if AttributeNames is not None else []
        attributes = queue.get_attributes(names) if names else None
        return {"Attributes": attributes} if attributes else {}

    def set_queue_attributes(self, *, QueueUrl, Attributes):
        queue = self._queue(QueueUrl)
        self._backend.set_queue_attributes(queue, _str_map("Attributes", Attributes))
        return {}

    def purge_queue(self, *, QueueUrl):
        self._queue(QueueUrl).purge()
        return {}

    def list_dead_letter_source_queues(self, *, QueueUrl, NextToken=None, MaxResults=None):
        queue = self._queue(QueueUrl)
        page, token = _paginate(lambda after, limit: self._backend.dead_letter_sources(queue, after, limit),
                                NextToken, MaxResults)
        out = {"queueUrls": [q.url for q in page]} if page else {}
        if token:
            out["NextToken"] = token
        return out

    # --- tags and permissions ------------------------------------------------------------------------
    def tag_queue(self, *, QueueUrl, Tags):
        queue = self._queue(QueueUrl)
        self._backend.tag_queue(queue, _str_map("Tags", Tags))
        return {}

    def untag_queue(self, *, QueueUrl, TagKeys):
        queue = self._queue(QueueUrl)
        self._backend.untag_queue(queue, _str_list("TagKeys", TagKeys))
        return {}

    def list_queue_tags(self, *, QueueUrl):
        tags = self._queue(QueueUrl).tags
        return {"Tags": dict(tags)} if tags else {}

    def add_permission(self, *, QueueUrl, Label, AWSAccountIds, Actions):
        queue = self._queue(QueueUrl)
        check_str("Label", Label)
        self._backend.add_permission(queue, Label, _str_list("AWSAccountIds", AWSAccountIds),
                                     _str_list("Actions", Actions))
        return {}

    def remove_permission(self, *, QueueUrl, Label):
        queue = self._queue(QueueUrl)
        self._backend.remove_permission(queue, check_str("Label", Label))
        return {}

    # --- sending --------------------------------------------------------------------------------------
    def send_message(self, *, QueueUrl, MessageBody, DelaySeconds=None, MessageAttributes=None,
                     MessageSystemAttributes=None, MessageDeduplicationId=None, MessageGroupId=None):
        queue = self._queue(QueueUrl)
        check_str("MessageBody", MessageBody)
        _opt_int("DelaySeconds", DelaySeconds)
        attrs = _message_attributes("MessageAttributes", MessageAttributes) if MessageAttributes else None
        trace = _trace_header("MessageSystemAttributes", MessageSystemAttributes) \
            if MessageSystemAttributes else None
        if MessageDeduplicationId is not None:
            check_str("MessageDeduplicationId", MessageDeduplicationId)
        if MessageGroupId is not None:
            check_str("MessageGroupId", MessageGroupId)
        m = queue.send(MessageBody, DelaySeconds, attrs, trace, MessageGroupId, MessageDeduplicationId)
        return _sent_digests({"MD5OfMessageBody": m.md5, "MessageId": m.id}, m)

    def send_message_batch(self, *, QueueUrl, Entries):
        queue = self._queue(QueueUrl)
        if Entries.__class__ is list and 0 < len(Entries) <= 10 and not queue.fifo:
            # fast path: entries with only a known-good Id and an ASCII MessageBody
            ids = []
            bodies = []
            total = 0
            ok_ids = _ok_ids
            for e in Entries:
                if e.__class__ is not dict or len(e) != 2:
                    break
                eid = e.get("Id")
                body = e.get("MessageBody")
                if eid.__class__ is not str or body.__class__ is not str or eid not in ok_ids or not body.isascii():
                    break
                ids.append(eid)
                bodies.append(body)
                total += len(body)
            else:
                if len(set(ids)) == len(ids) and total <= limits.SQS_BATCH_BYTES_MAX:
                    send_raw = getattr(queue, "send_raw", None)
                    if send_raw is not None:  # the native queue: columns, no message objects
                        status, mids, md5s = send_raw(bodies)
                        if status is None:
                            return {"Successful": [{"Id": eid, "MessageId": mid, "MD5OfMessageBody": md5}
                                                   for eid, mid, md5 in zip(ids, mids, md5s)]}
                        ok = []
                        failed = []
                        for eid, body, mid, md5, code in zip(ids, bodies, mids, md5s, status):
                            if code:
                                failed.append(_failed(eid, queue.send_error(body, code)))
                            else:
                                ok.append({"Id": eid, "MessageId": mid, "MD5OfMessageBody": md5})
                        return _batch(ok, failed)
                    results = queue.send_bodies(bodies)
                    try:
                        return {"Successful": [{"Id": eid, "MessageId": m.id, "MD5OfMessageBody": m.md5}
                                               for eid, m in zip(ids, results)]}
                    except AttributeError:  # some entries were refused
                        return _batch([{"Id": eid, "MessageId": m.id, "MD5OfMessageBody": m.md5}
                                       for eid, m in zip(ids, results) if m.__class__ is Message],
                                      [_failed(eid, m) for eid, m in zip(ids, results) if m.__class__ is not Message])
        if Entries.__class__ is list and 0 < len(Entries) <= 10 and queue.fifo:
            # FIFO fast path: Id, MessageBody, MessageGroupId and MessageDeduplicationId only, all
            # str, known-good Ids, ASCII bodies
            ids = []
            bodies = []
            groups = []
            dedups = []
            total = 0
            ok_ids = _ok_ids
            fast = False
            for e in Entries:
                if e.__class__ is not dict or len(e) != 4:
                    break
                eid = e.get("Id")
                body = e.get("MessageBody")
                group = e.get("MessageGroupId")
                dedup = e.get("MessageDeduplicationId")
                if (eid.__class__ is not str or body.__class__ is not str or group.__class__ is not str
                        or dedup.__class__ is not str or eid not in ok_ids or not body.isascii()):
                    break
                ids.append(eid)
                bodies.append(body)
                groups.append(group)
                dedups.append(dedup)
                total += len(body)
            else:
                fast = len(set(ids)) == len(ids) and total <= limits.SQS_BATCH_BYTES_MAX
            if fast:
                send_raw = getattr(queue, "send_fifo_raw", None)
                if send_raw is not None:  # the native FIFO queue: columns, no message objects
                    status, mids, md5s, seqs = send_raw(bodies, groups, dedups)
                    if status is None:
                        return {"Successful": [{"Id": eid, "MessageId": mid, "MD5OfMessageBody": md5,
                                                "SequenceNumber": seq}
                                               for eid, mid, md5, seq in zip(ids, mids, md5s, seqs)]}
                    ok = []
                    failed = []
                    for k, code in enumerate(status):
                        if code:
                            failed.append(_failed(ids[k], queue.fifo_send_error(bodies[k], groups[k], dedups[k])))
                        else:
                            ok.append({"Id": ids[k], "MessageId": mids[k], "MD5OfMessageBody": md5s[k],
                                       "SequenceNumber": seqs[k]})
                    return _batch(ok, failed)
                results = queue.send_fifo(bodies, groups, dedups)
                try:
                    return {"Successful": [{"Id": eid, "MessageId": m.id, "MD5OfMessageBody": m.md5,
                                            "SequenceNumber": str(m.x.seq)} for eid, m in zip(ids, results)]}
                except AttributeError:  # some entries were refused
                    pass
                return self._batch_result(ids, results)
        ids = _check_batch(Entries, "Entries", "SendMessageBatch", _SEND_ENTRY_KEYS, ("Id", "MessageBody"))
        items = []
        total = 0
        for i, e in enumerate(Entries):
            body = e.get("MessageBody")
            if body.__class__ is not str:
                if "MessageBody" not in e:
                    raise ParamValidationError(f'Missing required parameter in Entries[{i}]: "MessageBody"')
                raise _type_error(f"Entries[{i}].MessageBody", body, "<class 'str'>")
            total += len(body) if body.isascii() else _body_size(body)
            if len(e) == 2:
                items.append((body,))
                continue
            _check_members(f"Entries[{i}]", e, _SEND_ENTRY_KEYS, ("Id", "MessageBody"))
            delay = _opt_int(f"Entries[{i}].DelaySeconds", e.get("DelaySeconds"))
            ma = e.get("MessageAttributes")
            attrs = _message_attributes(f"Entries[{i}].MessageAttributes", ma) if ma else None
            if attrs:
                total += _attributes_size(attrs)
            sa = e.get("MessageSystemAttributes")
            trace = _trace_header(f"Entries[{i}].MessageSystemAttributes", sa) if sa else None
            dedup = e.get("MessageDeduplicationId")
            if dedup is not None:
                check_str(f"Entries[{i}].MessageDeduplicationId", dedup)
            group = e.get("MessageGroupId")
            if group is not None:
                check_str(f"Entries[{i}].MessageGroupId", group)
            items.append((body, delay, attrs, trace, group, dedup))
        if total > limits.SQS_BATCH_BYTES_MAX:
            raise BatchRequestTooLong(f"Batch requests cannot be longer than {limits.SQS_BATCH_BYTES_MAX} bytes. "
                                      f"You have sent {total} bytes.")
        if queue.fifo:  # request-level FIFO rules: a batch fails as a whole
            for item in items:
                if len(item) == 1 or item[4] is None:
                    raise InvalidParameterValue("The request must contain the parameter MessageGroupId.")
            if not queue.content_dedup:
                for item in items:
                    if item[5] is None:
                        raise InvalidParameterValue("The queue should either have ContentBasedDeduplication "
                                                    "enabled or MessageDeduplicationId provided explicitly")
        return self._batch_result(ids, queue.send_batch(items))

    @staticmethod
    def _batch_result(ids, results) -> dict:
        ok = []
        failed = []
        for eid, m in zip(ids, results):
            if m.__class__ is Message:
                ok.append(_sent_digests({"Id": eid, "MessageId": m.id, "MD5OfMessageBody": m.md5}, m))
            else:
                failed.append(_failed(eid, m))
        return _batch(ok, failed)

    # --- receiving ---------------------------------------------------------------------------------------
    def receive_message(self, *, QueueUrl, AttributeNames=None, MessageSystemAttributeNames=None,
                        MessageAttributeNames=None, MaxNumberOfMessages=None, VisibilityTimeout=None,
                        WaitTimeSeconds=None, ReceiveRequestAttemptId=None):
        queue = self._queue(QueueUrl)
        n = 1
        if MaxNumberOfMessages is not None:
            if MaxNumberOfMessages.__class__ is not int:
                check_int("MaxNumberOfMessages", MaxNumberOfMessages)
            if not 1 <= MaxNumberOfMessages <= limits.SQS_RECEIVE_MAX:
                raise invalid_value("MaxNumberOfMessages", MaxNumberOfMessages,
                                    f"Must be between 1 and {limits.SQS_RECEIVE_MAX}, if provided.")
            n = MaxNumberOfMessages
        if VisibilityTimeout is not None:
            check_int("VisibilityTimeout", VisibilityTimeout)
            if not limits.SQS_VISIBILITY_MIN_S <= VisibilityTimeout <= limits.SQS_VISIBILITY_MAX_S:
                raise invalid_value("VisibilityTimeout", VisibilityTimeout,
                                    f"Must be >= 0 and <= {limits.SQS_VISIBILITY_MAX_S}, if provided.")
        if WaitTimeSeconds is not None:
            check_int("WaitTimeSeconds", WaitTimeSeconds)
            if not 0 <= WaitTimeSeconds <= limits.SQS_WAIT_TIME_MAX_S:
                raise invalid_value("WaitTimeSeconds", WaitTimeSeconds,
                                    f"Must be >= 0 and <= {limits.SQS_WAIT_TIME_MAX_S}, if provided.")
        attempt = None
        if ReceiveRequestAttemptId is not None:
            check_str("ReceiveRequestAttemptId", ReceiveRequestAttemptId)
            if not _ATTEMPT_ID.fullmatch(ReceiveRequestAttemptId):
                raise invalid_value("ReceiveRequestAttemptId", ReceiveRequestAttemptId,
                                    "ReceiveRequestAttemptId can only include alphanumeric and punctuation "
                                    "characters. 1 to 128 in length.")
            attempt = ReceiveRequestAttemptId if queue.fifo else None
        system = None
        if AttributeNames or MessageSystemAttributeNames:
            system = set()
            for param, names in (("AttributeNames", AttributeNames),
                                 ("MessageSystemAttributeNames", MessageSystemAttributeNames)):
                if names:
                    for name in _str_list(param, names):
                        if name == "All":
                            system.update(SYSTEM_ATTRIBUTE_NAMES)
                        elif name in SYSTEM_ATTRIBUTE_NAMES:
                            system.add(name)
                        elif name != "SqsManagedSseEnabled":
                            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        user = None
        if MessageAttributeNames:
            _str_list("MessageAttributeNames", MessageAttributeNames)
            user = MessageAttributeNames
        if system is None and user is None and (not queue.fifo or hasattr(queue, "send_fifo_raw")):
            # the native queue: columns
            if queue.fifo:
                ids, handles, md5s, bodies = queue.receive_raw(n, VisibilityTimeout, WaitTimeSeconds, attempt)[:4]
            else:
                ids, handles, md5s, bodies = queue.receive_raw(n, VisibilityTimeout, WaitTimeSeconds)[:4]
            if not ids:
                return {}
            return {"Messages": [{"MessageId": i, "ReceiptHandle": h, "MD5OfBody": m, "Body": b}
                                 for i, h, m, b in zip(ids, handles, md5s, bodies)]}
        deliveries = queue.receive(n, VisibilityTimeout, WaitTimeSeconds, attempt)
        if not deliveries:
            return {}
        if system is None and user is None:
            return {"Messages": [{"MessageId": m.id, "ReceiptHandle": h, "MD5OfBody": m.md5, "Body": m.body}
                                 for m, h, _, _ in deliveries]}
        msgs = []
        append = msgs.append
        if True:
            for m, h, rc, first in deliveries:
                d = {"MessageId": m.id, "ReceiptHandle": h, "MD5OfBody": m.md5, "Body": m.body}
                if system:
                    attributes = self._system_attributes(m, rc, first, system)
                    if attributes:
                        d["Attributes"] = attributes
                if user is not None and m.x is not None and m.x.attrs:
                    self._user_attributes(d, m.x, user)
                append(d)
        return {"Messages": msgs}

    def _system_attributes(self, m, rc, first, wanted) -> dict:
        out = {}
        x = m.x
        for name in SYSTEM_ATTRIBUTE_NAMES:
            if name not in wanted:
                continue
            if name == "SenderId":
                out[name] = self._account
            elif name == "SentTimestamp":
                out[name] = str(int(m.sent * 1000))
            elif name == "ApproximateReceiveCount":
                out[name] = str(rc)
            elif name == "ApproximateFirstReceiveTimestamp":
                out[name] = str(int(first * 1000))
            elif x is None:
                continue
            elif name == "SequenceNumber" and x.seq:
                out[name] = str(x.seq)
            elif name == "MessageDeduplicationId" and x.dedup is not None:
                out[name] = x.dedup
            elif name == "MessageGroupId" and x.group is not None:
                out[name] = x.group
            elif name == "AWSTraceHeader" and x.trace is not None:
                out[name] = x.trace
            elif name == "DeadLetterQueueSourceArn" and x.dlq_source is not None:
                out[name] = x.dlq_source
        return out

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

    # --- deleting and visibility ----------------------------------------------------------------------
    def delete_message(self, *, QueueUrl, ReceiptHandle):
        queue = self._queue(QueueUrl)
        check_str("ReceiptHandle", ReceiptHandle)
        queue.delete(ReceiptHandle)
        return {}

    def delete_message_batch(self, *, QueueUrl, Entries):
        queue = self._queue(QueueUrl)
        if Entries.__class__ is list and 0 < len(Entries) <= 10:
            ids = []
            handles = []
            ok_ids = _ok_ids
            for e in Entries:
                if e.__class__ is not dict or len(e) != 2:
                    break
                eid = e.get("Id")
                h = e.get("ReceiptHandle")
                if eid.__class__ is not str or h.__class__ is not str or eid not in ok_ids:
                    break
                ids.append(eid)
                handles.append(h)
            else:
                if len(set(ids)) == len(ids):
                    errors = queue.delete_batch(handles)
                    if not any(errors):
                        return {"Successful": [{"Id": eid} for eid in ids]}
                    return _batch([{"Id": eid} for eid, err in zip(ids, errors) if err is None],
                                  [_failed(eid, err) for eid, err in zip(ids, errors) if err is not None])
        ids = _check_batch(Entries, "Entries", "DeleteMessageBatch", _DELETE_ENTRY_KEYS, _DELETE_ENTRY_KEYS)
        handles = []
        for i, e in enumerate(Entries):
            h = e.get("ReceiptHandle")
            if h.__class__ is not str or len(e) != 2:
                _check_members(f"Entries[{i}]", e, _DELETE_ENTRY_KEYS, _DELETE_ENTRY_KEYS)
                check_str(f"Entries[{i}].ReceiptHandle", h)
            handles.append(h)
        errors = queue.delete_batch(handles)
        return _batch([{"Id": eid} for eid, err in zip(ids, errors) if err is None],
                      [_failed(eid, err) for eid, err in zip(ids, errors) if err is not None])

    def change_message_visibility(self, *, QueueUrl, ReceiptHandle, VisibilityTimeout):
        queue = self._queue(QueueUrl)
        check_str("ReceiptHandle", ReceiptHandle)
        check_int("VisibilityTimeout", VisibilityTimeout)
        queue.change_visibility(ReceiptHandle, VisibilityTimeout)
        return {}

    def change_message_visibility_batch(self, *, QueueUrl, Entries):
        queue = self._queue(QueueUrl)
        ids = _check_batch(Entries, "Entries", "ChangeMessageVisibilityBatch", _CHANGE_ENTRY_KEYS,
                           ("Id", "ReceiptHandle"))
        items = []
        for i, e in enumerate(Entries):
            _check_members(f"Entries[{i}]", e, _CHANGE_ENTRY_KEYS, ("Id", "ReceiptHandle"))
            check_str(f"Entries[{i}].ReceiptHandle", e["ReceiptHandle"])
            timeout = e.get("VisibilityTimeout")
            if timeout is None:
                timeout = 0  # the member is optional in the model; AWS treats a missing one as 0
            check_int(f"Entries[{i}].VisibilityTimeout", timeout)
            items.append((e["ReceiptHandle"], timeout))
        ok = []
        failed = []
        for eid, err in zip(ids, queue.change_visibility_batch(items)):
            if err is None:
                ok.append({"Id": eid})
            else:
                failed.append(_failed(eid, err))
        return _batch(ok, failed)

    # --- message move tasks -----------------------------------------------------------------------------
    def start_message_move_task(self, *, SourceArn, DestinationArn=None, MaxNumberOfMessagesPerSecond=None):
        check_str("SourceArn", SourceArn)
        if DestinationArn is not None:
            check_str("DestinationArn", DestinationArn)
        _opt_int("MaxNumberOfMessagesPerSecond", MaxNumberOfMessagesPerSecond)
        task = self._backend.start_message_move_task(SourceArn, DestinationArn, MaxNumberOfMessagesPerSecond)
        return {"TaskHandle": task.handle}

    def list_message_move_tasks(self, *, SourceArn, MaxResults=None):
        check_str("SourceArn", SourceArn)
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
        check_str("TaskHandle", TaskHandle)
        task = self._backend.cancel_message_move_task(TaskHandle)
        return {"ApproximateNumberOfMessagesMoved": task.moved}


__all__ = ["SQSClient"]

"""SQS domain: queues, messages, visibility, FIFO message groups and deduplication, dead-letter
redrive and message move tasks. Typed Python methods; no boto3 dict shapes (engine.sqs.client
does the translation).

Standard queues (`Queue`) keep their hot state in the native core (engine._core.MessageQueue,
csrc/queue.c): fixed-size message structs (number, MD5, times, receive count, body offset) in
slot pages, bodies in a chunked arena, one heap of timed transitions (delay, visibility,
retention: O(log n) per message, no scan per receive), receipt handles as (slot, generation).
Bodies are checked against the XML character ranges and digested in C, a batch per call. What
a message carries beyond its body (attributes, trace header, dead-letter source, a MessageId
kept from another queue) is a MessageExtra the core holds by tag. `Queue` adds the AWS rules:
limits, error codes, dead-letter moves, long polling on the engine clock.

FIFO queues (`FifoQueue`) run on the same core in its FIFO mode: per-group lists of waiting
messages in sequence order, a ready list of groups that can deliver (a group with a message in
flight is not in it), deduplication records keyed by 16-byte digests (remembered 5 minutes
after the send, whatever became of the message; queue or group scope) and sequence numbers, all
in C; the group and deduplication ids are stored beside the body. `FifoQueue` adds the AWS
rules (validation, ReceiveRequestAttemptId retries, dead-letter moves, long polling).

`PyQueue` / `PyFifoQueue` are the earlier pure-Python queues (kept as a reference and a
fallback: `NATIVE_FIFO = False` makes FIFO queues `PyFifoQueue` again):

- a message is one `Message` object (slots) in exactly one state: VISIBLE, INFLIGHT, DELAYED or
  DEAD. Containers hold references and drop stale ones lazily when they reach the front;
  every container is compacted when its stale entries outnumber the live ones, so each
  operation is amortised O(1) (deques, dicts) or O(log n) (heaps) per message, and no receive
  ever scans the queue.
- one `_Group` per MessageGroupId (pending deque + heap of messages returned from flight,
  ordered by sequence) and a `_ready` deque of groups that can deliver now; a group with a
  message in flight is not in `_ready`, which is how per-group order is kept.
- in flight: `_handles` maps the current receipt handle to its message; visibility deadlines
  live in a timing wheel: one deque per distinct timeout value, entries appended in deadline
  order (deadline = now + timeout), one entry per receive call.
- retention: `_log` deque in enqueue order.

Time comes from the engine clock only. Timed transitions run lazily at the start of every
operation; long pollers wait on the queue's condition through `clock.wait` with a deadline
that is the earlier of their WaitTimeSeconds and the next timed transition.
"""
from __future__ import annotations

import base64
import decimal
import hashlib
import heapq
import itertools
import json
import math
import os
import re
import threading
import uuid
from collections import OrderedDict, deque
from itertools import islice
from typing import NamedTuple

from .. import limits
from ..arn import parse_arn, sqs_arn, sqs_queue_url
from ..errors import ClientError, InvalidParameterValue, ResourceNotFoundException
from .errors import (InvalidAttributeName, InvalidAttributeValue, InvalidMessageContents,
                     MissingParameter, OverLimit, PurgeQueueInProgress, QueueDeletedRecently,
                     QueueDoesNotExist, QueueNameExists, ReceiptHandleIsInvalid, invalid_value)
from .md5 import _md5, attributes_md5
from .names import SortedNames
from .. import _core

# --- message states ---------------------------------------------------------------------
VISIBLE = 0
INFLIGHT = 1
DELAYED = 2
DEAD = 3

MESSAGE_CONTENT_ERROR = ("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
                         "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
# Allowed ASCII bytes: TAB LF CR and 0x20-0x7F. bytes.translate(None, ALLOWED) leaves the others.
_ASCII_ALLOWED = bytes([9, 10, 13, *range(0x20, 0x80)])
_INVALID_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,%d}" % limits.SQS_QUEUE_NAME_MAX)
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,%d}\.fifo" % (limits.SQS_QUEUE_NAME_MAX - 5))
_FIFO_ID = re.compile(r"""[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}""")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
# ASCII digits only: str.isdigit() and re's \d also take "²" or "٣"
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
_NUMBER_MIN = decimal.Decimal("1e-128")
_NUMBER_MAX = decimal.Decimal("1e126")
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,80}")

FIFO_ONLY_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
READ_ONLY_ATTRIBUTES = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp",
                        "LastModifiedTimestamp", "QueueArn")
SETTABLE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy",
                       "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy",
                       "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
                       "SqsManagedSseEnabled") + FIFO_ONLY_ATTRIBUTES
ALL_ATTRIBUTES = frozenset(("All",) + SETTABLE_ATTRIBUTES + READ_ONLY_ATTRIBUTES)
_INT_RANGES = {
    "DelaySeconds": (limits.SQS_DELAY_MIN_S, limits.SQS_DELAY_MAX_S),
    "MaximumMessageSize": (limits.SQS_MESSAGE_SIZE_MIN, limits.SQS_MESSAGE_SIZE_MAX),
    "MessageRetentionPeriod": (limits.SQS_RETENTION_MIN_S, limits.SQS_RETENTION_MAX_S),
    "ReceiveMessageWaitTimeSeconds": (0, limits.SQS_WAIT_TIME_MAX_S),
    "VisibilityTimeout": (limits.SQS_VISIBILITY_MIN_S, limits.SQS_VISIBILITY_MAX_S),
    "KmsDataKeyReusePeriodSeconds": (limits.SQS_KMS_REUSE_MIN_S, limits.SQS_KMS_REUSE_MAX_S),
}
_BOOL_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled")
_ENUM_ATTRIBUTES = {"DeduplicationScope": ("messageGroup", "queue"),
                    "FifoThroughputLimit": ("perQueue", "perMessageGroupId")}
# Actions AddPermission accepts ("*" or the name of a queue action).
PERMISSION_ACTIONS = frozenset((
    "*", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch", "DeleteMessage",
    "DeleteMessageBatch", "GetQueueAttributes", "GetQueueUrl", "ListDeadLetterSourceQueues",
    "ListQueueTags", "PurgeQueue", "ReceiveMessage", "SendMessage", "SendMessageBatch",
    "ListMessageMoveTasks", "StartMessageMoveTask", "CancelMessageMoveTask"))
SYSTEM_ATTRIBUTE_NAMES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount",
                          "ApproximateFirstReceiveTimestamp", "SequenceNumber",
                          "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader",
                          "DeadLetterQueueSourceArn")


class AttributeValue(NamedTuple):
    """One message attribute: exactly one of the values is set."""
    data_type: str
    string_value: str | None = None
    binary_value: bytes | None = None


class MessageExtra:
    """The fields most messages do not have, kept off the hot object."""
    __slots__ = ("attrs", "attrs_md5", "trace", "trace_md5", "group", "dedup", "seq",
                 "dlq_source", "mid")

    def __init__(self, attrs=None, attrs_md5=None, trace=None, trace_md5=None, group=None,
                 dedup=None, seq=0, dlq_source=None, mid=None):
        self.attrs = attrs            # dict[str, AttributeValue] | None
        self.attrs_md5 = attrs_md5
        self.trace = trace            # AWSTraceHeader value | None
        self.trace_md5 = trace_md5
        self.group = group            # MessageGroupId (FIFO, or a fair-queue tenant)
        self.dedup = dedup            # MessageDeduplicationId (FIFO)
        self.seq = seq                # FIFO sequence number (int)
        self.dlq_source = dlq_source  # DeadLetterQueueSourceArn
        self.mid = mid                # MessageId carried from another queue (kept by a native
        #                               queue beside its own numbering); None: the queue's own id


class FifoExtra:
    """MessageExtra for the common FIFO message (no attributes, no trace): three slots, the rest
    read as class-level defaults."""
    __slots__ = ("group", "dedup", "seq")
    attrs = attrs_md5 = trace = trace_md5 = dlq_source = mid = None

    def __init__(self, group, dedup, seq=0):
        self.group = group
        self.dedup = dedup
        self.seq = seq


_known_groups: set = set()  # group ids already found valid (a bounded cache)


def fifo_id_ok(value) -> bool:
    """MessageGroupId / MessageDeduplicationId rule, fast: 1-128 printable ASCII, no space."""
    return (value.__class__ is str and 0 < len(value) <= 128 and value.isascii() and value.isprintable()
            and " " not in value)


class Message:
    """One message. `sent`, `first` and `rt` are engine-clock seconds."""
    __slots__ = ("id", "body", "md5", "sent", "rc", "first", "state", "handle", "due", "rt", "x")

    def __init__(self, mid, body, md5, sent, x=None):
        self.id = mid
        self.body = body
        self.md5 = md5
        self.sent = sent
        self.rc = 0          # ApproximateReceiveCount
        self.first = 0.0     # ApproximateFirstReceiveTimestamp (0: never received)
        self.state = VISIBLE
        self.handle = None   # current receipt handle
        self.x = x           # MessageExtra | None
        # Set when first needed (the constructor is on the hot path):
        # due: visibility deadline (INFLIGHT) or delivery time (DELAYED);
        # rt: time of the current receive (for the 12 h visibility ceiling).

    @property
    def attributes(self):
        return self.x.attrs if self.x is not None else None

    @property
    def group_id(self):
        return self.x.group if self.x is not None else None

    @property
    def deduplication_id(self):
        return self.x.dedup if self.x is not None else None

    @property
    def sequence_number(self):
        return str(self.x.seq) if self.x is not None and self.x.seq else None

    def __repr__(self):  # pragma: no cover - debugging aid
        return f"Message({self.id}, state={self.state}, rc={self.rc})"


class Delivery(NamedTuple):
    """What one receive hands out for one message (a snapshot: the message may move on).
    Receives return plain tuples in this layout (a NamedTuple per message costs more than the
    rest of the receive); index them or wrap them with Delivery._make."""
    message: Message
    receipt_handle: str
    receive_count: int
    first_receive: float


class RedrivePolicy(NamedTuple):
    dead_letter_target_arn: str
    max_receive_count: int


# --- validation shared by queues and the client --------------------------------------------
def whole_number(param: str, value, lo: int, hi: int | None, reason: str) -> int:
    """A caller's count or duration: an int (not a bool) in [lo, hi] (hi None: unbounded), else
    InvalidParameterValue with AWS's wording. Whatever the size of the int, nothing overflows
    below this point: the native queue only ever sees checked values."""
    if value.__class__ is int and lo <= value and (hi is None or value <= hi):
        return value
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise invalid_value(param, value, reason)
    number = value.__index__()  # numpy integers and the like
    if number < lo or (hi is not None and number > hi):
        raise invalid_value(param, value, reason)
    return number


def visibility_seconds(value) -> int:
    return whole_number("VisibilityTimeout", value, limits.SQS_VISIBILITY_MIN_S, limits.SQS_VISIBILITY_MAX_S,
                        f"Must be >= {limits.SQS_VISIBILITY_MIN_S} and <= {limits.SQS_VISIBILITY_MAX_S}, "
                        "if provided.")


def wait_seconds(value) -> int:
    return whole_number("WaitTimeSeconds", value, 0, limits.SQS_WAIT_TIME_MAX_S,
                        f"Must be >= 0 and <= {limits.SQS_WAIT_TIME_MAX_S}, if provided.")


def message_count(value) -> int:
    """How many messages a native receive asks for: at least one, no upper bound (the native API
    has no batch cap; a receive never returns more than the queue holds)."""
    return min(whole_number("MaxNumberOfMessages", value, 1, None, "Must be at least 1."), _NO_LIMIT)


def body_bytes(body: str) -> bytes:
    """UTF-8 bytes of a body, refusing characters SQS does not accept (InvalidMessageContents)."""
    try:
        raw = body.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        raise InvalidMessageContents(MESSAGE_CONTENT_ERROR) from None
    if body.isascii():
        if raw.translate(None, _ASCII_ALLOWED):
            raise InvalidMessageContents(MESSAGE_CONTENT_ERROR)
    elif _INVALID_CHAR.search(body):
        raise InvalidMessageContents(MESSAGE_CONTENT_ERROR)
    return raw


def _valid_text(value: str) -> bool:
    if value.isascii():
        return not value.encode().translate(None, _ASCII_ALLOWED)
    return _INVALID_CHAR.search(value) is None and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def validate_message_attributes(attrs: dict) -> int:
    """Check a message attribute map (name -> AttributeValue); return the bytes it counts
    towards the message size."""
    if not isinstance(attrs, dict):
        raise InvalidParameterValue("Message (user) attributes must be a map of names to attribute values.")
    if len(attrs) > limits.SQS_MESSAGE_ATTRIBUTES_MAX:
        raise InvalidParameterValue(f"Number of message attributes [{len(attrs)}] exceeds the allowed "
                                    f"maximum [{limits.SQS_MESSAGE_ATTRIBUTES_MAX}].")
    size = 0
    for name, value in attrs.items():
        check_attribute_name(name)
        try:
            data_type, sv, bv = value
        except (TypeError, ValueError):
            raise InvalidParameterValue(f"The message (user) attribute '{name}' must contain a non-empty message "
                                        "attribute value.") from None
        if not data_type:
            raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                        "attribute type.")
        base = data_type.split(".", 1)[0] if data_type.__class__ is str else ""
        if base not in ("String", "Number", "Binary") or (
                len(data_type) > len(base) and (data_type[len(base)] != "." or len(data_type) == len(base) + 1)):
            raise InvalidParameterValue(
                f"The type of message (user) attribute '{name}' is invalid. You must use only the "
                "following supported type prefixes: Binary, Number, String.")
        if len(data_type) > limits.SQS_ATTRIBUTE_NAME_MAX:
            raise InvalidParameterValue("Message (user) attribute types must be shorter than 256 Bytes")
        if not _valid_text(data_type):
            raise InvalidParameterValue(MESSAGE_CONTENT_ERROR)
        if sv is None and bv is None:
            raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                        f"attribute value for message attribute type '{data_type}'.")
        if base == "Binary":
            if bv is None or sv is not None or not isinstance(bv, (bytes, bytearray)):
                raise InvalidParameterValue(
                    f"The message attribute '{name}' with type 'Binary' must use field 'Binary'.")
            if not bv:
                raise InvalidParameterValue(
                    f"Message (user) attribute '{name}' must contain a non-empty value of type 'Binary'.")
            vsize = len(bv)
        else:
            if sv is None or bv is not None or sv.__class__ is not str:
                raise InvalidParameterValue(
                    f"The message attribute '{name}' with type '{base}' must use field 'String'.")
            if not sv:
                raise InvalidParameterValue(
                    f"Message (user) attribute '{name}' must contain a non-empty value of type '{base}'.")
            if not _valid_text(sv):
                raise InvalidParameterValue(MESSAGE_CONTENT_ERROR)
            if base == "Number":
                check_number(name, sv)
            vsize = len(sv.encode("utf-8"))
        size += len(name) + len(data_type.encode("utf-8")) + vsize
    return size


# AWS's texts for a bad message attribute name (as SQS returns them, the trailing space included)
ATTRIBUTE_NAME_CHARACTERS_ERROR = ("Message (user) attributes name can only contain upper and lower score "
                                   "characters, digits, periods, hyphens and underscores. ")
ATTRIBUTE_NAME_RESERVED_ERROR = ("You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. "
                                 "These strings are reserved for internal use. Additionally, they cannot start or "
                                 "end with '.'.")


def check_attribute_name(name) -> None:
    """A message attribute name: 1-256 of A-Z a-z 0-9 _ - . , not starting with AWS. or Amazon.
    (any case), not starting or ending with '.', no '..'."""
    if not name:
        raise InvalidParameterValue("The request must contain non-empty message (user) attribute names.")
    if name.__class__ is not str or not _ATTR_NAME.fullmatch(name):
        raise InvalidParameterValue(ATTRIBUTE_NAME_CHARACTERS_ERROR)
    if len(name) > limits.SQS_ATTRIBUTE_NAME_MAX:
        raise InvalidParameterValue("Message (user) attribute names must be shorter than 256 Bytes")
    if name.lower().startswith(("aws.", "amazon.")) or name[0] == "." or name[-1] == "." or ".." in name:
        raise InvalidParameterValue(ATTRIBUTE_NAME_RESERVED_ERROR)


def check_number(name: str, text: str) -> None:
    """A Number attribute value: a decimal number (ASCII digits) of at most 38 significant
    digits, zero or between 10^-128 and 10^+126 in magnitude."""
    if len(text) > limits.SQS_NUMBER_TEXT_MAX or not _NUMBER.fullmatch(text):
        raise InvalidParameterValue(f"Can't cast the value of message (user) attribute '{name}' to a number.")
    number = decimal.Decimal(text)
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    if number and (len(digits) > limits.SQS_NUMBER_DIGITS_MAX or not _NUMBER_MIN <= abs(number) <= _NUMBER_MAX):
        raise InvalidParameterValue(
            f"Value {text} for message (user) attribute '{name}' is out of range. A number can have up to "
            f"{limits.SQS_NUMBER_DIGITS_MAX} digits of precision and be between 10^-128 and 10^+126.")


def validate_trace_header(attrs: dict) -> str | None:
    """MessageSystemAttributes: only AWSTraceHeader, a String. Returns its value."""
    trace = None
    for name, value in attrs.items():
        if name != "AWSTraceHeader":
            raise InvalidParameterValue(f"Message system attribute name '{name}' is invalid.")
        if value.data_type != "String" or value.string_value.__class__ is not str:
            raise InvalidParameterValue(
                "Message system attribute 'AWSTraceHeader' must be of type String and contain a StringValue.")
        if not value.string_value:
            raise InvalidParameterValue(
                "Message system attribute 'AWSTraceHeader' must contain a non-empty value of type 'String'.")
        if not _valid_text(value.string_value):
            raise InvalidParameterValue(MESSAGE_CONTENT_ERROR)
        trace = value.string_value
    return trace


def validate_fifo_id(value: str, param: str) -> None:
    if value.__class__ is not str or not _FIFO_ID.fullmatch(value):
        raise invalid_value(param, value, f"{param} can only include alphanumeric and punctuation "
                                          "characters. 1 to 128 in length.")


def validate_queue_name(name: str, fifo: bool) -> None:
    if name.__class__ is not str:
        raise InvalidParameterValue("Value for parameter QueueName is invalid. Reason: must be a string.")
    if fifo:
        if not _FIFO_NAME.fullmatch(name):
            raise InvalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
                "must end with .fifo suffix and be 1 to 80 in length.")
    elif not _QUEUE_NAME.fullmatch(name):
        raise InvalidParameterValue("Can only include alphanumeric characters, hyphens, or underscores. "
                                    "1 to 80 in length")


def _int_attr(name: str, value: str) -> int:
    """An integer attribute: ASCII digits with an optional sign, in the attribute's range."""
    lo, hi = _INT_RANGES[name]
    if value.__class__ is not str or not _INTEGER.fullmatch(value) or not lo <= int(value) <= hi:
        raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
    return int(value)


def json_document(raw):
    """The JSON value of an attribute string, or None when it is not JSON (or nests too deep
    for the parser: 5,000 levels raise RecursionError)."""
    if raw.__class__ is not str:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def normalize_queue_attributes(attributes: dict, *, fifo: bool, creating: bool) -> dict:
    """Validate CreateQueue/SetQueueAttributes attributes; return them normalised (canonical
    strings) in AWS's spelling. Cross-queue rules (RedrivePolicy targets) are checked by the
    backend."""
    out = {}
    for name, value in attributes.items():
        if name not in ALL_ATTRIBUTES or name == "All" or name in READ_ONLY_ATTRIBUTES:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if not fifo and name in FIFO_ONLY_ATTRIBUTES:
            if name in ("DeduplicationScope", "FifoThroughputLimit"):
                raise InvalidAttributeName(f"You can specify the {name} only when FifoQueue is set to true.")
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if value.__class__ is not str:
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
        if name == "FifoQueue" and not creating and value.lower() != "true":
            raise InvalidAttributeValue("Invalid value for the parameter FifoQueue. Reason: Modifying queue "
                                        "type is not supported.")
        if name in _INT_RANGES:
            out[name] = str(_int_attr(name, value))
        elif name in _BOOL_ATTRIBUTES:
            low = value.lower()
            if low not in ("true", "false"):
                raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
            out[name] = low
        elif name in _ENUM_ATTRIBUTES:
            if value not in _ENUM_ATTRIBUTES[name]:
                raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
            out[name] = value
        elif name == "Policy":
            if value and not isinstance(json_document(value), dict):
                raise InvalidAttributeValue("Invalid value for the parameter Policy.")
            out[name] = value
        elif name == "RedriveAllowPolicy":
            if value:
                parse_redrive_allow_policy(value)
            out[name] = value
        elif name == "RedrivePolicy":
            if value:
                parse_redrive_policy(value)
            out[name] = value
        else:  # KmsMasterKeyId
            out[name] = value
    return out


def parse_redrive_policy(raw: str) -> RedrivePolicy:
    def bad(reason):
        return invalid_value("RedrivePolicy", raw, reason)
    doc = json_document(raw)
    if not isinstance(doc, dict):
        raise bad("Redrive policy is not a valid JSON map.")
    for key in doc:
        if key not in ("deadLetterTargetArn", "maxReceiveCount"):
            raise bad(f"Redrive policy has an unknown attribute: {key}.")
    if "deadLetterTargetArn" not in doc:
        raise bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
    if "maxReceiveCount" not in doc:
        raise bad("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
    target = doc["deadLetterTargetArn"]
    parts = parse_arn(target) if isinstance(target, str) else None
    if parts is None or parts["service"] != "sqs" or not parts["resource"]:
        raise bad("Invalid value for deadLetterTargetArn.")
    count = doc["maxReceiveCount"]
    number = _receive_count_value(count)
    if number is None or not limits.SQS_MAX_RECEIVE_COUNT_MIN <= number <= limits.SQS_MAX_RECEIVE_COUNT_MAX:
        raise bad(f"Invalid value for maxReceiveCount: {count}, valid values are from "
                  f"{limits.SQS_MAX_RECEIVE_COUNT_MIN} to {limits.SQS_MAX_RECEIVE_COUNT_MAX} both inclusive.")
    return RedrivePolicy(target, number)


def _receive_count_value(count) -> int | None:
    """maxReceiveCount as a JSON number or a string of ASCII digits; None when it is neither (a
    float must be whole: 1e400 reads as infinity, NaN as not a number)."""
    if count.__class__ is int:
        return count
    if count.__class__ is float:
        return int(count) if count.is_integer() else None
    if count.__class__ is str and _INTEGER.fullmatch(count):
        return int(count)
    return None


def _string_map(param: str, value) -> dict:
    """A map of strings to strings from the native API (None: empty), copied."""
    if value is None:
        return {}
    if not isinstance(value, dict) or any(k.__class__ is not str for k in value):
        raise InvalidParameterValue(f"Invalid value for the parameter {param}. Reason: must be a map of strings.")
    return dict(value)


def validate_tags(tags: dict, queue_name: str) -> dict:
    """A queue's tags: at most 50, keys of 1-128 and values of 0-256 characters."""
    for key, value in tags.items():
        if not 1 <= len(key) <= limits.SQS_TAG_KEY_MAX:
            raise InvalidParameterValue(f"Tag keys must be between 1 and {limits.SQS_TAG_KEY_MAX} "
                                        "characters in length.")
        if value.__class__ is not str or len(value) > limits.SQS_TAG_VALUE_MAX:
            raise InvalidParameterValue(f"Tag values must be between 0 and {limits.SQS_TAG_VALUE_MAX} "
                                        "characters in length.")
    if len(tags) > limits.SQS_TAGS_MAX:
        raise InvalidParameterValue(f"Too many tags added for queue {queue_name}.")
    return tags


def parse_redrive_allow_policy(raw: str) -> tuple[str, tuple]:
    def bad(reason):
        return invalid_value("RedriveAllowPolicy", raw, reason)
    doc = json_document(raw)
    if not isinstance(doc, dict):
        raise bad("Redrive allow policy is not a valid JSON map.")
    permission = doc.get("redrivePermission")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise bad("Invalid value for redrivePermission. Valid values are allowAll, denyAll and byQueue.")
    for key in doc:
        if key not in ("redrivePermission", "sourceQueueArns"):
            raise bad(f"Redrive allow policy has an unknown attribute: {key}.")
    sources = doc.get("sourceQueueArns")
    if permission == "byQueue":
        if not isinstance(sources, list) or not sources or not all(isinstance(a, str) for a in sources):
            raise bad("sourceQueueArns must be a non-empty list when redrivePermission is byQueue.")
        if len(sources) > limits.SQS_REDRIVE_ALLOW_SOURCES_MAX:
            raise bad(f"Maximum number of source queue ARNs is {limits.SQS_REDRIVE_ALLOW_SOURCES_MAX}.")
    elif sources is not None:
        raise bad("sourceQueueArns can only be specified when redrivePermission is byQueue.")
    return permission, tuple(sources or ())


# --- identifiers ----------------------------------------------------------------------------
def _id_prefix() -> str:
    # A random UUID4 head; the last 12 hex digits are a counter: unique, UUID-shaped, and far
    # cheaper than uuid4() per message.
    raw = os.urandom(10).hex()
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-{'89ab'[int(raw[16], 16) & 3]}{raw[17:20]}-"


# Message ids are the random UUID head + a 12-digit decimal counter (decimal digits are hex
# digits, so the id keeps the UUID shape); str() of an int is twice as fast as a '%012x' format.
_ID_START = 10**11


def _random_token(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode().replace("/", "_").replace("+", "-")


# --- queues ---------------------------------------------------------------------------------
class PyQueue:
    """A queue over Python message objects: the FIFO queue builds on it (per-group order and
    deduplication stay in Python). Standard queues are `Queue`, over the native core."""

    fifo = False

    def __init__(self, backend: "SQSBackend", name: str, attributes: dict, tags: dict | None):
        self.backend = backend
        self.name = name
        self.region = backend.region
        self.account_id = backend.account_id
        self.arn = sqs_arn(self.region, self.account_id, name)
        self.url = sqs_queue_url(self.region, self.account_id, name)
        self.clock = backend.clock
        now = self.clock.now()
        self.created = int(now)
        self.modified = int(now)
        self.tags: dict[str, str] = dict(tags or {})
        self.deleted = False
        # configured attributes, canonical strings (what GetQueueAttributes returns)
        self.attributes: dict[str, str] = {
            "DelaySeconds": "0",
            "MaximumMessageSize": str(limits.SQS_MESSAGE_SIZE_DEFAULT),
            "MessageRetentionPeriod": str(limits.SQS_RETENTION_DEFAULT_S),
            "ReceiveMessageWaitTimeSeconds": "0",
            "VisibilityTimeout": str(limits.SQS_VISIBILITY_DEFAULT_S),
            "SqsManagedSseEnabled": "true",
        }
        if self.fifo:
            self.attributes.update(FifoQueue="true", ContentBasedDeduplication="false",
                                   DeduplicationScope="queue", FifoThroughputLimit="perQueue")
        self.redrive: RedrivePolicy | None = None
        self.redrive_allow: tuple[str, tuple] = ("allowAll", ())
        self.last_purge = None
        self._apply(attributes)

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        self._n_visible = 0
        self._n_inflight = 0
        self._n_delayed = 0
        self._visible: deque = deque()
        self._delayed: list = []
        self._dseq = itertools.count()
        self._handles: dict[str, Message] = {}
        self._wheel: dict[int, deque] = {}
        self._wheel_items = 0
        self._log: deque = deque()
        self._log_limit = 4096
        self._log_heap: list = []
        self._next_event = -math.inf
        self._last_sent = 0.0
        self._hprefix = "AQEB" + _random_token(30)
        self._hlen = len(self._hprefix)
        self._token = 0
        self._id_prefix = _id_prefix()
        self._ids = itertools.count(_ID_START)

    # --- attributes -----------------------------------------------------------------------
    def _apply(self, attrs: dict) -> None:
        """Apply validated, normalised attributes."""
        a = self.attributes
        for name, value in attrs.items():
            if name in ("Policy", "RedrivePolicy", "RedriveAllowPolicy") and value == "":
                a.pop(name, None)
            elif name == "KmsMasterKeyId" and value == "":
                a.pop(name, None)
                a.pop("KmsDataKeyReusePeriodSeconds", None)
            elif name == "FifoQueue":
                continue  # fixed at creation
            else:
                a[name] = value
        if "KmsMasterKeyId" in a:
            if attrs.get("SqsManagedSseEnabled") == "true":
                raise InvalidAttributeName("You can use one type of server-side encryption (SSE) at one time. "
                                           "You can either enable KMS SSE or SQS SSE.")
            a["SqsManagedSseEnabled"] = "false"
            a.setdefault("KmsDataKeyReusePeriodSeconds", str(limits.SQS_KMS_REUSE_DEFAULT_S))
        if self.fifo and a.get("FifoThroughputLimit") == "perMessageGroupId" and a.get(
                "DeduplicationScope") != "messageGroup":
            raise InvalidAttributeValue("Invalid value for the parameter FifoThroughputLimit. Reason: The "
                                        "perMessageGroupId value is allowed only when the value for "
                                        "DeduplicationScope is messageGroup.")
        self.delay = int(a["DelaySeconds"])
        # FIFO delay is queue-wide and retroactive: the delayed heap is keyed by send time and
        # a message is due at sent + DelaySeconds. Standard heaps are keyed by due time.
        self._shift = self.delay if self.fifo else 0
        self.max_size = int(a["MaximumMessageSize"])
        self.retention = int(a["MessageRetentionPeriod"])
        self.wait_time = int(a["ReceiveMessageWaitTimeSeconds"])
        self.visibility = int(a["VisibilityTimeout"])
        self.content_dedup = a.get("ContentBasedDeduplication") == "true"
        self.group_dedup = a.get("DeduplicationScope") == "messageGroup"
        raw = a.get("RedrivePolicy")
        self.redrive = parse_redrive_policy(raw) if raw else None
        raw = a.get("RedriveAllowPolicy")
        self.redrive_allow = parse_redrive_allow_policy(raw) if raw else ("allowAll", ())

    def set_attributes(self, attrs: dict) -> None:
        """SetQueueAttributes with attributes already normalised and cross-checked."""
        with self._lock:
            saved = dict(self.attributes)
            try:
                self._apply(attrs)
            except ClientError:
                self.attributes = saved
                self._apply({})
                raise
            self.modified = int(self.clock.now())
            self._next_event = -math.inf
            if self._waiters:
                self._cond.notify_all()

    def get_attributes(self, names) -> dict[str, str]:
        """GetQueueAttributes: canonical string values of the requested names ('All' for all)."""
        for name in names:
            if name not in ALL_ATTRIBUTES:
                raise InvalidAttributeName(f"Unknown Attribute {name}.")
        visible, inflight, delayed = self._counts()
        with self._lock:
            full = dict(self.attributes)
            full["ApproximateNumberOfMessages"] = str(visible)
            full["ApproximateNumberOfMessagesNotVisible"] = str(inflight)
            full["ApproximateNumberOfMessagesDelayed"] = str(delayed)
            full["CreatedTimestamp"] = str(self.created)
            full["LastModifiedTimestamp"] = str(self.modified)
            full["QueueArn"] = self.arn
        if "All" in names:
            return dict(sorted(full.items()))
        return {name: full[name] for name in names if name in full}

    def _counts(self) -> tuple[int, int, int]:
        """(visible, in flight, delayed) after running due transitions."""
        with self._lock:
            self._tick(self.clock.now())
            return self._n_visible, self._n_inflight, self._n_delayed

    @property
    def approximate_number_of_messages(self) -> int:
        return self._counts()[0]

    @property
    def approximate_number_of_messages_not_visible(self) -> int:
        return self._counts()[1]

    @property
    def approximate_number_of_messages_delayed(self) -> int:
        return self._counts()[2]

    # --- sending ----------------------------------------------------------------------------
    def prepare(self, body: str, delay=None, attrs=None, trace=None, group=None, dedup=None,
                *, batch: bool = False) -> Message:
        """Validate one message and build it (not yet enqueued). Raises the AWS error."""
        if body.__class__ is not str:
            raise InvalidParameterValue("Invalid value for the parameter MessageBody. Reason: must be a string.")
        if not body:
            raise MissingParameter("The request must contain the parameter MessageBody.")
        raw = body_bytes(body)
        size = len(raw)
        x = None
        if attrs or trace is not None or group is not None or dedup is not None:
            x = self._extra(attrs, trace, group, dedup, batch)
            if attrs:
                size += validate_message_attributes(attrs)
        if size > self.max_size:
            raise InvalidParameterValue(f"One or more parameters are invalid. Reason: Message must be shorter "
                                        f"than {self.max_size} bytes.")
        if delay is not None:
            self._check_delay(delay)
        m = Message(self._id_prefix + str(next(self._ids)), body, _md5(raw).hexdigest(), 0.0, x)
        if delay is not None:
            m.due = delay  # carried to enqueue (standard queues); replaced there
        else:
            m.due = -1.0
        return m

    def _check_delay(self, delay: int) -> None:
        whole_number("DelaySeconds", delay, limits.SQS_DELAY_MIN_S, limits.SQS_DELAY_MAX_S,
                     f"DelaySeconds must be >= {limits.SQS_DELAY_MIN_S} and <= {limits.SQS_DELAY_MAX_S}.")

    def _extra(self, attrs, trace, group, dedup, batch) -> MessageExtra:
        if dedup is not None:
            raise invalid_value("MessageDeduplicationId", dedup,
                                "The request includes a parameter that is not valid for this queue type.")
        if group is not None:
            validate_fifo_id(group, "MessageGroupId")  # fair queues: a tenant id on a standard queue
        if trace is not None:
            validate_trace_header({"AWSTraceHeader": AttributeValue("String", trace)})
        x = MessageExtra(attrs=attrs or None, trace=trace, group=group)
        if attrs:
            x.attrs_md5 = None  # computed after validation, in _finish_extra
        return x

    def send(self, body: str, delay=None, attrs=None, trace=None, group=None, dedup=None) -> Message:
        """SendMessage. Returns the stored message (or, for a FIFO duplicate, the original's ids)."""
        m = self.prepare(body, delay, attrs, trace, group, dedup)
        self._finish_extra(m)
        return self.enqueue([m])[0]

    def send_batch(self, entries) -> list:
        """SendMessageBatch body: entries are (body, delay, attrs, trace, group, dedup) tuples.
        Returns, per entry, the Message or the ClientError that refused it. Valid entries are all
        enqueued, in order, under one lock acquisition."""
        prepared = []
        out = []
        prepare = self.prepare
        for entry in entries:
            try:
                m = prepare(*entry, batch=True)
                if m.x is not None:
                    self._finish_extra(m)
                prepared.append(m)
                out.append(m)
            except ClientError as err:
                out.append(err)
        if prepared:
            stored = iter(self.enqueue(prepared))
            out = [item if isinstance(item, ClientError) else next(stored) for item in out]
        return out

    def send_bodies(self, bodies) -> list:
        """Native bulk send: plain bodies with the queue's defaults (the SendMessageBatch hot
        path). Returns per body the stored Message or the ClientError that refused it."""
        out = []
        append = out.append
        md5 = _md5
        pref = self._id_prefix
        allowed = _ASCII_ALLOWED
        failed = 0
        with self._lock:
            now = self._send_time()
            maxsize = self.max_size
            for body, n in zip(bodies, map(str, self._reserve_ids(len(bodies)))):
                if body.isascii() and body:
                    raw = body.encode()
                    if len(raw) > maxsize or raw.translate(None, allowed):
                        raw = None
                else:
                    raw = None
                if raw is None:  # the exact error, through the general path
                    try:
                        self.prepare(body)
                    except ClientError as err:
                        append(err)
                        failed += 1
                        continue
                    raw = body.encode("utf-8")
                append(Message(pref + n, body, md5(raw).hexdigest(), now))
            stored = [m for m in out if m.__class__ is Message] if failed else out
            delay = self.delay
            if delay:
                due = now + delay
                for m in stored:
                    m.state = DELAYED
                    m.due = due
                    heapq.heappush(self._delayed, (due, next(self._dseq), m))
                self._n_delayed += len(stored)
                if due < self._next_event:
                    self._next_event = due
            elif stored:
                self._visible.extend(stored)
                self._n_visible += len(stored)
                if self._waiters:
                    self._cond.notify_all()
            self._log.extend(stored)
            if now + self.retention < self._next_event:
                self._next_event = now + self.retention
            if len(self._log) > self._log_limit:
                self._compact_log()
        return out

    def _reserve_ids(self, n: int):
        """n unique message-id numbers (each next() on the counter is atomic)."""
        return itertools.islice(self._ids, n)

    @staticmethod
    def _finish_extra(m: Message) -> None:
        x = m.x
        if x is not None:
            if x.attrs:
                x.attrs_md5 = attributes_md5(x.attrs)
            if x.trace is not None:
                x.trace_md5 = attributes_md5({"AWSTraceHeader": ("String", x.trace, None)})

    def enqueue(self, messages: list) -> list:
        """Store prepared messages; returns what each send reports (see PyFifoQueue)."""
        with self._lock:
            now = self._send_time()
            log = self._log.append
            visible = self._visible.append
            qdelay = self.delay
            nv = 0
            for m in messages:
                m.sent = now
                delay = m.due
                if delay < 0:
                    delay = qdelay
                if delay:
                    m.state = DELAYED
                    m.due = due = now + delay
                    heapq.heappush(self._delayed, (due, next(self._dseq), m))
                    self._n_delayed += 1
                    if due < self._next_event:
                        self._next_event = due
                else:
                    m.due = 0.0
                    visible(m)
                    nv += 1
                log(m)
            if now + self.retention < self._next_event:
                self._next_event = now + self.retention
            if len(self._log) > self._log_limit:
                self._compact_log()
            self._n_visible += nv
            if nv and self._waiters:
                self._cond.notify_all()
        return messages

    # --- timed transitions --------------------------------------------------------------------
    def _send_time(self) -> float:
        """With the lock held: refuse a deleted queue, and give the send a time that never steps
        back (a clock that steps back must not reorder the log), after running what is due."""
        if self.deleted:
            raise QueueDoesNotExist()
        now = self.clock.now()
        if now < self._last_sent:
            now = self._last_sent
        self._last_sent = now
        self._tick(now)
        return now

    def _tick(self, now: float) -> None:
        """Run the timed transitions that are due. `_next_event` is never later than the
        earliest pending one, so most operations pay a single comparison."""
        if now >= self._next_event:
            self._run_timers(now)

    def _run_timers(self, now: float) -> None:
        d = self._delayed
        if d and d[0][0] + self._shift <= now:
            self._promote_delayed(now)
        if self._wheel:
            for dq in self._wheel.values():
                if dq and dq[0][0] <= now:
                    self._expire_inflight(now)
                    break
        log = self._log
        if log:
            cutoff = now - self.retention
            while log:
                m = log[0]
                if m.state == DEAD:
                    log.popleft()
                elif m.sent <= cutoff:
                    log.popleft()
                    self._kill(m)
                else:
                    break
        if self._log_heap:
            self._expire_log_heap(now)
        # the next due transition
        ev = math.inf
        if d:
            ev = d[0][0] + self._shift
        for dq in self._wheel.values():
            if dq and dq[0][0] < ev:
                ev = dq[0][0]
        if log and log[0].sent + self.retention < ev:
            ev = log[0].sent + self.retention
        if self._log_heap and self._log_heap[0][0] + self.retention < ev:
            ev = self._log_heap[0][0] + self.retention
        self._next_event = ev

    def _compact_log(self) -> None:
        """Drop dead entries from the retention log (they accumulate behind a long-lived head).
        Triggered by size, so the cost is amortised O(1) per message."""
        log = self._log
        while log and log[0].state == DEAD:
            log.popleft()
        live = self._n_visible + self._n_inflight + self._n_delayed
        if len(log) > 2 * live + 64:
            self._log = log = deque(m for m in log if m.state != DEAD)
        self._log_limit = max(4096, 2 * len(log))

    def _expire_log_heap(self, now: float) -> None:
        cutoff = now - self.retention
        h = self._log_heap
        while h and (h[0][2].state == DEAD or h[0][0] <= cutoff):
            _, _, m = heapq.heappop(h)
            if m.state != DEAD:
                self._kill(m)

    def _promote_delayed(self, now: float) -> None:
        d = self._delayed
        woke = 0
        while d and d[0][0] <= now:
            due, _, m = heapq.heappop(d)
            if m.state == DELAYED and m.due == due:
                m.state = VISIBLE
                m.due = 0.0
                self._n_delayed -= 1
                self._n_visible += 1
                self._visible.append(m)
                woke += 1
        if woke and self._waiters:
            self._cond.notify_all()

    def _expire_inflight(self, now: float) -> None:
        handles = self._handles
        woke = 0
        for timeout, dq in list(self._wheel.items()):
            while dq and dq[0][0] <= now:
                due, hs = dq.popleft()
                self._wheel_items -= len(hs)
                for h in hs:
                    m = handles.get(h)
                    if m is not None and m.state == INFLIGHT and m.due == due and m.handle is h:
                        self._return(m)
                        woke += 1
            if not dq:
                del self._wheel[timeout]
        if woke and self._waiters:
            self._cond.notify_all()

    def _wheel_add(self, timeout: int, due: float, hs: tuple) -> None:
        dq = self._wheel.get(timeout)
        if dq is None:
            dq = self._wheel[timeout] = deque()
        dq.append((due, hs))
        if due < self._next_event:
            self._next_event = due
        self._wheel_items += len(hs)
        if self._wheel_items > 4096 and self._wheel_items > 2 * self._n_inflight:
            self._compact_wheel()

    def _compact_wheel(self) -> None:
        handles = self._handles
        total = 0
        for timeout, dq in list(self._wheel.items()):
            kept = deque()
            for due, hs in dq:
                live = tuple(h for h in hs if (m := handles.get(h)) is not None and m.state == INFLIGHT
                             and m.due == due)
                if live:
                    kept.append((due, live))
                    total += len(live)
            if kept:
                self._wheel[timeout] = kept
            else:
                del self._wheel[timeout]
        self._wheel_items = total

    def _next_due(self) -> float | None:
        """Earliest time a timed transition could make a message receivable."""
        best = None
        if self._delayed:
            best = self._delayed[0][0] + self._shift
        for dq in self._wheel.values():
            if dq and (best is None or dq[0][0] < best):
                best = dq[0][0]
        return best

    # --- state changes (lock held) --------------------------------------------------------------
    def _return(self, m: Message) -> None:
        """An in-flight message becomes visible again (visibility expired or set to 0)."""
        m.state = VISIBLE
        m.due = 0.0
        self._n_inflight -= 1
        self._n_visible += 1
        self._visible.appendleft(m)  # best-effort order: retries come back first

    def _kill(self, m: Message) -> None:
        """Remove a message for good (deleted, expired, purged or moved to a DLQ)."""
        state = m.state
        if state == VISIBLE:
            self._n_visible -= 1
        elif state == INFLIGHT:
            self._n_inflight -= 1
        elif state == DELAYED:
            self._n_delayed -= 1
        else:
            return
        m.state = DEAD
        if m.handle is not None:
            self._handles.pop(m.handle, None)

    # --- receiving ----------------------------------------------------------------------------
    def receive(self, max_messages: int = 1, visibility_timeout: int | None = None,
                wait_time: int | None = None, attempt_id: str | None = None) -> list[Delivery]:
        """ReceiveMessage: up to max_messages deliveries. wait_time None uses the queue's
        ReceiveMessageWaitTimeSeconds; a long poll returns as soon as one message is available."""
        vt = self.visibility if visibility_timeout is None else visibility_timeout
        wait = self.wait_time if wait_time is None else wait_time
        moved: list = []
        with self._lock:  # (the condition's own lock: cheaper to enter than the Condition)
            now = self.clock.now()
            if now >= self._next_event:
                self._run_timers(now)
            out = self._take(max_messages, vt, now, wait, attempt_id, moved)
            if not out and wait > 0 and not moved:
                deadline = now + wait
                clock = self.clock
                while not out and not moved and not self.deleted:
                    if now >= deadline:
                        break
                    nd = self._next_due()
                    self._waiters += 1
                    try:
                        clock.wait(self._cond, deadline if nd is None or nd > deadline else nd)
                    finally:
                        self._waiters -= 1
                    now = clock.now()
                    self._tick(now)
                    out = self._take(max_messages, vt, now, wait, attempt_id, moved)
        if moved:
            self._deliver_dead_letters(moved)
            if not out and wait > 0:
                return self.receive(max_messages, visibility_timeout,
                                    max(0, int(wait - (self.clock.now() - now))), attempt_id)
        return out

    def _take(self, n, vt, now, wait, attempt_id, moved) -> list:
        room = limits.SQS_INFLIGHT_STANDARD_MAX - self._n_inflight
        if room <= 0:
            if not wait:
                raise OverLimit(f"The maximum number of in flight messages ({limits.SQS_INFLIGHT_STANDARD_MAX}) "
                                "has been reached.")
            return []
        if room < n:
            n = room
        vis = self._visible
        if not vis:
            return []
        handles = self._handles
        prefix = self._hprefix
        tok = self._token
        due = now + vt
        redrive = self.redrive
        maxrc = redrive.max_receive_count if redrive is not None else 1 << 60
        out = []
        hs = []
        again = None
        popleft = vis.popleft
        append = out.append
        k = 0
        while vis and k < n:
            m = popleft()
            if m.state:  # not VISIBLE (dead entries are dropped here)
                continue
            rc = m.rc + 1
            if rc > maxrc and self._dlq_accepts(m):
                self._kill(m)
                moved.append(m)
                continue
            m.rc = rc
            if not m.first:
                m.first = now
            old = m.handle
            if old is not None:
                del handles[old]
            tok += 1
            h = prefix + str(tok)
            m.handle = h
            handles[h] = m
            m.rt = now
            append((m, h, rc, m.first))
            k += 1
            if vt:
                m.state = INFLIGHT
                m.due = due
                hs.append(h)
            elif again is None:
                again = [m]
            else:
                again.append(m)
        self._token = tok
        if again:
            vis.extend(again)  # visibility 0: received, yet visible at once
        k = len(hs)
        if k:
            self._n_visible -= k
            self._n_inflight += k
            self._wheel_add(vt, due, tuple(hs))
        return out

    # --- dead-letter queues ---------------------------------------------------------------------
    def _dlq_accepts(self, m: Message) -> bool:
        """Whether this queue's redrive target exists and accepts messages from it."""
        dlq = self.backend.queue_by_arn(self.redrive.dead_letter_target_arn)
        return dlq is not None and dlq is not self and dlq.fifo == self.fifo and dlq.allows_source(self.arn)

    def allows_source(self, source_arn: str) -> bool:
        permission, sources = self.redrive_allow
        return permission == "allowAll" or (permission == "byQueue" and source_arn in sources)

    def _deliver_dead_letters(self, moved: list) -> None:
        dlq = self.backend.queue_by_arn(self.redrive.dead_letter_target_arn) if self.redrive else None
        if dlq is None or dlq.deleted:  # gone in the meantime: the messages stay here, unchanged
            self.accept_dead_letters(moved, None)
        else:
            dlq.accept_dead_letters(moved, self.arn)

    def accept_dead_letters(self, messages: list, source_arn: str | None) -> None:
        """Messages moved here from `source_arn` after maxReceiveCount receives (None: put back
        into their own queue unchanged). A standard queue keeps their enqueue time (retention
        counts from the original send)."""
        copies = []
        for old in messages:
            ox = old.x
            if source_arn is None:
                x = ox
            elif ox is not None:
                x = MessageExtra(attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace, trace_md5=ox.trace_md5,
                                 group=ox.group, dlq_source=source_arn)
            else:
                x = MessageExtra(dlq_source=source_arn)
            m = Message(old.id, old.body, old.md5, old.sent, x)
            m.rc = old.rc
            m.first = old.first
            copies.append(m)
        with self._lock:
            if self.deleted:
                return
            for m in copies:
                m.state = VISIBLE
                self._visible.append(m)
                self._n_visible += 1
                if self._log and m.sent < self._log[-1].sent:
                    heapq.heappush(self._log_heap, (m.sent, next(self._dseq), m))
                else:
                    self._log.append(m)
            h = self._log_heap
            if len(h) > 4096 and len(h) > 2 * (self._n_visible + self._n_inflight + self._n_delayed):
                self._log_heap = [e for e in h if e[2].state != DEAD]
                heapq.heapify(self._log_heap)
            self._next_event = -math.inf
            self._tick(self.clock.now())
            if self._waiters:
                self._cond.notify_all()

    # --- deleting and visibility ------------------------------------------------------------------
    def _stale_handle(self, handle: str) -> bool:
        """A receipt handle this queue issued that is no longer current (superseded, deleted,
        expired). Anything else is not a receipt handle of this queue."""
        if isinstance(handle, str) and handle.startswith(self._hprefix):
            tail = handle[self._hlen:]
            return tail.isdigit() and tail[0] != "0" and int(tail) <= self._token
        return False

    def _invalid_handle(self, handle) -> ClientError:
        return ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.')

    def delete(self, handle: str) -> None:
        err = self.delete_batch([handle])[0]
        if err is not None:
            raise err

    def delete_batch(self, handles) -> list:
        """DeleteMessage(Batch): per handle None (deleted) or the ClientError."""
        out = []
        append = out.append
        with self._lock:
            now = self.clock.now()
            if now >= self._next_event:
                self._run_timers(now)
            pop = self._handles.pop
            for h in handles:
                m = pop(h, None)
                if m is not None:
                    # latest handle: deleted, even after its visibility ran out
                    st = m.state
                    if st == INFLIGHT:
                        self._n_inflight -= 1
                    elif st == VISIBLE:
                        self._n_visible -= 1
                    elif st == DELAYED:  # pragma: no cover - a delayed message has no handle
                        self._n_delayed -= 1
                    m.state = DEAD
                    append(None)
                elif self._stale_handle(h):
                    append(self._stale_delete(h))
                else:
                    append(self._invalid_handle(h))
        return out

    def _delete_batch_generic(self, handles) -> list:
        out = []
        with self._lock:
            self._tick(self.clock.now())
            get = self._handles.get
            for h in handles:
                m = get(h)
                if m is not None:
                    err = self._delete_found(m, h)
                    out.append(err)
                elif self._stale_handle(h):
                    out.append(self._stale_delete(h))
                else:
                    out.append(self._invalid_handle(h))
        return out

    def _delete_found(self, m: Message, h: str):
        # Standard queues delete with the latest handle even after visibility ran out.
        self._kill(m)
        return None

    def _stale_delete(self, h: str):
        return None  # "the request succeeds, but the message might not be deleted"

    def change_visibility(self, handle: str, timeout: int) -> None:
        err = self.change_visibility_batch([(handle, timeout)])[0]
        if err is not None:
            raise err

    def change_visibility_batch(self, entries) -> list:
        """ChangeMessageVisibility(Batch): entries are (handle, timeout); per entry None or error."""
        out = []
        with self._lock:
            now = self.clock.now()
            self._tick(now)
            for h, timeout in entries:
                out.append(self._change_one(h, timeout, now))
            if self._waiters:
                self._cond.notify_all()
        return out

    def _change_one(self, h, timeout, now):
        if not limits.SQS_VISIBILITY_MIN_S <= timeout <= limits.SQS_VISIBILITY_MAX_S:
            return invalid_value("VisibilityTimeout", timeout,
                                 f"Must be >= {limits.SQS_VISIBILITY_MIN_S} and <= {limits.SQS_VISIBILITY_MAX_S}, "
                                 "if provided.")
        m = self._handles.get(h)
        if m is None:
            if self._stale_handle(h):
                return invalid_value("ReceiptHandle", h, "Message does not exist or is not available for "
                                                         "visibility timeout change.")
            return self._invalid_handle(h)
        if m.state != INFLIGHT:
            return self._not_in_flight(h)
        if now + timeout - m.rt > limits.SQS_VISIBILITY_MAX_S:
            return invalid_value("VisibilityTimeout", timeout, "Total VisibilityTimeout for the message is beyond "
                                                               f"the limit [{limits.SQS_VISIBILITY_MAX_S} seconds]")
        if timeout == 0:
            self._return(m)
        else:
            m.due = due = now + timeout
            self._wheel_add(timeout, due, (h,))
        return None

    def _not_in_flight(self, h):
        return None  # standard queues accept the change silently

    # --- housekeeping -----------------------------------------------------------------------------
    def purge(self) -> None:
        with self._lock:
            now = self.clock.now()
            if self.last_purge is not None and now - self.last_purge < limits.SQS_PURGE_INTERVAL_S:
                raise PurgeQueueInProgress(f"Only one PurgeQueue operation on {self.name} is allowed every "
                                           f"{limits.SQS_PURGE_INTERVAL_S} seconds.")
            self.last_purge = now
            self._clear()

    def _clear(self) -> None:
        for m in self._log:
            m.state = DEAD
        for _, _, m in self._log_heap:
            m.state = DEAD
        self._visible.clear()
        self._delayed.clear()
        self._handles.clear()
        self._wheel.clear()
        self._wheel_items = 0
        self._log.clear()
        self._log_heap.clear()
        self._n_visible = self._n_inflight = self._n_delayed = 0
        self._next_event = math.inf

    def close(self) -> None:
        """The queue was deleted (or the engine closed): wake every poller."""
        with self._lock:
            self.deleted = True
            self._clear()
            self._cond.notify_all()

    # --- message move tasks -----------------------------------------------------------------------
    def take_for_move(self, n: int) -> list[Message]:
        """Remove up to n visible messages, oldest first (the source side of a move task)."""
        out = []
        with self._lock:
            self._tick(self.clock.now())
            vis = self._visible
            while vis and len(out) < n:
                m = vis.popleft()
                if m.state == VISIBLE:
                    self._kill(m)
                    out.append(m)
        return out

    def accept_redriven(self, messages: list) -> None:
        """Messages moved here by a move task: new messages (new MessageId, new enqueue time)
        with the same body and attributes."""
        fresh = []
        for old in messages:
            ox = old.x
            x = None
            if ox is not None and (ox.attrs or ox.trace is not None or ox.group is not None):
                x = MessageExtra(attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace, trace_md5=ox.trace_md5,
                                 group=ox.group)
            m = Message(self._id_prefix + str(next(self._ids)), old.body, old.md5, 0.0, x)
            m.due = -1.0
            fresh.append(m)
        self.enqueue(fresh)


class Queue(PyQueue):
    """A standard queue over the native core (engine._core.MessageQueue): message structs,
    body arena, visibility/delay/retention heap and receipt handles live in C; this class
    keeps the AWS rules (limits, error codes, dead-letter redrive, long polling).

    Messages that carry more than a body (attributes, trace header, tenant group id, dead-letter
    source, a foreign message id) keep those in a MessageExtra the core holds by tag."""

    def __init__(self, backend: "SQSBackend", name: str, attributes: dict, tags: dict | None):
        super().__init__(backend, name, attributes, tags)
        self._q = _core.MessageQueue(self.retention * 1000, self._id_prefix, self._hprefix, _ID_START)
        self._ret_ms = self.retention * 1000

    def _apply(self, attrs: dict) -> None:
        super()._apply(attrs)
        q = getattr(self, "_q", None)
        if q is not None and self.retention * 1000 != self._ret_ms:
            self._ret_ms = self.retention * 1000
            q.set_retention(_ms(self.clock.now()), self._ret_ms)

    def _now_ms(self) -> int:
        return _ms(self.clock.now())

    def _counts(self) -> tuple[int, int, int]:
        v, i, d, _ = self._q.counts(self._now_ms())
        return v, i, d

    def _next_due(self) -> float | None:
        due = self._q.counts(self._now_ms())[3]
        return None if due is None else due / 1000.0

    def _wake(self) -> None:
        if self._waiters:
            with self._cond:
                self._cond.notify_all()

    # --- sending ---------------------------------------------------------------------------------
    def send_raw(self, bodies) -> tuple:
        """The native bulk send: plain bodies with the queue's defaults. Returns (status, ids,
        md5s) as engine._core.MessageQueue.send does: status None when all were stored."""
        if self.deleted:
            raise QueueDoesNotExist()
        delay = self.delay
        try:
            out = self._q.send(int(self.clock.now() * 1000), bodies, delay * 1000, self.max_size)
        except _core.CoreValueError as err:  # a body that is neither str nor bytes
            raise _not_a_body(err) from None
        if self._waiters and not delay:
            self._wake()
        return out

    def send_error(self, body, code: int) -> ClientError:
        """The exact error for a body the core refused (code: a _core.SEND_* status)."""
        try:
            self.prepare(body)
        except ClientError as err:
            return err
        if code == _core.SEND_EMPTY:  # pragma: no cover - prepare refuses these first
            return MissingParameter("The request must contain the parameter MessageBody.")
        if code == _core.SEND_TOO_LONG:  # pragma: no cover
            return InvalidParameterValue(f"One or more parameters are invalid. Reason: Message must be shorter "
                                         f"than {self.max_size} bytes.")
        return InvalidMessageContents(MESSAGE_CONTENT_ERROR)  # pragma: no cover

    def send_bodies(self, bodies) -> list:
        """Native bulk send; per body the stored Message or the ClientError that refused it."""
        bodies = list(bodies)
        status, ids, md5s = self.send_raw(bodies)
        now = self.clock.now()
        if status is None:
            return [Message(i, b, h, now) for i, b, h in zip(ids, bodies, md5s)]
        return [Message(i, b, h, now) if code == 0 else self.send_error(b, code)
                for i, b, h, code in zip(ids, bodies, md5s, status)]

    def enqueue(self, messages: list) -> list:
        """Store prepared messages (Message.due carries a per-message delay, -1: the queue's)."""
        if self.deleted:
            raise QueueDoesNotExist()
        qdelay = self.delay
        delays = [(qdelay if m.due < 0 else m.due) * 1000 for m in messages]
        status, ids, _ = self._q.send(self._now_ms(), [m.body for m in messages], 0, -1, delays,
                                      [m.x for m in messages])
        if status is not None:  # pragma: no cover - prepare() checked every body
            raise InvalidMessageContents(MESSAGE_CONTENT_ERROR)
        now = self.clock.now()
        for m, mid, delay in zip(messages, ids, delays):
            m.id = mid
            m.sent = now
            m.state = DELAYED if delay else VISIBLE
        if self._waiters:
            self._wake()
        return messages

    # --- receiving -------------------------------------------------------------------------------------
    def _max_rc(self) -> int:
        redrive = self.redrive
        if redrive is not None and self._dlq_accepts(None):
            return redrive.max_receive_count
        return _NO_LIMIT

    def _take_raw(self, n: int, vt: int, wait: int):
        over, got, moved = self._q.receive(self._now_ms(), n, vt * 1000, self._max_rc(),
                                           limits.SQS_INFLIGHT_STANDARD_MAX)
        if over and not wait:
            raise OverLimit(f"The maximum number of in flight messages ({limits.SQS_INFLIGHT_STANDARD_MAX}) "
                            "has been reached.")
        return got, moved

    def receive_raw(self, max_messages: int = 1, visibility_timeout: int | None = None,
                    wait_time: int | None = None):
        """ReceiveMessage in columns: (ids, handles, md5s, bodies, receive_counts,
        first_receive_ms, sent_ms, extras). wait_time None uses the queue's
        ReceiveMessageWaitTimeSeconds; a long poll returns as soon as a message is available."""
        max_messages = message_count(max_messages)
        vt = self.visibility if visibility_timeout is None else visibility_seconds(visibility_timeout)
        wait = self.wait_time if wait_time is None else wait_seconds(wait_time)
        if self.deleted:
            return [], [], [], [], [], [], [], []
        clock = self.clock
        start = clock.now()
        if self.redrive is None:  # the common case, inline
            over, got, moved = self._q.receive(int(start * 1000), max_messages, vt * 1000, _NO_LIMIT,
                                               limits.SQS_INFLIGHT_STANDARD_MAX)
            if got[0] and moved is None:
                extras = got[7]
                if extras.count(None) != len(extras):
                    self._own_ids(got)
                return got
            if over and not wait:
                raise OverLimit(f"The maximum number of in flight messages "
                                f"({limits.SQS_INFLIGHT_STANDARD_MAX}) has been reached.")
        else:
            got, moved = self._take_raw(max_messages, vt, wait)
        if not got[0] and wait > 0 and moved is None:
            deadline = start + wait
            with self._cond:
                while True:
                    self._waiters += 1  # before the check: a send after it sees a waiter
                    try:
                        got, moved = self._take_raw(max_messages, vt, wait)
                        if got[0] or moved is not None or self.deleted:
                            break
                        now = clock.now()
                        if now >= deadline:
                            break
                        nd = self._next_due()
                        clock.wait(self._cond, deadline if nd is None or nd > deadline else nd)
                    finally:
                        self._waiters -= 1
        if moved is not None:
            self._deliver_dead_letters(self._views(moved, None))
            if not got[0] and wait > 0:
                left = max(0, int(wait - (clock.now() - start)))
                return self.receive_raw(max_messages, visibility_timeout, left)
        extras = got[7]
        if extras.count(None) != len(extras):
            self._own_ids(got)
        return got

    @staticmethod
    def _own_ids(cols) -> None:
        """Messages that kept their MessageId from another queue report it."""
        ids = cols[0]
        for k, x in enumerate(cols[7]):
            if x is not None and x.mid is not None:
                ids[k] = x.mid

    def receive(self, max_messages: int = 1, visibility_timeout: int | None = None,
                wait_time: int | None = None, attempt_id: str | None = None) -> list:
        """ReceiveMessage: (Message, receipt handle, receive count, first receive) tuples."""
        vt = self.visibility if visibility_timeout is None else visibility_seconds(visibility_timeout)
        ids, handles, md5s, bodies, rcs, firsts, sents, extras = self.receive_raw(max_messages, vt, wait_time)
        state = INFLIGHT if vt else VISIBLE
        out = []
        for mid, h, md5, body, rc, first, sent, x in zip(ids, handles, md5s, bodies, rcs, firsts, sents, extras):
            m = Message(mid, body, md5, sent / 1000.0, x)
            m.rc = rc
            m.first = first / 1000.0
            m.state = state
            m.handle = h
            out.append((m, h, rc, m.first))
        return out

    @staticmethod
    def _views(cols, state) -> list:
        """Message objects for messages that left the core (moved or taken)."""
        out = []
        for mid, md5, body, rc, first, sent, x in zip(cols[0], cols[2], cols[3], cols[4], cols[5], cols[6],
                                                      cols[7]):
            if x is not None and x.mid is not None:
                mid = x.mid
            m = Message(mid, body, md5, sent / 1000.0, x)
            m.rc = rc
            m.first = first / 1000.0 if first >= 0 else 0.0
            m.state = DEAD
            out.append(m)
        return out

    def accept_dead_letters(self, messages: list, source_arn: str | None) -> None:
        """Messages moved here from `source_arn` after maxReceiveCount receives (None: put back
        into their own queue unchanged). Their ids, enqueue time, receive counts stay."""
        if self.deleted or not messages:
            return
        extras = []
        for old in messages:
            ox = old.x
            if source_arn is None:
                x = ox
                if x is None or x.mid is None:
                    x = MessageExtra(attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace,
                                     trace_md5=ox.trace_md5, group=ox.group, dlq_source=ox.dlq_source,
                                     mid=old.id) if ox is not None else MessageExtra(mid=old.id)
            elif ox is not None:
                x = MessageExtra(attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace, trace_md5=ox.trace_md5,
                                 group=ox.group, dlq_source=source_arn, mid=old.id)
            else:
                x = MessageExtra(dlq_source=source_arn, mid=old.id)
            extras.append(x)
        self._q.restore(self._now_ms(), [m.body for m in messages], [m.md5 for m in messages],
                        sent_ms=[_ms(m.sent) for m in messages], rcs=[m.rc for m in messages],
                        first_ms=[_ms(m.first) if m.first else -1 for m in messages], extras=extras)
        self._wake()

    # --- deleting and visibility ----------------------------------------------------------------------
    def delete_batch(self, handles) -> list:
        """DeleteMessage(Batch): per handle None (deleted) or the ClientError."""
        res = self._q.delete(int(self.clock.now() * 1000), handles)
        if res is None:
            return [None] * len(handles)
        return [None if r != _core.HANDLE_INVALID else self._invalid_handle(h) for h, r in zip(handles, res)]

    def change_visibility_batch(self, entries) -> list:
        """ChangeMessageVisibility(Batch): entries are (handle, timeout); per entry None or error."""
        out = [None] * len(entries)
        rows = []
        for k, (h, timeout) in enumerate(entries):
            try:
                visibility_seconds(timeout)
            except ClientError as err:
                out[k] = err
            else:
                rows.append(k)
        if rows:
            res = self._q.change_visibility(self._now_ms(), [entries[k][0] for k in rows],
                                            [entries[k][1] * 1000 for k in rows],
                                            limits.SQS_VISIBILITY_MAX_S * 1000)
            for k, r in zip(rows, res):
                h, timeout = entries[k]
                if r == _core.HANDLE_STALE:
                    out[k] = invalid_value("ReceiptHandle", h, "Message does not exist or is not available for "
                                                               "visibility timeout change.")
                elif r == _core.HANDLE_INVALID:
                    out[k] = self._invalid_handle(h)
                elif r == _core.HANDLE_NOT_INFLIGHT:
                    out[k] = self._not_in_flight(h)
                elif r == _core.HANDLE_TOO_LONG:
                    out[k] = invalid_value("VisibilityTimeout", timeout,
                                           "Total VisibilityTimeout for the message is beyond the limit "
                                           f"[{limits.SQS_VISIBILITY_MAX_S} seconds]")
            self._wake()
        return out

    # --- housekeeping ------------------------------------------------------------------------------------
    def purge(self) -> None:
        with self._lock:
            now = self.clock.now()
            if self.last_purge is not None and now - self.last_purge < limits.SQS_PURGE_INTERVAL_S:
                raise PurgeQueueInProgress(f"Only one PurgeQueue operation on {self.name} is allowed every "
                                           f"{limits.SQS_PURGE_INTERVAL_S} seconds.")
            self.last_purge = now
        self._q.clear()

    def close(self) -> None:
        with self._lock:
            self.deleted = True
            self._cond.notify_all()
        self._q.clear()

    def stats(self) -> dict:
        """The core's view: counts, slots, heap entries, bytes allocated and held."""
        return self._q.stats(self._now_ms())

    # --- message move tasks ----------------------------------------------------------------------------
    def take_for_move(self, n: int) -> list[Message]:
        """Remove up to n visible messages, oldest first (the source side of a move task)."""
        _, got, _ = self._q.receive(self._now_ms(), n, 0, remove=True)
        return self._views(got, DEAD)

    def accept_redriven(self, messages: list) -> None:
        """Messages moved here by a move task: new messages (new MessageId, new enqueue time)
        with the same body and attributes."""
        if self.deleted:
            raise QueueDoesNotExist()
        extras = []
        for old in messages:
            ox = old.x
            x = None
            if ox is not None and (ox.attrs or ox.trace is not None or ox.group is not None):
                x = MessageExtra(attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace, trace_md5=ox.trace_md5,
                                 group=ox.group)
            extras.append(x)
        self._q.restore(self._now_ms(), [m.body for m in messages], [m.md5 for m in messages], extras=extras)
        self._wake()


_NO_LIMIT = 1 << 62


def _not_a_body(err) -> ClientError:
    return InvalidParameterValue(f"Invalid value for the parameter MessageBody. Reason: {err}.")


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class _Group:
    """One FIFO message group."""
    __slots__ = ("id", "pending", "returned", "inflight", "live", "queued")

    def __init__(self, gid):
        self.id = gid
        self.pending: deque = deque()  # never delivered, in send order (VISIBLE/DELAYED/DEAD)
        self.returned: list = []       # heap of (seq, message) back from flight
        self.inflight = 0
        self.live = 0                  # messages not in flight and not dead
        self.queued = False


class PyFifoQueue(PyQueue):
    """A FIFO queue: per-group order, a group is held while any of its messages is in flight,
    deduplication within 5 minutes, sequence numbers, ReceiveRequestAttemptId retries."""

    fifo = True

    def __init__(self, backend, name, attributes, tags):
        super().__init__(backend, name, attributes, tags)
        self._groups: dict[str, _Group] = {}
        self._ready: deque = deque()
        self._dedup: dict = {}
        self._dedup_log: deque = deque()
        self._attempts: dict = {}
        self._attempt_log: deque = deque()

    # --- sending ----------------------------------------------------------------------------
    def _check_delay(self, delay: int) -> None:
        if delay:
            raise invalid_value("DelaySeconds", delay,
                                "The request include parameter that is not valid for this queue type.")

    def _extra(self, attrs, trace, group, dedup, batch) -> MessageExtra:
        if group is None:
            if batch:
                raise InvalidParameterValue("The request must contain the parameter MessageGroupId.")
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        validate_fifo_id(group, "MessageGroupId")
        if dedup is not None:
            validate_fifo_id(dedup, "MessageDeduplicationId")
        if trace is not None:
            validate_trace_header({"AWSTraceHeader": AttributeValue("String", trace)})
        return MessageExtra(attrs=attrs or None, trace=trace, group=group, dedup=dedup)

    def prepare(self, body, delay=None, attrs=None, trace=None, group=None, dedup=None, *, batch=False):
        if group is None:
            if batch:
                raise InvalidParameterValue("The request must contain the parameter MessageGroupId.")
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        if dedup is None and not self.content_dedup:
            raise InvalidParameterValue("The queue should either have ContentBasedDeduplication enabled or "
                                        "MessageDeduplicationId provided explicitly")
        m = super().prepare(body, delay, attrs, trace, group, dedup, batch=batch)
        if m.x.dedup is None:
            m.x.dedup = hashlib.sha256(m.body.encode("utf-8")).hexdigest()
        m.due = -1.0  # FIFO: only the queue's DelaySeconds applies
        return m

    def send_bodies(self, bodies) -> list[Message]:  # pragma: no cover - FIFO needs group ids
        raise MissingParameter("The request must contain the parameter MessageGroupId.")

    def send_fifo(self, bodies, groups, dedups) -> list:
        """Native bulk FIFO send (the SendMessageBatch hot path): parallel lists of bodies, group
        ids and deduplication ids. Returns per message the stored Message (for a duplicate, one
        carrying the original's ids) or the ClientError that refused it; a batch with anything
        unusual goes through the general path."""
        def general():
            return self.send_batch([(b, None, None, None, g, d) for b, g, d in zip(bodies, groups, dedups)])
        try:  # bodies checked and digested by the core, a batch at a time
            status, md5s = _core.digest_bodies(bodies, self.max_size)
        except _core.CoreValueError:
            return general()
        if status is not None:
            return general()
        pref = self._id_prefix
        prepared = []
        known = _known_groups
        for body, group, dedup, n, md5 in zip(bodies, groups, dedups,
                                              map(str, itertools.islice(self._ids, len(bodies))), md5s):
            if not ((group in known or fifo_id_ok(group)) and dedup.__class__ is str and 0 < len(dedup) <= 128
                    and dedup.isascii() and dedup.isprintable() and " " not in dedup):
                return general()
            if group not in known:
                if len(known) > 4096:
                    known.clear()
                known.add(group)
            prepared.append(Message(pref + n, body, md5, 0.0, FifoExtra(group, dedup)))
        return self.enqueue(prepared)

    def enqueue(self, messages: list) -> list:
        out = []
        with self._lock:
            now = self._send_time()
            dlog = self._dedup_log
            if dlog and dlog[0][0] <= now:
                self._expire_dedup(now)
            seqs = self.backend._seq
            dedup = self._dedup
            seen_get = dedup.get
            expiry = now + limits.SQS_DEDUP_WINDOW_S
            by_group = self.group_dedup
            groups = self._groups
            delay = self.delay
            keys = []
            stored = []
            nv = 0
            for m in messages:
                x = m.x
                key = (x.group, x.dedup) if by_group else x.dedup
                seen = seen_get(key)
                if seen is not None and seen[0] > now:
                    # accepted, not delivered: report the original message's ids
                    dup = Message(seen[1], m.body, m.md5, now, MessageExtra(
                        attrs=x.attrs, attrs_md5=x.attrs_md5, trace=x.trace, trace_md5=x.trace_md5,
                        group=x.group, dedup=x.dedup, seq=seen[2]))
                    dup.state = DEAD
                    out.append(dup)
                    continue
                x.seq = seq = next(seqs)
                dedup[key] = (expiry, m.id, seq)
                keys.append(key)
                m.sent = now
                g = groups.get(x.group)
                if g is None:
                    g = groups[x.group] = _Group(x.group)
                g.pending.append(m)
                g.live += 1
                if delay:
                    m.state = DELAYED
                    m.due = now + delay
                    self._n_delayed += 1
                    heapq.heappush(self._delayed, (now, next(self._dseq), m))
                    if now + self._shift < self._next_event:
                        self._next_event = now + self._shift
                else:
                    nv += 1  # (a new Message is VISIBLE)
                    if not g.queued and not g.inflight:
                        g.queued = True
                        self._ready.append(g)
                stored.append(m)
                out.append(m)
            if keys:
                dlog.append((expiry, keys))
            self._log.extend(stored)
            if nv:
                self._n_visible += nv
                if self._waiters:
                    self._cond.notify_all()
            if now + self.retention < self._next_event:
                self._next_event = now + self.retention
            if len(self._log) > self._log_limit:
                self._compact_log()
        return out

    def _make_ready(self, g: _Group) -> None:
        if not g.queued and g.inflight == 0:
            g.queued = True
            self._ready.append(g)
            if self._waiters:
                self._cond.notify_all()

    def _expire_dedup(self, now: float) -> None:
        log = self._dedup_log
        dedup = self._dedup
        while log and log[0][0] <= now:
            _, keys = log.popleft()
            for key in keys:
                seen = dedup.get(key)
                if seen is not None and seen[0] <= now:
                    del dedup[key]

    # --- timed transitions --------------------------------------------------------------------
    def _promote_delayed(self, now: float) -> None:
        # FIFO delay is the queue's DelaySeconds, applied retroactively: due = sent + delay.
        d = self._delayed
        cutoff = now - self.delay
        while d and d[0][0] <= cutoff:
            _, _, m = heapq.heappop(d)
            if m.state == DELAYED:
                m.state = VISIBLE
                m.due = 0.0
                self._n_delayed -= 1
                self._n_visible += 1
                g = self._groups.get(m.x.group)
                if g is not None and self._head(g) is m:
                    self._make_ready(g)

    def set_attributes(self, attrs: dict) -> None:
        super().set_attributes(attrs)
        with self._lock:
            self._tick(self.clock.now())

    # --- groups -----------------------------------------------------------------------------------
    @staticmethod
    def _head(g: _Group):
        r = g.returned
        while r and r[0][1].state == DEAD:
            heapq.heappop(r)
        if r:
            return r[0][1]
        p = g.pending
        while p and p[0].state == DEAD:
            p.popleft()
        if p and p[0].state == VISIBLE:
            return p[0]
        return None

    def _pop_head(self, g: _Group) -> None:
        if g.returned:
            heapq.heappop(g.returned)
        else:
            g.pending.popleft()

    def _return(self, m: Message) -> None:
        m.state = VISIBLE
        m.due = 0.0
        self._n_inflight -= 1
        self._n_visible += 1
        g = self._groups.get(m.x.group)
        if g is None:
            g = self._groups[m.x.group] = _Group(m.x.group)
        heapq.heappush(g.returned, (m.x.seq, m))
        g.live += 1
        g.inflight -= 1
        if g.inflight == 0:
            self._make_ready(g)

    def _kill(self, m: Message) -> None:
        state = m.state
        if state == DEAD:
            return
        g = self._groups.get(m.x.group)
        PyQueue._kill(self, m)
        if g is None:
            return
        if state == INFLIGHT:
            g.inflight -= 1
            if g.inflight == 0 and g.live:
                if self._head(g) is not None:
                    self._make_ready(g)
        else:
            g.live -= 1
        if g.inflight == 0 and g.live == 0 and not g.queued:
            del self._groups[g.id]

    def _clear(self) -> None:
        super()._clear()
        self._groups.clear()
        self._ready.clear()
        self._attempts.clear()
        self._attempt_log.clear()

    # --- receiving ------------------------------------------------------------------------------
    def _take(self, n, vt, now, wait, attempt_id, moved) -> list:
        if attempt_id is not None:
            again = self._retry_attempt(attempt_id, vt, now)
            if again is not None:
                return again
        room = limits.SQS_INFLIGHT_FIFO_MAX - self._n_inflight  # FIFO: no OverLimit error
        if room < n:
            n = room
        out = []
        if n <= 0:
            return out
        ready = self._ready
        handles = self._handles
        prefix = self._hprefix
        due = now + vt
        redrive = self.redrive
        maxrc = redrive.max_receive_count if redrive is not None else 1 << 60
        hs = []
        groups = self._groups
        while ready and len(out) < n:
            g = ready.popleft()
            g.queued = False
            if g.inflight or groups.get(g.id) is not g:
                continue
            pending = g.pending
            while len(out) < n:
                if g.returned:
                    m = self._head(g)
                    if m is None:
                        break
                    self._pop_head(g)
                else:
                    if not pending:
                        break
                    m = pending[0]
                    if m.state:  # not VISIBLE
                        if m.state == DEAD:
                            pending.popleft()
                            continue
                        break  # DELAYED: the rest of the group is later still
                    pending.popleft()
                rc = m.rc + 1
                if rc > maxrc and self._dlq_accepts(m):
                    g.live -= 1
                    PyQueue._kill(self, m)
                    moved.append(m)
                    continue
                g.live -= 1
                m.rc = rc
                if not m.first:
                    m.first = now
                old = m.handle
                if old is not None:
                    handles.pop(old, None)
                self._token += 1
                h = prefix + str(self._token)
                m.handle = h
                handles[h] = m
                m.rt = now
                out.append((m, h, rc, m.first))
                g.inflight += 1
                m.state = INFLIGHT
                m.due = due
                hs.append(h)
            if g.inflight == 0:
                if g.live and self._head(g) is not None:
                    self._make_ready(g)
                elif g.live == 0:
                    del self._groups[g.id]
        if hs:
            self._n_visible -= len(hs)
            self._n_inflight += len(hs)
            if vt:
                self._wheel_add(vt, due, tuple(hs))
            else:  # visibility 0: back at once, in order
                for d in out:
                    if d[0].state == INFLIGHT:
                        self._return(d[0])
        if attempt_id is not None and out:
            self._remember_attempt(attempt_id, out, now)
        return out

    def _remember_attempt(self, attempt_id, out, now) -> None:
        log = self._attempt_log
        while log and log[0][0] <= now:
            expiry, key = log.popleft()
            rec = self._attempts.get(key)
            if rec is not None and rec[0] <= now:
                del self._attempts[key]
        expiry = now + limits.SQS_ATTEMPT_ID_WINDOW_S
        self._attempts[attempt_id] = (expiry, [(d, d[0].due) for d in out])
        log.append((expiry, attempt_id))

    def _retry_attempt(self, attempt_id, vt, now):
        rec = self._attempts.get(attempt_id)
        if rec is None or rec[0] <= now:
            return None
        items = rec[1]
        for d, due in items:
            m = d[0]
            if m.state != INFLIGHT or m.handle is not d[1] or m.due != due:
                del self._attempts[attempt_id]  # the batch was modified: a fresh receive
                return None
        # same messages, same receipt handles; the visibility timeout starts again
        new_due = now + vt
        hs = []
        for d, _ in items:
            d[0].due = new_due
            hs.append(d[1])
        if vt:
            self._wheel_add(vt, new_due, tuple(hs))
            self._attempts[attempt_id] = (rec[0], [(d, new_due) for d, _ in items])
        else:
            for d, _ in items:
                self._return(d[0])
        return [d for d, _ in items]

    # --- deleting / visibility --------------------------------------------------------------------
    def delete_batch(self, handles) -> list:
        out = []
        append = out.append
        with self._lock:
            now = self.clock.now()
            if now >= self._next_event:
                self._run_timers(now)
            get = self._handles.get
            groups = self._groups
            for h in handles:
                m = get(h)
                if m is None:
                    append(self._stale_delete(h) if self._stale_handle(h) else self._invalid_handle(h))
                elif m.state != INFLIGHT:
                    append(invalid_value("ReceiptHandle", h, "The receipt handle has expired."))
                else:
                    del self._handles[h]
                    m.state = DEAD
                    self._n_inflight -= 1
                    g = groups.get(m.x.group)
                    if g is not None:
                        g.inflight -= 1
                        if not g.inflight:
                            if g.live:
                                if self._head(g) is not None:
                                    self._make_ready(g)
                            elif not g.queued:
                                del groups[g.id]
                    append(None)
        return out

    def _delete_found(self, m: Message, h: str):
        if m.state != INFLIGHT:
            return invalid_value("ReceiptHandle", h, "The receipt handle has expired.")
        self._kill(m)
        return None

    def _stale_delete(self, h: str):
        return invalid_value("ReceiptHandle", h, "The receipt handle has expired.")

    def _not_in_flight(self, h):
        return invalid_value("ReceiptHandle", h, "The receipt handle has expired.")

    # --- dead letters / redrive -------------------------------------------------------------------
    def accept_dead_letters(self, messages: list, source_arn: str) -> None:
        """FIFO dead-letter queue: enqueue time resets; the deduplication id becomes the original
        message id (so two messages sharing a dedup id both land)."""
        copies = []
        for old in messages:
            ox = old.x
            if source_arn is None:  # back into this queue: a fresh deduplication record would drop it
                self._requeue_unchanged(old)
                continue
            m = Message(old.id, old.body, old.md5, 0.0, MessageExtra(
                attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace, trace_md5=ox.trace_md5,
                group=ox.group, dedup=old.id, dlq_source=source_arn))
            m.rc = old.rc
            m.first = old.first
            m.due = -1.0
            copies.append(m)
        self._enqueue_keep_ids(copies)

    def _requeue_unchanged(self, old: Message) -> None:
        """Put a message taken for a dead-letter move back at the head of its group."""
        with self._lock:
            if self.deleted:
                return
            m = Message(old.id, old.body, old.md5, old.sent, old.x)
            m.rc = old.rc
            m.first = old.first
            g = self._groups.get(old.x.group)
            if g is None:
                g = self._groups[old.x.group] = _Group(old.x.group)
            heapq.heappush(g.returned, (old.x.seq, m))
            g.live += 1
            self._n_visible += 1
            self._log.append(m)
            self._next_event = -math.inf
            if not g.inflight:
                self._make_ready(g)

    def _enqueue_keep_ids(self, messages) -> None:
        try:
            self.enqueue(messages)
        except QueueDoesNotExist:
            pass

    def accept_redriven(self, messages: list) -> None:
        fresh = []
        for old in messages:
            ox = old.x
            m = Message(self._id_prefix + str(next(self._ids)), old.body, old.md5, 0.0, MessageExtra(
                attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace, trace_md5=ox.trace_md5,
                group=ox.group, dedup=ox.dedup or old.id))
            m.due = -1.0
            fresh.append(m)
        self.enqueue(fresh)

    def take_for_move(self, n: int) -> list[Message]:
        out = []
        with self._lock:
            now = self.clock.now()
            self._tick(now)
            ready = self._ready
            skipped = []
            while ready and len(out) < n:
                g = ready.popleft()
                g.queued = False
                if g.inflight or self._groups.get(g.id) is not g:
                    continue
                while len(out) < n:
                    m = self._head(g)
                    if m is None:
                        break
                    self._pop_head(g)
                    self._kill(m)
                    out.append(m)
                if self._head(g) is not None:
                    skipped.append(g)
                elif g.live == 0 and g.inflight == 0 and self._groups.get(g.id) is g:
                    del self._groups[g.id]
            for g in skipped:
                self._make_ready(g)
        return out


class FifoQueue(Queue):
    """A FIFO queue over the native core (engine._core.MessageQueue in FIFO mode): message
    groups, the ready list, deduplication records and sequence numbers live in C beside the
    messages; this class keeps the AWS rules (validation, error codes, dead-letter redrive,
    ReceiveRequestAttemptId retries, long polling).

    Per-group order, a group held while any message of it is in flight, deduplication within
    5 minutes (queue or group scope, remembered after delete), sequence numbers. The 120,000
    messages-scanned rule is approximated by taking ready groups in the order they became
    ready."""

    fifo = True
    _check_delay = PyFifoQueue._check_delay
    _extra = PyFifoQueue._extra

    def __init__(self, backend, name, attributes, tags):
        PyQueue.__init__(self, backend, name, attributes, tags)
        self._ret_ms = self.retention * 1000
        self._fifo_opts = (self.delay, self.group_dedup)
        self._q = _core.MessageQueue(self._ret_ms, self._id_prefix, self._hprefix, _ID_START, fifo=True,
                                     seq_base=int(self.clock.now()) * 10**10 + 10**19,
                                     window_ms=limits.SQS_DEDUP_WINDOW_S * 1000, delay_ms=self.delay * 1000,
                                     group_scope=self.group_dedup)
        self._attempts: dict = {}

    def _apply(self, attrs: dict) -> None:
        super()._apply(attrs)
        q = getattr(self, "_q", None)
        if q is not None and (self.delay, self.group_dedup) != self._fifo_opts:
            # (set_attributes holds the lock and wakes pollers itself)
            self._fifo_opts = (self.delay, self.group_dedup)
            q.set_fifo(self._now_ms(), self.delay * 1000, self.group_dedup)

    # --- sending -------------------------------------------------------------------------------
    def prepare(self, body, delay=None, attrs=None, trace=None, group=None, dedup=None, *, batch=False):
        if group is None:
            if batch:
                raise InvalidParameterValue("The request must contain the parameter MessageGroupId.")
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        if dedup is None and not self.content_dedup:
            raise InvalidParameterValue("The queue should either have ContentBasedDeduplication enabled or "
                                        "MessageDeduplicationId provided explicitly")
        m = PyQueue.prepare(self, body, delay, attrs, trace, group, dedup, batch=batch)
        if m.x.dedup is None:
            m.x.dedup = hashlib.sha256(m.body.encode("utf-8")).hexdigest()
        m.due = -1.0
        return m

    def send_bodies(self, bodies) -> list:  # pragma: no cover - FIFO needs group ids
        raise MissingParameter("The request must contain the parameter MessageGroupId.")

    def send_raw(self, bodies) -> tuple:  # pragma: no cover - FIFO needs group ids
        raise MissingParameter("The request must contain the parameter MessageGroupId.")

    def send_fifo_raw(self, bodies, groups, dedups):
        """The native bulk FIFO send (the SendMessageBatch hot path): parallel lists of bodies,
        group ids and deduplication ids, checked, digested and deduplicated by the core.
        Returns (status, ids, md5s, seqs): status None when every row was accepted (a duplicate
        reports the original's id and sequence number), else bytes of per-row codes
        (_core.SEND_*: fifo_send_error gives the exact error) with None in the columns."""
        if self.deleted:
            raise QueueDoesNotExist()
        try:
            status, ids, md5s, seqs, _ = self._q.send_fifo(int(self.clock.now() * 1000), bodies, groups, dedups,
                                                           self.max_size)
        except _core.CoreValueError as err:  # a body that is neither str nor bytes, columns of other lengths
            raise _not_a_body(err) from None
        if self._waiters and not self.delay:
            self._wake()
        return status, ids, md5s, seqs

    def fifo_send_error(self, body, group, dedup) -> ClientError:
        """The exact error for a row the core refused."""
        try:
            self.prepare(body, group=group, dedup=dedup, batch=True)
        except ClientError as err:
            return err
        return InvalidParameterValue("One or more parameters are invalid.")  # pragma: no cover

    def send_fifo(self, bodies, groups, dedups) -> list:
        """Bulk FIFO send: per message the stored Message (for a duplicate, one carrying the
        original's ids) or the ClientError that refused it."""
        status, ids, md5s, seqs = self.send_fifo_raw(bodies, groups, dedups)
        now = self.clock.now()
        out = []
        for k, (b, g, d, mid, md5, seq) in enumerate(zip(bodies, groups, dedups, ids, md5s, seqs)):
            if status is not None and status[k]:
                out.append(self.fifo_send_error(b, g, d))
            else:
                out.append(Message(mid, b, md5, now, FifoExtra(g, d, int(seq))))
        return out

    def enqueue(self, messages: list) -> list:
        """Store prepared messages; a duplicate is reported with the original's id and sequence
        number (and not stored)."""
        if self.deleted:
            raise QueueDoesNotExist()
        xs = [m.x for m in messages]
        extras = [x if (x.attrs or x.trace is not None or x.dlq_source is not None or x.mid is not None) else None
                  for x in xs]
        status, ids, _, seqs, dups = self._q.send_fifo(self._now_ms(), [m.body for m in messages],
                                                       [x.group for x in xs], [x.dedup for x in xs], -1,
                                                       extras if extras.count(None) != len(extras) else None)
        if status is not None:  # pragma: no cover - prepare() checked every body
            raise InvalidMessageContents(MESSAGE_CONTENT_ERROR)
        now = self.clock.now()
        state = DELAYED if self.delay else VISIBLE
        out = []
        for k, (m, mid, seq) in enumerate(zip(messages, ids, seqs)):
            x = m.x
            if dups is not None and dups[k]:
                dup = Message(mid, m.body, m.md5, now, MessageExtra(
                    attrs=x.attrs, attrs_md5=x.attrs_md5, trace=x.trace, trace_md5=x.trace_md5,
                    group=x.group, dedup=x.dedup, seq=int(seq)))
                dup.state = DEAD
                out.append(dup)
                continue
            if x.mid is None:
                m.id = mid
            x.seq = int(seq)
            m.sent = now
            m.state = state
            out.append(m)
        if self._waiters and not self.delay:
            self._wake()
        return out

    # --- receiving ------------------------------------------------------------------------------
    def _take_fifo(self, n: int, vt: int, attempt_id, fifo_cols: bool):
        now = self._now_ms()
        if attempt_id is not None:
            rec = self._attempts.get(attempt_id)
            if rec is not None:
                expiry, due, cols = rec
                if expiry > now and self._q.retry(now, cols[1], due, vt * 1000):
                    if vt:
                        self._attempts[attempt_id] = (expiry, now + vt * 1000, cols)
                    return tuple(list(c) for c in cols), None
                del self._attempts[attempt_id]
        _, got, moved = self._q.receive(now, n, vt * 1000, self._max_rc(), limits.SQS_INFLIGHT_FIFO_MAX,
                                        fifo_cols=fifo_cols or attempt_id is not None)
        if got[0]:
            if attempt_id is not None:
                att = self._attempts
                if len(att) > 1024:
                    for key in [k for k, r in att.items() if r[0] <= now]:
                        del att[key]
                att[attempt_id] = (now + limits.SQS_ATTEMPT_ID_WINDOW_S * 1000, now + vt * 1000,
                                   tuple(list(c) for c in got))
        return got, moved

    def receive_raw(self, max_messages: int = 1, visibility_timeout: int | None = None,
                    wait_time: int | None = None, attempt_id: str | None = None, fifo_cols: bool = False):
        """ReceiveMessage in columns: (ids, handles, md5s, bodies, receive_counts,
        first_receive_ms, sent_ms, extras), and (groups, dedups, seqs) with fifo_cols or an
        attempt id. A long poll returns as soon as a message is available."""
        max_messages = message_count(max_messages)
        vt = self.visibility if visibility_timeout is None else visibility_seconds(visibility_timeout)
        wait = self.wait_time if wait_time is None else wait_seconds(wait_time)
        if self.deleted:
            return ([], [], [], [], [], [], [], [], [], [], []) if fifo_cols else ([], [], [], [], [], [], [], [])
        clock = self.clock
        start = clock.now()
        if attempt_id is None and self.redrive is None and vt:  # the common case, inline
            _, got, moved = self._q.receive(int(start * 1000), max_messages, vt * 1000, _NO_LIMIT,
                                            limits.SQS_INFLIGHT_FIFO_MAX, fifo_cols=fifo_cols)
            if got[0]:
                extras = got[7]
                if extras.count(None) != len(extras):
                    self._own_ids(got)
                return got
        else:
            got, moved = self._take_fifo(max_messages, vt, attempt_id, fifo_cols)
        if not got[0] and wait > 0 and moved is None:
            deadline = start + wait
            with self._cond:
                while True:
                    self._waiters += 1  # before the check: a send after it sees a waiter
                    try:
                        got, moved = self._take_fifo(max_messages, vt, attempt_id, fifo_cols)
                        if got[0] or moved is not None or self.deleted:
                            break
                        now = clock.now()
                        if now >= deadline:
                            break
                        nd = self._next_due()
                        clock.wait(self._cond, deadline if nd is None or nd > deadline else nd)
                    finally:
                        self._waiters -= 1
        if moved is not None:
            self._deliver_dead_letters(self._fifo_views(moved))
            if not got[0] and wait > 0:
                left = max(0, int(wait - (clock.now() - start)))
                return self.receive_raw(max_messages, visibility_timeout, left, attempt_id, fifo_cols)
        if not vt and got[0]:
            self._wake()  # visible again at once: other pollers may take them (the lock is free here)
        extras = got[7]
        if extras.count(None) != len(extras):
            self._own_ids(got)
        return got

    def receive(self, max_messages: int = 1, visibility_timeout: int | None = None,
                wait_time: int | None = None, attempt_id: str | None = None) -> list:
        """ReceiveMessage: (Message, receipt handle, receive count, first receive) tuples."""
        vt = self.visibility if visibility_timeout is None else visibility_seconds(visibility_timeout)
        cols = self.receive_raw(max_messages, vt, wait_time, attempt_id, fifo_cols=True)
        state = INFLIGHT if vt else VISIBLE
        out = []
        for mid, h, md5, body, rc, first, sent, x, g, d, seq in zip(*cols):
            m = Message(mid, body, md5, sent / 1000.0, _fifo_extra(x, g, d, seq))
            m.rc = rc
            m.first = first / 1000.0
            m.state = state
            m.handle = h
            out.append((m, h, rc, m.first))
        return out

    @staticmethod
    def _fifo_views(cols) -> list:
        """Message objects for messages that left the core (moved or taken), with their
        group, deduplication id and sequence number."""
        out = []
        for mid, md5, body, rc, first, sent, x, g, d, seq in zip(cols[0], *cols[2:]):
            if x is not None and x.mid is not None:
                mid = x.mid
            m = Message(mid, body, md5, sent / 1000.0, _fifo_extra(x, g, d, seq))
            m.rc = rc
            m.first = first / 1000.0 if first >= 0 else 0.0
            m.state = DEAD
            out.append(m)
        return out

    # --- deleting / visibility ------------------------------------------------------------------
    def delete_batch(self, handles) -> list:
        """DeleteMessage(Batch): per handle None or the ClientError (FIFO: only a message in
        flight with its current handle can be deleted)."""
        res = self._q.delete(self._now_ms(), handles)
        if self._waiters:
            self._wake()  # a group may have been released
        if res is None:
            return [None] * len(handles)
        invalid = _core.HANDLE_INVALID
        return [None if r == 0 else self._invalid_handle(h) if r == invalid else
                invalid_value("ReceiptHandle", h, "The receipt handle has expired.") for h, r in zip(handles, res)]

    def _not_in_flight(self, h):
        return invalid_value("ReceiptHandle", h, "The receipt handle has expired.")

    # --- dead letters / redrive -------------------------------------------------------------------
    def accept_dead_letters(self, messages: list, source_arn: str | None) -> None:
        """FIFO dead-letter queue: enqueue time resets, ids, receive counts stay; the
        deduplication id becomes the original message id (so two messages sharing a dedup id
        both land). source_arn None: back into this queue unchanged, at their place in their
        groups."""
        if self.deleted or not messages:
            return
        extras = []
        for old in messages:
            ox = old.x
            if source_arn is None:
                extras.append(MessageExtra(attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace,
                                           trace_md5=ox.trace_md5, group=ox.group, dedup=ox.dedup,
                                           dlq_source=ox.dlq_source, mid=old.id))
            else:
                extras.append(MessageExtra(attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace,
                                           trace_md5=ox.trace_md5, group=ox.group, dedup=old.id,
                                           dlq_source=source_arn, mid=old.id))
        keep = source_arn is None
        self._q.restore(self._now_ms(), [m.body for m in messages], [m.md5 for m in messages],
                        sent_ms=[_ms(m.sent) for m in messages] if keep else None, rcs=[m.rc for m in messages],
                        first_ms=[_ms(m.first) if m.first else -1 for m in messages], extras=extras,
                        groups=[x.group for x in extras],
                        dedups=[x.dedup for x in extras],
                        seqs=[m.x.seq or None for m in messages] if keep else None)
        self._wake()

    def accept_redriven(self, messages: list) -> None:
        """Messages moved here by a move task: new messages (new MessageId, new enqueue time and
        sequence number) with the same body, attributes and group."""
        if self.deleted:
            raise QueueDoesNotExist()
        extras = []
        dedups = []
        for old in messages:
            ox = old.x
            x = None
            if ox.attrs or ox.trace is not None:
                x = MessageExtra(attrs=ox.attrs, attrs_md5=ox.attrs_md5, trace=ox.trace, trace_md5=ox.trace_md5,
                                 group=ox.group)
            extras.append(x)
            dedups.append(ox.dedup or old.id)
        self._q.restore(self._now_ms(), [m.body for m in messages], [m.md5 for m in messages], extras=extras,
                        groups=[m.x.group for m in messages], dedups=dedups)
        self._wake()

    def take_for_move(self, n: int) -> list[Message]:
        _, got, _ = self._q.receive(self._now_ms(), n, 0, remove=True)
        return self._fifo_views(got)

    # --- housekeeping ---------------------------------------------------------------------------
    def purge(self) -> None:
        super().purge()
        self._attempts.clear()

    def close(self) -> None:
        super().close()
        self._attempts.clear()


def _fifo_extra(x, group, dedup, seq):
    """The MessageExtra of a FIFO message read back from the core."""
    if x is None:
        return FifoExtra(group, dedup, int(seq))
    return MessageExtra(attrs=x.attrs, attrs_md5=x.attrs_md5, trace=x.trace, trace_md5=x.trace_md5, group=group,
                        dedup=dedup, seq=int(seq), dlq_source=x.dlq_source, mid=x.mid)


NATIVE_FIFO = True  # FIFO queues over the native core (False: the Python PyFifoQueue)


# --- message move tasks ---------------------------------------------------------------------------
class MoveTask:
    RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED = "RUNNING", "COMPLETED", "CANCELLING", "CANCELLED", "FAILED"

    def __init__(self, source_arn, destination_arn, rate, started_ms):
        self.task_id = str(uuid.uuid4())
        self.source_arn = source_arn
        self.destination_arn = destination_arn
        self.rate = rate
        self.started_ms = started_ms
        self.status = self.RUNNING
        self.moved = 0
        self.to_move = 0
        self.failure = None
        self.timer = None
        doc = json.dumps({"taskId": self.task_id, "sourceArn": source_arn}, separators=(",", ":"))
        self.handle = base64.b64encode(doc.encode()).decode()


def decode_task_handle(handle: str) -> tuple[str, str]:
    """(task id, source ARN) of a TaskHandle: base64 of {"taskId": <uuid>, "sourceArn": <arn>}."""
    doc = None
    if handle.__class__ is str:
        try:
            doc = json_document(base64.b64decode(handle.encode(), validate=True).decode())
        except (ValueError, UnicodeError):  # not base64, not UTF-8
            doc = None
    if isinstance(doc, dict) and doc.get("taskId").__class__ is str and doc.get("sourceArn").__class__ is str:
        return doc["taskId"], doc["sourceArn"]
    raise InvalidParameterValue("Value for parameter TaskHandle is invalid.")


def _redrive_target(queue) -> str | None:
    return queue.redrive.dead_letter_target_arn if queue.redrive is not None else None


# --- the backend ------------------------------------------------------------------------------------
class SQSBackend:
    """All queues of one account in one region."""

    def __init__(self, engine, region: str):
        self.engine = engine
        self.region = region
        self.account_id = engine.account_id
        self.clock = engine.clock
        self._lock = threading.RLock()
        self.queues: dict[str, Queue] = {}
        self.by_url: dict[str, Queue] = {}
        self.by_arn: dict[str, Queue] = {}
        self._names = SortedNames()
        self._sources: dict[str, SortedNames] = {}   # dead-letter queue ARN -> names of its source queues
        self._deleted: OrderedDict[str, float] = OrderedDict()  # name -> deletion time, oldest first
        self._seq = itertools.count(int(self.clock.now()) * 10**10 + 10**19)
        self.move_tasks: dict[str, MoveTask] = {}
        self._tasks_by_source: dict[str, deque] = {}  # source ARN -> its latest tasks, oldest first

    # --- queues ---------------------------------------------------------------------------
    def create_queue(self, name: str, attributes: dict | None = None, tags: dict | None = None) -> Queue:
        attributes = _string_map("Attributes", attributes)
        if attributes.get("Policy") == "":
            del attributes["Policy"]
        fifo_flag = attributes.get("FifoQueue", "")
        fifo_flag = fifo_flag.lower() if fifo_flag.__class__ is str else "?"
        fifo = fifo_flag == "true"
        if fifo_flag and fifo_flag not in ("true", "false"):
            raise InvalidAttributeValue("Invalid value for the parameter FifoQueue.")
        validate_queue_name(name, fifo)
        attrs = normalize_queue_attributes(attributes, fifo=fifo, creating=True)
        tags = validate_tags(_string_map("tags", tags), name)
        with self._lock:
            existing = self.queues.get(name)
            if existing is not None:
                current = existing.get_attributes(["All"])
                for key, value in attrs.items():
                    if current.get(key, "" if key in ("Policy", "RedrivePolicy", "RedriveAllowPolicy",
                                                      "KmsMasterKeyId") else None) != value:
                        raise QueueNameExists(f"A queue already exists with the same name and a different value "
                                              f"for attribute {key}")
                return existing
            now = self.clock.now()
            while self._deleted and next(iter(self._deleted.values())) <= now - limits.SQS_RECREATE_WAIT_S:
                self._deleted.popitem(last=False)
            deleted = self._deleted.get(name)
            if deleted is not None and now - deleted < limits.SQS_RECREATE_WAIT_S:
                raise QueueDeletedRecently(f"You must wait {limits.SQS_RECREATE_WAIT_S} seconds after deleting "
                                           "a queue before you can create another with the same name.")
            self._check_redrive_target(attrs, name, fifo)
            queue = ((FifoQueue if NATIVE_FIFO else PyFifoQueue) if fifo else Queue)(self, name, attrs, tags)
            self.queues[name] = queue
            self.by_url[queue.url] = queue
            self.by_arn[queue.arn] = queue
            self._names.add(name)
            self._index_redrive(name, None, _redrive_target(queue))
            return queue

    def _index_redrive(self, name: str, old_target: str | None, target: str | None) -> None:
        """Keep the dead-letter index (target ARN -> source names) in step with a queue's policy."""
        if target == old_target:
            return
        if old_target is not None:
            sources = self._sources[old_target]
            sources.discard(name)
            if not len(sources):
                del self._sources[old_target]
        if target is not None:
            self._sources.setdefault(target, SortedNames()).add(name)

    def _check_redrive_target(self, attrs: dict, name: str, fifo: bool) -> None:
        raw = attrs.get("RedrivePolicy")
        if not raw:
            return
        policy = parse_redrive_policy(raw)
        target = self.by_arn.get(policy.dead_letter_target_arn)
        if target is None:
            raise invalid_value("RedrivePolicy", raw, "Dead letter target does not exist.")
        if target.fifo != fifo:
            raise invalid_value("RedrivePolicy", raw, "Dead-letter queue must be the same type of queue "
                                                      "(standard or FIFO) as the source queue.")
        source_arn = sqs_arn(self.region, self.account_id, name)
        if not target.allows_source(source_arn):
            raise invalid_value("RedrivePolicy", raw, "Queue " + source_arn + " is not allowed to use "
                                "dead-letter queue " + target.arn + " (RedriveAllowPolicy).")

    def set_queue_attributes(self, queue: Queue, attributes: dict) -> None:
        attrs = normalize_queue_attributes(_string_map("Attributes", attributes), fifo=queue.fifo, creating=False)
        with self._lock:
            self._check_redrive_target(attrs, queue.name, queue.fifo)
            old = _redrive_target(queue)
            queue.set_attributes(attrs)
            self._index_redrive(queue.name, old, _redrive_target(queue))

    def get_queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            raise QueueDoesNotExist()
        return queue

    def queue_from_url(self, url: str) -> Queue:
        queue = self.by_url.get(url)
        if queue is not None:
            return queue
        if isinstance(url, str):
            parts = url.rstrip("/").split("/")
            if len(parts) == 1:  # a bare name, as some SDK helpers pass
                queue = self.queues.get(parts[0])
            elif len(parts) >= 2 and parts[-2] == self.account_id:
                queue = self.queues.get(parts[-1])
            if queue is not None:
                return queue
        raise QueueDoesNotExist()

    def queue_by_arn(self, arn: str) -> Queue | None:
        return self.by_arn.get(arn) if arn.__class__ is str else None

    def delete_queue(self, queue: Queue) -> None:
        with self._lock:
            if self.queues.get(queue.name) is not queue:
                raise QueueDoesNotExist()
            del self.queues[queue.name]
            self.by_url.pop(queue.url, None)
            self.by_arn.pop(queue.arn, None)
            self._names.discard(queue.name)
            self._index_redrive(queue.name, _redrive_target(queue), None)
            self._deleted.pop(queue.name, None)
            self._deleted[queue.name] = self.clock.now()
        queue.close()

    def list_queues(self, prefix: str | None = None, after: str = "",
                    limit: int = limits.SQS_LIST_QUEUES_MAX) -> tuple[list[Queue], bool]:
        """Up to `limit` queues whose names start with prefix, in name order after `after`, and
        whether more follow. Costs O(log n + limit) in the number of queues."""
        return self._page(self._names, prefix or "", after, limit)

    def dead_letter_sources(self, queue: Queue, after: str = "",
                            limit: int = limits.SQS_LIST_QUEUES_MAX) -> tuple[list[Queue], bool]:
        """The queues whose RedrivePolicy targets `queue`, paged as list_queues pages."""
        return self._page(self._sources.get(queue.arn), "", after, limit)

    def _page(self, names: SortedNames | None, prefix: str, after: str, limit: int) -> tuple[list[Queue], bool]:
        if prefix.__class__ is not str or after.__class__ is not str:
            raise InvalidParameterValue("Value for parameter QueueNamePrefix is invalid. Reason: must be a string.")
        whole_number("MaxResults", limit, 1, limits.SQS_LIST_QUEUES_MAX,
                     f"MaxResults must be an integer between 1 and {limits.SQS_LIST_QUEUES_MAX}.")
        if names is None:
            return [], False
        with self._lock:
            found = [self.queues[name] for name in islice(names.after(after, prefix), limit + 1)]
        return found[:limit], len(found) > limit

    # --- permissions --------------------------------------------------------------------------
    def add_permission(self, queue: Queue, label: str, account_ids: list, actions: list) -> None:
        if not _LABEL.fullmatch(label or ""):
            raise invalid_value("Label", label, "Can only include alphanumeric characters, hyphens, or "
                                                "underscores. 1 to 80 in length")
        if not actions:
            raise MissingParameter("The request must contain the parameter Actions.")
        if not account_ids:
            raise MissingParameter("The request must contain the parameter AWSAccountIds.")
        if len(actions) > limits.SQS_PERMISSION_ACTIONS_MAX:
            raise OverLimit(f"{len(actions)} Actions were found, maximum allowed is "
                            f"{limits.SQS_PERMISSION_ACTIONS_MAX}.")
        for action in actions:
            if action not in PERMISSION_ACTIONS:
                raise invalid_value("ActionName", f"SQS:{action}", "Please refer to the appropriate WSDL for a "
                                                                   "list of valid actions. ")
        for account in account_ids:
            if not (isinstance(account, str) and account.isdigit() and len(account) == 12):
                raise invalid_value("PrincipalId", account, "Unable to verify.")
        with queue._lock:
            raw = queue.attributes.get("Policy")
            policy = json.loads(raw) if raw else {"Version": "2008-10-17",
                                                  "Id": f"{queue.arn}/SQSDefaultPolicy", "Statement": []}
            statements = policy.setdefault("Statement", [])
            if any(s.get("Sid") == label for s in statements):
                raise invalid_value("Label", label, "Already exists.")
            principals = [f"arn:aws:iam::{a}:root" for a in account_ids]
            statements.append({
                "Sid": label, "Effect": "Allow",
                "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                "Action": f"SQS:{actions[0]}" if len(actions) == 1 else [f"SQS:{a}" for a in actions],
                "Resource": queue.arn})
            queue.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))

    def remove_permission(self, queue: Queue, label: str) -> None:
        with queue._lock:
            raw = queue.attributes.get("Policy")
            policy = json.loads(raw) if raw else {"Statement": []}
            statements = policy.get("Statement", [])
            kept = [s for s in statements if s.get("Sid") != label]
            if len(kept) == len(statements):
                raise invalid_value("Label", label, "can't find label.")
            if kept:
                policy["Statement"] = kept
                queue.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
            else:
                queue.attributes.pop("Policy", None)

    # --- tags ---------------------------------------------------------------------------------------
    def tag_queue(self, queue: Queue, tags: dict) -> None:
        tags = _string_map("Tags", tags)
        if not tags:
            raise MissingParameter("The request must contain the parameter Tags.")
        with queue._lock:
            merged = dict(queue.tags)
            merged.update(tags)
            queue.tags = validate_tags(merged, queue.name)

    def untag_queue(self, queue: Queue, keys: list) -> None:
        if not keys:
            raise MissingParameter("The request must contain the parameter TagKeys.")
        if not isinstance(keys, (list, tuple)) or any(k.__class__ is not str for k in keys):
            raise InvalidParameterValue("Tag keys must be strings.")
        with queue._lock:
            for key in keys:
                queue.tags.pop(key, None)

    # --- message move tasks ---------------------------------------------------------------------------
    def start_message_move_task(self, source_arn: str, destination_arn: str | None = None,
                                rate: int | None = None) -> MoveTask:
        source = self.queue_by_arn(source_arn)
        if source is None:
            raise ResourceNotFoundException("The resource that you specified for the SourceArn parameter "
                                            "doesn't exist.", status=404)
        if source_arn not in self._sources:
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        destination = None
        if destination_arn is not None:
            destination = self.queue_by_arn(destination_arn)
            if destination is None:
                raise ResourceNotFoundException("The resource that you specified for the DestinationArn "
                                                "parameter doesn't exist.", status=404)
            if destination.fifo != source.fifo:
                raise InvalidParameterValue("The source queue and the destination queue must be of the same "
                                            "type (standard or FIFO).")
        if rate is not None:
            whole_number("MaxNumberOfMessagesPerSecond", rate, 1, limits.SQS_MOVE_RATE_MAX,
                         f"Must be between 1 and {limits.SQS_MOVE_RATE_MAX}.")
        with self._lock:
            latest = self._tasks_by_source.setdefault(source_arn, deque())
            if latest and latest[-1].status in (MoveTask.RUNNING, MoveTask.CANCELLING):
                raise InvalidParameterValue("There is already a task running. Only one active task is "
                                            "allowed for a source queue arn at a given time.")
            task = MoveTask(source_arn, destination_arn, rate, int(self.clock.now() * 1000))
            task.to_move = source.approximate_number_of_messages
            if len(latest) == limits.SQS_LIST_MOVE_TASKS_MAX:  # only the latest ten are listed or kept
                del self.move_tasks[latest.popleft().task_id]
            latest.append(task)
            self.move_tasks[task.task_id] = task
        if rate is None:
            self._move_step(task)  # the whole backlog at once
        else:
            task.timer = self.clock.call_later(1.0, lambda: self._move_step(task))
        return task

    def _move_step(self, task: MoveTask) -> None:
        with self._lock:
            if task.status != MoveTask.RUNNING:
                return
        source = self.by_arn.get(task.source_arn)
        if source is None:
            self._fail(task, "AWS.SimpleQueueService.NonExistentQueue")
            return
        budget = task.to_move - task.moved
        if task.rate is not None:
            budget = min(budget, task.rate)
        while budget > 0:
            with self._lock:
                if task.status != MoveTask.RUNNING:
                    return
            batch = source.take_for_move(min(budget, 100))
            if not batch:
                break
            groups: dict = {}
            for m in batch:
                target_arn = task.destination_arn or (m.x.dlq_source if m.x is not None else None)
                groups.setdefault(target_arn, []).append(m)
            for target_arn, msgs in groups.items():
                target = self.by_arn.get(target_arn) if target_arn else None
                if target is None or target.deleted:
                    source.accept_redriven(msgs)  # nothing accepted is lost: back into the DLQ
                    self._fail(task, "AWS.SimpleQueueService.NonExistentQueue" if target_arn else
                               "CouldNotDetermineMessageSource")
                    return
                target.accept_redriven(msgs)
                task.moved += len(msgs)
            budget -= len(batch)
        with self._lock:
            if task.status != MoveTask.RUNNING:
                return
            if task.moved >= task.to_move or source.approximate_number_of_messages == 0:
                task.status = MoveTask.COMPLETED
                task.timer = None
            else:
                task.timer = self.clock.call_later(1.0, lambda: self._move_step(task))

    def _fail(self, task: MoveTask, reason: str) -> None:
        with self._lock:
            task.status = MoveTask.FAILED
            task.failure = reason
            task.timer = None

    def list_message_move_tasks(self, source_arn: str, max_results: int = 1) -> list[MoveTask]:
        whole_number("MaxResults", max_results, 1, limits.SQS_LIST_MOVE_TASKS_MAX,
                     f"Must be between 1 and {limits.SQS_LIST_MOVE_TASKS_MAX}.")
        if self.queue_by_arn(source_arn) is None:
            raise ResourceNotFoundException("The resource that you specified for the SourceArn parameter "
                                            "doesn't exist.", status=404)
        with self._lock:
            latest = self._tasks_by_source.get(source_arn, ())
            return [latest[-1 - k] for k in range(min(max_results, len(latest)))]

    def cancel_message_move_task(self, handle: str) -> MoveTask:
        task_id, source_arn = decode_task_handle(handle)
        if self.queue_by_arn(source_arn) is None:
            raise ResourceNotFoundException("The resource that you specified for the SourceArn parameter "
                                            "doesn't exist.", status=404)
        with self._lock:
            task = self.move_tasks.get(task_id)
            if task is None or task.source_arn != source_arn:
                raise ResourceNotFoundException("Task does not exist.", status=404)
            if task.status != MoveTask.RUNNING:
                raise InvalidParameterValue("Only a RUNNING message movement task can be cancelled.")
            task.status = MoveTask.CANCELLED
            if task.timer is not None:
                task.timer.cancel()
                task.timer = None
        return task

    # --- lifecycle ---------------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            for task in self.move_tasks.values():
                if task.timer is not None:
                    task.timer.cancel()
                    task.timer = None
            queues = list(self.queues.values())
        for queue in queues:
            queue.close()


__all__ = ["SQSBackend", "Queue", "FifoQueue", "Message", "MessageExtra", "AttributeValue", "Delivery",
           "MoveTask", "RedrivePolicy", "body_bytes", "validate_message_attributes", "VISIBLE", "INFLIGHT",
           "DELAYED", "DEAD"]

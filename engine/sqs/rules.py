"""SQS's rules for values: counts and durations, message bodies and attributes, queue attribute
strings (numbers and JSON inside strings), redrive policies, names, tags. Pure functions that
raise AWS's error; the queues (engine.sqs.models) apply them, so the boto3 client and the native
API obey the same rules. Limits come from engine.limits.
"""
from __future__ import annotations

import decimal
import json
import numbers
import re
from typing import NamedTuple

from .. import limits
from ..arn import parse_arn
from ..errors import InvalidParameterValue
from .errors import (BatchEntryIdsNotDistinct, BatchRequestTooLong, EmptyBatchRequest, InvalidAttributeName,
                     InvalidAttributeValue, InvalidBatchEntryId, InvalidMessageContents, TooManyEntriesInBatchRequest,
                     invalid_value)

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
LABEL = re.compile(r"[A-Za-z0-9_-]{1,80}")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,%d}" % limits.SQS_BATCH_ID_MAX)
_ATTEMPT_ID = _FIFO_ID
NO_LIMIT = 1 << 62  # a count or receive count the native queue never reaches

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


class RedrivePolicy(NamedTuple):
    dead_letter_target_arn: str
    max_receive_count: int


def whole_number(param: str, value, lo: int, hi: int | None, reason: str) -> int:
    """A caller's count or duration: an int (not a bool) in [lo, hi] (hi None: unbounded), else
    InvalidParameterValue with AWS's wording. Whatever the size of the int, nothing overflows
    below this point: the native queue only ever sees checked values."""
    if value.__class__ is int and lo <= value and (hi is None or value <= hi):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid_value(param, value, reason)
    number = int(value)  # numpy integers and the like
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
    return min(whole_number("MaxNumberOfMessages", value, 1, None, "Must be at least 1."), NO_LIMIT)


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


def fifo_id_ok(value) -> bool:
    """MessageGroupId / MessageDeduplicationId rule, fast: 1-128 printable ASCII, no space."""
    return (value.__class__ is str and 0 < len(value) <= 128 and value.isascii() and value.isprintable()
            and " " not in value)


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


def string_map(param: str, value) -> dict:
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




def receive_limit(value) -> int:
    """ReceiveMessage's MaxNumberOfMessages: 1 to 10 (the native receive has no cap)."""
    return whole_number("MaxNumberOfMessages", value, 1, limits.SQS_RECEIVE_MAX,
                        f"Must be between 1 and {limits.SQS_RECEIVE_MAX}, if provided.")


def delay_seconds(value) -> int:
    return whole_number("DelaySeconds", value, limits.SQS_DELAY_MIN_S, limits.SQS_DELAY_MAX_S,
                        f"DelaySeconds must be >= {limits.SQS_DELAY_MIN_S} and <= {limits.SQS_DELAY_MAX_S}.")


def validate_attempt_id(value) -> None:
    if value.__class__ is not str or not _ATTEMPT_ID.fullmatch(value):
        raise invalid_value("ReceiveRequestAttemptId", value, "ReceiveRequestAttemptId can only include alphanumeric "
                                                              "and punctuation characters. 1 to 128 in length.")


_ok_batch_ids: dict = {}  # batch entry Ids already found valid (a bounded cache: the same Ids recur)


def check_batch_ids(ids: list, kind: str) -> None:
    """The rules of a batch request's entries: 1 to 10 of them, Ids of 1-80 alphanumeric
    characters, hyphens and underscores, all distinct. kind: SendMessageBatch, ..."""
    n = len(ids)
    if not n:
        raise EmptyBatchRequest(f"There should be at least one {kind}RequestEntry in the request.")
    if n > limits.SQS_BATCH_MAX:
        raise TooManyEntriesInBatchRequest(f"Maximum number of entries per request are {limits.SQS_BATCH_MAX}. "
                                           f"You have sent {n}.")
    known = _ok_batch_ids
    for eid in ids:
        if eid not in known:
            if eid.__class__ is not str or not _BATCH_ID.fullmatch(eid):
                raise InvalidBatchEntryId()
            if len(known) > 4096:
                known.clear()
            known[eid] = True
    if len(set(ids)) != n:
        seen = set()
        for eid in ids:
            if eid in seen:
                raise BatchEntryIdsNotDistinct(f"Id {eid} repeated.")
            seen.add(eid)


def attributes_size(attrs: dict) -> int:
    """Bytes a message attribute map counts towards a message's (and a batch's) size."""
    size = 0
    for key, a in attrs.items():
        size += len(key.encode("utf-8", "surrogatepass")) + len(a.data_type.encode("utf-8", "surrogatepass"))
        if a.string_value is not None:
            size += len(a.string_value.encode("utf-8", "surrogatepass"))
        if a.binary_value is not None:
            size += len(a.binary_value)
    return size


def check_batch_size(total: int) -> None:
    if total > limits.SQS_BATCH_BYTES_MAX:
        raise BatchRequestTooLong(f"Batch requests cannot be longer than {limits.SQS_BATCH_BYTES_MAX} bytes. "
                                  f"You have sent {total} bytes.")

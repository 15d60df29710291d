"""SNS domain: topics (with their access and data protection policies), subscriptions, publishing
and fan-out. Typed Python methods, no boto3 dict shapes (engine.sns.client does the translation);
delivery itself lives in delivery.py, mobile push in mobile.py, SMS in sms.py.

Publishing path (the hot one):

1. `prepare_many` validates messages that share everything but body and attributes (what they
   share is checked once, the bodies in one core pass) and builds a `Batch`: columns of numbers,
   bodies and attribute sets, `Message` objects made only when something reads them; attribute maps
   are validated and rendered once per distinct map (`AttributeSet`), filter values computed lazily
   and shared.
2. `publish_prepared` stamps the messages (timestamp; FIFO: deduplication within 5 minutes and a
   sequence number, under the topic's lock so that concurrent publishers keep group order) and
   fans them out: for each confirmed subscription (`Topic.active`, read without a lock: see
   slots.py), the subscription's compiled filter selects the messages (an attribute filter is
   matched once per distinct attribute set), and its delivery target receives them as one batch.
   Once the backend is closed, publishes are refused.
3. SQS receives the JSON envelopes built by the core in one pass per subscription and batch into
   one buffer (delivery.sqs_envelopes), stored by one queue call; other protocols render head +
   UnsubscribeURL + tail per message.

Control-plane calls cost O(1) (amortized) or O(log n) in the number of topics and subscriptions.

Native bulk API (beside the boto3 shape): `Topic.publish(body, ...)` and
`Topic.publish_many(bodies, attributes=None)`; wrong types are ParamValidationErrors.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import operator
import os
import re
import threading
import uuid
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

from .. import _core, limits
from ..arn import parse_arn, sns_topic_arn
from ..errors import ClientError, ParamValidationError
from ..datadir import region_root
from ..sqs.models import AttributeValue
from . import delivery
from . import filter as filters
from . import jsontext, native
from .mobile import MobilePush, PlatformEndpoint, platform_payload
from .slots import Slots, page_key, page_token
from .sms import E164, TextMessaging
from .errors import (AuthorizationError, BatchEntryIdsNotDistinct, BatchRequestTooLong, EmptyBatchRequest,
                     FilterPolicyLimitExceeded, InternalError, InvalidBatchEntryId, InvalidParameter,
                     ParameterValueInvalid, ResourceNotFound, SubscriptionLimitExceeded, TagLimitExceeded,
                     TooManyEntriesInBatchRequest, TopicLimitExceeded, invalid, subscription_not_found,
                     topic_not_found)

log = logging.getLogger("engine.sns")

PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
NEEDS_CONFIRMATION = frozenset(("http", "https", "email", "email-json"))
RAW_PROTOCOLS = frozenset(("sqs", "http", "https", "firehose"))

_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,%d}" % limits.SNS_TOPIC_NAME_MAX)
_FIFO_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,%d}\.fifo" % (limits.SNS_TOPIC_NAME_MAX - 5))
_ATTR_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_ATTR_TYPE = re.compile(r"(String|Number|Binary)(\..+)?", re.S)
_FIFO_ID = re.compile(r"""[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,""" + str(limits.SNS_FIFO_ID_MAX) + "}")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_SUBJECT_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")   # line breaks and control characters
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(\.fifo)?")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]+")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_LABEL = re.compile(r"[A-Za-z0-9_-]+")
POLICY_ACTIONS = ("AddPermission", "DeleteTopic", "GetDataProtectionPolicy", "GetTopicAttributes",
                  "ListSubscriptionsByTopic", "ListTagsForResource", "Publish", "PutDataProtectionPolicy",
                  "RemovePermission", "SetTopicAttributes", "Subscribe")
DATA_PROTECTION_VERSION = "2021-06-01"
DATA_PROTECTION_OPERATIONS = ("Audit", "Deny", "Deidentify")
_ATTRIBUTE_SETS_MAX = 4096   # distinct attribute maps remembered (validated and rendered) at a time
_RECENT_ATTRIBUTE_MAPS = 4   # publish_many: the latest distinct maps of a call, compared before resolving

CLOSED_MESSAGE = "The engine is closed; create a new engine.Engine()."
CALLER_NAME = "engine"   # the IAM user every call is made as (SubscriptionPrincipal, as Glue's CreatedBy)
FEEDBACK_ATTRIBUTES = tuple(f"{p}{k}" for p in ("HTTP", "Application", "Firehose", "Lambda", "SQS")
                            for k in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn"))
TOPIC_SETTABLE = ("DeliveryPolicy", "DisplayName", "Policy", "TracingConfig", "KmsMasterKeyId", "SignatureVersion",
                  "ContentBasedDeduplication", "FifoThroughputScope", "ArchivePolicy",
                  "DataProtectionPolicy") + FEEDBACK_ATTRIBUTES
FIFO_ONLY = ("ContentBasedDeduplication", "FifoThroughputScope", "ArchivePolicy")
SUBSCRIPTION_SETTABLE = ("DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy",
                         "SubscriptionRoleArn", "ReplayPolicy")


def _id_prefix() -> str:
    raw = os.urandom(10).hex()
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-{'89ab'[int(raw[16], 16) & 3]}{raw[17:20]}-"


# --- messages -----------------------------------------------------------------------------------
class AttributeSet:
    """The message attributes of a publish, validated once and shared by every message that carries
    the same map (bulk publishers repeat a few): their size, filter values and renderings (the
    envelope's MessageAttributes, SQS message attributes) are computed at most once."""
    __slots__ = ("values", "size", "tail", "tail_bytes", "_filter_values", "_sqs")

    def __init__(self, values: dict, size: int):
        self.values = values          # {name: (data_type, str | bytes)}
        self.size = size              # bytes counted towards the message size
        self.tail = delivery.notification_tail(values)   # the end of a JSON notification carrying them
        self.tail_bytes = self.tail.encode("utf-8", "surrogatepass")
        self._filter_values = None
        self._sqs = None

    @property
    def filter_values(self) -> dict:
        v = self._filter_values
        if v is None:
            v = self._filter_values = filters.attribute_values(self.values)
        return v

    @property
    def sqs(self) -> dict:
        """As SQS message attributes (raw delivery)."""
        v = self._sqs
        if v is None:
            v = {}
            for name, (dt, value) in self.values.items():
                if isinstance(value, bytes):
                    v[name] = AttributeValue(dt, None, value)
                else:
                    v[name] = AttributeValue(dt, value, None)
            self._sqs = v
        return v


_attribute_sets: dict = {}   # {tuple of (name, (data_type, string, binary))}: AttributeSet, bounded


NO_ATTRIBUTES = AttributeSet({}, 0)


def _resolve_attributes(given) -> AttributeSet:
    """The AttributeSet of one native {name: (data_type, value)} map (or None)."""
    return attribute_set(native_attributes(given))


def attribute_set(attributes: dict | None) -> AttributeSet:
    """{name: (data_type, string_value, binary_value)} -> its AttributeSet (NO_ATTRIBUTES when
    empty). Raises ParameterValueInvalid as AWS does."""
    if not attributes:
        return NO_ATTRIBUTES
    try:
        key = tuple(attributes.items())
        aset = _attribute_sets.get(key)
    except TypeError:   # an unhashable value: validated alone
        key = aset = None
    if aset is None:
        aset = AttributeSet(*validate_message_attributes(attributes))
        if key is not None:
            if len(_attribute_sets) >= _ATTRIBUTE_SETS_MAX:
                _attribute_sets.clear()
            _attribute_sets[key] = aset
    return aset


class PublishEntry(NamedTuple):
    """One entry of a PublishBatch."""
    id: str
    body: str
    subject: str | None = None
    structure: str | None = None
    attributes: dict | None = None    # {name: (data_type, string_value, binary_value)}
    group: str | None = None
    dedup: str | None = None


class Message:
    """One published message. Everything derived from it (filter values, envelope parts, SQS
    attributes) is computed at most once and shared by all subscriptions."""
    __slots__ = ("_id", "n", "topic", "body", "subject", "aset", "structure", "group", "dedup", "dedup_id",
                 "seq", "ts", "timestamp", "size", "duplicate", "_bvals", "_head", "_heads")

    def __init__(self, topic, body: str, subject, aset: AttributeSet, structure, group, dedup, n: int, size: int):
        self._id = None
        self.n = n                    # the backend's message counter: the id's number, the signature's seed
        self.topic = topic
        self.body = body
        self.subject = subject
        self.aset = aset
        self.structure = structure    # {protocol: message} (MessageStructure=json) or None
        self.group = group
        self.dedup = dedup            # as given
        self.dedup_id = None          # FIFO: given, or content-based
        self.seq = None               # FIFO sequence number (str)
        self.ts = 0.0
        self.timestamp = ""
        self.size = size              # bytes counted towards the message size
        self.duplicate = False        # FIFO: accepted, deduplicated, not delivered
        self._bvals = None
        self._head = None
        self._heads = None

    @property
    def attrs(self) -> dict:
        """{name: (data_type, str | bytes)}, empty when there are none."""
        return self.aset.values

    @property
    def id(self) -> str:
        """The MessageId: the backend's prefix and the message number (formatted when first read:
        the bulk envelope builder writes it from the number)."""
        i = self._id
        if i is None:
            i = self._id = f"{self.topic.backend.id_prefix}{self.n:012x}"
        return i

    @id.setter
    def id(self, value: str) -> None:
        self._id = value

    def content(self, key: str) -> str:
        """The message text for a protocol (or a platform, for application endpoints)."""
        s = self.structure
        if s is None:
            return self.body
        v = s.get(key)
        return v if v is not None else s["default"]

    @property
    def avals(self) -> dict:
        return self.aset.filter_values

    def body_values(self, key: str):
        content = self.content(key)
        cache = self._bvals
        if cache is None:
            cache = self._bvals = {}
        if content not in cache:
            cache[content] = filters.body_values(content)
        return cache[content]

    def head(self, key: str = "sqs") -> str:
        if self.structure is None:
            h = self._head
            if h is None:
                h = self._head = delivery.notification_head(self, self.body)
            return h
        content = self.content(key)
        heads = self._heads
        if heads is None:
            heads = self._heads = {}
        h = heads.get(content)
        if h is None:
            h = heads[content] = delivery.notification_head(self, content)
        return h

    def tail(self) -> str:
        return self.aset.tail

    def envelope(self, key: str, unsubscribe_url: str) -> str:
        """The JSON notification an SQS queue, HTTP/S endpoint or email-json address receives."""
        return self.head(key) + unsubscribe_url + self.tail()

    def sqs_attributes(self) -> dict:
        """Message attributes as SQS message attributes (raw delivery)."""
        return self.aset.sqs

    def __repr__(self):  # pragma: no cover - debugging aid
        return f"Message({self.id}, topic={self.topic.name})"


class Batch:
    """The messages of one publish call (or those of them a subscription's filter selected), in
    order, as columns (numbers, bodies, attribute sets) with what they share (topic, subject,
    timestamp). `plain` when none has a MessageStructure or a MessageGroupId and all share one
    subject: SQS envelopes are then built in bulk from the columns, and no Message object is made
    unless something reads one (indexing, iteration: the publisher's result, another protocol's
    delivery, a failure). A sequence of Message."""
    __slots__ = ("topic", "numbers", "bodies", "sets", "subject", "plain", "ts", "timestamp", "_messages",
                 "_tails")

    def __init__(self, topic, numbers: list, bodies: list, sets: list, subject, plain: bool, messages=None):
        self.topic = topic
        self.numbers = numbers    # the backend's message numbers (ids, signatures)
        self.bodies = bodies
        self.sets = sets          # AttributeSet per message
        self.subject = subject    # (plain batches: every message's)
        self.plain = plain
        self.ts = 0.0
        self.timestamp = ""
        self._messages = messages  # Message per row, once made
        self._tails = None

    @classmethod
    def of(cls, messages: list, plain: bool) -> "Batch":
        """A batch of Messages already made (and stamped, if they were)."""
        first = messages[0]
        batch = cls(first.topic, [m.n for m in messages], [m.body for m in messages], [m.aset for m in messages],
                    first.subject, plain, messages)
        batch.ts, batch.timestamp = first.ts, first.timestamp
        return batch

    def __len__(self) -> int:
        return len(self.numbers)

    def __iter__(self):
        return iter(self.messages())

    def __getitem__(self, i):
        return self.messages()[i]

    def messages(self) -> list:
        ms = self._messages
        if ms is None:   # a plain batch: no structure, group or deduplication id
            topic, subject, ts, timestamp = self.topic, self.subject, self.ts, self.timestamp
            ms = []
            for n, body, aset in zip(self.numbers, self.bodies, self.sets):
                m = Message(topic, body, subject, aset, None, None, None, n,
                            len(body.encode("utf-8", "surrogatepass")) + aset.size)
                m.ts, m.timestamp = ts, timestamp
                ms.append(m)
            self._messages = ms
        return ms

    def stamp(self, ts: float, timestamp: str) -> None:
        self.ts, self.timestamp = ts, timestamp
        for m in self._messages or ():
            m.ts, m.timestamp = ts, timestamp

    def has_attributes(self) -> bool:
        return self.sets.count(NO_ATTRIBUTES) != len(self.sets)

    def subset(self, rows: list) -> "Batch":
        """These rows of the batch (a subset keeps `plain`)."""
        ms = self._messages
        sub = Batch(self.topic, list(map(self.numbers.__getitem__, rows)), list(map(self.bodies.__getitem__, rows)),
                    list(map(self.sets.__getitem__, rows)), self.subject, self.plain,
                    None if ms is None else list(map(ms.__getitem__, rows)))
        sub.ts, sub.timestamp = self.ts, self.timestamp
        return sub

    def columns(self) -> tuple[list, list, list]:
        """(numbers, bodies, attribute tails as UTF-8): the per-message fields of the envelope."""
        tails = self._tails
        if tails is None:
            tails = self._tails = list(map(_TAIL_BYTES, self.sets))
        return self.numbers, self.bodies, tails


_TAIL_BYTES = operator.attrgetter("tail_bytes")
_SIZE = operator.attrgetter("size")


def validate_message_attributes(attributes: dict) -> tuple[dict, int]:
    """{name: (data_type, string_value, binary_value)} -> ({name: (data_type, value)}, bytes
    counted towards the message size). Raises ParameterValueInvalid as AWS does."""
    out = {}
    size = 0
    for name, (dt, sv, bv) in attributes.items():
        if bv is not None and not isinstance(bv, bytes):
            bv = bytes(bv)
        size += _validate_attribute(name, dt, sv, bv)
        out[name] = (dt, bv if bv is not None and dt.startswith("Binary") else sv)
    return out, size


def _validate_attribute(name: str, dt, sv, bv) -> int:
    if not name:
        raise ParameterValueInvalid("The message attribute name must not be empty.")
    if len(name.encode("utf-8", "surrogatepass")) > limits.SNS_ATTRIBUTE_NAME_MAX:
        raise ParameterValueInvalid("Length of message attribute name must be less than 256 bytes.")
    if not _ATTR_NAME_CHARS.issuperset(name) or name[0] == "." or name[-1] == "." or ".." in name:
        if name[0] == ".":
            raise ParameterValueInvalid("Invalid message attribute name starting with character '.' was found.")
        if name[-1] == ".":
            raise ParameterValueInvalid("Invalid message attribute name ending with character '.' was found.")
        for c in name:
            if c not in _ATTR_NAME_CHARS:
                raise ParameterValueInvalid(
                    f"Invalid non-alphanumeric character '#x{ord(c):X}' was found in the message attribute "
                    "name. Can only include alphanumeric characters, hyphens, underscores, or dots.")
        raise ParameterValueInvalid("Message attribute name can not have successive '.' character.")
    if not isinstance(dt, str) or not _ATTR_TYPE.fullmatch(dt) or not _encodable(dt):
        raise ParameterValueInvalid(
            f"The message attribute '{name}' has an invalid message attribute type, the set of supported type "
            "prefixes is Binary, Number, and String.")
    empty = (f"The message attribute '{name}' must contain non-empty message attribute value for message "
             f"attribute type '{dt}'.")
    if dt.startswith("Binary"):
        if bv is None:
            if sv is not None:
                raise ParameterValueInvalid(f"The message attribute '{name}' with type '{dt}' must use field "
                                            "'Binary'.")
            raise ParameterValueInvalid(empty)
        if not bv:
            raise ParameterValueInvalid(empty)
        vsize = len(bv)
    else:
        if sv is None:
            if bv is not None:
                raise ParameterValueInvalid(f"The message attribute '{name}' with type '{dt}' must use field "
                                            "'String'.")
            raise ParameterValueInvalid(empty)
        if sv == "":
            raise ParameterValueInvalid(empty)
        if dt.startswith("Number") and not _is_number(sv.strip()):
            raise ParameterValueInvalid(f"Could not cast message attribute '{name}' value to number.")
        if dt.startswith("String.Array"):
            try:
                items = jsontext.loads(sv)
            except jsontext.JsonSyntaxError:
                items = None
            if not isinstance(items, list) or any(isinstance(i, (list, dict)) for i in items):
                raise ParameterValueInvalid(
                    f"The message attribute '{name}' with type 'String.Array' must be a JSON array of strings, "
                    "numbers, true, false or null.")
        vsize = len(sv.encode("utf-8", "surrogatepass"))
    return len(name.encode("utf-8", "surrogatepass")) + len(dt.encode("utf-8")) + vsize


def _http_url(url: str) -> bool:
    """An URL an HTTP client can POST to: a host (IDNA-encodable), a port in 1-65535 if any, no
    blanks or control characters."""
    if not url.isprintable() or any(c.isspace() for c in url) or not _encodable(url):
        return False
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
        if not host:
            return False
        host.encode("idna")
    except (ValueError, UnicodeError):   # a bad port or IPv6 literal, an unencodable host
        return False
    return port is None or 0 < port <= 65535


def _parse_structure(body: str) -> dict:
    """A MessageStructure=json body -> {protocol: message}, with AWS's refusals."""
    try:
        doc = jsontext.loads(body)
    except jsontext.JsonSyntaxError:
        raise invalid("Message Structure - JSON message body failed to parse") from None
    if not isinstance(doc, dict):
        raise invalid("Message Structure - JSON message body failed to parse")
    parsed = {k: v for k, v in doc.items() if isinstance(v, str)}
    if "default" not in parsed:
        raise invalid("Message Structure - No default entry in JSON message body")
    return parsed


def _check_subject(subject: str) -> None:
    """Any UTF-8 text of 1 to 100 characters, starting with a visible character, without line
    breaks or control characters."""
    if len(subject) > limits.SNS_SUBJECT_MAX:
        raise InvalidParameter(f"Subject must be less than {limits.SNS_SUBJECT_MAX} characters")
    if not subject or not subject[0].strip() or _SUBJECT_BAD.search(subject) or not _encodable(subject):
        raise invalid("Subject")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:   # a lone surrogate: no UTF-8 form
        return False
    return True


def _is_number(text: str) -> bool:
    """AWS's Number: decimal notation, up to 38 significant digits, magnitude 10^-128 to 10^126."""
    if not _NUMBER.fullmatch(text):
        return False
    try:
        value = Decimal(text)
    except InvalidOperation:   # an exponent beyond what a Decimal holds
        return False
    if not value:
        return True
    digits = "".join(map(str, value.as_tuple().digits)).strip("0")
    return len(digits) <= limits.SNS_NUMBER_DIGITS_MAX and \
        limits.SNS_NUMBER_EXPONENT_MIN <= value.adjusted() <= limits.SNS_NUMBER_EXPONENT_MAX


def native_attributes(attributes) -> dict | None:
    """The native API's {name: (data_type, value)} (value str, or bytes-like for Binary) ->
    {name: (data_type, string_value, binary_value)}; wrong shapes are ParamValidationErrors."""
    if not attributes:
        if attributes is None or isinstance(attributes, dict):
            return None
    if not isinstance(attributes, dict):
        raise native.type_error("attributes", attributes, "<class 'dict'>")
    out = {}
    for name, pair in attributes.items():
        if not isinstance(name, str):
            raise native.type_error("attributes keys", name, "<class 'str'>")
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise native.type_error(f"attributes.{name}", pair, "a (data_type, value) pair")
        dt, value = pair
        if not isinstance(dt, str):
            raise native.type_error(f"attributes.{name}.data_type", dt, "<class 'str'>")
        if isinstance(value, str):
            out[name] = (dt, value, None)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            out[name] = (dt, None, bytes(value))
        else:
            raise native.type_error(f"attributes.{name}.value", value, "<class 'str'>, <class 'bytes'>")
    return out


def tag_map(pairs) -> dict:
    """[(key, value)] -> {key: value}; a key given twice is refused, as AWS does."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise invalid("Duplicated keys are not allowed.")
    return out


def _check_fifo_id(value: str, param: str) -> None:
    if not isinstance(value, str):
        raise native.type_error(param, value, "<class 'str'>")
    if not _FIFO_ID.fullmatch(value):
        raise invalid(f"{param} Reason: {param} can only include alphanumeric and punctuation characters. 1 to "
                      f"{limits.SNS_FIFO_ID_MAX} in length.")


# --- topics ------------------------------------------------------------------------------------------
def default_policy(arn: str, account: str) -> str:
    return json.dumps({
        "Version": "2008-10-17", "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                       "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic",
                       "SNS:Publish"],
            "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceOwner": account}}}]},
        separators=(",", ":"))


def _bool_text(name: str, value: str, prefix: str) -> str:
    low = value.lower() if isinstance(value, str) else ""
    if low not in ("true", "false"):
        raise InvalidParameter(f"{prefix}{name}: Invalid value [{value}]. Must be true or false.")
    return low


def _json_text(name: str, value: str, prefix: str):
    """The document in a JSON attribute value, or AWS's parse error."""
    try:
        return jsontext.parse(value)
    except jsontext.JsonSyntaxError as err:
        raise InvalidParameter(f"{prefix}{name}: failed to parse JSON. {err.describe()}") from None


def normalize_topic_attribute(name: str, value, fifo: bool, prefix: str = "Invalid parameter: "):
    """One settable topic attribute -> its canonical value ('' removes an optional one)."""
    if name not in TOPIC_SETTABLE:
        raise InvalidParameter(f"{prefix}AttributeName")
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    if name in FIFO_ONLY and not fifo:
        raise InvalidParameter(f"{prefix}{name}: {name} is only valid for FIFO topics")
    if name == "DisplayName":
        if len(value) > 100:
            raise InvalidParameter(f"{prefix}DisplayName: must be at most 100 characters")
    elif name == "Policy":
        if value:
            try:
                doc = jsontext.parse(value)
            except jsontext.JsonSyntaxError:
                doc = None
            if not isinstance(doc, dict):
                raise InvalidParameter(f"{prefix}Policy Error: null")
    elif name == "DeliveryPolicy":
        if value:
            doc = _json_text(name, value, prefix)
            try:
                delivery.check_topic_policy(doc)
            except delivery.PolicyError as err:
                raise InvalidParameter(f"{prefix}DeliveryPolicy: {err}") from None
    elif name == "TracingConfig":
        if value not in ("PassThrough", "Active"):
            raise InvalidParameter(f"{prefix}TracingConfig: Invalid value [{value}]. Must be PassThrough or Active.")
    elif name == "SignatureVersion":
        if value not in ("1", "2"):
            raise InvalidParameter(f"{prefix}SignatureVersion: Invalid value [{value}]. Must be 1 or 2.")
    elif name == "ContentBasedDeduplication":
        value = _bool_text(name, value, prefix)
    elif name == "FifoThroughputScope":
        if value not in ("Topic", "MessageGroup"):
            raise InvalidParameter(f"{prefix}FifoThroughputScope: Invalid value [{value}]. Must be Topic or "
                                   "MessageGroup.")
    elif name == "ArchivePolicy":
        if value:
            _json_text(name, value, prefix)
    elif name == "DataProtectionPolicy":
        if value:
            check_data_protection_policy(value, prefix)
    elif name.endswith("SampleRate"):
        if not value.isascii() or not value.isdigit() or len(value) > 3 or not 0 <= int(value) <= 100:
            raise InvalidParameter(f"{prefix}{name}: must be an integer between 0 and 100")
    return value


def check_data_protection_policy(text: str, prefix: str = "Invalid parameter: ") -> None:
    """A data protection policy document: Name, Version 2021-06-01 and Statements, each naming its
    DataDirection, Principal, DataIdentifier ARNs and one Operation (Audit, Deny or Deidentify)."""
    doc = _json_text("DataProtectionPolicy", text, prefix)

    def refuse(reason: str):
        return InvalidParameter(f"{prefix}DataProtectionPolicy Reason: {reason}")

    if not isinstance(doc, dict):
        raise refuse("the policy must be a JSON object")
    if not isinstance(doc.get("Name"), str) or not doc["Name"]:
        raise refuse("Name is required")
    if doc.get("Version") != DATA_PROTECTION_VERSION:
        raise refuse(f"Version must be {DATA_PROTECTION_VERSION}")
    statements = doc.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise refuse("Statement must be a non-empty list")
    for st in statements:
        if not isinstance(st, dict):
            raise refuse("a Statement must be a JSON object")
        if st.get("DataDirection") not in ("Inbound", "Outbound"):
            raise refuse("DataDirection must be Inbound or Outbound")
        principal = st.get("Principal")
        if not isinstance(principal, list) or not principal or not all(isinstance(p, str) for p in principal):
            raise refuse("Principal must be a non-empty list of strings")
        identifiers = st.get("DataIdentifier")
        if not isinstance(identifiers, list) or not identifiers or \
                not all(isinstance(i, str) and parse_arn(i) is not None for i in identifiers):
            raise refuse("DataIdentifier must be a non-empty list of data identifier ARNs")
        operation = st.get("Operation")
        if not isinstance(operation, dict) or len(operation) != 1 or \
                next(iter(operation)) not in DATA_PROTECTION_OPERATIONS:
            raise refuse("Operation must name exactly one of Audit, Deny or Deidentify")
    audits = [st["Operation"]["Audit"] for st in statements if "Audit" in st["Operation"]]
    if len(audits) > 1:
        raise refuse("a policy can have only one Audit statement")
    for audit in audits:
        rate = audit.get("SampleRate", "0") if isinstance(audit, dict) else None
        if not isinstance(rate, str) or not (rate.isascii() and rate.isdigit() and
                                             int(rate) <= limits.SNS_AUDIT_SAMPLE_RATE_MAX):
            raise refuse(f"Audit SampleRate must be an integer from 0 to {limits.SNS_AUDIT_SAMPLE_RATE_MAX}")


def _statement_list(policy: dict) -> list:
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        return [statements]
    return statements if isinstance(statements, list) else []


class Topic:
    """A standard or FIFO topic."""

    def __init__(self, backend: "SNSBackend", name: str, fifo: bool, attributes: dict, tags: dict):
        self.backend = backend
        self.name = name
        self.fifo = fifo
        self.arn = sns_topic_arn(backend.region, backend.account_id, name)
        self.lock = threading.RLock()
        self.attributes: dict[str, str] = {"DisplayName": "", "Policy": default_policy(self.arn, backend.account_id)}
        if fifo:
            self.attributes["ContentBasedDeduplication"] = "false"
        self.tags: dict[str, str] = dict(tags)
        self.key = next(backend.keys)            # creation order: ListTopics pages by it
        self.subscriptions: dict[str, Subscription] = {}
        self.by_endpoint: dict[tuple, Subscription] = {}   # (protocol, endpoint): Subscribe is idempotent
        self.roster = Slots("topic_slot")        # every subscription, in creation order
        self.active = Slots("active_slot")       # the confirmed ones: what a publish fans out to
        self.pending_count = 0
        self.filter_count = 0                    # subscriptions with a filter policy (a per-topic quota)
        self.deleted_count = 0
        self.deleted = False
        self.content_dedup = False
        self.signature_version = "1"
        self.delivery_doc = None
        self.delivery_version = 0
        self._dedup: dict = {}
        self._dedup_log: deque = deque()
        self.next_seq = 10**19 + int(backend.clock.now()) * 1000   # FIFO: the next sequence number
        self.seq_reserved = 0    # durable engines: the topic's file covers the numbers below this
        for key, value in attributes.items():
            self._apply(key, value)

    def _apply(self, name: str, value: str) -> None:
        if value == "" and name not in ("DisplayName", "Policy"):
            self.attributes.pop(name, None)
        elif name == "Policy" and value == "":
            self.attributes["Policy"] = default_policy(self.arn, self.backend.account_id)
        else:
            self.attributes[name] = value
        if name == "ContentBasedDeduplication":
            self.content_dedup = value == "true"
        elif name == "SignatureVersion":
            self.signature_version = value or "1"
        elif name == "DeliveryPolicy":
            self.delivery_doc = jsontext.parse(value) if value else None
            self.delivery_version += 1

    def get_attributes(self) -> dict[str, str]:
        with self.lock:
            out = {
                "Policy": self.attributes["Policy"],
                "Owner": self.backend.account_id,
                "SubscriptionsPending": str(self.pending_count),
                "TopicArn": self.arn,
                "EffectiveDeliveryPolicy": self.effective_delivery_policy(),
                "SubscriptionsConfirmed": str(len(self.active)),
                "DisplayName": self.attributes["DisplayName"],
                "SubscriptionsDeleted": str(self.deleted_count),
            }
            for key, value in self.attributes.items():
                out.setdefault(key, value)
            if self.fifo:
                out["FifoTopic"] = "true"
        return out

    def effective_delivery_policy(self) -> str:
        http = {"defaultHealthyRetryPolicy": dict(delivery.DEFAULT_HTTP_RETRY), "disableSubscriptionOverrides": False,
                "defaultRequestPolicy": {"headerContentType": delivery.DEFAULT_CONTENT_TYPE}}
        doc = {"http": http}
        if self.delivery_doc:
            for proto, section in self.delivery_doc.items():
                merged = dict(http) if proto in ("http", "https") else {}
                merged.update(section)
                doc[proto] = merged
        return json.dumps(doc, separators=(",", ":"))

    # --- access policy -------------------------------------------------------------------------------
    def add_permission(self, label: str, account_ids: list, actions: list) -> None:
        """AddPermission: a statement `label` allowing these accounts these SNS actions on the topic."""
        native.text("Label", label)
        account_ids = native.text_list("AWSAccountId", account_ids)
        actions = native.text_list("ActionName", actions)
        if not label or len(label) > limits.SNS_PERMISSION_LABEL_MAX or not _LABEL.fullmatch(label):
            raise invalid("Label Reason: must be 1 to 80 alphanumeric characters, hyphens or underscores")
        if not account_ids:
            raise invalid("AWSAccountId Reason: at least one account id is required")
        for account in account_ids:
            if not _ACCOUNT_ID.fullmatch(account):
                raise invalid(f"AWSAccountId Reason: {account} is not a valid account id")
        if not actions:
            raise invalid("ActionName Reason: at least one action is required")
        if any(action not in POLICY_ACTIONS for action in actions):
            raise invalid("Policy statement action out of service scope!")
        principals = [f"arn:aws:iam::{a}:root" for a in account_ids]
        names = [f"SNS:{a}" for a in actions]
        statement = {"Sid": label, "Effect": "Allow",
                     "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                     "Action": names[0] if len(names) == 1 else names, "Resource": self.arn}
        with self.lock:
            policy = json.loads(self.attributes["Policy"])
            statements = _statement_list(policy)
            if any(isinstance(st, dict) and st.get("Sid") == label for st in statements):
                raise invalid("Statement already exists")
            policy["Statement"] = statements + [statement]
            self.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
            self.backend._save(self)

    def remove_permission(self, label: str) -> None:
        """RemovePermission: drop the statement `label` (none by that label: nothing to do)."""
        native.text("Label", label)
        with self.lock:
            policy = json.loads(self.attributes["Policy"])
            statements = _statement_list(policy)
            kept = [st for st in statements if not (isinstance(st, dict) and st.get("Sid") == label)]
            if len(kept) != len(statements):
                policy["Statement"] = kept
                self.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
                self.backend._save(self)

    def put_data_protection_policy(self, text: str) -> None:
        """PutDataProtectionPolicy (the topic's DataProtectionPolicy attribute; '' removes it)."""
        self.backend.set_topic_attribute(self, "DataProtectionPolicy", native.text("DataProtectionPolicy", text))

    @property
    def data_protection_policy(self) -> str:
        return self.attributes.get("DataProtectionPolicy", "")

    # --- native publishing API ----------------------------------------------------------------------
    def publish(self, body: str, *, subject=None, attributes=None, structure=None, group=None, dedup=None) -> Message:
        """Publish one message. `attributes`: {name: (data_type, value)} with value str or bytes."""
        aset = attribute_set(native_attributes(attributes))
        batch = self.backend.prepare_many(self, [body], [aset], subject=subject, structure=structure, group=group,
                                          dedup=dedup)
        return self.backend.publish_prepared(self, batch)[0]

    def publish_many(self, bodies, *, attributes=None, subject=None, group=None) -> Batch:
        """Publish many messages in one fan-out (each subscription receives them as one batch).
        `attributes` is one map for all, or a list of maps (one per body), as in `publish`.
        Returns the messages (a Batch: a sequence of Message)."""
        backend = self.backend
        if bodies.__class__ is not list:
            if isinstance(bodies, (str, bytes, dict)) or not hasattr(bodies, "__iter__"):
                raise native.type_error("bodies", bodies, "a list of <class 'str'>")
            bodies = list(bodies)
        if isinstance(attributes, list):   # one map per body
            if len(attributes) != len(bodies):
                raise ParamValidationError(f"Invalid length for parameter attributes: {len(attributes)} maps for "
                                           f"{len(bodies)} bodies")
            # Bulk publishers repeat a few attribute maps: one equal to a map resolved lately is
            # not resolved again (an equality test is cheaper than hashing the map's items; maps
            # that compare equal resolve alike, bytes and bytearray values included).
            sets = _core.map_recent(_resolve_attributes, attributes, _RECENT_ATTRIBUTE_MAPS)
        else:
            sets = [attribute_set(native_attributes(attributes))] * len(bodies)
        return backend.publish_prepared(self, backend.prepare_many(self, bodies, sets, subject=subject, group=group))


# --- subscriptions -----------------------------------------------------------------------------------
class Subscription:
    def __init__(self, backend: "SNSBackend", topic: Topic, protocol: str, endpoint: str):
        self.backend = backend
        self.topic = topic
        self.protocol = protocol
        self.endpoint = endpoint
        self.arn = f"{topic.arn}:{uuid.uuid4()}"
        self.owner = backend.account_id
        self.key = next(backend.keys)            # creation order: the List* calls page by it
        self.principal = backend.principal
        self.topic_slot = self.active_slot = self.account_slot = None   # positions in the Slots holding it
        self.pending = protocol in NEEDS_CONFIRMATION
        self.authenticated = not self.pending
        self.auth_on_unsubscribe = False
        self.unsubscribed = False
        self.attributes: dict[str, str] = {}
        self.raw = False
        self.scope = filters.MESSAGE_ATTRIBUTES
        self.policy = None                 # parsed FilterPolicy
        self.filter = None                 # (match, body_scope) or None
        self.dlq_arn = None
        self.delivery_doc = None
        self._http_policy = (None, None)
        self.unsubscribe_url = f"{backend.base_url}/?Action=Unsubscribe&SubscriptionArn={self.arn}"
        self.content_key = protocol
        if protocol == "application":
            resource = (parse_arn(endpoint) or {}).get("resource", "")
            parts = resource.split("/")
            self.content_key = parts[1] if len(parts) > 2 else "default"
        self.target = delivery.make_target(self, backend.dispatcher)

    @property
    def deleted(self) -> bool:
        return self.unsubscribed or self.topic.deleted

    def apply(self, name: str, value: str, parsed=None) -> None:
        """Apply a validated attribute (`parsed`: the parsed FilterPolicy, for FilterPolicy/Scope)."""
        if value == "" and name != "FilterPolicy":
            self.attributes.pop(name, None)
        else:
            self.attributes[name] = value
        if name == "RawMessageDelivery":
            self.raw = value == "true"
        elif name in ("FilterPolicy", "FilterPolicyScope"):
            if name == "FilterPolicy":
                self.topic.filter_count += (parsed is not None) - (self.policy is not None)
                self.policy = parsed
                if parsed is None:
                    self.attributes.pop("FilterPolicy", None)
            else:
                self.scope = value or filters.MESSAGE_ATTRIBUTES
            match = filters.compile_policy(self.policy)
            self.filter = (match, self.scope == filters.MESSAGE_BODY) if match is not None else None
        elif name == "RedrivePolicy":
            self.dlq_arn = jsontext.parse(value)["deadLetterTargetArn"] if value else None
        elif name == "DeliveryPolicy":
            self.delivery_doc = jsontext.parse(value) if value else None

    def http_policy(self) -> delivery.HttpPolicy:
        key = (self.topic.delivery_version, id(self.delivery_doc))
        cached_key, policy = self._http_policy
        if cached_key != key:
            policy = delivery.effective_http_policy(self.protocol, self.topic.delivery_doc, self.delivery_doc)
            self._http_policy = (key, policy)
        return policy

    def get_attributes(self) -> dict[str, str]:
        out = {
            "ConfirmationWasAuthenticated": "true" if self.authenticated else "false",
            "Owner": self.owner,
            "PendingConfirmation": "true" if self.pending else "false",
            "RawMessageDelivery": "true" if self.raw else "false",
            "SubscriptionArn": self.arn,
            "TopicArn": self.topic.arn,
            "Endpoint": self.endpoint,
            "Protocol": self.protocol,
            "SubscriptionPrincipal": self.principal,
        }
        for key, value in self.attributes.items():
            if key != "RawMessageDelivery":
                out[key] = value
        if "FilterPolicy" in out:
            out["FilterPolicyScope"] = self.scope
        else:
            out.pop("FilterPolicyScope", None)
        if self.protocol in ("http", "https"):
            out["EffectiveDeliveryPolicy"] = delivery.effective_policy_json(self.protocol, self.topic.delivery_doc,
                                                                             self.delivery_doc)
        return out


class _Token:
    __slots__ = ("kind", "topic_arn", "sub_arn", "spec", "expires")

    def __init__(self, kind, topic_arn, sub_arn, spec, expires):
        self.kind = kind            # "confirm" | "resubscribe"
        self.topic_arn = topic_arn
        self.sub_arn = sub_arn
        self.spec = spec            # resubscribe: (protocol, endpoint, attributes)
        self.expires = expires


# --- backend -----------------------------------------------------------------------------------------
class SNSBackend:
    """All topics and subscriptions of one account in one region."""

    def __init__(self, engine, region: str):
        self.engine = engine
        self.region = region
        self.account_id = engine.account_id
        self.clock = engine.clock
        self._lock = threading.RLock()
        self.principal = f"arn:aws:iam::{self.account_id}:user/{CALLER_NAME}"
        self.keys = itertools.count(1)           # creation order of topics and subscriptions
        self.topics: dict[str, Topic] = {}
        self.topic_roster = Slots("topic_slot")
        self.topic_counts = {False: 0, True: 0}  # standard and FIFO topics (per-account quotas)
        # Subscriptions of a deleted topic leave these lazily (deleting a topic is O(1)).
        self.subscriptions: dict[str, Subscription] = {}
        self.roster = Slots("account_slot", alive=lambda sub: not sub.topic.deleted,
                            dropped=lambda sub: self.subscriptions.pop(sub.arn, None))
        self._tokens: dict[str, _Token] = {}
        self._token_expiry: deque = deque()     # (expiry, token) in issue order
        self._gate = threading.Lock()           # guards the count of publishes under way and `closed`
        self._drained = threading.Condition(self._gate)   # close waits on it for that count to reach 0
        self._inflight = 0
        self.closed = False
        self.base_url = f"https://sns.{region}.amazonaws.com"
        self.cert_url = (f"{self.base_url}/SimpleNotificationService-"
                         f"{hashlib.md5(region.encode()).hexdigest()}.pem")
        self.id_prefix = _id_prefix()          # message ids: this prefix and a 12-digit hex counter
        self._ids = itertools.count(1)
        self._signature_seed = int.from_bytes(os.urandom(8), "little")
        # Durable engines keep topics, subscriptions, tokens, applications, SMS settings and the
        # deliveries under way on disk (engine/sns/store.py).
        self.store = None
        root, self._root_lock = region_root(engine, "sns", region)
        if root is None:
            self.dispatcher = delivery.Dispatcher(self)
            self.mobile = MobilePush(self)
            self.sms = TextMessaging(self)
        else:
            from .store import DurableDispatcher, DurableMobilePush, DurableTextMessaging, SnsStore
            self.store = SnsStore(root, engine.durability)
            self.dispatcher = DurableDispatcher(self, self.store.journal)
            self.mobile = DurableMobilePush(self)
            self.sms = DurableTextMessaging(self)
            self.store.restore(self)
            self.dispatcher.restore(self)

    def _save(self, topic: Topic) -> None:
        """Rewrite a topic's file after a change to it (durable engines)."""
        if self.store is not None:
            self.store.save_topic(topic)

    def _save_sub(self, sub: Subscription) -> None:
        """Rewrite a subscription's file after a change to it (durable engines)."""
        if self.store is not None:
            self.store.save_subscription(sub)

    def new_message_id(self) -> str:
        return f"{self.id_prefix}{next(self._ids):012x}"

    def signature_seed(self, version: str) -> int:
        """The seed of the placeholder signatures of one SignatureVersion."""
        return self._signature_seed ^ int(version)   # validated: "1" or "2"

    # --- lookups ------------------------------------------------------------------------------------
    def _parse_topic_arn(self, arn, param: str = "TopicArn"):
        info = parse_arn(arn) if isinstance(arn, str) else None
        if info is None:
            count = len(arn.split(":")) if isinstance(arn, str) else 0
            raise invalid(f"{param} Reason: An ARN must have at least 6 elements, not {count}")
        if info["service"] != "sns" or info["region"] != self.region or ":" in info["resource"]:
            raise invalid(param)
        return info

    def get_topic(self, arn, param: str = "TopicArn") -> Topic:
        topic = self.topics.get(arn)
        if topic is not None:
            return topic
        self._parse_topic_arn(arn, param)
        raise topic_not_found()

    @staticmethod
    def _check_subscription_arn(arn) -> None:
        """AWS's refusals of a subscription ARN that cannot name one (recorded from Unsubscribe)."""
        info = parse_arn(arn) if isinstance(arn, str) else None
        if info is None:
            count = len(arn.split(":")) if isinstance(arn, str) else 0
            raise invalid(f"SubscriptionArn Reason: An ARN must have at least 6 elements, not {count}")
        if ":" not in info["resource"]:
            raise invalid("SubscriptionId")

    def get_subscription(self, arn) -> Subscription:
        sub = self.subscriptions.get(arn)
        if sub is None or sub.topic.deleted:
            self._check_subscription_arn(arn)
            raise subscription_not_found()
        return sub

    # --- topics -------------------------------------------------------------------------------------
    def create_topic(self, name: str, attributes: dict | None = None, tags: list | None = None) -> Topic:
        """`tags`: [(key, value)] (a key given twice is refused)."""
        native.text("Name", name)
        attributes = dict(native.text_map("Attributes", attributes or {}))
        tags = native.pairs("Tags", tags or [])
        flag = attributes.pop("FifoTopic", None)
        fifo = False
        if flag is not None:
            fifo = _bool_text("FifoTopic", flag, "Invalid parameter: Attributes Reason: ") == "true"
        if fifo:
            if not _FIFO_TOPIC_NAME.fullmatch(name):
                raise InvalidParameter(
                    "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII "
                    "letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.")
        elif not _TOPIC_NAME.fullmatch(name):
            raise invalid("Topic Name")
        attrs = {key: normalize_topic_attribute(key, value, fifo, "Invalid parameter: Attributes Reason: ")
                 for key, value in attributes.items()}
        tags = tag_map(tags or [])
        self._check_tags(tags, {})
        arn = sns_topic_arn(self.region, self.account_id, name)
        with self._lock:
            existing = self.topics.get(arn)
            if existing is not None:
                for key, value in attrs.items():
                    if existing.attributes.get(key, "") != value:
                        raise invalid("Attributes Reason: Topic already exists with different attributes")
                for key, value in tags.items():
                    if existing.tags.get(key) != value:
                        raise invalid("Tags Reason: Topic already exists with different tags")
                return existing
            if self.topic_counts[fifo] >= (limits.SNS_FIFO_TOPICS_MAX if fifo else limits.SNS_TOPICS_MAX):
                raise TopicLimitExceeded("Topic limit exceeded")
            topic = Topic(self, name, fifo, attrs, tags)
            self.topics[arn] = topic
            self.topic_roster.append(topic, topic.key)
            self.topic_counts[fifo] += 1
        self._save(topic)
        return topic

    def delete_topic(self, arn: str) -> None:
        # lock order is topic.lock -> self._lock (subscribe); never hold them the other way round
        with self._lock:
            topic = self.topics.pop(arn, None)
            if topic is not None:
                self.topic_roster.remove(topic)
                self.topic_counts[topic.fifo] -= 1
        if topic is None:
            self._parse_topic_arn(arn)
            return  # deleting a topic that does not exist succeeds
        with topic.lock:
            topic.deleted = True   # its subscriptions read as deleted from now on
            count = len(topic.roster)
            if self.store is not None:
                self.store.remove_topic(topic)
        with self._lock:
            self.roster.forget(count)

    def list_topics(self, next_token: str | None = None) -> tuple[list[Topic], str | None]:
        after = page_key(next_token)
        with self._lock:
            page, last = self.topic_roster.page(after, limits.SNS_LIST_PAGE)
        return page, page_token(last) if last is not None else None

    def set_topic_attribute(self, topic: Topic, name: str, value) -> None:
        if name == "FifoTopic":
            raise invalid("AttributeName")
        canonical = normalize_topic_attribute(name, value, topic.fifo)
        with topic.lock:
            topic._apply(name, canonical)
            self._save(topic)

    # --- tags ------------------------------------------------------------------------------------------
    def _resource(self, arn) -> Topic:
        topic = self.topics.get(arn)
        if topic is None:
            if not isinstance(arn, str) or parse_arn(arn) is None:
                raise invalid("ResourceArn")
            raise ResourceNotFound("Resource does not exist")
        return topic

    @staticmethod
    def _check_tags(new: dict, existing: dict) -> None:
        for key, value in new.items():
            if not 1 <= len(key) <= limits.SNS_TAG_KEY_MAX:
                raise invalid(f"Tags Reason: Tag key must be between 1 and {limits.SNS_TAG_KEY_MAX} characters")
            if len(value) > limits.SNS_TAG_VALUE_MAX:
                raise invalid(f"Tags Reason: Tag value must be at most {limits.SNS_TAG_VALUE_MAX} characters")
        if len(set(existing) | set(new)) > limits.SNS_TAGS_MAX:
            raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")

    def tag_resource(self, arn: str, tags: list) -> None:
        """`tags`: [(key, value)] (a key given twice is refused)."""
        tags = tag_map(native.pairs("Tags", tags))
        topic = self._resource(arn)
        with topic.lock:
            self._check_tags(tags, topic.tags)
            topic.tags.update(tags)
            self._save(topic)

    def untag_resource(self, arn: str, keys: list) -> None:
        keys = native.text_list("TagKeys", keys)
        topic = self._resource(arn)
        with topic.lock:
            for key in keys:
                topic.tags.pop(key, None)
            self._save(topic)

    def list_tags(self, arn: str) -> dict:
        return dict(self._resource(arn).tags)

    # --- subscriptions ----------------------------------------------------------------------------------
    def _check_endpoint(self, topic: Topic, protocol: str, endpoint) -> None:
        if protocol not in PROTOCOLS:
            raise invalid(f"Amazon SNS does not support this protocol string: {protocol}")
        if not endpoint:
            raise invalid("Endpoint")
        if protocol in ("http", "https"):
            if not endpoint.lower().startswith(f"{protocol}://"):
                raise invalid("Endpoint must match the specified protocol")
            if not _http_url(endpoint):
                raise invalid("Endpoint")
        elif protocol in ("email", "email-json"):
            local, _, domain = endpoint.partition("@")
            if not local or "." not in domain or any(c.isspace() for c in endpoint):
                raise invalid("Email address")
        elif protocol == "sms":
            if not E164.fullmatch(re.sub(r"[\s().-]", "", endpoint)):
                raise InvalidParameter(f"Invalid SMS endpoint: {endpoint}")
        else:
            info = parse_arn(endpoint)
            resource = info["resource"] if info else ""
            if protocol == "sqs":
                if info is None or info["service"] != "sqs" or not _QUEUE_NAME.fullmatch(resource):
                    raise invalid("SQS endpoint ARN")
            elif protocol == "lambda":
                if info is None or info["service"] != "lambda" or not resource.startswith("function:"):
                    raise invalid("Lambda endpoint ARN")
            elif protocol == "firehose":
                if info is None or info["service"] != "firehose" or not resource.startswith("deliverystream/"):
                    raise invalid("Firehose endpoint ARN")
            elif protocol == "application":
                parts = resource.split("/")
                if info is None or info["service"] != "sns" or parts[0] != "endpoint" or len(parts) != 4:
                    raise invalid("ApplicationEndpoint ARN")
                if endpoint not in self.mobile.endpoints:   # AWS's text, without a space before the ARN
                    raise invalid(f"Endpoint Reason: Endpoint does not exist for endpoint arn{endpoint}")
        if protocol == "sqs" and endpoint.endswith(".fifo") and not topic.fifo:
            # AWS's text, prefixed twice (recorded from AWS)
            raise invalid("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS "
                          "topics")
        if topic.fifo and protocol != "sqs":   # FIFO topics deliver to FIFO and (since 2025) standard queues
            raise invalid("Endpoint Reason: Please use FIFO SQS queue")

    def _normalize_sub_attribute(self, topic: Topic, protocol: str, endpoint: str, name: str, value, scope: str,
                                 subscribe: bool):
        """-> (canonical value, parsed filter policy or None)."""
        prefix = "Invalid parameter: Attributes Reason: " if subscribe else "Invalid parameter: "
        if name not in SUBSCRIPTION_SETTABLE:
            raise InvalidParameter(f"{prefix}AttributeName")
        if not isinstance(value, str):
            value = "" if value is None else str(value)
        if name == "RawMessageDelivery":
            value = _bool_text(name, value, prefix)
            if protocol not in RAW_PROTOCOLS:
                raise InvalidParameter(f"{prefix}Delivery protocol [{protocol}] does not support raw message "
                                       "delivery.")
        elif name == "FilterPolicyScope":
            if value not in filters.SCOPES:
                raise InvalidParameter(f"{prefix}FilterPolicyScope: Invalid value [{value}]. Please use either "
                                       "MessageBody or MessageAttributes")
        elif name == "FilterPolicy":
            return value, filters.parse_policy(value, scope, subscribe=subscribe)
        elif name == "RedrivePolicy":
            if value:
                doc = _json_text(name, value, prefix)
                target = doc.get("deadLetterTargetArn") if isinstance(doc, dict) else None
                info = parse_arn(target) if isinstance(target, str) else None
                if info is None or info["service"] != "sqs" or not _QUEUE_NAME.fullmatch(info["resource"]):
                    raise InvalidParameter(f"{prefix}RedrivePolicy: deadLetterTargetArn is an invalid arn")
                fifo_subscription = topic.fifo and protocol == "sqs" and endpoint.endswith(".fifo")
                if fifo_subscription != info["resource"].endswith(".fifo"):
                    if fifo_subscription:
                        raise InvalidParameter(f"{prefix}RedrivePolicy: must use a FIFO queue as DLQ for a FIFO "
                                               "Subscription to a FIFO Topic.")
                    raise InvalidParameter(f"{prefix}RedrivePolicy: must use a standard queue as DLQ for a "
                                           "subscription to a standard topic.")
        elif name == "DeliveryPolicy":
            if value:
                doc = _json_text(name, value, prefix)
                try:
                    delivery.check_subscription_policy(doc)
                except delivery.PolicyError as err:
                    raise InvalidParameter(f"{prefix}DeliveryPolicy: {err}") from None
        elif name == "SubscriptionRoleArn":
            if value and parse_arn(value) is None:
                raise InvalidParameter(f"{prefix}SubscriptionRoleArn")
        elif name == "ReplayPolicy":
            raise InvalidParameter(f"{prefix}ReplayPolicy: message replay is not supported by this engine")
        return value, None

    def _normalize_sub_attributes(self, topic, protocol, endpoint, attributes: dict, scope: str) -> list:
        scope = attributes.get("FilterPolicyScope", scope)
        out = []
        for name in sorted(attributes, key=lambda n: n != "FilterPolicyScope"):  # scope first
            value, parsed = self._normalize_sub_attribute(topic, protocol, endpoint, name, attributes[name], scope,
                                                          True)
            out.append((name, value, parsed))
        return out

    def subscribe(self, topic_arn: str, protocol: str, endpoint, attributes: dict | None = None) -> Subscription:
        topic = self.get_topic(topic_arn)
        self._check_endpoint(topic, protocol, endpoint)
        normalized = self._normalize_sub_attributes(topic, protocol, endpoint, attributes or {},
                                                    filters.MESSAGE_ATTRIBUTES)
        with topic.lock:
            if topic.deleted:
                raise topic_not_found()
            sub = topic.by_endpoint.get((protocol, endpoint))
            if sub is not None:
                current = sub.get_attributes()
                for name, value, _ in normalized:
                    if current.get(name, "") != value and not (name == "FilterPolicyScope" and
                                                               value == filters.MESSAGE_ATTRIBUTES and
                                                               "FilterPolicy" not in current):
                        raise invalid("Attributes Reason: Subscription already exists with different attributes")
                return sub
            if topic.fifo and len(topic.roster) >= limits.SNS_FIFO_SUBSCRIPTIONS_MAX:
                raise SubscriptionLimitExceeded("Subscription limit exceeded")
            if any(n == "FilterPolicy" and p is not None for n, _, p in normalized):
                self._check_filter_quota(topic)
            sub = Subscription(self, topic, protocol, endpoint)
            for name, value, parsed in normalized:
                sub.apply(name, value, parsed)
            self._register(sub)
        token = self._new_token("confirm", topic, sub.arn) if sub.pending else None
        self._save_sub(sub)
        if token is not None:
            self._send_confirmation(sub, "SubscriptionConfirmation", token)
        return sub

    def _register(self, sub: Subscription) -> None:
        """Make a new subscription known everywhere (with its topic's lock held)."""
        topic = sub.topic
        topic.subscriptions[sub.arn] = sub
        topic.by_endpoint[(sub.protocol, sub.endpoint)] = sub
        topic.roster.append(sub, sub.key)
        if sub.pending:
            topic.pending_count += 1
        else:
            topic.active.append(sub, sub.key)
        with self._lock:
            self.subscriptions[sub.arn] = sub
            self.roster.append(sub, sub.key)

    @staticmethod
    def _check_filter_quota(topic: Topic) -> None:
        if topic.filter_count >= limits.SNS_FILTER_POLICIES_PER_TOPIC_MAX:
            raise FilterPolicyLimitExceeded("Filter policy limit exceeded")

    def _new_token(self, kind: str, topic: Topic, sub_arn=None, spec=None) -> str:
        token = os.urandom(144).hex()  # AWS tokens are long hex strings
        with self._lock:
            now = self.clock.now()
            expiry = self._token_expiry
            while expiry and expiry[0][0] <= now:   # tokens expire in issue order
                self._tokens.pop(expiry.popleft()[1], None)
            expires = now + limits.SNS_CONFIRM_TOKEN_TTL_S
            self._tokens[token] = _Token(kind, topic.arn, sub_arn, spec, expires)
            expiry.append((expires, token))
        return token

    def _send_confirmation(self, sub: Subscription, kind: str, token: str) -> None:
        topic = sub.topic
        url = f"{self.base_url}/?Action=ConfirmSubscription&TopicArn={topic.arn}&Token={token}"
        if kind == "SubscriptionConfirmation":
            text = (f"You have chosen to subscribe to the topic {topic.arn}.\n"
                    "To confirm the subscription, visit the SubscribeURL included in this message.")
        else:
            text = (f"You have chosen to deactivate subscription {sub.arn}.\n"
                    "To cancel this operation and restore the subscription, visit the SubscribeURL included in this "
                    "message.")
        sub.target.confirm(kind, token, text, url)

    def confirm_subscription(self, topic_arn: str, token: str, authenticate_on_unsubscribe: str | None = None,
                             *, authenticated: bool = True) -> Subscription:
        """`authenticate_on_unsubscribe`: "true" (any case) makes Unsubscribe need authentication."""
        topic = self.get_topic(topic_arn)
        with self._lock:
            rec = self._tokens.get(token)
            if rec is None or rec.topic_arn != topic.arn or rec.expires <= self.clock.now():
                raise invalid("Token")
        if rec.kind == "resubscribe":
            protocol, endpoint, attributes = rec.spec
            with topic.lock:
                sub = topic.by_endpoint.get((protocol, endpoint))
                if sub is not None:
                    return sub
                sub = Subscription(self, topic, protocol, endpoint)
                scope = attributes.get("FilterPolicyScope", filters.MESSAGE_ATTRIBUTES)
                for name, value in attributes.items():
                    parsed = filters.parse_policy(value, scope, subscribe=False) if name == "FilterPolicy" else None
                    sub.apply(name, value, parsed)
                sub.pending = False
                sub.authenticated = authenticated
                self._register(sub)
                self._save_sub(sub)
            return sub
        sub = self.subscriptions.get(rec.sub_arn)
        if sub is None or sub.deleted:
            raise invalid("Token")
        with topic.lock:
            if sub.pending:
                sub.pending = False
                sub.authenticated = authenticated
                sub.auth_on_unsubscribe = (authenticate_on_unsubscribe or "").lower() == "true"
                topic.pending_count -= 1
                topic.active.append(sub, sub.key)
                self._save_sub(sub)
        return sub

    def unsubscribe(self, arn: str) -> None:
        self._check_subscription_arn(arn)
        with self._lock:
            sub = self.subscriptions.pop(arn, None)
            if sub is not None and not sub.topic.deleted:
                self.roster.remove(sub)
        if sub is None or sub.topic.deleted:
            return  # idempotent
        topic = sub.topic
        with topic.lock:
            sub.unsubscribed = True
            del topic.subscriptions[arn]
            del topic.by_endpoint[(sub.protocol, sub.endpoint)]
            topic.roster.remove(sub)
            if sub.pending:
                topic.pending_count -= 1
            else:
                topic.active.remove(sub)
            if sub.policy is not None:
                topic.filter_count -= 1
            topic.deleted_count += 1
        token = None
        if sub.protocol in ("http", "https") and not topic.deleted:
            token = self._new_token("resubscribe", topic, arn, (sub.protocol, sub.endpoint, dict(sub.attributes)))
        if self.store is not None:
            self.store.remove_subscription(sub)
        self._save(topic)    # its deleted count and the resubscribe token
        if token is not None:
            self._send_confirmation(sub, "UnsubscribeConfirmation", token)

    def list_subscriptions(self, topic: Topic | None = None, next_token: str | None = None):
        """One page of subscriptions (of a topic, or of the account) in creation order."""
        after = page_key(next_token)
        if topic is not None:
            with topic.lock:
                page, last = topic.roster.page(after, limits.SNS_LIST_PAGE)
        else:
            with self._lock:
                page, last = self.roster.page(after, limits.SNS_LIST_PAGE)
        return page, page_token(last) if last is not None else None

    def set_subscription_attribute(self, sub: Subscription, name: str, value) -> None:
        topic = sub.topic
        with topic.lock:
            scope = value if name == "FilterPolicyScope" else sub.scope
            canonical, parsed = self._normalize_sub_attribute(topic, sub.protocol, sub.endpoint, name, value, scope,
                                                              False)
            if name == "FilterPolicyScope" and sub.policy is not None:
                # the existing policy must be valid in the new scope
                filters.parse_policy(sub.attributes["FilterPolicy"], canonical, subscribe=False)
            if name == "FilterPolicy" and parsed is not None and sub.policy is None:
                self._check_filter_quota(topic)
            sub.apply(name, canonical, parsed)
            self._save_sub(sub)

    def visit(self, url: str, *, authenticated: bool = False) -> str:
        """Follow a SubscribeURL or UnsubscribeURL as an endpoint owner would (an unauthenticated
        GET); returns the subscription ARN it acted on."""
        query = parse_qs(urlsplit(url).query)
        action = (query.get("Action") or [""])[0]
        if action == "ConfirmSubscription":
            sub = self.confirm_subscription((query.get("TopicArn") or [""])[0], (query.get("Token") or [""])[0],
                                            authenticated=authenticated)
            return sub.arn
        if action == "Unsubscribe":
            arn = (query.get("SubscriptionArn") or [""])[0]
            sub = self.subscriptions.get(arn)
            if sub is not None and sub.auth_on_unsubscribe and not authenticated:
                raise AuthorizationError("Unsubscribe of this subscription requires authentication")
            self.unsubscribe(arn)
            return arn
        raise invalid("Action")

    # --- publishing ---------------------------------------------------------------------------------------
    def prepare_many(self, topic: Topic, bodies: list, attribute_sets: list, *, subject=None, structure=None,
                     group=None, dedup=None, groups=None, dedups=None) -> Batch:
        """Validate messages sharing everything but their body and attributes (AWS's rules and
        messages); returns them, not yet published. What they share is checked once. `groups` and
        `dedups` (a batch's entries): each message's own MessageGroupId and MessageDeduplicationId,
        in place of the shared `group` and `dedup`."""
        bounds = _core.str_length_bounds(bodies)   # (one C pass when all is well)
        if bounds is None or not bounds[0]:
            for body in bodies:
                if not isinstance(body, str):
                    raise native.type_error("Message", body, "<class 'str'>")
                if not body:
                    raise invalid("Empty message")
            # str subclasses: published as the plain text they hold (the core and SQS take exact str)
            bodies = [body if body.__class__ is str else str.__str__(body) for body in bodies]
            bounds = (1, max(map(len, bodies), default=0))
        if subject is not None:
            if not isinstance(subject, str):
                raise native.type_error("Subject", subject, "<class 'str'>")
            _check_subject(subject)
        if structure is not None:
            if not isinstance(structure, str):
                raise native.type_error("MessageStructure", structure, "<class 'str'>")
            if structure != "json":
                raise invalid("MessageStructure")
        fifo = topic.fifo
        for group_id, dedup_id in ((group, dedup),) if groups is None else zip(groups, dedups):
            if fifo:
                if group_id is None:
                    raise invalid("The MessageGroupId parameter is required for FIFO topics")
                _check_fifo_id(group_id, "MessageGroupId")
                if dedup_id is None:
                    if not topic.content_dedup:
                        raise invalid("The topic should either have ContentBasedDeduplication enabled or "
                                      "MessageDeduplicationId provided explicitly")
                else:
                    _check_fifo_id(dedup_id, "MessageDeduplicationId")
            else:
                if dedup_id is not None:
                    raise invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId "
                                  "parameter that is not valid for this topic type")
                if group_id is not None:
                    _check_fifo_id(group_id, "MessageGroupId")
        numbers = list(itertools.islice(self._ids, len(bodies)))   # one C call: no other publisher interleaves
        size_max = limits.SNS_MESSAGE_SIZE_MAX
        # a code point takes at most 4 UTF-8 bytes: bodies are measured only when one could be too long
        if bodies and bounds[1] * 4 + max(map(_SIZE, set(attribute_sets))) > size_max:
            for body, aset in zip(bodies, attribute_sets):
                if (len(body) if body.isascii() else len(body.encode("utf-8", "surrogatepass"))) + aset.size > size_max:
                    raise invalid("Message too long")
        if groups is None:
            no_group = group is None
            groups, dedups = itertools.repeat(group), itertools.repeat(dedup)
        else:
            no_group = groups.count(None) == len(groups)
        if structure is None and no_group:   # plain: Message objects only when something reads them
            return Batch(topic, numbers, bodies, attribute_sets, subject, True)
        out = [Message(topic, body, subject, aset, None, group_id, dedup_id, n,
                       len(body.encode("utf-8", "surrogatepass")) + aset.size)
               for body, aset, n, group_id, dedup_id in zip(bodies, attribute_sets, numbers, groups, dedups)]
        if structure is not None:
            for m in out:
                m.structure = _parse_structure(m.body)
        if fifo:
            for m in out:
                dedup_id = m.dedup
                m.dedup_id = dedup_id if dedup_id is not None else \
                    hashlib.sha256(m.body.encode("utf-8", "surrogatepass")).hexdigest()
        return Batch(topic, numbers, bodies, attribute_sets, subject, False, out)

    def publish(self, topic: Topic, body, *, attributes: dict | None = None, **kwargs) -> Message:
        """Publish one message; `attributes`: {name: (data_type, string_value, binary_value)}."""
        return self.publish_prepared(topic, self.prepare_many(topic, [body], [attribute_set(attributes)],
                                                              **kwargs))[0]

    def publish_prepared(self, topic: Topic, msgs: Batch) -> Batch:
        """Stamp, deduplicate (FIFO) and fan out prepared messages; returns them (a FIFO duplicate
        carries the original's MessageId and SequenceNumber and `duplicate=True`). Refused once the
        backend is closed: nothing gets an id that will not be delivered."""
        if topic.deleted:   # a Topic object kept by a caller after delete_topic
            raise topic_not_found()
        gate = self._gate   # _enter/_leave, inlined: this runs once per publish call
        with gate:
            if self.closed:
                raise InternalError(CLOSED_MESSAGE)
            self._inflight += 1
        try:
            if self.store is None:
                return self._stamp_and_fan_out(topic, msgs)
            with self.dispatcher.batch():   # durable: the call's deliveries journaled with one write
                return self._stamp_and_fan_out(topic, msgs)
        finally:
            with gate:
                self._inflight -= 1
                if not self._inflight and self.closed:
                    self._drained.notify_all()

    def _enter(self) -> None:
        """Count a publish in; refused after close (which waits for those counted in)."""
        with self._gate:
            if self.closed:
                raise InternalError(CLOSED_MESSAGE)
            self._inflight += 1

    def _leave(self) -> None:
        with self._gate:
            self._inflight -= 1
            if not self._inflight and self.closed:
                self._drained.notify_all()

    def _stamp_and_fan_out(self, topic: Topic, msgs: Batch) -> Batch:
        now = self.clock.now()
        msgs.stamp(now, delivery.iso_timestamp(now))
        if not topic.fifo:
            self._fan_out(topic, msgs)
            return msgs
        with topic.lock:
            log_ = topic._dedup_log
            seen = topic._dedup
            while log_ and log_[0][0] <= now:
                expiry, key = log_.popleft()
                rec = seen.get(key)
                if rec is not None and rec[0] <= now:
                    del seen[key]
            store = self.store
            if store is not None and topic.next_seq + len(msgs) > topic.seq_reserved:
                store.reserve_sequence_numbers(topic, len(msgs))
            fresh = []   # rows
            keys = []    # their deduplication keys
            ids = []     # and MessageIds
            expiry = now + limits.SNS_DEDUP_WINDOW_S
            per_group = topic.attributes.get("FifoThroughputScope") == "MessageGroup"  # dedup within a group
            first_seq = seq = topic.next_seq
            # in entry order: an id repeated inside the batch is a duplicate of its first entry (as AWS does)
            for k, m in enumerate(msgs.messages()):
                key = (m.group, m.dedup_id) if per_group else m.dedup_id
                rec = seen.get(key)
                if rec is not None and rec[0] > now:
                    m.id, m.seq, m.duplicate = rec[1], rec[2], True
                    continue
                mid = m.id
                m.seq = seq_text = str(seq)
                seq += 1
                seen[key] = (expiry, mid, seq_text)
                log_.append((expiry, key))
                fresh.append(k)
                keys.append(key)
                ids.append(mid)
            topic.next_seq = seq
            if not fresh:
                return msgs
            self._fan_out(topic, msgs if len(fresh) == len(msgs) else msgs.subset(fresh))
            if store is None:
                return msgs
            # after the fan-out: a crash in between may deliver an unrecorded message, never record a lost one
            ticket = store.dedup.record(topic.key, now, keys, ids, first_seq)
        store.dedup.commit(ticket)   # (outside the lock: publishers to other topics share the sync)
        return msgs

    @staticmethod
    def _fan_out(topic: Topic, msgs: Batch) -> None:
        n = len(msgs)
        if not n:
            return
        distinct = None   # the batch's distinct attribute sets (an attribute filter is matched once per set)
        for sub in topic.active.items:
            if sub is None:
                continue
            f = sub.filter
            if f is None:
                selected = msgs
            else:
                match, body = f
                if body:
                    key = sub.content_key
                    rows = [k for k, m in enumerate(msgs) if (v := m.body_values(key)) is not None and match(v)]
                else:
                    if distinct is None:
                        distinct = set(msgs.sets)
                    passing = {aset for aset in distinct if match(aset.filter_values)}
                    rows = range(n) if len(passing) == len(distinct) else \
                        list(itertools.compress(range(n), map(passing.__contains__, msgs.sets)))
                if not rows:
                    continue
                selected = msgs if len(rows) == n else msgs.subset(rows)
            try:
                sub.target.deliver(selected)
            except Exception:  # one broken subscription must not stop the fan-out
                log.exception("SNS delivery to %s failed", sub.arn)

    def publish_batch(self, topic: Topic, entries: list) -> list:
        """PublishBatch: `entries` are PublishEntry. Request-level rules raise (the batch's size,
        its ids, its total length, FIFO group ids); per-entry problems come back as ClientErrors in
        the returned list (one item per entry, else the published Message)."""
        if not isinstance(entries, (list, tuple)):
            raise native.type_error("PublishBatchRequestEntries", entries, "a list of PublishEntry")
        for e in entries:
            if not isinstance(e, PublishEntry):
                raise native.type_error("PublishBatchRequestEntries", e, "PublishEntry")
            native.text("Id", e.id)
        if not entries:
            raise EmptyBatchRequest("The batch request doesn't contain any entries.")
        if len(entries) > limits.SNS_BATCH_MAX:
            raise TooManyEntriesInBatchRequest("The batch request contains more entries than permissible.")
        ids = [e.id for e in entries]
        if len(set(ids)) != len(ids):
            raise BatchEntryIdsNotDistinct("Two or more batch entries in the request have the same Id.")
        for eid in ids:
            if len(eid) > limits.SNS_BATCH_ID_MAX:
                raise InvalidBatchEntryId(f"The Id of a batch entry in the batch request is too long: {eid}")
            if not _BATCH_ID.fullmatch(eid):
                raise InvalidBatchEntryId(
                    f"The Id of a batch entry in the batch request contains an impermissible character: {eid}")
        validated = []
        total = 0
        for e in entries:
            attrs = attribute_set(e.attributes)
            total += attrs.size
            if isinstance(e.body, str):
                total += len(e.body.encode("utf-8", "surrogatepass"))
            validated.append(attrs)
            if topic.fifo and e.group is None:
                raise invalid("The MessageGroupId parameter is required for FIFO topics")
        if total > limits.SNS_MESSAGE_SIZE_MAX:
            raise BatchRequestTooLong("The length of all the messages put together is more than the limit.")
        first = entries[0]
        shared = (first.subject, first.structure)
        if all((e.subject, e.structure) == shared for e in entries):
            try:   # the common batch (each entry with its own ids or not): prepared together, as publish_many does
                out = self.prepare_many(topic, [e.body for e in entries], validated, subject=first.subject,
                                        structure=first.structure, groups=[e.group for e in entries],
                                        dedups=[e.dedup for e in entries])
            except ClientError:   # some entry is refused: each gets its own answer below
                pass
            else:
                return self.publish_prepared(topic, out)
        out = []
        good = []
        for e, attrs in zip(entries, validated):
            try:
                [m] = self.prepare_many(topic, [e.body], [attrs], subject=e.subject, structure=e.structure,
                                        group=e.group, dedup=e.dedup)
                out.append(m)
                good.append(m)
            except ClientError as err:
                out.append(err)
        if good:
            self.publish_prepared(topic, Batch.of(good, all(m.structure is None and m.group is None and
                                                            m.subject == good[0].subject for m in good)))
        return out

    def publish_to(self, body, *, topic_arn=None, target_arn=None, phone_number=None, subject=None,
                   attributes: dict | None = None, structure=None, group=None, dedup=None) -> Message:
        """Publish: to a topic (TopicArn, or a topic's TargetArn), a platform endpoint (TargetArn)
        or a phone number; exactly one of them."""
        native.optional_text("TopicArn", topic_arn)
        native.optional_text("TargetArn", target_arn)
        native.optional_text("PhoneNumber", phone_number)
        targets = [t for t in (topic_arn, target_arn, phone_number) if t is not None]
        if len(targets) > 1:
            raise invalid("TopicArn or TargetArn Reason: Only one of TopicArn, TargetArn or PhoneNumber may be "
                          "specified")
        if not targets:
            raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
        if phone_number is not None:
            return self.publish_sms(phone_number, body, subject, attributes, structure)
        if target_arn is not None and self.mobile.is_endpoint_arn(target_arn):
            if target_arn not in self.mobile.endpoints:
                raise invalid("TargetArn Reason: No endpoint found for the target arn specified")
            return self.publish_to_endpoint(self.mobile.endpoints[target_arn], body, subject, attributes, structure)
        topic = self.get_topic(target_arn, "TargetArn") if topic_arn is None else self.get_topic(topic_arn)
        return self.publish(topic, body, subject=subject, attributes=attributes, structure=structure, group=group,
                            dedup=dedup)

    def _direct_message(self, body, subject, attributes, structure) -> Message:
        """A message published to an endpoint or a number (no topic): validated as a topic's."""
        native.text("Message", body)
        if not body:
            raise invalid("Empty message")
        if native.optional_text("Subject", subject) is not None:
            _check_subject(subject)
        native.optional_text("MessageStructure", structure)
        if structure is not None and structure != "json":
            raise invalid("MessageStructure")
        aset = attribute_set(attributes)
        m = Message(None, body, subject, aset, _parse_structure(body) if structure is not None else None, None, None,
                    0, len(body.encode("utf-8", "surrogatepass")) + aset.size)
        if m.size > limits.SNS_MESSAGE_SIZE_MAX:
            raise invalid("Message too long")
        m.id = self.new_message_id()
        m.timestamp = delivery.iso_timestamp(self.clock.now())
        return m

    def publish_to_endpoint(self, ep: PlatformEndpoint, body, subject=None, attributes=None, structure=None) -> Message:
        """Publish(TargetArn=endpoint): the platform's payload to the outbox; a disabled endpoint refuses."""
        self.mobile.check_deliverable(ep)
        m = self._direct_message(body, subject, attributes, structure)
        self._enter()
        try:
            self.push(ep, m, None, None)
        finally:
            self._leave()
        return m

    def push(self, ep: PlatformEndpoint, m: Message, topic_arn: str | None, subscription_arn: str | None) -> None:
        """What the push service receives for one message to one endpoint, into the outbox."""
        content = m.content(ep.platform)
        explicit = m.structure is not None and ep.platform in m.structure
        self.engine.outbox.append({
            "Protocol": "application", "Endpoint": ep.arn, "Type": "Notification", "TopicArn": topic_arn,
            "SubscriptionArn": subscription_arn, "MessageId": m.id, "Timestamp": m.timestamp,
            "Subject": m.subject, "Message": content,
            "MessageAttributes": delivery.envelope_attributes(m.attrs) if m.attrs else {},
            "Platform": ep.platform, "Token": ep.token, "Body": platform_payload(ep.platform, content, explicit)})

    def publish_sms(self, phone_number: str, body, subject=None, attributes=None, structure=None) -> Message:
        """Publish(PhoneNumber=...): a text to the outbox (suppressed for numbers that cannot receive it)."""
        if not E164.fullmatch(phone_number):
            raise invalid(f"PhoneNumber Reason: {phone_number} is not valid to publish to")
        m = self._direct_message(body, subject, attributes, structure)
        text = m.content("sms")
        if len(text.encode("utf-8", "surrogatepass")) > limits.SNS_SMS_BYTES_MAX:
            raise invalid("Message too long")
        self._enter()
        try:
            self.text(phone_number, text, subject=subject, message_id=m.id, attrs=m.attrs, timestamp=m.timestamp)
        finally:
            self._leave()
        return m

    def text(self, phone_number: str, body: str, *, kind: str = "Notification", subject=None, message_id=None,
             attrs=None, topic_arn=None, subscription_arn=None, timestamp=None, **fields) -> None:
        """One SMS to the outbox, unless the number opted out or the sandbox holds it back (then a
        failure record says why)."""
        message_id = message_id or self.new_message_id()
        if kind == "Notification":
            refusal = self.sms.refusal(phone_number)
            if refusal is not None:
                code, reason = refusal
                self.dispatcher.failures.append({
                    "SubscriptionArn": subscription_arn, "Protocol": "sms", "Endpoint": phone_number,
                    "MessageId": message_id, "ErrorCode": code, "ErrorMessage": reason, "Body": body})
                return
            fields.update(self.sms.sending_options(attrs or {}))
        entry = {"Protocol": "sms", "Endpoint": phone_number, "Type": kind, "TopicArn": topic_arn,
                 "SubscriptionArn": subscription_arn, "MessageId": message_id,
                 "Timestamp": timestamp or delivery.iso_timestamp(self.clock.now()), "Subject": subject,
                 "Message": body,
                 "MessageAttributes": delivery.envelope_attributes(attrs) if attrs else {}}
        entry.update(fields)
        entry["Body"] = body
        self.engine.outbox.append(entry)

    # --- inspection and lifecycle ------------------------------------------------------------------------
    def outbox(self, protocol: str | None = None, endpoint: str | None = None, kind: str | None = None) -> list[dict]:
        """Entries of `engine.outbox` (email, email-json, sms, application deliveries) of this
        region's topics, optionally filtered."""
        prefix = f"arn:aws:sns:{self.region}:"
        return [e for e in list(self.engine.outbox)
                if (e.get("TopicArn") is None or e["TopicArn"].startswith(prefix))
                and (protocol is None or e.get("Protocol") == protocol)
                and (endpoint is None or e.get("Endpoint") == endpoint)
                and (kind is None or e.get("Type") == kind)]

    @property
    def failures(self):
        """Deliveries given up without a dead-letter queue (dicts: SubscriptionArn, MessageId,
        ErrorCode, ErrorMessage, Body)."""
        return self.dispatcher.failures

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait (real time) until queued HTTP/S, Lambda and Firehose deliveries have run. Retries
        waiting on the engine clock are not waited for (advance a ManualClock to run them)."""
        return self.dispatcher.drain(timeout)

    def close(self) -> None:
        """Refuse new publishes, let those under way finish their fan-out, then drain the
        asynchronous deliveries (Dispatcher.close)."""
        with self._gate:
            self.closed = True
            self._drained.wait_for(lambda: not self._inflight, delivery.Dispatcher.CLOSE_TIMEOUT_S)
        self.dispatcher.close()
        if self.store is not None:
            self.store.close()
            self._root_lock.close()


__all__ = ["SNSBackend", "Topic", "Subscription", "Message", "PublishEntry", "AttributeSet", "PROTOCOLS",
           "attribute_set", "validate_message_attributes", "tag_map", "check_data_protection_policy"]

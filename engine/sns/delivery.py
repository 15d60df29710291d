"""SNS delivery: message formats, per-protocol targets, retries and dead-letter queues.

Protocols and where they run:

- sqs: synchronously in the publishing thread, through the SQS model's narrow port (`SqsInbox`:
  `send_packed` for envelopes the core built into one buffer, `send_raw` for other plain bodies
  (a FIFO topic's with their group and deduplication ids), `send_batch` of OutgoingMessages with
  attributes), one call per subscription per publish call. An in-process queue append never
  blocks on anything slow, and the publisher learns nothing from it (as in AWS, Publish succeeds
  whatever the delivery outcome).
- email, email-json, sms, application: appended to `engine.outbox` (no mail or phone can be
  reached from here), synchronously.
- http/https, lambda, firehose: queued on a *lane*, a small elastic worker pool per protocol.
  A lane runs the deliveries of one subscription one at a time, in order, and different
  subscriptions in parallel, so a slow or failing endpoint holds at most one worker and never
  blocks other subscriptions nor the publisher.

Retries follow the protocol's delivery policy (AWS developer guide, "Amazon SNS message delivery
retries"): four phases (immediate, pre-backoff at the minimum delay, backoff from the minimum to
the maximum delay, post-backoff at the maximum delay). HTTP/S uses the DeliveryPolicy of the
subscription or topic (default: 3 retries 20 s apart); the AWS-managed endpoints (SQS, Lambda,
Firehose) use the fixed 100,015-attempt policy, and only for server-side errors. Client-side
errors (queue, stream or function missing, message refused) and exhausted retries go to the
subscription's dead-letter queue (RedrivePolicy), or are discarded and recorded in
`Dispatcher.failures`; so are deliveries the engine closes on (EngineClosed). Delays are timers
on the engine clock, so tests advance a ManualClock
instead of sleeping; the retry itself then runs on the lane. No jitter is applied, so retry times
are deterministic.

Signatures: envelopes carry SignatureVersion/Signature/SigningCertURL in AWS's layout, but the
Signature is a placeholder (pseudo-random from the message's number for notifications, a digest
of the canonical string for confirmations), not an RSA signature: it cannot be verified against
a certificate.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import http.client
import json
import logging
import operator
import ssl
import threading
import time
import uuid
from collections import deque
from types import SimpleNamespace
from typing import Protocol
from urllib.parse import unquote, urlsplit

from .. import _core, limits
from ..arn import parse_arn
from ..errors import ClientError
from ..sqs.models import AttributeValue, OutgoingMessage, SentMessage

log = logging.getLogger("engine.sns")

_enc = json.encoder.encode_basestring  # JSON string literal, non-ASCII kept as is (as AWS does)
USER_AGENT = "Amazon Simple Notification Service Agent"
ENGINE_CLOSED_CODE = "EngineClosed"
ENGINE_CLOSED_MESSAGE = "The engine closed before this delivery could be made."
DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8"
BACKOFF_FUNCTIONS = ("linear", "arithmetic", "geometric", "exponential")
_ENVELOPE_TEXTS_CACHED = 4096   # subscriptions' constant envelope texts kept (one per subscription and subject)


# --- time, ids, signatures ------------------------------------------------------------------
_ts_cache = (None, "")  # (second, formatted), replaced as one tuple so threads never see a torn pair


def iso_timestamp(t: float) -> str:
    """2012-03-29T05:12:16.901Z (UTC, milliseconds), as SNS writes Timestamp."""
    global _ts_cache
    sec = int(t)
    ms = int((t - sec) * 1000)
    cached = _ts_cache
    if cached[0] != sec:
        cached = _ts_cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    return f"{cached[1]}.{ms:03d}Z"


def signature(canonical: str, version: str) -> str:
    """A placeholder of the right shape (344 base64 characters, like a 2048-bit RSA signature),
    derived from the version and the canonical string (BLAKE2b, cheaper than a 256-byte XOF
    on the publish path). Not verifiable."""
    digest = hashlib.blake2b(f"{version}\n{canonical}".encode("utf-8", "surrogatepass"), digest_size=64).digest()
    return base64.b64encode(digest * 4).decode("ascii")


_SIGNATURE_FILL = base64.b64encode(hashlib.blake2b(b"engine-sns-signature", digest_size=64).digest() * 4)[64:].decode()
_SIGNATURE_FILL_BYTES = _SIGNATURE_FILL.encode()


def notification_signature(msg, version: str) -> str:
    """The per-message placeholder signature of a notification: 64 characters unique per message
    (pseudo-random from the message's number, as the core writes them into envelopes built in
    bulk) over a fixed remainder; the 344-character shape of a base64 RSA-2048 signature."""
    return _core.noise64(msg.topic.backend.signature_seed(version), msg.n) + _SIGNATURE_FILL


def attribute_json_value(data_type: str, value) -> str:
    """The Value of a message attribute in JSON envelopes: Binary is base64."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def envelope_attributes(attrs: dict) -> dict:
    return {name: {"Type": dt, "Value": attribute_json_value(dt, value)} for name, (dt, value) in attrs.items()}


# --- the SNS JSON envelope (SQS, HTTP/S, email-json) ------------------------------------------------
# AWS writes it pretty-printed, `"Key" : value`, two-space indent, MessageAttributes entries on one
# line each. It is built as head + UnsubscribeURL + tail so that the per-subscription part of a
# fan-out is one string concatenation.
def notification_head(msg, content: str) -> str:
    topic = msg.topic
    if msg.seq is None and msg.subject is None and not topic.fifo:   # the common case, one f-string
        version = topic.signature_version
        sig = notification_signature(msg, version)
        return (f'{{\n  "Type" : "Notification",\n  "MessageId" : "{msg.id}",\n  "TopicArn" : "{topic.arn}",\n'
                f'  "Message" : {_enc(content)},\n  "Timestamp" : "{msg.timestamp}",\n'
                f'  "SignatureVersion" : "{version}",\n  "Signature" : "{sig}",\n'
                f'  "SigningCertURL" : "{topic.backend.cert_url}",\n  "UnsubscribeURL" : "')
    parts = ['{\n  "Type" : "Notification",\n  "MessageId" : "', msg.id, '",\n']
    if msg.seq is not None:
        parts += ['  "SequenceNumber" : "', msg.seq, '",\n']
    parts += ['  "TopicArn" : "', topic.arn, '",\n']
    if msg.subject is not None:
        parts += ['  "Subject" : ', _enc(msg.subject), ',\n']
    parts += ['  "Message" : ', _enc(content), ',\n  "Timestamp" : "', msg.timestamp, '",\n']
    if not topic.fifo:  # FIFO topics do not sign their notifications
        version = topic.signature_version
        sig = notification_signature(msg, version)
        parts += ['  "SignatureVersion" : "', version, '",\n  "Signature" : "', sig,
                  '",\n  "SigningCertURL" : "', topic.backend.cert_url, '",\n']
    parts.append('  "UnsubscribeURL" : "')
    return "".join(parts)


def notification_tail(attrs: dict | None) -> str:
    if not attrs:
        return '"\n}'
    lines = []
    for name, (dt, value) in sorted(attrs.items()):
        lines.append(f'    {_enc(name)} : {{"Type":{_enc(dt)},"Value":{_enc(attribute_json_value(dt, value))}}}')
    return '",\n  "MessageAttributes" : {\n' + ",\n".join(lines) + "\n  }\n}"


@functools.lru_cache(maxsize=_ENVELOPE_TEXTS_CACHED)
def _envelope_texts(id_prefix: str, topic_arn: str, subject: str | None, cert_url: str,
                    unsubscribe_url: str) -> tuple[bytes, bytes, bytes]:
    """The constant texts of one subscription's notifications around the MessageId, the Message
    and the Signature (made once, not per publish)."""
    subject_line = f'  "Subject" : {_enc(subject)},\n' if subject is not None else ""
    return (f'{{\n  "Type" : "Notification",\n  "MessageId" : "{id_prefix}'.encode(),
            f'",\n  "TopicArn" : "{topic_arn}",\n{subject_line}  "Message" : '.encode("utf-8", "surrogatepass"),
            _SIGNATURE_FILL_BYTES + f'",\n  "SigningCertURL" : "{cert_url}",\n  "UnsubscribeURL" : "'
            f'{unsubscribe_url}'.encode())


def sqs_envelopes(batch, unsubscribe_url: str) -> _core.PackedRows | None:
    """The JSON notifications of a Batch of one publish's messages for one subscription, as UTF-8
    rows built by the core in one pass into one buffer (byte for byte what notification_head +
    tail write); None when the batch is not plain (MessageStructure, group ids, several subjects)
    or on a FIFO topic."""
    topic = batch.topic
    if not batch.plain or topic.fifo:
        return None
    backend = topic.backend
    version = topic.signature_version
    head, after_id, after_signature = _envelope_texts(backend.id_prefix, topic.arn, batch.subject, backend.cert_url,
                                                      unsubscribe_url)
    # every message of one publish shares its timestamp
    texts = [head, after_id, f',\n  "Timestamp" : "{batch.timestamp}",\n  "SignatureVersion" : "{version}",\n'
             f'  "Signature" : "'.encode(), after_signature, b""]
    numbers, bodies, tails = batch.columns()
    try:
        return _core.packed_rows(texts, [(_core.ROW_HEX12, numbers), (_core.ROW_JSON, bodies),
                                         (_core.ROW_NOISE64, numbers, backend.signature_seed(version)),
                                         (_core.ROW_RAW, tails)], len(batch))
    except _core.CoreValueError:   # a body with a lone surrogate: no UTF-8 form, the text path takes it
        return None


_ID = operator.attrgetter("id")   # (a message restored from the journal keeps its own)
_SEQ = operator.attrgetter("seq")
_GROUP = operator.attrgetter("group")
_DEDUP_ID = operator.attrgetter("dedup_id")
_SUBJECT_AND_TIME = operator.attrgetter("subject", "timestamp")
_STRUCTURE = operator.attrgetter("structure")


def fifo_sqs_envelopes(batch, unsubscribe_url: str) -> list[bytes] | None:
    """The JSON notifications of a FIFO topic's Batch for one subscription, as UTF-8 rows built by
    the core in one pass (byte for byte what notification_head + tail write: no signature, a
    SequenceNumber); None when the messages differ in subject or timestamp (messages restored from
    the journal) or a text has no UTF-8 form."""
    ms = batch.messages()
    shared = set(map(_SUBJECT_AND_TIME, ms))
    if len(shared) != 1:
        return None
    [(subject, timestamp)] = shared
    topic = batch.topic
    subject_line = f'  "Subject" : {_enc(subject)},\n' if subject is not None else ""
    try:
        texts = [b'{\n  "Type" : "Notification",\n  "MessageId" : ', b',\n  "SequenceNumber" : ',
                 f',\n  "TopicArn" : "{topic.arn}",\n{subject_line}  "Message" : '.encode(),
                 f',\n  "Timestamp" : "{timestamp}",\n  "UnsubscribeURL" : "{unsubscribe_url}'.encode(),
                 b""]
        _, bodies, tails = batch.columns()
        if list(map(_STRUCTURE, ms)).count(None) != len(ms):
            bodies = [m.content("sqs") for m in ms]
        fields = [(_core.ROW_JSON, list(map(_ID, ms))), (_core.ROW_JSON, list(map(_SEQ, ms))),
                  (_core.ROW_JSON, bodies), (_core.ROW_RAW, tails)]
        return _core.template_rows(texts, fields, len(ms))
    except (UnicodeEncodeError, _core.CoreValueError):   # a lone surrogate: the text path takes it
        return None


def confirmation_body(kind: str, message_id: str, token: str, topic, text: str, url: str, timestamp: str) -> str:
    canonical = (f"Message\n{text}\nMessageId\n{message_id}\nSubscribeURL\n{url}\nTimestamp\n{timestamp}\n"
                 f"Token\n{token}\nTopicArn\n{topic.arn}\nType\n{kind}\n")
    version = topic.signature_version
    return "".join((
        '{\n  "Type" : "', kind, '",\n  "MessageId" : "', message_id, '",\n  "Token" : "', token,
        '",\n  "TopicArn" : "', topic.arn, '",\n  "Message" : ', _enc(text), ',\n  "SubscribeURL" : "', url,
        '",\n  "Timestamp" : "', timestamp, '",\n  "SignatureVersion" : "', version, '",\n  "Signature" : "',
        signature(canonical, version), '",\n  "SigningCertURL" : "', topic.backend.cert_url, '"\n}'))


def compact_notification(msg, content: str, unsubscribe_url: str) -> str:
    """The envelope Firehose receives: compact JSON, no signature fields."""
    doc = {"Type": "Notification", "MessageId": msg.id}
    if msg.seq is not None:
        doc["SequenceNumber"] = msg.seq
    doc["TopicArn"] = msg.topic.arn
    if msg.subject is not None:
        doc["Subject"] = msg.subject
    doc["Message"] = content
    doc["Timestamp"] = msg.timestamp
    doc["UnsubscribeURL"] = unsubscribe_url
    if msg.attrs:
        doc["MessageAttributes"] = envelope_attributes(msg.attrs)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def lambda_event(msg, sub, content: str) -> dict:
    """The documented SNS event a Lambda handler receives (one record per invocation)."""
    topic = msg.topic
    version = topic.signature_version
    return {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": sub.arn,
        "Sns": {
            "Type": "Notification",
            "MessageId": msg.id,
            "TopicArn": topic.arn,
            "Subject": msg.subject,
            "Message": content,
            "Timestamp": msg.timestamp,
            "SignatureVersion": version,
            "Signature": notification_signature(msg, version),
            "SigningCertUrl": topic.backend.cert_url,
            "UnsubscribeUrl": sub.unsubscribe_url,
            "MessageAttributes": envelope_attributes(msg.attrs) if msg.attrs else {},
        },
    }]}


# --- retry policies -----------------------------------------------------------------------------
class RetryPolicy:
    """The four phases of an SNS delivery policy. delay(n) is the wait before retry n (1-based),
    or None once the policy is exhausted."""
    __slots__ = ("no_delay", "min_retries", "backoff", "max_retries", "min_delay", "max_delay", "function")

    def __init__(self, no_delay, min_retries, backoff, max_retries, min_delay, max_delay, function="linear"):
        self.no_delay = no_delay
        self.min_retries = min_retries
        self.backoff = backoff
        self.max_retries = max_retries
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.function = function

    @property
    def retries(self) -> int:
        return self.no_delay + self.min_retries + self.backoff + self.max_retries

    def delay(self, n: int):
        if n <= self.no_delay:
            return 0.0
        n -= self.no_delay
        if n <= self.min_retries:
            return float(self.min_delay)
        n -= self.min_retries
        if n <= self.backoff:
            return self._backoff(n)
        n -= self.backoff
        if n <= self.max_retries:
            return float(self.max_delay)
        return None

    def _backoff(self, i: int) -> float:
        lo, hi, n = float(self.min_delay), float(self.max_delay), self.backoff
        f = i / n
        fn = self.function
        if fn == "exponential" and lo > 0:
            return lo * (hi / lo) ** f
        if fn == "geometric":
            f = f ** 3
        elif fn == "arithmetic":
            f = f * f
        return lo + (hi - lo) * f

    def total_seconds(self) -> float:
        return sum(self.delay(i) or 0.0 for i in range(1, min(self.retries, 10_000) + 1))


MANAGED_POLICY = RetryPolicy(limits.SNS_MANAGED_NO_DELAY_RETRIES, limits.SNS_MANAGED_MIN_DELAY_RETRIES,
                             limits.SNS_MANAGED_BACKOFF_RETRIES, limits.SNS_MANAGED_MAX_DELAY_RETRIES,
                             limits.SNS_MANAGED_MIN_DELAY_S, limits.SNS_MANAGED_MAX_DELAY_S, "exponential")

DEFAULT_HTTP_RETRY = {"minDelayTarget": limits.SNS_HTTP_DELAY_DEFAULT_S,
                      "maxDelayTarget": limits.SNS_HTTP_DELAY_DEFAULT_S,
                      "numRetries": limits.SNS_HTTP_RETRIES_DEFAULT, "numMaxDelayRetries": 0, "numNoDelayRetries": 0,
                      "numMinDelayRetries": 0, "backoffFunction": "linear"}


class PolicyError(ValueError):
    """A DeliveryPolicy that AWS would refuse; the message is AWS's reason."""


def _int_field(doc: dict, key: str, where: str, lo: int, hi: int, default: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{where}.{key} must be an integer")
    if not lo <= value <= hi:
        raise PolicyError(f"{where}.{key} must be between {lo} and {hi}")
    return value


def retry_policy(doc: dict, where: str) -> RetryPolicy:
    """A healthyRetryPolicy object -> RetryPolicy (validated)."""
    if not isinstance(doc, dict):
        raise PolicyError(f"{where} must be an object")
    for key in doc:
        if key not in DEFAULT_HTTP_RETRY:
            raise PolicyError(f"{where}: unknown field {key}")
    total = _int_field(doc, "numRetries", where, 0, limits.SNS_HTTP_RETRIES_MAX, limits.SNS_HTTP_RETRIES_DEFAULT)
    delay_max, delay_default = limits.SNS_HTTP_DELAY_MAX_S, limits.SNS_HTTP_DELAY_DEFAULT_S
    min_delay = _int_field(doc, "minDelayTarget", where, 1, delay_max, delay_default)
    max_delay = _int_field(doc, "maxDelayTarget", where, 1, delay_max, delay_default)
    if max_delay < min_delay:
        raise PolicyError(f"{where}.maxDelayTarget must be greater than or equal to minDelayTarget")
    no_delay = _int_field(doc, "numNoDelayRetries", where, 0, total, 0)
    min_retries = _int_field(doc, "numMinDelayRetries", where, 0, total, 0)
    max_retries = _int_field(doc, "numMaxDelayRetries", where, 0, total, 0)
    if no_delay + min_retries + max_retries > total:
        raise PolicyError(f"{where}: numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries must not exceed "
                          "numRetries")
    function = doc.get("backoffFunction", "linear")
    if function not in BACKOFF_FUNCTIONS:
        raise PolicyError(f"{where}.backoffFunction must be one of {', '.join(BACKOFF_FUNCTIONS)}")
    policy = RetryPolicy(no_delay, min_retries, total - no_delay - min_retries - max_retries, max_retries,
                         min_delay, max_delay, function)
    if policy.total_seconds() > limits.SNS_HTTP_RETRY_TOTAL_MAX_S:
        raise PolicyError(f"{where}: total retry time must not exceed {limits.SNS_HTTP_RETRY_TOTAL_MAX_S} seconds")
    return policy


class HttpPolicy:
    """What governs deliveries to one HTTP/S subscription."""
    __slots__ = ("retry", "max_per_second", "content_type")

    def __init__(self, retry: RetryPolicy, max_per_second=None, content_type=DEFAULT_CONTENT_TYPE):
        self.retry = retry
        self.max_per_second = max_per_second
        self.content_type = content_type


def _fields(doc, where: str, allowed) -> dict:
    """`doc` as an object holding only `allowed` fields (policies stay shallow: their values are
    echoed back in EffectiveDeliveryPolicy)."""
    if not isinstance(doc, dict):
        raise PolicyError(f"{where} must be an object")
    for key in doc:
        if key not in allowed:
            raise PolicyError(f"{where}: unknown field {key}")
    return doc


def _flag(doc: dict, key: str, where: str) -> None:
    if key in doc and not isinstance(doc[key], bool):
        raise PolicyError(f"{where}.{key} must be true or false")


def _throttle(doc, where):
    if doc is None:
        return None
    _fields(doc, where, ("maxReceivesPerSecond",))
    value = doc.get("maxReceivesPerSecond")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyError(f"{where}.maxReceivesPerSecond must be a positive integer")
    return value


def _content_type(doc, where):
    if doc is None:
        return None
    _fields(doc, where, ("headerContentType",))
    value = doc.get("headerContentType")
    if value is not None and not isinstance(value, str):
        raise PolicyError(f"{where}.headerContentType must be a string")
    return value


def check_subscription_policy(doc) -> None:
    """Validate a parsed subscription DeliveryPolicy."""
    if not isinstance(doc, dict):
        raise PolicyError("must be a JSON object")
    for key in doc:
        if key not in ("healthyRetryPolicy", "sicklyRetryPolicy", "throttlePolicy", "requestPolicy", "guaranteed"):
            raise PolicyError(f"unknown field {key}")
    for key in ("healthyRetryPolicy", "sicklyRetryPolicy"):
        if doc.get(key) is not None:
            retry_policy(doc[key], key)
    _flag(doc, "guaranteed", "DeliveryPolicy")
    _throttle(doc.get("throttlePolicy"), "throttlePolicy")
    _content_type(doc.get("requestPolicy"), "requestPolicy")


_TOPIC_SECTION_FIELDS = ("defaultHealthyRetryPolicy", "defaultSicklyRetryPolicy", "defaultThrottlePolicy",
                         "defaultRequestPolicy", "disableSubscriptionOverrides")


def check_topic_policy(doc) -> None:
    """Validate a parsed topic DeliveryPolicy ({"http": {"defaultHealthyRetryPolicy", ...}})."""
    if not isinstance(doc, dict):
        raise PolicyError("must be a JSON object")
    for proto, section in doc.items():
        _fields(section, proto, _TOPIC_SECTION_FIELDS)
        for key in ("defaultHealthyRetryPolicy", "defaultSicklyRetryPolicy"):
            if section.get(key) is not None:
                retry_policy(section[key], f"{proto}.{key}")
        _throttle(section.get("defaultThrottlePolicy"), f"{proto}.defaultThrottlePolicy")
        _content_type(section.get("defaultRequestPolicy"), f"{proto}.defaultRequestPolicy")
        _flag(section, "disableSubscriptionOverrides", proto)


def effective_http_policy(protocol: str, topic_doc: dict | None, sub_doc: dict | None) -> HttpPolicy:
    """Topic defaults (the protocol's section, else "http") overridden by the subscription's
    policy unless the topic sets disableSubscriptionOverrides."""
    section = {}
    if topic_doc:
        section = topic_doc.get(protocol) or topic_doc.get("http") or {}
    retry_doc = section.get("defaultHealthyRetryPolicy") or DEFAULT_HTTP_RETRY
    throttle = _throttle(section.get("defaultThrottlePolicy"), "")
    ctype = _content_type(section.get("defaultRequestPolicy"), "") or DEFAULT_CONTENT_TYPE
    if sub_doc and not section.get("disableSubscriptionOverrides"):
        if sub_doc.get("healthyRetryPolicy") is not None:
            retry_doc = sub_doc["healthyRetryPolicy"]
        if sub_doc.get("throttlePolicy") is not None:
            throttle = _throttle(sub_doc["throttlePolicy"], "")
        if sub_doc.get("requestPolicy") is not None:
            ctype = _content_type(sub_doc["requestPolicy"], "") or ctype
    return HttpPolicy(retry_policy(retry_doc, "healthyRetryPolicy"), throttle, ctype)


def effective_policy_json(protocol: str, topic_doc: dict | None, sub_doc: dict | None) -> str:
    """The EffectiveDeliveryPolicy attribute of an HTTP/S subscription."""
    policy = effective_http_policy(protocol, topic_doc, sub_doc)
    r = policy.retry
    return json.dumps({
        "healthyRetryPolicy": {"minDelayTarget": r.min_delay, "maxDelayTarget": r.max_delay, "numRetries": r.retries,
                               "numMaxDelayRetries": r.max_retries, "numNoDelayRetries": r.no_delay,
                               "numMinDelayRetries": r.min_retries, "backoffFunction": r.function},
        "sicklyRetryPolicy": None,
        "throttlePolicy": {"maxReceivesPerSecond": policy.max_per_second} if policy.max_per_second else None,
        "requestPolicy": {"headerContentType": policy.content_type},
        "guaranteed": False,
    }, separators=(",", ":"))


# --- lanes: per-protocol worker pools, serial per subscription ------------------------------------
class Lane:
    """An elastic pool of up to `max_workers` daemon threads. Work is submitted under a key (a
    subscription ARN); items of one key run one at a time in submission order, items of different
    keys in parallel. Idle workers exit after `idle_s` seconds."""

    def __init__(self, name: str, max_workers: int, idle_s: float = 30.0):
        self.name = name
        self.max_workers = max_workers
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._queues: dict = {}
        self._ready: deque = deque()
        self._busy: set = set()
        self._pending = 0
        self._workers = 0
        self._idle = 0
        self._closed = False

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, key, fn) -> bool:
        with self._lock:
            if self._closed:
                return False
            q = self._queues.get(key)
            if q is None:
                q = self._queues[key] = deque()
            q.append(fn)
            self._pending += 1
            if len(q) == 1 and key not in self._busy:
                self._ready.append(key)
            # one worker per ready key (up to the maximum): a worker blocked on a slow endpoint must
            # not leave another subscription's delivery waiting
            if len(self._ready) > self._idle and self._workers < self.max_workers:
                self._workers += 1
                threading.Thread(target=self._run, name=f"engine-sns-{self.name}", daemon=True).start()
            if self._idle:
                self._work.notify()
        return True

    def _run(self) -> None:
        lock = self._lock
        while True:
            with lock:
                while not self._ready:
                    if self._closed:
                        self._workers -= 1
                        return
                    self._idle += 1
                    woke = self._work.wait(self.idle_s)
                    self._idle -= 1
                    if not woke and not self._ready:
                        self._workers -= 1
                        return
                key = self._ready.popleft()
                q = self._queues[key]
                fn = q.popleft()
                self._busy.add(key)
            try:
                fn()
            except Exception:  # a delivery bug must not kill the worker
                log.exception("SNS %s delivery failed", self.name)
            with lock:
                self._busy.discard(key)
                if self._closed:
                    pass   # close() handed back what q still holds: never run it here too
                elif q:
                    self._ready.append(key)
                elif self._queues.get(key) is q:
                    del self._queues[key]
                self._pending -= 1
                if not self._pending:
                    self._done.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait (real time) until nothing is queued or running; True if drained."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    def close(self, timeout: float) -> list:
        """Finish what is queued (up to `timeout`), then stop; returns the items left undone."""
        self.drain(timeout)
        with self._lock:
            self._closed = True
            left = [fn for q in self._queues.values() for fn in q]
            self._queues.clear()
            self._ready.clear()
            self._work.notify_all()
        return left


# --- dispatcher ---------------------------------------------------------------------------------
class Dispatcher:
    """Owns the lanes, the retry timers and the dead-letter path of one SNS backend."""

    CLOSE_TIMEOUT_S = 5.0

    def __init__(self, backend):
        self.backend = backend
        self.engine = backend.engine
        self.clock = backend.clock
        workers = limits.SNS_DELIVERY_WORKERS_MAX
        self.lanes = {"http": Lane("http", workers), "lambda": Lane("lambda", workers),
                      "firehose": Lane("firehose", workers)}
        self._timers: dict = {}       # retry timer -> the delivery it will run
        self._tlock = threading.Lock()
        self.failures: deque = deque(maxlen=10_000)   # undeliverable and discarded (no DLQ)
        self.dead_lettered = 0
        self._closed = False
        self.ssl_context = ssl.create_default_context()

    def submit(self, lane: str, key, fn) -> None:
        if not self.lanes[lane].submit(key, fn):
            fn.abandon(self)

    def later(self, delay: float, lane: str, key, fn) -> None:
        if delay <= 0:
            self.submit(lane, key, fn)
            return
        holder = []

        def fire():
            with self._tlock:
                self._timers.pop(holder[0], None)
            self.submit(lane, key, fn)

        with self._tlock:
            closed = self._closed
            if not closed:
                timer = self.clock.call_later(delay, fire)
                holder.append(timer)
                self._timers[timer] = fn
        if closed:
            fn.abandon(self)

    @property
    def scheduled_retries(self) -> int:
        with self._tlock:
            return len(self._timers)

    def drain(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        ok = True
        for _ in range(3):  # a delivery can queue another (e.g. an immediate retry)
            for lane in self.lanes.values():
                ok = lane.drain(max(0.0, deadline - time.monotonic())) and ok
            if all(not lane.pending for lane in self.lanes.values()):
                return True
        return ok and all(not lane.pending for lane in self.lanes.values())

    def close(self) -> None:
        """Run what is queued (for up to CLOSE_TIMEOUT_S), then stop. Deliveries left undone (still
        queued, or waiting for a retry) are accounted for as failures: to the subscription's
        dead-letter queue, else in `failures`."""
        with self._tlock:
            self._closed = True
            timers = dict(self._timers)
            self._timers.clear()
        for timer in timers:
            timer.cancel()
        deadline = time.monotonic() + self.CLOSE_TIMEOUT_S
        undone = list(timers.values())
        for lane in self.lanes.values():
            undone += lane.close(max(0.0, deadline - time.monotonic()))
        for attempt in undone:
            attempt.abandon(self)

    # --- undeliverable messages ------------------------------------------------------------
    def fail(self, sub, msg, body, code: str, message: str, *, dead_letter: bool = True) -> None:
        """A delivery that will not be retried: to the subscription's DLQ if it has one."""
        if dead_letter and sub.dlq_arn and self._to_dlq(sub, msg, body, code, message):
            return
        self.failures.append({"SubscriptionArn": sub.arn, "Protocol": sub.protocol, "Endpoint": sub.endpoint,
                              "MessageId": msg.id if msg is not None else None, "ErrorCode": code,
                              "ErrorMessage": message, "Body": body})
        log.info("SNS delivery to %s discarded: %s %s", sub.arn, code, message)

    def _to_dlq(self, sub, msg, body, code, message) -> bool:
        queue = sqs_queue(self.engine, sub.dlq_arn)
        if queue is None:
            log.info("SNS dead-letter queue %s of %s does not exist", sub.dlq_arn, sub.arn)
            return False
        attrs = {}
        if sub.raw and msg is not None and msg.attrs and sub.protocol == "sqs":
            attrs.update(msg.sqs_attributes())
        extra = {"RequestID": AttributeValue("String", str(uuid.uuid4())),
                 "ErrorCode": AttributeValue("String", code),
                 "ErrorMessage": AttributeValue("String", (message or code)[:1024])}
        limit = limits.SNS_RAW_SQS_ATTRIBUTES_MAX
        if len(attrs) + len(extra) <= limit:
            attrs.update(extra)
        elif len(attrs) > limit:  # the originals cannot travel (that may be why it is here): the diagnosis can
            attrs = extra
        group = dedup = None
        if queue.fifo and msg is not None:
            group = msg.group or "sns-dead-letter"
            dedup = msg.dedup_id or hashlib.sha256(f"{sub.arn}:{msg.id}".encode()).hexdigest()
        try:
            [result] = queue.send_batch([OutgoingMessage(body, attributes=attrs or None, group=group,
                                                         dedup=dedup)])
        except ClientError as err:
            result = err
        if isinstance(result, ClientError):
            log.info("SNS could not move a message to the dead-letter queue %s: %s", sub.dlq_arn, result)
            return False
        self.dead_lettered += 1
        return True


class SqsInbox(Protocol):
    """The narrow port of the SQS model SNS delivers through (engine.sqs.models.Queue and
    FifoQueue are its implementations): named entries in, named results out."""
    fifo: bool
    deleted: bool

    def send_batch(self, entries: list[OutgoingMessage]) -> list[SentMessage | ClientError]: ...

    # plain bodies with the queue's defaults; a FIFO queue's also with their group and deduplication ids
    def send_raw(self, bodies: list, groups: list = ..., dedups: list = ...) -> _core.Stored: ...

    def send_packed(self, rows: _core.PackedRows) -> bytes | None: ...   # send_raw's bodies in one buffer

    def send_error(self, body, code: int, group=..., dedup=...) -> ClientError: ...   # (group, dedup: FIFO)


def sqs_queue(engine, arn: str) -> SqsInbox | None:
    """The SQS model queue with this ARN, or None."""
    info = parse_arn(arn) if isinstance(arn, str) else None
    if info is None or info["service"] != "sqs" or info["account"] != engine.account_id:
        return None
    try:
        return engine.backend("sqs", info["region"]).queue_by_arn(arn)
    except RuntimeError:  # engine closed
        return None


# --- targets -----------------------------------------------------------------------------------------
class Target:
    """Delivers one subscription's notifications. `deliver(messages)` gets the messages of one
    publish call that passed the subscription's filter policy, in publish order (a models.Batch)."""

    def __init__(self, sub, dispatcher: Dispatcher):
        self.sub = sub
        self.dispatcher = dispatcher
        self.engine = dispatcher.engine

    def deliver(self, messages: list) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def confirm(self, kind: str, token: str, text: str, url: str) -> None:
        """Send a SubscriptionConfirmation / UnsubscribeConfirmation (HTTP/S and email only)."""


class SqsTarget(Target):
    """Into an SQS queue through the SQS model: the envelope, or the raw message with its
    attributes as SQS message attributes; FIFO queues get the group and deduplication ids."""

    def __init__(self, sub, dispatcher):
        super().__init__(sub, dispatcher)
        self._queue = None

    def queue(self) -> SqsInbox | None:
        q = self._queue
        if q is None or q.deleted:
            q = self._queue = sqs_queue(self.engine, self.sub.endpoint)
        return q

    def deliver(self, messages: list) -> None:
        sub = self.sub
        q = self.queue()
        raw = sub.raw
        if q is None:
            for m in messages:
                self.dispatcher.fail(sub, m, self._text(m), "AWS.SimpleQueueService.NonExistentQueue",
                                     "The specified queue does not exist.")
            return
        if not (raw and messages.has_attributes()):
            if messages.topic.fifo:
                self._send_fifo_topic(q, messages)
                return
            if not q.fifo and (messages.plain or not any(m.group for m in messages)):
                self._send_plain(q, messages)
                return
        try:
            if raw and messages.plain and not q.fifo:   # from the columns; one attribute map per AttributeSet
                bodies = messages.bodies
                entries = [OutgoingMessage(body, None, aset.sqs or None) for body, aset in zip(bodies, messages.sets)]
            else:
                bodies = [self._text(m) for m in messages]
                entries = []
                for m, body in zip(messages, bodies):
                    attrs = m.sqs_attributes() if raw and m.attrs else None
                    if q.fifo:
                        entries.append(OutgoingMessage(body, attributes=attrs, group=m.group, dedup=m.dedup_id))
                    else:   # a FIFO topic's group stays in SNS (AWS delivers to standard queues without it)
                        entries.append(OutgoingMessage(body, attributes=attrs, group=None if m.topic.fifo else m.group))
            results = q.send_batch(entries)
        except ClientError as err:  # the queue went away
            results = [err] * len(messages)
        for k, result in enumerate(results):
            if isinstance(result, ClientError):
                e = result.response["Error"]
                self.dispatcher.fail(sub, messages[k], bodies[k], e["Code"], e["Message"])

    def _text(self, m) -> str:
        """What the queue receives for one message: the raw message or the JSON notification."""
        sub = self.sub
        return m.content("sqs") if sub.raw else m.head("sqs") + sub.unsubscribe_url + m.tail()

    def _send_plain(self, q: SqsInbox, messages: list) -> None:
        """The bulk path: bodies only (envelopes built by the core when the messages allow), one
        call into the queue's core; a refused body fails alone with the queue's exact error."""
        bodies = None if self.sub.raw else sqs_envelopes(messages, self.sub.unsubscribe_url)
        if bodies is not None:
            self._stored(q, messages, bodies, lambda: q.send_packed(bodies))
        else:
            bodies = [self._text(m) for m in messages]
            self._stored(q, messages, bodies, lambda: q.send_raw(bodies).status)

    def _send_fifo_topic(self, q: SqsInbox, messages) -> None:
        """A FIFO topic's messages without attributes to deliver as SQS attributes: bodies only
        (envelopes built by the core) with their group and deduplication ids into a FIFO queue
        (one call into its core), bodies alone into a standard queue (AWS drops the group there)."""
        sub = self.sub
        ms = messages.messages()
        bodies = [m.content("sqs") for m in ms] if sub.raw else fifo_sqs_envelopes(messages, sub.unsubscribe_url)
        if bodies is None:
            bodies = [self._text(m) for m in ms]
        if q.fifo:
            groups, dedups = list(map(_GROUP, ms)), list(map(_DEDUP_ID, ms))
            self._stored(q, ms, bodies, lambda: q.send_raw(bodies, groups, dedups).status, groups, dedups)
        else:
            self._stored(q, ms, bodies, lambda: q.send_raw(bodies).status)

    def _stored(self, q: SqsInbox, messages, bodies, send, groups=None, dedups=None) -> None:
        """send(): one call into the queue's core, returning a status per body (None: all stored).
        A body the queue refused fails alone with the queue's exact error (for a FIFO queue, given
        its group and deduplication ids); every message fails when the queue went away."""
        sub = self.sub
        try:
            status = send()
        except ClientError as err:   # the queue went away
            e = err.response["Error"]
            for m, body in zip(messages, bodies):
                self.dispatcher.fail(sub, m, _as_text(body), e["Code"], e["Message"])
            return
        if status is not None:
            for k, (m, body, code) in enumerate(zip(messages, bodies, status)):
                if code:
                    body = _as_text(body)
                    ids = (groups[k], dedups[k]) if groups is not None else ()
                    e = q.send_error(body, code, *ids).response["Error"]
                    self.dispatcher.fail(sub, m, body, e["Code"], e["Message"])


def _as_text(body) -> str:
    return body.decode("utf-8") if isinstance(body, bytes) else body


class OutboxTarget(Target):
    """email, email-json, sms, application: kept in `engine.outbox` for inspection."""

    def _entry(self, kind: str, msg_id: str, timestamp: str, body, **fields) -> dict:
        sub = self.sub
        entry = {"Protocol": sub.protocol, "Endpoint": sub.endpoint, "Type": kind,
                 "TopicArn": sub.topic.arn, "SubscriptionArn": sub.arn, "MessageId": msg_id,
                 "Timestamp": timestamp}
        entry.update(fields)
        entry["Body"] = body
        return entry

    def deliver(self, messages: list) -> None:
        sub = self.sub
        proto = sub.protocol
        topic = sub.topic
        out = self.engine.outbox
        backend = self.dispatcher.backend
        if proto == "application":
            self._push(backend, messages)
            return
        for m in messages:
            content = m.content(sub.content_key)
            if proto == "sms":
                backend.text(sub.endpoint, content, subject=m.subject, message_id=m.id, attrs=m.attrs,
                             topic_arn=topic.arn, subscription_arn=sub.arn, timestamp=m.timestamp)
                continue
            fields = {"Subject": m.subject, "Message": content,
                      "MessageAttributes": envelope_attributes(m.attrs) if m.attrs else {}}
            if proto == "email-json":
                body = m.envelope(sub.content_key, sub.unsubscribe_url)
            elif proto == "email":
                fields["EmailSubject"] = m.subject or topic.attributes.get("DisplayName") or "AWS Notification Message"
                body = (f"{content}\n\n--\nIf you wish to stop receiving notifications from this topic, please click "
                        f"or visit the link below to unsubscribe:\n{sub.unsubscribe_url}\n\nPlease do not reply "
                        "directly to this email. If you have any questions or comments regarding this email, please "
                        "contact us at https://aws.amazon.com/support")
            else:
                body = content
            out.append(self._entry("Notification", m.id, m.timestamp, body, **fields))

    def _push(self, backend, messages: list) -> None:
        """To a platform endpoint: the payload its push service receives; an endpoint deleted or
        disabled since it subscribed fails the delivery."""
        sub = self.sub
        for m in messages:
            ep = backend.mobile.endpoints.get(sub.endpoint)
            if ep is None or not ep.enabled:
                code, text = ("EndpointDisabled", "Endpoint is disabled") if ep is not None else \
                    ("EndpointNotFound", "Endpoint was not found")
                self.dispatcher.fail(sub, m, m.content(sub.content_key), code, text)
                backend.mobile.delivery_failed(sub.endpoint, m.id, code, text)
                continue
            backend.push(ep, m, sub.topic.arn, sub.arn)

    def confirm(self, kind: str, token: str, text: str, url: str) -> None:
        backend = self.dispatcher.backend
        msg_id = backend.new_message_id()
        timestamp = iso_timestamp(self.dispatcher.clock.now())
        if self.sub.protocol == "email-json":
            body = confirmation_body(kind, msg_id, token, self.sub.topic, text, url, timestamp)
        else:
            body = f"{text}\n\n{url}"
        self.engine.outbox.append(self._entry(kind, msg_id, timestamp, body, Message=text, Token=token,
                                              SubscribeURL=url))


class _Attempt:
    """One delivery of one message to one asynchronous endpoint, retried in place."""
    __slots__ = ("target", "kind", "msg", "body", "headers", "retry", "extra")

    def __init__(self, target, kind, msg, body=None, headers=None, extra=None):
        self.target = target
        self.kind = kind
        self.msg = msg
        self.body = body
        self.headers = headers
        self.retry = 0
        self.extra = extra

    def __call__(self):
        self.target.attempt(self)

    def abandon(self, dispatcher) -> None:
        """The engine closed before this delivery was made: account for it as a failure."""
        if self.kind != "Notification":
            log.info("SNS %s to %s not sent: the engine closed", self.kind, self.target.sub.endpoint)
            return
        sub = self.target.sub
        msgs = self.msg if isinstance(self.msg, list) else [self.msg]
        bodies = self.body if isinstance(self.body, list) else [self.body] * len(msgs)
        for m, body in zip(msgs, bodies):
            if body is None:
                body = m.content(sub.content_key)
            elif not isinstance(body, str):   # a Lambda event
                body = json.dumps(body)
            dispatcher.fail(sub, m, body, ENGINE_CLOSED_CODE, ENGINE_CLOSED_MESSAGE)


class HttpTarget(Target):
    """HTTP/S endpoints: a real POST with SNS's headers; 2xx-4xx is delivered, anything else
    (5xx, refused connection, no answer within 15 s) is retried per the delivery policy."""

    LANE = "http"

    def __init__(self, sub, dispatcher):
        super().__init__(sub, dispatcher)
        self._window = (None, 0)
        parts = urlsplit(sub.endpoint)
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.auth = None
        if parts.username is not None:
            creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self.auth = "Basic " + base64.b64encode(creds).decode()

    def deliver(self, messages: list) -> None:
        for m in messages:
            self.dispatcher.submit(self.LANE, self.sub.arn, _Attempt(self, "Notification", m))

    def confirm(self, kind: str, token: str, text: str, url: str) -> None:
        backend = self.dispatcher.backend
        msg_id = backend.new_message_id()
        body = confirmation_body(kind, msg_id, token, self.sub.topic, text, url,
                                 iso_timestamp(self.dispatcher.clock.now()))
        headers = self._headers(kind, msg_id, DEFAULT_CONTENT_TYPE,
                                with_subscription=kind != "SubscriptionConfirmation")
        self.dispatcher.submit(self.LANE, self.sub.arn, _Attempt(self, kind, None, body, headers))

    def _headers(self, kind, msg_id, content_type, with_subscription=True, raw=False) -> dict:
        headers = {"x-amz-sns-message-type": kind, "x-amz-sns-message-id": msg_id,
                   "x-amz-sns-topic-arn": self.sub.topic.arn}
        if with_subscription:
            headers["x-amz-sns-subscription-arn"] = self.sub.arn
        if raw:
            headers["x-amz-sns-rawdelivery"] = "true"
        headers["Content-Type"] = content_type
        headers["User-Agent"] = USER_AGENT
        headers["Accept-Encoding"] = "gzip,deflate"
        if self.auth:
            headers["Authorization"] = self.auth
        return headers

    def attempt(self, task: _Attempt) -> None:
        sub = self.sub
        if task.kind == "Notification" and sub.deleted:
            return
        policy = sub.http_policy()
        if task.body is None:
            m = task.msg
            if sub.raw:
                task.body = m.content(sub.content_key)
            else:
                task.body = m.envelope(sub.content_key, sub.unsubscribe_url)
            task.headers = self._headers("Notification", m.id, policy.content_type, raw=sub.raw)
        if policy.max_per_second and task.kind == "Notification":
            now = self.dispatcher.clock.now()
            second, count = self._window
            if second != int(now):
                second, count = int(now), 0
            if count >= policy.max_per_second:
                self.dispatcher.later(second + 1 - now, self.LANE, sub.arn, task)
                return
            self._window = (second, count + 1)
        status, error = self._post(task.body, task.headers)
        if status is not None and 200 <= status < 500:
            return
        task.retry += 1
        delay = policy.retry.delay(task.retry)
        if delay is None:
            if task.kind == "Notification":
                code = f"HTTP {status}" if status is not None else "ConnectionError"
                self.dispatcher.fail(sub, task.msg, task.body, code, error or f"endpoint answered {status}")
            else:
                log.info("SNS %s to %s not delivered: %s", task.kind, sub.endpoint, error or status)
            return
        self.dispatcher.later(delay, self.LANE, sub.arn, task)

    def _post(self, body: str, headers: dict):
        data = body.encode("utf-8", "surrogatepass")
        timeout = limits.SNS_HTTP_TIMEOUT_S
        try:
            if self.https:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                                   context=self.dispatcher.ssl_context)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            try:
                conn.request("POST", self.path, body=data, headers=headers)
                response = conn.getresponse()
                response.read()
                return response.status, None
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as err:
            return None, f"{type(err).__name__}: {err}"


def _lambda_context(arn: str):
    name = arn.split(":function:")[-1].split(":")[0]
    return SimpleNamespace(
        function_name=name, function_version="$LATEST", invoked_function_arn=arn, memory_limit_in_mb=128,
        aws_request_id=str(uuid.uuid4()), log_group_name=f"/aws/lambda/{name}",
        log_stream_name=time.strftime("%Y/%m/%d") + "/[$LATEST]engine",
        get_remaining_time_in_millis=lambda: 900_000)


class LambdaTarget(Target):
    """A registered Python handler, invoked as AWS invokes a function for SNS: asynchronously,
    one record per event. A function that does not exist is a client error (dead-letter queue);
    a handler that raises is retried as Lambda retries asynchronous invocations (twice, 1 and 2
    minutes later), then recorded in Dispatcher.failures: SNS has handed it over by then."""

    LANE = "lambda"

    def deliver(self, messages: list) -> None:
        for m in messages:
            self.dispatcher.submit(self.LANE, self.sub.arn, _Attempt(self, "Notification", m))

    def attempt(self, task: _Attempt) -> None:
        sub = self.sub
        if sub.deleted:
            return
        m = task.msg
        handler = self.engine.function(sub.endpoint)
        if handler is None:
            self.dispatcher.fail(sub, m, m.envelope(sub.content_key, sub.unsubscribe_url),
                                 "ResourceNotFoundException", f"Function not found: {sub.endpoint}")
            return
        if task.body is None:
            task.body = lambda_event(m, sub, m.content(sub.content_key))
        try:
            handler(task.body, _lambda_context(sub.endpoint))
        except Exception as err:  # the handler's own failure
            delays = limits.SNS_LAMBDA_ASYNC_RETRY_DELAYS_S
            if task.retry < len(delays):
                task.retry += 1
                self.dispatcher.later(delays[task.retry - 1], self.LANE, sub.arn, task)
                return
            self.dispatcher.fail(sub, m, json.dumps(task.body), "Lambda.FunctionError",
                                 f"{type(err).__name__}: {err}", dead_letter=False)


class FirehoseTarget(Target):
    """Into a Firehose delivery stream through its model (`DeliveryStream.put_batch`): the compact
    JSON envelope, or the raw message, one record each with a trailing newline (so objects
    Firehose writes to S3 hold one notification per line, as AWS's examples show)."""

    LANE = "firehose"

    def deliver(self, messages: list) -> None:
        sub = self.sub
        if sub.raw:
            records = [m.content(sub.content_key) + "\n" for m in messages]
        else:
            records = [compact_notification(m, m.content(sub.content_key), sub.unsubscribe_url) + "\n"
                       for m in messages]
        self.dispatcher.submit(self.LANE, sub.arn, _Attempt(self, "Notification", messages, records))

    def attempt(self, task: _Attempt) -> None:
        sub = self.sub
        info = parse_arn(sub.endpoint)
        name = info["resource"].split("/", 1)[-1]
        try:
            if info["account"] != self.engine.account_id:
                raise LookupError(sub.endpoint)
            stream = self.engine.backend("firehose", info["region"]).get(name)
            stream.put_batch([r.encode("utf-8", "surrogatepass") for r in task.body])
            return
        except (LookupError, ClientError, RuntimeError) as err:
            code = err.response["Error"]["Code"] if isinstance(err, ClientError) else "ResourceNotFoundException"
            text = err.response["Error"]["Message"] if isinstance(err, ClientError) else "Delivery stream not found"
        if code == "ServiceUnavailableException":  # server side: retry per the managed policy
            task.retry += 1
            delay = MANAGED_POLICY.delay(task.retry)
            if delay is not None:
                self.dispatcher.later(delay, self.LANE, sub.arn, task)
                return
        for m, record in zip(task.msg, task.body):
            self.dispatcher.fail(sub, m, record, code, text)


TARGETS = {"sqs": SqsTarget, "http": HttpTarget, "https": HttpTarget, "lambda": LambdaTarget,
           "firehose": FirehoseTarget, "email": OutboxTarget, "email-json": OutboxTarget, "sms": OutboxTarget,
           "application": OutboxTarget}


def make_target(sub, dispatcher: Dispatcher) -> Target:
    return TARGETS[sub.protocol](sub, dispatcher)


__all__ = ["Dispatcher", "Lane", "RetryPolicy", "HttpPolicy", "PolicyError", "MANAGED_POLICY", "make_target",
           "iso_timestamp", "notification_head", "notification_tail", "compact_notification", "lambda_event",
           "envelope_attributes", "check_subscription_policy", "check_topic_policy", "effective_http_policy",
           "effective_policy_json", "sqs_queue"]

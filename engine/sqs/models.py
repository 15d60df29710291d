"""SQS domain: queues as AWS's rules over the native message store, dead-letter redrive and
message move tasks, the account's queues. Typed Python methods; no boto3 dict shapes
(engine.sqs.client does the translation); the value rules are in engine.sqs.rules.

The store is engine._core.MessageQueue (csrc/queue*.c): fixed-size message slots, a chunked
body arena, one heap of timed transitions (delay, visibility, retention: O(log n) per message),
receipt handles as (slot, generation), bodies checked against the XML character ranges and
digested in C a batch per call; in FIFO mode also per-group lists in sequence order, the ready
list of groups and the deduplication records. What a message carries beyond its body
(attributes, trace header, a tenant group id, its dead-letter source, a MessageId kept from
another queue) is a MessageExtra the store holds by tag.

`Queue` holds the rules every queue shares: attributes, limits and error codes, visibility,
dead-letter moves, and the one long-poll loop on the engine clock. `FifoQueue` adds the FIFO
rules: group and deduplication ids, content-based deduplication, ReceiveRequestAttemptId
retries. Each kind has one send path (send_batch; send and the bulk send_raw are forms of it)
and one receive path; receives hand out engine._core.Received columns by name.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import threading
import uuid
from collections import OrderedDict, deque
from itertools import islice
from typing import Callable, NamedTuple

from .. import _core, limits
from ..arn import sqs_arn, sqs_queue_url
from ..datadir import region_root
from ..errors import ClientError, InvalidParameterValue, ResourceNotFoundException
from .errors import (InvalidAttributeName, InvalidAttributeValue, InvalidMessageContents, MissingParameter,
                     OverLimit, PurgeQueueInProgress, QueueDeletedRecently, QueueDoesNotExist, QueueNameExists,
                     ReceiptHandleIsInvalid, invalid_value)
from .md5 import attributes_md5
from .names import SortedNames
from .store import TASK_PROGRESS_EVERY, DurableQueue, MoveTaskStore, QueueStore, key_source, rebuild
from .rules import (ALL_ATTRIBUTES, LABEL, MESSAGE_CONTENT_ERROR, NO_LIMIT, PERMISSION_ACTIONS, AttributeValue,
                    RedrivePolicy, body_bytes, delay_seconds, fifo_id_ok, message_count, normalize_queue_attributes,
                    json_document, parse_redrive_allow_policy, parse_redrive_policy, string_map, validate_fifo_id,
                    validate_attempt_id, validate_message_attributes, validate_queue_name, validate_tags,
                    validate_trace_header,
                    visibility_seconds, wait_seconds, whole_number)

Received = _core.Received


class MessageExtra:
    """What a message carries beyond its body, held by the store by tag (most messages have none)."""
    __slots__ = ("attrs", "attrs_md5", "trace", "trace_md5", "group", "dlq_source", "mid")

    def __init__(self, attrs=None, attrs_md5=None, trace=None, trace_md5=None, group=None, dlq_source=None,
                 mid=None):
        self.attrs = attrs            # dict[str, AttributeValue] | None
        self.attrs_md5 = attrs_md5
        self.trace = trace            # AWSTraceHeader value | None
        self.trace_md5 = trace_md5
        self.group = group            # a standard (fair) queue's MessageGroupId; FIFO ids live in the store
        self.dlq_source = dlq_source  # DeadLetterQueueSourceArn
        self.mid = mid                # a MessageId kept from another queue; None: the store's own id

    def carried(self) -> MessageExtra | None:
        """The extra of a new message with this one's contents (a move task's copy): attributes,
        trace header and group travel, the dead-letter source and kept id do not."""
        if not (self.attrs or self.trace is not None or self.group is not None):
            return None
        return MessageExtra(self.attrs, self.attrs_md5, self.trace, self.trace_md5, self.group)


class OutgoingMessage(NamedTuple):
    """One message to send (an entry of send_batch)."""
    body: str
    delay: int | None = None                       # DelaySeconds (None: the queue's)
    attributes: dict | None = None                 # name -> AttributeValue
    trace: str | None = None                       # AWSTraceHeader
    group: str | None = None                       # MessageGroupId
    dedup: str | None = None                       # MessageDeduplicationId


class SentMessage(NamedTuple):
    """What a send reports for one stored (or, FIFO, deduplicated) message."""
    id: str
    md5: str
    attrs_md5: str | None = None
    trace_md5: str | None = None
    seq: str | None = None                         # FIFO sequence number


class MessageRows(NamedTuple):
    """Messages that left a queue (moved to a dead-letter queue or by a move task), by column."""
    ids: list
    md5s: list
    bodies: list
    receive_counts: list
    first_ms: list
    sent_ms: list
    extras: list
    groups: list | None = None
    dedups: list | None = None
    seqs: list | None = None

    @classmethod
    def of(cls, got: Received) -> MessageRows:
        return cls(got.ids, got.md5s, got.bodies, got.receive_counts, got.first_ms, got.sent_ms, got.extras,
                   got.groups, got.dedups, got.seqs)

    def subset(self, rows: list) -> MessageRows:
        return MessageRows(*(None if c is None else [c[k] for k in rows] for c in self))


def _id_prefix() -> str:
    # A random UUID4 head; the last 12 digits are the store's counter (decimal digits are hex
    # digits, so the id keeps the UUID shape): unique, UUID-shaped, far cheaper than uuid4().
    raw = os.urandom(10).hex()
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-{'89ab'[int(raw[16], 16) & 3]}{raw[17:20]}-"


_ID_START = 10**11


def _random_token(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode().replace("/", "_").replace("+", "-")


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _message_too_long(max_size: int) -> ClientError:
    return InvalidParameterValue(f"One or more parameters are invalid. Reason: Message must be shorter than "
                                 f"{max_size} bytes.")


def _not_a_body(err) -> ClientError:
    return InvalidParameterValue(f"Invalid value for the parameter MessageBody. Reason: {err}.")


def _invalid_handle(handle) -> ClientError:
    return ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.')


def _own_ids(got: Received) -> Received:
    """Messages that kept their MessageId from another queue report it."""
    extras = got.extras
    if extras.count(None) != len(extras):
        ids = got.ids
        for k, x in enumerate(extras):
            if x is not None and x.mid is not None:
                ids[k] = x.mid
    return got


# --- queues -----------------------------------------------------------------------------------------
class Queue:
    """A standard queue: at-least-once, best-effort order. Also the rules every queue shares."""

    fifo = False

    @property
    def inflight_max(self) -> int:
        """Messages in flight at most (a receive beyond it: OverLimit, or nothing on a long poll)."""
        return limits.SQS_INFLIGHT_STANDARD_MAX

    def __init__(self, backend: "SQSBackend", name: str, attributes: dict, tags: dict | None):
        self.backend = backend
        self.name = name
        self.arn = sqs_arn(backend.region, backend.account_id, name)
        self.url = sqs_queue_url(backend.region, backend.account_id, name)
        self.clock = backend.clock
        now = self.clock.now()
        self.created = int(now)
        self.modified = int(now)
        self.tags: dict[str, str] = dict(tags or {})
        self.deleted = False
        self.last_purge = None
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
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        self._watchers: list = []   # event-loop long polls (watch)
        self._apply(attributes)
        self._q = self._store()
        self._store_settings = self._settings()
        self._disk: DurableQueue | None = None   # durable engines: the store, logged
        self._new_handles: dict[str, str] = {}   # after a restart: in-flight handles -> their new ones

    def _settings(self) -> tuple:
        """What the store keeps of the attributes."""
        return self.retention,

    def _store(self, id_prefix: str | None = None, first_num: int = _ID_START, seq_base: int | None = None):
        return _core.MessageQueue(self.retention * 1000, id_prefix or _id_prefix(), "AQEB" + _random_token(30),
                                  first_num)

    # --- attributes -----------------------------------------------------------------------------
    def _apply(self, attrs: dict) -> None:
        """Apply validated, normalised attributes (the store follows in _sync_store)."""
        a = self.attributes
        for name, value in attrs.items():
            if name in ("Policy", "RedrivePolicy", "RedriveAllowPolicy") and value == "":
                a.pop(name, None)
            elif name == "KmsMasterKeyId" and value == "":
                a.pop(name, None)
                a.pop("KmsDataKeyReusePeriodSeconds", None)
            elif name != "FifoQueue":  # (fixed at creation)
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
        self.max_size = int(a["MaximumMessageSize"])
        self.retention = int(a["MessageRetentionPeriod"])
        self.wait_time = int(a["ReceiveMessageWaitTimeSeconds"])
        self.visibility = int(a["VisibilityTimeout"])
        raw = a.get("RedrivePolicy")
        self.redrive = parse_redrive_policy(raw) if raw else None
        raw = a.get("RedriveAllowPolicy")
        self.redrive_allow = parse_redrive_allow_policy(raw) if raw else ("allowAll", ())

    def _sync_store(self) -> None:
        """The store follows the attributes it keeps (a change rekeys it: O(n), and rare)."""
        settings = self._settings()
        if settings != self._store_settings:
            self._store_settings = settings
            self._configure_store()

    def _configure_store(self) -> None:
        self._q.set_retention(self._now_ms(), self.retention * 1000)

    def set_attributes(self, attrs: dict) -> None:
        """SetQueueAttributes with attributes already normalised and cross-checked; all or nothing."""
        with self._lock:
            saved = dict(self.attributes)
            try:
                self._apply(attrs)
            except ClientError:
                self.attributes = saved
                self._apply({})
                raise
            self.modified = int(self.clock.now())
            self._sync_store()
            self._cond.notify_all()
            for wake in tuple(self._watchers):
                wake()

    def get_attributes(self, names) -> dict[str, str]:
        """GetQueueAttributes: canonical string values of the requested names ('All' for all)."""
        for name in names:
            if name.__class__ is not str or name not in ALL_ATTRIBUTES:
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

    def _now_ms(self) -> int:
        return _ms(self.clock.now())

    def _counts(self) -> tuple[int, int, int]:
        """(visible, in flight, delayed) after running due transitions."""
        v, i, d, _ = self._q.counts(self._now_ms())
        return v, i, d

    @property
    def approximate_number_of_messages(self) -> int:
        return self._counts()[0]

    @property
    def approximate_number_of_messages_not_visible(self) -> int:
        return self._counts()[1]

    @property
    def approximate_number_of_messages_delayed(self) -> int:
        return self._counts()[2]

    def stats(self) -> dict:
        """The store's view: counts, slots, heap entries, bytes allocated and held."""
        return self._q.stats(self._now_ms())

    def _wake(self) -> None:
        """Messages may have become receivable: wake long pollers."""
        if self._waiters:
            with self._cond:
                self._cond.notify_all()
            for wake in tuple(self._watchers):
                wake()

    def watch(self, wake) -> Callable[[], None]:
        """Have `wake()` called (on the waking thread) whenever messages may have become
        receivable, the settings changed or the queue closed, until the returned function is
        called: how an event loop long-polls without a thread per poll. `wake` must not block."""
        with self._lock:
            self._waiters += 1
            self._watchers.append(wake)

        def unwatch() -> None:
            with self._lock:
                self._watchers.remove(wake)
                self._waiters -= 1
        return unwatch

    def next_transition(self) -> float | None:
        """When (clock seconds) the next delayed or in-flight message becomes visible, if any."""
        due = self._q.counts(self._now_ms())[3]
        return None if due is None else due / 1000.0

    def _check_open(self) -> None:
        if self.deleted:
            raise QueueDoesNotExist()

    # --- durability (engines with a data dir) ---------------------------------------------------
    def attach(self, store: QueueStore, fold=None) -> None:
        """Log every change of the messages to `store` from now on; a restart first rebuilds the
        messages its log folds to."""
        store.encrypts = self._encrypts
        store.retention_ms = lambda: self.retention * 1000
        store.id_prefix = self._q.id_prefix
        store.window_ms = limits.SQS_DEDUP_WINDOW_S * 1000
        handles = {} if fold is None else rebuild(self._q, fold, self._now_ms(), self.retention * 1000,
                                                  self._q.id_prefix, MessageExtra)
        self._disk = self._q = DurableQueue(self._q, store)
        if handles:
            self._disk.handles_moved(self._now_ms(), handles)
            self._new_handles = handles
        self.persist()

    def _encrypts(self) -> bool:
        a = self.attributes
        return "KmsMasterKeyId" in a or a.get("SqsManagedSseEnabled") == "true"

    def persist(self) -> None:
        """Rewrite the queue's settings file (durable engines)."""
        if self._disk is None:
            return
        with self._lock:
            meta = {"name": self.name, "fifo": self.fifo, "created": self.created, "modified": self.modified,
                    "attributes": self.attributes, "tags": self.tags, "id_prefix": self._q.id_prefix,
                    "seq_base": self._q.seq_base}
            self._disk.store.save_meta(meta)

    @classmethod
    def restore(cls, backend: "SQSBackend", store: QueueStore, meta: dict) -> "Queue":
        """The queue a durable engine wrote: its settings, then its live messages."""
        queue = (FifoQueue if meta["fifo"] else Queue)(backend, meta["name"], {}, meta["tags"])
        queue.attributes = dict(meta["attributes"])
        queue._apply({})
        queue.created, queue.modified = meta["created"], meta["modified"]
        fold = store.recover(meta["id_prefix"], limits.SQS_DEDUP_WINDOW_S * 1000)
        # a new sequence base above every number the last run could have handed out
        seq_base = max(meta["seq_base"] + 10**10, _seq_base(queue.clock)) if queue.fifo else None
        queue._q = queue._store(meta["id_prefix"], max(fold.max_num + 1, _ID_START), seq_base)
        queue._store_settings = queue._settings()
        queue.attach(store, fold)
        return queue

    def _moved_out(self, ids: list) -> None:
        """Messages now held by another queue (durable engines log them gone)."""
        if self._disk is not None:
            self._disk.removed(self._now_ms(), ids)

    def _current(self, handles):
        """Receipt handles as the store knows them (a restart gave in-flight messages new ones)."""
        moved = self._new_handles
        return [moved.get(h, h) for h in handles] if moved else handles

    # --- sending --------------------------------------------------------------------------------
    def send(self, body: str, delay=None, attributes=None, trace=None, group=None, dedup=None) -> SentMessage:
        """SendMessage: the stored message's ids and digests, or the AWS error."""
        result = self.send_batch([OutgoingMessage(body, delay, attributes, trace, group, dedup)])[0]
        if isinstance(result, ClientError):
            raise result
        return result

    def _extra(self, m: OutgoingMessage) -> tuple[MessageExtra | None, int]:
        """Check what a message carries beyond its body; (its extra, the bytes it adds)."""
        if m.dedup is not None:
            raise invalid_value("MessageDeduplicationId", m.dedup,
                                "The request includes a parameter that is not valid for this queue type.")
        if m.group is not None:
            validate_fifo_id(m.group, "MessageGroupId")  # fair queues: a tenant id on a standard queue
        return _extra_of(m.attributes, m.trace, m.group)

    def send_batch(self, entries) -> list:
        """SendMessageBatch: entries are OutgoingMessage (or tuples in its order). Returns per
        entry a SentMessage or the ClientError that refused it; the accepted ones are stored in
        order, in one call into the store."""
        bodies, delays, extras, rows, out = [], [], [], [], []
        any_extra = False
        qdelay = self.delay * 1000
        shared = {}   # id(attributes) -> (extra, size): entries given one map object share its checks and digest
        for k, m in enumerate(entries):
            try:
                body, delay, attributes, trace, group, dedup = m = _outgoing(m)
                if body.__class__ is not str:
                    raise _not_a_body("must be a string")
                x = extra_size = None
                if attributes and trace is None and group is None and dedup is None:
                    known = shared.get(id(attributes))   # (the entries keep every map alive: ids are unique)
                    if known is None:
                        known = shared[id(attributes)] = self._extra(m)
                    x, extra_size = known
                elif attributes or trace is not None or group is not None or dedup is not None:
                    x, extra_size = self._extra(m)
                if extra_size is not None:
                    if len(body_bytes(body)) + extra_size > self.max_size:
                        raise _message_too_long(self.max_size)
                    any_extra = any_extra or x is not None
                delays.append(qdelay if delay is None else delay_seconds(delay) * 1000)
            except ClientError as err:
                out.append(err)
                continue
            out.append(None)
            bodies.append(body)
            extras.append(x)
            rows.append(k)
        if bodies:
            self._check_open()
            try:
                stored = self._q.send(self._now_ms(), bodies, 0, self.max_size, delays, extras if any_extra else None)
            except _core.CoreValueError as err:
                raise _not_a_body(err) from None
            for i, k in enumerate(rows):
                if stored.status is not None and stored.status[i]:
                    out[k] = self.send_error(bodies[i], stored.status[i])
                else:
                    x = extras[i]
                    out[k] = SentMessage(stored.ids[i], stored.md5s[i], x and x.attrs_md5, x and x.trace_md5)
            self._wake()
        return out

    def send_raw(self, bodies) -> _core.Stored:
        """The native bulk send: plain str/bytes bodies with the queue's defaults, checked and
        digested by the store. Returns its Stored columns (status None when all were stored;
        else per-row _core.SEND_* codes: send_error gives the exact error)."""
        if self.deleted:
            raise QueueDoesNotExist()
        try:
            out = self._q.send(_ms(self.clock.now()), bodies, self.delay * 1000, self.max_size)
        except _core.CoreValueError as err:  # a body that is neither str nor bytes
            raise _not_a_body(err) from None
        if self._waiters:
            self._wake()
        return out

    def send_packed(self, rows: _core.PackedRows) -> bytes | None:
        """The native bulk send of bodies built in one buffer (SNS's envelopes) with the queue's
        defaults: no Python object per message. Returns None when all were stored, else per-row
        _core.SEND_* codes (send_error gives the exact error)."""
        if self.deleted:
            raise QueueDoesNotExist()
        if self._disk is not None:   # the operation log records each body and id
            return self.send_raw(list(rows)).status
        status = self._q.send_packed(_ms(self.clock.now()), rows, self.delay * 1000, self.max_size).status
        if self._waiters:
            self._wake()
        return status

    def send_error(self, body, code: int) -> ClientError:
        """The exact error for a body the store refused (code: a _core.SEND_* status)."""
        if code == _core.SEND_EMPTY:
            return MissingParameter("The request must contain the parameter MessageBody.")
        if code == _core.SEND_TOO_LONG:
            return _message_too_long(self.max_size)
        return InvalidMessageContents(MESSAGE_CONTENT_ERROR)

    # --- receiving ------------------------------------------------------------------------------
    def receive(self, max_messages: int = 1, visibility_timeout: int | None = None, wait_time: int | None = None,
                attempt_id: str | None = None, fifo_cols: bool = False) -> Received:
        """ReceiveMessage in columns (engine._core.Received: ids, handles, md5s, bodies,
        receive_counts, first_ms, sent_ms, extras; groups, dedups, seqs with fifo_cols). No cap
        on max_messages here (the native API; ReceiveMessage's 10 is the client's rule).
        wait_time None uses the queue's ReceiveMessageWaitTimeSeconds; a long poll returns as
        soon as a message is available. Messages past the redrive policy's maxReceiveCount move
        to the dead-letter queue on the way."""
        n = message_count(max_messages)
        vt = self.visibility if visibility_timeout is None else visibility_seconds(visibility_timeout)
        wait = self.wait_time if wait_time is None else wait_seconds(wait_time)
        if attempt_id is not None:
            validate_attempt_id(attempt_id)  # (a standard queue checks it, and has no use for it)
        if self.deleted:
            return self._q.receive(self._now_ms(), 0, 0)  # (nothing)
        clock = self.clock
        now = clock.now()
        deadline = now + wait
        while True:
            if not wait:
                got = self._take(_ms(now), n, vt, attempt_id, fifo_cols, wait)
            else:
                with self._cond:  # the long poll: until a message, a due transition or the deadline
                    self._waiters += 1  # (before the take: a send after it sees a waiter)
                    try:
                        while True:
                            got = self._take(_ms(clock.now()), n, vt, attempt_id, fifo_cols, wait)
                            now = clock.now()
                            if got.ids or got.moved is not None or self.deleted or now >= deadline:
                                break
                            due = self._q.counts(_ms(now))[3]
                            clock.wait(self._cond, deadline if due is None else min(deadline, due / 1000.0))
                    finally:
                        self._waiters -= 1
            if got.moved is None:
                break
            self._deliver_dead_letters(MessageRows.of(_own_ids(got.moved)))
            got.moved = None
            now = clock.now()
            if got.ids or now >= deadline:
                break  # (else messages behind the moved ones may be receivable)
        if not vt and got.ids:
            self._wake()  # visible again at once: other pollers may take them
        return _own_ids(got)

    def _max_rc(self) -> int:
        """The receive count past which a message moves to the dead-letter queue."""
        redrive = self.redrive
        if redrive is not None and self._dlq() is not None:
            return redrive.max_receive_count
        return NO_LIMIT

    def _take(self, now_ms: int, n: int, vt: int, attempt_id, fifo_cols: bool, wait: int) -> Received:
        got = self._q.receive(now_ms, n, vt * 1000, NO_LIMIT if self.redrive is None else self._max_rc(),
                              self.inflight_max)
        if got.over_limit and not wait:
            raise OverLimit(f"The maximum number of in flight messages ({self.inflight_max}) has been reached.")
        return got

    # --- dead-letter queues ---------------------------------------------------------------------
    def _dlq(self) -> Queue | None:
        """This queue's redrive target, if it exists and accepts messages from this queue."""
        dlq = self.backend.queue_by_arn(self.redrive.dead_letter_target_arn)
        if dlq is None or dlq is self or dlq.fifo != self.fifo or not dlq.allows_source(self.arn):
            return None
        return dlq

    def allows_source(self, source_arn: str) -> bool:
        permission, sources = self.redrive_allow
        return permission == "allowAll" or (permission == "byQueue" and source_arn in sources)

    def _deliver_dead_letters(self, rows: MessageRows) -> None:
        dlq = self._dlq() if self.redrive is not None else None
        if dlq is None or dlq.deleted:  # gone in the meantime: the messages stay here, unchanged
            self.accept_dead_letters(rows, None)
        else:
            dlq.accept_dead_letters(rows, self.arn)
            self._moved_out(rows.ids)

    def accept_dead_letters(self, rows: MessageRows, source_arn: str | None) -> None:
        """Messages moved here from `source_arn` after maxReceiveCount receives (None: put back
        into their own queue unchanged). Their ids, enqueue times and receive counts stay."""
        if self.deleted or not rows.ids:
            return
        extras = []
        for mid, x in zip(rows.ids, rows.extras):
            if x is None:
                x = MessageExtra()
            extras.append(MessageExtra(x.attrs, x.attrs_md5, x.trace, x.trace_md5, x.group,
                                       x.dlq_source if source_arn is None else source_arn, mid))
        self._q.restore(self._now_ms(), rows.bodies, rows.md5s, sent_ms=rows.sent_ms, rcs=rows.receive_counts,
                        first_ms=rows.first_ms, extras=extras)
        self._wake()

    def take_for_move(self, n: int) -> MessageRows:
        """Remove up to n visible messages, oldest first (the source side of a move task)."""
        return MessageRows.of(_own_ids(self._q.receive(self._now_ms(), n, 0, remove=True)))

    def accept_redriven(self, rows: MessageRows) -> None:
        """Messages moved here by a move task: new messages (new MessageId, new enqueue time)
        with the same body and attributes."""
        self._check_open()
        self._q.restore(self._now_ms(), rows.bodies, rows.md5s,
                        extras=[None if x is None else x.carried() for x in rows.extras])
        self._wake()

    # --- deleting and visibility ----------------------------------------------------------------
    def delete(self, handle: str) -> None:
        err = self.delete_batch([handle])[0]
        if err is not None:
            raise err

    def delete_batch(self, handles) -> list:
        """DeleteMessage(Batch): per handle None (deleted) or the ClientError. Standard queues
        delete with the latest handle even after its visibility ran out; an older handle
        succeeds without deleting ("the message might not be deleted")."""
        res = self._q.delete(self._now_ms(), self._current(handles))
        if res is None:
            return [None] * len(handles)
        return [None if r != _core.HANDLE_INVALID else _invalid_handle(h) for h, r in zip(handles, res)]

    def change_visibility(self, handle: str, timeout: int) -> None:
        err = self.change_visibility_batch([(handle, timeout)])[0]
        if err is not None:
            raise err

    def _not_in_flight(self, handle) -> ClientError | None:
        return None  # standard queues accept the change silently

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
            res = self._q.change_visibility(self._now_ms(), self._current([entries[k][0] for k in rows]),
                                            [entries[k][1] * 1000 for k in rows], limits.SQS_VISIBILITY_MAX_S * 1000)
            for k, r in zip(rows, res):
                h, timeout = entries[k]
                if r == _core.HANDLE_STALE:
                    out[k] = invalid_value("ReceiptHandle", h, "Message does not exist or is not available for "
                                                               "visibility timeout change.")
                elif r == _core.HANDLE_INVALID:
                    out[k] = _invalid_handle(h)
                elif r == _core.HANDLE_NOT_INFLIGHT:
                    out[k] = self._not_in_flight(h)
                elif r == _core.HANDLE_TOO_LONG:
                    out[k] = invalid_value("VisibilityTimeout", timeout,
                                           "Total VisibilityTimeout for the message is beyond the limit "
                                           f"[{limits.SQS_VISIBILITY_MAX_S} seconds]")
            self._wake()
        return out

    # --- housekeeping ---------------------------------------------------------------------------
    def purge(self) -> None:
        with self._lock:
            now = self.clock.now()
            if self.last_purge is not None and now - self.last_purge < limits.SQS_PURGE_INTERVAL_S:
                raise PurgeQueueInProgress(f"Only one PurgeQueue operation on {self.name} is allowed every "
                                           f"{limits.SQS_PURGE_INTERVAL_S} seconds.")
            self.last_purge = now
        self._q.clear()

    def close(self) -> None:
        """The queue was deleted (or the engine closed): wake every poller, drop the messages."""
        with self._lock:
            self.deleted = True
            self._cond.notify_all()
            watchers = tuple(self._watchers)
        for wake in watchers:
            wake()
        self._q.clear()


def _outgoing(m) -> OutgoingMessage:
    """A send_batch entry: an OutgoingMessage, or a tuple in its order."""
    if m.__class__ is OutgoingMessage:
        return m
    try:
        return OutgoingMessage(*m)
    except TypeError:
        raise InvalidParameterValue("A message to send is a (body, delay, attributes, trace, group, dedup) "
                                    "tuple.") from None


def _extra_of(attributes, trace, group) -> tuple[MessageExtra | None, int]:
    """A message's extra from its attributes, trace header and (standard queues) tenant group,
    digests computed; and the bytes the attributes add to the message size."""
    size = validate_message_attributes(attributes) if attributes else 0
    if trace is not None:
        validate_trace_header({"AWSTraceHeader": AttributeValue("String", trace)})
    if not (attributes or trace is not None or group is not None):
        return None, size
    return MessageExtra(attributes or None, attributes_md5(attributes) if attributes else None, trace,
                        attributes_md5({"AWSTraceHeader": ("String", trace, None)}) if trace is not None else None,
                        group), size


class FifoQueue(Queue):
    """A FIFO queue: per-group order (a group's messages after one in flight wait for it),
    deduplication within 5 minutes (queue or group scope, remembered after delete), sequence
    numbers, ReceiveRequestAttemptId retries. Groups, deduplication records and sequence
    numbers live in the store; the 120,000 messages-scanned rule is approximated by taking ready
    groups in the order they became ready."""

    fifo = True

    @property
    def inflight_max(self) -> int:
        return limits.SQS_INFLIGHT_FIFO_MAX  # (no error past it: the receive returns fewer)

    def __init__(self, backend, name, attributes, tags):
        super().__init__(backend, name, attributes, tags)
        self._attempts: OrderedDict = OrderedDict()  # attempt id -> (expires ms, due ms, Received)

    def _store(self, id_prefix: str | None = None, first_num: int = _ID_START, seq_base: int | None = None):
        return _core.MessageQueue(self.retention * 1000, id_prefix or _id_prefix(), "AQEB" + _random_token(30),
                                  first_num, fifo=True, seq_base=seq_base or _seq_base(self.clock),
                                  window_ms=limits.SQS_DEDUP_WINDOW_S * 1000, delay_ms=self.delay * 1000,
                                  group_scope=self.group_dedup)

    def _apply(self, attrs: dict) -> None:
        super()._apply(attrs)
        a = self.attributes
        self.content_dedup = a.get("ContentBasedDeduplication") == "true"
        self.group_dedup = a.get("DeduplicationScope") == "messageGroup"

    def _settings(self) -> tuple:
        return self.retention, self.delay, self.group_dedup

    def _configure_store(self) -> None:
        super()._configure_store()
        self._q.set_fifo(self._now_ms(), self.delay * 1000, self.group_dedup)

    # --- sending --------------------------------------------------------------------------------
    def send(self, body: str, delay=None, attributes=None, trace=None, group=None, dedup=None) -> SentMessage:
        if group is None:
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        return super().send(body, delay, attributes, trace, group, dedup)

    def _extra(self, m: OutgoingMessage) -> tuple[MessageExtra | None, int]:
        validate_fifo_id(m.group, "MessageGroupId")
        if m.dedup is not None:
            validate_fifo_id(m.dedup, "MessageDeduplicationId")
        return _extra_of(m.attributes, m.trace, None)

    def send_batch(self, entries) -> list:
        """SendMessageBatch for a FIFO queue: every entry needs a MessageGroupId, and a
        MessageDeduplicationId unless the queue deduplicates by content (either missing fails
        the whole request, as AWS does). Per entry a SentMessage (a duplicate within the
        window reports the original's id and sequence number) or the ClientError."""
        entries = [_outgoing(m) for m in entries]
        for m in entries:
            if m.group is None:
                raise InvalidParameterValue("The request must contain the parameter MessageGroupId.")
            if m.dedup is None and not self.content_dedup:
                raise InvalidParameterValue("The queue should either have ContentBasedDeduplication enabled or "
                                            "MessageDeduplicationId provided explicitly")
        bodies, groups, dedups, extras, rows, out = [], [], [], [], [], []
        any_extra = False
        for k, m in enumerate(entries):
            try:
                if m.body.__class__ is not str:
                    raise _not_a_body("must be a string")
                if m.delay:
                    raise invalid_value("DelaySeconds", m.delay,
                                        "The request include parameter that is not valid for this queue type.")
                x = None
                if m.attributes or m.trace is not None or not (fifo_id_ok(m.group) and
                                                                (m.dedup is None or fifo_id_ok(m.dedup))):
                    x, extra_size = self._extra(m)
                    if len(body_bytes(m.body)) + extra_size > self.max_size:
                        raise _message_too_long(self.max_size)
                    any_extra = any_extra or x is not None
            except ClientError as err:
                out.append(err)
                continue
            out.append(None)
            bodies.append(m.body)
            groups.append(m.group)
            dedups.append(m.dedup if m.dedup is not None else _content_dedup_id(m.body))
            extras.append(x)
            rows.append(k)
        if bodies:
            stored = self._send_rows(bodies, groups, dedups, extras if any_extra else None)
            for i, k in enumerate(rows):
                if stored.status is not None and stored.status[i]:
                    out[k] = self.send_error(bodies[i], stored.status[i], groups[i], dedups[i])
                else:
                    x = extras[i]
                    out[k] = SentMessage(stored.ids[i], stored.md5s[i], x and x.attrs_md5, x and x.trace_md5,
                                         stored.seqs[i])
        return out

    def send_raw(self, bodies, groups, dedups) -> _core.Stored:
        """The native bulk FIFO send: parallel columns of bodies, group ids and deduplication ids
        (None: the queue must deduplicate by content), checked, digested and deduplicated by the
        store. Returns its Stored columns (a duplicate reports the original's id and sequence
        number; per-row _core.SEND_* codes for refused rows: send_error gives the exact error)."""
        if not self.content_dedup and None in dedups:
            raise InvalidParameterValue("The queue should either have ContentBasedDeduplication enabled or "
                                        "MessageDeduplicationId provided explicitly")
        if self.content_dedup:
            dedups = [d if d is not None or b.__class__ is not str else _content_dedup_id(b)
                      for b, d in zip(bodies, dedups)]
        return self._send_rows(bodies, groups, dedups, None)

    def _send_rows(self, bodies, groups, dedups, extras) -> _core.Stored:
        if self.deleted:
            raise QueueDoesNotExist()
        try:
            out = self._q.send_fifo(_ms(self.clock.now()), bodies, groups, dedups, self.max_size, extras)
        except _core.CoreValueError as err:  # a body that is neither str nor bytes, columns of other lengths
            raise _not_a_body(err) from None
        if self._waiters:
            self._wake()
        return out

    def send_error(self, body, code: int, group=None, dedup=None) -> ClientError:
        if code == _core.SEND_BAD_GROUP:
            return invalid_value("MessageGroupId", group, "MessageGroupId can only include alphanumeric and "
                                                          "punctuation characters. 1 to 128 in length.")
        if code == _core.SEND_BAD_DEDUP:
            return invalid_value("MessageDeduplicationId", dedup, "MessageDeduplicationId can only include "
                                 "alphanumeric and punctuation characters. 1 to 128 in length.")
        return super().send_error(body, code)

    # --- receiving ------------------------------------------------------------------------------
    def _take(self, now: int, n: int, vt: int, attempt_id, fifo_cols: bool, wait: int) -> Received:
        if attempt_id is not None:
            rec = self._attempts.get(attempt_id)
            if rec is not None:
                expires, due, got = rec
                if expires > now and self._q.retry(now, got.handles, due, vt * 1000):
                    if vt:
                        self._attempts[attempt_id] = (expires, now + vt * 1000, got)
                    return got
                del self._attempts[attempt_id]
        got = self._q.receive(now, n, vt * 1000, NO_LIMIT if self.redrive is None else self._max_rc(),
                              self.inflight_max, fifo_cols=fifo_cols or attempt_id is not None)
        if got.ids and attempt_id is not None:
            attempts = self._attempts
            while attempts and next(iter(attempts.values()))[0] <= now:  # expired ones, oldest first
                attempts.popitem(last=False)
            attempts[attempt_id] = (now + limits.SQS_ATTEMPT_ID_WINDOW_S * 1000, now + vt * 1000, got)
        return got

    # --- deleting and visibility ----------------------------------------------------------------
    def delete_batch(self, handles) -> list:
        """DeleteMessage(Batch): per handle None or the ClientError (FIFO: only a message in
        flight with its current handle can be deleted)."""
        res = self._q.delete(self._now_ms(), self._current(handles))
        self._wake()  # a group may have been released
        if res is None:
            return [None] * len(handles)
        return [None if r == 0 else _invalid_handle(h) if r == _core.HANDLE_INVALID else
                invalid_value("ReceiptHandle", h, "The receipt handle has expired.") for h, r in zip(handles, res)]

    def _not_in_flight(self, handle) -> ClientError:
        return invalid_value("ReceiptHandle", handle, "The receipt handle has expired.")

    # --- dead letters / redrive -----------------------------------------------------------------
    def accept_dead_letters(self, rows: MessageRows, source_arn: str | None) -> None:
        """FIFO dead-letter queue: enqueue time resets, ids and receive counts stay; the
        deduplication id becomes the original message id (so two messages sharing a dedup id
        both land). source_arn None: back into this queue unchanged, at their place in their
        groups."""
        if self.deleted or not rows.ids:
            return
        keep = source_arn is None
        extras = []
        for mid, x in zip(rows.ids, rows.extras):
            x = x or MessageExtra()
            extras.append(MessageExtra(x.attrs, x.attrs_md5, x.trace, x.trace_md5, None,
                                       x.dlq_source if keep else source_arn, mid))
        self._q.restore(self._now_ms(), rows.bodies, rows.md5s, sent_ms=rows.sent_ms if keep else None,
                        rcs=rows.receive_counts, first_ms=rows.first_ms, extras=extras, groups=rows.groups,
                        dedups=rows.dedups if keep else rows.ids,
                        seqs=[int(s) for s in rows.seqs] if keep else None)
        self._wake()

    def accept_redriven(self, rows: MessageRows) -> None:
        """Messages moved here by a move task: new messages (new MessageId, new enqueue time and
        sequence number) with the same body, attributes and group."""
        self._check_open()
        self._q.restore(self._now_ms(), rows.bodies, rows.md5s,
                        extras=[None if x is None else x.carried() for x in rows.extras], groups=rows.groups,
                        dedups=[d or mid for d, mid in zip(rows.dedups, rows.ids)])
        self._wake()

    # --- housekeeping ---------------------------------------------------------------------------
    def purge(self) -> None:
        super().purge()
        self._attempts.clear()

    def close(self) -> None:
        super().close()
        self._attempts.clear()


def _seq_base(clock) -> int:
    # 20-digit sequence numbers that grow with the clock: a queue's numbers never repeat
    return int(clock.now()) * 10**10 + 10**19


def _content_dedup_id(body: str) -> str:
    """ContentBasedDeduplication: the SHA-256 of the body."""
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


# --- message move tasks ---------------------------------------------------------------------------
class MoveTask:
    RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED = "RUNNING", "COMPLETED", "CANCELLING", "CANCELLED", "FAILED"

    def __init__(self, source_arn, destination_arn, rate, started_ms, serial, task_id=None):
        self.task_id = task_id or str(uuid.uuid4())
        self.source_arn = source_arn
        self.destination_arn = destination_arn
        self.rate = rate
        self.started_ms = started_ms
        self.serial = serial            # the backend's start order (durable engines list tasks in it)
        self.status = self.RUNNING
        self.moved = 0
        self.to_move = 0
        self.failure = None
        self.timer = None
        doc = json.dumps({"taskId": self.task_id, "sourceArn": source_arn}, separators=(",", ":"))
        self.handle = base64.b64encode(doc.encode()).decode()

    def document(self) -> dict:
        return {"id": self.task_id, "serial": self.serial, "source": self.source_arn,
                "destination": self.destination_arn, "rate": self.rate, "started_ms": self.started_ms,
                "status": self.status, "moved": self.moved, "to_move": self.to_move, "failure": self.failure}

    @classmethod
    def from_document(cls, doc: dict) -> MoveTask:
        task = cls(doc["source"], doc["destination"], doc["rate"], doc["started_ms"], doc["serial"], doc["id"])
        task.status, task.moved, task.to_move = doc["status"], doc["moved"], doc["to_move"]
        task.failure = doc["failure"]
        return task


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
        self._task_serial = itertools.count()
        # Durable engines keep each queue under <data_dir>/sqs/<account>/<region>/<queue name>/,
        # and the move tasks beside them; a task running at the last stop runs on.
        self._root = None
        self._task_store: MoveTaskStore | None = None
        self._task_lock = threading.Lock()   # a task's document is written from its latest state
        if engine.durability != "memory":
            self._root, self._root_lock = region_root(engine, "sqs", region, self.account_id)
            self._key = key_source(engine.data_dir)
            self._restore()
            self._task_store = MoveTaskStore(self._root, engine.durability)
            self._restore_tasks()

    def _queue_store(self, name: str) -> QueueStore:
        return QueueStore(os.path.join(self._root, name), self.engine.durability,
                          sqs_arn(self.region, self.account_id, name), self._key)

    def _restore(self) -> None:
        for name in sorted(os.listdir(self._root)):
            if name.startswith("."):   # the lock and the move tasks (a queue name never starts with '.')
                continue
            store = self._queue_store(name)
            meta = store.load_meta()
            if meta is None:   # a create that never finished
                store.delete()
                continue
            queue = Queue.restore(self, store, meta)
            self.queues[name] = queue
            self.by_url[queue.url] = queue
            self.by_arn[queue.arn] = queue
            self._names.add(name)
            self._index_redrive(name, None, _redrive_target(queue))

    def _restore_tasks(self) -> None:
        tasks = sorted(map(MoveTask.from_document, self._task_store.load()), key=lambda t: t.serial)
        for task in tasks:
            self.move_tasks[task.task_id] = task
            self._tasks_by_source.setdefault(task.source_arn, deque()).append(task)
        self._task_serial = itertools.count(tasks[-1].serial + 1 if tasks else 0)
        for task in tasks:
            if task.status == MoveTask.RUNNING:
                self._run(task)

    def _save_task(self, task: MoveTask) -> None:
        """Write the task's document as it is now (durable engines); a task no longer kept is not."""
        if self._task_store is None:
            return
        with self._task_lock:
            if self.move_tasks.get(task.task_id) is task:
                self._task_store.save(task.task_id, task.document())

    def _drop_task(self, task: MoveTask) -> None:
        if self._task_store is not None:
            with self._task_lock:
                self._task_store.drop(task.task_id)

    # --- queues ---------------------------------------------------------------------------
    def create_queue(self, name: str, attributes: dict | None = None, tags: dict | None = None) -> Queue:
        attributes = string_map("Attributes", attributes)
        if attributes.get("Policy") == "":
            del attributes["Policy"]
        fifo_flag = attributes.get("FifoQueue", "")
        fifo_flag = fifo_flag.lower() if fifo_flag.__class__ is str else "?"
        fifo = fifo_flag == "true"
        if fifo_flag and fifo_flag not in ("true", "false"):
            raise InvalidAttributeValue("Invalid value for the parameter FifoQueue.")
        validate_queue_name(name, fifo)
        attrs = normalize_queue_attributes(attributes, fifo=fifo, creating=True)
        tags = validate_tags(string_map("tags", tags), name)
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
            queue = (FifoQueue if fifo else Queue)(self, name, attrs, tags)
            if self._root is not None:
                queue.attach(self._queue_store(name))
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
        attrs = normalize_queue_attributes(string_map("Attributes", attributes), fifo=queue.fifo, creating=False)
        with self._lock:
            self._check_redrive_target(attrs, queue.name, queue.fifo)
            old = _redrive_target(queue)
            queue.set_attributes(attrs)
            self._index_redrive(queue.name, old, _redrive_target(queue))
        queue.persist()

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
        if queue._disk is not None:
            queue._disk.store.delete()
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
        if label.__class__ is not str or not LABEL.fullmatch(label):
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
        queue.persist()

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
        queue.persist()

    # --- tags ---------------------------------------------------------------------------------------
    def tag_queue(self, queue: Queue, tags: dict) -> None:
        tags = string_map("Tags", tags)
        if not tags:
            raise MissingParameter("The request must contain the parameter Tags.")
        with queue._lock:
            merged = dict(queue.tags)
            merged.update(tags)
            queue.tags = validate_tags(merged, queue.name)
        queue.persist()

    def untag_queue(self, queue: Queue, keys: list) -> None:
        if not keys:
            raise MissingParameter("The request must contain the parameter TagKeys.")
        if not isinstance(keys, (list, tuple)) or any(k.__class__ is not str for k in keys):
            raise InvalidParameterValue("Tag keys must be strings.")
        with queue._lock:
            for key in keys:
                queue.tags.pop(key, None)
        queue.persist()

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
            task = MoveTask(source_arn, destination_arn, rate, int(self.clock.now() * 1000), next(self._task_serial))
            task.to_move = source.approximate_number_of_messages
            dropped = None
            if len(latest) == limits.SQS_LIST_MOVE_TASKS_MAX:  # only the latest ten are listed or kept
                dropped = latest.popleft()
                del self.move_tasks[dropped.task_id]
            latest.append(task)
            self.move_tasks[task.task_id] = task
        self._save_task(task)   # (before any message moves: a restart carries on with it)
        if dropped is not None:
            self._drop_task(dropped)
        self._run(task)
        return task

    def _run(self, task: MoveTask) -> None:
        """Start (or, after a restart, resume) a running task's moves."""
        if task.rate is None:
            self._move_step(task)  # the whole backlog at once
        else:
            task.timer = self.clock.call_later(1.0, lambda: self._move_step(task))

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
        saved = task.moved
        while budget > 0:
            with self._lock:
                if task.status != MoveTask.RUNNING:
                    return
            if task.moved - saved >= TASK_PROGRESS_EVERY:
                self._save_task(task)
                saved = task.moved
            batch = source.take_for_move(min(budget, limits.SQS_MOVE_BATCH))
            if not batch.ids:
                break
            by_target: dict = {}
            for k, x in enumerate(batch.extras):
                by_target.setdefault(task.destination_arn or (x.dlq_source if x is not None else None), []).append(k)
            for target_arn, rows in by_target.items():
                part = batch.subset(rows)
                target = self.queue_by_arn(target_arn)
                if target is None or target.deleted:
                    source.accept_redriven(part)  # nothing accepted is lost: back into the DLQ
                    source._moved_out(part.ids)
                    self._fail(task, "AWS.SimpleQueueService.NonExistentQueue" if target_arn else
                               "CouldNotDetermineMessageSource")
                    return
                target.accept_redriven(part)
                source._moved_out(part.ids)
                task.moved += len(rows)
            budget -= len(batch.ids)
        with self._lock:
            if task.status != MoveTask.RUNNING:
                return
            if task.moved >= task.to_move or source.approximate_number_of_messages == 0:
                task.status = MoveTask.COMPLETED
                task.timer = None
            else:
                task.timer = self.clock.call_later(1.0, lambda: self._move_step(task))
        if task.moved != saved or task.status != MoveTask.RUNNING:
            self._save_task(task)

    def _fail(self, task: MoveTask, reason: str) -> None:
        with self._lock:
            task.status = MoveTask.FAILED
            task.failure = reason
            task.timer = None
        self._save_task(task)

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
        self._save_task(task)
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
            if queue._disk is not None:
                queue._disk.store.close()   # (first: closing drops the messages from memory only)
            queue.close()
        if self._root is not None:
            self._root_lock.close()


__all__ = ["SQSBackend", "Queue", "FifoQueue", "MessageExtra", "OutgoingMessage", "SentMessage", "MessageRows",
           "AttributeValue", "RedrivePolicy", "Received", "MoveTask"]

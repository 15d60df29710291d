"""SNS's files under the engine's data dir (issue 13).

<data_dir>/sns/<account>/<region>/
    topics/<topic file>   one JSON document per topic: its attributes, tags, count of deleted
                          subscriptions and the resubscribe tokens of its unsubscribed HTTP/S
                          endpoints, replaced whole (write, rename) after each change
    subscriptions/<id>    one JSON document per subscription: its attributes, confirmation state
                          and confirmation token, replaced whole after each change
    account.json          platform applications and endpoints, SMS settings, opt-outs and
                          sandbox numbers, replaced whole after each change
    deliveries.log        the HTTP/S, Lambda and Firehose deliveries handed to a lane and not yet
                          settled: a JSON line when one is handed over (its message, subscription
                          and request), a line when it settles (delivered, or failed for good)
    dedup/                FIFO topics' deduplication records: a segment log (csrc/segment.h), one
                          frame per publish call that published something (marshal: the topic's
                          key, the time, and the keys, message ids and first sequence number of
                          the messages published); segments roll every DEDUP_SEGMENT_MS and go
                          whole once every record in them is past the 5-minute window

A FIFO topic's file also holds the end of the sequence numbers reserved for it, rewritten before
a publish would go past it (every DEDUP_SEQUENCE_BLOCK numbers): a restarted topic goes on from
there, so its sequence numbers keep growing. A publish's deduplication records are written
after its fan-out (a crash in between delivers the message, and a retried publish is
deduplicated by the SQS FIFO queues, which get its deduplication id) and before it returns
(flush: written to the file; fsync: synced by a group commit).

SNS keeps a message until it is delivered or its retries run out (AWS stores it across zones
meanwhile): a delivery still queued or waiting for a retry when the engine dies, or when it
closes, is made again after the restart (at least once; its retries go on counting). SQS,
email, SMS and mobile deliveries happen during Publish and are not written here. The journal is
compacted at each start and as settled deliveries pile up. Register Lambda functions before the
first SNS call of a restarted engine: restored Lambda deliveries run as soon as SNS opens.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import itertools
import json
import marshal
import os
import threading

from .. import _core, limits
from ..datadir import documents, file_name, load_document, remove_document, replace_file, save_document
from . import delivery
from . import filter as filters
from .mobile import MobilePush, PlatformApplication, PlatformEndpoint
from .sms import TextMessaging, _OptOut, _SandboxNumber

TOPICS_DIR = "topics"
SUBSCRIPTIONS_DIR = "subscriptions"
ACCOUNT_FILE = "account.json"
DELIVERIES_FILE = "deliveries.log"
JOURNAL_COMPACT_LINES = 65_536
DEDUP_DIR = "dedup"
DEDUP_WINDOW_MS = limits.SNS_DEDUP_WINDOW_S * 1000
DEDUP_SEGMENT_MS = 60_000            # a dedup segment seals a minute after its first record: the
                                     # disk holds the window and at most a minute more
DEDUP_SEGMENT_BYTES = 4 << 20        # ... or at this size
DEDUP_INDEX_INTERVAL_BYTES = 1 << 20   # (the log is only ever read whole)
DEDUP_PREALLOCATE_BYTES = 1 << 20    # fsync: zero-filled ahead, as the SQS logs (engine/sqs/store.py)
DEDUP_SEQUENCE_BLOCK = 1_000_000     # FIFO sequence numbers reserved on disk at a time

# the MobilePush and TextMessaging methods that change what the account file holds
MOBILE_CHANGES = ("create_application", "set_application_attributes", "delete_application", "create_endpoint",
                  "set_endpoint_attributes", "delete_endpoint")
SMS_CHANGES = ("set_attributes", "opt_out", "opt_in", "create_sandbox_number", "verify_sandbox_number",
               "delete_sandbox_number")


def _saving(cls, methods):
    """A subclass of `cls` whose `methods` rewrite the account file after they succeed."""
    def wrap(method):
        @functools.wraps(method)
        def saving(self, *args, **kwargs):
            result = method(self, *args, **kwargs)
            self.backend.store.save_account(self.backend)
            return result
        return saving
    return type("Durable" + cls.__name__, (cls,), {name: wrap(getattr(cls, name)) for name in methods})


DurableMobilePush = _saving(MobilePush, MOBILE_CHANGES)
DurableTextMessaging = _saving(TextMessaging, SMS_CHANGES)


# --- pending deliveries ----------------------------------------------------------------------------
class DeliveryJournal:
    """deliveries.log: {"a": id, ...delivery} when a delivery is handed over, {"d": id} when it
    settles. Rewritten with only the open deliveries once it holds JOURNAL_COMPACT_LINES lines
    and most of them are settled, so its size follows the deliveries under way."""

    def __init__(self, root: str, sync: str):
        self.path = os.path.join(root, DELIVERIES_FILE)
        self.sync = sync
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._file = None
        self._open: dict[int, str] = {}    # id -> its line, while the delivery is under way
        self._lines = 0
        self._unsynced = False             # lines written since the last commit

    def pending(self) -> list[dict]:
        """The deliveries handed over and not settled, in order (a torn last line never was)."""
        open_ = {}
        try:
            with open(self.path) as f:
                for line in f:
                    if not line.endswith("\n"):
                        break
                    rec = json.loads(line)
                    if "a" in rec:
                        open_[rec["a"]] = rec
                    elif "r" in rec:
                        if rec["r"] in open_:
                            open_[rec["r"]]["retry"] = rec["n"]
                    else:
                        open_.pop(rec["d"], None)
        except FileNotFoundError:
            pass
        return list(open_.values())

    def start(self, entries: list[dict]) -> list[int]:
        """Rewrite the journal with only `entries` (renumbered; returns their ids), then append."""
        ids = [next(self._ids) for _ in entries]
        self._open = {i: json.dumps({**e, "a": i}) for e, i in zip(entries, ids)}
        self._rewrite()
        return ids

    def add(self, doc: dict, commit: bool = True) -> int:
        """Journal a delivery; `commit`: written to the file (fsync: to the disk) before returning,
        else at the next commit()."""
        with self._lock:
            i = next(self._ids)
            line = self._open[i] = json.dumps({**doc, "a": i})
            self._write(line)
            if commit:
                self._commit()
            return i

    def commit(self) -> None:
        with self._lock:
            self._commit()

    def retried(self, i: int, retry: int) -> None:
        """A delivery failed and waits for its retry number `retry` (so a restart goes on counting)."""
        with self._lock:
            line = self._open.get(i)
            if line is not None:
                self._open[i] = json.dumps({**json.loads(line), "retry": retry})
                self._write(json.dumps({"r": i, "n": retry}))
                self._commit()

    def done(self, i: int) -> None:
        """A delivery settled. Written with the next commit (or when the buffer fills): lost in a
        crash, the delivery is made again (at least once)."""
        with self._lock:
            self._open.pop(i, None)
            self._write(json.dumps({"d": i}))
            if self._lines >= JOURNAL_COMPACT_LINES and 2 * len(self._open) < self._lines and self._file is not None:
                self._rewrite()

    def _rewrite(self) -> None:
        if self._file is not None:
            self._file.close()
        replace_file(self.path, "".join(line + "\n" for line in self._open.values()).encode(), self.sync)
        self._file = open(self.path, "a")
        self._lines = len(self._open)

    def _write(self, line: str) -> None:
        if self._file is not None:   # closed: what is left stays for the next start
            self._file.write(line + "\n")
            self._lines += 1
            self._unsynced = True

    def _commit(self) -> None:
        if self._file is not None and self._unsynced:   # (a publish with no such delivery: no sync)
            self._unsynced = False
            self._file.flush()
            if self.sync == "fsync":
                os.fdatasync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._commit()
                self._file.close()
                self._file = None


# --- FIFO deduplication records --------------------------------------------------------------------
class DedupLog:
    """dedup/: the deduplication records of every FIFO topic of the region, in publish order.
    Expired records leave with their segment (retention on the engine clock, at most once per
    DEDUP_SEGMENT_MS of it), so the log holds about the last window's publishes."""

    def __init__(self, root: str, sync: str):
        self._fsync = sync == "fsync"
        os.makedirs(os.path.join(root, DEDUP_DIR), exist_ok=True)
        self._log = _core.SegmentLog(os.path.join(root, DEDUP_DIR), segment_bytes=DEDUP_SEGMENT_BYTES,
                                     segment_ms=DEDUP_SEGMENT_MS, index_interval_bytes=DEDUP_INDEX_INTERVAL_BYTES,
                                     sync=sync, preallocate_bytes=DEDUP_PREALLOCATE_BYTES)
        segments = self._log.segments()
        self._next = segments[-1].last_seq + 1 if segments else 1
        self._lock = threading.Lock()
        self._retain_after_ms = 0

    def records(self, now_ms: int):
        """(topic key, expiry in seconds, key, message id, sequence number) of each record still in
        its window at now_ms, oldest first."""
        self._retain(now_ms)
        window_s = limits.SNS_DEDUP_WINDOW_S
        for frame in self._log.frames():
            topic_key, now, keys, ids, first_seq = marshal.loads(memoryview(frame.payload).cast("B"))
            if (now + window_s) * 1000 > now_ms:
                for k, (key, mid) in enumerate(zip(keys, ids)):
                    yield topic_key, now + window_s, key, mid, str(first_seq + k)

    def record(self, topic_key: int, now: float, keys: list, ids: list, first_seq: int) -> int:
        """Append one publish's records (the topic's lock held: a topic's records stay in publish
        order); returns the ticket commit() takes."""
        now_ms = int(now * 1000)
        with self._lock:
            n = self._next
            ticket = self._log.write(n, n, now_ms, marshal.dumps([topic_key, now, keys, ids, first_seq]))
            self._next = n + 1
            if now_ms >= self._retain_after_ms:
                self._retain(now_ms)
        return ticket

    def commit(self, ticket: int) -> None:
        """fsync: wait for the group commit covering the ticket's frame (flush: written already)."""
        if self._fsync:
            self._log.commit(ticket)

    def _retain(self, now_ms: int) -> None:
        self._log.retain(min_ts=now_ms - DEDUP_WINDOW_MS)
        self._retain_after_ms = now_ms + DEDUP_SEGMENT_MS

    def size(self) -> int:
        """Bytes of the log's segments."""
        return sum(s.size for s in self._log.segments())

    def close(self) -> None:
        self._log.close()


class _Journaled:
    """A delivery the journal holds until it settles: run by a lane in place of the attempt."""
    __slots__ = ("attempt", "id", "dispatcher", "again")

    def __init__(self, attempt, i: int, dispatcher: "DurableDispatcher"):
        self.attempt = attempt
        self.id = i
        self.dispatcher = dispatcher
        self.again = False     # the attempt scheduled itself again (a retry): not settled

    def __call__(self):
        self.again = False
        try:
            self.attempt()
        finally:
            if not self.again:
                self.dispatcher.settled(self)

    def abandon(self, dispatcher) -> None:
        """The engine stopped first: the delivery stays in the journal, made after the restart."""


class DurableDispatcher(delivery.Dispatcher):
    """A Dispatcher that journals each delivery from its hand-over to a lane until it settles."""

    def __init__(self, backend, journal: DeliveryJournal):
        super().__init__(backend)
        self.journal = journal
        self._journaled: dict = {}    # attempt -> its _Journaled
        self._batching = threading.local()

    @contextlib.contextmanager
    def batch(self):
        """The deliveries handed over inside (one publish call's) are committed together at the end."""
        self._batching.on = True
        try:
            yield
        finally:
            self._batching.on = False
            self.journal.commit()

    def _journal(self, fn) -> _Journaled:
        if isinstance(fn, _Journaled):
            return fn
        with self._tlock:
            entry = self._journaled.get(fn)
        if entry is None:
            entry = _Journaled(fn, self.journal.add(_attempt_doc(fn), not getattr(self._batching, "on", False)),
                               self)
            with self._tlock:
                self._journaled[fn] = entry
        entry.again = True
        return entry

    def submit(self, lane: str, key, fn) -> None:
        super().submit(lane, key, self._journal(fn))

    def later(self, delay: float, lane: str, key, fn) -> None:
        entry = self._journal(fn)
        self.journal.retried(entry.id, entry.attempt.retry)
        super().later(delay, lane, key, entry)

    def settled(self, entry: _Journaled) -> None:
        with self._tlock:
            self._journaled.pop(entry.attempt, None)
        self.journal.done(entry.id)

    def restore(self, backend) -> None:
        """Hand the journal's unsettled deliveries to their lanes again (those of subscriptions
        that are gone are dropped), after compacting it."""
        attempts, docs = [], []
        for doc in self.journal.pending():
            sub = backend.subscriptions.get(doc["sub"])
            if sub is None or sub.deleted:
                continue
            msg = _message(backend, doc["msg"])
            if msg is _GONE:
                continue
            attempt = delivery._Attempt(sub.target, doc["kind"], msg, doc["body"], doc["headers"])
            attempt.retry = doc.get("retry", 0)
            attempts.append(attempt)
            docs.append({k: v for k, v in doc.items() if k != "a"})
        for attempt, i in zip(attempts, self.journal.start(docs)):
            entry = self._journaled[attempt] = _Journaled(attempt, i, self)
            super().submit(attempt.target.LANE, attempt.target.sub.arn, entry)


_GONE = object()   # a message of a topic that no longer exists


def _attempt_doc(attempt) -> dict:
    msg = attempt.msg
    return {"sub": attempt.target.sub.arn, "kind": attempt.kind, "body": attempt.body, "headers": attempt.headers,
            "msg": [_message_doc(m) for m in msg] if isinstance(msg, list) else
            None if msg is None else _message_doc(msg)}


def _message_doc(m) -> dict:
    return {"topic": m.topic.arn, "id": m.id, "n": m.n, "body": m.body, "subject": m.subject,
            "attrs": [[name, dt, value] if isinstance(value, str) else
                      [name, dt, None, base64.b64encode(value).decode("ascii")]
                      for name, (dt, value) in m.attrs.items()],
            "attrs_size": m.aset.size, "structure": m.structure, "group": m.group, "dedup": m.dedup,
            "dedup_id": m.dedup_id, "seq": m.seq, "ts": m.ts, "timestamp": m.timestamp, "size": m.size}


def _message(backend, doc):
    from .models import NO_ATTRIBUTES, AttributeSet, Message

    if doc is None:
        return None
    if isinstance(doc, list):
        msgs = [_message(backend, d) for d in doc]
        return _GONE if _GONE in msgs else msgs
    topic = backend.topics.get(doc["topic"])
    if topic is None:
        return _GONE
    values = {a[0]: (a[1], a[2] if a[2] is not None else base64.b64decode(a[3])) for a in doc["attrs"]}
    aset = AttributeSet(values, doc["attrs_size"]) if values else NO_ATTRIBUTES
    m = Message(topic, doc["body"], doc["subject"], aset, doc["structure"], doc["group"], doc["dedup"], doc["n"],
                doc["size"])
    m.id = doc["id"]
    m.dedup_id, m.seq, m.ts, m.timestamp = doc["dedup_id"], doc["seq"], doc["ts"], doc["timestamp"]
    return m


class SnsStore:
    def __init__(self, root: str, sync: str):
        self.root = root
        self.sync = sync
        self.journal = DeliveryJournal(root, sync)
        for directory in (TOPICS_DIR, SUBSCRIPTIONS_DIR):
            os.makedirs(os.path.join(root, directory), exist_ok=True)
        self.dedup = DedupLog(root, sync)

    def _topic_path(self, name: str) -> str:
        return os.path.join(self.root, TOPICS_DIR, file_name(name) + ".json")

    def _subscription_path(self, arn: str) -> str:
        return os.path.join(self.root, SUBSCRIPTIONS_DIR, file_name(arn.rsplit(":", 1)[1]) + ".json")

    # --- writing -----------------------------------------------------------------------------
    def save_topic(self, topic) -> None:
        """Rewrite a topic's file (under the topic's lock: saves of one topic land in order)."""
        with topic.lock:
            if topic.deleted:
                return
            save_document(self._topic_path(topic.name), {
                "name": topic.name, "fifo": topic.fifo, "key": topic.key, "attributes": topic.attributes,
                "tags": topic.tags, "deleted_count": topic.deleted_count, "seq_reserved": topic.seq_reserved,
                "tokens": _tokens(topic.backend, lambda t: t.topic_arn == topic.arn and t.kind == "resubscribe")},
                self.sync)

    def save_subscription(self, sub) -> None:
        with sub.topic.lock:
            if sub.deleted:
                return
            save_document(self._subscription_path(sub.arn), {
                "topic": sub.topic.arn, "arn": sub.arn, "protocol": sub.protocol, "endpoint": sub.endpoint,
                "key": sub.key, "owner": sub.owner, "principal": sub.principal, "pending": sub.pending,
                "authenticated": sub.authenticated, "auth_on_unsubscribe": sub.auth_on_unsubscribe,
                "attributes": sub.attributes,
                "tokens": _tokens(sub.backend, lambda t: t.sub_arn == sub.arn and t.kind == "confirm")}, self.sync)

    def reserve_sequence_numbers(self, topic, count: int) -> None:
        """Make the topic's file cover its next `count` sequence numbers (topic's lock held)."""
        topic.seq_reserved = topic.next_seq + count + DEDUP_SEQUENCE_BLOCK
        self.save_topic(topic)

    def remove_subscription(self, sub) -> None:
        remove_document(self._subscription_path(sub.arn), self.sync)

    def remove_topic(self, topic) -> None:
        """A deleted topic's file and its subscriptions' (with the topic's lock held)."""
        for sub in topic.subscriptions.values():
            self.remove_subscription(sub)
        remove_document(self._topic_path(topic.name), self.sync)

    def save_account(self, backend) -> None:
        mobile, sms = backend.mobile, backend.sms
        with mobile._lock, sms._lock:
            save_document(os.path.join(self.root, ACCOUNT_FILE), {
                "applications": [{
                    "arn": app.arn, "name": app.name, "platform": app.platform, "key": app.key,
                    "credentials": app.credentials, "attributes": app.attributes,
                    "endpoints": [{"arn": ep.arn, "key": ep.key, "attributes": ep.attributes}
                                  for ep in app.by_token.values()],
                } for app in mobile.apps.values()],
                "sms": {"attributes": sms.attributes, "in_sandbox": sms.in_sandbox,
                        "opted_out": [[e.number, e.key] for e in sms._opted_out.values()],
                        "opted_in_at": sms._opted_in_at,
                        "sandbox": [{"number": e.number, "language": e.language, "key": e.key,
                                     "verified": e.verified, "otp": e.otp, "otp_expires": e.otp_expires}
                                    for e in sms._sandbox.values()]},
            }, self.sync)

    # --- reading -----------------------------------------------------------------------------
    def restore(self, backend) -> None:
        """Everything the files hold, back into a new backend, in creation order."""
        from .models import Subscription, Topic, _Token

        keys = [0]
        subscriptions = []
        tokens = []

        def restore_tokens(docs, topic_arn):
            tokens.extend((t["expires"], t["token"], _Token(t["kind"], topic_arn, t["sub_arn"],
                                                            tuple(t["spec"]) if t["spec"] else None, t["expires"]))
                          for t in docs)

        for doc in sorted(documents(os.path.join(self.root, TOPICS_DIR)), key=lambda d: d["key"]):
            topic = Topic(backend, doc["name"], doc["fifo"], {}, doc["tags"])
            topic.attributes.clear()
            for name, value in doc["attributes"].items():
                topic._apply(name, value)
            topic.key = doc["key"]
            topic.deleted_count = doc["deleted_count"]
            # every number handed out before is below the reservation; the first publish reserves anew
            topic.next_seq = topic.seq_reserved = max(topic.next_seq, doc.get("seq_reserved", 0))
            backend.topics[topic.arn] = topic
            backend.topic_roster.append(topic, topic.key)
            backend.topic_counts[topic.fifo] += 1
            keys.append(topic.key)
            restore_tokens(doc["tokens"], topic.arn)
        for s in documents(os.path.join(self.root, SUBSCRIPTIONS_DIR)):
            topic = backend.topics.get(s["topic"])
            if topic is None:   # its topic's delete was under way when the engine died
                remove_document(self._subscription_path(s["arn"]), self.sync)
                continue
            sub = Subscription(backend, topic, s["protocol"], s["endpoint"])
            sub.arn = s["arn"]
            sub.unsubscribe_url = f"{backend.base_url}/?Action=Unsubscribe&SubscriptionArn={sub.arn}"
            _apply_attributes(sub, s["attributes"])
            sub.key, sub.owner, sub.principal = s["key"], s["owner"], s["principal"]
            sub.pending, sub.authenticated = s["pending"], s["authenticated"]
            sub.auth_on_unsubscribe = s["auth_on_unsubscribe"]
            subscriptions.append(sub)
            restore_tokens(s["tokens"], topic.arn)
        for sub in sorted(subscriptions, key=lambda s: s.key):
            with sub.topic.lock:
                backend._register(sub)
            keys.append(sub.key)
        for expires, token, rec in sorted(tokens, key=lambda t: t[0]):
            backend._tokens[token] = rec
            backend._token_expiry.append((expires, token))
        keys += self._restore_account(backend)
        backend.keys = itertools.count(max(keys) + 1)
        self._restore_dedup(backend)

    def _restore_dedup(self, backend) -> None:
        """The FIFO topics' deduplication records still in their window (those of deleted topics
        are skipped: a topic made again under the same name has a new key)."""
        by_key = {t.key: t for t in backend.topics.values() if t.fifo}
        for topic_key, expiry, key, mid, seq in self.dedup.records(int(backend.clock.now() * 1000)):
            topic = by_key.get(topic_key)
            if topic is not None:
                topic._dedup[key] = (expiry, mid, seq)
                topic._dedup_log.append((expiry, key))

    def close(self) -> None:
        self.journal.close()
        self.dedup.close()

    def _restore_account(self, backend) -> list:
        doc = load_document(os.path.join(self.root, ACCOUNT_FILE))
        if doc is None:
            return []
        keys = []
        mobile, sms = backend.mobile, backend.sms
        for a in sorted(doc["applications"], key=lambda a: a["key"]):
            app = PlatformApplication(a["arn"], a["name"], a["platform"], a["key"])
            app.credentials, app.attributes = a["credentials"], a["attributes"]
            mobile.apps[app.arn] = app
            mobile.app_roster.append(app, app.key)
            for e in sorted(a["endpoints"], key=lambda e: e["key"]):
                ep = PlatformEndpoint(app, e["arn"], e["key"], e["attributes"])
                mobile.endpoints[ep.arn] = ep
                app.by_token[ep.token] = ep
                app.endpoints.append(ep, ep.key)
                keys.append(ep.key)
            keys.append(app.key)
        s = doc["sms"]
        sms.attributes, sms.in_sandbox, sms._opted_in_at = s["attributes"], s["in_sandbox"], s["opted_in_at"]
        for number, key in sorted(s["opted_out"], key=lambda e: e[1]):
            entry = sms._opted_out[number] = _OptOut(number, key)
            sms._opted_out_roster.append(entry, key)
            keys.append(key)
        for n in sorted(s["sandbox"], key=lambda e: e["key"]):
            entry = sms._sandbox[n["number"]] = _SandboxNumber(n["number"], n["language"], n["key"])
            entry.verified, entry.otp, entry.otp_expires = n["verified"], n["otp"], n["otp_expires"]
            sms._sandbox_roster.append(entry, entry.key)
            keys.append(entry.key)
        return keys


def _tokens(backend, wanted) -> list:
    with backend._lock:
        return [{"token": token, "kind": t.kind, "sub_arn": t.sub_arn, "spec": t.spec, "expires": t.expires}
                for token, t in backend._tokens.items() if wanted(t)]


def _apply_attributes(sub, attributes: dict) -> None:
    """A subscription's stored attributes, applied as a confirmed resubscription applies them."""
    scope = attributes.get("FilterPolicyScope", filters.MESSAGE_ATTRIBUTES)
    for name in sorted(attributes, key=lambda n: n != "FilterPolicyScope"):   # the scope first
        value = attributes[name]
        parsed = filters.parse_policy(value, scope, subscribe=False) if name == "FilterPolicy" else None
        sub.apply(name, value, parsed)


__all__ = ["SnsStore", "DurableDispatcher", "DurableMobilePush", "DurableTextMessaging"]

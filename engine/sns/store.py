"""SNS's files under the engine's data dir (issue 13).

<data_dir>/sns/<account>/<region>/
    topics/<topic file>   one JSON document per topic: its attributes and tags, its subscriptions
                          (attributes, confirmation state) and the confirmation tokens it issued,
                          replaced whole (write, rename) after each change to any of them
    account.json          platform applications and endpoints, SMS settings, opt-outs and
                          sandbox numbers, replaced whole after each change

Messages are not written: SNS delivers to SQS, email, SMS and mobile endpoints during Publish,
and HTTP/S, Lambda and Firehose deliveries still waiting for a retry when the engine stops are
lost (recorded in Dispatcher.failures on a clean close).
"""
from __future__ import annotations

import functools
import itertools
import os

from ..glue.store import documents, file_name, load_document, remove_document, save_document
from . import filter as filters
from .mobile import MobilePush, PlatformApplication, PlatformEndpoint
from .sms import TextMessaging, _OptOut, _SandboxNumber

TOPICS_DIR = "topics"
ACCOUNT_FILE = "account.json"

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


class SnsStore:
    def __init__(self, root: str, sync: str):
        self.root = root
        self.sync = sync
        os.makedirs(os.path.join(root, TOPICS_DIR), exist_ok=True)

    def _topic_path(self, name: str) -> str:
        return os.path.join(self.root, TOPICS_DIR, file_name(name) + ".json")

    # --- writing -----------------------------------------------------------------------------
    def save_topic(self, topic) -> None:
        """Rewrite a topic's file (under the topic's lock: saves of one topic land in order)."""
        backend = topic.backend
        with topic.lock:
            if topic.deleted:
                return
            with backend._lock:
                tokens = [{"token": token, "kind": t.kind, "sub_arn": t.sub_arn, "spec": t.spec, "expires": t.expires}
                          for token, t in backend._tokens.items() if t.topic_arn == topic.arn]
            save_document(self._topic_path(topic.name), {
                "name": topic.name, "fifo": topic.fifo, "key": topic.key, "attributes": topic.attributes,
                "tags": topic.tags, "deleted_count": topic.deleted_count, "tokens": tokens,
                "subscriptions": [{
                    "arn": s.arn, "protocol": s.protocol, "endpoint": s.endpoint, "key": s.key, "owner": s.owner,
                    "principal": s.principal, "pending": s.pending, "authenticated": s.authenticated,
                    "auth_on_unsubscribe": s.auth_on_unsubscribe, "attributes": s.attributes,
                } for s in topic.subscriptions.values()]}, self.sync)

    def remove_topic(self, name: str) -> None:
        remove_document(self._topic_path(name), self.sync)

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
        for doc in sorted(documents(os.path.join(self.root, TOPICS_DIR)), key=lambda d: d["key"]):
            topic = Topic(backend, doc["name"], doc["fifo"], {}, doc["tags"])
            topic.attributes.clear()
            for name, value in doc["attributes"].items():
                topic._apply(name, value)
            topic.key = doc["key"]
            topic.deleted_count = doc["deleted_count"]
            backend.topics[topic.arn] = topic
            backend.topic_roster.append(topic, topic.key)
            backend.topic_counts[topic.fifo] += 1
            keys.append(topic.key)
            for s in doc["subscriptions"]:
                sub = Subscription(backend, topic, s["protocol"], s["endpoint"])
                sub.arn = s["arn"]
                sub.unsubscribe_url = f"{backend.base_url}/?Action=Unsubscribe&SubscriptionArn={sub.arn}"
                _apply_attributes(sub, s["attributes"])
                sub.key, sub.owner, sub.principal = s["key"], s["owner"], s["principal"]
                sub.pending, sub.authenticated = s["pending"], s["authenticated"]
                sub.auth_on_unsubscribe = s["auth_on_unsubscribe"]
                subscriptions.append(sub)
            tokens += [(t["expires"], t["token"], _Token(t["kind"], topic.arn, t["sub_arn"],
                                                         tuple(t["spec"]) if t["spec"] else None, t["expires"]))
                       for t in doc["tokens"]]
        for sub in sorted(subscriptions, key=lambda s: s.key):
            with sub.topic.lock:
                backend._register(sub)
            keys.append(sub.key)
        for expires, token, rec in sorted(tokens, key=lambda t: t[0]):
            backend._tokens[token] = rec
            backend._token_expiry.append((expires, token))
        keys += self._restore_account(backend)
        backend.keys = itertools.count(max(keys) + 1)

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


def _apply_attributes(sub, attributes: dict) -> None:
    """A subscription's stored attributes, applied as a confirmed resubscription applies them."""
    scope = attributes.get("FilterPolicyScope", filters.MESSAGE_ATTRIBUTES)
    for name in sorted(attributes, key=lambda n: n != "FilterPolicyScope"):   # the scope first
        value = attributes[name]
        parsed = filters.parse_policy(value, scope, subscribe=False) if name == "FilterPolicy" else None
        sub.apply(name, value, parsed)


__all__ = ["SnsStore", "DurableMobilePush", "DurableTextMessaging"]

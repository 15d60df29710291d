"""SNS mobile push: platform applications, their device endpoints, and what a push service receives.

No push service is reachable from here: credentials are checked for what can be checked offline
(the form each platform's credentials take; for certificate credentials, that the certificate
parses, has not expired and matches the private key), and a push lands in `engine.outbox` as the
payload the platform would receive (`platform_payload`). Typed methods, no boto3 shapes.
"""
from __future__ import annotations

import datetime
import json
import re
import threading
import uuid

from .. import limits
from ..arn import parse_arn
from . import jsontext
from . import native
from .errors import EndpointDisabled, NotFound, invalid
from .slots import Slots, page_key, page_token

APPLE_PLATFORMS = frozenset(("APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "MACOS", "MACOS_SANDBOX"))
PLATFORMS = frozenset(("ADM", "BAIDU", "GCM", "MPNS", "WNS")) | APPLE_PLATFORMS
CERTIFICATE_PLATFORMS = APPLE_PLATFORMS | {"MPNS"}   # PlatformPrincipal: a TLS certificate, Credential: its key
APPLICATION_SETTABLE = frozenset((
    "PlatformCredential", "PlatformPrincipal", "EventEndpointCreated", "EventEndpointDeleted",
    "EventEndpointUpdated", "EventDeliveryFailure", "SuccessFeedbackRoleArn", "FailureFeedbackRoleArn",
    "SuccessFeedbackSampleRate", "ApplePlatformTeamID", "ApplePlatformBundleID"))
EVENT_ATTRIBUTES = ("EventEndpointCreated", "EventEndpointDeleted", "EventEndpointUpdated", "EventDeliveryFailure")
ENDPOINT_SETTABLE = frozenset(("CustomUserData", "Enabled", "Token"))
CREDENTIAL_ATTRIBUTES = frozenset(("PlatformPrincipal", "PlatformCredential", "ApplePlatformTeamID",
                                   "ApplePlatformBundleID"))
DERIVED_ATTRIBUTES = ("AppleCertificateExpirationDate", "AuthenticationMethod")   # read-only, from the credentials

_APP_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_APPLE_ID = re.compile(r"[A-Z0-9]{10}")           # a team id or a signing key id: 10 characters
_BUNDLE_ID = re.compile(r"[A-Za-z0-9.-]+")
_APNS_TOKEN = re.compile(r"[0-9a-fA-F]{1,%d}" % limits.SNS_APNS_TOKEN_HEX_MAX)
_WNS_PRINCIPAL = re.compile(r"ms-app://s-1-15-2-[0-9-]+")
_FCM_SERVICE_ACCOUNT_KEYS = ("type", "project_id", "private_key", "client_email")
INVALID_CREDENTIALS = "Attributes Reason: Platform credentials are invalid"


def platform_payload(platform: str, text: str, explicit: bool) -> str:
    """What the push service receives for a message: the platform's own JSON when the publisher
    gave one (MessageStructure=json with a key for the platform), else the text wrapped as SNS
    wraps a plain message: Apple `{"aps":{"alert":text}}`, FCM and ADM `{"data":{"default":text}}`;
    Baidu, WNS and MPNS get the text itself."""
    if explicit:
        return text
    if platform in APPLE_PLATFORMS:
        return json.dumps({"aps": {"alert": text}}, ensure_ascii=False, separators=(",", ":"))
    if platform in ("GCM", "ADM"):
        return json.dumps({"data": {"default": text}}, ensure_ascii=False, separators=(",", ":"))
    return text


# --- credentials -----------------------------------------------------------------------------------
def _pem_certificate(text: str):
    from cryptography import x509   # loaded only by the certificate platforms
    try:
        return x509.load_pem_x509_certificate(text.encode("utf-8", "surrogatepass"))
    except ValueError:
        return None


def _pem_private_key(text: str):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    try:
        return load_pem_private_key(text.encode("utf-8", "surrogatepass"), password=None)
    except (ValueError, TypeError):   # not PEM, or encrypted (SNS needs the key in clear)
        return None


def _public_bytes(key) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def check_credentials(platform: str, attrs: dict, now: float) -> dict:
    """The read-only attributes a platform application's credentials give it (the Apple
    certificate's expiry); raises InvalidParameter as AWS does for credentials that cannot work."""
    principal = attrs.get("PlatformPrincipal", "")
    credential = attrs.get("PlatformCredential", "")
    if not credential:
        raise invalid(INVALID_CREDENTIALS)
    if platform in APPLE_PLATFORMS and ("ApplePlatformTeamID" in attrs or "ApplePlatformBundleID" in attrs):
        # token credentials: a signing key (.p8, EC P-256), its key id, the team and the bundle
        if not _APPLE_ID.fullmatch(attrs.get("ApplePlatformTeamID", "")):
            raise invalid("Attributes Reason: ApplePlatformTeamID is invalid")
        if not _BUNDLE_ID.fullmatch(attrs.get("ApplePlatformBundleID", "")):
            raise invalid("Attributes Reason: ApplePlatformBundleID is invalid")
        if not _APPLE_ID.fullmatch(principal):
            raise invalid("PlatformPrincipal not valid.")
        from cryptography.hazmat.primitives.asymmetric import ec
        key = _pem_private_key(credential)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise invalid(INVALID_CREDENTIALS)
        return {}
    if platform in CERTIFICATE_PLATFORMS:
        cert = _pem_certificate(principal)
        if cert is None:
            raise invalid("PlatformPrincipal not valid.")
        key = _pem_private_key(credential)
        if key is None or _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
            raise invalid(INVALID_CREDENTIALS)
        expires = cert.not_valid_after_utc
        if expires.timestamp() <= now:
            raise invalid(INVALID_CREDENTIALS)
        if platform in APPLE_PLATFORMS:
            return {"AppleCertificateExpirationDate": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return {}
    if platform == "GCM":   # FCM has no principal: one given (SDK examples pass "" or "NA") is ignored
        if credential.lstrip().startswith("{"):   # FCM HTTP v1: the service account's JSON key file
            try:
                doc = jsontext.loads(credential)
            except jsontext.JsonSyntaxError:
                doc = None
            if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in _FCM_SERVICE_ACCOUNT_KEYS) \
                    or doc["type"] != "service_account" or _pem_private_key(doc["private_key"]) is None:
                raise invalid(INVALID_CREDENTIALS)
            return {"AuthenticationMethod": "Token"}
        return {"AuthenticationMethod": "Key"}
    if not principal:   # ADM (client id/secret), Baidu (API key/secret key), WNS (package SID/secret)
        raise invalid("Attributes Reason: PlatformCredential attribute provided without PlatformPrincipal")
    if platform == "WNS" and not _WNS_PRINCIPAL.fullmatch(principal):
        raise invalid("PlatformPrincipal not valid.")
    return {}


# --- resources -------------------------------------------------------------------------------------
class PlatformApplication:
    def __init__(self, arn: str, name: str, platform: str, key: int):
        self.arn = arn
        self.name = name
        self.platform = platform
        self.key = key
        self.app_slot = None
        self.credentials: dict[str, str] = {}     # PlatformPrincipal/Credential: never returned
        self.attributes: dict[str, str] = {"Enabled": "true"}
        self.endpoints = Slots("endpoint_slot")
        self.by_token: dict[str, PlatformEndpoint] = {}
        self.deleted = False

    def get_attributes(self) -> dict[str, str]:
        return dict(self.attributes)


class PlatformEndpoint:
    def __init__(self, app: PlatformApplication, arn: str, key: int, attributes: dict):
        self.app = app
        self.arn = arn
        self.key = key
        self.endpoint_slot = None
        self.attributes = attributes      # Token, Enabled, CustomUserData

    @property
    def platform(self) -> str:
        return self.app.platform

    @property
    def enabled(self) -> bool:
        return self.attributes["Enabled"] == "true"

    @property
    def token(self) -> str:
        return self.attributes["Token"]


def _check_token(platform: str, token: str) -> None:
    if not token:
        raise invalid("Token Reason: cannot be empty")
    if platform in APPLE_PLATFORMS and not _APNS_TOKEN.fullmatch(token):
        raise invalid(f"Token Reason: iOS device tokens must be no more than {limits.SNS_APNS_TOKEN_HEX_MAX} "
                      "hexadecimal characters")
    if len(token.encode("utf-8", "surrogatepass")) > limits.SNS_DEVICE_TOKEN_BYTES_MAX:
        raise invalid("Token Reason: too long")


def _endpoint_attributes(platform: str, attributes: dict, prefix: str) -> dict:
    out = {}
    for name, value in attributes.items():
        if name not in ENDPOINT_SETTABLE:
            raise invalid(f"{prefix}Invalid attribute name: {name}")
        if name == "Enabled":
            low = value.lower()
            if low not in ("true", "false"):
                raise invalid(f"{prefix}Enabled must be true or false")
            value = low
        elif name == "CustomUserData":
            if len(value.encode("utf-8", "surrogatepass")) > limits.SNS_CUSTOM_USER_DATA_BYTES_MAX:
                raise invalid(f"{prefix}Invalid value for attribute: CustomUserData: must be at most "
                              f"{limits.SNS_CUSTOM_USER_DATA_BYTES_MAX} bytes long in UTF-8 encoding")
        elif name == "Token":
            _check_token(platform, value)
        out[name] = value
    return out


class MobilePush:
    """The platform applications and endpoints of one account in one region."""

    def __init__(self, backend):
        self.backend = backend
        self._lock = threading.RLock()
        self.apps: dict[str, PlatformApplication] = {}
        self.app_roster = Slots("app_slot")
        self.endpoints: dict[str, PlatformEndpoint] = {}
        self._prefix = f"arn:aws:sns:{backend.region}:{backend.account_id}:"
        self._publishing_event = threading.local()

    # --- lookups -------------------------------------------------------------------------------
    def _parse(self, arn, param: str, kind: str) -> None:
        """AWS's refusals of an ARN that cannot name a resource of this kind."""
        info = parse_arn(arn)
        if info is None:
            raise invalid(f"{param} Reason: An ARN must have at least 6 elements, not {len(arn.split(':'))}")
        if info["service"] != "sns" or not info["resource"].startswith(f"{kind}/"):
            raise invalid(param)

    def application(self, arn: str) -> PlatformApplication:
        app = self.apps.get(native.text("PlatformApplicationArn", arn))
        if app is None:
            self._parse(arn, "PlatformApplicationArn", "app")
            raise NotFound("PlatformApplication does not exist")
        return app

    def endpoint(self, arn: str, param: str = "EndpointArn") -> PlatformEndpoint:
        ep = self.endpoints.get(native.text(param, arn))
        if ep is None:
            self._parse(arn, param, "endpoint")
            raise NotFound("Endpoint does not exist")
        return ep

    def is_endpoint_arn(self, arn: str) -> bool:
        return arn.startswith(self._prefix + "endpoint/")

    # --- platform applications -----------------------------------------------------------------
    @staticmethod
    def _application_attributes(current: dict, given: dict) -> dict:
        for name, value in given.items():
            if name not in APPLICATION_SETTABLE:
                raise invalid(f"Attributes Reason: Invalid attribute name: {name}")
            if name in EVENT_ATTRIBUTES and value:
                info = parse_arn(value)
                if info is None or info["service"] != "sns" or ":" in info["resource"] or "/" in info["resource"]:
                    raise invalid(f"Attributes Reason: {name} must be a topic ARN")
            elif name.endswith("RoleArn") and value and parse_arn(value) is None:
                raise invalid(f"Attributes Reason: {name} must be an ARN")
            elif name == "SuccessFeedbackSampleRate" and not (value.isascii() and value.isdigit() and len(value) <= 3
                                                               and int(value) <= limits.SNS_SAMPLE_RATE_MAX):
                raise invalid("Attributes Reason: SuccessFeedbackSampleRate must be an integer between 0 and 100")
        merged = dict(current)
        merged.update(given)
        return merged

    def create_application(self, name: str, platform: str, attributes: dict) -> PlatformApplication:
        native.text("Name", name)
        native.text("Platform", platform)
        native.text_map("Attributes", attributes)
        if not name:
            raise invalid(f"{name} Reason: cannot be empty")
        if len(name) > limits.SNS_PLATFORM_APPLICATION_NAME_MAX:
            raise invalid(f"{name} Reason: must be at most {limits.SNS_PLATFORM_APPLICATION_NAME_MAX} "
                          "characters long")
        if not _APP_NAME.fullmatch(name):
            raise invalid(f"{name} Reason: must contain only characters 'a'-'z', 'A'-'Z', '0'-'9', '_', '-', "
                          "and '.'")
        if platform not in PLATFORMS:
            raise invalid(f"Platform Reason: {platform} is not supported")
        if "PlatformPrincipal" in attributes and "PlatformCredential" not in attributes:
            raise invalid("Attributes Reason: PlatformPrincipal attribute provided without PlatformCredential")
        if "PlatformCredential" not in attributes:
            raise invalid("Attributes Reason: PlatformCredential attribute is required")
        merged = self._application_attributes({}, attributes)
        derived = check_credentials(platform, merged, self.backend.clock.now())
        arn = f"{self._prefix}app/{platform}/{name}"
        with self._lock:
            app = self.apps.get(arn)
            if app is not None:   # idempotent: the same name on the same platform is the same application
                self._apply(app, merged, derived)
                return app
            app = PlatformApplication(arn, name, platform, next(self.backend.keys))
            self._apply(app, merged, derived)
            self.apps[arn] = app
            self.app_roster.append(app, app.key)
        return app

    @staticmethod
    def _apply(app: PlatformApplication, merged: dict, derived: dict) -> None:
        for name, value in merged.items():
            if name in ("PlatformPrincipal", "PlatformCredential"):
                app.credentials[name] = value
            elif value == "":
                app.attributes.pop(name, None)
            else:
                app.attributes[name] = value
        for name in DERIVED_ATTRIBUTES:
            app.attributes.pop(name, None)
        app.attributes.update(derived)

    def set_application_attributes(self, app: PlatformApplication, attributes: dict) -> None:
        native.text_map("Attributes", attributes)
        with self._lock:
            current = dict(app.credentials)
            current.update({k: v for k, v in app.attributes.items() if k in APPLICATION_SETTABLE})
            merged = self._application_attributes(current, attributes)
            if CREDENTIAL_ATTRIBUTES & attributes.keys():
                derived = check_credentials(app.platform, merged, self.backend.clock.now())
            else:
                derived = {k: v for k, v in app.attributes.items() if k in DERIVED_ATTRIBUTES}
            self._apply(app, merged, derived)

    def delete_application(self, arn: str) -> None:
        """Deleting an application deletes its endpoints; deleting one that does not exist succeeds."""
        with self._lock:
            app = self.apps.pop(native.text("PlatformApplicationArn", arn), None)
            if app is None:
                self._parse(arn, "PlatformApplicationArn", "app")
                return
            app.deleted = True
            self.app_roster.remove(app)
            for ep in list(app.by_token.values()):
                self.endpoints.pop(ep.arn, None)

    def list_applications(self, next_token: str | None):
        with self._lock:
            page, last = self.app_roster.page(page_key(native.optional_text("NextToken", next_token)),
                                              limits.SNS_LIST_PAGE)
        return page, page_token(last) if last is not None else None

    # --- endpoints -----------------------------------------------------------------------------
    def create_endpoint(self, app: PlatformApplication, token: str, custom_user_data: str | None,
                        attributes: dict) -> PlatformEndpoint:
        """Idempotent for a token already registered with the same attributes; the same token
        with other attributes is refused."""
        _check_token(app.platform, native.text("Token", token))
        native.optional_text("CustomUserData", custom_user_data)
        native.text_map("Attributes", attributes)
        given = dict(attributes)
        if custom_user_data is not None:
            given.setdefault("CustomUserData", custom_user_data)
        attrs = {"Enabled": "true"}
        attrs.update(_endpoint_attributes(app.platform, given, "Attributes Reason: "))
        attrs["Token"] = token
        with self._lock:
            if app.deleted:
                raise NotFound("PlatformApplication does not exist")
            existing = app.by_token.get(token)
            if existing is not None:
                if existing.attributes != attrs:
                    raise invalid(f"Token Reason: Endpoint {existing.arn} already exists with the same Token, but "
                                  "different attributes.")
                return existing
            ep = PlatformEndpoint(app, f"{self._prefix}endpoint/{app.platform}/{app.name}/{uuid.uuid4()}",
                                  next(self.backend.keys), attrs)
            self.endpoints[ep.arn] = ep
            app.by_token[token] = ep
            app.endpoints.append(ep, ep.key)
        self._event(app, "EventEndpointCreated", "EndpointCreated", ep.arn)
        return ep

    def set_endpoint_attributes(self, ep: PlatformEndpoint, attributes: dict) -> None:
        native.text_map("Attributes", attributes)
        checked = _endpoint_attributes(ep.platform, attributes, "Attributes Reason: ")
        with self._lock:
            token = checked.get("Token")
            if token is not None and token != ep.token:
                other = ep.app.by_token.get(token)
                if other is not None:
                    raise invalid(f"Attributes Reason: Endpoint {other.arn} already exists with the same Token")
                del ep.app.by_token[ep.token]
                ep.app.by_token[token] = ep
            ep.attributes.update(checked)
        self._event(ep.app, "EventEndpointUpdated", "EndpointUpdated", ep.arn)

    def delete_endpoint(self, arn: str) -> None:
        with self._lock:
            ep = self.endpoints.pop(native.text("EndpointArn", arn), None)
            if ep is None:
                self._parse(arn, "EndpointArn", "endpoint")
                return   # idempotent
            ep.app.by_token.pop(ep.token, None)
            ep.app.endpoints.remove(ep)
        self._event(ep.app, "EventEndpointDeleted", "EndpointDeleted", ep.arn)

    def list_endpoints(self, app: PlatformApplication, next_token: str | None):
        with self._lock:
            page, last = app.endpoints.page(page_key(native.optional_text("NextToken", next_token)),
                                            limits.SNS_LIST_PAGE)
        return page, page_token(last) if last is not None else None

    def check_deliverable(self, ep: PlatformEndpoint) -> None:
        if ep.app.deleted or ep.arn not in self.endpoints:
            raise NotFound("Endpoint does not exist")
        if not ep.enabled:
            raise EndpointDisabled("Endpoint is disabled")

    # --- event notifications -------------------------------------------------------------------
    def delivery_failed(self, endpoint_arn: str, message_id: str, failure_type: str, failure_message: str) -> None:
        """A topic's delivery to an endpoint failed for good: the application's EventDeliveryFailure
        topic hears of it."""
        parts = endpoint_arn[len(self._prefix):].split("/") if self.is_endpoint_arn(endpoint_arn) else []
        app = self.apps.get(f"{self._prefix}app/{parts[1]}/{parts[2]}") if len(parts) == 4 else None
        if app is not None:
            self._event(app, "EventDeliveryFailure", "DeliveryFailure", endpoint_arn, DeliveryAttempts=1,
                        FailureMessage=failure_message, FailureType=failure_type, MessageId=message_id)

    def _event(self, app: PlatformApplication, attribute: str, kind: str, endpoint_arn: str, **fields) -> None:
        """Application events go to the topic the application names for them (if it exists), in
        AWS's layout: the event as the message, "<kind> event for app <name> (<platform>)" as the
        subject."""
        topic = self.backend.topics.get(app.attributes.get(attribute, ""))
        if topic is None or topic.fifo or self.backend.closed:   # FIFO topics would need a group id
            return
        if getattr(self._publishing_event, "active", False):
            return   # an event's own failed delivery raises none (event topics could otherwise loop)
        now = datetime.datetime.fromtimestamp(self.backend.clock.now(), datetime.timezone.utc)
        event = {"EndpointArn": endpoint_arn, "EventType": kind, "Resource": app.arn, "Service": "SNS",
                 "Time": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", **fields}
        self._publishing_event.active = True   # outbox deliveries run in this thread, during this call
        try:
            self.backend.publish(topic, json.dumps(dict(sorted(event.items())), separators=(",", ":")),
                                 subject=f"{kind} event for app {app.name} ({app.platform})")
        finally:
            self._publishing_event.active = False


__all__ = ["MobilePush", "PlatformApplication", "PlatformEndpoint", "platform_payload", "check_credentials",
           "PLATFORMS"]

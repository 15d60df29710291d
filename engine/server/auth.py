"""SigV4 verification for `engine serve --require-auth`, and one Engine per account.

Without --require-auth any credentials are accepted and everything lives in account
000000000000. With it, each request must be signed (Authorization header or presigned query)
with a configured access key; the key names the account, and each account has its own Engine,
so resources are isolated per account.

Keys come from a keys file or the environment, one key per line (or `;`-separated in the env):
`ACCESS_KEY_ID SECRET_ACCESS_KEY [ACCOUNT_ID]` (account 000000000000 when left out); `#` starts
a comment. `ENGINE_ACCESS_KEYS` holds such lines; without it, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY are the one key.

Failures get the codes AWS sends, which differ by protocol family: query services (SNS, SQS's
query protocol) answer MissingAuthenticationToken / IncompleteSignature / InvalidClientTokenId /
SignatureDoesNotMatch (also for an expired signature, "Signature expired: ..."), JSON services
MissingAuthenticationTokenException / IncompleteSignatureException / UnrecognizedClientException /
InvalidSignatureException.
"""
from __future__ import annotations

import calendar
import dataclasses
import email.utils
import hashlib
import hmac
import logging
import os
import re
import threading
import time
from typing import Callable, Iterable, Mapping
from urllib.parse import quote, unquote

from .. import limits
from ..engine import SERVICES
from ..errors import ClientError

log = logging.getLogger("engine.server")

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
KEYS_ENV = "ENGINE_ACCESS_KEYS"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_FORM = re.compile(r"\d{8}T\d{6}Z")
_ACCOUNT_ID = re.compile(r"\d{12}")

QUERY = "query"   # protocol families, as the app tells them apart
JSON = "json"


# --- errors: one class per code, picked by failure kind and protocol family ------------------
class AuthError(ClientError):
    """Base of the signature failures; never raised itself."""


class MissingAuthenticationToken(AuthError):
    code = "MissingAuthenticationToken"
    status = 403


class MissingAuthenticationTokenException(AuthError):
    code = "MissingAuthenticationTokenException"


class IncompleteSignature(AuthError):
    code = "IncompleteSignature"
    status = 403


class IncompleteSignatureException(AuthError):
    code = "IncompleteSignatureException"


class InvalidClientTokenId(AuthError):
    code = "InvalidClientTokenId"
    status = 403


class UnrecognizedClientException(AuthError):
    code = "UnrecognizedClientException"


class SignatureDoesNotMatch(AuthError):
    code = "SignatureDoesNotMatch"
    status = 403


class InvalidSignatureException(AuthError):
    code = "InvalidSignatureException"


# failure kind -> (query family class, JSON family class)
_CLASSES: dict[str, tuple[type[AuthError], type[AuthError]]] = {
    "missing": (MissingAuthenticationToken, MissingAuthenticationTokenException),
    "incomplete": (IncompleteSignature, IncompleteSignatureException),
    "unknown_key": (InvalidClientTokenId, UnrecognizedClientException),
    "mismatch": (SignatureDoesNotMatch, InvalidSignatureException),
    "expired": (SignatureDoesNotMatch, InvalidSignatureException),
}
_MESSAGES = {
    "missing": "Request is missing Authentication Token",
    "unknown_key": "The security token included in the request is invalid.",
    "mismatch": ("The request signature we calculated does not match the signature you provided. Check your "
                 "AWS Secret Access Key and signing method. Consult the service documentation for details."),
}


class _Failure(Exception):
    def __init__(self, kind: str, message: str | None = None):
        self.kind = kind
        self.message = message or _MESSAGES[kind]


def auth_error(kind: str, message: str, protocol: str) -> AuthError:
    query_cls, json_cls = _CLASSES[kind]
    return (query_cls if protocol == QUERY else json_cls)(message)


# --- keys ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret: str
    account_id: str = limits.ACCOUNT_ID


def parse_keys(text: str, source: str) -> dict[str, AccessKey]:
    """Key lines (`ID SECRET [ACCOUNT]`, newline- or `;`-separated, `#` comments) by access key id."""
    keys: dict[str, AccessKey] = {}
    for number, line in enumerate(re.split(r"[\n;]", text), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) not in (2, 3) or (len(fields) == 3 and not _ACCOUNT_ID.fullmatch(fields[2])):
            raise ValueError(f"{source}, entry {number}: expected 'ACCESS_KEY_ID SECRET [12-digit ACCOUNT_ID]'")
        keys[fields[0]] = AccessKey(*fields)
    return keys


def load_keys(keys_file: str | None = None, environ: Mapping[str, str] = os.environ) -> dict[str, AccessKey]:
    """The keys of --keys-file, else of ENGINE_ACCESS_KEYS, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."""
    if keys_file:
        try:
            with open(keys_file, encoding="utf-8") as f:
                text = f.read()
        except OSError as error:
            raise ValueError(f"--keys-file {keys_file}: {error.strerror}") from None
        keys = parse_keys(text, keys_file)
    elif environ.get(KEYS_ENV):
        keys = parse_keys(environ[KEYS_ENV], KEYS_ENV)
    elif environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        keys = {environ["AWS_ACCESS_KEY_ID"]: AccessKey(environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"])}
    else:
        keys = {}
    if not keys:
        raise ValueError(f"--require-auth needs access keys: a keys file, {KEYS_ENV}, or "
                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    return keys


# --- the request as signed -----------------------------------------------------------------
@dataclasses.dataclass
class SignedRequest:
    """What SigV4 covers, as it arrived: method, the path and query as sent (still
    percent-encoded), headers (lower-case names, repeated values joined by ','), the body."""
    method: str
    raw_path: str
    query_string: str
    headers: dict[str, str]
    body: bytes

    @classmethod
    def from_pairs(cls, method: str, raw_path: str, query_string: str, header_pairs, body: bytes) -> "SignedRequest":
        headers: dict[str, str] = {}
        for name, text in header_pairs:
            key = name.lower()
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        return cls(method, raw_path, query_string, headers, body)


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    pairs = []
    for pair in query_string.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


def _canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _canonical_path(raw_path: str) -> str:
    # Every service but S3 signs the path URI-encoded once more, after removing dot segments.
    if raw_path == "/":   # (every JSON-protocol request)
        return raw_path
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in (".", ""):
            segments.append(segment)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and path != "/":
        path += "/"
    return quote(path, safe="/~")


def _header(headers: Mapping[str, str], name: str) -> str:
    # The JS SDK signs HTTP/2 requests with the pseudo-header ':authority' in place of Host; the
    # server hands it on as the host header.
    if name == ":authority":
        return headers.get(name) or headers.get("host", "")
    return headers.get(name, "")


def _parse_amz_date(value: str) -> float:
    # (strptime costs more than the rest of a verification together)
    if not _AMZ_DATE_FORM.fullmatch(value):
        raise ValueError(value)
    return float(calendar.timegm((int(value[0:4]), int(value[4:6]), int(value[6:8]),
                                  int(value[9:11]), int(value[11:13]), int(value[13:15]), 0, 0, 0)))


def _format_amz_date(seconds: float) -> str:
    return time.strftime(_AMZ_DATE, time.gmtime(seconds))


@dataclasses.dataclass(frozen=True)
class Verified:
    """Who signed: the key's account, and the scope's region and service."""
    account_id: str
    access_key_id: str
    region: str
    service: str


class Authenticator:
    """Verifies SigV4 against the configured keys; `now` is the server's clock (seconds)."""

    def __init__(self, keys: Mapping[str, AccessKey], now: Callable[[], float] = time.time):
        self._keys = dict(keys)
        self._now = now
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}
        self._lock = threading.Lock()

    def verify(self, request: SignedRequest, protocol: str) -> Verified:
        """The signer, or the AuthError AWS answers for this protocol family."""
        try:
            if "authorization" in request.headers:
                return self._verify_header(request)
            if "X-Amz-Credential" in request.query_string or "X-Amz-Signature" in request.query_string:
                return self._verify_presigned(request)
            raise _Failure("missing")
        except _Failure as failure:
            raise auth_error(failure.kind, failure.message, protocol) from None

    # --- the two ways of signing ---------------------------------------------------------
    def _verify_header(self, request: SignedRequest) -> Verified:
        authorization = request.headers["authorization"]
        algorithm, _, rest = authorization.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise _Failure("incomplete", f"Unsupported AWS 'algorithm': '{algorithm}'")
        fields = {}
        for part in rest.split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value
        missing = [f"Authorization header requires '{name}' parameter."
                   for name in ("Credential", "Signature", "SignedHeaders") if not fields.get(name)]
        if missing:
            raise _Failure("incomplete", " ".join(missing) + f" Authorization={authorization}")
        amz_date = request.headers.get("x-amz-date")
        if amz_date is None and "date" in request.headers:
            parsed = email.utils.parsedate_to_datetime(request.headers["date"])
            amz_date = _format_amz_date(parsed.timestamp())
        if amz_date is None:
            raise _Failure("incomplete", "Authorization header requires existence of either a 'X-Amz-Date' or "
                                         f"a 'Date' header. Authorization={authorization}")
        body_hash = hashlib.sha256(request.body).hexdigest()
        payload = request.headers.get("x-amz-content-sha256") or body_hash
        if payload not in (body_hash, UNSIGNED_PAYLOAD):   # a signed hash of some other body
            raise _Failure("mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
        return self._check(request, fields["Credential"], fields["SignedHeaders"], fields["Signature"],
                           amz_date, _canonical_query(_query_pairs(request.query_string)), (payload,), None)

    def _verify_presigned(self, request: SignedRequest) -> Verified:
        pairs = _query_pairs(request.query_string)
        params = dict(pairs)
        needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")
        absent = [name for name in needed if not params.get(name)]
        if absent:
            raise _Failure("incomplete", "AWS query-string parameters must include " +
                           ", ".join(f"'{name}'" for name in absent) + ". Re-examine the query-string parameters.")
        if params["X-Amz-Algorithm"] != ALGORITHM:
            raise _Failure("incomplete", f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'")
        try:
            expires = int(params.get("X-Amz-Expires", limits.SIGV4_PRESIGN_EXPIRES_MAX_S))
        except ValueError:
            raise _Failure("incomplete", "X-Amz-Expires must be a number of seconds") from None
        if not 0 < expires <= limits.SIGV4_PRESIGN_EXPIRES_MAX_S:
            raise _Failure("incomplete", "X-Amz-Expires must be less than a week (in seconds) that is 604800")
        canonical_query = _canonical_query((k, v) for k, v in pairs if k != "X-Amz-Signature")
        # botocore presigns over UNSIGNED-PAYLOAD, the JS SDK over the body's hash: either is the signer's
        payloads = (request.headers.get("x-amz-content-sha256") or UNSIGNED_PAYLOAD,
                    hashlib.sha256(request.body).hexdigest())
        return self._check(request, params["X-Amz-Credential"], params["X-Amz-SignedHeaders"],
                           params["X-Amz-Signature"], params["X-Amz-Date"], canonical_query, payloads, expires)

    # --- the shared check ----------------------------------------------------------------
    def _check(self, request: SignedRequest, credential: str, signed_headers: str, signature: str,
               amz_date: str, canonical_query: str, payloads: tuple[str, ...], expires: int | None) -> Verified:
        scope = credential.split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise _Failure("incomplete", f"Credential should be scoped to a valid region. Credential={credential}")
        access_key_id, day, region, service, _ = scope
        key = self._keys.get(access_key_id)
        if key is None:
            raise _Failure("unknown_key")
        try:
            signed_at = _parse_amz_date(amz_date)
        except ValueError:
            raise _Failure("incomplete", f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.") from None
        if day != amz_date[:8]:
            raise _Failure("mismatch", f"Credential should be scoped to a valid date: '{amz_date[:8]}'.")
        self._check_time(signed_at, expires)
        names = signed_headers.split(";")
        if "host" not in names and ":authority" not in names:
            raise _Failure("mismatch", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
        canonical_headers = "".join(f"{name}:{' '.join(_header(request.headers, name).split())}\n"
                                    for name in names)
        head = "\n".join((request.method.upper(), _canonical_path(request.raw_path), canonical_query,
                          canonical_headers, signed_headers))
        credential_scope = "/".join(scope[1:])
        signing_key = self._signing_key(key.secret, day, region, service)
        given = signature.encode("ascii", "replace")
        matched = False
        for payload in payloads:   # no early exit: the time taken does not tell which one matched
            canonical_request = f"{head}\n{payload}"
            to_sign = "\n".join((ALGORITHM, amz_date, credential_scope,
                                 hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()))
            expected = hmac.new(signing_key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
            matched |= hmac.compare_digest(expected.encode("ascii"), given)
        if not matched:
            raise _Failure("mismatch")
        return Verified(key.account_id, access_key_id, region, service)

    def _check_time(self, signed_at: float, expires: int | None) -> None:
        now = self._now()
        skew = limits.SIGV4_CLOCK_SKEW_MAX_S
        if expires is not None:
            if now > signed_at + expires:
                raise _Failure("expired", f"Signature expired: {_format_amz_date(signed_at)} is now earlier than "
                                          f"{_format_amz_date(now)} ({_format_amz_date(now - expires)} - {expires} sec.)")
        elif signed_at < now - skew:
            raise _Failure("expired", f"Signature expired: {_format_amz_date(signed_at)} is now earlier than "
                                      f"{_format_amz_date(now)} ({_format_amz_date(now - skew)} - {skew // 60} min.)")
        if signed_at > now + skew:
            raise _Failure("expired", f"Signature not yet current: {_format_amz_date(signed_at)} is still later than "
                                      f"{_format_amz_date(now)} ({_format_amz_date(now + skew)} + {skew // 60} min.)")

    def _signing_key(self, secret: str, day: str, region: str, service: str) -> bytes:
        cache_key = (secret, day, region, service)
        signing_key = self._signing_keys.get(cache_key)
        if signing_key is None:
            k = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
            for part in (region, service, "aws4_request"):
                k = hmac.new(k, part.encode(), hashlib.sha256).digest()
            signing_key = k
            with self._lock:
                if len(self._signing_keys) > len(self._keys) * 64:   # days and scopes pile up: start over
                    self._signing_keys.clear()
                self._signing_keys[cache_key] = signing_key
        return signing_key


class AccountUnavailable(Exception):
    """An account whose data under the data dir could not be restored. Its requests fail with
    this message until the server restarts: restoring again on each request would retry on
    damaged files, and log the same failure per request."""

    def __init__(self, account_id: str, message: str):
        super().__init__(message)
        self.account_id = account_id
        self.message = message


def restore_account(engine) -> None:
    """Open every service and region the account has data for under the data dir
    (<data_dir>/<service>/<account>/<region>/), so damaged data is found when the account is
    first used, whole, rather than by whichever later request touches that service."""
    if engine.durability == "memory":
        return
    for service in SERVICES:
        account_dir = os.path.join(engine.data_dir, service, engine.account_id)
        try:
            regions = sorted(os.listdir(account_dir))
        except FileNotFoundError:
            continue
        for region in regions:
            try:
                engine.backend(service, region)
            except Exception as error:
                raise AccountUnavailable(engine.account_id, (
                    f"The {service} data of account {engine.account_id} in {region} "
                    f"({os.path.join(account_dir, region)}) could not be restored: {error}")) from error


class AccountEngines:
    """One Engine per account id, made on first use with the same settings and its data restored
    whole (restore_account); the default account's Engine is the one given, restored on its
    first use too. An account whose restore fails is closed and answers AccountUnavailable from
    then on, logged once; the other accounts go on."""

    def __init__(self, default, make: Callable[[str], object]):
        self._engines: dict[str, object] = {}     # restored: the lock-free path
        self._unrestored = {default.account_id: default}
        self._failures: dict[str, str] = {}       # account id -> why its restore failed
        self._make = make
        self._lock = threading.Lock()
        self.default = default

    def get(self, account_id: str):
        engine = self._engines.get(account_id)
        if engine is None:
            engine = self._open(account_id)
        return engine

    def _open(self, account_id: str):
        with self._lock:
            engine = self._engines.get(account_id)
            if engine is not None:
                return engine
            if account_id in self._failures:   # (a new exception each time: a raised one keeps its traceback)
                raise AccountUnavailable(account_id, self._failures[account_id])
            engine = self._unrestored.pop(account_id, None) or self._make(account_id)
            try:
                restore_account(engine)
            except AccountUnavailable as failure:
                log.error("%s (every request of account %s answers an internal failure until the server restarts)",
                          failure.message, account_id, exc_info=failure.__cause__)
                self._failures[account_id] = failure.message
                engine.close()   # (what did restore lets go of its files, timers and threads)
                raise
            self._engines[account_id] = engine
            return engine

    def all(self) -> list:
        with self._lock:
            return list(self._engines.values()) + list(self._unrestored.values())

"""Opaque tokens this service hands out: shard iterators and pagination NextTokens.

A token is base64 (URL-safe) of its text fields and a keyed BLAKE2b tag over them. The key
is made per process, so only tokens issued here verify: random text, base64 garbage or a
real token with one field edited is refused whole, as AWS refuses a token it did not issue,
and no field of a verified token needs a second guess (the numbers in it are ours).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

_KEY = os.urandom(32)
_TAG_BYTES = 12
_SEPARATOR = "\x1f"   # never in a stream, shard or consumer name


def _tag(body: bytes) -> bytes:
    return hashlib.blake2b(body, key=_KEY, digest_size=_TAG_BYTES).digest()


def seal(kind: str, *fields) -> str:
    """A token of `kind` carrying `fields` (their str())."""
    body = _SEPARATOR.join((kind, *map(str, fields))).encode("utf-8")
    return base64.urlsafe_b64encode(body + _tag(body)).decode("ascii")


def unseal(kind: str, token, count: int) -> list[str] | None:
    """The `count` fields of a token of `kind` issued by seal(); None for anything else."""
    if not isinstance(token, str):
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (ValueError, binascii.Error):
        return None
    body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if len(raw) <= _TAG_BYTES or not hmac.compare_digest(tag, _tag(body)):
        return None
    parts = body.decode("utf-8").split(_SEPARATOR)
    if parts[0] != kind or len(parts) != count + 1:
        return None
    return parts[1:]

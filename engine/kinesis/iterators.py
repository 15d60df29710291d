"""Shard iterators: opaque tokens naming a stream incarnation, a shard and a position.

A token carries the stream's name and incarnation number (so a stream deleted and created
again under the same name does not honour an old iterator), the shard index, the next
sequence number to read, and the engine time at which it was issued: iterators expire after
5 minutes, as AWS documents.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .. import limits
from .errors import ExpiredIteratorException, InvalidArgumentException

_VERSION = "e1"


@dataclass(frozen=True)
class IteratorState:
    stream_name: str
    stream_incarnation: int   # unique per Stream object in the process
    shard_index: int
    position: int          # next sequence number to read (inclusive)
    issued_ms: int


def encode(state: IteratorState) -> str:
    raw = "|".join((_VERSION, state.stream_name, str(state.stream_incarnation), str(state.shard_index),
                    str(state.position), str(state.issued_ms)))
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


def decode(token, now_ms: int) -> IteratorState:
    """Parse a token; InvalidArgumentException if malformed, ExpiredIteratorException if old."""
    if not isinstance(token, str) or not 1 <= len(token) <= 512:
        raise InvalidArgumentException("Invalid ShardIterator.")
    try:
        parts = base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8").split("|")
        if len(parts) != 6 or parts[0] != _VERSION:
            raise ValueError
        state = IteratorState(parts[1], int(parts[2]), int(parts[3]), int(parts[4]), int(parts[5]))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidArgumentException(f"Invalid ShardIterator: {token[:64]}") from None
    ttl_ms = limits.KINESIS_ITERATOR_TTL_S * 1000
    if now_ms - state.issued_ms > ttl_ms:
        raise ExpiredIteratorException(
            f"Iterator expired. The iterator was created at time {_iso(state.issued_ms)} while right now it is "
            f"{_iso(now_ms)} which is further in the future than the tolerated delay of {ttl_ms} milliseconds.")
    return state


def _iso(ms: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")

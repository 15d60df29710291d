"""Shard iterators: sealed tokens naming a stream incarnation, a shard and a position.

A token carries the stream's name and incarnation number (so a stream deleted and created
again under the same name does not honour an old iterator), the shard index, the next
sequence number to read, and the engine time at which it was issued: iterators expire after
5 minutes, as AWS documents. Tokens are sealed (engine.kinesis.tokens): one not issued here
is InvalidArgumentException, whatever it holds.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from .. import limits
from . import tokens
from .errors import ExpiredIteratorException, InvalidArgumentException

_KIND = "it1"


@dataclass(frozen=True)
class IteratorState:
    stream_name: str
    stream_incarnation: int   # unique per Stream object in the process
    shard_index: int
    position: int          # next sequence number to read (inclusive)
    issued_ms: int


def encode(state: IteratorState) -> str:
    return tokens.seal(_KIND, state.stream_name, state.stream_incarnation, state.shard_index, state.position,
                       state.issued_ms)


def decode(token, now_ms: int) -> IteratorState:
    """Parse a token; InvalidArgumentException if not issued here, ExpiredIteratorException if old."""
    fields = tokens.unseal(_KIND, token, 5)
    if fields is None:
        raise InvalidArgumentException(f"Invalid ShardIterator: {str(token)[:64]}")
    name, incarnation, shard_index, position, issued_ms = fields
    state = IteratorState(name, int(incarnation), int(shard_index), int(position), int(issued_ms))
    ttl_ms = limits.KINESIS_ITERATOR_TTL_S * 1000
    if now_ms - state.issued_ms > ttl_ms:
        raise ExpiredIteratorException(
            f"Iterator expired. The iterator was created at time {_iso(state.issued_ms)} while right now it is "
            f"{_iso(now_ms)} which is further in the future than the tolerated delay of {ttl_ms} milliseconds.")
    return state


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")

"""Paged listings of streams, shards and consumers, with the NextToken rules AWS applies:
tokens are sealed (one not issued here is InvalidArgumentException), ListShards and
ListStreamConsumers tokens expire after 300 s and name the stream incarnation they page."""
from __future__ import annotations

from .. import limits
from ..arn import parse_shard_id
from . import tokens
from .errors import ExpiredNextTokenException, InvalidArgumentException, stream_not_found
from .models import Consumer, KinesisBackend, Shard, Stream

_SAME_INSTANT_S = 0.001   # timestamps travel as milliseconds
SHARD_FILTERS = ("AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST", "AT_TIMESTAMP",
                 "FROM_TIMESTAMP")


def _check_created(stream: Stream, created: float | None) -> None:
    """A StreamCreationTimestamp names one incarnation of a stream name: another one (a
    stream deleted since) is not found."""
    if created is not None and abs(created - stream.created) >= _SAME_INSTANT_S:
        raise stream_not_found(stream.name, stream.backend.account_id)


def _issue(kind: str, now_ms: int, *fields) -> str:
    return tokens.seal(kind, now_ms, *fields)


def _redeem(kind: str, token, count: int, now_ms: int, ttl_s: int | None) -> list[str]:
    """The fields of a NextToken issued here for `kind`; InvalidArgumentException for any
    other text, ExpiredNextTokenException once it is older than ttl_s (None: never)."""
    fields = tokens.unseal(kind, token, count + 1)
    if fields is None:
        raise InvalidArgumentException(f"Invalid NextToken: {str(token)[:64]}")
    if ttl_s is not None and now_ms - int(fields[0]) > ttl_s * 1000:
        raise ExpiredNextTokenException(f"The NextToken has expired: tokens are valid for {ttl_s} seconds.")
    return fields[1:]


def streams_page(backend: KinesisBackend, limit: int | None = None, exclusive_start: str | None = None,
                 next_token: str | None = None) -> tuple[list[Stream], bool, str | None]:
    """ListStreams: up to `limit` streams in name order, whether more follow, and the token
    for the next page."""
    limit = limits.KINESIS_LIST_STREAMS_DEFAULT if limit is None else limit
    now_ms = backend.clock.now_ms()
    if next_token is not None:
        exclusive_start = _redeem("streams", next_token, 1, now_ms, None)[0]
    names, more = backend.names_after(exclusive_start, limit)
    streams = [s for s in map(backend.streams.get, names) if s is not None]
    return streams, more, _issue("streams", now_ms, names[-1]) if more else None


def describe_page(stream: Stream, exclusive_start_shard_id: str | None, limit: int | None) -> tuple[list[Shard], bool]:
    """DescribeStream's shards after an exclusive start shard id."""
    limit = limits.KINESIS_DESCRIBE_STREAM_DEFAULT if limit is None else limit
    return stream.shard_page(*_after(exclusive_start_shard_id, limit))


def _after(exclusive_start_shard_id, limit: int) -> tuple[int, int]:
    """(index to page after, page size): an id that names no shard lists nothing."""
    if exclusive_start_shard_id is None:
        return -1, limit
    after = parse_shard_id(exclusive_start_shard_id)
    return (after, limit) if after is not None else (-1, 0)


def shards_page(backend: KinesisBackend, stream_name: str | None = None, stream_arn: str | None = None,
                next_token: str | None = None, exclusive_start_shard_id: str | None = None,
                limit: int | None = None, filter_type: str | None = None, filter_shard_id: str | None = None,
                filter_timestamp: float | None = None,
                stream_created: float | None = None) -> tuple[list[Shard], str | None]:
    """ListShards: a page of shards and the token for the next one. A NextToken carries the
    stream, position and filter; it cannot be combined with a stream name, start shard or
    filter."""
    limit = limits.KINESIS_LIST_SHARDS_DEFAULT if limit is None else limit
    now_ms = backend.clock.now_ms()
    if next_token is not None:
        if (stream_name is not None or exclusive_start_shard_id is not None or filter_type is not None
                or stream_created is not None):
            raise InvalidArgumentException("NextToken and StreamName, ExclusiveStartShardId, ShardFilter or "
                                           "StreamCreationTimestamp cannot be provided together.")
        name, incarnation, after, kind, value = _redeem("shards", next_token, 5, now_ms,
                                                        limits.KINESIS_NEXT_TOKEN_TTL_S)
        stream = backend.streams.get(name)
        if stream is None or stream.incarnation != int(incarnation):
            raise ExpiredNextTokenException(f"The NextToken has expired: stream {name} was deleted after it was issued.")
        after = int(after)
        kind = kind or None
        value = None if not value else int(value) if kind == "AFTER_SHARD_ID" else float(value)
        keep = _shard_filter(stream, kind, value)[1]
    else:
        stream = backend.stream(stream_name, stream_arn)
        _check_created(stream, stream_created)
        kind, value = _filter_value(filter_type, filter_shard_id, filter_timestamp)
        after, keep = _shard_filter(stream, kind, value)
        if exclusive_start_shard_id is not None:
            start, size = _after(exclusive_start_shard_id, limit)
            after = max(after, start) if size else len(stream.shards)
    page, more = stream.shard_page(after, limit, keep)
    token = None
    if more:
        token = _issue("shards", now_ms, stream.name, stream.incarnation, page[-1].index, kind or "",
                       "" if value is None else repr(value))
    return page, token


def _filter_value(kind, shard_id, timestamp) -> tuple[str | None, int | float | None]:
    """A ShardFilter as (type, its shard index (-1: names no shard) or epoch timestamp)."""
    if kind is None:
        return None, None
    if kind not in SHARD_FILTERS:
        raise InvalidArgumentException(f"Invalid ShardFilter type {kind}; must be one of {', '.join(SHARD_FILTERS)}.")
    if kind == "AFTER_SHARD_ID":
        if shard_id is None:
            raise InvalidArgumentException("ShardId is required for ShardFilter type AFTER_SHARD_ID.")
        after = parse_shard_id(shard_id)
        return kind, -1 if after is None else after
    if kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP"):
        if timestamp is None:
            raise InvalidArgumentException(f"Timestamp is required for ShardFilter type {kind}.")
        return kind, float(timestamp)
    return kind, None


def _shard_filter(stream: Stream, kind: str | None, value: int | float | None):
    """(index to page after, predicate or None) for a ShardFilter's type and value."""
    def open_at(s, t):   # the ShardFilter reference: start <= t and (end >= t or still open)
        return s.created_at <= t and (s.is_open or s.closed_at >= t)

    if kind == "AFTER_SHARD_ID":
        return (value, None) if value >= 0 else (len(stream.shards), None)   # an unknown id: nothing
    if kind == "AT_LATEST":
        return -1, lambda s: s.is_open
    if kind == "AT_TRIM_HORIZON":
        t = max(stream.clock.now() - stream.retention_seconds, stream.created)
        return -1, lambda s: open_at(s, t)
    if kind == "AT_TIMESTAMP":
        t = max(value, stream.created)
        return -1, lambda s: open_at(s, t)
    if kind == "FROM_TIMESTAMP":
        return -1, lambda s: s.is_open or s.closed_at >= value
    return -1, None   # no filter, FROM_TRIM_HORIZON


def consumers_page(stream: Stream, limit: int | None = None, next_token: str | None = None,
                   stream_created: float | None = None) -> tuple[list[Consumer], str | None]:
    """ListStreamConsumers: consumers in name order; a token pages only the stream
    incarnation that issued it."""
    _check_created(stream, stream_created)
    limit = limits.KINESIS_LIST_CONSUMERS_DEFAULT if limit is None else limit
    now_ms = stream.clock.now_ms()
    consumers = sorted(stream.consumers.values(), key=lambda c: c.name)
    if next_token is not None:
        incarnation, after = _redeem("consumers", next_token, 2, now_ms, limits.KINESIS_NEXT_TOKEN_TTL_S)
        if int(incarnation) != stream.incarnation:
            raise InvalidArgumentException(f"NextToken {next_token[:64]} was not issued for stream {stream.name}.")
        consumers = [c for c in consumers if c.name > after]
    page = consumers[:limit]
    token = _issue("consumers", now_ms, stream.incarnation, page[-1].name) if len(consumers) > limit else None
    return page, token

"""KPL record aggregation: many user records in one Kinesis record, as the Kinesis Producer
Library (and the aws-kinesis-agg package) writes them.

An aggregated record is the magic bytes F3 89 9A C2, an `AggregatedRecord` protobuf message
and the MD5 digest of that message:

    message AggregatedRecord {
      repeated string partition_key_table = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records = 3;
    }
    message Record {
      required uint64 partition_key_index = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes data = 3;
      repeated Tag tags = 4;          // Tag { required string key = 1; optional string value = 2; }
    }

The codec is written out here (a few varints and length-delimited fields) rather than taken
from `protobuf`, which would be a runtime dependency for ~100 lines. Anything that is not a
well-formed aggregate (wrong magic, bad digest, broken message) is an ordinary record, as
the KCL and aws-kinesis-agg treat it.

`Producer` packs user records per shard into aggregates of at most 1 MiB (key included) and
puts each with the explicit hash key of its first user record, as the KPL does, so every user
record lands on the shard its own key routes to. `deaggregate_batch` expands a stream read
(`Stream.read`) into user records with their sub-sequence numbers.
"""
from __future__ import annotations

import bisect
import hashlib
from typing import Iterable, NamedTuple

import numpy as np
import pyarrow as pa

from .. import limits

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_SIZE = 16
_OVERHEAD = len(MAGIC) + DIGEST_SIZE

# field tags: (field number << 3) | wire type
_PK_TABLE, _EHK_TABLE, _RECORDS = 0x0A, 0x12, 0x1A
_PK_INDEX, _EHK_INDEX, _DATA, _TAGS = 0x08, 0x10, 0x1A, 0x22
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5

USER_RECORD_SCHEMA = pa.schema([
    pa.field("partition_key", pa.string()),
    pa.field("data", pa.binary()),
    pa.field("sequence_number", pa.int64()),
    pa.field("sub_sequence_number", pa.int64()),
    pa.field("explicit_hash_key", pa.string()),
    pa.field("approximate_arrival_timestamp", pa.timestamp("ms", tz="UTC")),
])


class UserRecord(NamedTuple):
    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None


# --- protobuf wire format ---------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes, pos: int, end: int):
    """(tag, value) for each field of a message in buf[pos:end]; bytes fields as (start, stop)."""
    while pos < end:
        tag, pos = _read_varint(buf, pos, end)
        kind = tag & 7
        if kind == _VARINT:
            value, pos = _read_varint(buf, pos, end)
        elif kind == _BYTES:
            size, pos = _read_varint(buf, pos, end)
            if pos + size > end:
                raise ValueError("truncated field")
            value = (pos, pos + size)
            pos += size
        elif kind in (_FIXED64, _FIXED32):
            pos += 8 if kind == _FIXED64 else 4
            if pos > end:
                raise ValueError("truncated field")
            value = None
        else:
            raise ValueError(f"wire type {kind}")
        yield tag, value


def _record_message(pk_index: int, ehk_index: int | None, data: bytes) -> bytes:
    body = bytes([_PK_INDEX]) + _varint(pk_index)
    if ehk_index is not None:
        body += bytes([_EHK_INDEX]) + _varint(ehk_index)
    body += bytes([_DATA]) + _varint(len(data)) + data
    return bytes([_RECORDS]) + _varint(len(body)) + body


def _table_entry(tag: int, text: str) -> bytes:
    raw = text.encode("utf-8")
    return bytes([tag]) + _varint(len(raw)) + raw


# --- one aggregate ----------------------------------------------------------------------------------
def is_aggregated(blob: bytes) -> bool:
    return deaggregate(blob) is not None


def deaggregate(blob: bytes) -> list[UserRecord] | None:
    """The user records of an aggregated record, or None if `blob` is not one."""
    if len(blob) <= _OVERHEAD or blob[:4] != MAGIC:
        return None
    message = blob[4:-DIGEST_SIZE]
    if hashlib.md5(message).digest() != blob[-DIGEST_SIZE:]:
        return None
    try:
        pks, ehks, records = [], [], []
        for tag, value in _fields(message, 0, len(message)):
            if tag == _PK_TABLE:
                pks.append(message[value[0]:value[1]].decode("utf-8"))
            elif tag == _EHK_TABLE:
                ehks.append(message[value[0]:value[1]].decode("utf-8"))
            elif tag == _RECORDS:
                pk_index = ehk_index = data = None
                for rtag, rvalue in _fields(message, value[0], value[1]):
                    if rtag == _PK_INDEX:
                        pk_index = rvalue
                    elif rtag == _EHK_INDEX:
                        ehk_index = rvalue
                    elif rtag == _DATA:
                        data = message[rvalue[0]:rvalue[1]]
                if pk_index is None or data is None:
                    return None
                records.append((pk_index, ehk_index, data))
        out = []
        for pk_index, ehk_index, data in records:
            ehk = ehks[ehk_index] if ehk_index is not None else None
            out.append(UserRecord(pks[pk_index], data, ehk))
        return out
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def aggregate(records: Iterable) -> bytes:
    """One aggregated record of (partition_key, data[, explicit_hash_key]) items, whatever its size."""
    builder = _Builder()
    for item in records:
        builder.add(*item)
    return builder.finish()


class _Builder:
    """An aggregate being filled, knowing its encoded size at every step."""

    def __init__(self):
        self.pk_index: dict[str, int] = {}
        self.ehk_index: dict[str, int] = {}
        self.parts: list[bytes] = []
        self.tables: list[bytes] = []
        self.size = 0               # the protobuf message's size
        self.first: tuple[str, str | None] | None = None
        self.count = 0

    def cost(self, key: str, data: bytes, ehk: str | None) -> int:
        """The message's size growth if this record were added."""
        grow = 0
        pk_at = self.pk_index.get(key)
        if pk_at is None:
            raw = len(key.encode("utf-8"))
            grow += 1 + _varint_size(raw) + raw
            pk_at = len(self.pk_index)
        inner = 1 + _varint_size(pk_at) + 1 + _varint_size(len(data)) + len(data)
        if ehk is not None:
            ehk_at = self.ehk_index.get(ehk)
            if ehk_at is None:
                grow += 1 + _varint_size(len(ehk)) + len(ehk)
                ehk_at = len(self.ehk_index)
            inner += 1 + _varint_size(ehk_at)
        return grow + 1 + _varint_size(inner) + inner

    def add(self, key: str, data: bytes, ehk: str | None = None) -> None:
        self.size += self.cost(key, data, ehk)
        pk_at = self.pk_index.get(key)
        if pk_at is None:
            pk_at = self.pk_index[key] = len(self.pk_index)
            self.tables.append(_table_entry(_PK_TABLE, key))
        ehk_at = None
        if ehk is not None:
            ehk_at = self.ehk_index.get(ehk)
            if ehk_at is None:
                ehk_at = self.ehk_index[ehk] = len(self.ehk_index)
                self.tables.append(_table_entry(_EHK_TABLE, ehk))
        self.parts.append(_record_message(pk_at, ehk_at, data))
        if self.first is None:
            self.first = (key, ehk)
        self.count += 1

    def finish(self) -> bytes:
        # Tables first, then records: field order does not matter to a decoder, but this is the
        # order the KPL writes.
        pk_table = b"".join(t for t in self.tables if t[0] == _PK_TABLE)
        ehk_table = b"".join(t for t in self.tables if t[0] == _EHK_TABLE)
        message = pk_table + ehk_table + b"".join(self.parts)
        return MAGIC + message + hashlib.md5(message).digest()


# --- routing and the producer -----------------------------------------------------------------------
def hash_key(partition_key: str, explicit_hash_key: str | None = None) -> int:
    """The 128-bit hash key Kinesis routes by: the explicit one, else MD5 of the partition key."""
    if explicit_hash_key is not None:
        return int(explicit_hash_key)
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


class Aggregate(NamedTuple):
    partition_key: str          # the first user record's
    explicit_hash_key: str      # the first user record's hash key, as the KPL sets it
    data: bytes
    count: int


def pack(records: Iterable, max_bytes: int = limits.KPL_AGGREGATE_MAX_BYTES) -> list[Aggregate]:
    """(partition_key, data[, explicit_hash_key]) items -> aggregates of at most max_bytes (the
    outer partition key included), in order. A user record too large to share an aggregate gets
    one of its own."""
    out: list[Aggregate] = []
    builder = _Builder()

    def close():
        key, ehk = builder.first
        out.append(Aggregate(key, str(hash_key(key, ehk)), builder.finish(), builder.count))

    for item in records:
        key, data = item[0], item[1]
        ehk = item[2] if len(item) > 2 else None
        if isinstance(data, str):
            data = data.encode("utf-8")
        if builder.count:
            outer_key = len(builder.first[0].encode("utf-8"))
            if outer_key + _OVERHEAD + builder.size + builder.cost(key, data, ehk) > max_bytes:
                close()
                builder = _Builder()
        builder.add(key, data, ehk)
    if builder.count:
        close()
    return out


class ProducerResult(NamedTuple):
    """Per user record, in input order: the shard index and sequence number of its aggregate and
    its sub-sequence number inside it."""
    shard_index: np.ndarray
    sequence_number: np.ndarray
    sub_sequence_number: np.ndarray
    aggregates: int


class Producer:
    """Aggregating producer for a native Stream (engine.kinesis.models.Stream), like the KPL with
    aggregation on: user records are grouped by the shard their key routes to, packed into
    aggregates of at most 1 MiB and put in one native batch."""

    def __init__(self, stream, max_bytes: int = limits.KPL_AGGREGATE_MAX_BYTES):
        self.stream = stream
        self.max_bytes = max_bytes

    def put(self, data, partition_keys, explicit_hash_keys=None) -> ProducerResult:
        n = len(partition_keys)
        if len(data) != n or (explicit_hash_keys is not None and len(explicit_hash_keys) != n):
            raise ValueError("data, partition_keys and explicit_hash_keys must have the same length")
        shards = sorted(self.stream.open_shards(), key=lambda s: s.start_hash)
        starts = [s.start_hash for s in shards]
        per_shard: dict[int, list[int]] = {}
        for i, key in enumerate(partition_keys):
            ehk = explicit_hash_keys[i] if explicit_hash_keys is not None else None
            at = bisect.bisect_right(starts, hash_key(key, ehk)) - 1
            per_shard.setdefault(at, []).append(i)
        blobs, keys, ehks, members = [], [], [], []
        for at in sorted(per_shard):
            rows = per_shard[at]
            items = [(partition_keys[i], data[i], explicit_hash_keys[i] if explicit_hash_keys is not None else None)
                     for i in rows]
            start = 0
            for agg in pack(items, self.max_bytes):
                blobs.append(agg.data)
                keys.append(agg.partition_key)
                ehks.append(agg.explicit_hash_key)
                members.append(rows[start:start + agg.count])
                start += agg.count
        shard_index = np.empty(n, np.int32)
        seqs = np.empty(n, np.int64)
        subs = np.empty(n, np.int64)
        if blobs:
            put = self.stream.put_batch(blobs, keys, ehks)
            for k, rows in enumerate(members):
                shard_index[rows] = put.shard_index[k]
                seqs[rows] = put.sequence_number[k]
                subs[rows] = np.arange(len(rows))
        return ProducerResult(shard_index, seqs, subs, len(blobs))


def deaggregate_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A stream read (partition_key, data, sequence_number, approximate_arrival_timestamp) as user
    records (USER_RECORD_SCHEMA): each aggregate becomes its user records, numbered by
    sub_sequence_number; an ordinary record stays one row with sub-sequence number 0."""
    keys, data, seqs, arrivals = (batch.column(i) for i in range(4))
    out_keys, out_data, out_rows, out_subs, out_ehks = [], [], [], [], []
    for row, blob in enumerate(data.to_pylist()):
        users = deaggregate(blob) if blob[:4] == MAGIC else None
        if users is None:
            out_keys.append(keys[row].as_py())
            out_data.append(blob)
            out_rows.append(row)
            out_subs.append(0)
            out_ehks.append(None)
            continue
        for sub, user in enumerate(users):
            out_keys.append(user.partition_key)
            out_data.append(user.data)
            out_rows.append(row)
            out_subs.append(sub)
            out_ehks.append(user.explicit_hash_key)
    rows = pa.array(out_rows, pa.int64())
    return pa.RecordBatch.from_arrays(
        [pa.array(out_keys, pa.string()), pa.array(out_data, pa.binary()), seqs.take(rows),
         pa.array(out_subs, pa.int64()), pa.array(out_ehks, pa.string()), arrivals.take(rows)],
        schema=USER_RECORD_SCHEMA)

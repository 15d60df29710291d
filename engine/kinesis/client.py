"""boto3-shaped Kinesis client: validates parameters, calls the stream models, and shapes
responses exactly as boto3 returns them. Nothing here touches records one by one except
where the boto3 shape itself is a list of per-record dicts."""
from __future__ import annotations

import datetime
import functools
import re
import threading

import pyarrow as pa
import pyarrow.compute as pc

from .. import limits
from ..arn import parse_shard_id
from ..client_base import (BaseClient, check_dict, check_int, check_list, check_str, constraint_message, to_blob)
from ..errors import ParamValidationError
from ..request.validate import validator_for
from . import errors as kinesis_errors
from . import iterators, tokens
from .errors import (InvalidArgumentException, ResourceInUseException, ResourceNotFoundException,
                     ValidationException, shard_not_found, stream_not_found)
from .models import (HASH_KEY_MAX, Stream, format_sequence_number, parse_sequence_number)

_UTC = datetime.timezone.utc
_STREAM_NAME = re.compile(limits.KINESIS_STREAM_NAME_PATTERN)
_HASH_KEY = re.compile(limits.KINESIS_HASH_KEY_PATTERN)
_CONSUMER_NAME = re.compile(r"[a-zA-Z0-9_.-]+")
_ITERATOR_TYPES = ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
_SHARD_FILTERS = ("AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST", "AT_TIMESTAMP",
                  "FROM_TIMESTAMP")


def _dt(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, _UTC)


def _to_epoch(name: str, value) -> float:
    """boto3 timestamps: datetime (naive = UTC), epoch seconds, or ISO 8601 text."""
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=_UTC)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=_UTC)).timestamp()
        except ValueError:
            pass
    raise ParamValidationError(f"Invalid type for parameter {name}, value: {value!r}, type: {type(value)}, "
                               "valid types: <class 'datetime.datetime'>, timestamp string")


def _shard_shape(shard) -> dict:
    out = {"ShardId": shard.shard_id}
    if shard.parent:
        out["ParentShardId"] = shard.parent
    if shard.adjacent_parent:
        out["AdjacentParentShardId"] = shard.adjacent_parent
    out["HashKeyRange"] = {"StartingHashKey": str(shard.start_hash), "EndingHashKey": str(shard.end_hash)}
    seq_range = {"StartingSequenceNumber": format_sequence_number(shard.starting_seq)}
    if shard.ending_seq is not None:
        seq_range["EndingSequenceNumber"] = format_sequence_number(shard.ending_seq)
    out["SequenceNumberRange"] = seq_range
    return out


def _child_shards(shard) -> list[dict]:
    return [{"ShardId": c.shard_id, "ParentShards": [p for p in (c.parent, c.adjacent_parent) if p],
             "HashKeyRange": {"StartingHashKey": str(c.start_hash), "EndingHashKey": str(c.end_hash)}}
            for c in shard.children]


def _next_token(kind: str, now_ms: int, *fields) -> str:
    return tokens.seal(kind, now_ms, *fields)


def _read_next_token(kind: str, token: str, count: int, now_ms: int, ttl_s: int | None) -> list[str]:
    """The fields of a NextToken this client issued for `kind`; InvalidArgumentException for
    any other text, ExpiredNextTokenException once it is older than ttl_s (None: never)."""
    fields = tokens.unseal(kind, token, count + 1)
    if fields is None:
        raise InvalidArgumentException(f"Invalid NextToken: {token[:64]}")
    if ttl_s is not None and now_ms - int(fields[0]) > ttl_s * 1000:
        raise kinesis_errors.ExpiredNextTokenException(
            f"The NextToken has expired: tokens are valid for {ttl_s} seconds.")
    return fields[1:]


class KinesisClient(BaseClient):
    service_name = "kinesis"
    error_modules = (kinesis_errors,)
    def __init__(self, engine, region_name):
        super().__init__(engine, region_name)
        self._backend = engine.backend("kinesis", region_name)
        self._subscriptions_lock = threading.Lock()

    # --- helpers -----------------------------------------------------------------------
    def _stream(self, StreamName=None, StreamARN=None) -> Stream:
        if StreamARN is not None:
            check_str("StreamARN", StreamARN)
            stream = self._backend.stream_by_arn(StreamARN)
            if StreamName is not None and StreamName != stream.name:
                raise InvalidArgumentException(f"StreamName {StreamName} and StreamARN {StreamARN} do not match.")
            return stream
        if StreamName is None:
            raise ValidationException("Either StreamName or StreamARN must be provided.")
        self._check_stream_name(StreamName)
        return self._backend.get_stream(StreamName)

    @staticmethod
    def _check_stream_name(name) -> None:
        check_str("StreamName", name)
        if not 1 <= len(name) <= limits.KINESIS_STREAM_NAME_MAX:
            raise ValidationException(constraint_message(
                "streamName", name, f"Member must have length less than or equal to {limits.KINESIS_STREAM_NAME_MAX}"
                if name else "Member must have length greater than or equal to 1"))
        if not _STREAM_NAME.fullmatch(name):
            raise ValidationException(constraint_message(
                "streamName", name, f"Member must satisfy regular expression pattern: {limits.KINESIS_STREAM_NAME_PATTERN}"))

    @staticmethod
    def _check_range(field: str, value, lo: int, hi: int | None, error=ValidationException) -> int:
        check_int(field[:1].upper() + field[1:], value)   # botocore names the parameter, AWS the wire field
        if value < lo:
            raise error(constraint_message(field, value, f"Member must have value greater than or equal to {lo}"))
        if hi is not None and value > hi:
            raise error(constraint_message(field, value, f"Member must have value less than or equal to {hi}"))
        return value

    # --- streams -------------------------------------------------------------------------
    def create_stream(self, StreamName, ShardCount=None, StreamModeDetails=None, Tags=None,
                      WarmThroughputMiBps=None, MaxRecordSizeInKiB=None):
        self._check_stream_name(StreamName)
        mode = "PROVISIONED" if ShardCount is not None else "ON_DEMAND"
        if StreamModeDetails is not None:
            check_dict("StreamModeDetails", StreamModeDetails)
            mode = StreamModeDetails.get("StreamMode")
            if mode not in ("PROVISIONED", "ON_DEMAND"):
                raise ValidationException(constraint_message(
                    "streamModeDetails.streamMode", mode, "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"))
        if mode == "PROVISIONED":
            if ShardCount is None:
                raise InvalidArgumentException("ShardCount is required for streams in PROVISIONED mode.")
            # No upper bound in the API: past the account's shard quota it is LimitExceededException.
            self._check_range("shardCount", ShardCount, limits.KINESIS_SHARD_COUNT_MIN, None)
        elif ShardCount is not None:
            raise InvalidArgumentException("ShardCount cannot be specified for streams in ON_DEMAND mode.")
        if MaxRecordSizeInKiB is not None:
            self._check_range("maxRecordSizeInKiB", MaxRecordSizeInKiB, limits.KINESIS_RECORD_SIZE_MIN_KIB,
                              limits.KINESIS_RECORD_SIZE_MAX_KIB)
        if Tags is not None:
            self._check_tags(Tags)
        self._backend.create_stream(StreamName, ShardCount, mode, MaxRecordSizeInKiB, Tags)
        return {}

    def delete_stream(self, StreamName=None, EnforceConsumerDeletion=False, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        self._backend.delete_stream(stream.name, bool(EnforceConsumerDeletion))
        return {}

    def _summary_fields(self, stream: Stream) -> dict:
        out = {
            "StreamName": stream.name,
            "StreamARN": stream.arn,
            "StreamStatus": stream.status,
            "StreamModeDetails": {"StreamMode": stream.mode},
            "RetentionPeriodHours": stream.retention_hours,
            "StreamCreationTimestamp": _dt(stream.created),
            "EnhancedMonitoring": [{"ShardLevelMetrics": list(stream.shard_level_metrics)}],
            "EncryptionType": stream.encryption_type,
        }
        if stream.key_id:
            out["KeyId"] = stream.key_id
        return out

    def describe_stream(self, StreamName=None, Limit=None, ExclusiveStartShardId=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        limit = 100 if Limit is None else self._check_range("limit", Limit, 1, 10000)
        page, more = stream.shard_page(*self._after(ExclusiveStartShardId, limit))
        fields = self._summary_fields(stream)
        description = {k: fields[k] for k in ("StreamName", "StreamARN", "StreamStatus", "StreamModeDetails")}
        description["Shards"] = [_shard_shape(s) for s in page]
        description["HasMoreShards"] = more
        description.update({k: v for k, v in fields.items() if k not in description})
        return {"StreamDescription": description}

    @staticmethod
    def _after(exclusive_start_shard_id, limit: int) -> tuple[int, int]:
        """(index to page after, page size): an id that names no shard lists nothing."""
        if exclusive_start_shard_id is None:
            return -1, limit
        after = parse_shard_id(check_str("ExclusiveStartShardId", exclusive_start_shard_id))
        return (after, limit) if after is not None else (-1, 0)

    def describe_stream_summary(self, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        summary = self._summary_fields(stream)
        summary["OpenShardCount"] = stream.open_count
        summary["ConsumerCount"] = len(stream.consumers)
        summary["MaxRecordSizeInKiB"] = stream.max_record_size_kib
        return {"StreamDescriptionSummary": summary}

    def list_streams(self, Limit=None, ExclusiveStartStreamName=None, NextToken=None):
        limit = 100 if Limit is None else self._check_range("limit", Limit, 1, limits.KINESIS_LIST_STREAMS_MAX)
        start = ExclusiveStartStreamName
        if NextToken is not None:
            start = _read_next_token("streams", NextToken, 1, self._engine.clock.now_ms(), None)[0]
        page, more = self._backend.names_after(start, limit)
        out = {"StreamNames": page, "HasMoreStreams": more, "StreamSummaries": []}
        for name in page:
            s = self._backend.streams.get(name)
            if s is not None:
                out["StreamSummaries"].append({
                    "StreamName": s.name, "StreamARN": s.arn, "StreamStatus": s.status,
                    "StreamModeDetails": {"StreamMode": s.mode}, "StreamCreationTimestamp": _dt(s.created)})
        if more:
            out["NextToken"] = _next_token("streams", self._engine.clock.now_ms(), page[-1])
        return out

    def list_shards(self, StreamName=None, NextToken=None, ExclusiveStartShardId=None, MaxResults=None,
                    StreamCreationTimestamp=None, ShardFilter=None, StreamARN=None, StreamId=None):
        limit = 1000 if MaxResults is None else self._check_range("maxResults", MaxResults, 1, limits.KINESIS_LIST_SHARDS_MAX)
        if NextToken is not None:
            if StreamName is not None or ExclusiveStartShardId is not None or ShardFilter is not None:
                raise InvalidArgumentException(
                    "NextToken and StreamName, ExclusiveStartShardId or ShardFilter cannot be provided together.")
            name, incarnation, after, kind, value = _read_next_token(
                "shards", NextToken, 5, self._engine.clock.now_ms(), limits.KINESIS_NEXT_TOKEN_TTL_S)
            stream = self._backend.streams.get(name)
            if stream is None or stream.incarnation != int(incarnation):
                raise kinesis_errors.ExpiredNextTokenException(
                    f"The NextToken has expired: stream {name} was deleted after it was issued.")
            after = int(after)
            kind = kind or None
            value = None if not value else int(value) if kind == "AFTER_SHARD_ID" else float(value)
            keep = self._shard_filter(stream, kind, value)[1]
        else:
            stream = self._stream(StreamName, StreamARN)
            kind, value = self._filter_params(ShardFilter)
            after, keep = self._shard_filter(stream, kind, value)
            if ExclusiveStartShardId is not None:
                start, size = self._after(ExclusiveStartShardId, limit)
                after = max(after, start) if size else len(stream.shards)
        page, more = stream.shard_page(after, limit, keep)
        out = {"Shards": [_shard_shape(s) for s in page]}
        if more:
            out["NextToken"] = _next_token("shards", self._engine.clock.now_ms(), stream.name, stream.incarnation,
                                           page[-1].index, kind or "", "" if value is None else repr(value))
        return out

    @staticmethod
    def _filter_params(shard_filter) -> tuple[str | None, int | float | None]:
        """A ShardFilter as (type, its shard index (-1: names no shard) or epoch timestamp)."""
        if shard_filter is None:
            return None, None
        check_dict("ShardFilter", shard_filter)
        kind = shard_filter.get("Type")
        if kind not in _SHARD_FILTERS:
            raise ValidationException(constraint_message("shardFilter.type", kind,
                                                         f"Member must satisfy enum value set: [{', '.join(_SHARD_FILTERS)}]"))
        if kind == "AFTER_SHARD_ID":
            if "ShardId" not in shard_filter:
                raise InvalidArgumentException("ShardId is required for ShardFilter type AFTER_SHARD_ID.")
            after = parse_shard_id(shard_filter["ShardId"])
            return kind, -1 if after is None else after
        if kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP"):
            if "Timestamp" not in shard_filter:
                raise InvalidArgumentException(f"Timestamp is required for ShardFilter type {kind}.")
            return kind, _to_epoch("ShardFilter.Timestamp", shard_filter["Timestamp"])
        return kind, None

    @staticmethod
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

    # --- writes --------------------------------------------------------------------------
    def put_record(self, Data, PartitionKey=None, StreamName=None, ExplicitHashKey=None,
                   SequenceNumberForOrdering=None, StreamARN=None, StreamId=None):
        data = to_blob("Data", Data)
        if PartitionKey is None:
            raise _missing_partition_key("partitionKey")
        check_str("PartitionKey", PartitionKey)
        stream = self._stream(StreamName, StreamARN)
        if not 1 <= len(PartitionKey) <= limits.KINESIS_PARTITION_KEY_MAX:
            raise ValidationException(constraint_message(
                "partitionKey", PartitionKey, "Member must have length less than or equal to 256 and greater than or equal to 1"))
        if len(data) + len(PartitionKey.encode("utf-8", "surrogatepass")) > stream.max_record_bytes:
            # AWS counts the partition key in the record size
            raise ValidationException(constraint_message(
                "data", data, f"Member must have length less than or equal to {stream.max_record_bytes}"))
        explicit = None
        if ExplicitHashKey is not None:
            self._check_hash_key(ExplicitHashKey, "explicitHashKey")
            explicit = [ExplicitHashKey]
        if SequenceNumberForOrdering is not None:
            check_str("SequenceNumberForOrdering", SequenceNumberForOrdering)
            if parse_sequence_number(SequenceNumberForOrdering) is None:
                raise ValidationException(constraint_message(
                    "sequenceNumberForOrdering", SequenceNumberForOrdering,
                    f"Member must satisfy regular expression pattern: {limits.KINESIS_SEQUENCE_NUMBER_PATTERN}"))
            # Our sequence numbers grow with every put, so ordering after it always holds.
        result = stream.put_batch([data], [PartitionKey], explicit)
        if result.throttled is not None and result.throttled[0]:
            shard = stream.shards[int(result.shard_index[0])]
            raise kinesis_errors.ProvisionedThroughputExceededException(
                f"Rate exceeded for shard {shard.shard_id} in stream {stream.name} under account {self._backend.account_id}.")
        return {"ShardId": stream.shards[int(result.shard_index[0])].shard_id,
                "SequenceNumber": format_sequence_number(int(result.sequence_number[0])),
                "EncryptionType": stream.encryption_type}

    @staticmethod
    def _check_hash_key(value, field: str) -> None:
        param = field[:1].upper() + field[1:]   # explicitHashKey -> ExplicitHashKey, newStartingHashKey -> ...
        check_str(param, value)
        if not _HASH_KEY.fullmatch(value):
            raise ValidationException(constraint_message(
                field, value, f"Member must satisfy regular expression pattern: {limits.KINESIS_HASH_KEY_PATTERN}"))
        if int(value) > HASH_KEY_MAX:
            raise InvalidArgumentException(f"Invalid {param}. {param} must be in the range: [0, 2^128-1]. Specified value was {value}")

    def put_records(self, Records, StreamName=None, StreamARN=None, StreamId=None):
        check_list("Records", Records)
        n = len(Records)
        if n == 0:
            raise ValidationException(constraint_message("records", "[]", "Member must have length greater than or equal to 1"))
        data, keys, explicit = _split_records(Records)   # botocore's client-side checks come first
        stream = self._stream(StreamName, StreamARN)
        if n > limits.KINESIS_PUT_RECORDS_MAX:
            raise ValidationException(constraint_message(
                "records", f"[{n} records]", f"Member must have length less than or equal to {limits.KINESIS_PUT_RECORDS_MAX}"))
        size = pc.sum(pc.binary_length(data)).as_py()
        if isinstance(keys, pa.Array):
            size += pc.sum(pc.binary_length(keys)).as_py()
        if size > limits.KINESIS_PUT_RECORDS_BYTES_MAX:
            raise InvalidArgumentException(f"Records size exceeds {limits.KINESIS_PUT_RECORDS_BYTES_MAX // limits.MiB} MB limit")
        result = stream.put_batch(data, keys, explicit)
        shard_ids = [s.shard_id for s in stream.shards]
        seqs = result.sequence_number.tolist()
        where = result.shard_index.tolist()
        if result.throttled is None:
            records = [{"SequenceNumber": str(q), "ShardId": shard_ids[i]} for q, i in zip(seqs, where)]
            failed = 0
        else:
            records, failed = [], 0
            for q, i, refused in zip(seqs, where, result.throttled.tolist()):
                if refused:
                    failed += 1
                    records.append({"ErrorCode": "ProvisionedThroughputExceededException",
                                    "ErrorMessage": f"Rate exceeded for shard {shard_ids[i]} in stream {stream.name} "
                                                    f"under account {self._backend.account_id}."})
                else:
                    records.append({"SequenceNumber": str(q), "ShardId": shard_ids[i]})
        return {"FailedRecordCount": failed, "Records": records, "EncryptionType": stream.encryption_type}

    # --- reads ---------------------------------------------------------------------------
    def get_shard_iterator(self, ShardId, ShardIteratorType, StreamName=None, StartingSequenceNumber=None,
                           Timestamp=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        check_str("ShardId", ShardId)
        shard = stream.shard(ShardId)
        if not stream.is_visible(shard):
            # a closed shard is readable for the retention period only
            raise shard_not_found(ShardId, stream.name, self._backend.account_id)
        position = self._resolve_position(stream, shard, ShardIteratorType, StartingSequenceNumber, Timestamp,
                                          "shardIteratorType")
        state = iterators.IteratorState(stream.name, stream.incarnation, shard.index, position,
                                        stream.clock.now_ms())
        return {"ShardIterator": iterators.encode(state)}

    def _resolve_position(self, stream, shard, kind, sequence_number, timestamp, field) -> int:
        check_str("ShardIteratorType", kind)
        if kind not in _ITERATOR_TYPES:
            raise ValidationException(constraint_message(field, kind, f"Member must satisfy enum value set: [{', '.join(_ITERATOR_TYPES)}]"))
        stream.apply_retention()
        if kind == "TRIM_HORIZON":
            return 0
        if kind == "LATEST":
            return shard.last_seq() + 1 if shard.is_open else shard.ending_seq + 1
        if kind == "AT_TIMESTAMP":
            if timestamp is None:
                raise InvalidArgumentException("Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
            return shard.log.seq_at_time(int(_to_epoch("Timestamp", timestamp) * 1000))
        if sequence_number is None:
            raise InvalidArgumentException(f"Must specify startingSequenceNumber for iterator of type {kind}.")
        check_str("StartingSequenceNumber", sequence_number)
        seq = parse_sequence_number(sequence_number)
        upper = shard.ending_seq if shard.ending_seq is not None else stream._seq.next_value - 1
        # AFTER_SEQUENCE_NUMBER may name the number just below the shard's first one: the
        # ContinuationSequenceNumber of a subscription that has not read a record yet.
        lower = shard.starting_seq - (1 if kind == "AFTER_SEQUENCE_NUMBER" else 0)
        if seq is None or seq < lower or seq > upper:
            raise InvalidArgumentException(
                f"StartingSequenceNumber {sequence_number} used in GetShardIterator on shard {shard.shard_id} in stream "
                f"{stream.name} under account {self._backend.account_id} is invalid because it did not come from this stream.")
        return seq if kind == "AT_SEQUENCE_NUMBER" else seq + 1

    def get_records(self, ShardIterator, Limit=None, StreamARN=None, StreamId=None):
        check_str("ShardIterator", ShardIterator)
        limit = limits.KINESIS_GET_RECORDS_MAX if Limit is None else self._check_range(
            "limit", Limit, 1, limits.KINESIS_GET_RECORDS_MAX)
        now_ms = self._engine.clock.now_ms()
        state = iterators.decode(ShardIterator, now_ms)
        stream = self._backend.streams.get(state.stream_name)
        if stream is None or stream.incarnation != state.stream_incarnation:
            raise stream_not_found(state.stream_name, self._backend.account_id)
        shard = stream.shard(state.shard_index)
        stream.housekeeping(now_ms / 1000)   # records past the retention period are no longer served
        stream.check_read_limits(shard, now_ms / 1000)
        records, position, behind, nbytes = _read_records(stream, shard, state.position, limit,
                                                          limits.KINESIS_GET_RECORDS_BYTES_MAX, now_ms)
        stream.charge_read_bytes(shard, nbytes)
        out = {"Records": records, "MillisBehindLatest": behind}
        if not shard.is_open and not shard.has_records_from(position):
            out["ChildShards"] = _child_shards(shard)
        else:
            out["NextShardIterator"] = iterators.encode(iterators.IteratorState(
                stream.name, state.stream_incarnation, shard.index, position, now_ms))
        return out

    # --- retention, size, mode -------------------------------------------------------------
    def increase_stream_retention_period(self, RetentionPeriodHours, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        hours = self._check_retention(RetentionPeriodHours)
        if hours < stream.retention_hours:
            raise InvalidArgumentException(
                f"Requested retention period ({hours} hours) for stream {stream.name} can not be shorter than existing "
                f"retention period ({stream.retention_hours} hours). Use DecreaseRetentionPeriod API.")
        stream.retention_hours = hours
        return {}

    def decrease_stream_retention_period(self, RetentionPeriodHours, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        hours = self._check_retention(RetentionPeriodHours)
        if hours > stream.retention_hours:
            raise InvalidArgumentException(
                f"Requested retention period ({hours} hours) for stream {stream.name} can not be longer than existing "
                f"retention period ({stream.retention_hours} hours). Use IncreaseRetentionPeriod API.")
        stream.retention_hours = hours
        stream.apply_retention()
        return {}

    def _check_retention(self, hours) -> int:
        check_int("RetentionPeriodHours", hours)
        if hours < limits.KINESIS_RETENTION_MIN_H:
            raise InvalidArgumentException(
                f"Minimum allowed retention period is {limits.KINESIS_RETENTION_MIN_H} hours. Requested retention "
                f"period ({hours} hours) is too short.")
        if hours > limits.KINESIS_RETENTION_MAX_H:
            raise InvalidArgumentException(
                f"Maximum allowed retention period is {limits.KINESIS_RETENTION_MAX_H} hours. Requested retention "
                f"period ({hours} hours) is too long.")
        return hours

    def update_max_record_size(self, MaxRecordSizeInKiB, StreamARN=None, StreamId=None):
        stream = self._stream(None, StreamARN)
        stream.max_record_size_kib = self._check_range("maxRecordSizeInKiB", MaxRecordSizeInKiB,
                                                       limits.KINESIS_RECORD_SIZE_MIN_KIB, limits.KINESIS_RECORD_SIZE_MAX_KIB)
        return {}

    def update_stream_mode(self, StreamARN, StreamModeDetails, WarmThroughputMiBps=None, StreamId=None):
        stream = self._stream(None, StreamARN)
        check_dict("StreamModeDetails", StreamModeDetails)
        mode = StreamModeDetails.get("StreamMode")
        if mode not in ("PROVISIONED", "ON_DEMAND"):
            raise ValidationException(constraint_message("streamModeDetails.streamMode", mode,
                                                         "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"))
        stream.set_mode(mode)
        return {}

    def describe_limits(self):
        return {"ShardLimit": limits.KINESIS_SHARD_COUNT_MAX, "OpenShardCount": self._backend.open_shard_count(),
                "OnDemandStreamCount": self._backend.on_demand_stream_count(), "OnDemandStreamCountLimit": 50}

    def enable_enhanced_monitoring(self, ShardLevelMetrics, StreamName=None, StreamARN=None, StreamId=None):
        return self._set_metrics(StreamName, StreamARN, ShardLevelMetrics, enable=True)

    def disable_enhanced_monitoring(self, ShardLevelMetrics, StreamName=None, StreamARN=None, StreamId=None):
        return self._set_metrics(StreamName, StreamARN, ShardLevelMetrics, enable=False)

    def _set_metrics(self, name, arn, metrics, enable):
        stream = self._stream(name, arn)
        check_list("ShardLevelMetrics", metrics)
        current = list(stream.shard_level_metrics)
        all_metrics = ["IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
                       "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
                       "IteratorAgeMilliseconds"]
        wanted = all_metrics if "ALL" in metrics else list(metrics)
        desired = sorted(set(current) | set(wanted)) if enable else sorted(set(current) - set(wanted))
        stream.shard_level_metrics = desired
        return {"StreamName": stream.name, "CurrentShardLevelMetrics": current,
                "DesiredShardLevelMetrics": desired, "StreamARN": stream.arn}

    # --- resharding --------------------------------------------------------------------------
    def update_shard_count(self, TargetShardCount, ScalingType, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        if ScalingType != "UNIFORM_SCALING":
            raise ValidationException(constraint_message("scalingType", ScalingType,
                                                         "Member must satisfy enum value set: [UNIFORM_SCALING]"))
        self._check_range("targetShardCount", TargetShardCount, 1, None)
        current = stream.update_shard_count(TargetShardCount)
        return {"StreamName": stream.name, "CurrentShardCount": current, "TargetShardCount": TargetShardCount,
                "StreamARN": stream.arn}

    def split_shard(self, ShardToSplit, NewStartingHashKey, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        check_str("ShardToSplit", ShardToSplit)
        self._check_hash_key(NewStartingHashKey, "newStartingHashKey")
        stream.split_shard(ShardToSplit, int(NewStartingHashKey))
        return {}

    def merge_shards(self, ShardToMerge, AdjacentShardToMerge, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        check_str("ShardToMerge", ShardToMerge)
        check_str("AdjacentShardToMerge", AdjacentShardToMerge)
        stream.merge_shards(ShardToMerge, AdjacentShardToMerge)
        return {}

    # --- tags --------------------------------------------------------------------------------
    @staticmethod
    def _check_tags(tags) -> None:
        check_dict("Tags", tags)
        if not tags:   # the model's min of 1 for a map is checked by the service, not by botocore
            raise ValidationException(constraint_message("tags", "{}", "Member must have length greater than or equal to 1"))
        for key, value in tags.items():
            check_str("Tags key", key)
            check_str(f"Tags.{key}", value)
            if not 1 <= len(key) <= limits.KINESIS_TAG_KEY_MAX:
                raise ValidationException(constraint_message("tags.key", key, "Member must have length less than or equal to 128"))
            if len(value) > limits.KINESIS_TAG_VALUE_MAX:
                raise ValidationException(constraint_message("tags.value", value, "Member must have length less than or equal to 256"))

    def _add_tags(self, stream, tags):
        self._check_tags(tags)
        if len(tags) > limits.KINESIS_TAGS_PER_CALL:
            raise InvalidArgumentException(f"Failed to add tags to stream {stream.name} under account "
                                           f"{self._backend.account_id} because a given request can add at most 10 tags.")
        merged = {**stream.tags, **tags}
        if len(merged) > limits.KINESIS_TAGS_PER_STREAM:
            raise kinesis_errors.LimitExceededException(
                f"Failed to add tags to stream {stream.name} under account {self._backend.account_id} because the total "
                f"number of tags would exceed the limit of {limits.KINESIS_TAGS_PER_STREAM}.")
        stream.tags = merged

    def add_tags_to_stream(self, Tags, StreamName=None, StreamARN=None, StreamId=None):
        self._add_tags(self._stream(StreamName, StreamARN), Tags)
        return {}

    def remove_tags_from_stream(self, TagKeys, StreamName=None, StreamARN=None, StreamId=None):
        self._remove_tags(self._stream(StreamName, StreamARN), TagKeys)
        return {}

    @staticmethod
    def _remove_tags(stream, keys) -> None:
        check_list("TagKeys", keys)
        for key in keys:
            stream.tags.pop(check_str("TagKeys", key), None)

    def list_tags_for_stream(self, StreamName=None, ExclusiveStartTagKey=None, Limit=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        limit = 50 if Limit is None else self._check_range("limit", Limit, 1, 50)
        keys = sorted(stream.tags)
        if ExclusiveStartTagKey is not None:
            keys = [k for k in keys if k > ExclusiveStartTagKey]
        return {"Tags": [{"Key": k, "Value": stream.tags[k]} for k in keys[:limit]], "HasMoreTags": len(keys) > limit}

    def tag_resource(self, Tags, ResourceARN, StreamId=None):
        self._add_tags(self._stream(None, ResourceARN), Tags)
        return {}

    def untag_resource(self, TagKeys, ResourceARN, StreamId=None):
        self._remove_tags(self._stream(None, ResourceARN), TagKeys)
        return {}

    def list_tags_for_resource(self, ResourceARN, StreamId=None):
        stream = self._stream(None, ResourceARN)
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(stream.tags.items())]}

    # --- encryption --------------------------------------------------------------------------
    def start_stream_encryption(self, EncryptionType, KeyId, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        if EncryptionType != "KMS":
            raise ValidationException(constraint_message("encryptionType", EncryptionType,
                                                          "Member must satisfy enum value set: [KMS, NONE]"))
        check_str("KeyId", KeyId)
        if not 1 <= len(KeyId) <= 2048:
            raise ValidationException(constraint_message("keyId", KeyId, "Member must have length less than or equal to 2048"))
        stream.set_encryption("KMS", KeyId)
        return {}

    def stop_stream_encryption(self, EncryptionType, KeyId, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        if EncryptionType != "KMS":
            raise ValidationException(constraint_message("encryptionType", EncryptionType,
                                                          "Member must satisfy enum value set: [KMS, NONE]"))
        stream.set_encryption("NONE", None)
        return {}

    # --- enhanced fan-out ----------------------------------------------------------------------
    @staticmethod
    def _consumer_shape(consumer, stream=None) -> dict:
        out = {"ConsumerName": consumer.name, "ConsumerARN": consumer.arn, "ConsumerStatus": consumer.status,
               "ConsumerCreationTimestamp": _dt(consumer.created)}
        if stream is not None:
            out["StreamARN"] = stream.arn
        return out

    def register_stream_consumer(self, StreamARN, ConsumerName, Tags=None, StreamId=None):
        stream = self._stream(None, StreamARN)
        check_str("ConsumerName", ConsumerName)
        if not 1 <= len(ConsumerName) <= limits.KINESIS_CONSUMER_NAME_MAX or not _CONSUMER_NAME.fullmatch(ConsumerName):
            raise ValidationException(constraint_message("consumerName", ConsumerName,
                                                         "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"))
        consumer = stream.register_consumer(ConsumerName)
        return {"Consumer": self._consumer_shape(consumer)}

    def _consumer(self, StreamARN, ConsumerName, ConsumerARN):
        if ConsumerARN is not None:
            return self._backend.consumer_by_arn(check_str("ConsumerARN", ConsumerARN))
        if StreamARN is None or ConsumerName is None:
            raise InvalidArgumentException("Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
        stream = self._stream(None, StreamARN)
        consumer = stream.consumers.get(ConsumerName)
        if consumer is None:
            raise ResourceNotFoundException(f"Consumer {ConsumerName} under stream {stream.name} not found for account "
                                            f"{self._backend.account_id}.")
        return stream, consumer

    def describe_stream_consumer(self, StreamARN=None, ConsumerName=None, ConsumerARN=None, StreamId=None):
        stream, consumer = self._consumer(StreamARN, ConsumerName, ConsumerARN)
        return {"ConsumerDescription": self._consumer_shape(consumer, stream)}

    def list_stream_consumers(self, StreamARN, NextToken=None, MaxResults=None, StreamCreationTimestamp=None,
                              StreamId=None):
        stream = self._stream(None, StreamARN)
        limit = 100 if MaxResults is None else self._check_range("maxResults", MaxResults, 1, 10000)
        consumers = sorted(stream.consumers.values(), key=lambda c: c.name)
        if NextToken is not None:
            incarnation, after = _read_next_token("consumers", NextToken, 2, self._engine.clock.now_ms(),
                                                  limits.KINESIS_NEXT_TOKEN_TTL_S)
            if int(incarnation) != stream.incarnation:
                raise InvalidArgumentException(f"NextToken {NextToken[:64]} was not issued for stream {stream.name}.")
            consumers = [c for c in consumers if c.name > after]
        page = consumers[:limit]
        out = {"Consumers": [self._consumer_shape(c) for c in page]}
        if len(consumers) > limit:
            out["NextToken"] = _next_token("consumers", self._engine.clock.now_ms(), stream.incarnation,
                                           page[-1].name)
        return out

    def deregister_stream_consumer(self, StreamARN=None, ConsumerName=None, ConsumerARN=None, StreamId=None):
        stream, consumer = self._consumer(StreamARN, ConsumerName, ConsumerARN)
        stream.deregister_consumer(consumer.name)
        return {}

    def subscribe_to_shard(self, ConsumerARN, ShardId, StartingPosition, StreamId=None):
        stream, consumer = self._consumer(None, None, ConsumerARN)
        check_str("ShardId", ShardId)
        check_dict("StartingPosition", StartingPosition)
        shard = stream.shard(ShardId)
        now = stream.clock.now()
        with self._subscriptions_lock:
            started = consumer.subscriptions.get(shard.shard_id)
            if started is not None and now - started < 5:
                raise ResourceInUseException(
                    f"Another active subscription exists for consumer {consumer.arn} and shard {shard.shard_id}.")
            consumer.subscriptions[shard.shard_id] = now
        position = self._resolve_position(stream, shard, StartingPosition.get("Type"),
                                          StartingPosition.get("SequenceNumber"), StartingPosition.get("Timestamp"),
                                          "startingPosition.type")
        return {"EventStream": ShardEventStream(stream, shard, position, now + limits.KINESIS_SUBSCRIPTION_TTL_S)}


class ShardEventStream:
    """The EventStream of SubscribeToShard: iterate for {"SubscribeToShardEvent": {...}}.

    Each event carries the records that arrived since the last one; with none, it waits
    (on the engine clock) up to 5 s and sends an empty event, as the service does. It ends
    when the subscription's 5 minutes run out or the closed shard has been read to its end."""

    def __init__(self, stream: Stream, shard, position: int, expires: float):
        self._stream = stream
        self._shard = shard
        self._position = position
        self._expires = expires
        self._done = False

    def __iter__(self):
        return self

    @property
    def stream(self) -> Stream:
        return self._stream

    def __next__(self) -> dict:
        deadline = self.wait_until()
        if deadline is not None:
            self._stream.wait_for_data(deadline)
        return self.take()

    def wait_until(self) -> float | None:
        """The clock time the next event waits for records until; None when it is due now.
        (The server awaits this without a thread, then calls take().)"""
        stream, shard = self._stream, self._shard
        if self._done or stream.clock.now() >= self._expires or stream.status == "DELETING":
            return None
        if not shard.has_records_from(self._position) and shard.is_open:
            return min(self._expires, stream.clock.now() + 5)
        return None

    def take(self) -> dict:
        """The next event from what is there now, without waiting; StopIteration once ended."""
        stream, shard = self._stream, self._shard
        if self._done or stream.clock.now() >= self._expires or stream.status == "DELETING":
            self._done = True
            raise StopIteration
        now_ms = stream.clock.now_ms()
        records, self._position, behind, _ = _read_records(stream, shard, self._position,
                                                           limits.KINESIS_GET_RECORDS_MAX,
                                                           limits.KINESIS_GET_RECORDS_BYTES_MAX, now_ms)
        # Resuming AFTER_SEQUENCE_NUMBER this number continues exactly where this event ends
        # (position 0 means "from the shard's start").
        continuation = max(self._position, shard.starting_seq) - 1
        event = {"Records": records, "ContinuationSequenceNumber": format_sequence_number(continuation),
                 "MillisBehindLatest": behind}
        if not shard.is_open and not shard.has_records_from(self._position):
            event["ChildShards"] = _child_shards(shard)
            self._done = True
        return {"SubscribeToShardEvent": event}

    def close(self) -> None:
        self._done = True


def _missing_partition_key(field: str) -> ValidationException:
    # Current AWS models make PartitionKey optional on the client (streams with the AUTO record
    # distribution strategy ignore it); our streams use USER_PARTITION_KEY, where the service requires it.
    return ValidationException(f"1 validation error detected: Value null at '{field}' failed to satisfy constraint: "
                               "Member must not be null")


_RECORD_MEMBERS = ("Data", "ExplicitHashKey", "PartitionKey")


def _split_records(records) -> tuple[pa.Array, pa.Array | list, list | None]:
    """PutRecords entries -> Arrow data and keys, and the explicit hash keys (None: none
    given), column by column. The request validator leaves the entries to this function:
    what the column checks doubt goes to the validator's full judgement (botocore's report,
    then the model's constraints); the stream model judges the values it stores."""
    try:
        data = [r["Data"] for r in records]
        keys = [r["PartitionKey"] for r in records]
    except (KeyError, TypeError):
        _judge_entries(records)
        raise
    explicit = None
    if max(map(len, records)) > 2:   # some entry holds more than Data and PartitionKey
        explicit = [r.get("ExplicitHashKey") for r in records]
        if not all(len(r) == 2 or (len(r) == 3 and type(e) is str) for r, e in zip(records, explicit)):
            _judge_entries(records)
    if not all(type(k) is str and k for k in keys):
        _judge_entries(records)
    try:
        data_arr = pa.array(data, type=pa.binary())
    except (pa.ArrowException, TypeError, ValueError):
        data_arr = pa.array([to_blob(f"Records[{i}].Data", d) for i, d in enumerate(data)], type=pa.binary())
    try:
        keys_arr = pa.array(keys, type=pa.string())
    except (pa.ArrowException, ValueError):   # not encodable (lone surrogates): the model refuses them
        return data_arr, keys, explicit
    return data_arr, keys_arr, explicit


@functools.cache
def _put_records_validator():
    return validator_for("kinesis", "PutRecords")


def _judge_entries(records) -> None:
    """Raise what boto3, then the service, answers for these entries; a record without a
    PartitionKey is refused by the service whatever the botocore model says."""
    _put_records_validator().judge({"Records": records})
    for i, r in enumerate(records):
        if "PartitionKey" not in r:
            raise _missing_partition_key(f"records.{i + 1}.member.partitionKey")


def _read_records(stream: Stream, shard, position: int, limit: int, max_bytes: int, now_ms: int):
    """Up to `limit` records / `max_bytes` from `position` as boto3 Record dicts (built in the
    core in one call). Returns (records, next position, MillisBehindLatest, bytes read)."""
    change_seqs, change_flags = stream.encryption_changes()   # a record keeps the encryption it was written with
    got = shard.log.read_records(position, limit, max_bytes, change_seqs, change_flags)
    behind = 0
    if got.records and got.more:
        behind = max(0, now_ms - got.last_ts_ms)
    return got.records, got.position, behind, got.nbytes

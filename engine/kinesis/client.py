"""boto3-shaped Kinesis client: translates requests into calls on the stream models and
their results into boto3's response shapes. The request layer (client_base) has already
checked every request against botocore's model; every service rule lives in the models
(engine.kinesis.models, listing, policy, account), so the native API obeys it too. Nothing
here touches records one by one except where the boto3 shape itself is a list of dicts."""
from __future__ import annotations

import datetime
import functools

import pyarrow as pa
from botocore.utils import parse_to_aware_datetime

from .. import limits
from ..client_base import BaseClient, to_blob
from ..request.validate import validator_for
from . import errors as kinesis_errors
from . import listing
from .models import Stream, format_sequence_number, missing_partition_key

_UTC = datetime.timezone.utc


def _dt(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, _UTC)


def _epoch(value) -> float | None:
    """A boto3 timestamp (datetime, naive = UTC; epoch number; ISO 8601 text) in epoch seconds."""
    return None if value is None else parse_to_aware_datetime(value).timestamp()


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


def _child_shards(children) -> list[dict]:
    return [{"ShardId": c.shard_id, "ParentShards": [p for p in (c.parent, c.adjacent_parent) if p],
             "HashKeyRange": {"StartingHashKey": str(c.start_hash), "EndingHashKey": str(c.end_hash)}}
            for c in children]


def _consumer_shape(consumer, stream=None) -> dict:
    out = {"ConsumerName": consumer.name, "ConsumerARN": consumer.arn, "ConsumerStatus": consumer.status,
           "ConsumerCreationTimestamp": _dt(consumer.created)}
    if stream is not None:
        out["StreamARN"] = stream.arn
    return out


def _tag_list(tags: dict) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _commitment_shape(commitment) -> dict:
    out = {"Status": commitment.status}
    for key, value in (("StartedAt", commitment.started_at), ("EndedAt", commitment.ended_at),
                       ("EarliestAllowedEndAt", commitment.earliest_allowed_end_at)):
        if value is not None:
            out[key] = _dt(value)
    return {"MinimumThroughputBillingCommitment": out}


class KinesisClient(BaseClient):
    service_name = "kinesis"
    error_modules = (kinesis_errors,)

    def __init__(self, engine, region_name):
        super().__init__(engine, region_name)
        self._backend = engine.backend("kinesis", region_name)

    def _stream(self, name=None, arn=None) -> Stream:
        return self._backend.stream(name, arn)

    # --- streams -------------------------------------------------------------------------
    def create_stream(self, StreamName, ShardCount=None, StreamModeDetails=None, Tags=None,
                      WarmThroughputMiBps=None, MaxRecordSizeInKiB=None):
        mode = StreamModeDetails["StreamMode"] if StreamModeDetails is not None else None
        self._backend.create_stream(StreamName, ShardCount, mode, MaxRecordSizeInKiB, Tags, WarmThroughputMiBps)
        return {}

    def delete_stream(self, StreamName=None, EnforceConsumerDeletion=False, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        self._backend.delete_stream(stream.name, EnforceConsumerDeletion)
        return {}

    @staticmethod
    def _summary_fields(stream: Stream) -> dict:
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

    @staticmethod
    def _warm_throughput(stream: Stream) -> dict:
        return {"TargetMiBps": stream.warm_throughput_mibps, "CurrentMiBps": stream.write_capacity_mibps}

    def describe_stream(self, StreamName=None, Limit=None, ExclusiveStartShardId=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        page, more = listing.describe_page(stream, ExclusiveStartShardId, Limit)
        fields = self._summary_fields(stream)
        description = {k: fields[k] for k in ("StreamName", "StreamARN", "StreamStatus", "StreamModeDetails")}
        description["Shards"] = [_shard_shape(s) for s in page]
        description["HasMoreShards"] = more
        description.update({k: v for k, v in fields.items() if k not in description})
        return {"StreamDescription": description}

    def describe_stream_summary(self, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        summary = self._summary_fields(stream)
        summary["OpenShardCount"] = stream.open_count
        summary["ConsumerCount"] = len(stream.consumers)
        if stream.warm_throughput_mibps is not None:
            summary["WarmThroughput"] = self._warm_throughput(stream)
        summary["MaxRecordSizeInKiB"] = stream.max_record_size_kib
        return {"StreamDescriptionSummary": summary}

    def list_streams(self, Limit=None, ExclusiveStartStreamName=None, NextToken=None):
        streams, more, token = listing.streams_page(self._backend, Limit, ExclusiveStartStreamName, NextToken)
        out = {"StreamNames": [s.name for s in streams], "HasMoreStreams": more, "StreamSummaries": [
            {"StreamName": s.name, "StreamARN": s.arn, "StreamStatus": s.status,
             "StreamModeDetails": {"StreamMode": s.mode}, "StreamCreationTimestamp": _dt(s.created)}
            for s in streams]}
        if token is not None:
            out["NextToken"] = token
        return out

    def list_shards(self, StreamName=None, NextToken=None, ExclusiveStartShardId=None, MaxResults=None,
                    StreamCreationTimestamp=None, ShardFilter=None, StreamARN=None, StreamId=None):
        shard_filter = ShardFilter or {}
        page, token = listing.shards_page(self._backend, StreamName, StreamARN, NextToken, ExclusiveStartShardId,
                                          MaxResults, shard_filter.get("Type"), shard_filter.get("ShardId"),
                                          _epoch(shard_filter.get("Timestamp")), _epoch(StreamCreationTimestamp))
        out = {"Shards": [_shard_shape(s) for s in page]}
        if token is not None:
            out["NextToken"] = token
        return out

    # --- writes --------------------------------------------------------------------------
    def put_record(self, Data, PartitionKey=None, StreamName=None, ExplicitHashKey=None,
                   SequenceNumberForOrdering=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        shard, seq = stream.put_record(to_blob("Data", Data), PartitionKey, ExplicitHashKey, SequenceNumberForOrdering)
        return {"ShardId": shard.shard_id, "SequenceNumber": format_sequence_number(seq),
                "EncryptionType": stream.encryption_type}

    def put_records(self, Records, StreamName=None, StreamARN=None, StreamId=None):
        data, keys, explicit = _split_records(Records)   # botocore's client-side checks come first
        stream = self._stream(StreamName, StreamARN)
        result = stream.put_records(data, keys, explicit)
        shard_ids = [s.shard_id for s in stream.shards]
        seqs = result.sequence_number.tolist()
        where = result.shard_index.tolist()
        if result.throttled is None:
            records = [{"SequenceNumber": str(q), "ShardId": shard_ids[i]} for q, i in zip(seqs, where)]
        else:
            records = []
            for q, i, refused in zip(seqs, where, result.throttled.tolist()):
                if refused:
                    records.append({"ErrorCode": "ProvisionedThroughputExceededException",
                                    "ErrorMessage": f"Rate exceeded for shard {shard_ids[i]} in stream {stream.name} "
                                                    f"under account {self._backend.account_id}."})
                else:
                    records.append({"SequenceNumber": str(q), "ShardId": shard_ids[i]})
        return {"FailedRecordCount": result.failed_count, "Records": records, "EncryptionType": stream.encryption_type}

    # --- reads ---------------------------------------------------------------------------
    def get_shard_iterator(self, ShardId, ShardIteratorType, StreamName=None, StartingSequenceNumber=None,
                           Timestamp=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        return {"ShardIterator": stream.shard_iterator(ShardId, ShardIteratorType, StartingSequenceNumber,
                                                       _epoch(Timestamp))}

    def get_records(self, ShardIterator, Limit=None, StreamARN=None, StreamId=None):
        page = self._backend.get_records(ShardIterator, Limit)
        out = {"Records": page.records, "MillisBehindLatest": page.millis_behind}
        if page.next_iterator is None:
            out["ChildShards"] = _child_shards(page.child_shards)
        else:
            out["NextShardIterator"] = page.next_iterator
        return out

    # --- retention, size, mode, monitoring ------------------------------------------------------
    def increase_stream_retention_period(self, RetentionPeriodHours, StreamName=None, StreamARN=None, StreamId=None):
        self._stream(StreamName, StreamARN).increase_retention(RetentionPeriodHours)
        return {}

    def decrease_stream_retention_period(self, RetentionPeriodHours, StreamName=None, StreamARN=None, StreamId=None):
        self._stream(StreamName, StreamARN).decrease_retention(RetentionPeriodHours)
        return {}

    def update_max_record_size(self, MaxRecordSizeInKiB, StreamARN=None, StreamId=None):
        self._stream(None, StreamARN).set_max_record_size(MaxRecordSizeInKiB)
        return {}

    def update_stream_mode(self, StreamARN, StreamModeDetails, WarmThroughputMiBps=None, StreamId=None):
        self._stream(None, StreamARN).set_mode(StreamModeDetails["StreamMode"], WarmThroughputMiBps)
        return {}

    def update_stream_warm_throughput(self, WarmThroughputMiBps, StreamARN=None, StreamName=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        stream.set_warm_throughput(WarmThroughputMiBps)
        return {"StreamARN": stream.arn, "StreamName": stream.name, "WarmThroughput": self._warm_throughput(stream)}

    def describe_limits(self):
        return {"ShardLimit": limits.KINESIS_SHARD_COUNT_MAX, "OpenShardCount": self._backend.open_shard_count(),
                "OnDemandStreamCount": self._backend.on_demand_stream_count(),
                "OnDemandStreamCountLimit": limits.KINESIS_ON_DEMAND_STREAMS_MAX}

    def describe_account_settings(self):
        return _commitment_shape(self._backend.account.commitment())

    def update_account_settings(self, MinimumThroughputBillingCommitment):
        enabled = MinimumThroughputBillingCommitment["Status"] == "ENABLED"
        return _commitment_shape(self._backend.account.set_commitment(enabled))

    def enable_enhanced_monitoring(self, ShardLevelMetrics, StreamName=None, StreamARN=None, StreamId=None):
        return self._set_metrics(StreamName, StreamARN, ShardLevelMetrics, enable=True)

    def disable_enhanced_monitoring(self, ShardLevelMetrics, StreamName=None, StreamARN=None, StreamId=None):
        return self._set_metrics(StreamName, StreamARN, ShardLevelMetrics, enable=False)

    def _set_metrics(self, name, arn, metrics, enable):
        stream = self._stream(name, arn)
        current, desired = stream.set_metrics(metrics, enable)
        return {"StreamName": stream.name, "CurrentShardLevelMetrics": current,
                "DesiredShardLevelMetrics": desired, "StreamARN": stream.arn}

    # --- resharding --------------------------------------------------------------------------
    def update_shard_count(self, TargetShardCount, ScalingType, StreamName=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        current = stream.update_shard_count(TargetShardCount)
        return {"StreamName": stream.name, "CurrentShardCount": current, "TargetShardCount": TargetShardCount,
                "StreamARN": stream.arn}

    def split_shard(self, ShardToSplit, NewStartingHashKey, StreamName=None, StreamARN=None, StreamId=None):
        self._stream(StreamName, StreamARN).split_shard(ShardToSplit, NewStartingHashKey)
        return {}

    def merge_shards(self, ShardToMerge, AdjacentShardToMerge, StreamName=None, StreamARN=None, StreamId=None):
        self._stream(StreamName, StreamARN).merge_shards(ShardToMerge, AdjacentShardToMerge)
        return {}

    # --- tags --------------------------------------------------------------------------------
    def add_tags_to_stream(self, Tags, StreamName=None, StreamARN=None, StreamId=None):
        self._stream(StreamName, StreamARN).add_tags(Tags)
        return {}

    def remove_tags_from_stream(self, TagKeys, StreamName=None, StreamARN=None, StreamId=None):
        self._stream(StreamName, StreamARN).remove_tags(TagKeys)
        return {}

    def list_tags_for_stream(self, StreamName=None, ExclusiveStartTagKey=None, Limit=None, StreamARN=None, StreamId=None):
        stream = self._stream(StreamName, StreamARN)
        page, more = stream.tag_page(ExclusiveStartTagKey, limits.KINESIS_LIST_TAGS_DEFAULT if Limit is None else Limit)
        return {"Tags": [{"Key": k, "Value": v} for k, v in page], "HasMoreTags": more}

    def tag_resource(self, Tags, ResourceARN, StreamId=None):
        self._backend.resource(ResourceARN).add_tags(Tags)
        return {}

    def untag_resource(self, TagKeys, ResourceARN, StreamId=None):
        self._backend.resource(ResourceARN).remove_tags(TagKeys)
        return {}

    def list_tags_for_resource(self, ResourceARN, StreamId=None):
        return {"Tags": _tag_list(self._backend.resource(ResourceARN).tags)}

    # --- resource policies ---------------------------------------------------------------------
    def put_resource_policy(self, ResourceARN, Policy, StreamId=None):
        self._backend.put_policy(ResourceARN, Policy)
        return {}

    def get_resource_policy(self, ResourceARN, StreamId=None):
        return {"Policy": self._backend.get_policy(ResourceARN)}

    def delete_resource_policy(self, ResourceARN, StreamId=None):
        self._backend.delete_policy(ResourceARN)
        return {}

    # --- encryption --------------------------------------------------------------------------
    def start_stream_encryption(self, EncryptionType, KeyId, StreamName=None, StreamARN=None, StreamId=None):
        self._stream(StreamName, StreamARN).start_encryption(EncryptionType, KeyId)
        return {}

    def stop_stream_encryption(self, EncryptionType, KeyId, StreamName=None, StreamARN=None, StreamId=None):
        self._stream(StreamName, StreamARN).stop_encryption(EncryptionType, KeyId)
        return {}

    # --- enhanced fan-out ----------------------------------------------------------------------
    def register_stream_consumer(self, StreamARN, ConsumerName, Tags=None, StreamId=None):
        consumer = self._stream(None, StreamARN).register_consumer(ConsumerName, Tags)
        return {"Consumer": _consumer_shape(consumer)}

    def describe_stream_consumer(self, StreamARN=None, ConsumerName=None, ConsumerARN=None, StreamId=None):
        stream, consumer = self._backend.consumer(StreamARN, ConsumerName, ConsumerARN)
        return {"ConsumerDescription": _consumer_shape(consumer, stream)}

    def list_stream_consumers(self, StreamARN, NextToken=None, MaxResults=None, StreamCreationTimestamp=None,
                              StreamId=None):
        page, token = listing.consumers_page(self._stream(None, StreamARN), MaxResults, NextToken,
                                             _epoch(StreamCreationTimestamp))
        out = {"Consumers": [_consumer_shape(c) for c in page]}
        if token is not None:
            out["NextToken"] = token
        return out

    def deregister_stream_consumer(self, StreamARN=None, ConsumerName=None, ConsumerARN=None, StreamId=None):
        stream, consumer = self._backend.consumer(StreamARN, ConsumerName, ConsumerARN)
        stream.deregister_consumer(consumer.name)
        return {}

    def subscribe_to_shard(self, ConsumerARN, ShardId, StartingPosition, StreamId=None):
        stream, consumer = self._backend.consumer_by_arn(ConsumerARN)
        shard, position, expires = stream.subscribe(consumer, ShardId, StartingPosition["Type"],
                                                    StartingPosition.get("SequenceNumber"),
                                                    _epoch(StartingPosition.get("Timestamp")))
        return {"EventStream": ShardEventStream(stream, shard, position, expires)}


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

    def _ended(self) -> bool:
        stream = self._stream
        return self._done or stream.clock.now() >= self._expires or stream.status == "DELETING"

    def wait_until(self) -> float | None:
        """The clock time the next event waits for records until; None when it is due now.
        (The server awaits this without a thread, then calls take().)"""
        if self._ended() or self._shard.has_records_from(self._position) or not self._shard.is_open:
            return None
        return min(self._expires, self._stream.clock.now() + limits.KINESIS_SUBSCRIPTION_EVENT_WAIT_S)

    def take(self) -> dict:
        """The next event from what is there now, without waiting; StopIteration once ended."""
        if self._ended():
            self._done = True
            raise StopIteration
        stream, shard = self._stream, self._shard
        got = stream.read_records(shard, self._position, limits.KINESIS_GET_RECORDS_MAX,
                                  limits.KINESIS_GET_RECORDS_BYTES_MAX, stream.clock.now_ms())
        self._position = got.position
        # Resuming AFTER_SEQUENCE_NUMBER this number continues exactly where this event ends
        # (position 0 means "from the shard's start").
        continuation = max(self._position, shard.starting_seq) - 1
        event = {"Records": got.records, "ContinuationSequenceNumber": format_sequence_number(continuation),
                 "MillisBehindLatest": got.millis_behind}
        if not shard.is_open and not shard.has_records_from(self._position):
            event["ChildShards"] = _child_shards(shard.children)
            del event["ContinuationSequenceNumber"]
            self._done = True
        return {"SubscribeToShardEvent": event}

    def close(self) -> None:
        self._done = True


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
            raise missing_partition_key(f"records.{i + 1}.member.partitionKey")

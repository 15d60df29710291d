"""The documents Lambda exchanges with functions and destinations, as AWS writes them: the SQS
and Kinesis events an event source mapping sends, what it reads back from the function
(partial batch responses, tumbling-window state), and the failure record of a discarded
Kinesis batch."""
from __future__ import annotations

import base64
import datetime
import uuid

SQS_EVENT_SOURCE = "aws:sqs"
KINESIS_EVENT_SOURCE = "aws:kinesis"
KINESIS_SCHEMA_VERSION = "1.0"
FAILURE_RECORD_VERSION = "1.0"
RETRY_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


def iso_ms(seconds: float) -> str:
    """2019-11-14T00:38:06.021Z, as Lambda's records show times."""
    t = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _iso_s(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- SQS --------------------------------------------------------------------------------------------
def sqs_message_attributes(attrs: dict | None) -> dict:
    """{name: AttributeValue} -> the event's messageAttributes (camelCase, list members empty)."""
    out = {}
    for name in sorted(attrs or {}):
        a = attrs[name]
        item = {"stringListValues": [], "binaryListValues": [], "dataType": a.data_type}
        if a.string_value is not None:
            item["stringValue"] = a.string_value
        else:
            item["binaryValue"] = base64.b64encode(a.binary_value).decode("ascii")
        out[name] = item
    return out


def sqs_records(got, queue_arn: str, region: str, account: str) -> list[dict]:
    """One event record per received message (engine._core.Received columns)."""
    records = []
    fifo = got.groups is not None
    for k, (mid, handle, md5, body, extra) in enumerate(zip(got.ids, got.handles, got.md5s, got.bodies,
                                                             got.extras)):
        attributes = {"ApproximateReceiveCount": str(got.receive_counts[k]), "SentTimestamp": str(got.sent_ms[k])}
        if fifo:
            attributes["SequenceNumber"] = got.seqs[k]
            attributes["MessageGroupId"] = got.groups[k]
        attributes["SenderId"] = account
        if fifo:
            attributes["MessageDeduplicationId"] = got.dedups[k]
        attributes["ApproximateFirstReceiveTimestamp"] = str(got.first_ms[k])
        if extra is not None and extra.trace is not None:
            attributes["AWSTraceHeader"] = extra.trace
        if extra is not None and extra.dlq_source is not None:
            attributes["DeadLetterQueueSourceArn"] = extra.dlq_source
        record = {"messageId": mid, "receiptHandle": handle, "body": body, "attributes": attributes,
                  "messageAttributes": sqs_message_attributes(extra.attrs if extra is not None else None),
                  "md5OfBody": md5}
        if extra is not None and extra.attrs:
            record["md5OfMessageAttributes"] = extra.attrs_md5
        record.update(eventSource=SQS_EVENT_SOURCE, eventSourceARN=queue_arn, awsRegion=region)
        records.append(record)
    return records


# --- Kinesis ----------------------------------------------------------------------------------------
def kinesis_record(shard_id: str, key: str, seq: int, data: bytes, arrival_ms: int, stream_arn: str,
                   region: str, account: str) -> dict:
    return {
        "kinesis": {"kinesisSchemaVersion": KINESIS_SCHEMA_VERSION, "partitionKey": key,
                    "sequenceNumber": str(seq), "data": base64.b64encode(data).decode("ascii"),
                    "approximateArrivalTimestamp": arrival_ms / 1000},
        "eventSource": KINESIS_EVENT_SOURCE, "eventVersion": "1.0", "eventID": f"{shard_id}:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{account}:role/lambda-role",
        "awsRegion": region, "eventSourceARN": stream_arn,
    }


def window_fields(start: float, end: float, state: dict, shard_id: str, stream_arn: str, final: bool,
                  terminated_early: bool = False) -> dict:
    """The tumbling-window members added to a Kinesis event."""
    return {"window": {"start": _iso_s(start), "end": _iso_s(end)}, "state": state, "shardId": shard_id,
            "eventSourceARN": stream_arn, "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": terminated_early}


def kinesis_failure_record(*, function_arn: str, condition: str, invokes: int, error_type: str | None,
                           shard_id: str, first_seq: int, last_seq: int, first_arrival_ms: int,
                           last_arrival_ms: int, count: int, stream_arn: str, now: float) -> dict:
    """What an OnFailure destination receives for a discarded batch (metadata, not the records)."""
    record = {
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": invokes},
    }
    if invokes:
        record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST",
                                     "functionError": error_type or "Unhandled"}
    record.update({
        "version": FAILURE_RECORD_VERSION, "timestamp": iso_ms(now),
        "KinesisBatchInfo": {
            "shardId": shard_id, "startSequenceNumber": str(first_seq), "endSequenceNumber": str(last_seq),
            "approximateArrivalOfFirstRecord": iso_ms(first_arrival_ms / 1000),
            "approximateArrivalOfLastRecord": iso_ms(last_arrival_ms / 1000),
            "batchSize": count, "streamArn": stream_arn,
        },
    })
    return record


# --- responses --------------------------------------------------------------------------------------
class BadResponse(Exception):
    """A function response the mapping cannot use: the whole batch counts as failed."""


def batch_item_failures(response, identifiers: list[str]) -> list[int]:
    """Positions (in `identifiers`) a partial batch response reports as failed, sorted. None, an
    empty dict or an empty list mean all succeeded; an unknown or empty itemIdentifier makes the
    whole response invalid, as Lambda treats it."""
    if response is None or not isinstance(response, dict):
        return []
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        raise BadResponse("batchItemFailures is not a list")
    where = {ident: k for k, ident in enumerate(identifiers)}
    positions = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in where:
            raise BadResponse(f"itemIdentifier {ident!r} is not in the batch")
        positions.add(where[ident])
    return sorted(positions)


def window_state(response) -> dict:
    """The state a tumbling-window invocation returns (required)."""
    if not isinstance(response, dict) or not isinstance(response.get("state"), dict):
        raise BadResponse("a tumbling-window response must have a state object")
    return response["state"]

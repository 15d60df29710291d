"""Data transformation through the Lambda contract.

Firehose invokes the function with
    {"invocationId", "deliveryStreamArn", "region",
     "records": [{"recordId", "approximateArrivalTimestamp", "data": base64, ["kinesisRecordMetadata"]}]}
(plus "sourceKinesisStreamArn" for a Kinesis source) and expects
    {"records": [{"recordId", "result": "Ok" | "Dropped" | "ProcessingFailed", "data": base64,
                  ["metadata": {"partitionKeys": {...}, "otfMetadata": {...}}]}]}
with one result per input record. An invocation that raises, or returns a malformed result, is
retried NumberOfRetries times; then every record of that invocation goes to processing-failed.
"""
from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import limits

RESULTS = ("Ok", "Dropped", "ProcessingFailed")


@dataclass
class Failure:
    index: int              # position in the batch given to the transformation
    code: str
    message: str
    attempts: int
    ended_ms: int


@dataclass
class TransformResult:
    ok_index: np.ndarray               # positions of the Ok records in the input batch
    data: pa.Array                     # their transformed payloads
    lambda_keys: list                  # per Ok record: dict of partitionKeys (or None)
    failed: list[Failure] = field(default_factory=list)
    dropped: int = 0
    otf_metadata: list = field(default_factory=list)   # per Ok record: metadata.otfMetadata (Iceberg) or None


class _Malformed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _context(arn: str, region: str):
    name = arn.split(":function:")[-1].split(":")[0]
    return SimpleNamespace(
        function_name=name, function_version="$LATEST", invoked_function_arn=arn,
        memory_limit_in_mb=128, aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{name}", log_stream_name="engine",
        get_remaining_time_in_millis=lambda: 300_000,
    )


def _parse_response(response, ids: list[str]):
    if not isinstance(response, dict) or not isinstance(response.get("records"), list):
        raise _Malformed("Lambda.JsonProcessingException",
                         "The Lambda function returned a response without a records list.")
    records = response["records"]
    by_id = {}
    for rec in records:
        if not isinstance(rec, dict) or "recordId" not in rec:
            raise _Malformed("Lambda.MissingRecordId", "A record in the Lambda response has no recordId.")
        if rec["recordId"] in by_id:
            raise _Malformed("Lambda.DuplicatedRecordId",
                             f"The Lambda response has the recordId {rec['recordId']} more than once.")
        by_id[rec["recordId"]] = rec
    if set(by_id) != set(ids):
        raise _Malformed("Lambda.MissingRecordId",
                         f"The Lambda response has {len(records)} records for {len(ids)} sent, or record ids "
                         "that were not sent.")
    out = []
    for rid in ids:
        rec = by_id[rid]
        result = rec.get("result")
        if result not in RESULTS:
            raise _Malformed("Lambda.InvalidRecordResult",
                             f"Record {rid} has result {result!r}; expected one of {', '.join(RESULTS)}.")
        data = None
        if result == "Ok":
            raw = rec.get("data")
            if not isinstance(raw, (str, bytes)):
                raise _Malformed("Lambda.MissingData", f"Record {rid} is Ok but has no base64 data.")
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise _Malformed("Lambda.InvalidBase64", f"Record {rid} has data that is not valid base64.") from None
        keys = otf = None
        meta = rec.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("partitionKeys"), dict):
            keys = {str(k): ("" if v is None else str(v)) for k, v in meta["partitionKeys"].items()}
        if isinstance(meta, dict) and isinstance(meta.get("otfMetadata"), dict):
            otf = meta["otfMetadata"]
        out.append((result, data, keys, otf))
    return out


def run_lambda(engine, *, arn: str, retries: int, buffer_bytes: int, stream_arn: str, region: str,
               data: pa.Array, arrival_ms: np.ndarray, kinesis: Optional[dict] = None) -> TransformResult:
    """Transform `data` through the registered function `arn`, one invocation per <= buffer_bytes."""
    n = len(data)
    payloads = data.to_pylist()
    ok_index, ok_data, ok_keys, ok_otf = [], [], [], []
    failed: list[Failure] = []
    dropped = 0
    start = 0
    while start < n:
        end, size = start, 0
        while end < n and (end == start or size + len(payloads[end]) <= buffer_bytes):
            size += len(payloads[end])
            end += 1
        ids = [f"{start + i:020d}" for i in range(end - start)]
        records = []
        for i in range(start, end):
            rec = {"recordId": ids[i - start], "approximateArrivalTimestamp": int(arrival_ms[i]),
                   "data": base64.b64encode(payloads[i] or b"").decode("ascii")}
            if kinesis is not None:
                rec["kinesisRecordMetadata"] = {
                    "shardId": kinesis["shard_id"][i], "partitionKey": kinesis["partition_key"][i],
                    "approximateArrivalTimestamp": int(arrival_ms[i]),
                    "sequenceNumber": str(kinesis["sequence_number"][i]), "subsequenceNumber": 0,
                }
            records.append(rec)
        event = {"invocationId": str(uuid.uuid4()), "deliveryStreamArn": stream_arn, "region": region,
                 "records": records}
        if kinesis is not None:
            event["sourceKinesisStreamArn"] = kinesis["stream_arn"]
        handler = engine.function(arn)
        attempts, parsed, code, message = 0, None, "", ""
        while attempts < 1 + max(0, retries):
            attempts += 1
            if handler is None:
                code, message = "Lambda.FunctionNotFound", f"Function not found: {arn}"
                continue
            try:
                parsed = _parse_response(handler(event, _context(arn, region)), ids)
                break
            except _Malformed as err:
                code, message = err.code, str(err)
            except BaseException as err:  # noqa: BLE001 - the function's own error, SystemExit included:
                # this runs on a delivery worker, where no real interrupt ever arrives
                code = "Lambda.FunctionError"
                message = ("The Lambda function was successfully invoked but it returned an error result. "
                           f"{type(err).__name__}: {err}")
        ended = engine.clock.now_ms()
        if parsed is None:
            failed.extend(Failure(i, code, message, attempts, ended) for i in range(start, end))
        else:
            for offset, (result, payload, keys, otf) in enumerate(parsed):
                i = start + offset
                if result == "Ok":
                    ok_index.append(i)
                    ok_data.append(payload)
                    ok_keys.append(keys)
                    ok_otf.append(otf)
                elif result == "Dropped":
                    dropped += 1
                else:
                    failed.append(Failure(i, "Lambda.ProcessingFailed",
                                          "The Lambda function returned ProcessingFailed for this record.",
                                          attempts, ended))
        start = end
    return TransformResult(np.asarray(ok_index, dtype=np.int64), pa.array(ok_data, pa.binary()), ok_keys,
                           failed, dropped, ok_otf)


# --- deaggregation (issue 15): KPL aggregates of a Kinesis source, the RecordDeAggregation processor ---


def source_user_records(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A Kinesis source read with every KPL aggregate replaced by its user records (Firehose
    deaggregates them before transformation and delivery); the same batch when none is one."""
    from ..kinesis.kpl import MAGIC as KPL_MAGIC, deaggregate_batch   # (only Kinesis sources need it)

    data = batch.column("data")
    if not pc.any(pc.starts_with(data, KPL_MAGIC)).as_py():   # (a bitmap; slicing would copy)
        return batch
    users = deaggregate_batch(batch)
    return pa.RecordBatch.from_arrays([users.column(name) for name in batch.schema.names], schema=batch.schema)


def split_sub_records(data: pa.Array, sub_record_type: str, delimiter_b64: str | None = None):
    """The RecordDeAggregation processor: each record's sub-records, consecutive JSON objects
    (SubRecordType JSON: `{..}{..}` or JSON Lines) or the pieces between a delimiter given in
    base64 (DELIMITED). Returns (sub-records, index of each one's source record, indexes of the
    records that could not be split: not JSON objects, or more than 500 sub-records)."""
    pieces, sources, failed = [], [], []
    delimiter = base64.b64decode(delimiter_b64) if sub_record_type == "DELIMITED" and delimiter_b64 else b"\n"
    decoder = json.JSONDecoder()
    for i, raw in enumerate(data.to_pylist()):
        raw = raw or b""
        if sub_record_type == "JSON":
            try:
                text, parts, pos = raw.decode("utf-8"), [], 0
                while True:
                    while pos < len(text) and text[pos] in " \t\r\n":
                        pos += 1
                    if pos == len(text):
                        break
                    value, end = decoder.raw_decode(text, pos)
                    if not isinstance(value, dict):
                        raise ValueError("not a JSON object")
                    parts.append(text[pos:end].encode("utf-8"))
                    pos = end
            except ValueError:   # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
                failed.append(i)
                continue
        else:
            parts = [p for p in raw.split(delimiter) if p]
        if len(parts) > limits.FIREHOSE_SUB_RECORDS_MAX:
            failed.append(i)
            continue
        pieces.extend(parts)
        sources.extend([i] * len(parts))
    return pa.array(pieces, pa.binary()), np.asarray(sources, dtype=np.int64), np.asarray(failed, dtype=np.int64)

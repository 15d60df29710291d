"""boto3-shaped Lambda client: functions (code = a registered Python callable), Invoke, and event
source mappings. Types, required members, ranges and enums are checked by the request layer
against botocore's model; the source-specific rules are the model's (engine.awslambda.mappings)."""
from __future__ import annotations

import base64
import datetime
import io
import json

from botocore.response import StreamingBody

from .. import limits
from ..client_base import BaseClient, to_blob
from . import errors
from .errors import InvalidParameterValueException
from .mappings import MappingSettings
from .models import FUNCTION_ERROR

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
# The state a call reports while AWS applies it (GetEventSourceMapping shows the settled one).
CREATING, UPDATING, DELETING = "Creating", "Updating", "Deleting"
ARCHITECTURE = "x86_64"


def _dt(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


def _lambda_time(seconds: float) -> str:
    """FunctionConfiguration.LastModified: 2019-10-14T22:31:37.593+0000."""
    t = _dt(seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def _epoch(value) -> float:
    return value.timestamp() if isinstance(value, datetime.datetime) else float(value)


def _unsupported(params: dict, operation: str) -> None:
    given = sorted(name for name, value in params.items() if value is not None)
    if given:
        raise InvalidParameterValueException(f"{operation}: {', '.join(given)} not supported by this engine "
                                             "(SQS and Kinesis event sources only).")


def _settings_changes(BatchSize=None, MaximumBatchingWindowInSeconds=None, Enabled=None, ParallelizationFactor=None,
                      DestinationConfig=None, MaximumRecordAgeInSeconds=None, BisectBatchOnFunctionError=None,
                      MaximumRetryAttempts=None, TumblingWindowInSeconds=None, FunctionResponseTypes=None,
                      ScalingConfig=None) -> dict:
    """The request's mapping settings, as MappingSettings field changes (only what was given)."""
    changes = {}
    for field, value in (("batch_size", BatchSize), ("window", MaximumBatchingWindowInSeconds),
                         ("enabled", Enabled), ("parallelization", ParallelizationFactor),
                         ("max_age", MaximumRecordAgeInSeconds), ("bisect", BisectBatchOnFunctionError),
                         ("max_retry", MaximumRetryAttempts), ("tumbling", TumblingWindowInSeconds)):
        if value is not None:
            changes[field] = value
    if DestinationConfig is not None:
        if DestinationConfig.get("OnSuccess", {}).get("Destination"):
            raise InvalidParameterValueException("Unsupported DestinationConfig parameter OnSuccess for given event "
                                                 "source mapping type.")
        changes["on_failure"] = DestinationConfig.get("OnFailure", {}).get("Destination") or ""
    if FunctionResponseTypes is not None:
        changes["report_failures"] = REPORT_BATCH_ITEM_FAILURES in FunctionResponseTypes
    if ScalingConfig is not None:
        changes["max_concurrency"] = ScalingConfig.get("MaximumConcurrency")
    return changes


def _mapping(m, state: str | None = None) -> dict:
    s = m.settings
    out = {"UUID": m.uuid, "BatchSize": s.batch_size, "MaximumBatchingWindowInSeconds": s.window,
           "EventSourceArn": m.source_arn, "FunctionArn": m.function.arn, "LastModified": _dt(m.last_modified),
           "LastProcessingResult": m.last_result, "State": state or m.state,
           "StateTransitionReason": "USER_INITIATED",
           "FunctionResponseTypes": [REPORT_BATCH_ITEM_FAILURES] if s.report_failures else [],
           "EventSourceMappingArn": m.arn}
    if m.kind == "sqs":
        if s.max_concurrency:
            out["ScalingConfig"] = {"MaximumConcurrency": s.max_concurrency}
        return out
    out["StartingPosition"] = s.starting_position
    if s.starting_timestamp is not None:
        out["StartingPositionTimestamp"] = _dt(s.starting_timestamp)
    out.update(ParallelizationFactor=s.parallelization,
               DestinationConfig={"OnFailure": {"Destination": s.on_failure} if s.on_failure else {}},
               MaximumRecordAgeInSeconds=s.max_age, BisectBatchOnFunctionError=s.bisect,
               MaximumRetryAttempts=s.max_retry, TumblingWindowInSeconds=s.tumbling)
    return out


def _configuration(fn) -> dict:
    out = {"FunctionName": fn.name, "FunctionArn": fn.arn, "Role": fn.role or "", "Handler": fn.handler_name,
           "CodeSize": 0, "Description": fn.description, "Timeout": fn.timeout, "MemorySize": fn.memory,
           "LastModified": _lambda_time(fn.last_modified), "CodeSha256": fn.code_sha256, "Version": "$LATEST",
           "TracingConfig": {"Mode": "PassThrough"}, "RevisionId": fn.revision, "State": "Active",
           "LastUpdateStatus": "Successful", "PackageType": "Zip", "Architectures": [ARCHITECTURE],
           "EphemeralStorage": {"Size": 512}}
    if fn.runtime:
        out["Runtime"] = fn.runtime
    if fn.environment:
        out["Environment"] = {"Variables": dict(fn.environment)}
    return out


def _body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


class LambdaClient(BaseClient):
    """boto3's Lambda client, in process (functions, Invoke, event source mappings)."""

    service_name = "lambda"
    error_modules = (errors,)

    def __init__(self, engine, region_name: str):
        super().__init__(engine, region_name)
        self._backend = engine.backend("lambda", region_name)

    # --- functions -------------------------------------------------------------------------------
    def create_function(self, *, FunctionName, Role, Code, Runtime=None, Handler=None, Description=None,
                        Timeout=None, MemorySize=None, Publish=None, Environment=None, Tags=None, PackageType=None,
                        Architectures=None, **other):
        _unsupported(other, "CreateFunction")
        fn = self._backend.create_function(
            FunctionName, Handler, runtime=Runtime, role=Role, timeout=Timeout, memory=MemorySize,
            description=Description or "", environment=(Environment or {}).get("Variables"), tags=Tags)
        return _configuration(fn)

    def get_function(self, *, FunctionName, Qualifier=None):
        fn = self._backend.get_function(FunctionName)
        out = {"Configuration": _configuration(fn),
               "Code": {"RepositoryType": "S3", "Location": f"engine://functions/{fn.handler_name}"}}
        if fn.tags:
            out["Tags"] = dict(fn.tags)
        return out

    def delete_function(self, *, FunctionName, Qualifier=None):
        self._backend.delete_function(FunctionName)
        return {}

    def invoke(self, *, FunctionName, InvocationType=None, LogType=None, ClientContext=None, Payload=None,
               Qualifier=None, **other):
        _unsupported(other, "Invoke")
        kind = InvocationType or "RequestResponse"
        payload = b"" if Payload is None else to_blob("Payload", Payload)
        outcome = self._backend.invoke(FunctionName, payload, kind)
        if kind != "RequestResponse":
            return {"StatusCode": 202 if kind == "Event" else 204, "Payload": _body(b"")}
        out = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        if outcome.ok:
            try:
                data = b"null" if outcome.result is None else json.dumps(outcome.result).encode()
            except (TypeError, ValueError) as err:
                out["FunctionError"] = FUNCTION_ERROR
                data = json.dumps({"errorMessage": f"Unable to marshal response: {err}",
                                   "errorType": "Runtime.MarshalError", "requestId": outcome.request_id}).encode()
        else:
            out["FunctionError"] = FUNCTION_ERROR
            data = json.dumps(outcome.error).encode()
        if LogType == "Tail":
            rid = outcome.request_id
            out["LogResult"] = base64.b64encode(f"START RequestId: {rid} Version: $LATEST\nEND RequestId: {rid}\n"
                                                f"REPORT RequestId: {rid}\n".encode()).decode()
        out["Payload"] = _body(data)
        return out

    # --- event source mappings -------------------------------------------------------------------
    def create_event_source_mapping(self, *, FunctionName, EventSourceArn=None, Enabled=None, BatchSize=None,
                                    MaximumBatchingWindowInSeconds=None, ParallelizationFactor=None,
                                    StartingPosition=None, StartingPositionTimestamp=None, DestinationConfig=None,
                                    MaximumRecordAgeInSeconds=None, BisectBatchOnFunctionError=None,
                                    MaximumRetryAttempts=None, Tags=None, TumblingWindowInSeconds=None,
                                    FunctionResponseTypes=None, ScalingConfig=None, **other):
        _unsupported(other, "CreateEventSourceMapping")
        if EventSourceArn is None:
            raise InvalidParameterValueException("EventSourceArn is required for SQS and Kinesis event sources.")
        changes = _settings_changes(BatchSize, MaximumBatchingWindowInSeconds, Enabled, ParallelizationFactor,
                                    DestinationConfig, MaximumRecordAgeInSeconds, BisectBatchOnFunctionError,
                                    MaximumRetryAttempts, TumblingWindowInSeconds, FunctionResponseTypes,
                                    ScalingConfig)
        if StartingPosition is not None:
            changes["starting_position"] = StartingPosition
        if StartingPositionTimestamp is not None:
            changes["starting_timestamp"] = _epoch(StartingPositionTimestamp)
        mapping = self._backend.create_event_source_mapping(FunctionName, EventSourceArn,
                                                            MappingSettings().changed(changes))
        return _mapping(mapping, CREATING)

    def get_event_source_mapping(self, *, UUID):
        return _mapping(self._backend.get_event_source_mapping(UUID))

    def update_event_source_mapping(self, *, UUID, FunctionName=None, Enabled=None, BatchSize=None,
                                    MaximumBatchingWindowInSeconds=None, DestinationConfig=None,
                                    MaximumRecordAgeInSeconds=None, BisectBatchOnFunctionError=None,
                                    MaximumRetryAttempts=None, ParallelizationFactor=None,
                                    TumblingWindowInSeconds=None, FunctionResponseTypes=None, ScalingConfig=None,
                                    **other):
        _unsupported(other, "UpdateEventSourceMapping")
        changes = _settings_changes(BatchSize, MaximumBatchingWindowInSeconds, Enabled, ParallelizationFactor,
                                    DestinationConfig, MaximumRecordAgeInSeconds, BisectBatchOnFunctionError,
                                    MaximumRetryAttempts, TumblingWindowInSeconds, FunctionResponseTypes,
                                    ScalingConfig)
        mapping = self._backend.update_event_source_mapping(UUID, FunctionName, changes)
        return _mapping(mapping, UPDATING)

    def delete_event_source_mapping(self, *, UUID):
        return _mapping(self._backend.delete_event_source_mapping(UUID), DELETING)

    def list_event_source_mappings(self, *, EventSourceArn=None, FunctionName=None, Marker=None, MaxItems=None):
        found = self._backend.list_event_source_mappings(EventSourceArn, FunctionName)
        start = 0
        if Marker is not None:
            start = next((k + 1 for k, m in enumerate(found) if m.uuid == Marker), None)
            if start is None:
                raise InvalidParameterValueException(f"Invalid Marker: {Marker}")
        size = limits.LAMBDA_LIST_PAGE_DEFAULT if MaxItems is None else MaxItems
        page = found[start:start + size]
        out = {"EventSourceMappings": [_mapping(m) for m in page]}
        if start + size < len(found):
            out["NextMarker"] = page[-1].uuid
        return out

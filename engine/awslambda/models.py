"""Lambda domain: functions whose code is a registered Python callable, invocations on the
engine clock, and the account's event source mappings (engine.awslambda.mappings runs them).

A function's code is what `Engine.register_function(name, handler)` registered; CreateFunction
names it by Handler (or by the function's own name). A registered callable that was never
created is a function too, with the defaults, so SNS/Firehose-style registrations can be
mapped. Timeouts are on the engine clock: an invocation that returns after its function's
Timeout of engine time has passed failed with Sandbox.Timedout, whatever it returned.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import threading
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

from .. import limits
from ..arn import lambda_arn, parse_arn
from ..errors import ClientError
from .errors import (InvalidParameterValueException, InvalidRequestContentException, RequestTooLargeException,
                     ResourceConflictException, ResourceInUseException, function_not_found, mapping_not_found)
from .mappings import EventSourceMapping, KinesisPoller, MappingSettings, SqsPoller

FUNCTION_ERROR = "Unhandled"
TIMED_OUT = "Sandbox.Timedout"


@dataclass
class Function:
    name: str
    arn: str
    handler_name: str
    handler: Callable
    runtime: str | None = None
    role: str | None = None
    timeout: int = limits.LAMBDA_TIMEOUT_DEFAULT_S
    memory: int = limits.LAMBDA_MEMORY_DEFAULT_MB
    description: str = ""
    environment: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    last_modified: float = 0.0
    revision: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: bool = True      # False: a registered callable nobody created

    @property
    def code_sha256(self) -> str:
        return hashlib.sha256(self.handler_name.encode()).hexdigest()


@dataclass
class Outcome:
    """One invocation: the handler's return value, or the error document AWS would return."""
    result: object = None
    error: dict | None = None        # {"errorMessage", "errorType", "stackTrace"}
    request_id: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def _error_document(err: BaseException) -> dict:
    return {"errorMessage": str(err), "errorType": type(err).__name__,
            "stackTrace": traceback.format_tb(err.__traceback__)[1:]}


class LambdaBackend:
    """Functions and event source mappings of one account and region."""

    def __init__(self, engine, region: str):
        self.engine = engine
        self.region = region
        self.account_id = engine.account_id
        self.clock = engine.clock
        self.functions: dict[str, Function] = {}
        self.mappings: dict[str, EventSourceMapping] = {}
        self._lock = threading.RLock()
        self._async = ThreadPoolExecutor(limits.LAMBDA_ASYNC_WORKERS, thread_name_prefix="lambda-event")
        self._async_pending = 0
        self._async_done = threading.Condition(threading.Lock())
        self._closed = False

    # --- functions -------------------------------------------------------------------------------
    def _name(self, ref: str) -> str:
        """A function name from a name, a partial or a full ARN (a $LATEST qualifier allowed)."""
        if ref.startswith("arn:"):
            parsed = parse_arn(ref)
            resource = parsed["resource"] if parsed else ""
            ref = resource.split("function:", 1)[1] if resource.startswith("function:") else ref
        elif ":function:" in ref:
            ref = ref.split(":function:", 1)[1]
        return ref.split(":", 1)[0]

    def create_function(self, name: str, handler_name: str | None = None, *, runtime=None, role=None,
                        timeout: int | None = None, memory: int | None = None, description: str = "",
                        environment: dict | None = None, tags: dict | None = None) -> Function:
        handler_name = handler_name or name
        handler = self.engine.function(handler_name)
        if handler is None:
            raise InvalidParameterValueException(
                f"The handler {handler_name!r} is not registered: call Engine.register_function({handler_name!r}, "
                "callable) before CreateFunction.")
        timeout = limits.LAMBDA_TIMEOUT_DEFAULT_S if timeout is None else timeout
        if timeout > limits.LAMBDA_TIMEOUT_MAX_S:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy constraint: Member "
                f"must have value less than or equal to {limits.LAMBDA_TIMEOUT_MAX_S}")
        with self._lock:
            existing = self.functions.get(name)
            if existing is not None and existing.created:
                raise ResourceConflictException(f"Function already exist: {name}")
            fn = Function(name, lambda_arn(self.region, self.account_id, name), handler_name, handler, runtime, role,
                          timeout, memory or limits.LAMBDA_MEMORY_DEFAULT_MB, description, dict(environment or {}),
                          dict(tags or {}), self.clock.now())
            self.functions[name] = fn
            return fn

    def get_function(self, ref: str) -> Function:
        name = self._name(ref)
        with self._lock:
            fn = self.functions.get(name)
            if fn is None:
                handler = self.engine.function(name)
                if handler is None:
                    raise function_not_found(lambda_arn(self.region, self.account_id, name))
                fn = Function(name, lambda_arn(self.region, self.account_id, name), name, handler,
                              last_modified=self.clock.now(), created=False)
                self.functions[name] = fn
            return fn

    def delete_function(self, ref: str) -> None:
        name = self._name(ref)
        with self._lock:
            fn = self.functions.get(name)
            if fn is None or not fn.created:
                raise function_not_found(lambda_arn(self.region, self.account_id, name))
            del self.functions[name]

    # --- invoking --------------------------------------------------------------------------------
    def context(self, fn: Function, request_id: str, deadline: float) -> SimpleNamespace:
        clock = self.clock
        return SimpleNamespace(
            function_name=fn.name, function_version="$LATEST", invoked_function_arn=fn.arn,
            memory_limit_in_mb=fn.memory, aws_request_id=request_id, log_group_name=f"/aws/lambda/{fn.name}",
            log_stream_name="engine", identity=None, client_context=None,
            get_remaining_time_in_millis=lambda: max(0, int((deadline - clock.now()) * 1000)))

    def run(self, fn: Function, event) -> Outcome:
        """Call the function once with `event`, on the caller's thread; time it on the engine clock."""
        request_id = str(uuid.uuid4())
        start = self.clock.now()
        deadline = start + fn.timeout
        try:
            result = fn.handler(event, self.context(fn, request_id, deadline))
        except BaseException as err:  # noqa: BLE001 - the function's own failure, SystemExit included
            outcome = Outcome(error=_error_document(err), request_id=request_id)
        else:
            outcome = Outcome(result=result, request_id=request_id)
        if self.clock.now() > deadline:
            outcome = Outcome(error={"errorType": TIMED_OUT, "errorMessage": f"RequestId: {request_id} Error: Task "
                                     f"timed out after {fn.timeout:.2f} seconds"}, request_id=request_id)
        return outcome

    def invoke(self, ref: str, payload: bytes, invocation_type: str = "RequestResponse") -> Outcome | None:
        """Invoke: RequestResponse runs now and returns the Outcome; Event queues the invocation
        (Lambda's asynchronous retries on the engine clock) and returns None; DryRun only checks."""
        fn = self.get_function(ref)
        limit = limits.LAMBDA_PAYLOAD_ASYNC_MAX if invocation_type == "Event" else limits.LAMBDA_PAYLOAD_SYNC_MAX
        if len(payload) > limit:
            raise RequestTooLargeException(f"{len(payload)} byte payload is too large for the {invocation_type} "
                                           f"invocation type (limit {limit} bytes)", status=413)
        try:
            event = json.loads(payload) if payload else {}
        except (ValueError, UnicodeDecodeError):
            raise InvalidRequestContentException("Could not parse request body into json: Could not parse payload "
                                                 "into json") from None
        if invocation_type == "DryRun":
            return None
        if invocation_type == "Event":
            self._submit_async(fn, event, 0)
            return None
        return self.run(fn, event)

    def _submit_async(self, fn: Function, event, attempt: int) -> None:
        with self._async_done:
            self._async_pending += 1
        self._async.submit(self._run_async, fn, event, attempt)

    def _run_async(self, fn: Function, event, attempt: int) -> None:
        try:
            outcome = self.run(fn, event)
            delays = limits.LAMBDA_ASYNC_RETRY_DELAYS_S
            if not outcome.ok and attempt < len(delays) and not self._closed:
                self.clock.call_later(delays[attempt], lambda: self._retry_async(fn, event, attempt + 1))
        finally:
            with self._async_done:
                self._async_pending -= 1
                self._async_done.notify_all()

    def _retry_async(self, fn: Function, event, attempt: int) -> None:
        if not self._closed:
            self._submit_async(fn, event, attempt)

    # --- event source mappings -------------------------------------------------------------------
    def source_of(self, arn: str):
        """('sqs', Queue) or ('kinesis', Stream) for an event source ARN."""
        parsed = parse_arn(arn)
        service = parsed["service"] if parsed else ""
        if service == "sqs":
            queue = self.engine.backend("sqs", parsed["region"]).queue_by_arn(arn)
            if queue is not None:
                return "sqs", queue
        elif service == "kinesis":
            try:
                return "kinesis", self.engine.backend("kinesis", parsed["region"]).stream_by_arn(arn)
            except ClientError:
                pass
        else:
            raise InvalidParameterValueException(f"Unrecognized event source, must be kinesis, dynamodb stream or "
                                                 f"sqs. Unsupported source arn : {arn}")
        raise InvalidParameterValueException(f"Source {arn} does not exist.")

    def create_event_source_mapping(self, function_ref: str, source_arn: str,
                                    settings: MappingSettings) -> EventSourceMapping:
        fn = self.get_function(function_ref)
        kind, source = self.source_of(source_arn)
        settings = settings.resolved(kind, source, fn)
        with self._lock:
            for m in self.mappings.values():
                if m.source_arn == source_arn and m.function is fn:
                    raise ResourceConflictException(
                        f"The event source arn ({source_arn}) and function ({fn.name}) provided mapping already "
                        f"exists. Please update or delete the existing mapping with UUID {m.uuid}")
            poller_cls = SqsPoller if kind == "sqs" else KinesisPoller
            mapping = EventSourceMapping(self, str(uuid.uuid4()), fn, source_arn, kind, source, settings,
                                         poller_cls, next(_order))
            self.mappings[mapping.uuid] = mapping
        mapping.start()
        return mapping

    def get_event_source_mapping(self, mapping_id: str) -> EventSourceMapping:
        mapping = self.mappings.get(mapping_id)
        if mapping is None:
            raise mapping_not_found(mapping_id)
        return mapping

    def update_event_source_mapping(self, mapping_id: str, function_ref: str | None, changes: dict) -> EventSourceMapping:
        mapping = self.get_event_source_mapping(mapping_id)
        if mapping.state == "Deleting":
            raise ResourceInUseException(f"Cannot update the event source mapping because it is in use. {mapping_id}")
        fn = self.get_function(function_ref) if function_ref is not None else mapping.function
        mapping.update(fn, mapping.settings.changed(changes).resolved(mapping.kind, mapping.source, fn))
        return mapping

    def delete_event_source_mapping(self, mapping_id: str) -> EventSourceMapping:
        mapping = self.get_event_source_mapping(mapping_id)
        with self._lock:
            self.mappings.pop(mapping_id, None)
        mapping.stop()
        return mapping

    def list_event_source_mappings(self, source_arn: str | None = None, function_ref: str | None = None):
        """Mappings in creation order, filtered by source and function."""
        name = self._name(function_ref) if function_ref is not None else None
        with self._lock:
            found = sorted(self.mappings.values(), key=lambda m: m.order)
        return [m for m in found if (source_arn is None or m.source_arn == source_arn)
                and (name is None or m.function.name == name)]

    def settle(self, timeout: float = 10.0) -> None:
        """Wait (real time, at most `timeout`) until every mapping has caught up with its source at
        the engine's current time and no invocation is in flight: what tests call after they put
        records or move the clock."""
        with self._lock:
            mappings = list(self.mappings.values())
        for mapping in mappings:
            mapping.settle(timeout)
        with self._async_done:
            if not self._async_done.wait_for(lambda: self._async_pending == 0, timeout):
                raise TimeoutError("asynchronous invocations still running")

    def close(self) -> None:
        """Stop polling and drain: every invocation under way finishes (up to LAMBDA_CLOSE_DRAIN_S)."""
        with self._lock:
            self._closed = True
            mappings = list(self.mappings.values())
        for mapping in mappings:
            mapping.stop(limits.LAMBDA_CLOSE_DRAIN_S)
        with self._async_done:
            self._async_done.wait_for(lambda: self._async_pending == 0, limits.LAMBDA_CLOSE_DRAIN_S)
        self._async.shutdown(wait=False)


_order = itertools.count()

"""Engine: one isolated AWS account in memory; backends per (service, region), one clock."""
from __future__ import annotations

import atexit
import functools
import importlib
import threading
import weakref
from typing import Callable

from . import limits
from .arn import lambda_arn
from .clock import Clock, ManualClock, WallClock

# service name -> (backend class path, client class path); imported on first use
SERVICES: dict[str, tuple[str, str]] = {
    "kinesis": ("engine.kinesis.models:KinesisBackend", "engine.kinesis.client:KinesisClient"),
    "firehose": ("engine.firehose.models:FirehoseBackend", "engine.firehose.client:FirehoseClient"),
    "glue": ("engine.glue.models:GlueBackend", "engine.glue.client:GlueClient"),
    "sqs": ("engine.sqs.models:SQSBackend", "engine.sqs.client:SQSClient"),
    "sns": ("engine.sns.models:SNSBackend", "engine.sns.client:SNSClient"),
    "lambda": ("engine.awslambda.models:LambdaBackend", "engine.awslambda.client:LambdaClient"),
    "mq": ("engine.mq.models:MQBackend", "engine.mq.client:MQClient"),
}
# Consumers first (event source mappings drain their in-flight invocations), then producers: SNS
# drains into SQS and Firehose, Firehose delivers its buffers; brokers stop last.
DURABILITY_MODES = ("memory", "flush", "fsync")
DEFAULT_DURABILITY = "flush"   # with a data_dir
CLOSE_ORDER = ("lambda", "sns", "kinesis", "firehose", "sqs", "glue", "mq")


def _load(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class Engine:
    """An isolated, in-memory AWS account.

    >>> eng = Engine()
    >>> kinesis = eng.client("kinesis", region_name="us-east-1")
    """

    def __init__(self, *, s3_root: str | None = None, clock: Clock | None = None,
                 enforce_limits: bool = False, account_id: str = limits.ACCOUNT_ID,
                 region_name: str = limits.DEFAULT_REGION, data_dir: str | None = None,
                 durability: str | None = None):
        # memory: nothing written; flush: in the file (page cache) before a call returns, survives
        # kill -9; fsync: group-committed to disk before a call returns, survives power loss.
        durability = durability or (DEFAULT_DURABILITY if data_dir is not None else "memory")
        if durability not in DURABILITY_MODES:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY_MODES)}, not {durability!r}")
        if durability != "memory" and data_dir is None:
            raise ValueError(f"durability={durability!r} needs a data_dir")
        self.data_dir = data_dir
        self.durability = durability
        self.account_id = account_id
        self.default_region = region_name
        self.s3_root = s3_root if s3_root is not None else "./s3"
        self.clock = clock or WallClock()
        self.enforce_limits = enforce_limits
        self._backends: dict[tuple[str, str], object] = {}
        self._lock = threading.RLock()
        self._functions: dict[str, Callable] = {}
        self._closed = False
        self.outbox: list[dict] = []   # SNS email/sms/application deliveries land here
        _live_engines.add(self)

    # --- services ------------------------------------------------------------------
    def client(self, service_name: str, region_name: str | None = None, **_boto3_kwargs):
        """A boto3-shaped client. boto3's credential/endpoint/config kwargs are accepted and ignored."""
        if service_name not in SERVICES:
            raise ValueError(f"Unknown service: '{service_name}'. Valid service names are: {', '.join(sorted(SERVICES))}")
        region = region_name or self.default_region
        client_cls = _load(SERVICES[service_name][1])
        return client_cls(self, region)

    def resource(self, service_name: str, region_name: str | None = None, **_boto3_kwargs):
        """A boto3 resource (what boto3.resource(service_name) returns: sqs, sns) over this engine's
        client, so resource-style code (queue.send_message, topic.publish) runs unchanged. Needs boto3."""
        return _resource_class(service_name)(client=self.client(service_name, region_name))

    def backend(self, service_name: str, region_name: str | None = None):
        key = (service_name, region_name or self.default_region)
        backend = self._backends.get(key)
        if backend is None:
            with self._lock:
                backend = self._backends.get(key)
                if backend is None:
                    if self._closed:
                        raise RuntimeError("this Engine is closed")
                    backend = _load(SERVICES[service_name][0])(self, key[1])
                    self._backends[key] = backend
        return backend

    def backends(self, service_name: str):
        return [b for (name, _), b in list(self._backends.items()) if name == service_name]

    # --- Lambda-shaped hooks ---------------------------------------------------------
    def register_function(self, name: str, handler: Callable, region_name: str | None = None) -> str:
        """Register a Python callable as a Lambda function; returns its ARN.

        The handler is called as handler(event, context) exactly like an AWS Lambda handler."""
        arn = name if name.startswith("arn:") else lambda_arn(region_name or self.default_region, self.account_id, name)
        self._functions[arn] = handler
        return arn

    def function(self, arn: str) -> Callable | None:
        if arn in self._functions:
            return self._functions[arn]
        # AWS accepts a qualified ARN (…:function:name:$LATEST) or a bare name
        base = arn.split(":$LATEST")[0]
        if base in self._functions:
            return self._functions[base]
        for known, handler in self._functions.items():
            if known.rsplit(":", 1)[-1] == arn:
                return handler
        return None

    # --- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Flush and stop every backend (Firehose delivers what it buffered). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            order = {name: i for i, name in enumerate(CLOSE_ORDER)}
            backends = [b for (name, _), b in sorted(self._backends.items(),
                                                      key=lambda item: order.get(item[0][0], len(order)))]
        for backend in backends:
            close = getattr(backend, "close", None)
            if close is not None:
                close()
        for backend in backends:   # memory goes once no backend can read another's records
            release = getattr(backend, "release", None)
            if release is not None:
                release()
        self.clock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@functools.lru_cache(maxsize=None)
def _resource_class(service_name: str):
    # boto3 builds resource classes from its resource models; a resource takes its client as `client=`,
    # so one class per service serves every engine. The throwaway session never sends a request.
    import boto3.session
    session = boto3.session.Session(region_name=limits.DEFAULT_REGION, aws_access_key_id="engine",
                                    aws_secret_access_key="engine")
    if service_name not in session.get_available_resources() or service_name not in SERVICES:
        raise ValueError(f"boto3 has no resource for '{service_name}' in this engine; use client('{service_name}')")
    return type(session.resource(service_name))


_live_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()
_default_engine: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    global _default_engine
    with _default_lock:
        if _default_engine is None or _default_engine._closed:
            _default_engine = Engine()
        return _default_engine


def client(service_name: str, region_name: str | None = None, **kwargs):
    """A client of the process-wide default Engine, for scripts: engine.client("sqs")."""
    return default_engine().client(service_name, region_name=region_name, **kwargs)


def resource(service_name: str, region_name: str | None = None, **kwargs):
    """A boto3 resource of the process-wide default Engine: engine.resource("sqs")."""
    return default_engine().resource(service_name, region_name=region_name, **kwargs)


@atexit.register
def _close_all() -> None:
    # Nothing accepted is dropped on a clean interpreter exit.
    for eng in list(_live_engines):
        try:
            eng.close()
        except Exception:  # pragma: no cover
            pass


__all__ = ["Engine", "ManualClock", "WallClock", "client", "default_engine", "resource"]

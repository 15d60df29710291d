"""What every boto3-shaped client shares: operation naming, error translation, metadata,
paginators, and the parameter checks botocore would make before sending a request."""
from __future__ import annotations

import functools
import inspect
import itertools

import botocore.config
import botocore.exceptions
import botocore.hooks
import botocore.paginate
import botocore.waiter
from botocore import xform_name

from .errors import ClientError, EngineClosed, ExceptionsNamespace, ParamValidationError
from .request import service_models
from .request.validate import validator_for

_request_ids = itertools.count(1)


def operation_name(method_name: str) -> str:
    return "".join(part.capitalize() for part in method_name.split("_"))


def new_request_id() -> str:
    return f"00000000-0000-4000-8000-{next(_request_ids):012x}"


def response_metadata(status: int = 200) -> dict:
    return {
        "RequestId": new_request_id(),
        "HTTPStatusCode": status,
        "HTTPHeaders": {},
        "RetryAttempts": 0,
    }


def _wrap(method, service: str, op: str):
    signature = inspect.signature(method)
    validator = None
    compiled = False
    status = 200   # the model's http.responseCode where it has one (rest-json: 204 for mq's CreateTags)

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        nonlocal validator, compiled, status
        if args:
            raise TypeError(f"{method.__name__}() only accepts keyword arguments.")
        if self._engine._closed:
            raise EngineClosed("This engine is closed; create a new engine.Engine() to make more calls.",
                               operation_name=op)
        if not compiled:
            validator = validator_for(service, op)
            status = service_models.service_model(service).operation_model(op).http.get("responseCode", 200)
            compiled = True
        try:
            if validator is not None:
                validator(kwargs)
            result = method(self, **kwargs)
        except ClientError as err:
            if validator is not None and validator.column_checked:
                _judged(validator, kwargs, op, service)
            raise wire_error(err.with_operation(op), service) from None
        except ParamValidationError:
            if validator is not None and validator.column_checked:
                _judged(validator, kwargs, op, service)
            raise
        except TypeError:
            try:
                signature.bind(self, **kwargs)
            except TypeError:
                raise _binding_error(signature, kwargs) from None
            raise
        if isinstance(result, dict):
            result["ResponseMetadata"] = response_metadata(status)
        return result

    call.operation_name = op
    return call


def _judged(validator, params, op, service) -> None:
    """A client's own column-wise check refused the request: the model's answer, if it has one, wins."""
    try:
        validator.judge(params)
    except ClientError as err:
        raise wire_error(err.with_operation(op), service) from None


def wire_error(err: ClientError, service: str) -> ClientError:
    """The error fields botocore shows for this service's protocol: query services (SNS) add
    `Type`; SQS (JSON, query-compatible) reports the legacy query code in `Code` and the JSON
    code in `QueryErrorCode`, as botocore reads them from the x-amzn-query-error header. The
    query code comes from the error class (`query_code`), else the model, else the JSON code."""
    error = err.response["Error"]
    if "QueryErrorCode" in error:
        return err
    query_codes = service_models.query_error_codes(service)
    if query_codes is not None:
        code = error["Code"]
        error["QueryErrorCode"] = code
        error["Code"] = getattr(type(err), "query_code", "") or query_codes.get(code, code)
        error["Type"] = "Sender" if err.sender_fault else "Receiver"
        err.args = (str(err),)
    elif service_models.service_model(service).protocol == "query":
        error.setdefault("Type", "Sender" if err.sender_fault else "Receiver")
    return err


def _binding_error(signature, kwargs) -> ParamValidationError:
    params = signature.parameters
    accepted = [n for n, p in params.items() if n != "self" and p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD and n != "self"]
    reports = []
    for name in kwargs:
        if name not in params:
            reports.append(f'Unknown parameter in input: "{name}", must be one of: {", ".join(accepted)}')
    for name, p in params.items():
        if name != "self" and p.default is p.empty and p.kind is not p.VAR_KEYWORD and name not in kwargs:
            reports.append(f'Missing required parameter in input: "{name}"')
    return ParamValidationError("\n".join(reports) or "invalid parameters")


class BaseClient:
    """Base of the boto3-shaped clients. Subclasses set `service_name` and `error_modules`."""

    service_name = ""
    error_modules: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        operations = {xform_name(op): op for op in service_models.service_model(cls.service_name).operation_names}
        for name, value in list(cls.__dict__.items()):
            if not name.startswith("_") and inspect.isfunction(value) and name not in _NOT_OPERATIONS:
                setattr(cls, name, _wrap(value, cls.service_name, operations.get(name) or operation_name(name)))
        cls._exceptions_namespace = ExceptionsNamespace(*cls.error_modules)

    def __init__(self, engine, region_name: str):
        self._engine = engine
        model = service_models.service_model(self.service_name)
        self.meta = ClientMeta(region_name, model)

    @property
    def exceptions(self) -> ExceptionsNamespace:
        return self._exceptions_namespace

    # Paginators and waiters are botocore's own, driven by its paginator and waiter models over
    # this client's methods, so they page and wait exactly as they do against AWS.
    def can_paginate(self, operation_name: str) -> bool:
        return self._api_name(operation_name) in service_models.paginator_config(self.service_name)

    def get_paginator(self, operation_name: str) -> botocore.paginate.Paginator:
        api_name = self._api_name(operation_name)
        config = service_models.paginator_config(self.service_name).get(api_name)
        if config is None:
            raise botocore.exceptions.OperationNotPageableError(operation_name=operation_name)
        return botocore.paginate.Paginator(getattr(self, operation_name), config,
                                           self.meta.service_model.operation_model(api_name))

    @property
    def waiter_names(self) -> list[str]:
        model = service_models.waiter_model(self.service_name)
        return sorted(xform_name(name) for name in model.waiter_names) if model else []

    def get_waiter(self, waiter_name: str):
        model = service_models.waiter_model(self.service_name)
        names = {xform_name(name): name for name in model.waiter_names} if model else {}
        if waiter_name not in names:
            raise ValueError(f"Waiter does not exist: {waiter_name}")
        return botocore.waiter.create_waiter_with_client(names[waiter_name], model, self)

    def _api_name(self, method_name: str) -> str:
        return self.meta.method_to_api_mapping.get(method_name, operation_name(method_name))

    def close(self) -> None:
        """boto3 clients have close(); ours hold no connection."""


class ClientMeta:
    """`client.meta` as botocore builds it: region, service model, events, endpoint."""

    def __init__(self, region_name: str, service_model):
        self.region_name = region_name
        self.service_model = service_model
        self.partition = "aws"
        self.events = botocore.hooks.HierarchicalEmitter()
        self.config = botocore.config.Config(region_name=region_name)
        self.endpoint_url = f"https://{service_model.endpoint_prefix}.{region_name}.amazonaws.com"
        self.method_to_api_mapping = {xform_name(name): name for name in service_model.operation_names}

    @property
    def service_name(self) -> str:
        return self.service_model.service_name


_NOT_OPERATIONS = {"can_paginate", "get_paginator", "close", "get_waiter", "waiter_names", "exceptions"}


# --- blobs ---------------------------------------------------------------------------
def to_blob(name, value) -> bytes:
    """boto3 blobs: bytes, bytearray, str (utf-8) or a readable file object."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if hasattr(value, "read"):
        data = value.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    raise ParamValidationError(
        f"Invalid type for parameter {name}, value: {value!r}, type: {type(value)}, "
        "valid types: <class 'bytes'>, <class 'bytearray'>, file-like object")


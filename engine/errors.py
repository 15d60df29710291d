"""AWS-shaped errors: one ClientError base, a registry of error codes, per-client namespaces.

Each AWS error code is one class (`code = "ResourceNotFoundException"`), registered once;
a second class with the same code is refused. Clients expose the classes their service raises
as `client.exceptions.<Code>`, as botocore does. ClientError derives from botocore's
ClientError, so `except botocore.exceptions.ClientError` keeps working for code written
against boto3.
"""
from __future__ import annotations

import uuid

import botocore.exceptions

_REGISTRY: dict[str, type["ClientError"]] = {}


class ClientError(botocore.exceptions.ClientError):
    """An AWS service error; `.response["Error"]["Code"]` and `["Message"]` as AWS returns them."""

    code: str = "ServiceError"
    status: int = 400
    sender_fault: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            if cls.code in _REGISTRY:
                raise TypeError(f"error code {cls.code!r} is already registered by {_REGISTRY[cls.code]!r}")
            _REGISTRY[cls.code] = cls

    def __init__(self, message: str = "", *, code: str | None = None, operation_name: str | None = None,
                 status: int | None = None, **error_fields):
        self.message = message
        code = code or type(self).code
        error = {"Code": code, "Message": message}
        error.update(error_fields)
        if not self.sender_fault:
            error.setdefault("Type", "Receiver")
        response = {
            "Error": error,
            "ResponseMetadata": {
                "RequestId": str(uuid.uuid4()),
                "HTTPStatusCode": status or type(self).status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        }
        super().__init__(response, operation_name or "Unknown")

    @property
    def error_code(self) -> str:
        return self.response["Error"]["Code"]

    def with_operation(self, operation_name: str) -> "ClientError":
        self.operation_name = operation_name
        self.args = (str(self),)
        return self

    def __str__(self) -> str:
        err = self.response["Error"]
        return f"An error occurred ({err['Code']}) when calling the {self.operation_name} operation: {err['Message']}"


def error_class(code: str) -> type[ClientError]:
    return _REGISTRY[code]


class ParamValidationError(botocore.exceptions.ParamValidationError, ValueError):
    """Raised before any service call, as botocore does, for a missing or mistyped parameter."""

    def __init__(self, report: str):
        self.kwargs = {"report": report}
        self.report = report
        msg = f"Parameter validation failed:\n{report}"
        ValueError.__init__(self, msg)
        self.fmt = msg

    def __str__(self) -> str:
        return self.args[0]


# Codes shared by several services are defined once, here.
class ValidationException(ClientError):
    code = "ValidationException"


class ResourceNotFoundException(ClientError):
    code = "ResourceNotFoundException"


class ResourceInUseException(ClientError):
    code = "ResourceInUseException"


class InvalidArgumentException(ClientError):
    code = "InvalidArgumentException"


class LimitExceededException(ClientError):
    code = "LimitExceededException"


class InvalidParameterValue(ClientError):
    code = "InvalidParameterValue"


class InvalidParameterValueException(ClientError):
    code = "InvalidParameterValueException"


class AccessDeniedException(ClientError):
    code = "AccessDeniedException"


class InternalFailure(ClientError):
    code = "InternalFailure"
    status = 500
    sender_fault = False


class EngineClosed(ClientError):
    """Every call on a client of a closed Engine: nothing is accepted that would not be served."""
    code = "ServiceUnavailable"
    status = 503
    sender_fault = False


class ExceptionsNamespace:
    """`client.exceptions`: ClientError plus every error class a service module exports."""

    def __init__(self, *modules):
        self.ClientError = ClientError
        self._codes = {}
        for module in modules:
            for name in dir(module):
                obj = getattr(module, name)
                if isinstance(obj, type) and issubclass(obj, ClientError) and "code" in obj.__dict__:
                    setattr(self, obj.code, obj)
                    self._codes[obj.code] = obj

    def __getattr__(self, name):
        raise AttributeError(f"this service raises no {name!r}; known: {', '.join(sorted(self._codes))}")

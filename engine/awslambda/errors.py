"""Lambda error codes, one class per code (shared codes re-exported for client.exceptions)."""
from __future__ import annotations

from ..errors import (ClientError, InvalidParameterValueException, ResourceInUseException,  # noqa: F401
                      ResourceNotFoundException)


class ResourceConflictException(ClientError):
    code = "ResourceConflictException"
    status = 409


class RequestTooLargeException(ClientError):
    code = "RequestTooLargeException"
    status = 413


class InvalidRequestContentException(ClientError):
    code = "InvalidRequestContentException"


def function_not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Function not found: {arn}", status=404)


def mapping_not_found(uuid: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The resource you requested does not exist. (Service: Lambda, "
                                     f"Status Code: 404, Request ID: {uuid})", status=404)

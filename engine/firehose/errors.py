"""Firehose error codes. Shared codes (ResourceNotFoundException, ResourceInUseException,
InvalidArgumentException, LimitExceededException, ValidationException) come from engine.errors."""
from ..errors import (  # noqa: F401  (re-exported for client.exceptions)
    ClientError,
    InvalidArgumentException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)


class ConcurrentModificationException(ClientError):
    code = "ConcurrentModificationException"


class InvalidKMSResourceException(ClientError):
    code = "InvalidKMSResourceException"


class InvalidSourceException(ClientError):
    code = "InvalidSourceException"


class ServiceUnavailableException(ClientError):
    code = "ServiceUnavailableException"
    status = 503
    sender_fault = False

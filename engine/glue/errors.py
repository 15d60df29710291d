"""Glue error codes (the shared ones live in engine.errors)."""
from ..errors import ClientError, InvalidParameterValueException, ValidationException  # noqa: F401
# Shared with Firehose, registered once there.
from ..firehose.errors import ConcurrentModificationException  # noqa: F401


class EntityNotFoundException(ClientError):
    code = "EntityNotFoundException"


class AlreadyExistsException(ClientError):
    code = "AlreadyExistsException"


class InvalidInputException(ClientError):
    code = "InvalidInputException"

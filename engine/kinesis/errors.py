"""Kinesis error codes (shared ones come from engine.errors)."""
from ..errors import (AccessDeniedException, ClientError, InvalidArgumentException, LimitExceededException,
                      ResourceInUseException, ResourceNotFoundException, ValidationException)


class ProvisionedThroughputExceededException(ClientError):
    code = "ProvisionedThroughputExceededException"


class ExpiredIteratorException(ClientError):
    code = "ExpiredIteratorException"


class ExpiredNextTokenException(ClientError):
    code = "ExpiredNextTokenException"


class InternalFailureException(ClientError):
    code = "InternalFailureException"
    status = 500
    sender_fault = False


class KMSNotFoundException(ClientError):
    code = "KMSNotFoundException"


def stream_not_found(name: str, account: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Stream {name} under account {account} not found.")


def shard_not_found(shard_id: str, stream: str, account: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Shard {shard_id} in stream {stream} under account {account} does not exist")


__all__ = [
    "AccessDeniedException", "ClientError", "ExpiredIteratorException", "ExpiredNextTokenException",
    "InternalFailureException", "InvalidArgumentException", "KMSNotFoundException", "LimitExceededException",
    "ProvisionedThroughputExceededException", "ResourceInUseException", "ResourceNotFoundException",
    "ValidationException", "shard_not_found", "stream_not_found",
]

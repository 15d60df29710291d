"""SQS error codes, one class per code.

`code` is what `error.response["Error"]["Code"]` carries, as the AWS JSON protocol names the
error (the modeled shape name, e.g. QueueDoesNotExist, or the unmodeled code such as
InvalidParameterValue). `query_code` is the legacy AWS Query code that SQS also sends in the
`x-amzn-query-error` header (e.g. AWS.SimpleQueueService.NonExistentQueue); the wire layer uses it.

Codes shared with other services (InvalidParameterValue, ResourceNotFoundException) live in
engine.errors and are re-exported here so `client.exceptions.<Code>` finds them.
"""
from __future__ import annotations

from ..errors import ClientError, InvalidParameterValue, ResourceNotFoundException  # noqa: F401  (client.exceptions)

# Legacy query codes for the shared classes (the classes themselves belong to engine.errors).
SHARED_QUERY_CODES = {
    "InvalidParameterValue": "InvalidParameterValue",
    "ResourceNotFoundException": "ResourceNotFoundException",
}


class SQSError(ClientError):
    """Base of the SQS-only codes; never raised itself."""

    query_code: str = ""


class QueueDoesNotExist(SQSError):
    code = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"

    def __init__(self, message: str = "The specified queue does not exist.", **kw):
        super().__init__(message, **kw)


class QueueDeletedRecently(SQSError):
    code = "QueueDeletedRecently"
    query_code = "AWS.SimpleQueueService.QueueDeletedRecently"


class QueueNameExists(SQSError):
    code = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class InvalidAttributeName(SQSError):
    code = "InvalidAttributeName"
    query_code = "InvalidAttributeName"


class InvalidAttributeValue(SQSError):
    code = "InvalidAttributeValue"
    query_code = "InvalidAttributeValue"


class MissingParameter(SQSError):
    # AWS's JSON code for it; boto3 shows the query code in Code (recorded from AWS)
    code = "MissingRequiredParameterException"
    query_code = "MissingParameter"


class InvalidMessageContents(SQSError):
    code = "InvalidMessageContents"
    query_code = "InvalidMessageContents"


class ReceiptHandleIsInvalid(SQSError):
    code = "ReceiptHandleIsInvalid"
    query_code = "ReceiptHandleIsInvalid"


class MessageNotInflight(SQSError):
    code = "MessageNotInflight"
    query_code = "AWS.SimpleQueueService.MessageNotInflight"


class InvalidIdFormat(SQSError):
    code = "InvalidIdFormat"
    query_code = "InvalidIdFormat"


class BatchEntryIdsNotDistinct(SQSError):
    code = "BatchEntryIdsNotDistinct"
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class BatchRequestTooLong(SQSError):
    code = "BatchRequestTooLong"
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class EmptyBatchRequest(SQSError):
    code = "EmptyBatchRequest"
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"


class InvalidBatchEntryId(SQSError):
    code = "InvalidBatchEntryId"
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"

    def __init__(self, message: str = ("A batch entry id can only contain alphanumeric characters, "
                                       "hyphens and underscores. It can be at most 80 letters long."), **kw):
        super().__init__(message, **kw)


class TooManyEntriesInBatchRequest(SQSError):
    code = "TooManyEntriesInBatchRequest"
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class PurgeQueueInProgress(SQSError):
    code = "PurgeQueueInProgress"
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"
    status = 403


class OverLimit(SQSError):
    code = "OverLimit"
    query_code = "OverLimit"
    status = 403


class UnsupportedOperation(SQSError):
    code = "UnsupportedOperation"
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"


class InvalidAddress(SQSError):
    code = "InvalidAddress"
    query_code = "InvalidAddress"
    status = 404


class InvalidSecurity(SQSError):
    code = "InvalidSecurity"
    query_code = "InvalidSecurity"
    status = 403


class RequestThrottled(SQSError):
    code = "RequestThrottled"
    query_code = "RequestThrottled"


class KmsAccessDenied(SQSError):
    code = "KmsAccessDenied"
    query_code = "KMS.AccessDeniedException"


class KmsDisabled(SQSError):
    code = "KmsDisabled"
    query_code = "KMS.DisabledException"


class KmsInvalidKeyUsage(SQSError):
    code = "KmsInvalidKeyUsage"
    query_code = "KMS.InvalidKeyUsageException"


class KmsInvalidState(SQSError):
    code = "KmsInvalidState"
    query_code = "KMS.InvalidStateException"


class KmsNotFound(SQSError):
    code = "KmsNotFound"
    query_code = "KMS.NotFoundException"


class KmsOptInRequired(SQSError):
    code = "KmsOptInRequired"
    query_code = "KMS.OptInRequired"


class KmsThrottled(SQSError):
    code = "KmsThrottled"
    query_code = "KMS.ThrottlingException"


def query_code(err: ClientError) -> str:
    """The legacy AWS Query code of an error (for the x-amzn-query-error header)."""
    code = err.response["Error"]["Code"]
    if isinstance(err, SQSError) and err.query_code:
        return err.query_code
    return SHARED_QUERY_CODES.get(code, code)


def invalid_value(param: str, value, reason: str) -> InvalidParameterValue:
    """AWS's usual wording: 'Value X for parameter P is invalid. Reason: R'."""
    return InvalidParameterValue(f"Value {value} for parameter {param} is invalid. Reason: {reason}")


__all__ = [name for name, obj in list(globals().items())
           if isinstance(obj, type) and issubclass(obj, ClientError)] + ["query_code", "invalid_value"]

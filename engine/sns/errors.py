"""SNS error codes, one class per code.

`code` is what `error.response["Error"]["Code"]` carries: the `error.code` of each exception shape
in botocore's SNS model (InvalidParameterException -> "InvalidParameter", NotFoundException ->
"NotFound", InvalidParameterValueException -> "ParameterValueInvalid", ...). The batch codes are
spelled as SQS spells them and are registered by engine.sqs.errors, so they are imported from there
rather than defined twice. `SHAPE_NAMES` maps botocore's exception names to these classes, so that
`except sns.exceptions.NotFoundException` works as it does with boto3.
"""
from __future__ import annotations

from ..errors import ClientError, ValidationException
from ..sqs.errors import (BatchEntryIdsNotDistinct, BatchRequestTooLong, EmptyBatchRequest,
                          InvalidBatchEntryId, InvalidSecurity, TooManyEntriesInBatchRequest)


class SNSError(ClientError):
    """Base of the SNS-only codes; never raised itself."""


class InvalidParameter(SNSError):
    code = "InvalidParameter"


class ParameterValueInvalid(SNSError):
    code = "ParameterValueInvalid"


class NotFound(SNSError):
    code = "NotFound"
    status = 404


class ResourceNotFound(SNSError):
    code = "ResourceNotFound"
    status = 404


class AuthorizationError(SNSError):
    code = "AuthorizationError"
    status = 403


class InternalError(SNSError):
    code = "InternalError"
    status = 500
    sender_fault = False


class Throttled(SNSError):
    code = "Throttled"
    status = 429


class SubscriptionLimitExceeded(SNSError):
    code = "SubscriptionLimitExceeded"
    status = 403


class FilterPolicyLimitExceeded(SNSError):
    code = "FilterPolicyLimitExceeded"
    status = 403


class ReplayLimitExceeded(SNSError):
    code = "ReplayLimitExceeded"
    status = 403


class TopicLimitExceeded(SNSError):
    code = "TopicLimitExceeded"
    status = 403


class TagLimitExceeded(SNSError):
    code = "TagLimitExceeded"


class StaleTag(SNSError):
    code = "StaleTag"


class TagPolicy(SNSError):
    code = "TagPolicy"


class ConcurrentAccess(SNSError):
    code = "ConcurrentAccess"


class InvalidState(SNSError):
    code = "InvalidState"


class EndpointDisabled(SNSError):
    code = "EndpointDisabled"


class PlatformApplicationDisabled(SNSError):
    code = "PlatformApplicationDisabled"


class OptedOut(SNSError):
    code = "OptedOut"


class UserError(SNSError):
    code = "UserError"


class VerificationException(SNSError):
    """A wrong or expired one-time password; the error carries the number's `Status` too."""
    code = "VerificationException"


class KMSDisabled(SNSError):
    code = "KMSDisabled"


class KMSInvalidState(SNSError):
    code = "KMSInvalidState"


class KMSNotFound(SNSError):
    code = "KMSNotFound"


class KMSOptInRequired(SNSError):
    code = "KMSOptInRequired"
    status = 403


class KMSThrottling(SNSError):
    code = "KMSThrottling"


class KMSAccessDenied(SNSError):
    code = "KMSAccessDenied"


def invalid(message: str) -> InvalidParameter:
    """InvalidParameter with AWS's "Invalid parameter: ..." text."""
    return InvalidParameter(f"Invalid parameter: {message}")


def topic_not_found() -> NotFound:
    return NotFound("Topic does not exist")


def subscription_not_found() -> NotFound:
    return NotFound("Subscription does not exist")


# botocore exception (shape) name -> class, for client.exceptions.<ShapeName>
SHAPE_NAMES = {
    "InvalidParameterException": InvalidParameter,
    "InvalidParameterValueException": ParameterValueInvalid,
    "NotFoundException": NotFound,
    "ResourceNotFoundException": ResourceNotFound,
    "AuthorizationErrorException": AuthorizationError,
    "InternalErrorException": InternalError,
    "ThrottledException": Throttled,
    "SubscriptionLimitExceededException": SubscriptionLimitExceeded,
    "FilterPolicyLimitExceededException": FilterPolicyLimitExceeded,
    "ReplayLimitExceededException": ReplayLimitExceeded,
    "TopicLimitExceededException": TopicLimitExceeded,
    "InvalidSecurityException": InvalidSecurity,
    "TagLimitExceededException": TagLimitExceeded,
    "StaleTagException": StaleTag,
    "TagPolicyException": TagPolicy,
    "ConcurrentAccessException": ConcurrentAccess,
    "InvalidStateException": InvalidState,
    "ValidationException": ValidationException,
    "EndpointDisabledException": EndpointDisabled,
    "PlatformApplicationDisabledException": PlatformApplicationDisabled,
    "OptedOutException": OptedOut,
    "UserErrorException": UserError,
    "VerificationException": VerificationException,
    "KMSDisabledException": KMSDisabled,
    "KMSInvalidStateException": KMSInvalidState,
    "KMSNotFoundException": KMSNotFound,
    "KMSOptInRequired": KMSOptInRequired,
    "KMSThrottlingException": KMSThrottling,
    "KMSAccessDeniedException": KMSAccessDenied,
    "BatchEntryIdsNotDistinctException": BatchEntryIdsNotDistinct,
    "BatchRequestTooLongException": BatchRequestTooLong,
    "EmptyBatchRequestException": EmptyBatchRequest,
    "InvalidBatchEntryIdException": InvalidBatchEntryId,
    "TooManyEntriesInBatchRequestException": TooManyEntriesInBatchRequest,
}

__all__ = [name for name, obj in list(globals().items())
           if isinstance(obj, type) and issubclass(obj, ClientError)] + [
    "invalid", "topic_not_found", "subscription_not_found", "SHAPE_NAMES"]

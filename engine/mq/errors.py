"""Amazon MQ error codes, one class per error shape of botocore's mq model (rest-json).

AWS sends `{"errorAttribute": ..., "message": ...}` with the code in the x-amzn-ErrorType header;
botocore puts the modelled members (ErrorAttribute, Message) at the top of the error response
beside "Error", and so do these classes. ErrorAttribute names the request member at fault.
"""
from __future__ import annotations

from ..errors import ClientError


class MQError(ClientError):
    """Base of the mq codes; never raised itself."""

    def __init__(self, message: str = "", *, attribute: str | None = None, **kw):
        super().__init__(message, **kw)
        self.response["Message"] = message
        if attribute is not None:
            self.response["ErrorAttribute"] = attribute


class BadRequestException(MQError):
    code = "BadRequestException"
    status = 400


class UnauthorizedException(MQError):
    code = "UnauthorizedException"
    status = 401


class ForbiddenException(MQError):
    code = "ForbiddenException"
    status = 403


class NotFoundException(MQError):
    code = "NotFoundException"
    status = 404


class ConflictException(MQError):
    code = "ConflictException"
    status = 409


class InternalServerErrorException(MQError):
    code = "InternalServerErrorException"
    status = 500
    sender_fault = False

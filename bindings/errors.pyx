# The one place where C status codes become Python exceptions.

class CoreError(Exception):
    """Base of errors raised by engine._core; services map these to AWS error codes."""


class CoreMemoryError(CoreError, MemoryError):
    pass


class CoreValueError(CoreError, ValueError):
    pass


class CoreRangeError(CoreValueError):
    pass


class CoreTooBigError(CoreValueError):
    pass


cdef int check(en_status rc) except -1 nogil:
    if rc == EN_OK:
        return 0
    with gil:
        if rc == EN_ENOMEM:
            raise CoreMemoryError("out of memory; nothing was changed")
        if rc == EN_EINVAL:
            raise CoreValueError("malformed input")
        if rc == EN_ERANGE:
            raise CoreRangeError("value out of range")
        if rc == EN_ETOOBIG:
            raise CoreTooBigError("item larger than a chunk can hold")
        raise CoreError(f"unknown status {<int>rc}")

"""Type checks of the native API's arguments (the models' public methods): a value of the wrong
type is refused as botocore refuses it from a client (ParamValidationError, botocore's text), never
with a raw TypeError from deep inside. The boto3 path has been checked by the request layer
already; these are cheap isinstance tests."""
from __future__ import annotations

from ..errors import ParamValidationError


def type_error(name: str, value, valid: str) -> ParamValidationError:
    return ParamValidationError(f"Invalid type for parameter {name}, value: {value!r:.200}, type: {type(value)}, "
                                f"valid types: {valid}")


def text(name: str, value) -> str:
    if not isinstance(value, str):
        raise type_error(name, value, "<class 'str'>")
    return value


def optional_text(name: str, value) -> str | None:
    return None if value is None else text(name, value)


def text_map(name: str, value) -> dict:
    """A {str: str} map (attributes)."""
    if not isinstance(value, dict):
        raise type_error(name, value, "<class 'dict'>")
    for key, item in value.items():
        text(f"{name} keys", key)
        text(f"{name}.{key}", item)
    return value


def text_list(name: str, value) -> list:
    if not isinstance(value, (list, tuple)):
        raise type_error(name, value, "<class 'list'>, <class 'tuple'>")
    for i, item in enumerate(value):
        text(f"{name}[{i}]", item)
    return list(value)


def optional_count(name: str, value) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise type_error(name, value, "<class 'int'>")
    return value


def pairs(name: str, value) -> list:
    """[(key, value)] of strings (tags)."""
    if not isinstance(value, (list, tuple)):
        raise type_error(name, value, "<class 'list'>, <class 'tuple'>")
    for i, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise type_error(f"{name}[{i}]", pair, "a (key, value) pair")
        text(f"{name}[{i}].Key", pair[0])
        text(f"{name}[{i}].Value", pair[1])
    return list(value)


__all__ = ["type_error", "text", "optional_text", "text_map", "text_list", "optional_count", "pairs"]

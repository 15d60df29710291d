"""Resource-based policies of streams and consumers: the document rules PutResourcePolicy
applies before it attaches a policy (IAM's policy grammar, as a resource policy needs it)."""
from __future__ import annotations

import json

from .. import limits
from .errors import InvalidArgumentException

_VERSIONS = ("2012-10-17", "2008-10-17")
_EFFECTS = ("Allow", "Deny")
_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                   "Condition"}
_PRINCIPAL_KINDS = {"AWS", "Service", "Federated", "CanonicalUser"}


def _refuse(reason: str) -> InvalidArgumentException:
    return InvalidArgumentException(f"Invalid policy document: {reason}")


def check_policy(text: str) -> None:
    """InvalidArgumentException unless `text` is a resource policy AWS would attach: a JSON
    object within the size limit, an optional known Version, and one or more statements,
    each with an Effect, a Principal (or NotPrincipal), Action/NotAction naming kinesis
    actions, and Resource/NotResource."""
    if not isinstance(text, str):
        raise _refuse("the policy must be a JSON string")
    if len(text.encode("utf-8", "surrogatepass")) > limits.KINESIS_RESOURCE_POLICY_MAX_BYTES:
        raise _refuse(f"the policy is larger than {limits.KINESIS_RESOURCE_POLICY_MAX_BYTES} bytes")
    try:
        doc = json.loads(text)
    except ValueError:
        raise _refuse("the policy is not valid JSON") from None
    if not isinstance(doc, dict):
        raise _refuse("the policy must be a JSON object")
    unknown = set(doc) - {"Version", "Id", "Statement"}
    if unknown:
        raise _refuse(f"unknown policy element {sorted(unknown)[0]}")
    if "Version" in doc and doc["Version"] not in _VERSIONS:
        raise _refuse(f"Version must be one of {', '.join(_VERSIONS)}")
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise _refuse("the policy needs at least one Statement")
    for statement in statements:
        _check_statement(statement)


def _check_statement(statement) -> None:
    if not isinstance(statement, dict):
        raise _refuse("each Statement must be an object")
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        raise _refuse(f"unknown statement element {sorted(unknown)[0]}")
    if statement.get("Effect") not in _EFFECTS:
        raise _refuse("Effect must be Allow or Deny")
    _one_of(statement, "Principal", "NotPrincipal")
    _one_of(statement, "Action", "NotAction")
    _one_of(statement, "Resource", "NotResource")
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    if principal != "*":
        if not isinstance(principal, dict) or not principal or set(principal) - _PRINCIPAL_KINDS:
            raise _refuse("Principal must be \"*\" or an object of AWS, Service, Federated or CanonicalUser")
        for value in principal.values():
            _strings(value, "Principal")
    for action in _strings(statement.get("Action", statement.get("NotAction")), "Action"):
        if action != "*" and not action.lower().startswith("kinesis:"):
            raise _refuse(f"action {action} does not belong to Kinesis")
    _strings(statement.get("Resource", statement.get("NotResource")), "Resource")
    if "Condition" in statement and not isinstance(statement["Condition"], dict):
        raise _refuse("Condition must be an object")


def _one_of(statement: dict, name: str, negated: str) -> None:
    if (name in statement) == (negated in statement):
        raise _refuse(f"each Statement needs exactly one of {name} and {negated}")


def _strings(value, element: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise _refuse(f"{element} must be a string or a non-empty list of strings")
    return items

"""SNS subscription filter policies: validation (AWS's errors and limits) and compilation.

A policy is validated and compiled once, when it is set; the result is a closure
`match(values) -> bool` over a message's *values*: a dict mapping a property name (a message
attribute name, or a dotted path into the JSON body) to a tuple of candidate values. Those
values are computed once per published message (`attribute_values`, `body_values`) and shared
by every subscription of the topic, so a message is never re-parsed per subscription and a
policy is never re-interpreted per message.

Value encoding (message side and policy side agree on it, so matching is set membership):
strings stay `str`; numbers become `float`; true/false/null become the sentinels TRUE, FALSE,
NULL (so that `True == 1.0` cannot make a boolean match a number).

Semantics (AWS developer guide, "Amazon SNS subscription filter policies" and the pages it
links): properties are ANDed; the values listed for a property are ORed; `$or` ORs whole
sub-policies. A property absent from the message matches only `{"exists": false}`. For a
String.Array attribute or a JSON array in the body each element is a candidate value; a
positive condition matches if any element matches, `anything-but` matches only if none of
the elements is excluded (the current wording of "String value matching").
"""
from __future__ import annotations

import ipaddress
import json
import math
from typing import Callable

from .. import limits
from .errors import InvalidParameter


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


TRUE = _Sentinel("true")
FALSE = _Sentinel("false")
NULL = _Sentinel("null")

MESSAGE_ATTRIBUTES = "MessageAttributes"
MESSAGE_BODY = "MessageBody"
SCOPES = (MESSAGE_ATTRIBUTES, MESSAGE_BODY)
_NUMERIC_OPS = ("<", "<=", "=", ">", ">=")
_ANYTHING_BUT_OPS = ("prefix", "suffix", "equals-ignore-case")
_NUM_MAX = float(limits.SNS_FILTER_NUMERIC_ABS_MAX)

Matcher = Callable[[dict], bool]


# --- message side ------------------------------------------------------------------------------
def scalar(value):
    """A JSON scalar as a filter value."""
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if value is None:
        return NULL
    if isinstance(value, (int, float)):
        return float(value)
    return value


def attribute_values(attributes: dict) -> dict:
    """{name: (data_type, value)} (value str, or bytes for Binary) -> {name: candidate values}.
    Binary attributes are present (for `exists`) but carry no matchable value."""
    out = {}
    for name, (data_type, value) in attributes.items():
        if data_type.startswith("String.Array"):
            try:
                items = json.loads(value)
            except ValueError:
                items = None
            out[name] = tuple(scalar(v) for v in items if not isinstance(v, (list, dict))) \
                if isinstance(items, list) else ()
        elif data_type.startswith("Number"):
            try:
                out[name] = (float(value),)
            except ValueError:
                out[name] = ()
        elif data_type.startswith("Binary"):
            out[name] = ()
        else:
            out[name] = (value,)
    return out


def body_values(body: str) -> dict | None:
    """A message body -> {dotted path: candidate values}, or None when the body is not a JSON
    object (a MessageBody policy never matches such a message)."""
    if not body or body.lstrip()[:1] != "{":
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    out: dict = {}
    _flatten(doc, "", out)
    return {k: tuple(v) for k, v in out.items()}


def _flatten(node, path: str, out: dict) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(value, f"{path}.{key}" if path else key, out)
    elif isinstance(node, list):
        for item in node:
            _flatten(item, path, out)
    else:
        out.setdefault(path, []).append(scalar(node))


# --- validation ----------------------------------------------------------------------------------
class _Invalid(Exception):
    pass


def parse_policy(text: str, scope: str, *, subscribe: bool) -> dict | None:
    """Parse and validate a FilterPolicy attribute value. Returns the policy (None when empty:
    no filtering). Raises InvalidParameter with AWS's message; `subscribe` selects the prefix AWS
    uses on Subscribe ("Invalid parameter: Attributes Reason: ") or SetSubscriptionAttributes."""
    prefix = "Invalid parameter: Attributes Reason: " if subscribe else "Invalid parameter: "
    if text is None or text.strip() == "":
        return None
    if len(text.encode("utf-8")) > limits.SNS_FILTER_POLICY_BYTES_MAX:
        raise InvalidParameter(f"{prefix}FilterPolicy: Filter policy is too long")
    try:
        policy = json.loads(text)
    except ValueError:
        raise InvalidParameter(f"{prefix}FilterPolicy: failed to parse JSON.") from None
    if not isinstance(policy, dict):
        raise InvalidParameter(f"{prefix}FilterPolicy: Filter policy must be a JSON object")
    if not policy:
        return None
    try:
        validate(policy, scope)
    except _Invalid as err:
        message = str(err)
        if message.startswith("!"):  # messages AWS gives without the "FilterPolicy: " part
            raise InvalidParameter(prefix + message[1:]) from None
        raise InvalidParameter(f"{prefix}FilterPolicy: {message}") from None
    return policy


def validate(policy: dict, scope: str) -> None:
    if len(policy) > limits.SNS_FILTER_KEYS_MAX:
        raise _Invalid(f"Filter policy can not have more than {limits.SNS_FILTER_KEYS_MAX} keys")
    rules, combinations = _aggregate(policy, scope, 1, 1)
    # AWS: the product over properties of (number of values x nesting depth), $or branches summed.
    if combinations > limits.SNS_FILTER_COMBINATIONS_MAX:
        raise _Invalid("Filter policy is too complex")
    for conditions in rules:
        for rule in conditions:
            _validate_rule(rule)


def _aggregate(policy: dict, scope: str, depth: int, combinations: int):
    rules = []
    for key, value in policy.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, dict) and v for v in value):
                raise _Invalid('"$or" must be an array of at least two objects')
            total = 0
            for branch in value:
                sub_rules, sub = _aggregate(branch, scope, depth, combinations)
                rules.extend(sub_rules)
                total += sub
            combinations = total
        elif isinstance(value, dict):
            if scope == MESSAGE_ATTRIBUTES:
                raise _Invalid("!Filter policy scope MessageAttributes does not support nested filter policy")
            if not value:
                raise _Invalid(f'"{key}" must be an object or an array')
            sub_rules, combinations = _aggregate(value, scope, depth + 1, combinations)
            rules.extend(sub_rules)
        elif isinstance(value, list):
            if not value:
                raise _Invalid("Empty arrays are not allowed")
            rules.append(value)
            combinations = combinations * len(value) * depth
        else:
            raise _Invalid(f'"{key}" must be an object or an array')
    return rules, combinations


def _validate_rule(rule) -> None:
    if rule is None or isinstance(rule, (str, bool)):
        return
    if isinstance(rule, (int, float)):
        return
    if not isinstance(rule, dict):
        raise _Invalid("Match value must be String, number, true, false, or null")
    if len(rule) != 1:
        raise _Invalid("Only one key allowed in match expression")
    (op, value), = rule.items()
    if op in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(value, str):
            raise _Invalid(f"{op} match pattern must be a string")
    elif op == "anything-but":
        if isinstance(value, list):
            if not value:
                raise _Invalid("Empty arrays are not allowed")
            for item in value:
                if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                    raise _Invalid("Inside anything but list, start|null|boolean is not supported.")
        elif isinstance(value, dict):
            if len(value) != 1:
                raise _Invalid("Only one key allowed in match expression")
            (inner, pattern), = value.items()
            if inner not in _ANYTHING_BUT_OPS:
                raise _Invalid(f"Unsupported anything-but pattern: {inner}")
            if not isinstance(pattern, str):
                raise _Invalid(f"{inner} match pattern must be a string")
        elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _Invalid("Inside anything but list, start|null|boolean is not supported.")
    elif op == "exists":
        if not isinstance(value, bool):
            raise _Invalid("exists match pattern must be either true or false.")
    elif op == "numeric":
        _validate_numeric(value)
    elif op == "cidr":
        _validate_cidr(value)
    else:
        raise _Invalid(f"Unrecognized match type {op}")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(value) -> None:
    if not math.isfinite(value) or not -_NUM_MAX <= value <= _NUM_MAX:
        raise _Invalid(f"Numeric value must be between -{_NUM_MAX:.1E} and {_NUM_MAX:.1E}"
                       .replace("E+0", "E").replace("E+", "E"))


def _validate_numeric(value) -> None:
    if not isinstance(value, list) or not value:
        raise _Invalid("Invalid member in numeric match: ]")
    terms = list(value)
    op = terms.pop(0)
    if not isinstance(op, str):
        raise _Invalid(f"Invalid member in numeric match: {op}")
    if op not in _NUMERIC_OPS:
        raise _Invalid(f"Unrecognized numeric range operator: {op}")
    first = terms.pop(0) if terms else None
    if not _number(first):
        raise _Invalid(f"Value of {'equals' if op == '=' else op} must be numeric")
    _check_range(first)
    if not terms:
        return
    if op not in (">", ">="):
        raise _Invalid("Too many elements in numeric expression")
    op2 = terms.pop(0)
    if not isinstance(op2, str):
        raise _Invalid(f"Bad value in numeric range: {op2}")
    if op2 not in ("<", "<="):
        raise _Invalid(f"Bad numeric range operator: {op2}")
    second = terms.pop(0) if terms else None
    if not _number(second):
        raise _Invalid(f"Value of {op2} must be numeric")
    _check_range(second)
    if second <= first:
        raise _Invalid("Bottom must be less than top")
    if terms:
        raise _Invalid("Too many terms in numeric range expression")


def _validate_cidr(value) -> None:
    if not isinstance(value, str):
        raise _Invalid("prefix match pattern must be a string")
    parts = value.split("/")
    if len(parts) != 2:
        raise _Invalid("Malformed CIDR, one '/' required")
    if not parts[1].isdigit():
        raise _Invalid("Malformed CIDR, mask bits must be an integer")
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _Invalid(f"Nonstandard IP address: {parts[0]}") from None


# --- compilation ---------------------------------------------------------------------------------
def compile_policy(policy: dict | None) -> Matcher | None:
    """A validated policy -> match(values) closure (None: match everything)."""
    if not policy:
        return None
    return _compile_object(policy, "")


def _compile_object(policy: dict, path: str) -> Matcher:
    tests = []  # (name, test(values_tuple) -> bool, absent_matches)
    ors = []
    for key, value in policy.items():
        if key == "$or":
            ors.append(tuple(_compile_object(branch, path) for branch in value))
        elif isinstance(value, dict):
            nested = _compile_object(value, f"{path}{key}.")
            tests.append((None, nested, None))
        else:
            test, absent = _compile_conditions(value)
            tests.append((f"{path}{key}", test, absent))
    # Specialised closures for the common shapes; the general one otherwise.
    if not ors and len(tests) == 1 and tests[0][0] is not None:
        name, test, absent = tests[0]
        if absent:
            return lambda values: (v := values.get(name)) is None or test(v)
        return lambda values: (v := values.get(name)) is not None and test(v)
    props = tuple(tests)
    ors_t = tuple(ors)

    def match(values):
        for name, test, absent in props:
            if name is None:
                if not test(values):
                    return False
                continue
            v = values.get(name)
            if v is None:
                if not absent:
                    return False
            elif not test(v):
                return False
        for branches in ors_t:
            for branch in branches:
                if branch(values):
                    break
            else:
                return False
        return True

    return match


def _compile_conditions(conditions: list):
    """One property's list of conditions -> (test(values) -> bool for a present property,
    whether an absent property matches)."""
    exact = set()
    lower = set()
    prefixes: list = []
    suffixes: list = []
    ranges: list = []
    nets: list = []
    others: list = []
    present = False
    absent = False
    for cond in conditions:
        if not isinstance(cond, dict):
            exact.add(scalar(cond))
            continue
        (op, value), = cond.items()
        if op == "prefix":
            prefixes.append(value)
        elif op == "suffix":
            suffixes.append(value)
        elif op == "equals-ignore-case":
            lower.add(value.lower())
        elif op == "exists":
            if value:
                present = True
            else:
                absent = True
        elif op == "numeric":
            ranges.append(_numeric_range(value))
        elif op == "cidr":
            nets.append(ipaddress.ip_network(value, strict=False))
        elif op == "anything-but":
            others.append(_anything_but(value))
    if present:
        return (lambda values: True), absent
    checks = []
    if exact:
        checks.append(frozenset(exact).isdisjoint)  # a check is True when it does NOT match
    fns = []
    if prefixes or suffixes:
        pre = tuple(prefixes)
        suf = tuple(suffixes)
        fns.append(lambda vs: any(v.__class__ is str and ((pre and v.startswith(pre)) or (suf and v.endswith(suf)))
                                  for v in vs))
    if lower:
        low = frozenset(lower)
        fns.append(lambda vs: any(v.__class__ is str and v.lower() in low for v in vs))
    for lo, lo_incl, hi, hi_incl in ranges:
        fns.append(_range_test(lo, lo_incl, hi, hi_incl))
    if nets:
        fns.append(_cidr_test(tuple(nets)))
    fns.extend(others)
    if checks and not fns:
        disjoint = checks[0]
        return (lambda values: not disjoint(values)), absent
    if not checks and len(fns) == 1:
        return fns[0], absent
    disjoint = checks[0] if checks else None
    fns_t = tuple(fns)

    def test(values):
        if disjoint is not None and not disjoint(values):
            return True
        for fn in fns_t:
            if fn(values):
                return True
        return False

    return test, absent


def _numeric_range(terms: list):
    lo, lo_incl, hi, hi_incl = -math.inf, False, math.inf, False
    op, value = terms[0], float(terms[1])
    if op == "=":
        return value, True, value, True
    if op in (">", ">="):
        lo, lo_incl = value, op == ">="
    else:
        hi, hi_incl = value, op == "<="
    if len(terms) == 4:
        hi, hi_incl = float(terms[3]), terms[2] == "<="
    return lo, lo_incl, hi, hi_incl


def _range_test(lo, lo_incl, hi, hi_incl):
    def test(values):
        for v in values:
            if v.__class__ is float and (lo < v or (lo_incl and v == lo)) and (v < hi or (hi_incl and v == hi)):
                return True
        return False
    return test


def _cidr_test(nets):
    def test(values):
        for v in values:
            if v.__class__ is str:
                try:
                    ip = ipaddress.ip_address(v)
                except ValueError:
                    continue
                for net in nets:
                    if ip.version == net.version and ip in net:
                        return True
        return False
    return test


def _anything_but(value):
    """anything-but: the property is present and none of its values is excluded."""
    if isinstance(value, dict):
        (op, pattern), = value.items()
        if op == "prefix":
            return lambda vs: not any(v.__class__ is str and v.startswith(pattern) for v in vs)
        if op == "suffix":
            return lambda vs: not any(v.__class__ is str and v.endswith(pattern) for v in vs)
        low = pattern.lower()
        return lambda vs: not any(v.__class__ is str and v.lower() == low for v in vs)
    items = value if isinstance(value, list) else [value]
    excluded = frozenset(scalar(v) for v in items)
    return excluded.isdisjoint


__all__ = ["parse_policy", "validate", "compile_policy", "attribute_values", "body_values", "scalar",
           "TRUE", "FALSE", "NULL", "MESSAGE_ATTRIBUTES", "MESSAGE_BODY", "SCOPES"]

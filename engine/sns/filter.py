"""SNS subscription filter policies: validation (AWS's errors and limits) and compilation.

A policy is validated and compiled once, when it is set; the result is a closure
`match(values) -> bool` over a message's *values*: a dict mapping a property name (a message
attribute name, or a dotted path into the JSON body) to a tuple of candidate values. Those
values are computed once per published message (`attribute_values`, `body_values`) and shared
by every subscription of the topic, so a message is never re-parsed per subscription and a
policy is never re-interpreted per message.

Value encoding (message side and policy side agree on it, so matching is set membership):
strings stay `str`; numbers become `int`s in units of 10^-5 (floored), the documented five
decimal digits of accuracy, and only within the documented range of +-10^9 (a number outside
it matches no numeric condition); true/false/null become the sentinels TRUE, FALSE, NULL.

Semantics (AWS developer guide, "Amazon SNS subscription filter policies" and the pages it
links): properties are ANDed; the values listed for a property are ORed; `$or` ORs whole
sub-policies. A property absent from the message matches only `{"exists": false}`. For a
String.Array attribute or a JSON array in the body each element is a candidate value; a
positive condition matches if any element matches, `anything-but` matches only if none of
the elements is excluded (the current wording of "String value matching").

Validation happens in the order AWS's errors show: the text is parsed (Jackson's syntax errors,
"failed to parse JSON. ..."), re-serialized compactly and walked as AWS's rule compiler walks
it (its errors quote that compact text and the parser's column), then SNS's own limits apply
(nesting only in the MessageBody scope, 5 keys, 150 combinations, numbers within +-10^9).
"""
from __future__ import annotations

import ipaddress
import math
from decimal import Decimal, InvalidOperation
from typing import Callable

from .. import limits
from . import jsontext
from .errors import InvalidParameter
from .jsontext import END_ARRAY, END_OBJECT, FIELD_NAME, NUMBERS, START_ARRAY, START_OBJECT, STRING


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
NUMBER_SCALE = 10 ** limits.SNS_FILTER_NUMERIC_DECIMALS
_NUM_MAX = limits.SNS_FILTER_NUMERIC_ABS_MAX
_RULER_SNIPPET_MAX = 500     # Jackson quotes at most this much of the source in an error location

Matcher = Callable[[dict], bool]


# --- message side ------------------------------------------------------------------------------
def number(value) -> int | None:
    """A number (int, float, or numeric text) in units of 10^-5, floored; None outside +-10^9."""
    if value.__class__ is int:
        return value * NUMBER_SCALE if -_NUM_MAX <= value <= _NUM_MAX else None
    try:
        d = Decimal(value) if value.__class__ is str else Decimal(repr(value))
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite() or not -_NUM_MAX <= d <= _NUM_MAX:
        return None
    return math.floor(d * NUMBER_SCALE)


def scalar(value):
    """A JSON scalar as a filter value (None for a number outside the matchable range)."""
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if value is None:
        return NULL
    if isinstance(value, (int, float)):
        return number(value)
    return value


def _candidates(items) -> tuple:
    return tuple(v for v in (scalar(i) for i in items if not isinstance(i, (list, dict))) if v is not None)


def attribute_values(attributes: dict) -> dict:
    """{name: (data_type, value)} (value str, or bytes for Binary) -> {name: candidate values}.
    Binary attributes are present (for `exists`) but carry no matchable value."""
    out = {}
    for name, (data_type, value) in attributes.items():
        if data_type.startswith("String.Array"):
            try:
                items = jsontext.loads(value)
            except jsontext.JsonSyntaxError:
                items = None
            out[name] = _candidates(items) if isinstance(items, list) else ()
        elif data_type.startswith("Number"):
            n = number(value.strip())
            out[name] = (n,) if n is not None else ()
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
        doc = jsontext.loads(body)
    except jsontext.JsonSyntaxError:
        return None
    if not isinstance(doc, dict):
        return None
    out: dict = {}
    pending = [(doc, "")]
    while pending:   # iterative: a body may nest as deep as the parser allows
        node, path = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                pending.append((value, f"{path}.{key}" if path else key))
        elif isinstance(node, list):
            for item in reversed(node):
                pending.append((item, path))
        else:
            v = scalar(node)
            if v is not None:
                out.setdefault(path, []).append(v)
            else:
                out.setdefault(path, [])
    return {k: tuple(v) for k, v in out.items()}


# --- validation ----------------------------------------------------------------------------------
class _Invalid(Exception):
    """A refusal; `bare` messages are given by AWS without the "FilterPolicy: " part."""

    def __init__(self, message: str, bare: bool = False):
        super().__init__(message)
        self.bare = bare


def parse_policy(text: str, scope: str, *, subscribe: bool) -> dict | None:
    """Parse and validate a FilterPolicy attribute value. Returns the policy (None when empty:
    no filtering). Raises InvalidParameter with AWS's message; `subscribe` selects the prefix AWS
    uses on Subscribe ("Invalid parameter: Attributes Reason: ") or SetSubscriptionAttributes."""
    prefix = "Invalid parameter: Attributes Reason: " if subscribe else "Invalid parameter: "
    if text is None or text.strip() == "":
        return None
    if len(text.encode("utf-8", "surrogatepass")) > limits.SNS_FILTER_POLICY_BYTES_MAX:
        raise InvalidParameter(f"{prefix}FilterPolicy: Filter policy is too long")
    try:
        document = jsontext.parse(text)
    except jsontext.JsonSyntaxError as err:
        raise InvalidParameter(f"{prefix}FilterPolicy: failed to parse JSON. {err.describe()}") from None
    if isinstance(document, dict) and not document:
        return None
    try:
        compact = jsontext.dumps_compact(document)
        frames = _check_rules(compact)
        policy = jsontext.parse(compact)   # what the rules were checked on (1e400 became "Infinity")
        validate(policy, scope, frames)
    except _Invalid as err:
        if err.bare:
            raise InvalidParameter(prefix + str(err)) from None
        raise InvalidParameter(f"{prefix}FilterPolicy: {err}") from None
    return policy


def validate(policy: dict, scope: str, depth: int = 1) -> None:
    """SNS's own limits on a policy the rule compiler accepted. `depth`: the deepest object
    nesting (a policy deeper than the combination limit cannot pass it: every level multiplies)."""
    if len(policy) > limits.SNS_FILTER_KEYS_MAX:
        raise _Invalid(f"Filter policy can not have more than {limits.SNS_FILTER_KEYS_MAX} keys")
    if depth > limits.SNS_FILTER_COMBINATIONS_MAX:
        if scope == MESSAGE_ATTRIBUTES and _nests(policy):
            raise _NESTED
        raise _Invalid("Filter policy is too complex")
    rules, combinations = _aggregate(policy, scope, 1, 1)
    # AWS: the product over properties of (number of values x nesting depth), $or branches summed.
    if combinations > limits.SNS_FILTER_COMBINATIONS_MAX:
        raise _Invalid("Filter policy is too complex")
    for conditions in rules:
        for rule in conditions:
            if isinstance(rule, dict):
                if "numeric" in rule:
                    _check_numbers(rule["numeric"])
                elif "cidr" in rule:
                    _check_cidr(rule["cidr"])


_NESTED = _Invalid("Filter policy scope MessageAttributes does not support nested filter policy", bare=True)


def _nests(policy: dict) -> bool:
    pending = [policy]
    while pending:
        node = pending.pop()
        for key, value in node.items():
            if key == "$or":
                pending.extend(value)
            elif isinstance(value, dict):
                return True
    return False


def _aggregate(policy: dict, scope: str, depth: int, combinations: int):
    rules = []
    for key, value in policy.items():
        if key == "$or":
            total = 0
            for branch in value:
                sub_rules, sub = _aggregate(branch, scope, depth, combinations)
                rules.extend(sub_rules)
                total += sub
            combinations = total
        elif isinstance(value, dict):
            if scope == MESSAGE_ATTRIBUTES:
                raise _NESTED
            sub_rules, combinations = _aggregate(value, scope, depth + 1, combinations)
            rules.extend(sub_rules)
        else:
            rules.append(value)
            combinations = combinations * len(value) * depth
    return rules, combinations


def _check_numbers(terms: list) -> None:
    for term in terms:
        if isinstance(term, (int, float)) and not -_NUM_MAX <= term <= _NUM_MAX:
            raise _Invalid(f"Numeric value must be between -{_NUM_MAX:.1E} and {_NUM_MAX:.1E}"
                           .replace("E+0", "E").replace("E+", "E"))


def _check_cidr(value: str) -> None:
    parts = value.split("/")
    if len(parts) != 2:
        raise _Invalid("Malformed CIDR, one '/' required")
    if not parts[1].isascii() or not parts[1].isdigit():
        raise _Invalid("Malformed CIDR, mask bits must be an integer")
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _Invalid(f"Nonstandard IP address: {parts[0]}") from None


# --- the rule compiler's walk --------------------------------------------------------------------
class _RuleError(_Invalid):
    def __init__(self, message: str, reader: jsontext.Reader):
        line, column = reader.location()
        source = reader.s
        snippet = f'(String)"{source[:_RULER_SNIPPET_MAX]}"'
        if len(source) > _RULER_SNIPPET_MAX:
            snippet += f"[truncated {len(source) - _RULER_SNIPPET_MAX} chars]"
        super().__init__(f"{message}\n at [Source: {snippet}; line: {line}, column: {column}]")


_OR = "$or"
_OR_RESERVED = frozenset((
    "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "numeric", "cidr",
    "=", "<", "<=", ">", ">=", "wildcard", "regex", "like", "not-like", "not-equals-ignore-case",
    "date-after", "date-on-or-after", "date-before", "date-on-or-before", "in-date-range"))


def _check_rules(compact: str) -> int:
    """Walk the compact policy as AWS's rule compiler (event-ruler's JsonRuleCompiler, with the
    match types SNS documents) walks it, token by token, and refuse what it refuses where it
    refuses it. Iterative; returns the deepest nesting of objects."""
    r = jsontext.Reader(compact)
    if r.next_token() != START_OBJECT:
        raise _RuleError("Filter is not an object", r)
    stack = [[True, False, False]]     # [is object, has fields / entries, inside $or]
    objects = deepest = 1
    while stack:
        frame = stack[-1]
        if frame[0]:                            # an object: fields until its end
            t = r.next_token()
            if t == END_OBJECT:
                if not frame[1]:
                    raise _RuleError("Empty objects are not allowed", r)
                stack.pop()
                objects -= 1
                continue
            frame[1] = True
            name = r.name
            if name == _OR:
                if r.next_token() != START_ARRAY:
                    raise _RuleError("It must be an Array followed with $or.", r)
                stack.append([False, 0, True])
                continue
            if frame[2] and name in _OR_RESERVED:
                raise _RuleError(f"{name} is Ruler reserved fieldName which cannot be used inside $or.", r)
            t = r.next_token()
            if t == START_OBJECT:
                stack.append([True, False, frame[2]])
                objects += 1
                deepest = max(deepest, objects)
            elif t == START_ARRAY:
                _rule_values(r)
            else:
                raise _RuleError(f'"{name}" must be an object or an array', r)
        else:                                   # a $or array: objects only, at least two
            t = r.next_token()
            if t == END_ARRAY:
                if frame[1] < 2:
                    raise _RuleError("There must have at least 2 Objects in $or relationship.", r)
                stack.pop()
                continue
            frame[1] += 1
            if t != START_OBJECT:
                raise _RuleError("Only JSON object is allowed in array of $or relationship.", r)
            stack.append([True, False, True])
            objects += 1
            deepest = max(deepest, objects)
    return deepest


def _rule_values(r: jsontext.Reader) -> None:
    count = 0
    while True:
        t = r.next_token()
        if t == END_ARRAY:
            break
        count += 1
        if t == START_OBJECT:
            _match_expression(r)
        elif t == STRING:
            r.text   # reads the string, as the compiler's getText() does
        elif t == START_ARRAY or t == END_OBJECT:
            raise _RuleError("Match value must be String, number, true, false, or null", r)
    if not count:
        raise _RuleError("Empty arrays are not allowed", r)


def _string_operand(r: jsontext.Reader, op: str) -> None:
    if r.next_token() != STRING:
        raise _RuleError(f"{op} match pattern must be a string", r)
    r.text
    if r.next_token() != END_OBJECT:
        raise _RuleError("Only one key allowed in match expression", r)


def _match_expression(r: jsontext.Reader) -> None:
    if r.next_token() != FIELD_NAME:
        raise _RuleError("Match expression name not found", r)
    op = r.name
    if op == "exactly":
        _string_operand(r, "exact")
    elif op in ("prefix", "suffix", "equals-ignore-case"):
        _string_operand(r, op)
    elif op == "cidr":
        _string_operand(r, "prefix")
    elif op == "numeric":
        if r.next_token() != START_ARRAY:
            raise _RuleError("Value of numeric must be an array.", r)
        _numeric(r)
        if r.next_token() != END_OBJECT:
            raise _RuleError("Too many elements in numeric expression", r)
    elif op == "anything-but":
        t = r.next_token()
        if t == START_OBJECT:
            if r.next_token() != FIELD_NAME:
                raise _RuleError("Anything-But expression name not found", r)
            if r.name != "prefix":   # the only anything-but form SNS documents
                raise _RuleError(f"Unsupported anything-but pattern: {r.name}", r)
            if r.next_token() != STRING:
                raise _RuleError("prefix match pattern must be a string", r)
            if not r.text:
                raise _RuleError("Null prefix not allowed", r)
            if r.next_token() != END_OBJECT or r.next_token() != END_OBJECT:
                raise _RuleError("Only one key allowed in match expression", r)
            return
        if t == START_ARRAY:
            kinds = set()
            while (t := r.next_token()) != END_ARRAY:
                if t == STRING:
                    r.text
                    kinds.add(STRING)
                elif t in NUMBERS:
                    kinds.add(t)
                else:
                    raise _RuleError("Inside anything but list, start|null|boolean is not supported.", r)
            if (STRING in kinds) == bool(kinds & {jsontext.INT, jsontext.FLOAT}):
                raise _RuleError("Inside anything but list, either all values are number or string, mixed type "
                                 "is not supported", r)
        elif t == STRING:
            r.text
        elif t not in NUMBERS:
            raise _RuleError("Value of anything-but must be an array or single string/number value.", r)
        if r.next_token() != END_OBJECT:
            raise _RuleError("Too many elements in numeric expression", r)
    elif op == "exists":
        if r.next_token() not in (jsontext.TRUE, jsontext.FALSE):
            raise _RuleError("exists match pattern must be either true or false.", r)
        if r.next_token() != END_OBJECT:
            raise _RuleError("Only one key allowed in match expression", r)
    else:
        raise _RuleError(f"Unrecognized match type {op}", r)


_NUMERIC_OPS = {"=": "equals", ">=": ">=", ">": ">", "<=": "<=", "<": "<"}


def _numeric(r: jsontext.Reader) -> None:
    """The body of {"numeric": [...]}, after its "[": the compiler's checks, in its order."""
    if r.next_token() != STRING:
        raise _RuleError(f"Invalid member in numeric match: {r.text}", r)
    op = r.text
    t = r.next_token()
    if op not in _NUMERIC_OPS:
        raise _RuleError(f"Unrecognized numeric range operator: {op}", r)
    if t not in NUMBERS:
        raise _RuleError(f"Value of {_NUMERIC_OPS[op]} must be numeric", r)
    bottom = float(r.text)
    t = r.next_token()
    if t == END_ARRAY:
        return
    if op not in (">", ">="):
        raise _RuleError("Too many elements in numeric expression", r)
    if t != STRING:
        raise _RuleError(f"Bad value in numeric range: {r.text}", r)
    op2 = r.text
    if op2 not in ("<", "<="):
        raise _RuleError(f"Bad numeric range operator: {op2}", r)
    if r.next_token() not in NUMBERS:
        raise _RuleError(f"Value of {op2} must be numeric", r)
    top = float(r.text)
    if r.next_token() != END_ARRAY:
        raise _RuleError("Too many terms in numeric range expression", r)
    if not bottom < top:
        raise _RuleError("Bottom must be less than top", r)


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
            value = scalar(cond)
            if value is not None:
                exact.add(value)
            continue
        (op, value), = cond.items()
        if op == "exactly":
            exact.add(value)
        elif op == "prefix":
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
    """(lo, lo inclusive, hi, hi inclusive) in the scaled integers numbers are compared as."""
    lo, lo_incl, hi, hi_incl = -math.inf, False, math.inf, False
    op, value = terms[0], number(terms[1])
    if op == "=":
        return value, True, value, True
    if op in (">", ">="):
        lo, lo_incl = value, op == ">="
    else:
        hi, hi_incl = value, op == "<="
    if len(terms) == 4:
        hi, hi_incl = number(terms[3]), terms[2] == "<="
    return lo, lo_incl, hi, hi_incl


def _range_test(lo, lo_incl, hi, hi_incl):
    def test(values):
        for v in values:
            if v.__class__ is int and (lo < v or (lo_incl and v == lo)) and (v < hi or (hi_incl and v == hi)):
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
    if isinstance(value, dict):   # {"prefix": ...}, the one form validation lets through
        pattern = value["prefix"]
        return lambda vs: not any(v.__class__ is str and v.startswith(pattern) for v in vs)
    items = value if isinstance(value, list) else [value]
    excluded = frozenset(v for v in map(scalar, items) if v is not None)
    return excluded.isdisjoint


__all__ = ["parse_policy", "validate", "compile_policy", "attribute_values", "body_values", "scalar",
           "TRUE", "FALSE", "NULL", "MESSAGE_ATTRIBUTES", "MESSAGE_BODY", "SCOPES"]

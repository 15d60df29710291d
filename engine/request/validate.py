"""One request validator for every client, compiled per operation from botocore's input shape.

Two kinds of refusal, as against AWS:
- what boto3 refuses before sending (types, required and unknown members, `min` lengths and
  ranges) raises botocore's ParamValidationError with botocore's own report text;
- what the service refuses (`max`, `pattern`, `enum`) raises the service's validation error
  with AWS's "N validation error(s) detected: Value '...' at '...' failed to satisfy
  constraint: ..." message.

Speed: each operation gets a generated Python function that only answers "is this request
certainly valid?" with inline checks (no per-member calls, no error bookkeeping). Only a
request it doubts takes the slow path: botocore's ParamValidator for the exact report, then
a walk for the service-side constraints. Members a client checks column-wise on its hot path
(PutRecords entries) are left to that client in the fast check.
"""
from __future__ import annotations

import datetime
import re

from botocore.validate import ParamValidator

from ..errors import ParamValidationError, error_class
from . import service_models

# Services whose model constraints the service enforces itself, with the code it answers.
# SQS and SNS check their few modelled constraints in their own models, with their own codes.
CONSTRAINT_ERROR_CODES = {
    "kinesis": "ValidationException",
    "firehose": "ValidationException",
    "glue": "InvalidInputException",
    "lambda": "ValidationException",
    "mq": "BadRequestException",
}

# (service, operation) -> top-level list members whose entries the client checks column-wise.
COLUMN_CHECKED = {
    ("kinesis", "PutRecords"): frozenset({"Records"}),
}

# Where the engine knowingly accepts more than AWS: (service, shape name) -> the pattern used.
# Firehose HTTP endpoints may be plain http:// so that local test receivers need no TLS.
RELAXED_PATTERNS = {
    ("firehose", "HttpEndpointUrl"): r"https?://.*",
}

_SCALARS = {"string", "integer", "long", "float", "double", "boolean", "blob", "timestamp"}


# --- Java regular expressions (the models' dialect) -> Python ------------------------------
# Python's re has no Unicode categories. The models use them only inside character classes,
# where these admit every character the Java class admits (a little more where Python has no
# exact set): better to accept a rare odd value than to refuse a valid one.
_JAVA_CLASSES = {
    r"\p{L}": r"\w", r"\p{N}": r"\d", r"\p{Z}": r"\s",
    r"\p{P}": r"!-/:-@\[-`{-~\u00a1-\u00bf\u2010-\u2027",
}
_SURROGATE_PAIR = r"\uD800\uDC00-\uDBFF\uDFFF"   # Java's UTF-16 spelling of U+10000..U+10FFFF


def shape_pattern(service: str, shape) -> tuple[str | None, re.Pattern | None]:
    """The pattern a string shape must match, as the model states it and compiled."""
    pattern = RELAXED_PATTERNS.get((service, shape.name)) or shape.metadata.get("pattern")
    return pattern, (java_pattern(pattern) if pattern else None)


def java_pattern(pattern: str) -> re.Pattern | None:
    """The model's pattern as a compiled Python regex, or None if it cannot be translated
    (then the constraint is not checked: better to accept than to refuse wrongly)."""
    translated = pattern.replace(_SURROGATE_PAIR, r"\U00010000-\U0010FFFF")
    for java, python in _JAVA_CLASSES.items():
        translated = translated.replace(java, python)
    try:
        return re.compile(translated, re.DOTALL)
    except re.error:
        return None


# --- the fast check: generated code ----------------------------------------------------------
class _Generator:
    def __init__(self, service: str, skip: frozenset):
        self.service = service
        self.consts: dict[str, object] = {"datetime": datetime.datetime}
        self.functions: dict[str, str] = {}    # shape name -> function name
        self.sources: list[str] = []
        self.skip = skip
        self.counter = 0

    def const(self, value) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def structure_function(self, shape, top: bool = False) -> str:
        key = shape.name if not top else f"{shape.name}#top"
        if key in self.functions:
            return self.functions[key]
        fname = self.fresh("_s")
        self.functions[key] = fname
        # One pass over the members given (not over every member the model has): an if-chain
        # per key, required members first; an unknown key fails; a counter proves the required.
        lines = [f"def {fname}(v):", "    if type(v) is not dict: return False"]
        if shape.is_tagged_union:
            lines.append("    if len(v) != 1: return False")
        required = list(shape.required_members)
        members = shape.members
        ordered = required + [name for name in members if name not in required]
        if required:
            lines.append("    r = 0")
        lines.append("    for k, x in v.items():")
        for i, name in enumerate(ordered):
            lines.append(f"        {'if' if i == 0 else 'elif'} k == {name!r}:")
            body: list[str] = ["            r += 1"] if name in required else []
            if top and name in self.skip:
                # the client checks the entries column-wise; only the list itself here
                self.emit_list_bounds(members[name], "x", body, 3)
            else:
                self.emit(members[name], "x", body, 3)
            lines.extend(body or ["            pass"])
        lines.append("        else:\n            return False" if ordered else "        return False")
        lines.append(f"    return r == {len(required)}" if required else "    return True")
        self.sources.append("\n".join(lines))
        return fname

    def emit_list_bounds(self, shape, var, out, depth):
        pad = "    " * depth
        out.append(f"{pad}if type({var}) is not list and type({var}) is not tuple: return False")
        self.emit_bounds(shape, f"len({var})", out, depth)

    def emit_bounds(self, shape, expr, out, depth):
        pad = "    " * depth
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and hi is not None:
            out.append(f"{pad}if not ({lo!r} <= {expr} <= {hi!r}): return False")
        elif lo is not None:
            out.append(f"{pad}if {expr} < {lo!r}: return False")
        elif hi is not None:
            out.append(f"{pad}if {expr} > {hi!r}: return False")

    def emit(self, shape, var, out, depth):
        pad = "    " * depth
        kind = shape.type_name
        if getattr(shape, "is_document_type", False) or shape.serialization.get("jsonvalue"):
            out.append(f"{pad}return False")   # rare: let botocore judge
            return
        if kind == "structure":
            out.append(f"{pad}if not {self.structure_function(shape)}({var}): return False")
        elif kind == "list":
            self.emit_list_bounds(shape, var, out, depth)
            item = self.fresh("i")
            inner: list[str] = []
            self.emit(shape.member, item, inner, depth + 1)
            if inner:
                out.append(f"{pad}for {item} in {var}:")
                out.extend(inner)
        elif kind == "map":
            out.append(f"{pad}if type({var}) is not dict: return False")
            self.emit_bounds(shape, f"len({var})", out, depth)
            key, value = self.fresh("k"), self.fresh("m")
            inner = []
            self.emit(shape.key, key, inner, depth + 1)
            self.emit(shape.value, value, inner, depth + 1)
            out.append(f"{pad}for {key}, {value} in {var}.items():")
            out.extend(inner or [f"{pad}    pass"])
        elif kind == "string":
            out.append(f"{pad}if type({var}) is not str: return False")
            self.emit_bounds(shape, f"len({var})", out, depth)
            if shape.enum:
                out.append(f"{pad}if {var} not in {self.const(frozenset(shape.enum))}: return False")
            compiled = shape_pattern(self.service, shape)[1]
            if compiled is not None:
                out.append(f"{pad}if {self.const(compiled.fullmatch)}({var}) is None: return False")
        elif kind in ("integer", "long"):
            out.append(f"{pad}if type({var}) is not int: return False")
            self.emit_bounds(shape, var, out, depth)
        elif kind in ("float", "double"):
            out.append(f"{pad}if type({var}) is not float and type({var}) is not int: return False")
            self.emit_bounds(shape, var, out, depth)
        elif kind == "boolean":
            out.append(f"{pad}if type({var}) is not bool: return False")
        elif kind == "blob":
            out.append(f"{pad}if type({var}) is not bytes and type({var}) is not str "
                       f"and type({var}) is not bytearray: return False")
            self.emit_bounds(shape, f"len({var})", out, depth)
        elif kind == "timestamp":
            out.append(f"{pad}if not isinstance({var}, datetime) or type({var}) is bool: return False")
        else:
            out.append(f"{pad}return False")


def compile_fast_check(service: str, input_shape, skip: frozenset = frozenset()):
    gen = _Generator(service, skip)
    entry = gen.structure_function(input_shape, top=True)
    namespace = dict(gen.consts)
    exec(compile("\n\n".join(gen.sources), f"<validator {input_shape.name}>", "exec"), namespace)
    return namespace[entry]


# --- the slow path: service-side constraints, AWS's message -----------------------------------
def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _value_at(value, path: str) -> str:
    """AWS's "Value '...' at 'path'": scalars and lists of scalars are shown, structures not."""
    shown = _shown(value)
    return f"Value at '{path}'" if shown is None else f"Value '{shown}' at '{path}'"


def _shown(value) -> str | None:
    if isinstance(value, (bytes, bytearray)):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, dict):
        return None
    if isinstance(value, (list, tuple)):
        items = [_shown(v) for v in value]
        return None if None in items else "[" + ", ".join(items) + "]"
    return str(value)


def _scalar_violations(service: str, shape, value) -> list[str]:
    """Every constraint a scalar breaks (AWS lists each one as an error of its own)."""
    md = shape.metadata
    kind = shape.type_name
    found = []
    if kind in ("string", "blob"):
        if kind == "string":
            if shape.enum and value not in shape.enum:
                found.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
            pattern, compiled = shape_pattern(service, shape)
            if compiled is not None and isinstance(value, str) and compiled.fullmatch(value) is None:
                found.append(f"Member must satisfy regular expression pattern: {pattern}")
        size = len(value.encode("utf-8", "surrogatepass")) if kind == "blob" and isinstance(value, str) else \
            len(value) if isinstance(value, (str, bytes, bytearray)) else None
        if size is not None and "max" in md and size > md["max"]:
            found.append(f"Member must have length less than or equal to {md['max']}")
    elif kind in ("integer", "long", "float", "double") and not isinstance(value, bool):
        if "max" in md and value > md["max"]:
            found.append(f"Member must have value less than or equal to {md['max']}")
    return found


def constraint_violations(service: str, params, shape, path: str = "") -> list[str]:
    """AWS's per-member messages for the service-side constraints a (type-correct) request breaks."""
    found: list[str] = []
    kind = shape.type_name
    if kind == "structure" and isinstance(params, dict):
        for name, member in shape.members.items():
            if name in params:
                found += constraint_violations(service, params[name], member, f"{path}.{_camel(name)}" if path else _camel(name))
    elif kind == "list" and isinstance(params, (list, tuple)):
        if "max" in shape.metadata and len(params) > shape.metadata["max"]:
            found.append(f"{_value_at(params, path)} failed to satisfy constraint: "
                         f"Member must have length less than or equal to {shape.metadata['max']}")
        member = shape.member
        if member.type_name in _SCALARS:
            reasons = sorted({r for item in params for r in _scalar_violations(service, member, item)})
            if reasons:
                found.append(f"{_value_at(params, path)} failed to satisfy constraint: Member must "
                             f"satisfy constraint: [{', '.join(reasons)}]")
        else:
            for i, item in enumerate(params):
                found += constraint_violations(service, item, member, f"{path}.{i + 1}.member")
    elif kind == "map" and isinstance(params, dict):
        if "max" in shape.metadata and len(params) > shape.metadata["max"]:
            found.append(f"Value at '{path}' failed to satisfy constraint: "
                         f"Member must have length less than or equal to {shape.metadata['max']}")
        for key, value in params.items():
            found += constraint_violations(service, key, shape.key, f"{path}.{key}.key")
            found += constraint_violations(service, value, shape.value, f"{path}.{key}.value")
    elif kind in _SCALARS:
        found += [f"{_value_at(params, path)} failed to satisfy constraint: {reason}"
                  for reason in _scalar_violations(service, shape, params)]
    return found


def constraint_message(violations: list[str]) -> str:
    n = len(violations)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(violations)


class _BotocoreValidator(ParamValidator):
    def _type_check_datetime(self, value):
        # botocore itself raises RuntimeError/OverflowError on some numbers (1e20): a value it
        # cannot read as a time is a value of the wrong type, reported the way botocore reports it.
        try:
            return super()._type_check_datetime(value)
        except Exception:
            return False


class OperationValidator:
    """Checks one operation's request; compiled on first use."""

    __slots__ = ("service", "operation", "shape", "fast", "constraint_error", "column_checked")

    def __init__(self, service: str, operation: str, input_shape):
        self.service = service
        self.operation = operation
        self.shape = input_shape
        skip = COLUMN_CHECKED.get((service, operation), frozenset())
        self.column_checked = bool(skip)
        self.fast = compile_fast_check(service, input_shape, skip)
        code = CONSTRAINT_ERROR_CODES.get(service)
        self.constraint_error = error_class(code) if code else None

    def __call__(self, params: dict) -> None:
        if not self.fast(params):
            self.judge(params)

    def judge(self, params: dict) -> None:
        """The slow path: raise what boto3, then the service, answers to this request, if anything.
        Also called when a column-checking client refused a request, so its answer is the model's."""
        report = _BotocoreValidator().validate(params, self.shape)
        if report.has_errors():
            raise ParamValidationError(report.generate_report())
        if self.constraint_error is not None:
            violations = constraint_violations(self.service, params, self.shape)
            if violations:
                raise self.constraint_error(constraint_message(violations))
        # The fast check is stricter than botocore in a few corners (bool for an integer,
        # a timestamp given as a string): botocore accepts them, and so does the service.


def validator_for(service: str, operation: str) -> OperationValidator | None:
    model = service_models.operation_model(service, operation)
    if model is None or model.input_shape is None:
        return None
    return OperationValidator(service, operation, model.input_shape)

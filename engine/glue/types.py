"""The one mapping between Arrow types and Glue (Hive) column type strings.

Glue -> Arrow (`parse_hive_type`) gives the schema Firehose converts records to; Arrow -> Glue
(`glue_type`) gives the column types of a table made from data (the CLI's inferred table, an
Iceberg table Firehose creates). Arrow types Hive has no exact name for map to the Hive type that
holds every value (uint32 -> bigint, float16 -> float, large_string -> string); parse_hive_type of
that name is the canonical Arrow type.
"""
from __future__ import annotations

import re

import pyarrow as pa

_PRIMITIVES = {
    "string": pa.string(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms"),
    "date": pa.date32(),
    "binary": pa.binary(),
}
# Hive's decimal without precision is decimal(10,0).
DECIMAL_DEFAULT = (10, 0)

_TOKEN = re.compile(r"\s*(?:(`[^`]*`)|([A-Za-z_][A-Za-z0-9_$.-]*)|(\d+)|(.))")


class HiveTypeError(ValueError):
    """A Glue column type string that is not a valid Hive type."""


class _TypeParser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                break
            quoted, word, number, other = m.groups()
            if quoted is not None:
                self.tokens.append(("name", quoted[1:-1]))
            elif word is not None:
                self.tokens.append(("word", word))
            elif number is not None:
                self.tokens.append(("num", int(number)))
            elif other is not None and not other.isspace():
                self.tokens.append(("sym", other))
            pos = m.end()
        self.i = 0

    def error(self, what: str) -> HiveTypeError:
        return HiveTypeError(f"Error: {what} in type string '{self.text}'")

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, kind=None, value=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise self.error(f"expected {value or kind} at position {self.i}")
        self.i += 1
        return tok[1]

    def parse(self) -> pa.DataType:
        t = self.type()
        if self.i != len(self.tokens):
            raise self.error(f"unexpected {self.peek()[1]!r}")
        return t

    def _int_args(self) -> list[int]:
        args = []
        if self.peek() == ("sym", "("):
            self.take("sym", "(")
            args.append(self.take("num"))
            while self.peek() == ("sym", ","):
                self.take("sym", ",")
                args.append(self.take("num"))
            self.take("sym", ")")
        return args

    def type(self) -> pa.DataType:
        kind, word = self.peek()
        if kind != "word":
            raise self.error("expected a type name")
        self.i += 1
        name = word.lower()
        if name in ("varchar", "char"):
            args = self._int_args()
            if len(args) != 1:
                raise self.error(f"{name} needs a length")
            return pa.string()
        if name == "decimal":
            args = self._int_args()
            precision, scale = (args + [None, None])[:2] if args else DECIMAL_DEFAULT
            if precision is None:
                precision = DECIMAL_DEFAULT[0]
            if scale is None:
                scale = 0
            if not 1 <= precision <= 38 or not 0 <= scale <= precision:
                raise self.error(f"invalid decimal({precision},{scale})")
            return pa.decimal128(precision, scale)
        if name == "array":
            self.take("sym", "<")
            item = self.type()
            self.take("sym", ">")
            return pa.list_(item)
        if name == "map":
            self.take("sym", "<")
            key = self.type()
            self.take("sym", ",")
            value = self.type()
            self.take("sym", ">")
            return pa.map_(key, value)
        if name == "struct":
            self.take("sym", "<")
            fields = []
            while True:
                kind, fname = self.peek()
                if kind not in ("word", "name"):
                    raise self.error("expected a struct field name")
                self.i += 1
                self.take("sym", ":")
                fields.append(pa.field(fname, self.type()))
                if self.peek() == ("sym", ","):
                    self.i += 1
                    continue
                break
            self.take("sym", ">")
            return pa.struct(fields)
        if name in _PRIMITIVES:
            return _PRIMITIVES[name]
        raise self.error(f"unknown type {word!r}")


def parse_hive_type(text: str) -> pa.DataType:
    """'array<struct<id:bigint,tags:map<string,string>>>' -> the pyarrow type."""
    if not isinstance(text, str) or not text.strip():
        raise HiveTypeError("Error: empty type string")
    return _TypeParser(text).parse()


# Arrow types whose Hive type is not the canonical one above: the type that holds every value.
_WIDER = {
    pa.uint8(): "smallint", pa.uint16(): "int", pa.uint32(): "bigint", pa.uint64(): "bigint",
    pa.float16(): "float", pa.large_string(): "string", pa.large_binary(): "binary", pa.date64(): "date",
    pa.null(): "string",
}
_CANONICAL = {t: name for name, t in _PRIMITIVES.items() if name != "integer"}


def glue_type(t: pa.DataType) -> str:
    """The Glue/Hive column type for an Arrow type (inverse of parse_hive_type on its canonical types)."""
    if pa.types.is_dictionary(t):
        return glue_type(t.value_type)
    name = _CANONICAL.get(t) or _WIDER.get(t)
    if name is not None:
        return name
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{glue_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{glue_type(t.key_type)},{glue_type(t.item_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.type)}" for f in t) + ">"
    raise HiveTypeError(f"no Glue type for Arrow type {t}")

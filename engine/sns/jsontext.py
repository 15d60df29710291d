"""JSON held in string parameters (policies, MessageStructure bodies, String.Array values):
parsed without recursion, within AWS's limits, and refused with the messages and positions AWS's
parser (Jackson) reports.

- `parse(text)` builds the document iteratively: a 5,000-deep array is a JsonSyntaxError (depth
  limit), never a RecursionError. Its errors read as Jackson 2.17+ writes them ("Unexpected
  character ('i' (code 105)): was expecting double-quote to start field name"), with the 1-based
  line and column of the offending character.
- `loads(text)` is the fast form for the publish path: the C decoder when the text cannot nest
  deeply, `parse` otherwise.
- `Reader` is the pull parser underneath, with Jackson's notion of the "current location" (where
  its input pointer stands after each token), which AWS's filter-policy errors quote.
- `dumps_compact(doc)` writes a document as Jackson writes a tree: no whitespace, doubles in Java's
  notation (AWS validates filter policies on that re-serialized text, so its columns refer to it).
"""
from __future__ import annotations

import json
import math
import re
from decimal import Decimal

from .. import limits

START_OBJECT, END_OBJECT, START_ARRAY, END_ARRAY, FIELD_NAME, STRING, INT, FLOAT, TRUE, FALSE, NULL = range(11)
NUMBERS = (INT, FLOAT)

REDACTED_SOURCE = "REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled)"
_VALID_VALUES = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
_PLAIN_CHUNK = re.compile(r'[^"\\\x00-\x1f]*')
_DIGITS = re.compile(r"[0-9]*")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS = {"t": ("true", TRUE), "f": ("false", FALSE), "n": ("null", NULL)}
# at most this many opening brackets: the C decoder cannot nest deeper than Python's stack allows
_SHALLOW_BRACKETS = 200


class JsonSyntaxError(ValueError):
    """Malformed (or too deep, or too long a number) JSON; `message` is Jackson's text without the
    location, `describe()` adds the location in Jackson's form."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def describe(self, source: str = REDACTED_SOURCE) -> str:
        if self.line is None:
            return self.message
        return f"{self.message}\n at [Source: {source}; line: {self.line}, column: {self.column}]"


def _char_desc(c: str) -> str:
    code = ord(c)
    if code < 32 or 127 <= code < 160:
        return f"(CTRL-CHAR, code {code})"
    if code > 255:
        return f"'{c}' (code {code} / 0x{code:x})"
    return f"'{c}' (code {code})"


def _ident_start(c: str) -> bool:
    return c.isalpha() or c in "$_"


def _ident_part(c: str) -> bool:
    return c.isalnum() or c in "$_"


class Reader:
    """Jackson's streaming parser, reduced to what AWS's error messages depend on: tokens in
    order, the field name, the token text, and the current location. After a field name the
    first character of its value has been read (and a number or literal entirely), and a
    string's body is read only when its text is asked for: the location moves as Jackson's."""

    __slots__ = ("s", "n", "pos", "row", "row_start", "kinds", "counts", "current", "pending", "incomplete",
                 "_text", "name", "max_depth")

    def __init__(self, text: str, max_depth: int = limits.SNS_JSON_DEPTH_MAX):
        self.s = text
        self.n = len(text)
        self.pos = 0
        self.row = 1
        self.row_start = 0
        self.kinds: list = []     # open containers: True for objects, False for arrays
        self.counts: list = []    # entries read in each open container
        self.current = None
        self.pending = None       # the value token already read after a field name
        self.incomplete = False   # a string token whose body is not consumed yet
        self._text = None
        self.name = None
        self.max_depth = max_depth

    # --- locations -------------------------------------------------------------------------
    def _column(self, index: int) -> int:
        """1-based column of `index`, in UTF-16 units as Java counts them."""
        segment = self.s[self.row_start:index]
        return len(segment) + sum(1 for c in segment if c > "\uffff") + 1

    def location(self) -> tuple[int, int]:
        """Jackson's current location: where the input pointer stands."""
        return self.row, self._column(self.pos)

    def _error(self, message: str, index: int) -> JsonSyntaxError:
        return JsonSyntaxError(message, self.row, self._column(index))

    def _unexpected(self, index: int, comment: str) -> JsonSyntaxError:
        return self._error(f"Unexpected character ({_char_desc(self.s[index])}): {comment}", index)

    def _eof(self, what: str) -> JsonSyntaxError:
        return self._error(f"Unexpected end-of-input{what}", self.n)

    # --- scanning ------------------------------------------------------------------------------
    def _skip_ws(self) -> int:
        """Index of the next non-blank character (not consumed), or -1 at the end."""
        s, i, n = self.s, self.pos, self.n
        while i < n:
            c = s[i]
            if c == " " or c == "\t":
                i += 1
            elif c == "\n" or c == "\r":
                i += 1
                if c == "\r" and i < n and s[i] == "\n":
                    i += 1
                self.row += 1
                self.row_start = i
            elif c < " ":
                self.pos = i
                raise self._error(f"Illegal character ({_char_desc(c)}): only regular white space (\\r, \\n, \\t) "
                                  "is allowed between tokens", i)
            else:
                self.pos = i
                return i
        self.pos = n
        return -1

    def _string_end(self, start: int, field_name: bool) -> tuple[str, int]:
        """The decoded string whose body starts at `start`; returns (text, index after the quote)."""
        s, n = self.s, self.n
        parts = []
        i = start
        while True:
            j = _PLAIN_CHUNK.match(s, i).end()
            if j > i:
                parts.append(s[i:j])
            if j >= n:
                raise self._eof(" in field name" if field_name else
                                ": was expecting closing quote for a string value")
            c = s[j]
            if c == '"':
                return "".join(parts), j + 1
            if c != "\\":
                raise self._error(f"Illegal unquoted character ({_char_desc(c)}): has to be escaped using "
                                  "backslash to be included in " + ("name" if field_name else "string value"), j)
            if j + 1 >= n:
                raise self._eof(" in character escape sequence")
            e = s[j + 1]
            plain = _ESCAPES.get(e)
            if plain is not None:
                parts.append(plain)
                i = j + 2
                continue
            if e != "u":
                raise self._error(f"Unrecognized character escape {_char_desc(e)}", j + 1)
            code = 0
            for k in range(j + 2, j + 6):
                if k >= n:
                    raise self._eof(" in character escape sequence")
                d = s[k]
                if d not in "0123456789abcdefABCDEF":
                    raise self._unexpected(k, "expected a hex-digit for character escape sequence")
                code = code * 16 + int(d, 16)
            parts.append(chr(code))
            i = j + 6

    def _number(self, start: int) -> int:
        """Scan a number starting at `start`; returns its kind, leaves pos at its terminator."""
        s, n = self.s, self.n
        i = start
        if s[i] == "-":
            i += 1
            if i >= n:
                raise self._eof(" in a Number value")
            if not "0" <= s[i] <= "9":
                raise self._unexpected(i, "expected digit (0-9) to follow minus sign, for valid numeric value")
        if s[i] == "0" and i + 1 < n and "0" <= s[i + 1] <= "9":
            raise self._error("Invalid numeric value: Leading zeroes not allowed", i + 1)
        i = _DIGITS.match(s, i).end()
        kind = INT
        if i < n and s[i] == ".":
            kind = FLOAT
            j = _DIGITS.match(s, i + 1).end()
            if j == i + 1:
                if j >= n:
                    raise self._eof(" in a Number value")
                raise self._unexpected(j, "Decimal point not followed by a digit")
            i = j
        if i < n and s[i] in "eE":
            kind = FLOAT
            i += 1
            if i < n and s[i] in "+-":
                i += 1
            j = _DIGITS.match(s, i).end()
            if j == i:
                if j >= n:
                    raise self._eof(" in a Number value")
                raise self._unexpected(j, "Exponent indicator not followed by a digit")
            i = j
        if i - start > limits.SNS_JSON_NUMBER_LENGTH_MAX:
            raise JsonSyntaxError(f"Number value length ({i - start}) exceeds the maximum allowed "
                                  f"({limits.SNS_JSON_NUMBER_LENGTH_MAX}, from "
                                  "`StreamReadConstraints.getMaxNumberLength()`)")
        self._text = s[start:i]
        self.pos = i
        return kind

    def _invalid_token(self, start: int, end: int) -> JsonSyntaxError:
        s, n = self.s, self.n
        while end < n and end - start < 256 and _ident_part(s[end]):
            end += 1
        return self._error(f"Unrecognized token '{s[start:end]}': was expecting {_VALID_VALUES}", end)

    def _value(self, i: int) -> int:
        """Read the value starting at index `i` as far as Jackson reads it on nextToken()."""
        s = self.s
        c = s[i]
        self.pos = i + 1
        if c == '"':
            self.incomplete = True
            self._text = None
            return STRING
        if c == "[":
            return START_ARRAY
        if c == "{":
            return START_OBJECT
        if c == "-" or "0" <= c <= "9":
            return self._number(i)
        literal = _LITERALS.get(c)
        if literal is not None:
            word, kind = literal
            end = i + len(word)
            if s.startswith(word, i) and not (end < self.n and _ident_part(s[end])):
                self.pos = end
                self._text = word
                return kind
            k = i + 1
            while k < end and k < self.n and s[k] == word[k - i]:
                k += 1
            raise self._invalid_token(i, k)
        if c == "]" or c == "}":
            raise self._unexpected(i, "expected a value")
        if c in "NI" and (s.startswith("NaN", i) or s.startswith("Infinity", i)):
            word = "NaN" if c == "N" else "Infinity"
            raise self._error(f"Non-standard token '{word}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` "
                              "to allow", i + len(word))
        if _ident_start(c):
            raise self._invalid_token(i, i + 1)
        raise self._unexpected(i, f"expected a valid value {_VALID_VALUES}")

    def _push(self, is_object: bool) -> None:
        if len(self.kinds) >= self.max_depth:
            raise JsonSyntaxError(f"Document nesting depth ({len(self.kinds) + 1}) exceeds the maximum allowed "
                                  f"({self.max_depth}, from `StreamReadConstraints.getMaxNestingDepth()`)")
        self.kinds.append(is_object)
        self.counts.append(0)

    # --- tokens --------------------------------------------------------------------------------
    def next_token(self):
        """The next token (None after the root value closes)."""
        if self.current == FIELD_NAME:
            t = self.pending
            self.pending = None
            if t == START_OBJECT or t == START_ARRAY:
                self._push(t == START_OBJECT)
            self.current = t
            return t
        if self.incomplete:
            self.incomplete = False
            if self._text is None:
                self._text, self.pos = self._string_end(self.pos, False)
        if not self.kinds and self.current is not None:
            self.current = None        # the root value is complete: what follows is not read
            return None
        i = self._skip_ws()
        if i < 0:
            if self.kinds:
                raise self._eof(f": expected close marker for {'Object' if self.kinds[-1] else 'Array'} "
                                f"(start marker at [Source: {REDACTED_SOURCE}; line: 1, column: 1])")
            raise JsonSyntaxError("No content to map due to end-of-input", self.row, self._column(self.n))
        s = self.s
        c = s[i]
        kinds = self.kinds
        if c == "]" or c == "}":
            if not kinds or kinds[-1] != (c == "}"):
                raise self._unexpected_close(i)
            self.pos = i + 1
            kinds.pop()
            self.counts.pop()
            self.current = END_OBJECT if c == "}" else END_ARRAY
            return self.current
        in_object = bool(kinds) and kinds[-1]
        if kinds and self.counts[-1]:
            if c != ",":
                raise self._unexpected(i, f"was expecting comma to separate {'Object' if in_object else 'Array'} "
                                          "entries")
            self.pos = i + 1
            i = self._skip_ws()
            if i < 0:
                raise self._eof(f" within/between {'Object' if in_object else 'Array'} entries")
            c = s[i]
        if kinds:
            self.counts[-1] += 1
        if in_object:
            if c != '"':
                raise self._unexpected(i, "was expecting double-quote to start field name")
            self.name, self.pos = self._string_end(i + 1, True)
            i = self._skip_ws()
            if i < 0:
                raise self._eof(" within/between Object entries")
            if s[i] != ":":
                raise self._unexpected(i, "was expecting a colon to separate field name and value")
            self.pos = i + 1
            i = self._skip_ws()
            if i < 0:
                raise self._eof(" within/between Object entries")
            self.pending = self._value(i)
            self.current = FIELD_NAME
            return FIELD_NAME
        t = self._value(i)
        if t == START_OBJECT or t == START_ARRAY:
            self._push(t == START_OBJECT)
        self.current = t
        return t

    def _unexpected_close(self, i: int) -> JsonSyntaxError:
        c = self.s[i]
        if not self.kinds:
            return self._unexpected(i, f"expected a valid value {_VALID_VALUES}")
        expected, kind = ("}", "Object") if self.kinds[-1] else ("]", "Array")
        return self._error(f"Unexpected close marker '{c}': expected '{expected}' (for {kind} starting at "
                           f"[Source: {REDACTED_SOURCE}; line: 1, column: 1])", i)

    @property
    def text(self) -> str:
        """The current token's text (reading a string's body now, as getText() does)."""
        if self.current == FIELD_NAME:
            return self.name
        if self.current == STRING and self.incomplete:
            self.incomplete = False
            self._text, self.pos = self._string_end(self.pos, False)
        if self.current in (START_OBJECT, END_OBJECT, START_ARRAY, END_ARRAY):
            return "{}[]"[(START_OBJECT, END_OBJECT, START_ARRAY, END_ARRAY).index(self.current)]
        return self._text


def _number_value(kind: int, text: str):
    if kind == INT:
        return int(text)
    return float(text)   # out of range -> inf, as Java's Double.parseDouble


def parse(text: str, *, trailing: bool = True, max_depth: int = limits.SNS_JSON_DEPTH_MAX):
    """The document in `text` (dicts, lists, str, int, float, True/False/None), built without
    recursion. `trailing`: ignore what follows the root value, as Jackson's readTree does."""
    r = Reader(text, max_depth)
    stack: list = []     # open containers
    keys: list = []      # the field name each open object is waiting to fill
    root = None
    while True:
        t = r.next_token()
        if t is None:
            break
        if t == FIELD_NAME:
            keys[-1] = r.name
            continue
        if t == END_OBJECT or t == END_ARRAY:
            value = stack.pop()
            keys.pop()
        elif t == START_OBJECT or t == START_ARRAY:
            stack.append({} if t == START_OBJECT else [])
            keys.append(None)
            continue
        elif t == STRING:
            value = r.text
        elif t == INT or t == FLOAT:
            value = _number_value(t, r.text)
        else:
            value = True if t == TRUE else False if t == FALSE else None
        if stack:
            parent = stack[-1]
            if parent.__class__ is dict:
                parent[keys[-1]] = value
            else:
                parent.append(value)
        else:
            root = value
            break
    if not trailing:
        i = r._skip_ws()
        if i >= 0:
            raise r._error("Trailing token (of type " + _token_name(r, i) + ") found after value", i)
    return root


def _token_name(r: Reader, i: int) -> str:
    c = r.s[i]
    return {"{": "START_OBJECT", "[": "START_ARRAY", '"': "VALUE_STRING"}.get(c, "VALUE")


def _reject_constant(name):
    raise ValueError(name)


def loads(text: str):
    """parse(text) with nothing allowed after the document, by the C decoder when it is safe."""
    if text.count("[") + text.count("{") <= _SHALLOW_BRACKETS:
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except ValueError as err:
            raise JsonSyntaxError(str(err)) from None
    return parse(text, trailing=False)


# --- writing as Jackson writes a tree -------------------------------------------------------------
_JAVA_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _java_string(s: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _JAVA_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04X}"), s) + '"'


def java_double(x: float) -> str:
    """Java's Double.toString: plain between 1e-3 and 1e7, else d.dddE±n; NaN/Infinity by name."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    digits, exponent = _shortest_digits(abs(x))
    sign = "-" if x < 0 else ""
    if 1e-3 <= abs(x) < 1e7:
        point = exponent + 1
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{exponent}"


def _shortest_digits(x: float) -> tuple[str, int]:
    """(significant digits, decimal exponent of the first digit) of the shortest repr of x > 0."""
    _, digits, exponent = Decimal(repr(x)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    return text, len(digits) + exponent - 1


def dumps_compact(doc) -> str:
    """`doc` as Jackson writes a tree: no spaces, doubles as Java prints them, NaN/Infinity as
    strings (WRITE_NAN_AS_STRINGS). Iterative."""
    out: list = []
    stack: list = [(doc, None)]
    while stack:
        node, sep = stack.pop()
        if sep is not None:
            out.append(sep)
        if node.__class__ is _Close:
            out.append(node.text)
            continue
        if isinstance(node, dict):
            out.append("{")
            stack.append((_CLOSE_OBJECT, None))
            items = list(node.items())
            for k, (key, value) in reversed(list(enumerate(items))):
                stack.append((value, ("," if k else "") + _java_string(str(key)) + ":"))
        elif isinstance(node, list):
            out.append("[")
            stack.append((_CLOSE_ARRAY, None))
            for k in range(len(node) - 1, -1, -1):
                stack.append((node[k], "," if k else None))
        elif node is True:
            out.append("true")
        elif node is False:
            out.append("false")
        elif node is None:
            out.append("null")
        elif isinstance(node, int):
            out.append(str(node))
        elif isinstance(node, float):
            text = java_double(node)
            out.append(text if math.isfinite(node) else f'"{text}"')
        else:
            out.append(_java_string(str(node)))
    return "".join(out)


class _Close:
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


_CLOSE_OBJECT = _Close("}")
_CLOSE_ARRAY = _Close("]")

__all__ = ["JsonSyntaxError", "Reader", "parse", "loads", "dumps_compact", "java_double", "REDACTED_SOURCE",
           "START_OBJECT", "END_OBJECT", "START_ARRAY", "END_ARRAY", "FIELD_NAME", "STRING", "INT", "FLOAT",
           "TRUE", "FALSE", "NULL", "NUMBERS"]

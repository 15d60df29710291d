"""S3 prefix expressions and partition keys.

Prefix and ErrorOutputPrefix may hold `!{namespace:value}` expressions (AWS "Custom Prefixes
for Amazon S3 Objects"):

    !{timestamp:<Java DateTimeFormatter pattern>}   arrival time of the oldest record in the object
    !{firehose:random-string}                      11 random characters, new for each instance
    !{firehose:error-output-type}                  processing-failed, format-conversion-failed, ...
    !{partitionKeyFromQuery:<key>}                 a MetadataExtraction (jq) key, dynamic partitioning
    !{partitionKeyFromLambda:<key>}                a key the transformation Lambda returned

Templates are parsed and validated once, at create/update time; rendering is a join of
precompiled parts. MetadataExtractionQuery is parsed here too (`{key: .a.b, ...}`).
"""
from __future__ import annotations

import datetime
import re
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import limits
from .errors import InvalidArgumentException

TIMESTAMP = "timestamp"
FIREHOSE = "firehose"
FROM_QUERY = "partitionKeyFromQuery"
FROM_LAMBDA = "partitionKeyFromLambda"
NAMESPACES = (TIMESTAMP, FIREHOSE, FROM_QUERY, FROM_LAMBDA)
RANDOM_STRING = "random-string"
ERROR_OUTPUT_TYPE = "error-output-type"

DEFAULT_TIME_PREFIX = "yyyy/MM/dd/HH/"

# error-output-type values, as AWS names the folders
PROCESSING_FAILED = "processing-failed"
FORMAT_CONVERSION_FAILED = "format-conversion-failed"
HTTP_ENDPOINT_FAILED = "http-endpoint-failed"


# --- Java DateTimeFormatter ------------------------------------------------------------
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _num(get: Callable[[datetime.datetime], int], count: int, max_count: int = 19):
    if count > max_count:
        raise ValueError(f"Too many pattern letters: {count}")
    return lambda dt: str(get(dt)).zfill(count)


def _text_or_num(get_num, names, count):
    if count <= 2:
        return _num(get_num, count)
    if count == 3:
        return lambda dt: names[get_num(dt) - 1][:3]
    if count == 4:
        return lambda dt: names[get_num(dt) - 1]
    if count == 5:
        return lambda dt: names[get_num(dt) - 1][0]
    raise ValueError(f"Too many pattern letters: {count}")


def _year(count):
    if count == 2:
        return lambda dt: f"{dt.year % 100:02d}"
    return _num(lambda dt: dt.year, count)


def _fraction(count):
    if count > 9:
        raise ValueError("Too many pattern letters: S")
    return lambda dt: f"{dt.microsecond:06d}{'000'}"[:count]


def _offset(dt: datetime.datetime, colon: bool, z_for_zero: bool) -> str:
    off = dt.utcoffset() or datetime.timedelta(0)
    total = int(off.total_seconds())
    if total == 0 and z_for_zero:
        return "Z"
    sign = "+" if total >= 0 else "-"
    hours, minutes = divmod(abs(total) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" if colon else f"{sign}{hours:02d}{minutes:02d}"


def _field(letter: str, count: int):
    if letter in "yu":
        return _year(count)
    if letter == "M" or letter == "L":
        return _text_or_num(lambda dt: dt.month, _MONTHS, count)
    if letter == "d":
        return _num(lambda dt: dt.day, count, 2)
    if letter == "D":
        return _num(lambda dt: dt.timetuple().tm_yday, count, 3)
    if letter == "H":
        return _num(lambda dt: dt.hour, count, 2)
    if letter == "k":
        return _num(lambda dt: dt.hour or 24, count, 2)
    if letter == "h":
        return _num(lambda dt: (dt.hour % 12) or 12, count, 2)
    if letter == "K":
        return _num(lambda dt: dt.hour % 12, count, 2)
    if letter == "m":
        return _num(lambda dt: dt.minute, count, 2)
    if letter == "s":
        return _num(lambda dt: dt.second, count, 2)
    if letter == "S":
        return _fraction(count)
    if letter == "n":
        return _num(lambda dt: dt.microsecond * 1000, count)
    if letter == "A":
        return _num(lambda dt: (dt.hour * 3600 + dt.minute * 60 + dt.second) * 1000 + dt.microsecond // 1000, count)
    if letter == "a":
        if count > 1:
            raise ValueError("Too many pattern letters: a")
        return lambda dt: "AM" if dt.hour < 12 else "PM"
    if letter in "Ec":
        if count > 5:
            raise ValueError(f"Too many pattern letters: {letter}")
        if count <= 3:
            return lambda dt: _DAYS[dt.weekday()][:3]
        if count == 4:
            return lambda dt: _DAYS[dt.weekday()]
        return lambda dt: _DAYS[dt.weekday()][0]
    if letter == "e":
        return _num(lambda dt: (dt.weekday() + 1) % 7 + 1, count, 2)   # US week: Sunday = 1
    if letter == "Q" or letter == "q":
        quarter = lambda dt: (dt.month - 1) // 3 + 1  # noqa: E731
        if count <= 2:
            return _num(quarter, count)
        if count == 3:
            return lambda dt: f"Q{quarter(dt)}"
        return lambda dt: ["1st", "2nd", "3rd", "4th"][quarter(dt) - 1] + " quarter"
    if letter == "w":
        return _num(lambda dt: dt.isocalendar()[1], count, 2)
    if letter == "G":
        return lambda dt: "AD" if count < 4 else "Anno Domini"
    if letter == "V":
        if count != 2:
            raise ValueError("Pattern letter count must be 2: V")
        return lambda dt: getattr(dt.tzinfo, "key", None) or "UTC"
    if letter == "z":
        return lambda dt: dt.tzname() or "UTC"
    if letter == "Z":
        return lambda dt: _offset(dt, count == 5, count == 5)
    if letter == "X":
        return lambda dt: _offset(dt, count >= 3, True)
    if letter == "x":
        return lambda dt: _offset(dt, count >= 3, False)
    if letter == "O":
        return lambda dt: "GMT" + ("" if not dt.utcoffset() else _offset(dt, True, False))
    raise ValueError(f"Unknown pattern letter: {letter}")


def compile_java_datetime(pattern: str) -> Callable[[datetime.datetime], str]:
    """A formatter for a java.time.format.DateTimeFormatter pattern ('yyyy-MM-dd', "HH'h'")."""
    parts: list = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "'":
            j = i + 1
            lit = []
            while True:
                if j >= n:
                    raise ValueError(f"Pattern ends with an incomplete string literal: {pattern}")
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        lit.append("'")
                        j += 2
                        continue
                    break
                lit.append(pattern[j])
                j += 1
            parts.append("'" if j == i + 1 else "".join(lit))
            i = j + 1
        elif ch.isascii() and ch.isalpha():
            j = i
            while j < n and pattern[j] == ch:
                j += 1
            parts.append(_field(ch, j - i))
            i = j
        elif ch in "#{}":
            raise ValueError(f"Pattern includes reserved character: '{ch}'")
        elif ch in "[]":
            i += 1   # optional sections print everything when formatting
        else:
            parts.append(ch)
            i += 1
    return lambda dt: "".join(p if isinstance(p, str) else p(dt) for p in parts)


# --- templates -------------------------------------------------------------------------
@dataclass
class Expression:
    namespace: str
    value: str
    text: str
    formatter: Optional[Callable] = None


@dataclass
class PrefixTemplate:
    """A parsed Prefix or ErrorOutputPrefix."""

    text: str
    parts: list = field(default_factory=list)   # str | Expression
    tz: datetime.tzinfo = datetime.timezone.utc

    @property
    def expressions(self) -> list[Expression]:
        return [p for p in self.parts if isinstance(p, Expression)]

    def has(self, namespace: str, value: Optional[str] = None) -> bool:
        return any(e.namespace == namespace and (value is None or e.value == value) for e in self.expressions)

    def keys(self, namespace: str) -> list[str]:
        return [e.value for e in self.expressions if e.namespace == namespace]

    def render(self, arrival_ms: int, error_type: Optional[str] = None,
               query_keys: Optional[dict] = None, lambda_keys: Optional[dict] = None) -> str:
        """Evaluate for an object whose oldest record arrived at `arrival_ms`."""
        dt = datetime.datetime.fromtimestamp(arrival_ms / 1000.0, tz=self.tz)
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.namespace == TIMESTAMP:
                out.append(part.formatter(dt))
            elif part.namespace == FIREHOSE:
                out.append(str(uuid.uuid4())[:limits.FIREHOSE_RANDOM_STRING_LEN]
                           if part.value == RANDOM_STRING else (error_type or ""))
            elif part.namespace == FROM_QUERY:
                out.append(str((query_keys or {}).get(part.value, "")))
            else:
                out.append(str((lambda_keys or {}).get(part.value, "")))
        return "".join(out)


def _invalid(message: str) -> InvalidArgumentException:
    return InvalidArgumentException(message)


def parse_template(text: str, field_name: str, tz: datetime.tzinfo = datetime.timezone.utc) -> PrefixTemplate:
    """Split a prefix into literal text and expressions; raise InvalidArgumentException as AWS does."""
    parts: list = []
    i = 0
    while True:
        j = text.find("!{", i)
        if j < 0:
            if text[i:]:
                parts.append(text[i:])
            break
        if j > i:
            parts.append(text[i:j])
        end = text.find("}", j)
        if end < 0:
            raise _invalid(f"{field_name} '{text}' contains an expression that is not closed: '{text[j:]}'.")
        body = text[j + 2:end]
        namespace, sep, value = body.partition(":")
        expr_text = text[j:end + 1]
        if not sep or namespace not in NAMESPACES:
            raise _invalid(f"The expression '{expr_text}' in {field_name} is not valid. Supported namespaces are "
                           f"{', '.join(NAMESPACES)}, used as !{{namespace:value}}.")
        if not value:
            raise _invalid(f"The expression '{expr_text}' in {field_name} has an empty value.")
        expr = Expression(namespace, value, expr_text)
        if namespace == TIMESTAMP:
            try:
                expr.formatter = compile_java_datetime(value)
            except ValueError as err:
                raise _invalid(f"The timestamp expression '{expr_text}' in {field_name} is not a valid "
                               f"DateTimeFormatter pattern: {err}") from None
        elif namespace == FIREHOSE and value not in (RANDOM_STRING, ERROR_OUTPUT_TYPE):
            raise _invalid(f"The expression '{expr_text}' in {field_name} is not valid. The firehose namespace "
                           f"supports {RANDOM_STRING} and {ERROR_OUTPUT_TYPE}.")
        parts.append(expr)
        i = end + 1
    return PrefixTemplate(text, parts, tz)


def timezone(name: Optional[str]) -> datetime.tzinfo:
    if not name or name == "UTC":
        return datetime.timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError   # (only a custom time zone needs the tz database)

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(f"CustomTimeZone {name} is not supported.") from None


@dataclass
class Prefixes:
    """The evaluated layout of one S3 destination: data prefix and error prefix."""

    prefix: PrefixTemplate
    error: PrefixTemplate

    def data_prefix(self, arrival_ms, query_keys=None, lambda_keys=None) -> str:
        return self.prefix.render(arrival_ms, None, query_keys, lambda_keys)

    def error_prefix(self, arrival_ms, error_type: str) -> str:
        return self.error.render(arrival_ms, error_type)


def build_prefixes(prefix: Optional[str], error_prefix: Optional[str], *, dynamic_partitioning: bool,
                   query_keys: Optional[set] = None, lambda_enabled: bool = False,
                   time_zone: Optional[str] = None) -> Prefixes:
    """Validate Prefix/ErrorOutputPrefix as AWS does and compile them (default time layout added)."""
    tz = timezone(time_zone)
    prefix = prefix or ""
    p = parse_template(prefix, "Prefix", tz)
    e = parse_template(error_prefix, "ErrorOutputPrefix", tz) if error_prefix else None

    if p.has(FIREHOSE, ERROR_OUTPUT_TYPE):
        raise _invalid("The !{firehose:error-output-type} expression is only valid in ErrorOutputPrefix; "
                       "Prefix can't contain it.")
    if e is None and p.expressions:
        raise _invalid("ErrorOutputPrefix cannot be null or empty when Prefix contains expressions. "
                       "Specify an ErrorOutputPrefix with !{firehose:error-output-type}.")
    if e is not None and e.expressions and not e.has(FIREHOSE, ERROR_OUTPUT_TYPE):
        raise _invalid("ErrorOutputPrefix contains expressions but no !{firehose:error-output-type}; "
                       "it must include at least one.")
    if e is not None and (e.has(FROM_QUERY) or e.has(FROM_LAMBDA)):
        raise _invalid("You can't use partitionKeyFromQuery or partitionKeyFromLambda expressions in "
                       "ErrorOutputPrefix.")
    uses_keys = p.has(FROM_QUERY) or p.has(FROM_LAMBDA)
    if uses_keys and not dynamic_partitioning:
        raise _invalid("Prefix contains partitionKeyFromQuery or partitionKeyFromLambda expressions, which "
                       "require DynamicPartitioningConfiguration to be enabled.")
    if dynamic_partitioning:
        if not uses_keys:
            raise _invalid("When dynamic partitioning is enabled, Prefix must contain at least one "
                           "partitionKeyFromQuery or partitionKeyFromLambda expression.")
        if e is None:
            raise _invalid("ErrorOutputPrefix is required when dynamic partitioning is enabled.")
        missing = [k for k in p.keys(FROM_QUERY) if k not in (query_keys or set())]
        if missing:
            raise _invalid(f"The partitionKeyFromQuery keys {missing} in Prefix are not defined by the "
                           "MetadataExtractionQuery of a MetadataExtraction processor.")
        if p.has(FROM_LAMBDA) and not lambda_enabled:
            raise _invalid("Prefix uses partitionKeyFromLambda but no Lambda processor is enabled.")

    time_tail = parse_template(f"!{{timestamp:{DEFAULT_TIME_PREFIX}}}", "Prefix", tz).parts
    if not p.has(TIMESTAMP) and not dynamic_partitioning:
        p.parts = p.parts + time_tail
    if e is None:
        # "<Prefix><error-output-type>/yyyy/MM/dd/HH/" (Prefix has no expressions here)
        e = parse_template(prefix + "!{firehose:error-output-type}/", "ErrorOutputPrefix", tz)
    if not e.has(TIMESTAMP):
        e.parts = e.parts + time_tail
    return Prefixes(p, e)


# --- MetadataExtractionQuery (jq subset) ----------------------------------------------
@dataclass
class KeyQuery:
    key: str
    path: list[str]
    text: str
    filters: list = field(default_factory=list)   # ("strftime", fmt) | ("tostring",) | ("ascii_downcase",) ...


_JQ_KEY = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*))\s*:\s*')
_JQ_SEG = re.compile(r'\.(?:([A-Za-z_][A-Za-z0-9_]*)|"((?:[^"\\]|\\.)*)"|\[\s*"((?:[^"\\]|\\.)*)"\s*\])')
_JQ_FILTER = re.compile(r'\s*\|\s*(?:(strftime|strflocaltime)\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)|'
                        r'(tostring|ascii_downcase|ascii_upcase|floor|tojson))')


def parse_metadata_query(query: str) -> list[KeyQuery]:
    """'{customer_id: .customer.id, year: .ts | strftime("%Y")}' -> key queries.

    Supports the documented MetadataExtraction forms: an object of keys mapped to field paths
    (.a.b, ."a-b", .["a b"]), optionally piped through strftime/tostring/ascii_downcase/ascii_upcase."""
    text = query.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise _invalid(f"MetadataExtractionQuery '{query}' is not a valid JQ object expression such as "
                       "{key: .field}.")
    body = text[1:-1]
    out: list[KeyQuery] = []
    pos = 0
    while pos < len(body):
        m = _JQ_KEY.match(body, pos)
        if not m:
            raise _invalid(f"MetadataExtractionQuery '{query}' is not valid near '{body[pos:].strip()}'.")
        key = m.group(1) if m.group(1) is not None else m.group(2)
        pos = m.end()
        path = []
        start = pos
        if body.startswith(".", pos) and not _JQ_SEG.match(body, pos):
            pos += 1   # "." alone: the whole record
        while True:
            s = _JQ_SEG.match(body, pos)
            if not s:
                break
            path.append(next(g for g in s.groups() if g is not None))
            pos = s.end()
        if pos == start:
            raise _invalid(f"MetadataExtractionQuery '{query}': key '{key}' must map to a field path like .field.")
        filters = []
        while True:
            f = _JQ_FILTER.match(body, pos)
            if not f:
                break
            filters.append(("strftime", f.group(2)) if f.group(1) else (f.group(3),))
            pos = f.end()
        rest = body[pos:].lstrip()
        if rest and not rest.startswith(","):
            raise _invalid(f"MetadataExtractionQuery '{query}' uses an unsupported JQ expression near '{rest}'.")
        out.append(KeyQuery(key, path, body[start:pos].strip(), filters))
        pos = len(body) - len(rest) + (1 if rest.startswith(",") else 0)
    if not out:
        raise _invalid(f"MetadataExtractionQuery '{query}' defines no keys.")
    return out

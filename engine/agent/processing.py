"""Records from lines, as the Kinesis Agent forms them: multi-line records by a start pattern, and
the dataProcessingOptions SINGLELINE, CSVTOJSON, LOGTOJSON (COMMONAPACHELOG, COMBINEDAPACHELOG,
APACHEERRORLOG, SYSLOG, or a matchPattern with customFieldNames) and ADDBRACKETS. Each converter
takes a record's bytes and returns the new bytes, or None to drop the record (a log line the
format does not match, as the Java agent skips it)."""
from __future__ import annotations

import json
import re
from typing import Callable

from .config import ConfigError

NEW_LINE = "\n"

# The Java agent's PatternConstants, in Python's regex dialect.
_INT = r"(?:[+-]?(?:[0-9]+))"
_POSINT = r"(?:[1-9][0-9]*)"
_NONNEGINT = r"(?:[0-9]+)"
_WORD = r"\w+"
_NOQUOTE = r'[^"]+'
_IP = r"(?:[\d\.]+)"
_HOSTNAME = r"(?:[\w\-]+)(?:\.(?:[\w\-]+))*(?:\.?|\b)"
_IPORHOST = rf"(?:{_HOSTNAME}|{_IP})"
_URIHOST = rf"(?:{_IPORHOST}(?::{_POSINT})?)"
_USER = r"(?:[a-zA-Z0-9._-]+)"
_MONTHDAY = r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])"
_DAY = r"(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)"
_MONTH = (r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?"
          r"|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b")
_YEAR = r"(?:[1-9]\d*)"
_TIME = r"(?:(?:2[0123]|[01]?[0-9]):(?:[0-5][0-9]):(?:(?:[0-5]?[0-9]|60)(?:[:\.,][0-9]+)?))"
_HTTPDATE = rf"(?:{_MONTHDAY}/{_MONTH}/{_YEAR}:{_TIME}\s{_INT})"
_ERRORTIME = rf"(?:{_DAY}\s+{_MONTH}\s+{_MONTHDAY}\s+{_TIME}\s+{_YEAR})"
_SYSLOGTIME = rf"(?:{_MONTH}\s+{_MONTHDAY}\s+{_TIME})"
_COMMON = (rf'^({_IPORHOST}) ({_USER}) ({_USER}) \[({_HTTPDATE})\] "({_NOQUOTE})" ({_INT}|\-) ({_INT}|\-)')
_COMBINED = _COMMON + rf' "({_NOQUOTE})" "({_NOQUOTE})"'

LOG_FORMATS = {
    "COMMONAPACHELOG": (_COMMON + ".*", ("host", "ident", "authuser", "datetime", "request", "response", "bytes"),
                        True),
    "COMBINEDAPACHELOG": (_COMBINED + ".*", ("host", "ident", "authuser", "datetime", "request", "response",
                                             "bytes", "referer", "agent"), True),
    "APACHEERRORLOG": (rf"^\[({_ERRORTIME})\] \[(?:({_WORD}):)?({_WORD})\] \[pid ({_NONNEGINT})(?::tid "
                       rf"({_NONNEGINT}))?\] \[client ({_URIHOST})\] (.*)",
                       ("timestamp", "module", "severity", "processid", "threadid", "client", "message"), True),
    "SYSLOG": (rf"^({_SYSLOGTIME}) (?:<{_NONNEGINT}.{_NONNEGINT}> )?({_USER}) ([\w\._/%-]+)(?:\[({_POSINT})\])?: (.*)",
               ("timestamp", "hostname", "program", "processid", "message"), False),
}

Converter = Callable[[bytes], "bytes | None"]


def _text(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text[:-1] if text.endswith(NEW_LINE) else text


def _json_line(mapping: dict) -> bytes:
    return (json.dumps(mapping, separators=(",", ":"), ensure_ascii=False) + NEW_LINE).encode("utf-8")


def single_line(data: bytes) -> bytes:
    """SINGLELINE: each line trimmed, the lines joined, one newline at the end."""
    lines = data.decode("utf-8", "replace").split(NEW_LINE)
    while lines and lines[-1] == "":     # Java's split drops trailing empty strings
        lines.pop()
    return ("".join(line.strip() for line in lines) + NEW_LINE).encode("utf-8")


def csv_to_json(option: dict) -> Converter:
    fields = option.get("customFieldNames")
    if not isinstance(fields, list) or not fields:
        raise ConfigError("CSVTOJSON needs customFieldNames")
    delimiter = re.compile(option.get("delimiter", ","))   # a regular expression, as Java's split takes it

    def convert(data: bytes) -> bytes:
        columns = delimiter.split(_text(data))
        return _json_line({name: columns[i] if i < len(columns) else None for i, name in enumerate(fields)})
    return convert


def log_to_json(option: dict) -> Converter:
    fmt = option.get("logFormat")
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"LOGTOJSON logFormat must be one of {', '.join(LOG_FORMATS)}: {fmt!r}")
    pattern, fields, dash_is_null = LOG_FORMATS[fmt]
    custom = option.get("customFieldNames")
    if option.get("matchPattern") is not None:
        if custom is None:
            raise ConfigError("LOGTOJSON: matchPattern needs customFieldNames")
        pattern, fields = option["matchPattern"], tuple(custom)
    elif custom is not None:
        if len(custom) != len(fields):
            raise ConfigError("Invalid custom field names for the selected log format. Please modify the field "
                              "names or specify the matchPattern")
        fields = tuple(custom)
    compiled = re.compile(pattern)
    if compiled.groups != len(fields):
        raise ConfigError(f"LOGTOJSON: the pattern has {compiled.groups} groups for {len(fields)} field names")

    def convert(data: bytes) -> bytes | None:
        match = compiled.fullmatch(_text(data))
        if match is None:
            return None
        values = match.groups()
        if dash_is_null:
            values = [None if v == "-" else v for v in values]
        return _json_line(dict(zip(fields, values)))
    return convert


def add_brackets(data: bytes) -> bytes:
    return b"{" + data.rstrip(b"\n") + b"}\n"


def build_chain(options) -> list[Converter]:
    chain = []
    for option in options:
        name = option.get("optionName")
        if name == "SINGLELINE":
            chain.append(single_line)
        elif name == "CSVTOJSON":
            chain.append(csv_to_json(option))
        elif name == "LOGTOJSON":
            chain.append(log_to_json(option))
        elif name == "ADDBRACKETS":
            chain.append(add_brackets)
        else:
            raise ConfigError(f"dataProcessingOptions: {name!r} is not supported (SINGLELINE, CSVTOJSON, "
                              "LOGTOJSON, ADDBRACKETS)")
    return chain


def apply_chain(chain: list[Converter], data: bytes) -> bytes | None:
    for convert in chain:
        data = convert(data)
        if data is None:
            return None
    return data


def truncate(data: bytes, limit: int, terminator: bytes) -> bytes:
    """A record longer than the service takes: cut, ending with truncatedRecordTerminator."""
    if len(data) <= limit:
        return data
    return data[:limit - len(terminator)] + terminator

"""Arrow record batches -> one JSON document per row, built column-wise with pyarrow.compute
(no Python loop per row for flat schemas; nested columns fall back to json.dumps)."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

NEEDS_ESCAPE = '[\\\\"\\x00-\\x1f]'
OTHER_CONTROL = '[\\x00-\\x07\\x0b\\x0e-\\x1f]'
_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f")]


def _quoted(strings: pa.Array) -> pa.Array:
    # One scan decides whether any escaping is needed at all (usually not).
    if pc.any(pc.match_substring_regex(strings, NEEDS_ESCAPE)).as_py():
        if pc.any(pc.match_substring_regex(strings, OTHER_CONTROL)).as_py():
            strings = pa.array([None if v is None else json.dumps(v)[1:-1] for v in strings.to_pylist()], pa.string())
        else:
            for raw, escaped in _ESCAPES:
                strings = pc.replace_substring(strings, raw, escaped)
    return pc.binary_join_element_wise('"', strings, '"', "")


def _column_json(column: pa.Array) -> pa.Array | None:
    t = column.type
    if pa.types.is_dictionary(t):
        column, t = column.cast(t.value_type), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        out = _quoted(column.cast(pa.string()))
    elif pa.types.is_boolean(t):
        out = pc.if_else(column, "true", "false")
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        out = column.cast(pa.string())
    elif pa.types.is_floating(t):
        finite = pc.is_finite(column)
        out = pc.if_else(finite, column.cast(pa.string()), "null")
    elif pa.types.is_timestamp(t):
        # Arrow's cast writes "YYYY-MM-DD hh:mm:ss[.fff]" (+ "Z" when zoned): ISO 8601, and far
        # faster than strftime.
        out = pc.binary_join_element_wise('"', column.cast(pa.string()), '"', "")
    elif pa.types.is_date(t):
        out = _quoted(column.cast(pa.string()))
    else:
        return None
    return pc.fill_null(out, "null")


def batch_to_json_lines(batch: pa.RecordBatch) -> pa.Array:
    """One JSON object per row, as a pyarrow string array."""
    pieces: list = []
    fallback = []
    for i, field in enumerate(batch.schema):
        encoded = _column_json(batch.column(i))
        if encoded is None:
            fallback.append(i)
            encoded = pa.array([json.dumps(v, default=str) for v in batch.column(i).to_pylist()], pa.string())
        prefix = ("{" if not pieces else ",") + json.dumps(field.name) + ":"
        pieces += [prefix, encoded]
    if not pieces:
        return pa.array(["{}"] * batch.num_rows, pa.string())
    pieces.append("}")
    return pc.binary_join_element_wise(*pieces, "")

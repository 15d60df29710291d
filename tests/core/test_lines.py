"""engine._core.split_lines: text blocks -> line records over the block (no copy).

Blank lines: the Kinesis Agent sends every line as a record, a blank one too (its
SingleLineSplitter cuts at each '\\n' and skips nothing: "TODO: Skip empty records"), so
`blank_records=True` gives each its own record. JSON Lines readers (pyarrow, DuckDB) skip blank
lines, which `engine ingest` gets by leaving them in the record before (they parse as whitespace).
"""
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import _core


def split(text: bytes, final=False, **kw):
    records, taken = _core.split_lines(pa.py_buffer(text), final, **kw)
    return records.to_pylist(), taken


def oracle(text: bytes, final: bool, blank_records: bool):
    """Lines as the agent cuts them; blank ones then joined to the record before (or the first)."""
    lines = text.split(b"\n")
    lines = [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if final and lines[-1] else [])
    if blank_records:
        return lines, sum(map(len, lines))
    records, blank_head = [], b""
    for line in lines:
        if line.strip(b" \t\r\n"):
            records.append(blank_head + line)
            blank_head = b""
        elif records:
            records[-1] += line
        else:
            blank_head += line
    taken = sum(map(len, records)) if records else (len(text) if final else 0)
    return records, taken


def test_a_blank_line_is_a_record_of_its_own_for_the_agent():
    assert split(b"a\n\nb\n", blank_records=True) == ([b"a\n", b"\n", b"b\n"], 5)
    assert split(b"\r\n  \nx", blank_records=True) == ([b"\r\n", b"  \n"], 5)   # x waits for its newline
    assert split(b"\n\n\n", blank_records=True) == ([b"\n"] * 3, 3)


def test_blank_lines_join_the_record_before_for_json_lines():
    assert split(b"a\n\nb\n") == ([b"a\n\n", b"b\n"], 5)
    assert split(b"\n \na\n") == ([b"\n \na\n"], 5)           # leading blanks: the first record's
    assert split(b"\n\n") == ([], 0) and split(b"\n\n", True) == ([], 2)   # nothing but blanks


def test_a_last_line_without_newline_is_taken_only_when_final():
    for blank in (False, True):
        assert split(b"a\nb", blank_records=blank) == ([b"a\n"], 2)
        assert split(b"a\nb", True, blank_records=blank) == ([b"a\n", b"b"], 3)


@given(st.lists(st.sampled_from([b"", b" ", b"\t", b"\r", b"x", b'{"a": 1}']), max_size=12), st.booleans(),
       st.booleans())
def test_records_match_the_line_oracle_and_cover_the_text(parts, final, blank_records):
    text = b"\n".join(parts)
    records, taken = split(text, final, blank_records=blank_records)
    assert (records, taken) == oracle(text, final, blank_records)
    assert b"".join(records) == text[:taken] or not records


def test_offsets_room_is_checked_for_the_mode():
    text = b"\n" * 100
    small = np.empty(_core.offsets_room(len(text)), dtype=np.int64)
    assert len(split(text, True)[0]) == 0
    _core.split_lines(pa.py_buffer(text), True, small)
    with pytest.raises(_core.CoreValueError):
        _core.split_lines(pa.py_buffer(text), True, small, blank_records=True)
    room = np.empty(_core.offsets_room(len(text), True), dtype=np.int64)
    records, taken = _core.split_lines(pa.py_buffer(text), True, room, blank_records=True)
    assert len(records) == 100 and taken == 100

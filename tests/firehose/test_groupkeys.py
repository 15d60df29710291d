"""The C grouping of partition keys (_core.group_keys) against a plain Python grouping."""
import numpy as np
import pyarrow as pa
import pytest

from engine import _core


def _reference(columns):
    values = list(zip(*[c.to_pylist() for c in columns]))
    groups: dict = {}
    for row, value in enumerate(values):
        groups.setdefault(value, []).append(row)
    return list(groups.values())


def _groups(columns):
    order, bounds, firsts = _core.group_keys(columns)
    out = [order[bounds[g]:bounds[g + 1]].tolist() for g in range(len(firsts))]
    assert [rows[0] for rows in out] == firsts.tolist()
    return out


def test_groups_in_first_row_order_with_null_apart_from_empty():
    dt = pa.array(["x", "y", None, "x", "", "y", "x", None, ""])
    hour = pa.array(["1", "1", "1", "1", "1", "2", "1", "1", None])
    assert _groups([dt, hour]) == [[0, 3, 6], [1], [2, 7], [4], [5], [8]] == _reference([dt, hour])


def test_sliced_chunked_and_large_columns():
    rng = np.random.default_rng(1)
    a = pa.array([f"k{i}" for i in rng.integers(0, 50, 5000)])
    b = pa.array([None if i == 0 else "é" * int(i) for i in rng.integers(0, 4, 5000)], pa.large_string())
    cols = [a.slice(17, 4000), b.slice(17, 4000)]
    assert _groups(cols) == _reference(cols)
    chunked = pa.chunked_array([a.slice(0, 100), a.slice(100, 4900)])
    assert _groups([chunked]) == _reference([a])


def test_many_groups_and_keys_that_differ_only_past_eight_bytes():
    keys = pa.array([f"same-prefix-{i % 3000}" for i in range(9000)])
    assert _groups([keys]) == _reference([keys])


def test_empty_and_mismatched():
    order, bounds, firsts = _core.group_keys([pa.array([], pa.string())])
    assert len(order) == 0 and bounds.tolist() == [0] and len(firsts) == 0
    with pytest.raises(_core.CoreValueError):
        _core.group_keys([pa.array(["a"]), pa.array(["a", "b"])])
    with pytest.raises(_core.CoreValueError):
        _core.group_keys([pa.array([1, 2])])

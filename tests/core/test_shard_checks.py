"""check_batch on several threads: the same first faulty row, fault and bytes as one pass."""
import pyarrow as pa
import pytest

from engine import _core

N = 10_001


def _report(keys, data, threads):
    r = _core.check_batch(pa.array(keys), pa.array(data, pa.binary()), 1, 8, 20, threads)
    return r.fault, r.row, r.bytes


@pytest.mark.parametrize("threads", [2, 3, 8])
@pytest.mark.parametrize("bad_rows, bad", [
    ([], None),
    ([0], ("", _core.BATCH_KEY_LENGTH)),
    ([N - 1], ("k" * 9, _core.BATCH_KEY_LENGTH)),
    ([5_000, 9_000], ("\udcff", _core.BATCH_KEY_TEXT)),    # a lone surrogate: not valid UTF-8
    ([3_334, 7_000], ("k", _core.BATCH_RECORD_SIZE)),      # with 20 data bytes, over 20
])
def test_threads_find_the_first_fault_and_sum_the_bytes_before_it(threads, bad_rows, bad):
    keys, data = ["key"] * N, [b"x" * (i % 5) for i in range(N)]
    for row in bad_rows:
        key, fault = bad
        if fault == _core.BATCH_RECORD_SIZE:
            data[row] = b"y" * 20
        elif fault == _core.BATCH_KEY_TEXT:
            keys[row] = None
        else:
            keys[row] = key
    if bad == ("\udcff", _core.BATCH_KEY_TEXT):          # raw bytes: pyarrow refuses to build such str
        arr = pa.array([k.encode() if k else b"\xff" for k in keys], pa.binary())
        one = _core.check_batch(arr, pa.array(data, pa.binary()), 1, 8, 20, 1)
        many = _core.check_batch(arr, pa.array(data, pa.binary()), 1, 8, 20, threads)
        assert (many.fault, many.row, many.bytes) == (one.fault, one.row, one.bytes) == \
            (_core.BATCH_KEY_TEXT, bad_rows[0], one.bytes)
        return
    one = _report(keys, data, 1)
    assert _report(keys, data, threads) == one
    expected_row = bad_rows[0] if bad_rows else -1
    assert one[:2] == ((bad[1] if bad else _core.BATCH_OK), expected_row)
    rows = range(expected_row if bad_rows else N)
    assert one[2] == sum(len(keys[i].encode()) + len(data[i]) for i in rows)


@pytest.mark.parametrize("threads", [1, 3])
def test_the_mark_counts_the_records_whose_data_begins_with_it(threads):
    mark = b"\xf3\x89\x9a\xc2"
    data = [b"x" * (i % 5) for i in range(N)]
    for row in (0, 17, 5_000, N - 1):
        data[row] = mark + b"rest"
    data[18] = mark[:3]                          # shorter than the mark
    data[19] = b"." + mark                       # the mark, not at the start
    data[20] = mark[:3] + b"\x00"                # its first bytes only
    keys, values = pa.array(["key"] * N), pa.array(data, pa.binary())
    report = _core.check_batch(keys, values, 1, 8, 20, threads, mark)
    assert (report.fault, report.marked) == (_core.BATCH_OK, 4)
    assert _core.check_batch(keys, values, 1, 8, 20, threads).marked == 0       # no mark asked for
    assert _core.check_batch(keys, values, 1, 8, 20, threads, b"x").marked == sum(1 for d in data if d[:1] == b"x")

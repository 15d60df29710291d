"""Router.route hashes and routes a batch block by block on several threads: the same range
for every key as MD5 (hashlib) and a binary search over the range starts give."""
import bisect
import hashlib

import numpy as np
import pyarrow as pa
import pytest

from engine import _core


def _keys(n: int) -> pa.Array:
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 120, n)                  # short keys (eight lanes) and long ones (>= 56 bytes)
    alphabet = np.array(list("abcdefghij0123456789é€"))
    return pa.array(["".join(alphabet[rng.integers(0, len(alphabet), k)]) for k in lengths])


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("n", [0, 1, 9, 40_000])      # 40,000: several blocks of rows
def test_route_gives_each_key_the_range_its_md5_falls_in(threads, n):
    starts = [0, 1 << 64, 2**127, 2**127 + 5, 3 * 2**126]
    router = _core.Router(starts)
    keys = _keys(n)
    got = router.route(keys, None, threads)
    expected = [bisect.bisect_right(starts, int.from_bytes(hashlib.md5(k.encode()).digest(), "big")) - 1
                for k in keys.to_pylist()]
    assert got.dtype == np.int32 and got.tolist() == expected
    hi, lo = _core.md5_hash_keys(keys)
    assert router.route_hashes(hi, lo).tolist() == expected


def test_explicit_hash_keys_override_the_md5_of_their_rows():
    router = _core.Router([0, 2**127])
    keys = _keys(30_000)
    explicit = [None] * 30_000
    explicit[7], explicit[29_999] = str(2**127), "0"
    got = router.route(keys, explicit, 2)
    plain = router.route(keys, None, 2)
    assert got[7] == 1 and got[29_999] == 0
    mask = np.ones(30_000, bool)
    mask[[7, 29_999]] = False
    assert (got[mask] == plain[mask]).all()

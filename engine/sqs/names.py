"""Queue names in order, for listings that cost O(log n) to start whatever the account holds.

ListQueues (by prefix, after a NextToken) and ListDeadLetterSourceQueues page through names in
order; sorting every queue on each call costs O(n log n). SortedNames keeps the names in sorted
chunks of at most CHUNK, found by bisecting the chunks' first names: adding or removing a name
costs a bisect, an insertion into one chunk and, when a chunk splits or empties, a move of n/CHUNK
chunk pointers.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import islice

CHUNK = 512


class SortedNames:
    __slots__ = ("_chunks", "_firsts", "_n")

    def __init__(self) -> None:
        self._chunks: list[list[str]] = []
        self._firsts: list[str] = []  # first name of each chunk
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, name: str) -> None:
        if not self._chunks:
            self._chunks.append([name])
            self._firsts.append(name)
            self._n = 1
            return
        i = max(bisect_right(self._firsts, name) - 1, 0)
        chunk = self._chunks[i]
        k = bisect_left(chunk, name)
        if k < len(chunk) and chunk[k] == name:
            return
        chunk.insert(k, name)
        self._firsts[i] = chunk[0]
        self._n += 1
        if len(chunk) > 2 * CHUNK:
            self._chunks[i:i + 1] = [chunk[:CHUNK], chunk[CHUNK:]]
            self._firsts[i:i + 1] = [chunk[0], chunk[CHUNK]]

    def discard(self, name: str) -> None:
        i = bisect_right(self._firsts, name) - 1
        if i < 0:
            return
        chunk = self._chunks[i]
        k = bisect_left(chunk, name)
        if k == len(chunk) or chunk[k] != name:
            return
        del chunk[k]
        self._n -= 1
        if chunk:
            self._firsts[i] = chunk[0]
        else:
            del self._chunks[i]
            del self._firsts[i]

    def after(self, start: str = "", prefix: str = ""):
        """Names greater than `start` that begin with `prefix`, in order."""
        if prefix > start:
            key, find = prefix, bisect_left    # the prefix itself may be a name
        else:
            key, find = start, bisect_right    # start is excluded
        i = max(bisect_right(self._firsts, key) - 1, 0)
        skip = True
        for chunk in islice(self._chunks, i, None):
            for name in islice(chunk, find(chunk, key) if skip else 0, None):
                if not name.startswith(prefix):
                    return
                yield name
            skip = False


__all__ = ["SortedNames"]

"""Slots: items in insertion order, with O(1) append and removal and O(log n) paging.

A topic's confirmed subscriptions (what a publish fans out to), a topic's and an account's
subscriptions and an account's topics (what the List* calls page through) are kept this way, so
that no control-plane call rebuilds or scans a list that grows with the account (AWS allows 12.5
million subscriptions per topic).

- Each item remembers its position (in the attribute named by `slot`): removal writes None there.
- Holes are squeezed out once they outnumber the items: O(n) once per n/2 removals, amortized O(1).
- `keys` holds the increasing key of every position (holes keep theirs), so a page starts by
  bisection.
- Readers that take no lock (the publish path) take `items` once and iterate it: an append shows or
  not, a removal shows as None, a compaction swaps in a new list. Writers hold the owner's lock.
"""
from __future__ import annotations

import base64
from bisect import bisect_right
from typing import Callable

from .errors import invalid

_PAGE_KEY_DIGITS_MAX = 20   # page keys are creation counters

_COMPACT_MIN = 64   # holes tolerated whatever the size, so small lists are never compacted


class Slots:
    __slots__ = ("items", "keys", "live", "slot", "alive", "dropped")

    def __init__(self, slot: str, alive: Callable | None = None, dropped: Callable | None = None):
        self.items: list = []
        self.keys: list = []
        self.live = 0
        self.slot = slot          # the item attribute holding its position
        self.alive = alive        # items may also die without remove() (see forget)
        self.dropped = dropped    # called with each item a compaction drops as not alive

    def __len__(self) -> int:
        return self.live

    def append(self, item, key) -> None:
        setattr(item, self.slot, len(self.items))
        self.items.append(item)
        self.keys.append(key)
        self.live += 1

    def remove(self, item) -> bool:
        """Remove `item` if it is here; O(1) amortized."""
        i = getattr(item, self.slot, None)
        if i is None or self.items[i] is not item:
            return False
        self.items[i] = None
        setattr(item, self.slot, None)
        self.live -= 1
        self._maybe_compact()
        return True

    def forget(self, count: int) -> None:
        """`count` items died without remove() (their `alive` turned false): count them out now,
        drop them at the next compaction."""
        self.live -= count
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        if len(self.items) > 2 * self.live + _COMPACT_MIN:
            self.compact()

    def compact(self) -> None:
        items, keys = [], []
        alive, dropped, slot = self.alive, self.dropped, self.slot
        for item, key in zip(self.items, self.keys):
            if item is None:
                continue
            if alive is not None and not alive(item):
                setattr(item, slot, None)
                if dropped is not None:
                    dropped(item)
                continue
            setattr(item, slot, len(items))
            items.append(item)
            keys.append(key)
        self.keys = keys
        self.items = items
        self.live = len(items)

    def page(self, after, count: int) -> tuple[list, object]:
        """Up to `count` live items whose key is greater than `after` (None: from the start), and
        the key to continue after (None when nothing is left)."""
        items, keys, alive = self.items, self.keys, self.alive
        i = 0 if after is None else bisect_right(keys, after)
        out: list = []
        n = len(items)
        while i < n:
            item = items[i]
            if item is not None and (alive is None or alive(item)):
                if len(out) == count:
                    return out, keys[last]
                out.append(item)
                last = i
            i += 1
        return out, None



def page_token(key: int) -> str:
    """The NextToken of a page that ends at the item with this key."""
    return base64.urlsafe_b64encode(str(key).encode()).decode()


def page_key(token: str | None) -> int | None:
    """The position a NextToken stands for; a token this service did not write is refused."""
    if token is None:
        return None
    raw = token.encode("ascii", "replace")
    try:
        text = base64.b64decode(raw, altchars=b"-_", validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):   # binascii.Error is a ValueError
        text = ""
    if not text.isascii() or not text.isdigit() or len(text) > _PAGE_KEY_DIGITS_MAX:
        raise invalid("NextToken")
    return int(text)


__all__ = ["Slots", "page_token", "page_key"]

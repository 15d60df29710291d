"""JSON records -> Arrow columns and partition keys in one pass of the C core, on every core.

The core takes a plain subset of JSON exactly as pyarrow's reader does with an explicit schema
(csrc/jsoncols.h lists it) and marks every other record doubtful; those records go through the
complete readers in export.py, so results never depend on which path read a record. The
records are read where they lie (the buffer's Arrow chunks, no join, no copy); runs of records
are parsed on parallel threads with the GIL released, and the columns leave as Arrow buffers
that own the C memory.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pyarrow as pa

from .. import _core, limits
from .export import offsets

_SCALAR_KINDS = {
    pa.string(): _core.JC_STRING, pa.int8(): _core.JC_INT8, pa.int16(): _core.JC_INT16,
    pa.int32(): _core.JC_INT32, pa.int64(): _core.JC_INT64, pa.float32(): _core.JC_FLOAT32,
    pa.float64(): _core.JC_FLOAT64, pa.bool_(): _core.JC_BOOL, pa.date32(): _core.JC_DATE32,
}
_UNIT_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def field_kind(t: pa.DataType) -> Optional[tuple[int, int]]:
    """(kind, fraction digits) the core parses an Arrow type with, or None (complete reader only)."""
    if t in _SCALAR_KINDS:
        return _SCALAR_KINDS[t], 0
    if pa.types.is_timestamp(t) and t.tz is None:
        return _core.JC_TIMESTAMP, _UNIT_DIGITS[t.unit]
    return None


def parallel_map(fn: Callable, items: list, workers: Optional[int] = None,
                 cost: Optional[Callable] = None) -> list:
    """[fn(item) for item in items] on up to `workers` threads (default: parallelism()), this one
    included; results in order. With `cost`, the costliest items start first, so no thread is
    left with a large one at the end. At interpreter shutdown, when no thread can start, all run
    here."""
    items = list(items)
    results: list = [None] * len(items)
    errors: list = []
    lock = threading.Lock()
    position = iter(sorted(range(len(items)), key=lambda i: -cost(items[i])) if cost else range(len(items)))

    def work():
        while True:
            with lock:
                i = next(position, None)
            if i is None or errors:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(err)

    threads = []
    for _ in range(min(workers or parallelism(), len(items)) - 1):
        thread = threading.Thread(target=work, name="engine-parallel", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            break
        threads.append(thread)
    work()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def parallelism() -> int:
    return max(1, min(os.cpu_count() or 1, limits.FIREHOSE_PARSE_THREADS_MAX))


@dataclass
class Parsed:
    """What the core made of a run of records.

    table: the schema's columns for the records it took (None without a schema); row_of[i]: the
    row of record i in `table` and `keys`, -1 for a doubtful record; keys: {JSON name: string
    array} of the required key fields, one value per row."""

    table: Optional[pa.Table]
    row_of: np.ndarray
    keys: dict
    # the records grouped by their key members' values, [(values in key_names order, record
    # positions)] in the order of each group's first record, when the parse ahead grouped every
    # chunk (each record taken, each key a non-empty string); else None
    groups: Optional[list] = None
    key_names: list = field(default_factory=list)    # the key members, in the order of groups' values

    @property
    def doubtful(self) -> np.ndarray:
        return np.flatnonzero(self.row_of < 0)


class FastReader:
    """JSON records -> the columns of `schema` (each read from the JSON name `key_mapping` gives
    it, else its own name) and, as text, the top-level members `key_names`, for records whose
    every key member holds a JSON string or an integer."""

    def __init__(self, schema: Optional[pa.Schema], key_mapping: dict, key_names: list[str],
                 group_keys: bool = False):
        self.schema = schema
        fields: list[list] = []
        index: dict[str, int] = {}
        self._columns: list[tuple[int, pa.DataType]] = []
        for f in schema or []:
            kind, digits = field_kind(f.type)
            json_name = key_mapping.get(f.name, f.name)
            if json_name in index:      # two columns from one JSON member: the complete reader
                raise ValueError(f"two columns read the JSON member {json_name!r}")
            index[json_name] = len(fields)
            self._columns.append((len(fields), f.type))
            fields.append([json_name.encode("utf-8"), kind, digits, False])
        self._keys: list[tuple[str, int]] = []
        for name in dict.fromkeys(key_names):
            if name not in index:
                index[name] = len(fields)
                fields.append([name.encode("utf-8"), _core.JC_NONE, 0, True])
            fields[index[name]][3] = True
            self._keys.append((name, index[name]))
        self._plan = _core.JsonColumns([tuple(f) for f in fields])
        self.key_names = [name for name, _ in self._keys]
        self.group_keys = group_keys     # parse_chunk also groups the chunk's records by key_names

    @staticmethod
    def supports(schema: Optional[pa.Schema]) -> bool:
        return schema is None or all(field_kind(f.type) is not None for f in schema)

    def read(self, chunks: list[pa.Array], ahead: Optional[list] = None) -> Parsed:
        """Parse the records of `chunks` (binary arrays, no nulls) taken end to end. ahead[i]: a
        Future of parse_ahead(chunks[i]) by this reader, or None; a chunk whose parse has not
        started yet is parsed here instead."""
        n = sum(len(c) for c in chunks)
        ahead = ahead or [None] * len(chunks)
        pending = [i for i, future in enumerate(ahead) if future is None or future.cancel()]
        if len(pending) == len(chunks):
            sizes = np.concatenate([np.diff(offsets(c)) for c in chunks]) if n else np.zeros(0, dtype=np.int64)
            bounds = _split(sizes, parallelism())
            parts = parallel_map(lambda run: self._parse_run(chunks, run[0], run[1] - run[0]),
                                 list(zip(bounds[:-1], bounds[1:])))
        else:   # the started ones are waited for while the others are parsed here
            done = dict(zip(pending, parallel_map(self.parse_chunk, [chunks[i] for i in pending])))
            parts = [done[i] if i in done else ahead[i].result() for i in range(len(chunks))]
        groups = _merge_groups(parts)
        parts = [part[:3] for part in parts]
        doubt = np.concatenate([doubt for _, _, doubt in parts]) if parts else np.zeros(0, dtype=np.uint8)
        taken = doubt == 0
        row_of = np.full(n, -1, dtype=np.int64)
        row_of[taken] = np.arange(int(taken.sum()), dtype=np.int64)

        def column(position: int, which: int, t: pa.DataType) -> pa.ChunkedArray:
            return pa.chunked_array([_array(t, columns[position][which], rows) for columns, rows, _ in parts], t)

        table = None
        if self.schema is not None:
            table = pa.Table.from_arrays([column(position, 0, t) for position, t in self._columns],
                                         schema=self.schema)
        keys = {name: column(position, 1, pa.string()) for name, position in self._keys}
        return Parsed(table, row_of, keys, groups, self.key_names)

    def parse_chunk(self, chunk: pa.Array) -> tuple:
        """The core's output for one chunk (what read() takes from a parse_ahead future)."""
        return self._parse_run([chunk], 0, len(chunk))

    def _parse_run(self, chunks: list[pa.Array], start: int, count: int) -> tuple:
        """The core's output for `count` records from `start` and, with group_keys, their groups by
        key: a buffer's partitioning is then done on the threads that parse, ahead or at once."""
        part = self._plan.parse(chunks, start, count)
        return part + (self._group(part),)

    def _group(self, part: tuple) -> Optional[list]:
        """[(key values, row positions)] of one chunk's rows, or None unless every record was
        taken and every key is a non-empty string (the cases the buffer's own pass decides)."""
        columns, rows, doubt = part
        if not self.group_keys or not self._keys or rows != len(doubt):
            return None
        keys = [_array(pa.string(), columns[position][1], rows) for _, position in self._keys]
        if any(k.null_count or (rows and not (np.diff(offsets(k)) > 0).all()) for k in keys):
            return None
        if not rows:
            return []
        try:
            order, bounds, firsts = _core.group_keys(keys)
        except MemoryError:   # the grouping only saves the buffer's own pass: never a failure of its own
            return None
        return [(tuple(k[int(first)].as_py() for k in keys), order[bounds[g]:bounds[g + 1]])
                for g, first in enumerate(firsts)]


_ahead_pool: list = []
_ahead_lock = threading.Lock()


def parse_ahead(reader: FastReader, chunk: pa.Array) -> Optional[Future]:
    """Start reader's C pass over `chunk` on a background thread, so a buffer's records are
    parsed while they wait (the worker still writes the buffer before). None when no thread
    can start (interpreter shutdown): the worker parses the chunk then."""
    with _ahead_lock:
        if not _ahead_pool:
            _ahead_pool.append(ThreadPoolExecutor(parallelism(), thread_name_prefix="engine-parse-ahead"))
    try:
        return _ahead_pool[0].submit(reader.parse_chunk, chunk)
    except RuntimeError:
        return None


def _merge_groups(parts: list) -> Optional[list]:
    """The chunks' groups as one buffer's (positions offset by the rows before), or None unless
    every part was grouped."""
    if not parts or any(part[3] is None for part in parts):
        return None
    merged: dict = {}
    offset = 0
    for _, rows, _, groups in parts:
        for values, rows_of_group in groups:
            merged.setdefault(values, []).append(rows_of_group + offset)
        offset += rows
    return [(values, np.concatenate(runs)) for values, runs in merged.items()]


def _split(sizes: np.ndarray, parts: int) -> list[int]:
    """Record bounds cutting the run into `parts` runs of about the same bytes (none under
    FIREHOSE_PARSE_RUN_MIN_BYTES)."""
    n = len(sizes)
    total = int(sizes.sum())
    parts = max(1, min(parts, total // limits.FIREHOSE_PARSE_RUN_MIN_BYTES, n))
    if parts == 1:
        return [0, n]
    cumulative = np.cumsum(sizes)
    cuts = np.searchsorted(cumulative, [total * i // parts for i in range(1, parts)])
    return [0] + sorted(set(int(c) for c in cuts if 0 < c < n)) + [n]


def _array(t: pa.DataType, column: tuple, rows: int) -> pa.Array:
    validity, values, data, null_count = column
    buffers = [validity if null_count else None, values] + ([data] if data is not None else [])
    return pa.Array.from_buffers(t, rows, buffers, null_count=null_count)

"""Following the files of one flow: glob matches, new files, rotation by rename and by copy-truncate.

A file is known by its (device, inode). Each poll globs the pattern and:
- a known inode under a new name (rotation by rename) keeps being read through its open handle,
  and so does one that left the pattern (renamed away, deleted) until its end;
- a known inode now shorter than what was read was truncated (copy-truncate): it is read again
  from its start, and its position before the truncation is remembered with a digest of its
  first bytes, so the copy (a new inode with the same first bytes) goes on from there instead of
  being read twice;
- a new inode is read from its start, from its checkpoint, from where its original stopped (a
  copy), or, at the agent's very first start, from initialPosition.
Older files (by modification time) are read first, so rotated files finish before the new one.

Lines are split in C (engine._core.split_lines) over blocks of AGENT_READ_BLOCK_BYTES; a
partial last line waits for its newline.
"""
from __future__ import annotations

import glob
import hashlib
import os
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from .. import _core, limits


class Lines(NamedTuple):
    file: "TrackedFile"
    data: pa.Array          # large_binary, each line with its line end
    ends: np.ndarray        # byte offset in the file just after each line


class TrackedFile:
    def __init__(self, key: tuple, path: str, start: int):
        self.key = key
        self.path = path
        self.fh = open(path, "rb", buffering=0)
        self.read_pos = start          # next byte to read
        self.emitted = start           # just after the last record handed on
        self.committed = start         # just after the last record the destination acknowledged
        self.generation = 0            # bumped by a truncation: older records no longer commit here
        self.carry = b""               # a partial last line
        self.pending: list[bytes] = []  # lines of a multi-line record not complete yet
        self.pending_end = start
        self.header_left = 0
        self.head = b""
        self.head_len = 0
        self.gone = False
        self.waiting_for: TrackedFile | None = None   # a live original with a copy: wait for its truncation
        self.idle_since: float | None = None

    def close(self) -> None:
        self.fh.close()

    def refresh_head(self) -> None:
        if self.head_len < limits.AGENT_HEAD_BYTES:
            head = os.pread(self.fh.fileno(), limits.AGENT_HEAD_BYTES, 0)
            if len(head) > self.head_len:
                self.head, self.head_len = hashlib.md5(head).digest(), len(head)

    def read(self) -> Lines | None:
        """The complete lines after read_pos (one block), or None at the end."""
        # A fresh buffer per block (no copy of the block; records still buffered keep theirs alive),
        # the partial line carried over at its start.
        carry = len(self.carry)
        buf = np.empty(carry + limits.AGENT_READ_BLOCK_BYTES, dtype=np.uint8)
        buf[:carry] = np.frombuffer(self.carry, dtype=np.uint8)
        got = os.preadv(self.fh.fileno(), [memoryview(buf)[carry:]], self.read_pos)
        if not got:
            return None
        start = self.read_pos - carry
        self.read_pos += got
        data = buf[:carry + got]
        # every line its own record, a blank one too (as AWS's agent splits them)
        lines, taken = _core.split_lines(pa.py_buffer(data), False, blank_records=True)
        self.carry = data[taken:].tobytes()
        if not len(lines):
            return None
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
        return Lines(self, lines, start + offsets[1:])


def head_digest(path: str, length: int) -> bytes | None:
    try:
        with open(path, "rb") as f:
            head = f.read(length)
    except OSError:
        return None
    return hashlib.md5(head).digest() if len(head) == length else None


class Ghost(NamedTuple):
    """A truncated file's content before the truncation: its copy resumes at `position`."""
    head: bytes
    head_len: int
    position: int


class Tailer:
    """The files of one filePattern."""

    def __init__(self, pattern: str, first_start: bool, from_end: bool, skip_header_lines: int,
                 checkpoints: dict):
        self.pattern = pattern
        self.files: dict[tuple, TrackedFile] = {}
        self.ghosts: list[Ghost] = []
        self.first_start = first_start          # no checkpoint yet: initialPosition applies once
        self.from_end = from_end
        self.skip_header_lines = skip_header_lines
        self.checkpoints = dict(checkpoints)    # "dev:ino" -> {"offset", "head", "head_len"}, each used once

    def _start_of(self, key: tuple, path: str, size: int) -> tuple[int, "TrackedFile | None"]:
        """Where a newly seen file starts, and the live original it is a copy of (if any)."""
        own = f"{key[0]}:{key[1]}"   # its own checkpoint first, then one it is a copy of (made while stopped)
        for name in [own] + [n for n in self.checkpoints if n != own]:
            saved = self.checkpoints.get(name)
            if saved is not None and head_digest(path, saved["head_len"]) == bytes.fromhex(saved["head"]):
                del self.checkpoints[name]
                return min(saved["offset"], size), None
        for ghost in self.ghosts:
            if head_digest(path, ghost.head_len) == ghost.head:
                self.ghosts.remove(ghost)
                return min(ghost.position, size), None
        for original in self.files.values():
            if original.head_len and not original.gone and head_digest(path, original.head_len) == original.head:
                return min(original.emitted, size), original
        if self.first_start and self.from_end:
            return size, None
        return 0, None

    def poll(self) -> list[TrackedFile]:
        """Update the set of files; the ones to read, oldest first."""
        found = {}
        for path in glob.glob(self.pattern):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if os.path.isfile(path):
                found[(st.st_dev, st.st_ino)] = (path, st.st_size, st.st_mtime)
        for key, tracked in self.files.items():
            if key in found:
                path, size, _ = found[key]
                tracked.path, tracked.gone = path, False
                if size < tracked.read_pos:
                    self._truncated(tracked)
            else:
                tracked.gone = True
        for key, (path, size, _) in sorted(found.items(), key=lambda item: item[1][2]):
            if key not in self.files:
                start, original = self._start_of(key, path, size)
                try:
                    tracked = TrackedFile(key, path, start)
                except OSError:
                    continue
                if start == 0:
                    tracked.header_left = self.skip_header_lines
                if original is not None:
                    original.waiting_for = tracked
                tracked.refresh_head()
                self.files[key] = tracked
        self.first_start = False
        order = sorted(self.files.values(), key=lambda f: found.get(f.key, ("", 0, -1.0))[2])
        return [f for f in order if f.waiting_for is None or self._resume(f)]

    def _truncated(self, tracked: TrackedFile) -> None:
        if tracked.waiting_for is not None:   # its copy already took over from where it stood
            tracked.waiting_for = None
        elif tracked.head_len:
            self.ghosts.append(Ghost(tracked.head, tracked.head_len, tracked.emitted))
        tracked.read_pos = tracked.emitted = tracked.committed = tracked.pending_end = 0
        tracked.carry, tracked.pending = b"", []
        tracked.generation += 1
        tracked.head, tracked.head_len = b"", 0
        tracked.header_left = self.skip_header_lines

    def _resume(self, original: TrackedFile) -> bool:
        """A live original whose copy is being read: it goes on (past the copy) once the copy is
        read to its end and the original grew beyond it without being truncated."""
        copy = original.waiting_for
        size = os.fstat(original.fh.fileno()).st_size
        copy_size = os.fstat(copy.fh.fileno()).st_size
        if copy.read_pos >= copy_size and size > copy_size:
            original.waiting_for = None
            original.read_pos = original.emitted = original.pending_end = copy_size
            original.carry, original.pending = b"", []
            return True
        return False

    def drop(self, tracked: TrackedFile) -> None:
        """A file that left the pattern and was read to its end."""
        tracked.close()
        self.files.pop(tracked.key, None)

    def close(self) -> None:
        for tracked in self.files.values():
            tracked.close()

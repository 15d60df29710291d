"""Per-file checkpoints: for each flow, each file's (device:inode) acknowledged byte offset and the
digest of its first bytes (so a reused inode is not taken for the old file). Written whole to a
temporary file and renamed over the old one, so a crash leaves the old or the new, never half."""
from __future__ import annotations

import json
import os


def load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save(path: str, state: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

"""What every durable service does with files under the engine's data dir (issue 13): one engine
per directory, files replaced whole, resource names as file names.

<data_dir>/<service>/<account>/<region>/   a service's region, locked by its `.lock` file
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from urllib.parse import quote

FILE_NAME_MAX = 200     # a quoted name longer than this is hashed (file names stop at 255 bytes)
DOCUMENT_SUFFIX = ".json"


def lock_directory(path: str):
    """An exclusive lock on a directory's `.lock` file, held while the returned file is open
    (the kernel drops it when the process dies): two engines never write the same files."""
    f = open(os.path.join(path, ".lock"), "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise RuntimeError(f"{path} is in use by another engine") from None
    return f


def region_root(engine, service: str, region: str, account_id: str | None = None):
    """<data_dir>/<service>/<account>/<region>, created and locked, and its lock file;
    None, None for an in-memory engine."""
    if engine.durability == "memory":
        return None, None
    root = os.path.join(engine.data_dir, service, account_id or engine.account_id, region)
    os.makedirs(root, exist_ok=True)
    return root, lock_directory(root)


def file_name(name: str) -> str:
    """A file name for any resource name (names may hold '/' or be '..')."""
    quoted = "n-" + quote(name, safe="")
    if len(quoted) > FILE_NAME_MAX:
        return "h-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return quoted


def sync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: str, data: bytes, sync: str) -> None:
    """Replace a file whole: a crash leaves the old one or the new one, never a mix; fsync mode
    flushes the file and the rename to disk before returning. A write's error names the file."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if sync == "fsync":
                f.flush()
                os.fdatasync(f.fileno())
    except OSError as error:
        if error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror, tmp) from error
    os.replace(tmp, path)
    if sync == "fsync":
        sync_directory(os.path.dirname(path))


def save_document(path: str, doc, sync: str) -> None:
    replace_file(path, json.dumps(doc, separators=(",", ":")).encode(), sync)


def load_document(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def remove_document(path: str, sync: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    if sync == "fsync":
        sync_directory(os.path.dirname(path))


def documents(root: str):
    """The documents of a directory (leftover temporary files of a crash are removed)."""
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry.endswith(".tmp"):
            os.unlink(path)
        elif entry.endswith(DOCUMENT_SUFFIX):
            doc = load_document(path)
            if doc is not None:
                yield doc

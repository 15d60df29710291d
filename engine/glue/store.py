"""The Data Catalog's files under the engine's data dir (issue 13), and the small JSON-document
helpers the other control-plane stores (SNS, Firehose) share.

<data_dir>/glue/<account>/<region>/<database file>   one JSON document per database: the
    database and its tables, replaced whole (write, rename) after each change
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from urllib.parse import quote

from ..kinesis.store import lock_directory
from .models import Column, Database, SerDeInfo, StorageDescriptor, Table

FILE_NAME_MAX = 200     # a quoted name longer than this is hashed (file names stop at 255 bytes)
SUFFIX = ".json"


# --- shared helpers ------------------------------------------------------------------------
def region_root(engine, service: str, region: str):
    """<data_dir>/<service>/<account>/<region>, created and locked (one engine at a time), and
    its lock file; None, None for an in-memory engine."""
    if engine.durability == "memory":
        return None, None
    root = os.path.join(engine.data_dir, service, engine.account_id, region)
    os.makedirs(root, exist_ok=True)
    return root, lock_directory(root)


def file_name(name: str) -> str:
    """A file name for any resource name (names may hold '/' or be '..')."""
    quoted = "n-" + quote(name, safe="")
    if len(quoted) > FILE_NAME_MAX:
        return "h-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return quoted


def save_document(path: str, doc, sync: str) -> None:
    """Replace a JSON document whole: a crash leaves the old one or the new one, never a mix;
    fsync mode flushes the file and the rename to disk before returning."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        if sync == "fsync":
            f.flush()
            os.fdatasync(f.fileno())
    os.replace(tmp, path)
    if sync == "fsync":
        sync_directory(os.path.dirname(path))


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
    """The documents of a region directory (leftover temporary files of a crash are removed)."""
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry.endswith(".tmp"):
            os.unlink(path)
        elif entry.endswith(SUFFIX):
            doc = load_document(path)
            if doc is not None:
                yield doc


def sync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the catalog -------------------------------------------------------------------------
class CatalogStore:
    def __init__(self, root: str, sync: str):
        self.root = root
        self.sync = sync

    def _path(self, database: str) -> str:
        return os.path.join(self.root, file_name(database) + SUFFIX)

    def save(self, db: Database, tables: dict[str, Table]) -> None:
        save_document(self._path(db.name), {"database": dataclasses.asdict(db),
                                            "tables": [dataclasses.asdict(t) for t in tables.values()]}, self.sync)

    def remove(self, database: str) -> None:
        remove_document(self._path(database), self.sync)

    def load(self):
        """(Database, {name: Table}) of each stored database."""
        for doc in documents(self.root):
            db = Database(**doc["database"])
            yield db, {t["name"]: _table(t) for t in doc["tables"]}


def _column(d: dict) -> Column:
    return Column(**d)


def _table(d: dict) -> Table:
    s = dict(d["storage"])
    s["columns"] = [_column(c) for c in s["columns"]]
    if s["serde_info"] is not None:
        s["serde_info"] = SerDeInfo(**s["serde_info"])
    if s["sort_columns"] is not None:
        s["sort_columns"] = [tuple(c) for c in s["sort_columns"]]
    return Table(**{**d, "storage": StorageDescriptor(**s), "partition_keys": [_column(c) for c in d["partition_keys"]]})

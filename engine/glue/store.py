"""The Data Catalog's files under the engine's data dir (issue 13), and the small JSON-document
helpers the other control-plane stores (SNS, Firehose) share.

<data_dir>/glue/<account>/<region>/
    databases/<database>.json        a database, replaced whole (write, rename) after each change
    tables/<database>/<table>.json   a table of it, the same way (an Iceberg commit rewrites one)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from urllib.parse import quote

from ..kinesis.store import lock_directory
from .models import Column, Database, SerDeInfo, StorageDescriptor, Table

DATABASES_DIR = "databases"
TABLES_DIR = "tables"
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
        for directory in (DATABASES_DIR, TABLES_DIR):
            os.makedirs(os.path.join(root, directory), exist_ok=True)

    def _database_path(self, database: str) -> str:
        return os.path.join(self.root, DATABASES_DIR, file_name(database) + SUFFIX)

    def _tables_dir(self, database: str) -> str:
        return os.path.join(self.root, TABLES_DIR, file_name(database))

    def save_database(self, db: Database) -> None:
        os.makedirs(self._tables_dir(db.name), exist_ok=True)
        save_document(self._database_path(db.name), dataclasses.asdict(db), self.sync)

    def remove_database(self, database: str) -> None:
        """The database's file first: a crash after it leaves tables no database claims, removed
        at the next start."""
        remove_document(self._database_path(database), self.sync)
        shutil.rmtree(self._tables_dir(database), ignore_errors=True)

    def save_table(self, table: Table) -> None:
        save_document(os.path.join(self._tables_dir(table.database), file_name(table.name) + SUFFIX),
                      dataclasses.asdict(table), self.sync)

    def remove_table(self, database: str, name: str) -> None:
        remove_document(os.path.join(self._tables_dir(database), file_name(name) + SUFFIX), self.sync)

    def load(self):
        """(Database, {name: Table}) of each stored database."""
        claimed = set()
        for doc in documents(os.path.join(self.root, DATABASES_DIR)):
            db = Database(**doc)
            directory = self._tables_dir(db.name)
            claimed.add(os.path.basename(directory))
            tables = [_table(t) for t in documents(directory)] if os.path.isdir(directory) else []
            yield db, {t.name: t for t in tables}
        for entry in set(os.listdir(os.path.join(self.root, TABLES_DIR))) - claimed:
            shutil.rmtree(os.path.join(self.root, TABLES_DIR, entry), ignore_errors=True)


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

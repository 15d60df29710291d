"""The Data Catalog's files under the engine's data dir (issue 13).

<data_dir>/glue/<account>/<region>/
    databases/<database>.json        a database, replaced whole (write, rename) after each change
    tables/<database>/<table>.json   a table of it, the same way (an Iceberg commit rewrites one)
"""
from __future__ import annotations

import dataclasses
import os
import shutil

from ..datadir import DOCUMENT_SUFFIX, documents, file_name, remove_document, save_document
from .models import Column, Database, SerDeInfo, StorageDescriptor, Table

DATABASES_DIR = "databases"
TABLES_DIR = "tables"


# --- the catalog -------------------------------------------------------------------------
class CatalogStore:
    def __init__(self, root: str, sync: str):
        self.root = root
        self.sync = sync
        for directory in (DATABASES_DIR, TABLES_DIR):
            os.makedirs(os.path.join(root, directory), exist_ok=True)

    def _database_path(self, database: str) -> str:
        return os.path.join(self.root, DATABASES_DIR, file_name(database) + DOCUMENT_SUFFIX)

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
        save_document(os.path.join(self._tables_dir(table.database), file_name(table.name) + DOCUMENT_SUFFIX),
                      dataclasses.asdict(table), self.sync)

    def remove_table(self, database: str, name: str) -> None:
        remove_document(os.path.join(self._tables_dir(database), file_name(name) + DOCUMENT_SUFFIX), self.sync)

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

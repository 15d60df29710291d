"""Glue Data Catalog domain: databases, tables and columns (types: engine/glue/types.py).

Firehose's DataFormatConversionConfiguration names its output schema by DatabaseName and
TableName; `Table.arrow_schema()` is that schema. Glue stores database and table names in
lower case, as AWS does.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Optional

import pyarrow as pa

from ..datadir import region_root
from .errors import AlreadyExistsException, EntityNotFoundException, InvalidInputException
from .types import parse_hive_type


# --- catalog objects -------------------------------------------------------------------
@dataclass
class Column:
    name: str
    type: Optional[str] = None
    comment: Optional[str] = None
    parameters: Optional[dict] = None

    def arrow_type(self) -> pa.DataType:
        return parse_hive_type(self.type or "")


@dataclass
class SerDeInfo:
    name: Optional[str] = None
    serialization_library: Optional[str] = None
    parameters: Optional[dict] = None


@dataclass
class StorageDescriptor:
    columns: list[Column] = field(default_factory=list)
    location: Optional[str] = None
    input_format: Optional[str] = None
    output_format: Optional[str] = None
    compressed: Optional[bool] = None
    number_of_buckets: Optional[int] = None
    serde_info: Optional[SerDeInfo] = None
    bucket_columns: Optional[list[str]] = None
    sort_columns: Optional[list[tuple[str, int]]] = None
    parameters: Optional[dict] = None
    stored_as_sub_directories: Optional[bool] = None


@dataclass
class Database:
    name: str
    description: Optional[str] = None
    location_uri: Optional[str] = None
    parameters: dict = field(default_factory=dict)
    create_time: float = 0.0
    catalog_id: str = ""


@dataclass
class Table:
    name: str
    database: str
    storage: StorageDescriptor = field(default_factory=StorageDescriptor)
    partition_keys: list[Column] = field(default_factory=list)
    description: Optional[str] = None
    owner: Optional[str] = None
    retention: Optional[int] = None
    table_type: Optional[str] = None
    parameters: dict = field(default_factory=dict)
    create_time: float = 0.0
    update_time: float = 0.0
    catalog_id: str = ""
    version_id: int = 0

    def arrow_schema(self) -> pa.Schema:
        """The schema of the table's data files: its columns (partition keys live in the path).

        Raises HiveTypeError for a column whose type string Hive would not accept."""
        return pa.schema([pa.field(c.name, c.arrow_type()) for c in self.storage.columns])


class GlueBackend:
    """The Data Catalog of one account and region."""

    def __init__(self, engine, region: str):
        self.engine = engine
        self.region = region
        self.account_id = engine.account_id
        self.databases: dict[str, Database] = {}
        self.tables: dict[str, dict[str, Table]] = {}
        self._lock = threading.RLock()
        # Durable engines keep a file per database and per table (engine/glue/store.py).
        self._store = None
        from .store import CatalogStore
        root, self._root_lock = region_root(engine, "glue", region)
        if root is not None:
            self._store = CatalogStore(root, engine.durability)
            for db, tables in self._store.load():
                self.databases[db.name] = db
                self.tables[db.name] = tables


    # --- databases -------------------------------------------------------------------
    def create_database(self, name: str, description=None, location_uri=None, parameters=None) -> Database:
        key = name.lower()
        with self._lock:
            if key in self.databases:
                raise AlreadyExistsException("Database already exists.")
            db = Database(key, description, location_uri, dict(parameters or {}),
                          self.engine.clock.now(), self.account_id)
            self.databases[key] = db
            self.tables[key] = {}
            if self._store is not None:
                self._store.save_database(db)
            return db

    def get_database(self, name: str) -> Database:
        db = self.databases.get(name.lower())
        if db is None:
            raise EntityNotFoundException(f"Database {name} not found.")
        return db

    def delete_database(self, name: str) -> None:
        with self._lock:
            self.get_database(name)
            del self.databases[name.lower()]
            self.tables.pop(name.lower(), None)
            if self._store is not None:
                self._store.remove_database(name.lower())

    # --- tables ----------------------------------------------------------------------
    def create_table(self, database: str, table: Table) -> Table:
        with self._lock:
            db = self.get_database(database)
            tables = self.tables[db.name]
            table.name = table.name.lower()
            table.database = db.name
            if table.name in tables:
                raise AlreadyExistsException("Table already exists.")
            self._check_columns(table)
            now = self.engine.clock.now()
            table.create_time = table.update_time = now
            table.catalog_id = self.account_id
            table.version_id = 0
            tables[table.name] = table
            if self._store is not None:
                self._store.save_table(table)
            return table

    def get_table(self, database: str, name: str) -> Table:
        db = self.get_database(database)
        table = self.tables[db.name].get(name.lower())
        if table is None:
            raise EntityNotFoundException(f"Table {name} not found.")
        return table

    def update_table(self, database: str, table: Table, version_id: Optional[str] = None) -> Table:
        with self._lock:
            current = self.get_table(database, table.name)
            if version_id is not None and str(current.version_id) != str(version_id):
                from .errors import ConcurrentModificationException
                raise ConcurrentModificationException("Update table failed due to concurrent modifications.")
            self._check_columns(table)
            table.name = current.name
            table.database = current.database
            table.create_time = current.create_time
            table.update_time = self.engine.clock.now()
            table.catalog_id = current.catalog_id
            table.version_id = current.version_id + 1
            self.tables[current.database][current.name] = table
            if self._store is not None:
                self._store.save_table(table)
            return table

    def delete_table(self, database: str, name: str) -> None:
        with self._lock:
            table = self.get_table(database, name)
            del self.tables[table.database][table.name]
            if self._store is not None:
                self._store.remove_table(table.database, table.name)

    def list_tables(self, database: str) -> list[Table]:
        db = self.get_database(database)
        return [self.tables[db.name][n] for n in sorted(self.tables[db.name])]

    @staticmethod
    def _check_columns(table: Table) -> None:
        seen = set()
        for col in list(table.storage.columns) + list(table.partition_keys):
            if col.name.lower() in seen:
                raise InvalidInputException(f"Duplicate column name: {col.name}")
            seen.add(col.name.lower())

    def close(self) -> None:
        if self._root_lock is not None:
            self._root_lock.close()

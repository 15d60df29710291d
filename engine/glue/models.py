"""Glue Data Catalog domain: databases, tables, columns, and Hive type strings -> Arrow types.

Firehose's DataFormatConversionConfiguration names its output schema by DatabaseName and
TableName; `Table.arrow_schema()` is that schema. Glue stores database and table names in
lower case, as AWS does.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Optional

import pyarrow as pa

from .errors import AlreadyExistsException, EntityNotFoundException, InvalidInputException


# --- Hive / Glue type strings -----------------------------------------------------------
_PRIMITIVES = {
    "string": pa.string(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms"),
    "date": pa.date32(),
    "binary": pa.binary(),
}
# Hive's decimal without precision is decimal(10,0).
DECIMAL_DEFAULT = (10, 0)

_TOKEN = re.compile(r"\s*(?:(`[^`]*`)|([A-Za-z_][A-Za-z0-9_$.-]*)|(\d+)|(.))")


class HiveTypeError(ValueError):
    """A Glue column type string that is not a valid Hive type."""


class _TypeParser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                break
            quoted, word, number, other = m.groups()
            if quoted is not None:
                self.tokens.append(("name", quoted[1:-1]))
            elif word is not None:
                self.tokens.append(("word", word))
            elif number is not None:
                self.tokens.append(("num", int(number)))
            elif other is not None and not other.isspace():
                self.tokens.append(("sym", other))
            pos = m.end()
        self.i = 0

    def error(self, what: str) -> HiveTypeError:
        return HiveTypeError(f"Error: {what} in type string '{self.text}'")

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, kind=None, value=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise self.error(f"expected {value or kind} at position {self.i}")
        self.i += 1
        return tok[1]

    def parse(self) -> pa.DataType:
        t = self.type()
        if self.i != len(self.tokens):
            raise self.error(f"unexpected {self.peek()[1]!r}")
        return t

    def _int_args(self) -> list[int]:
        args = []
        if self.peek() == ("sym", "("):
            self.take("sym", "(")
            args.append(self.take("num"))
            while self.peek() == ("sym", ","):
                self.take("sym", ",")
                args.append(self.take("num"))
            self.take("sym", ")")
        return args

    def type(self) -> pa.DataType:
        kind, word = self.peek()
        if kind != "word":
            raise self.error("expected a type name")
        self.i += 1
        name = word.lower()
        if name in ("varchar", "char"):
            args = self._int_args()
            if len(args) != 1:
                raise self.error(f"{name} needs a length")
            return pa.string()
        if name == "decimal":
            args = self._int_args()
            precision, scale = (args + [None, None])[:2] if args else DECIMAL_DEFAULT
            if precision is None:
                precision = DECIMAL_DEFAULT[0]
            if scale is None:
                scale = 0
            if not 1 <= precision <= 38 or not 0 <= scale <= precision:
                raise self.error(f"invalid decimal({precision},{scale})")
            return pa.decimal128(precision, scale)
        if name == "array":
            self.take("sym", "<")
            item = self.type()
            self.take("sym", ">")
            return pa.list_(item)
        if name == "map":
            self.take("sym", "<")
            key = self.type()
            self.take("sym", ",")
            value = self.type()
            self.take("sym", ">")
            return pa.map_(key, value)
        if name == "struct":
            self.take("sym", "<")
            fields = []
            while True:
                kind, fname = self.peek()
                if kind not in ("word", "name"):
                    raise self.error("expected a struct field name")
                self.i += 1
                self.take("sym", ":")
                fields.append(pa.field(fname, self.type()))
                if self.peek() == ("sym", ","):
                    self.i += 1
                    continue
                break
            self.take("sym", ">")
            return pa.struct(fields)
        if name in _PRIMITIVES:
            return _PRIMITIVES[name]
        raise self.error(f"unknown type {word!r}")


def parse_hive_type(text: str) -> pa.DataType:
    """'array<struct<id:bigint,tags:map<string,string>>>' -> the pyarrow type."""
    if not isinstance(text, str) or not text.strip():
        raise HiveTypeError("Error: empty type string")
    return _TypeParser(text).parse()


def hive_type_string(t: pa.DataType) -> str:
    """The Hive type string of a pyarrow type (inverse of parse_hive_type, canonical form)."""
    for name, prim in _PRIMITIVES.items():
        if t == prim and name not in ("integer",):
            return name
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_large_string(t):
        return "string"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{hive_type_string(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{hive_type_string(t.key_type)},{hive_type_string(t.item_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{hive_type_string(f.type)}" for f in t) + ">"
    raise HiveTypeError(f"no Hive type for {t}")


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
            return table

    def delete_table(self, database: str, name: str) -> None:
        with self._lock:
            table = self.get_table(database, name)
            del self.tables[table.database][table.name]

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
        pass

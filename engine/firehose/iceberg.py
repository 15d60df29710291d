"""Firehose -> Apache Iceberg tables (IcebergDestinationConfiguration), on pyiceberg.

The catalog is the engine's Glue Data Catalog, driven by pyiceberg's own GlueCatalog over the
engine's in-process glue client: a table is a Glue table whose Parameters hold
`table_type=ICEBERG` and `metadata_location`, and a commit is Glue's UpdateTable with the
VersionId read before it, so two writers racing on one table can't both win (optimistic
concurrency). pyiceberg retries a commit that lost the race on the refreshed table; when its
retries run out, the whole write is redone from a fresh load (FIREHOSE_ICEBERG_COMMIT_ATTEMPTS
times), and after that the delivery waits for its retry on the engine clock like any other.

Each table's share of a buffer is one pyiceberg transaction, committed once: deletes by
UniqueKeys, new columns (SchemaEvolutionConfiguration) and the appended rows become visible
together or not at all. Updates and deletes are copy-on-write: pyiceberg rewrites the data files
that hold matching rows (no equality-delete files), so every Iceberg reader sees the result.

Locations: WarehouseLocation `s3://bucket/prefix` maps to the engine's store like every other
Firehose object (`<s3_root>/bucket/prefix` as a file:// URI, or the object store's URI), so
pyiceberg, DuckDB or polars read the tables where they lie. pyiceberg is imported on the first
Iceberg delivery only.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from .. import limits
from ..arn import parse_arn
from ..glue.types import HiveTypeError, glue_type, parse_hive_type
from ..s3 import parse_s3_uri, store_for
from . import export
from .errors import InvalidArgumentException

OTF_KEYS = ("destinationDatabaseName", "destinationTableName", "operation")
INSERT, UPDATE, DELETE = "insert", "update", "delete"
OPERATIONS = (INSERT, UPDATE, DELETE)


class CommitError(Exception):
    """A table could not take a commit now (missing, unreachable, conflicting): retried, then the
    records go to the error output with this code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --- catalog and locations -------------------------------------------------------------------
def catalog_region(engine, catalog_arn: str) -> str:
    """The region of the engine's Glue catalog a CatalogARN names (this account's only)."""
    info = parse_arn(catalog_arn) or {}
    if info.get("service") != "glue" or info.get("account") != engine.account_id or \
            not str(info.get("resource", "")).startswith("catalog"):
        raise InvalidArgumentException(f"CatalogARN {catalog_arn} is not the Glue Data Catalog of account "
                                       f"{engine.account_id}.")
    return info["region"]


class _OpenWhileClosing:
    """The engine as Firehose's own catalog client sees it: open until the backends have closed.
    Engine.close() refuses users' calls first, then Firehose delivers what it buffered, and those
    commits must still reach the Glue backend (which closes after Firehose)."""

    _closed = False

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)


def make_catalog(engine, region: str):
    from pyiceberg.catalog.glue import GlueCatalog

    from ..glue.client import GlueClient

    return GlueCatalog(f"engine-{region}", client=GlueClient(_OpenWhileClosing(engine), region))


def warehouse_uri(engine, warehouse: str) -> str:
    """s3://bucket/prefix -> where the engine keeps that prefix, as a URI pyiceberg's FileIO reads."""
    bucket, key = parse_s3_uri(warehouse)
    store = store_for(engine)
    path = store.path(bucket, key.rstrip("/"))
    return f"file://{path}" if store.is_local else f"{store.filesystem.type_name}://{path}"


# --- routing ---------------------------------------------------------------------------------
def route(dest, queries, data: pa.Array, otf: Optional[list]):
    """Each record's table and operation, from the Lambda's otfMetadata, else the MetadataExtraction
    query's keys, else the one configured table. -> ({(database, table): (indices, operations or
    None when all insert)}, {index: (code, message)} for records that name no table or operation)."""
    n = len(data)
    default = dest.tables[0] if len(dest.tables) == 1 else None
    wanted = [q for q in queries if q.key in OTF_KEYS]
    from_lambda = otf is not None and any(m is not None for m in otf)
    if default is not None and not wanted and not from_lambda:
        return {(default.database, default.table): (np.arange(n, dtype=np.int64), None)}, {}
    columns = {key: pa.nulls(n, pa.string()) for key in OTF_KEYS}
    if wanted:
        extracted, _ = export.extract_keys(data, wanted)
        columns.update(extracted)
    if from_lambda:
        for key in OTF_KEYS:
            from_lambda = pa.array([None if m is None or m.get(key) is None else str(m.get(key)) for m in otf],
                                   pa.string())
            columns[key] = pc.coalesce(from_lambda, columns[key])
    database, table = columns["destinationDatabaseName"], columns["destinationTableName"]
    if default is not None:
        database = pc.coalesce(database, pa.scalar(default.database, pa.string()))
        table = pc.coalesce(table, pa.scalar(default.table, pa.string()))
    elif database.null_count:
        # a record naming only the table: the database of the one configured table of that name
        named = {}
        for t in dest.tables:
            named[t.table] = t.database if t.table not in named else None
        configured = pa.array([named.get(name) for name in table.to_pylist()], pa.string())
        database = pc.coalesce(database, configured)
    operation = pc.fill_null(pc.utf8_lower(columns["operation"]), INSERT)
    if dest.append_only:
        operation = pa.array(np.full(n, INSERT, dtype=object), pa.string())
    unrouted = {}
    missing = pc.or_(pc.is_null(database), pc.is_null(table)).to_numpy(zero_copy_only=False)
    bad_op = pc.invert(pc.is_in(operation, pa.array(OPERATIONS))).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(missing):
        unrouted[int(i)] = ("Iceberg.DestinationTableNotSpecified",
                            "The record names no destination table and the stream has no single default table.")
    for i in np.flatnonzero(bad_op & ~missing):
        unrouted[int(i)] = ("Iceberg.InvalidOperation",
                            f"The operation {operation[int(i)].as_py()!r} is not one of insert, update, delete.")
    routable = np.flatnonzero(~missing & ~bad_op)
    routes = {}
    if len(routable):
        names = pc.dictionary_encode(pc.binary_join_element_wise(database.take(routable), table.take(routable),
                                                                 "\x00"))
        group_of = names.indices.to_numpy(zero_copy_only=False)
        order = np.argsort(group_of, kind="stable")          # each table's records in arrival order
        bounds = np.searchsorted(group_of[order], np.arange(len(names.dictionary) + 1))
        ops = operation.take(routable).to_numpy(zero_copy_only=False)
        for g, name in enumerate(names.dictionary.to_pylist()):
            members = order[bounds[g]:bounds[g + 1]]
            group_ops = ops[members]
            db, tbl = name.split("\x00", 1)
            routes[(db, tbl)] = (routable[members], None if (group_ops == INSERT).all() else group_ops)
    return routes, unrouted


# --- one commit ------------------------------------------------------------------------------
def commit(engine, catalog, dest, database: str, table_name: str, data: pa.Array,
           operations: Optional[np.ndarray], convert: Callable) -> dict:
    """Write one table's records as one Iceberg commit. -> {index: (code, message)} for records
    the table could not take (the rest are committed). Raises CommitError when nothing could be.
    `convert(arrow schema)` reads the records as rows of that schema (the model's JSON reader):
    -> (rows, indices of the records they hold, {index: error message})."""
    from pyiceberg.exceptions import CommitFailedException

    config = dest.table_config(database, table_name)
    location = f"{warehouse_uri(engine, dest.warehouse)}/{database}.db/{table_name}" if dest.warehouse else None
    for _attempt in range(limits.FIREHOSE_ICEBERG_COMMIT_ATTEMPTS):
        table = _load_or_create(catalog, dest, config, database, table_name, data, location)
        try:
            return _write(table, dest, config, data, operations, convert)
        except CommitFailedException:
            continue     # another writer committed first: redo on top of its snapshot
        except CommitError:
            raise
        except Exception as err:  # noqa: BLE001 - storage or catalog failure: retried on the engine clock
            raise CommitError("Iceberg.WriteFailed", f"{type(err).__name__}: {err}") from None
    raise CommitError("Iceberg.CommitConflict", f"{limits.FIREHOSE_ICEBERG_COMMIT_ATTEMPTS} commits to "
                                                f"{database}.{table_name} in a row lost to concurrent writers.")


def _load_or_create(catalog, dest, config, database: str, table_name: str, data: pa.Array, location):
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError, TableAlreadyExistsError

    try:
        return catalog.load_table((database, table_name))
    except NoSuchTableError:
        if not dest.table_creation:
            raise CommitError("Iceberg.TableNotFound", f"The table {database}.{table_name} does not exist in "
                                                       "the Glue Data Catalog.") from None
    except Exception as err:  # noqa: BLE001 - a Glue table that is not an Iceberg table, unreadable metadata
        raise CommitError("Iceberg.TableNotReadable", f"{type(err).__name__}: {err}") from None
    schema = _inferred_schema(data)
    if schema is None:
        raise CommitError("Iceberg.SchemaNotInferred", "No schema could be inferred from the records to create "
                                                       f"{database}.{table_name}.")
    try:
        table = catalog.create_table((database, table_name), schema=schema, location=location)
    except TableAlreadyExistsError:     # another stream created it first
        return catalog.load_table((database, table_name))
    except NoSuchNamespaceError:
        raise CommitError("Iceberg.DatabaseNotFound", f"The database {database} does not exist in the Glue Data "
                                                      "Catalog.") from None
    partition_fields = [c for c in (config.partition_fields if config else []) if c in schema.names]
    if partition_fields:
        with table.update_spec() as spec:
            for column in partition_fields:
                spec.add_identity(column)
    return table


def _inferred_schema(data: pa.Array) -> Optional[pa.Schema]:
    """The columns of JSON records as the Glue types would hold them (the one Arrow<->Glue mapping),
    or None if they don't read as JSON objects with consistent types."""
    try:
        buf, newlines = export.newline_joined(data)
        inferred = pajson.read_json(pa.BufferReader(buf), parse_options=pajson.ParseOptions(
            newlines_in_values=newlines != len(data))).schema
        return pa.schema([pa.field(f.name, parse_hive_type(glue_type(f.type))) for f in inferred])
    except (pa.ArrowInvalid, HiveTypeError):
        return None


def _write(table, dest, config, data: pa.Array, operations: Optional[np.ndarray], convert: Callable) -> dict:
    target = table.schema().as_arrow()
    rejected: dict = {}
    with table.transaction() as tx:
        if dest.schema_evolution:
            target = _evolve(tx, target, data)
        rows, good, failed = convert(_readable(target))
        for i, message in failed.items():
            rejected[i] = ("Iceberg.MalformedData", message)
        rows = rows.cast(target)
        if operations is None:
            if rows.num_rows:
                tx.append(rows)
            return rejected
        keys = list(config.unique_keys) if config and config.unique_keys else \
            list(table.schema().identifier_field_names())
        ops = operations[good]
        if not keys:
            for i in good[ops != INSERT]:
                rejected[int(i)] = ("Iceberg.UniqueKeysMissing", "Update and delete need UniqueKeys in the "
                                    "table's DestinationTableConfiguration (or identifier fields in the table).")
            keep = ops == INSERT
            rows, ops = rows.filter(pa.array(keep)), ops[keep]
            if rows.num_rows:
                tx.append(rows)
            return rejected
        appended, deleted_keys = _replay(rows, ops, keys)
        if deleted_keys:
            tx.delete(delete_filter=_key_filter(keys, deleted_keys))
        if appended.num_rows:
            tx.append(appended)
    return rejected


def _readable(schema: pa.Schema) -> pa.Schema:
    """The table's Arrow schema in the types the JSON converter reads (the Glue mapping's)."""
    return pa.schema([pa.field(f.name, parse_hive_type(glue_type(f.type))) for f in schema])


def _evolve(tx, target: pa.Schema, data: pa.Array) -> pa.Schema:
    """Add the top-level fields the records have and the table lacks; -> the new Arrow schema."""
    inferred = _inferred_schema(data)
    if inferred is None:
        return target
    new = [f for f in inferred if f.name not in target.names]
    if not new:
        return target
    with tx.update_schema() as update:
        update.union_by_name(pa.schema(new))
    return tx.table_metadata.schema().as_arrow()


def _replay(rows: pa.Table, ops: np.ndarray, keys: list[str]):
    """Apply a flush's operations in order, per key: the rows to append and the keys whose rows in
    the table go (every key an update or delete touches). An update or delete replaces what the
    table and the flush's earlier records hold for its key; an insert after it adds to that."""
    key_values = list(zip(*(rows.column(k).to_pylist() for k in keys)))
    last_change = {}
    for i, op in enumerate(ops):
        if op != INSERT:
            last_change[key_values[i]] = i
    keep = [op == UPDATE if last_change.get(key_values[i]) == i else
            op == INSERT and last_change.get(key_values[i], -1) < i
            for i, op in enumerate(ops)]
    return rows.filter(pa.array(keep, pa.bool_())), list(last_change)


def _key_filter(keys: list[str], values: list[tuple]):
    from pyiceberg.expressions import And, EqualTo, In, IsNull, Or

    def equal(name, value):
        return IsNull(name) if value is None else EqualTo(name, value)

    if len(keys) == 1:
        present = [v[0] for v in values if v[0] is not None]
        expr = In(keys[0], present) if present else None
        if len(present) != len(values):
            expr = IsNull(keys[0]) if expr is None else Or(expr, IsNull(keys[0]))
        return expr
    terms = [And(*[equal(k, v) for k, v in zip(keys, value)]) for value in values]
    return terms[0] if len(terms) == 1 else Or(*terms)

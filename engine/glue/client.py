"""boto3-shaped Glue client (the Data Catalog subset Firehose needs)."""
from __future__ import annotations

import datetime

from ..client_base import BaseClient, check_dict, check_int, check_list, check_str, constraint_message
from . import errors
from .errors import InvalidInputException
from .models import Column, Database, SerDeInfo, StorageDescriptor, Table

_NAME_MAX = 255


def _ts(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


def _check_name(field: str, value) -> str:
    check_str(field, value)
    if not 1 <= len(value) <= _NAME_MAX:
        raise InvalidInputException(
            constraint_message(field, value, f"Member must have length between 1 and {_NAME_MAX}"))
    return value


def _columns(name: str, value) -> list[Column]:
    out = []
    for i, col in enumerate(check_list(name, value or [])):
        check_dict(f"{name}[{i}]", col)
        out.append(Column(_check_name("name", col.get("Name")), col.get("Type"), col.get("Comment"),
                          col.get("Parameters")))
    return out


def _column_dict(col: Column) -> dict:
    out = {"Name": col.name}
    if col.type is not None:
        out["Type"] = col.type
    if col.comment is not None:
        out["Comment"] = col.comment
    if col.parameters:
        out["Parameters"] = dict(col.parameters)
    return out


def _table_from_input(table_input: dict) -> Table:
    check_dict("TableInput", table_input)
    name = _check_name("tableInput.name", table_input.get("Name"))
    sd_in = table_input.get("StorageDescriptor") or {}
    check_dict("TableInput.StorageDescriptor", sd_in)
    serde = sd_in.get("SerdeInfo")
    sd = StorageDescriptor(
        columns=_columns("TableInput.StorageDescriptor.Columns", sd_in.get("Columns")),
        location=sd_in.get("Location"),
        input_format=sd_in.get("InputFormat"),
        output_format=sd_in.get("OutputFormat"),
        compressed=sd_in.get("Compressed"),
        number_of_buckets=sd_in.get("NumberOfBuckets"),
        serde_info=SerDeInfo(serde.get("Name"), serde.get("SerializationLibrary"), serde.get("Parameters"))
        if serde is not None else None,
        bucket_columns=sd_in.get("BucketColumns"),
        sort_columns=[(o["Column"], o["SortOrder"]) for o in sd_in["SortColumns"]] if sd_in.get("SortColumns") else None,
        parameters=sd_in.get("Parameters"),
        stored_as_sub_directories=sd_in.get("StoredAsSubDirectories"),
    )
    retention = table_input.get("Retention")
    if retention is not None:
        check_int("TableInput.Retention", retention)
    return Table(
        name=name, database="", storage=sd,
        partition_keys=_columns("TableInput.PartitionKeys", table_input.get("PartitionKeys")),
        description=table_input.get("Description"), owner=table_input.get("Owner"),
        retention=retention, table_type=table_input.get("TableType"),
        parameters=dict(table_input.get("Parameters") or {}),
    )


def _table_dict(t: Table) -> dict:
    sd = t.storage
    sd_out = {"Columns": [_column_dict(c) for c in sd.columns]}
    for key, value in (("Location", sd.location), ("InputFormat", sd.input_format),
                       ("OutputFormat", sd.output_format), ("Compressed", sd.compressed),
                       ("NumberOfBuckets", sd.number_of_buckets), ("BucketColumns", sd.bucket_columns),
                       ("Parameters", sd.parameters), ("StoredAsSubDirectories", sd.stored_as_sub_directories)):
        if value is not None:
            sd_out[key] = value
    if sd.serde_info is not None:
        serde = {}
        for key, value in (("Name", sd.serde_info.name), ("SerializationLibrary", sd.serde_info.serialization_library),
                           ("Parameters", sd.serde_info.parameters)):
            if value is not None:
                serde[key] = value
        sd_out["SerdeInfo"] = serde
    if sd.sort_columns:
        sd_out["SortColumns"] = [{"Column": c, "SortOrder": o} for c, o in sd.sort_columns]
    out = {
        "Name": t.name,
        "DatabaseName": t.database,
        "CreateTime": _ts(t.create_time),
        "UpdateTime": _ts(t.update_time),
        "Retention": t.retention or 0,
        "StorageDescriptor": sd_out,
        "PartitionKeys": [_column_dict(c) for c in t.partition_keys],
        "Parameters": dict(t.parameters),
        "CreatedBy": f"arn:aws:iam::{t.catalog_id}:user/engine",
        "IsRegisteredWithLakeFormation": False,
        "CatalogId": t.catalog_id,
        "VersionId": str(t.version_id),
    }
    for key, value in (("Description", t.description), ("Owner", t.owner), ("TableType", t.table_type)):
        if value is not None:
            out[key] = value
    return out


def _database_dict(db: Database) -> dict:
    out = {"Name": db.name, "Parameters": dict(db.parameters), "CreateTime": _ts(db.create_time),
           "CreateTableDefaultPermissions": [], "CatalogId": db.catalog_id}
    if db.description is not None:
        out["Description"] = db.description
    if db.location_uri is not None:
        out["LocationUri"] = db.location_uri
    return out


class GlueClient(BaseClient):
    service_name = "glue"
    error_modules = (errors,)
    paginators = {
        "get_tables": ("NextToken", "NextToken", "MaxResults", ("TableList",)),
        "get_databases": ("NextToken", "NextToken", "MaxResults", ("DatabaseList",)),
    }

    @property
    def _backend(self):
        return self._engine.backend("glue", self.meta.region_name)

    # --- databases -------------------------------------------------------------------
    def create_database(self, *, DatabaseInput, CatalogId=None, Tags=None):
        check_dict("DatabaseInput", DatabaseInput)
        name = _check_name("databaseInput.name", DatabaseInput.get("Name"))
        self._backend.create_database(name, DatabaseInput.get("Description"), DatabaseInput.get("LocationUri"),
                                      DatabaseInput.get("Parameters"))
        return {}

    def get_database(self, *, Name, CatalogId=None):
        return {"Database": _database_dict(self._backend.get_database(_check_name("name", Name)))}

    def get_databases(self, *, CatalogId=None, NextToken=None, MaxResults=None, ResourceShareType=None,
                      AttributesToGet=None):
        names = sorted(self._backend.databases)
        return self._page("DatabaseList", [_database_dict(self._backend.databases[n]) for n in names],
                          NextToken, MaxResults)

    def delete_database(self, *, Name, CatalogId=None):
        self._backend.delete_database(_check_name("name", Name))
        return {}

    # --- tables ----------------------------------------------------------------------
    def create_table(self, *, DatabaseName, TableInput=None, CatalogId=None, Name=None, PartitionIndexes=None,
                     TransactionId=None, OpenTableFormatInput=None):
        _check_name("databaseName", DatabaseName)
        if TableInput is None:
            raise InvalidInputException("TableInput is required.")
        self._backend.create_table(DatabaseName, _table_from_input(TableInput))
        return {}

    def get_table(self, *, DatabaseName, Name, CatalogId=None, TransactionId=None, QueryAsOfTime=None,
                  AuditContext=None, IncludeStatusDetails=None):
        table = self._backend.get_table(_check_name("databaseName", DatabaseName), _check_name("name", Name))
        return {"Table": _table_dict(table)}

    def get_tables(self, *, DatabaseName, CatalogId=None, Expression=None, NextToken=None, MaxResults=None,
                   TransactionId=None, QueryAsOfTime=None, AuditContext=None, IncludeStatusDetails=None,
                   AttributesToGet=None):
        tables = self._backend.list_tables(_check_name("databaseName", DatabaseName))
        if Expression:
            import fnmatch
            pattern = Expression.replace(".*", "*")
            tables = [t for t in tables if fnmatch.fnmatch(t.name, pattern)]
        return self._page("TableList", [_table_dict(t) for t in tables], NextToken, MaxResults)

    def update_table(self, *, DatabaseName, TableInput=None, CatalogId=None, Name=None, SkipArchive=None,
                     TransactionId=None, VersionId=None, ViewUpdateAction=None, Force=None,
                     UpdateOpenTableFormatInput=None):
        _check_name("databaseName", DatabaseName)
        if TableInput is None:
            raise InvalidInputException("TableInput is required.")
        self._backend.update_table(DatabaseName, _table_from_input(TableInput), VersionId)
        return {}

    def delete_table(self, *, DatabaseName, Name, CatalogId=None, TransactionId=None):
        self._backend.delete_table(_check_name("databaseName", DatabaseName), _check_name("name", Name))
        return {}

    @staticmethod
    def _page(key, items, token, limit):
        start = int(token) if token else 0
        if limit is not None:
            check_int("MaxResults", limit)
            if not 1 <= limit <= 1000:
                raise InvalidInputException(
                    constraint_message("maxResults", limit, "Member must have value between 1 and 1000"))
        end = start + (limit or 100)
        out = {key: items[start:end]}
        if end < len(items):
            out["NextToken"] = str(end)
        return out

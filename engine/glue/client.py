"""boto3-shaped Glue client (the Data Catalog subset Firehose needs)."""
from __future__ import annotations

import datetime

from ..client_base import BaseClient
from . import errors
from .errors import InvalidInputException
from .models import Column, Database, SerDeInfo, StorageDescriptor, Table

_PAGE_DEFAULT = 100


def _ts(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


# Types, required members, lengths and patterns are checked against botocore's Glue model by the
# request layer before these run; here only the translation to the model's objects.

def _columns(value) -> list[Column]:
    return [Column(col["Name"], col.get("Type"), col.get("Comment"), col.get("Parameters")) for col in value or []]


def _column_dict(col: Column) -> dict:
    out = {"Name": col.name}
    if col.type is not None:
        out["Type"] = col.type
    if col.comment is not None:
        out["Comment"] = col.comment
    if col.parameters:
        out["Parameters"] = dict(col.parameters)
    return out


def _table_from_input(table_input: dict | None) -> Table:
    if table_input is None:   # optional in the model (OpenTableFormatInput is the other way), required here
        raise InvalidInputException("TableInput is required.")
    sd_in = table_input.get("StorageDescriptor") or {}
    serde = sd_in.get("SerdeInfo")
    sd = StorageDescriptor(
        columns=_columns(sd_in.get("Columns")),
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
    return Table(
        name=table_input["Name"], database="", storage=sd,
        partition_keys=_columns(table_input.get("PartitionKeys")),
        description=table_input.get("Description"), owner=table_input.get("Owner"),
        retention=table_input.get("Retention"), table_type=table_input.get("TableType"),
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
    @property
    def _backend(self):
        return self._engine.backend("glue", self.meta.region_name)

    # --- databases -------------------------------------------------------------------
    def create_database(self, *, DatabaseInput, CatalogId=None, Tags=None):
        self._backend.create_database(DatabaseInput["Name"], DatabaseInput.get("Description"), DatabaseInput.get("LocationUri"),
                                      DatabaseInput.get("Parameters"))
        return {}

    def get_database(self, *, Name, CatalogId=None):
        return {"Database": _database_dict(self._backend.get_database(Name))}

    def get_databases(self, *, CatalogId=None, NextToken=None, MaxResults=None, ResourceShareType=None,
                      AttributesToGet=None):
        names = sorted(self._backend.databases)
        return self._page("DatabaseList", [_database_dict(self._backend.databases[n]) for n in names],
                          NextToken, MaxResults)

    def delete_database(self, *, Name, CatalogId=None):
        self._backend.delete_database(Name)
        return {}

    # --- tables ----------------------------------------------------------------------
    def create_table(self, *, DatabaseName, TableInput=None, CatalogId=None, Name=None, PartitionIndexes=None,
                     TransactionId=None, OpenTableFormatInput=None):
        self._backend.create_table(DatabaseName, _table_from_input(TableInput))
        return {}

    def get_table(self, *, DatabaseName, Name, CatalogId=None, TransactionId=None, QueryAsOfTime=None,
                  AuditContext=None, IncludeStatusDetails=None):
        table = self._backend.get_table(DatabaseName, Name)
        return {"Table": _table_dict(table)}

    def get_tables(self, *, DatabaseName, CatalogId=None, Expression=None, NextToken=None, MaxResults=None,
                   TransactionId=None, QueryAsOfTime=None, AuditContext=None, IncludeStatusDetails=None,
                   AttributesToGet=None):
        tables = self._backend.list_tables(DatabaseName)
        if Expression:
            import fnmatch
            pattern = Expression.replace(".*", "*")
            tables = [t for t in tables if fnmatch.fnmatch(t.name, pattern)]
        return self._page("TableList", [_table_dict(t) for t in tables], NextToken, MaxResults)

    def update_table(self, *, DatabaseName, TableInput=None, CatalogId=None, Name=None, SkipArchive=None,
                     TransactionId=None, VersionId=None, ViewUpdateAction=None, Force=None,
                     UpdateOpenTableFormatInput=None):
        self._backend.update_table(DatabaseName, _table_from_input(TableInput), VersionId)
        return {}

    def delete_table(self, *, DatabaseName, Name, CatalogId=None, TransactionId=None):
        self._backend.delete_table(DatabaseName, Name)
        return {}

    @staticmethod
    def _page(key, items, token, limit):
        """A page of `items`; the token is the decimal offset of the next page."""
        start = 0
        if token:
            if not (token.isascii() and token.isdigit() and int(token) <= len(items)):
                raise InvalidInputException("The pagination token is invalid.")
            start = int(token)
        end = start + (limit or _PAGE_DEFAULT)
        out = {key: items[start:end]}
        if end < len(items):
            out["NextToken"] = str(end)
        return out

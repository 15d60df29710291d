"""Firehose -> Apache Iceberg tables: read back with pyiceberg (and DuckDB/polars through its
Arrow scan), through the engine's Glue catalog, with the boto3-shaped clients."""
import base64
import importlib.util
import json
import threading

import pytest

from engine.firehose.models import IcebergDestination, S3Destination

from ..tools import require
from .conftest import BUCKET, ROLE, get, json_lines, keys

CATALOG = "arn:aws:glue:us-east-1:000000000000:catalog"
WAREHOUSE = "s3://lake/warehouse"


@pytest.fixture(autouse=True)
def _needs_pyiceberg():
    require(importlib.util.find_spec("pyiceberg") is not None,
            "pyiceberg comes with the test and iceberg extras (pip install -e '.[iceberg]')")


@pytest.fixture
def lake(glue):
    glue.create_database(DatabaseInput={"Name": "db"})
    return glue


@pytest.fixture
def catalog(eng):
    """What a user reads the tables with: pyiceberg's Glue catalog over the engine's glue client."""
    from pyiceberg.catalog.glue import GlueCatalog

    return GlueCatalog("engine", client=eng.client("glue"))


def iceberg_config(*tables, **extra):
    cfg = {"RoleARN": ROLE, "CatalogConfiguration": {"CatalogARN": CATALOG, "WarehouseLocation": WAREHOUSE},
           "S3Configuration": {"RoleARN": ROLE, "BucketARN": BUCKET, "ErrorOutputPrefix": "errors/"},
           "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
           "DestinationTableConfigurationList": list(tables) or [
               {"DestinationDatabaseName": "db", "DestinationTableName": "events"}],
           "TableCreationConfiguration": {"Enabled": True}}
    cfg.update(extra)
    return cfg


def put(fh, name, docs):
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": json.dumps(d).encode()} for d in docs])


def rows(catalog, table="events", **scan):
    return sorted(catalog.load_table(("db", table)).scan(**scan).to_arrow().to_pylist(), key=lambda r: r["id"])


def flush(eng, name):
    eng.backend("firehose").get(name).flush()


def test_append_creates_the_table_and_commits_once_per_flush(eng, fh, lake, catalog, shape):
    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config())
    put(fh, "ice", [{"id": i, "name": f"n{i}", "score": i / 2} for i in range(5)])
    flush(eng, "ice")
    put(fh, "ice", [{"id": 5, "name": "n5", "score": 2.5}])
    flush(eng, "ice")
    table = catalog.load_table(("db", "events"))
    assert [r["id"] for r in rows(catalog)] == list(range(6))
    assert [f.name for f in table.schema().fields] == ["id", "name", "score"]
    assert len(table.snapshots()) == 2                      # one snapshot per flush
    glue_table = lake.get_table(DatabaseName="db", Name="events")
    shape("glue", "GetTable", glue_table)
    params = glue_table["Table"]["Parameters"]
    assert params["table_type"] == "ICEBERG" and params["metadata_location"].endswith(".metadata.json")
    assert table.location().endswith("lake/warehouse/db.db/events")
    assert eng.backend("firehose").get("ice").stats["delivered_records"] == 6
    desc = fh.describe_delivery_stream(DeliveryStreamName="ice")
    shape("firehose", "DescribeDeliveryStream", desc)
    ice = desc["DeliveryStreamDescription"]["Destinations"][0]["IcebergDestinationDescription"]
    assert ice["CatalogConfiguration"] == {"CatalogARN": CATALOG, "WarehouseLocation": WAREHOUSE}
    assert ice["TableCreationConfiguration"] == {"Enabled": True}


def test_duckdb_and_polars_read_through_the_arrow_scan(eng, fh, lake, catalog):
    import duckdb
    import polars

    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config())
    put(fh, "ice", [{"id": i, "kind": "a" if i % 2 else "b"} for i in range(10)])
    flush(eng, "ice")
    arrow = catalog.load_table(("db", "events")).scan().to_arrow()
    counts = duckdb.sql("select kind, count(*) n from arrow group by kind order by kind").fetchall()
    assert counts == [("a", 5), ("b", 5)]
    assert polars.from_arrow(arrow).filter(polars.col("id") > 6).height == 3


def test_updates_and_deletes_by_unique_key_give_what_sql_expects(eng, fh, lake, catalog):
    table = {"DestinationDatabaseName": "db", "DestinationTableName": "events", "UniqueKeys": ["id"]}
    query = "{destinationDatabaseName: .db, destinationTableName: .tbl, operation: .op}"
    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config(
        table, ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}))
    put(fh, "ice", [{"id": i, "v": f"v{i}", "op": "insert"} for i in range(4)])
    flush(eng, "ice")
    before = catalog.load_table(("db", "events")).current_snapshot().snapshot_id
    put(fh, "ice", [{"id": 1, "v": "changed", "op": "update"}, {"id": 2, "v": "", "op": "delete"},
                    {"id": 9, "v": "new", "op": "insert"},
                    {"id": 3, "v": "gone", "op": "update"}, {"id": 3, "v": "", "op": "delete"},   # last one wins
                    {"id": 7, "v": "a", "op": "insert"}, {"id": 7, "v": "b", "op": "update"}])
    flush(eng, "ice")
    got = [(r["id"], r["v"]) for r in rows(catalog)]
    assert got == [(0, "v0"), (1, "changed"), (7, "b"), (9, "new")]
    # time travel: the table as it was before the flush's commit (a delete and an append snapshot)
    assert [(r["id"], r["v"]) for r in rows(catalog, snapshot_id=before)] == [(i, f"v{i}") for i in range(4)]


def test_append_only_ignores_operations(eng, fh, lake, catalog):
    table = {"DestinationDatabaseName": "db", "DestinationTableName": "events", "UniqueKeys": ["id"]}

    def transform(event, context):
        return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"],
                             "metadata": {"otfMetadata": {"operation": "delete"}}} for r in event["records"]]}

    arn = eng.register_function("otf", transform)
    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config(
        table, AppendOnly=True, ProcessingConfiguration={"Enabled": True, "Processors": [
            {"Type": "Lambda", "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": arn}]}]}))
    put(fh, "ice", [{"id": 1}, {"id": 1}])
    flush(eng, "ice")
    assert [r["id"] for r in rows(catalog)] == [1, 1]


def test_lambda_otf_metadata_routes_records_to_tables(eng, fh, lake, catalog):
    def transform(event, context):
        out = []
        for r in event["records"]:
            doc = json.loads(base64.b64decode(r["data"]))
            out.append({"recordId": r["recordId"], "result": "Ok", "data": r["data"], "metadata": {"otfMetadata": {
                "destinationDatabaseName": "db", "destinationTableName": doc["kind"], "operation": "insert"}}})
        return {"records": out}

    arn = eng.register_function("route", transform)
    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config(
        {"DestinationDatabaseName": "db", "DestinationTableName": "clicks"},
        {"DestinationDatabaseName": "db", "DestinationTableName": "views"},
        ProcessingConfiguration={"Enabled": True, "Processors": [
            {"Type": "Lambda", "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": arn}]}]}))
    put(fh, "ice", [{"id": i, "kind": "clicks" if i % 3 else "views"} for i in range(9)])
    flush(eng, "ice")
    assert [r["id"] for r in rows(catalog, "clicks")] == [1, 2, 4, 5, 7, 8]
    assert [r["id"] for r in rows(catalog, "views")] == [0, 3, 6]


def test_schema_evolution_adds_columns(eng, fh, lake, catalog):
    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config(
        SchemaEvolutionConfiguration={"Enabled": True}))
    put(fh, "ice", [{"id": 1, "a": "x"}])
    flush(eng, "ice")
    put(fh, "ice", [{"id": 2, "a": "y", "b": 3}])
    flush(eng, "ice")
    assert rows(catalog) == [{"id": 1, "a": "x", "b": None}, {"id": 2, "a": "y", "b": 3}]
    columns = lake.get_table(DatabaseName="db", Name="events")["Table"]["StorageDescriptor"]["Columns"]
    assert [(c["Name"], c["Type"]) for c in columns] == [("id", "bigint"), ("a", "string"), ("b", "bigint")]


def test_without_schema_evolution_new_fields_are_dropped(eng, fh, lake, catalog):
    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config())
    put(fh, "ice", [{"id": 1}])
    flush(eng, "ice")
    put(fh, "ice", [{"id": 2, "b": 3}])
    flush(eng, "ice")
    assert rows(catalog) == [{"id": 1}, {"id": 2}]


def test_bad_records_go_to_the_tables_error_prefix_and_the_rest_commit(eng, fh, lake, catalog):
    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config(
        {"DestinationDatabaseName": "db", "DestinationTableName": "events",
         "S3ErrorOutputPrefix": "events-errors/!{firehose:error-output-type}/"}))
    put(fh, "ice", [{"id": 1}])
    flush(eng, "ice")
    fh.put_record_batch(DeliveryStreamName="ice", Records=[{"Data": b'{"id": 2}'}, {"Data": b"not json"},
                                                           {"Data": b'{"id": "three"}'}])
    flush(eng, "ice")
    assert [r["id"] for r in rows(catalog)] == [1, 2]
    (key,) = keys(eng, "events-errors/iceberg-failed/")
    docs = json_lines(eng, key)
    assert sorted(base64.b64decode(d["rawData"]) for d in docs) == [b"not json", b'{"id": "three"}']
    assert {d["errorCode"] for d in docs} == {"Iceberg.MalformedData"}
    assert docs[0]["destinationTableName"] == "events"


def test_unroutable_records_and_missing_table(eng, fh, lake, clock):
    fh.create_delivery_stream(DeliveryStreamName="two", IcebergDestinationConfiguration=iceberg_config(
        {"DestinationDatabaseName": "db", "DestinationTableName": "a"},
        {"DestinationDatabaseName": "db", "DestinationTableName": "b"}))
    put(fh, "two", [{"id": 1}])
    flush(eng, "two")
    (key,) = keys(eng, "errors/")
    assert json_lines(eng, key)[0]["errorCode"] == "Iceberg.DestinationTableNotSpecified"
    fh.create_delivery_stream(DeliveryStreamName="nocreate", IcebergDestinationConfiguration=iceberg_config(
        TableCreationConfiguration={"Enabled": False}, RetryOptions={"DurationInSeconds": 60},
        S3Configuration={"RoleARN": ROLE, "BucketARN": BUCKET, "ErrorOutputPrefix": "nc/"}))
    put(fh, "nocreate", [{"id": 1}])
    flush(eng, "nocreate")
    assert keys(eng, "nc/") == []                        # retried on the engine clock first
    clock.advance(61)
    eng.backend("firehose").get("nocreate").drain()
    (key,) = keys(eng, "nc/")
    assert json_lines(eng, key)[0]["errorCode"] == "Iceberg.TableNotFound"


def test_concurrent_flushes_to_one_table_lose_no_commit(eng, fh, lake, catalog):
    for name in ("s1", "s2", "s3"):
        fh.create_delivery_stream(DeliveryStreamName=name, IcebergDestinationConfiguration=iceberg_config())
    put(fh, "s1", [{"id": 0}])
    flush(eng, "s1")                                       # the table exists before the race
    for round_ in range(3):
        for j, name in enumerate(("s1", "s2", "s3")):
            put(fh, name, [{"id": 1 + round_ * 30 + j * 10 + k} for k in range(10)])
        threads = [threading.Thread(target=flush, args=(eng, name)) for name in ("s1", "s2", "s3")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r["id"] for r in rows(catalog)] == list(range(91))


def test_a_commit_that_loses_the_race_is_redone_on_the_winners_snapshot(eng, fh, lake, catalog, monkeypatch):
    import pyarrow as pa

    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config())
    put(fh, "ice", [{"id": 0}])
    flush(eng, "ice")
    writer = eng.backend("firehose").iceberg_catalog(CATALOG)
    commit_table = writer.commit_table
    raced = []

    def another_writer_commits_first(table, requirements, updates):
        if not raced:
            raced.append(True)
            catalog.load_table(("db", "events")).append(pa.table({"id": pa.array([100], pa.int64())}))
        return commit_table(table, requirements, updates)

    monkeypatch.setattr(writer, "commit_table", another_writer_commits_first)
    put(fh, "ice", [{"id": 1}])
    flush(eng, "ice")
    assert raced and [r["id"] for r in rows(catalog)] == [0, 1, 100]


def test_partition_spec_and_rules(eng, fh, lake, catalog):
    fh.create_delivery_stream(DeliveryStreamName="p", IcebergDestinationConfiguration=iceberg_config(
        {"DestinationDatabaseName": "db", "DestinationTableName": "events",
         "PartitionSpec": {"Identity": [{"SourceName": "day"}]}}))
    put(fh, "p", [{"id": 1, "day": "d1"}, {"id": 2, "day": "d2"}])
    flush(eng, "p")
    table = catalog.load_table(("db", "events"))
    assert [f.name for f in table.spec().fields] == ["day"]
    assert rows(catalog, row_filter="day = 'd2'") == [{"id": 2, "day": "d2"}]
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="CatalogARN"):
        fh.create_delivery_stream(DeliveryStreamName="x", IcebergDestinationConfiguration=iceberg_config(
            CatalogConfiguration={"CatalogARN": "arn:aws:glue:us-east-1:111111111111:catalog"}))
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="WarehouseLocation"):
        eng.backend("firehose").create_delivery_stream("x", IcebergDestination(
            CATALOG, S3Destination(BUCKET, ROLE), table_creation=True))


def test_all_data_backup_and_update_destination(eng, fh, lake, catalog, shape):
    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config(
        S3BackupMode="AllData", S3Configuration={"RoleARN": ROLE, "BucketARN": BUCKET, "Prefix": "backup/",
                                                 "ErrorOutputPrefix": "errors/"}))
    put(fh, "ice", [{"id": 1}])
    flush(eng, "ice")
    (key,) = keys(eng, "backup/")
    assert get(eng, key) == b'{"id": 1}'
    shape("firehose", "UpdateDestination", fh.update_destination(
        DeliveryStreamName="ice", CurrentDeliveryStreamVersionId="1", DestinationId="destinationId-000000000001",
        IcebergDestinationUpdate={"DestinationTableConfigurationList": [
            {"DestinationDatabaseName": "db", "DestinationTableName": "other"}], "S3BackupMode": "FailedDataOnly"}))
    put(fh, "ice", [{"id": 2}])
    flush(eng, "ice")
    assert [r["id"] for r in rows(catalog, "other")] == [2] and len(keys(eng, "backup/")) == 1
    ice = fh.describe_delivery_stream(DeliveryStreamName="ice")["DeliveryStreamDescription"]["Destinations"][0][
        "IcebergDestinationDescription"]
    assert ice["CatalogConfiguration"]["WarehouseLocation"] == WAREHOUSE      # what the update did not name stays
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="Changing the destination type"):
        fh.update_destination(DeliveryStreamName="ice", CurrentDeliveryStreamVersionId="2",
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"Prefix": "x/"})


def test_close_commits_what_was_buffered(eng, fh, lake, tmp_path):
    from pyiceberg.table import StaticTable

    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config())
    put(fh, "ice", [{"id": 7}])
    eng.close()       # users' calls are refused from here; the buffered record still reaches the table
    metadata = sorted((tmp_path / "s3" / "lake" / "warehouse" / "db.db" / "events" / "metadata")
                      .glob("*.metadata.json"))
    assert StaticTable.from_metadata(f"file://{metadata[-1]}").scan().to_arrow().to_pylist() == [{"id": 7}]


def test_kinesis_source_and_a_composite_unique_key(eng, fh, lake, catalog):
    kinesis = eng.client("kinesis")
    kinesis.create_stream(StreamName="src", ShardCount=2)
    source = eng.backend("kinesis").get_stream("src")
    query = "{operation: .op}"
    fh.create_delivery_stream(
        DeliveryStreamName="ks", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": source.arn, "RoleARN": ROLE},
        IcebergDestinationConfiguration=iceberg_config(
            {"DestinationDatabaseName": "db", "DestinationTableName": "events", "UniqueKeys": ["id", "region"]},
            ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}))

    def send(docs):
        source.put_batch([json.dumps(d).encode() for d in docs], ["same-shard"] * len(docs))   # keeps their order
        flush(eng, "ks")

    send([{"id": 1, "region": r, "v": 0, "op": "insert"} for r in ("eu", "us")])
    send([{"id": 1, "region": "eu", "v": 1, "op": "update"}, {"id": 1, "region": "us", "v": 0, "op": "delete"}])
    assert [(r["region"], r["v"]) for r in rows(catalog)] == [("eu", 1)]


def test_records_a_table_cannot_take_go_to_the_error_output(eng, fh, lake, catalog):
    lake.create_table(DatabaseName="db", TableInput={"Name": "plain", "StorageDescriptor": {
        "Columns": [{"Name": "id", "Type": "bigint"}]}})            # a Glue table that is not an Iceberg table
    query = "{destinationDatabaseName: .db, destinationTableName: .t, operation: .op}"
    fh.create_delivery_stream(DeliveryStreamName="ice", IcebergDestinationConfiguration=iceberg_config(
        {"DestinationDatabaseName": "db", "DestinationTableName": "nokeys"},
        {"DestinationDatabaseName": "db", "DestinationTableName": "keyed", "UniqueKeys": ["id"]},
        RetryOptions={"DurationInSeconds": 0},
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}))
    put(fh, "ice", [{"t": "nokeys", "id": 1, "op": "insert"},        # the database from the configured table
                    {"t": "nokeys", "id": 2, "op": "upsert"}, {"t": "nokeys", "id": 3, "op": "update"},
                    {"db": "db", "t": "plain", "id": 4}, {"t": "unknown", "id": 6},
                    {"t": "keyed", "id": None, "op": "insert"}, {"t": "keyed", "id": 5, "op": "insert"}])
    flush(eng, "ice")
    put(fh, "ice", [{"t": "keyed", "id": None, "op": "delete"}])      # a null key matches null keys
    flush(eng, "ice")
    put(fh, "ice", [{"db": "db", "t": "fresh", "x": 1}, {"db": "db", "t": "fresh", "x": "one"}])  # no schema
    flush(eng, "ice")
    assert [r["id"] for r in rows(catalog, "nokeys")] == [1]
    assert [r["id"] for r in rows(catalog, "keyed")] == [5]
    codes = sorted(d["errorCode"] for k in keys(eng, "errors/") for d in json_lines(eng, k))
    assert codes == ["Iceberg.DestinationTableNotSpecified", "Iceberg.InvalidOperation",
                     "Iceberg.SchemaNotInferred", "Iceberg.SchemaNotInferred", "Iceberg.TableNotReadable",
                     "Iceberg.UniqueKeysMissing"]

"""Glue Data Catalog on a data dir: databases and tables survive a restart (issue 13)."""
import subprocess
import sys
import textwrap

import pytest

import engine

TABLE = {
    "Name": "Events", "Description": "clicks", "Owner": "me", "TableType": "EXTERNAL_TABLE", "Retention": 3,
    "Parameters": {"classification": "parquet"},
    "StorageDescriptor": {
        "Columns": [{"Name": "id", "Type": "bigint", "Comment": "key"}, {"Name": "tags", "Type": "array<string>"}],
        "Location": "s3://bucket/events/", "Compressed": False, "NumberOfBuckets": 4, "BucketColumns": ["id"],
        "SortColumns": [{"Column": "id", "SortOrder": 1}], "Parameters": {"k": "v"},
        "SerdeInfo": {"Name": "pq", "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                      "Parameters": {"serialization.format": "1"}},
    },
    "PartitionKeys": [{"Name": "day", "Type": "string"}],
}


def _engine(path, clock=None, **kw):
    return engine.Engine(data_dir=str(path), clock=clock or engine.ManualClock(start=1_700_000_000.0), **kw)


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_databases_and_tables_survive_a_restart(tmp_path, durability, shape):
    with _engine(tmp_path, durability=durability) as eng:
        glue = eng.client("glue")
        glue.create_database(DatabaseInput={"Name": "Sales", "Description": "d", "LocationUri": "s3://b/",
                                            "Parameters": {"owner": "team"}})
        glue.create_database(DatabaseInput={"Name": "gone"})
        glue.create_database(DatabaseInput={"Name": "a/../b"})   # names may hold what a path must not
        glue.create_database(DatabaseInput={"Name": "x"})
        glue.create_database(DatabaseInput={"Name": "x.json"})   # one name's file, the other's directory
        glue.create_table(DatabaseName="sales", TableInput=TABLE)
        glue.create_table(DatabaseName="sales", TableInput={"Name": "dropped"})
        glue.update_table(DatabaseName="sales", TableInput={**TABLE, "Description": "clicks v2"})
        glue.delete_table(DatabaseName="sales", Name="dropped")
        glue.create_table(DatabaseName="gone", TableInput={"Name": "t"})
        glue.delete_database(Name="gone")
        before_db = glue.get_database(Name="sales")["Database"]
        before_table = glue.get_table(DatabaseName="sales", Name="events")["Table"]
    with _engine(tmp_path, durability=durability) as eng:
        glue = eng.client("glue")
        assert sorted(d["Name"] for d in glue.get_databases()["DatabaseList"]) == ["a/../b", "sales", "x", "x.json"]
        assert glue.get_database(Name="sales")["Database"] == before_db
        response = glue.get_table(DatabaseName="sales", Name="events")
        shape("glue", "GetTable", response)
        assert response["Table"] == before_table
        assert before_table["VersionId"] == "1" and before_table["Description"] == "clicks v2"
        assert [t["Name"] for t in glue.get_tables(DatabaseName="sales")["TableList"]] == ["events"]
        # the restored table's schema is what Firehose's conversion reads
        schema = eng.backend("glue").get_table("sales", "events").arrow_schema()
        assert schema.names == ["id", "tags"]
        glue.create_database(DatabaseInput={"Name": "gone"})   # a deleted database took its tables with it
        assert glue.get_tables(DatabaseName="gone")["TableList"] == []
        # and the catalog keeps changing durably after a restart
        glue.update_table(DatabaseName="sales", TableInput=TABLE, VersionId="1")
    with _engine(tmp_path) as eng:
        assert eng.client("glue").get_table(DatabaseName="sales", Name="events")["Table"]["VersionId"] == "2"


def test_an_acknowledged_change_survives_a_process_that_dies_without_closing(tmp_path):
    script = textwrap.dedent(f"""
        import os, engine
        eng = engine.Engine(data_dir={str(tmp_path)!r})
        glue = eng.client("glue")
        glue.create_database(DatabaseInput={{"Name": "db"}})
        glue.create_table(DatabaseName="db", TableInput={{"Name": "t", "StorageDescriptor": {{
            "Columns": [{{"Name": "x", "Type": "int"}}]}}}})
        os._exit(0)   # no close, no atexit: what the calls wrote is all there is
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with _engine(tmp_path) as eng:
        table = eng.client("glue").get_table(DatabaseName="db", Name="t")["Table"]
        assert table["StorageDescriptor"]["Columns"] == [{"Name": "x", "Type": "int"}]


def test_a_second_engine_on_the_same_data_dir_is_refused(tmp_path):
    with _engine(tmp_path) as eng:
        eng.client("glue").create_database(DatabaseInput={"Name": "db"})
        other = _engine(tmp_path)
        with pytest.raises(RuntimeError, match="in use"):
            other.client("glue").get_databases()
        other.close()


def test_without_a_data_dir_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with engine.Engine() as eng:
        eng.client("glue").create_database(DatabaseInput={"Name": "db"})
    assert list(tmp_path.iterdir()) == []

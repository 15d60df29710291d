import pyarrow as pa
import pytest

from engine.glue.types import HiveTypeError, glue_type, parse_hive_type


@pytest.mark.parametrize("text,expected", [
    ("string", pa.string()), ("varchar(20)", pa.string()), ("char(3)", pa.string()),
    ("tinyint", pa.int8()), ("smallint", pa.int16()), ("int", pa.int32()), ("INTEGER", pa.int32()),
    ("bigint", pa.int64()), ("float", pa.float32()), ("double", pa.float64()),
    ("decimal(12,3)", pa.decimal128(12, 3)), ("decimal", pa.decimal128(10, 0)), ("decimal(5)", pa.decimal128(5, 0)),
    ("boolean", pa.bool_()), ("timestamp", pa.timestamp("ms")), ("date", pa.date32()), ("binary", pa.binary()),
    ("array<int>", pa.list_(pa.int32())),
    ("map<string,array<bigint>>", pa.map_(pa.string(), pa.list_(pa.int64()))),
    ("struct<a:int, b : struct<c:string>, `d e`:double>",
     pa.struct([("a", pa.int32()), ("b", pa.struct([("c", pa.string())])), ("d e", pa.float64())])),
])
def test_hive_types(text, expected):
    assert parse_hive_type(text) == expected


@pytest.mark.parametrize("text", ["", "strin", "array<int", "map<string>", "struct<a int>", "decimal(40,2)",
                                  "varchar", "int extra", "uniontype<int,string>"])
def test_bad_hive_types(text):
    with pytest.raises(HiveTypeError):
        parse_hive_type(text)


def test_hive_type_string_round_trip():
    for text in ["struct<a:int,b:array<map<string,decimal(10,2)>>>", "bigint", "date", "binary", "tinyint",
                 "smallint", "float", "double", "boolean", "timestamp", "string", "array<array<string>>"]:
        assert glue_type(parse_hive_type(text)) == text


@pytest.mark.parametrize("arrow,hive", [
    (pa.uint8(), "smallint"), (pa.uint16(), "int"), (pa.uint32(), "bigint"), (pa.float16(), "float"),
    (pa.large_string(), "string"), (pa.large_binary(), "binary"), (pa.date64(), "date"), (pa.null(), "string"),
    (pa.timestamp("us", tz="UTC"), "timestamp"), (pa.dictionary(pa.int32(), pa.string()), "string"),
    (pa.large_list(pa.uint32()), "array<bigint>"),
    (pa.struct([("n", pa.dictionary(pa.int8(), pa.large_string()))]), "struct<n:string>"),
])
def test_arrow_types_without_a_hive_name_take_the_type_that_holds_them(arrow, hive):
    assert glue_type(arrow) == hive


@pytest.mark.parametrize("arrow", [pa.uint8(), pa.uint16(), pa.uint32()])
def test_unsigned_extremes_fit_their_hive_type(arrow):
    extremes = pa.array([0, 2 ** (arrow.bit_width) - 1], arrow)
    assert extremes.cast(parse_hive_type(glue_type(arrow))).to_pylist() == extremes.to_pylist()


def test_arrow_types_hive_cannot_hold_are_refused():
    for arrow in (pa.duration("s"), pa.time32("s"), pa.union([pa.field("a", pa.int8())], "dense")):
        with pytest.raises(HiveTypeError):
            glue_type(arrow)


def test_cli_table_and_firehose_conversion_share_the_mapping(tmp_path):
    """The table ingest infers from JSON lines has the Glue types the conversion reads back as the
    same Arrow schema (one mapping both ways)."""
    import engine
    from engine.cli.pipeline import Pipeline

    rows = [{"id": 1, "name": "a", "score": 1.5, "ok": True, "tags": ["x"], "c": {"tier": 2}}]
    schema = pa.Table.from_pylist(rows).schema
    eng = engine.Engine(s3_root=str(tmp_path))
    try:
        pipe = Pipeline(eng, "s", 1, "bucket", "p/")
        pipe.create(schema)
        table = eng.backend("glue").get_table(pipe.database, pipe.table)
        assert [c.type for c in table.storage.columns] == [
            "bigint", "string", "double", "boolean", "array<string>", "struct<tier:bigint>"]
        assert table.arrow_schema() == schema
    finally:
        eng.close()


def test_database_and_table_round_trip(eng, shape):
    glue = eng.client("glue")
    glue.create_database(DatabaseInput={"Name": "Sales", "Description": "d", "Parameters": {"k": "v"}})
    db = glue.get_database(Name="sales")
    shape("glue", "GetDatabase", db)
    assert db["Database"]["Name"] == "sales" and db["Database"]["Parameters"] == {"k": "v"}
    table_input = {"Name": "Orders", "TableType": "EXTERNAL_TABLE", "Parameters": {"classification": "parquet"},
                   "PartitionKeys": [{"Name": "dt", "Type": "string"}],
                   "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint", "Comment": "pk"},
                                                     {"Name": "tags", "Type": "array<string>"}],
                                         "Location": "s3://bucket/orders/",
                                         "SerdeInfo": {"SerializationLibrary": "x.y.ParquetHiveSerDe"},
                                         "SortColumns": [{"Column": "id", "SortOrder": 1}]}}
    shape("glue", "CreateTable", glue.create_table(DatabaseName="sales", TableInput=table_input))
    got = glue.get_table(DatabaseName="sales", Name="orders")
    shape("glue", "GetTable", got)
    t = got["Table"]
    assert t["Name"] == "orders" and t["DatabaseName"] == "sales" and t["VersionId"] == "0"
    assert t["StorageDescriptor"]["Columns"][0] == {"Name": "id", "Type": "bigint", "Comment": "pk"}
    assert t["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert eng.backend("glue").get_table("sales", "orders").arrow_schema() == pa.schema(
        [("id", pa.int64()), ("tags", pa.list_(pa.string()))])

    table_input["StorageDescriptor"]["Columns"].append({"Name": "price", "Type": "decimal(10,2)"})
    shape("glue", "UpdateTable", glue.update_table(DatabaseName="sales", TableInput=table_input))
    t = glue.get_table(DatabaseName="sales", Name="orders")["Table"]
    assert t["VersionId"] == "1" and len(t["StorageDescriptor"]["Columns"]) == 3
    tables = glue.get_tables(DatabaseName="sales")
    shape("glue", "GetTables", tables)
    assert [x["Name"] for x in tables["TableList"]] == ["orders"]
    shape("glue", "DeleteTable", glue.delete_table(DatabaseName="sales", Name="orders"))
    with pytest.raises(glue.exceptions.EntityNotFoundException) as err:
        glue.get_table(DatabaseName="sales", Name="orders")
    assert err.value.response["Error"]["Message"] == "Table orders not found."


def test_glue_errors(eng):
    glue = eng.client("glue")
    with pytest.raises(glue.exceptions.EntityNotFoundException, match="Database nope not found."):
        glue.get_database(Name="nope")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.create_table(DatabaseName="nope", TableInput={"Name": "t"})
    glue.create_database(DatabaseInput={"Name": "db"})
    with pytest.raises(glue.exceptions.AlreadyExistsException, match="Database already exists."):
        glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={"Name": "t"})
    with pytest.raises(glue.exceptions.AlreadyExistsException, match="Table already exists."):
        glue.create_table(DatabaseName="db", TableInput={"Name": "T"})
    with pytest.raises(glue.exceptions.InvalidInputException, match="Duplicate column"):
        glue.create_table(DatabaseName="db", TableInput={"Name": "u", "StorageDescriptor": {
            "Columns": [{"Name": "a", "Type": "int"}, {"Name": "A", "Type": "int"}]}})
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.update_table(DatabaseName="db", TableInput={"Name": "missing"})
    with pytest.raises(glue.exceptions.ConcurrentModificationException):
        glue.update_table(DatabaseName="db", TableInput={"Name": "t"}, VersionId="7")

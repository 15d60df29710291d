"""Record format conversion (JSON -> Parquet/ORC via a Glue schema) and dynamic partitioning."""
import base64
import datetime
import decimal
import json

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from engine.s3 import store_for

from .conftest import conversion, event, get, json_lines, keys, put_json, s3_config


def _dataset(eng, prefix, **kw):
    store = store_for(eng)
    return ds.dataset(store.path("bucket", prefix), filesystem=store.filesystem, format="parquet", **kw)


def _create(fh, name="conv", **extra):
    cfg = s3_config(BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60}, Prefix=f"{name}/",
                    ErrorOutputPrefix=f"{name}-errors/!{{firehose:error-output-type}}/",
                    DataFormatConversionConfiguration=conversion())
    cfg.update(extra)
    return fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=cfg)


def test_json_to_parquet_typed_by_glue_schema(eng, fh, clock, events_table):
    _create(fh)
    put_json(fh, "conv", [event(i) for i in range(1000)])
    clock.advance(60)
    (key,) = keys(eng, "conv/")
    meta = pq.ParquetFile(store_for(eng).path("bucket", key)).metadata
    assert meta.row_group(0).column(0).compression == "SNAPPY"
    table = _dataset(eng, "conv/").to_table()
    assert table.schema == pa.schema([
        ("id", pa.int64()), ("name", pa.string()), ("score", pa.float64()), ("ok", pa.bool_()),
        ("day", pa.date32()), ("at", pa.timestamp("ms")), ("price", pa.decimal128(10, 2)),
        ("tags", pa.list_(pa.string())), ("customer", pa.struct([("id", pa.string()), ("tier", pa.int32())]))])
    assert table.num_rows == 1000
    assert table.column("id").to_pylist() == list(range(1000))
    row = table.slice(7, 1).to_pylist()[0]
    assert row == {"id": 7, "name": "n7", "score": 3.5, "ok": False, "day": datetime.date(2024, 1, 2),
                   "at": datetime.datetime(2024, 1, 2, 3, 4, 5), "price": decimal.Decimal("12.34"),
                   "tags": ["a", "7"], "customer": {"id": "c1", "tier": 2}}


def test_records_that_do_not_fit_the_schema_go_to_format_conversion_failed(eng, fh, clock, events_table):
    _create(fh)
    good = [event(i) for i in range(600)]
    bad = [b"not json", b"[1, 2]", json.dumps({"id": "x1"}).encode(), json.dumps({"id": 2 ** 70}).encode(), b""]
    records = [json.dumps(d).encode() for d in good]
    records[100:100] = bad[:3]
    records[400:400] = bad[3:]
    # numbers given as strings are coerced the way the OpenX SerDe does
    records.append(json.dumps({"id": "601", "name": 5, "ok": "true", "Score": 1.5}).encode())
    for start in range(0, len(records), 500):
        fh.put_record_batch(DeliveryStreamName="conv", Records=[{"Data": r} for r in records[start:start + 500]])
    clock.advance(60)
    table = _dataset(eng, "conv/").to_table()
    assert table.column("id").to_pylist() == list(range(600)) + [601]
    last = table.slice(600).to_pylist()[0]
    assert last["name"] == "5" and last["ok"] is True and last["score"] == 1.5
    (err_key,) = keys(eng, "conv-errors/")
    assert err_key.startswith("conv-errors/format-conversion-failed/2023/11/14/22/conv-1-")
    docs = json_lines(eng, err_key)
    assert [base64.b64decode(d["rawData"]) for d in docs] == bad
    doc = docs[0]
    assert doc["ErrorCode"] == "DataFormatConversion.MalformedData" and doc["attemptsMade"] == 1
    assert doc["dataCatalogTable"]["databaseName"] == "db" and doc["dataCatalogTable"]["tableName"] == "events"
    assert set(doc) >= {"arrivalTimestamp", "ErrorMessage", "attemptEndingTimestamp", "rawData"}
    assert doc["arrivalTimestamp"] == 1_700_000_000_000


@pytest.mark.parametrize("codec,expected", [("GZIP", "GZIP"), ("UNCOMPRESSED", "UNCOMPRESSED")])
def test_parquet_compression(eng, fh, events_table, codec, expected):
    _create(fh, DataFormatConversionConfiguration=conversion(serializer={"ParquetSerDe": {"Compression": codec}}))
    put_json(fh, "conv", [event(i) for i in range(10)])
    eng.backend("firehose").get("conv").flush()
    (key,) = keys(eng, "conv/")
    assert pq.ParquetFile(store_for(eng).path("bucket", key)).metadata.row_group(0).column(0).compression == expected



@pytest.mark.parametrize("enable,dictionary_free", [
    (None, {"score", "at", "ok"}),            # the writer's choice: no dictionary where values rarely repeat
    (True, {"ok"}), (False, "all")])          # (Parquet has no dictionary for booleans)
def test_parquet_dictionary_compression(eng, fh, events_table, enable, dictionary_free):
    serde = {} if enable is None else {"EnableDictionaryCompression": enable}
    _create(fh, DataFormatConversionConfiguration=conversion(serializer={"ParquetSerDe": serde}))
    put_json(fh, "conv", [event(i) for i in range(10)])
    eng.backend("firehose").get("conv").flush()
    (key,) = keys(eng, "conv/")
    group = pq.ParquetFile(store_for(eng).path("bucket", key)).metadata.row_group(0)
    columns = [group.column(i) for i in range(group.num_columns)]
    plain = {c.path_in_schema.split(".")[0] for c in columns if c.dictionary_page_offset is None}
    assert plain == ({c.path_in_schema.split(".")[0] for c in columns} if dictionary_free == "all" else dictionary_free)


def test_parquet_dictionary_left_out_of_text_columns_whose_values_rarely_repeat(eng, fh, events_table):
    """Left to the writer, a string column whose first rows are mostly distinct (ids, times as
    text) gets no dictionary; one whose values repeat keeps it (tables of a thousand rows and more)."""
    _create(fh, DataFormatConversionConfiguration=conversion(serializer={"ParquetSerDe": {}}))
    put_json(fh, "conv", [event(i) for i in range(2000)])
    eng.backend("firehose").get("conv").flush()
    (key,) = keys(eng, "conv/")
    parquet = pq.ParquetFile(store_for(eng).path("bucket", key))
    group = parquet.metadata.row_group(0)
    plain = {group.column(i).path_in_schema.split(".")[0] for i in range(group.num_columns)
             if group.column(i).dictionary_page_offset is None}
    assert plain == {"score", "at", "ok", "name"}            # "name" is n0, n1, ...: every value new
    assert parquet.read().column("name").to_pylist() == [f"n{i}" for i in range(2000)]


def test_orc_output(eng, fh, events_table):
    import pyarrow.orc as orc
    _create(fh, DataFormatConversionConfiguration=conversion(serializer={"OrcSerDe": {"Compression": "ZLIB"}}))
    put_json(fh, "conv", [event(i) for i in range(10)])
    eng.backend("firehose").get("conv").flush()
    (key,) = keys(eng, "conv/")
    assert orc.read_table(store_for(eng).path("bucket", key)).column("id").to_pylist() == list(range(10))


def test_conversion_bad_input(fh, glue, events_table):
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="db.missing"):
        _create(fh, DataFormatConversionConfiguration=conversion(table="missing"))
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="at least 64"):
        _create(fh, BufferingHints={"SizeInMBs": 5, "IntervalInSeconds": 60})
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="UNCOMPRESSED"):
        _create(fh, CompressionFormat="GZIP")
    glue.create_table(DatabaseName="db", TableInput={"Name": "badtype", "StorageDescriptor": {
        "Columns": [{"Name": "x", "Type": "integr"}]}})
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="column type"):
        _create(fh, DataFormatConversionConfiguration=conversion(table="badtype"))
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="SchemaConfiguration"):
        _create(fh, DataFormatConversionConfiguration={"Enabled": True})
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == []


def test_default_buffer_with_conversion_is_128(fh, events_table):
    cfg = s3_config(DataFormatConversionConfiguration=conversion())
    del cfg["BufferingHints"]
    fh.create_delivery_stream(DeliveryStreamName="d", ExtendedS3DestinationConfiguration=cfg)
    ext = fh.describe_delivery_stream(DeliveryStreamName="d")["DeliveryStreamDescription"]["Destinations"][0][
        "ExtendedS3DestinationDescription"]
    assert ext["BufferingHints"] == {"SizeInMBs": 128, "IntervalInSeconds": 300}
    assert ext["DataFormatConversionConfiguration"]["SchemaConfiguration"]["TableName"] == "events"


def test_hive_style_prefix_reads_with_pyarrow_and_duckdb(eng, fh, clock, events_table):
    _create(fh, name="hive", Prefix="hive/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/")
    put_json(fh, "hive", [event(i) for i in range(50)])
    clock.advance(7200)                 # a second object, an hour later
    put_json(fh, "hive", [event(i) for i in range(50, 80)])
    clock.advance(60)
    assert len(keys(eng, "hive/")) == 2
    t = _dataset(eng, "hive/", partitioning="hive").to_table()
    assert sorted(t.column("id").to_pylist()) == list(range(80))
    counts = t.group_by("hour").aggregate([("id", "count")]).to_pylist()
    assert sorted((c["hour"], c["id_count"]) for c in counts) == [(0, 30), (22, 50)]
    root = store_for(eng).path("bucket", "hive")
    rows = duckdb.sql(f"SELECT CAST(dt AS VARCHAR), CAST(hour AS INT), count(*) "
                      f"FROM read_parquet('{root}/**/*', hive_partitioning=true) GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == [("2023-11-14", 22, 50), ("2023-11-15", 0, 30)]


def test_dynamic_partitioning_from_query(eng, fh, clock, events_table):
    _create(fh, name="dp", Prefix="dp/cust=!{partitionKeyFromQuery:customer}/tier=!{partitionKeyFromQuery:tier}/",
            DynamicPartitioningConfiguration={"Enabled": True},
            ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery",
                 "ParameterValue": "{customer: .customer.id, tier: .customer.tier}"},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]})
    docs = [event(i) for i in range(300)]
    docs[10]["customer"] = {"tier": 1}                 # no customer.id: an error record
    put_json(fh, "dp", docs)
    fh.put_record(DeliveryStreamName="dp", Record={"Data": b"{broken"})
    clock.advance(60)
    objects = keys(eng, "dp/")
    assert len(objects) == 15 and all(k.split("/")[1].startswith("cust=c") for k in objects)
    root = store_for(eng).path("bucket", "dp")
    rows = duckdb.sql(f"SELECT cust, count(*), min(id) FROM read_parquet('{root}/**/*', hive_partitioning=true) "
                      "GROUP BY ALL ORDER BY ALL").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("c0", 100), ("c1", 99), ("c2", 100)]
    t = _dataset(eng, "dp/", partitioning="hive").to_table()
    assert sorted(t.column("id").to_pylist()) == [i for i in range(300) if i != 10]
    assert all(str(row["customer"]["tier"]) == str(row["tier"]) for row in t.to_pylist())
    (err,) = keys(eng, "dp-errors/")
    assert err.startswith("dp-errors/partitioning-failed/")   # the error-output-type AWS uses
    failed = json_lines(eng, err)
    assert {d["errorCode"] for d in failed} == {"DynamicPartitioning.MetadataExtractionFailed"}
    assert [json.loads(base64.b64decode(d["rawData"])).get("id") if d["rawData"] != base64.b64encode(
        b"{broken").decode() else "broken" for d in failed] == [10, "broken"]


def test_dynamic_partitioning_rules(fh, events_table):
    base = dict(name="dp2", DynamicPartitioningConfiguration={"Enabled": True})
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="MetadataExtraction or Lambda"):
        _create(fh, Prefix="x/!{partitionKeyFromQuery:a}/", **base)
    proc = {"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{a: .a}"}]}]}
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="at least one partitionKey"):
        _create(fh, Prefix="x/", ProcessingConfiguration=proc, **base)
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="not defined"):
        _create(fh, Prefix="x/!{partitionKeyFromQuery:b}/", ProcessingConfiguration=proc, **base)
    bad = {"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{a: .a | length}"}]}]}
    with pytest.raises(fh.exceptions.InvalidArgumentException, match="unsupported JQ"):
        _create(fh, Prefix="x/!{partitionKeyFromQuery:a}/", ProcessingConfiguration=bad, **base)


def test_raw_dynamic_partitioning_with_strftime(eng, fh, clock):
    fh.create_delivery_stream(DeliveryStreamName="raw", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        Prefix="raw/year=!{partitionKeyFromQuery:year}/kind=!{partitionKeyFromQuery:kind}/",
        ErrorOutputPrefix="raw-err/!{firehose:error-output-type}/",
        DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [
            {"Type": "MetadataExtraction", "Parameters": [{"ParameterName": "MetadataExtractionQuery",
             "ParameterValue": '{year: .ts | strftime("%Y"), kind: .kind | ascii_downcase}'}]},
            {"Type": "AppendDelimiterToRecord", "Parameters": []}]}))
    docs = [{"ts": 1_600_000_000 + i * 5_000_000, "kind": ["A", "b"][i % 2]} for i in range(6)]
    put_json(fh, "raw", docs)
    clock.advance(60)
    got = {k.split("/")[1] + "/" + k.split("/")[2]: get(eng, k) for k in keys(eng, "raw/")}
    assert sorted(got) == ["year=2020/kind=a", "year=2020/kind=b", "year=2021/kind=a", "year=2021/kind=b"]
    lines = b"".join(got.values()).decode().splitlines()
    assert sorted(json.loads(x)["ts"] for x in lines) == [d["ts"] for d in docs]


def test_partition_keys_keep_date_like_strings_as_written(eng, fh, clock, events_table):
    """jq returns the JSON text of a string: a date-like value must not come back as a timestamp."""
    _create(fh, name="dates", Prefix="dates/day=!{partitionKeyFromQuery:day}/hour=!{partitionKeyFromQuery:h}/",
            DynamicPartitioningConfiguration={"Enabled": True},
            ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{day: .day, h: .hour}"},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]})
    docs = [dict(event(i), hour=i % 2) for i in range(20)]
    put_json(fh, "dates", docs)
    clock.advance(60)
    prefixes = sorted({"/".join(k.split("/")[1:3]) for k in keys(eng, "dates/")})
    assert prefixes == sorted({f"day={d['day']}/hour={d['hour']}" for d in docs})


def test_converted_objects_carry_the_format_extension(eng, fh, clock, events_table):
    _create(fh, name="ext")
    put_json(fh, "ext", [event(i) for i in range(3)])
    clock.advance(60)
    (key,) = keys(eng, "ext/")
    assert key.endswith(".parquet")
    _create(fh, name="ext2", FileExtension=".pq")
    put_json(fh, "ext2", [event(i) for i in range(3)])
    clock.advance(60)
    (key,) = keys(eng, "ext2/")
    assert key.endswith(".pq")


def test_dictionary_columns_sample_every_text_and_binary_type():
    """The writer's rule for each kind of text column: mostly distinct first values, no
    dictionary; repeating ones, a dictionary; fewer than DICTIONARY_SAMPLE_MIN values, the type decides."""
    from engine.firehose.export import DICTIONARY_SAMPLE_MIN, dictionary_columns

    n = 5000
    unique, repeating = [f"v{i}" for i in range(n)], ["x", "y"] * (n // 2)
    columns = {}
    for kind in (pa.string(), pa.large_string(), pa.binary(), pa.large_binary()):
        columns[f"unique_{kind}"] = pa.array(unique, pa.string()).cast(kind)
        columns[f"repeating_{kind}"] = pa.array(repeating, pa.string()).cast(kind)
    columns["number"] = pa.array(range(n))
    chosen = dictionary_columns(pa.table(columns))
    assert sorted(chosen) == sorted([name for name in columns if not name.startswith("unique_")])
    small = pa.table({k: v.slice(0, DICTIONARY_SAMPLE_MIN - 1) for k, v in columns.items()})
    assert sorted(dictionary_columns(small)) == sorted(columns)

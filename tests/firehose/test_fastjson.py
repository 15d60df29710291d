"""The C pass over JSON records (engine/firehose/fastjson.py, csrc/jsoncols.c).

Its contract: a record it takes gives exactly the row and keys the complete readers give
(JsonConverter, extract_keys); any record it is unsure of is left to them. So every delivery
writes the same objects and error documents whichever path read its records."""
import datetime
import json

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine import limits
from engine.firehose import export, fastjson, models
from engine.firehose.prefix import KeyQuery
from engine.s3 import store_for

from .conftest import ROLE, keys, s3_config

SCHEMA = pa.schema([("i8", pa.int8()), ("i16", pa.int16()), ("i32", pa.int32()), ("i64", pa.int64()),
                    ("f32", pa.float32()), ("f64", pa.float64()), ("s", pa.string()), ("b", pa.bool_()),
                    ("ts", pa.timestamp("ms")), ("tsec", pa.timestamp("s")), ("tus", pa.timestamp("us")),
                    ("d", pa.date32())])
NAMES = SCHEMA.names + ["k", "K", "S", "extra", "i32 "]


def _timestamps():
    def text(moment, sep, digits, zone):
        out = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
        if digits:
            out += "." + f"{moment.microsecond:06d}{moment.microsecond % 997:03d}"[:digits]
        return out + zone
    return st.builds(text, st.datetimes(min_value=datetime.datetime(1, 1, 1)), st.sampled_from(["T", " ", "T", " ", "t"]),
                     st.sampled_from([0, 0, 3, 3, 1, 2, 6, 9]), st.sampled_from(["", "", "", "Z", "+01:00", "z"]))


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(-200, 200),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e6, 1e6).map(lambda f: round(f, 2)),
    st.text(max_size=12), st.text(alphabet="ab\"\\\n\t\u00e9\u2028\U0001F600", max_size=8),
    _timestamps(), st.dates(min_value=datetime.date(1, 1, 1)).map(str),
    st.sampled_from(["2024-02-30", "2024-1-2", "99999-01-01", "1.5", "true"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(NAMES), inner, max_size=3), max_leaves=6)


TYPED = {"i8": st.integers(-130, 130), "i16": st.integers(-2**15 - 2, 2**15 + 2) | st.integers(-1000, 1000), "i32": st.integers(-2**31 - 2, 2**31) | st.integers(-1000, 1000),
         "i64": st.integers(-2**63 - 2, 2**63 + 2) | st.integers(-1000, 1000), "f32": st.floats(width=32) | st.floats(-1e4, 1e4),
         "f64": st.floats() | st.floats(-1e6, 1e6).map(lambda f: round(f, 2)) | st.integers(-2**60, 2**60),
         "s": st.text(max_size=12), "b": st.booleans(), "ts": _timestamps(), "tsec": _timestamps(),
         "tus": _timestamps(), "d": st.dates(min_value=datetime.date(1, 1, 1)).map(str), "k": st.text(max_size=6) | st.integers(-2**64, 2**64)}


@st.composite
def records(draw, always=()):
    names = list(dict.fromkeys(draw(st.lists(st.sampled_from(NAMES), max_size=6, unique=True)) + list(always)))
    doc = {name: draw(TYPED[name] if name in TYPED and draw(st.integers(0, 19)) else VALUES) for name in names}
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")])))
    mutation = draw(st.sampled_from(["none"] * 12 + ["repeat", "truncate", "trail", "wrap", "escape-key", "bytes"]))
    if mutation == "repeat" and doc:
        text = text[:-1] + (", " if len(doc) else "") + f'"{next(iter(doc))}": 1}}'
    elif mutation == "truncate":
        text = text[:draw(st.integers(0, max(0, len(text) - 1)))]
    elif mutation == "trail":
        text += draw(st.sampled_from([" ", "\n", "x", "{}", ","]))
    elif mutation == "wrap":
        text = f"[{text}]"
    elif mutation == "escape-key" and doc:
        name = next(iter(doc))
        text = text.replace(f'"{name}"', '"' + "".join(f"\\u{ord(c):04x}" for c in name) + '"', 1)
    data = text.encode("utf-8", "surrogatepass")
    if mutation == "bytes":
        data = data[:1] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])) + data[1:]
    return data


def _one(converter, data: bytes):
    table, good, _failed = converter.convert(pa.array([data], pa.binary()))
    return table.to_pylist()[0] if len(good) else None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=12))
def test_a_record_taken_reads_as_the_complete_reader_reads_it(batch):
    reader = fastjson.FastReader(SCHEMA, {}, ["k"])
    converter = export.JsonConverter(SCHEMA)
    parsed = reader.read([pa.array(batch, pa.binary())])
    table = parsed.table.to_pylist()
    key_values = parsed.keys["k"].to_pylist()
    for i, data in enumerate(batch):
        row = parsed.row_of[i]
        if row < 0:
            continue
        assert table[row] == _one(converter, data), data
        key = json.loads(data)["k"]
        assert key_values[row] == (key if isinstance(key, str) else str(key)), data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(always=("i64", "s", "ts")), min_size=1, max_size=12))
def test_a_key_that_is_also_a_column_gives_its_text_beside_the_typed_value(batch):
    converter = export.JsonConverter(SCHEMA)
    parsed = fastjson.FastReader(SCHEMA, {}, ["i64", "s", "ts"]).read([pa.array(batch, pa.binary())])
    table = parsed.table.to_pylist()
    for i, data in enumerate(batch):
        row = parsed.row_of[i]
        if row >= 0:
            doc = json.loads(data)
            assert table[row] == _one(converter, data), data
            assert [parsed.keys[k][row].as_py() for k in ("i64", "s", "ts")] == [str(doc["i64"]), doc["s"], doc["ts"]]


def test_what_the_pass_leaves_to_the_complete_readers():
    reader = fastjson.FastReader(pa.schema([("a", pa.int32()), ("t", pa.timestamp("ms")), ("x", pa.float64())]),
                                 {}, ["k"])
    doubtful = [b'{"k":"v","a":1,"a":2}', b'{"k":"v","A":1}', b'{"k":"v","x":NaN}', b'{"k":"v","a":1.0}',
                b'{"k":"v","a":2147483648}', b'{"k":"v","t":"2024-01-02T03:04:05+01:00"}',
                b'{"k":"v","t":"2024-01-02T03:04:05.1234"}', b'{"k":"\\ud800"}', b'{"k":"\xff"}', b'{"k":"v"} x',
                b'[{"k":"v"}]', b'{"k":"v","n":' + b"[" * 100 + b"]" * 100 + b"}", b'{"\\u006b":"v"}', b'{"a":1}',
                b'{"k":null}', b'{"k":5.0}', b'{"k":-0}', b'{"k":true}', b'{"k":12345678901234567890}', b'',
                b'{"k":"v"']
    taken = [b'{"k":-12}', b' {"k" : "\\u00e9\\ud83d\\ude00\\n", "a": -0, "zz": {"q": [1, 2e5, "\xc3\xa9"]}}\n',
             b'{"k":"v","t":"2024-01-02 03:04:05.1Z","x":1E2,"a":null}']
    parsed = reader.read([pa.array(doubtful + taken, pa.binary())])
    assert list(parsed.row_of[:len(doubtful)]) == [-1] * len(doubtful)
    assert list(parsed.row_of[len(doubtful):]) == [0, 1, 2]
    assert parsed.keys["k"].to_pylist() == ["-12", "\u00e9\U0001F600\n", "v"]
    assert parsed.table.to_pylist()[2] == {"a": None, "t": datetime.datetime(2024, 1, 2, 3, 4, 5, 100000),
                                           "x": 100.0}


def test_member_names_that_change_at_a_position_are_read_as_the_complete_reader_reads_them():
    """The pass first tries, at each position, the name the record before had there: a name that
    extends it, shortens it, differs in case or is escaped must not be taken for it."""
    batch = [b'{"i32":1,"s":"a","k":"v"}', b'{"i32 ":2,"s":"b","k":"v"}', b'{"i3":3,"s":"c","k":"v"}',
             b'{"i32":4,"S":"d","k":"v"}', b'{"i32":5,"s":"e","k":"v"}', b'{"\\u0069\\u0033\\u0032":6,"k":"v"}',
             b'{"i32":7,"k":"v","s":"g"}', b'{"k":"v","i32":8}', b'{"i32":9,"s":"i","k":"v"}', b'{"i32"',
             b'{"i32":null,"s":"k","k":"v"}', b'{"\xc3\xa9":1,"k":"v"}', b'{"\xc3\xa9":1,"k":"v","i32":12}']
    converter = export.JsonConverter(SCHEMA)
    parsed = fastjson.FastReader(SCHEMA, {}, ["k"]).read([pa.array(batch, pa.binary())])
    table = parsed.table.to_pylist()
    taken = [i for i, row in enumerate(parsed.row_of) if row >= 0]
    assert taken == [0, 1, 2, 4, 6, 7, 8, 10, 11, 12]     # a case twin, an escaped name, a cut record: left
    for i in taken:
        assert table[parsed.row_of[i]] == _one(converter, batch[i]), batch[i]
    assert [table[parsed.row_of[i]]["i32"] for i in taken] == [1, None, None, 5, 7, 8, 9, None, None, 12]


@pytest.mark.parametrize("at", [0, 1, 14, 15, 16, 17, 31, 32, 33, 47])
@pytest.mark.parametrize("special", ['\\"', "\\\\", "\\n", "\\u00e9", "\u00e9", "\U0001F600"])
def test_long_strings_read_as_the_complete_reader_reads_them_wherever_an_escape_falls(at, special):
    """Strings are copied in 16-byte blocks while they are scanned: an escape or a non-ASCII
    character at or around a block's edge ends the block there."""
    text = "x" * at + special + "y" * (40 - at)
    batch = [json.dumps({"s": text, "k": text[:at + 8]}, ensure_ascii=False).encode().replace(b"\\\\u", b"\\u"),
             json.dumps({"k": "v", "s": text}, ensure_ascii=False).encode().replace(b"\\\\u", b"\\u")]
    converter = export.JsonConverter(SCHEMA)
    parsed = fastjson.FastReader(SCHEMA, {}, ["k"]).read([pa.array(batch, pa.binary())])
    assert list(parsed.row_of) == [0, 1]
    table = parsed.table.to_pylist()
    for row, data in enumerate(batch):
        assert table[row] == _one(converter, data)
        assert table[row]["s"] == json.loads(data)["s"]
    assert parsed.keys["k"].to_pylist() == [json.loads(batch[0])["k"], "v"]


def test_runs_parsed_on_several_threads_give_one_table_in_record_order(monkeypatch):
    monkeypatch.setattr(limits, "FIREHOSE_PARSE_RUN_MIN_BYTES", 64)
    monkeypatch.setattr(fastjson, "parallelism", lambda: 3)
    docs = [json.dumps({"i64": i, "s": "x" * (i % 7), "k": f"p{i % 3}"}).encode() for i in range(1000)]
    docs[500] = b"not json"
    chunks = [pa.array(docs[i:i + 130], pa.binary()) for i in range(0, 1000, 130)]
    parsed = fastjson.FastReader(SCHEMA, {}, ["k"]).read(chunks)
    assert parsed.table.column("i64").num_chunks == 3
    assert parsed.table.column("i64").to_pylist() == [i for i in range(1000) if i != 500]
    assert parsed.keys["k"].to_pylist() == [f"p{i % 3}" for i in range(1000) if i != 500]
    assert list(np.flatnonzero(parsed.row_of < 0)) == [500]


def test_chunks_parsed_ahead_give_what_one_read_gives(monkeypatch):
    monkeypatch.setattr(limits, "FIREHOSE_PARSE_RUN_MIN_BYTES", 64)
    docs = [json.dumps({"i64": i, "s": "x" * (i % 7), "k": f"p{i % 3}"}).encode() for i in range(1000)]
    docs[500] = b"not json"
    chunks = [pa.array(docs[i:i + 130], pa.binary()) for i in range(0, 1000, 130)]
    reader = fastjson.FastReader(SCHEMA, {}, ["k"])
    whole = reader.read(chunks)
    ahead = [fastjson.parse_ahead(reader, c) if i % 3 else None for i, c in enumerate(chunks)]
    parsed = reader.read(chunks, ahead)
    assert parsed.table.to_pylist() == whole.table.to_pylist()
    assert parsed.keys["k"].to_pylist() == whole.keys["k"].to_pylist()
    assert list(parsed.row_of) == list(whole.row_of)


_KEY_VALUES = st.one_of(st.sampled_from(["eu", "us", "é", 'a\\"b']), st.integers(-3, 3))
_SPOILERS = st.sampled_from(["", None, ..., "not json"])   # an empty, null or missing key; a record left


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_KEY_VALUES, _KEY_VALUES), min_size=1, max_size=40), st.lists(st.integers(1, 9), max_size=6),
       st.one_of(st.none(), st.tuples(st.integers(0, 39), _SPOILERS)))
def test_chunks_grouped_ahead_give_the_groups_of_the_whole_buffer(values, cuts, spoiler):
    """Each chunk grouped on its own, the groups merged: the same groups, in the same order,
    with the same records, as grouping the buffer's key columns at once; None whenever a record
    was left to the complete reader or a key is missing, null or empty."""
    docs = [{"i64": i, "region": r, "day": d} for i, (r, d) in enumerate(values)]
    if spoiler is not None:
        at, value = spoiler[0] % len(docs), spoiler[1]
        if value is ...:
            del docs[at]["region"]
        elif value != "not json":
            docs[at]["day"] = value
    docs = [json.dumps(doc).encode() for doc in docs]
    if spoiler is not None and spoiler[1] == "not json":
        docs[spoiler[0] % len(docs)] = b'{"region": "eu", "day": '
    bounds = sorted({0, len(docs), *(min(c * 3, len(docs)) for c in cuts)})
    chunks = [pa.array(docs[a:b], pa.binary()) for a, b in zip(bounds[:-1], bounds[1:])]
    reader = fastjson.FastReader(SCHEMA, {}, ["region", "day"], group_keys=True)
    parsed = reader.read(chunks, [fastjson.parse_ahead(reader, c) for c in chunks])
    whole = fastjson.FastReader(SCHEMA, {}, ["region", "day"]).read(chunks)
    keys = {name: whole.keys[name].combine_chunks() for name in ("region", "day")}
    usable = (whole.row_of >= 0).all() and all(
        k.null_count == 0 and all(len(v) for v in k.to_pylist()) for k in keys.values())
    if not usable:
        assert parsed.groups is None
        return
    want = export.group_indices(keys, ["region", "day"])
    assert [(values, list(rows)) for values, rows in parsed.groups] == \
        [((v["region"], v["day"]), list(rows)) for v, rows in want]


def test_keys_from_columns_apply_the_query_filters_and_merge_the_records_left():
    data = pa.array([b'{"k":"AbC"}', b'{"k":7}', b'{"k":""}', b'{"k":"x"}'], pa.binary())
    parsed = fastjson.FastReader(None, {}, ["k"]).read([data])
    queries = [KeyQuery("low", ["k"], ".k", [("ascii_downcase",)])]
    got, ok = export.keys_from_columns(data, parsed.row_of, parsed.keys, queries)
    want, want_ok = export.extract_keys(data, queries)
    assert got["low"].to_pylist() == want["low"].to_pylist() == ["abc", "7", "", "x"]
    assert list(ok) == list(want_ok) == [True, True, False, True]


# --- through the clients: the same objects whichever path reads the records ------------------
@pytest.fixture
def make_engine(tmp_path):
    made = []

    def make():
        made.append(engine.Engine(clock=engine.ManualClock(start=1_700_000_000.0),
                                  s3_root=str(tmp_path / f"s3-{len(made)}")))
        return made[-1]
    yield make
    for e in made:
        e.close()


COLUMNS = [{"Name": "id", "Type": "bigint"}, {"Name": "name", "Type": "string"}, {"Name": "score", "Type": "double"},
           {"Name": "ok", "Type": "boolean"}, {"Name": "at", "Type": "timestamp"}, {"Name": "day", "Type": "date"}]


def _deliver(eng, records, query="{r: .region | ascii_upcase}", prefix="out/region=!{partitionKeyFromQuery:r}/",
             puts=1):
    glue, fh = eng.client("glue"), eng.client("firehose")
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={"Name": "t", "StorageDescriptor": {"Columns": COLUMNS}})
    fh.create_delivery_stream(DeliveryStreamName="d", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60}, Prefix=prefix,
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]},
        DataFormatConversionConfiguration={
            "Enabled": True, "SchemaConfiguration": {"DatabaseName": "db", "TableName": "t", "RoleARN": ROLE},
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}))
    stream = eng.backend("firehose").get("d")
    for k in range(puts):     # a chunk per put, parsed ahead on its own
        stream.put_batch(records[k * len(records) // puts:(k + 1) * len(records) // puts])
    stream.flush()
    store = store_for(eng)
    rows = {}
    for key in keys(eng, "out/"):
        part = "/".join(key.split("/")[1:-1])
        table = ds.dataset(store.path("bucket", key), filesystem=store.filesystem, format="parquet").to_table()
        rows.setdefault(part, []).extend(table.to_pylist())
    errors = {}
    for key in keys(eng, "errors/"):
        docs = [json.loads(line) for line in store.get("bucket", key).decode().splitlines()]
        errors.setdefault(key.split("/")[1], []).extend(
            (d["rawData"], d.get("errorCode") or d.get("ErrorCode"), d.get("errorMessage") or d.get("ErrorMessage"))
            for d in docs)
    return rows, errors


def test_a_delivery_writes_the_same_objects_whichever_path_reads_each_record(make_engine, monkeypatch):
    plain = [json.dumps({"id": i, "name": f"n{i}", "score": i / 4, "ok": i % 2 == 0, "at": "2024-01-02 03:04:05.5",
                         "day": "2024-01-02", "region": ["eu", "us", "ap"][i % 3]}).encode() for i in range(300)]
    odd = [b'{"id": "7", "region": "eu"}',                 # a number in a string: coerced by the SerDe
           b'{"id": 1.0, "score": -Infinity, "region": "us"}',
           b'{"ID": 3, "Name": "upper", "region": "eu"}',
           b'{"id": 2, "at": "2024-01-02T03:04:05+02:00", "region": "ap"}',
           b'{"id": 5, "region": 12}',                      # a number as the partition key
           b'{"id": 6, "region": ""}', b'{"id": 8}', b'not json', b'{"id": [1], "region": "eu"}',
           b'{"id": 9, "day": "2024-02-30", "region": "eu"}']
    records = plain[:100] + odd + plain[100:]
    fast = _deliver(make_engine(), records)
    monkeypatch.setattr(limits, "FIREHOSE_PARSE_AHEAD_MIN_BYTES", 1)     # parsed while it waits for the flush
    ahead = _deliver(make_engine(), records)
    monkeypatch.setattr(models._Plan, "fast_reader", lambda self, schema, mapping: None)
    complete = _deliver(make_engine(), records)
    assert fast == ahead == complete
    assert sum(len(v) for v in fast[0].values()) > 300
    assert set(fast[1]) == {"partitioning-failed", "format-conversion-failed"}


@pytest.mark.parametrize("odd", [None, b'{"id": 6, "region": "", "day": "2024-01-02"}', b'not json'],
                         ids=["every record grouped ahead", "an empty key", "a record left to the complete reader"])
def test_partitions_grouped_while_parsing_ahead_are_the_buffers_own(make_engine, monkeypatch, odd):
    """Keys taken as they are (no filter): each chunk parsed ahead is grouped by its keys on the
    parsing threads and the buffer's partitions merged from those; a chunk the shortcut can't
    take (an empty key, a record the C pass leaves) sends the buffer through the usual pass."""
    records = [json.dumps({"id": i, "name": f"n{i}", "day": ["2024-01-02", "2024-01-03"][(i // 50) % 2],
                           "region": ["eu", "us", "ap", "sa"][(i * 7) % 4 if i < 150 else i % 2]}).encode()
               for i in range(400)]
    if odd is not None:
        records[260] = odd
    query, prefix = "{r: .region, d: .day}", "out/d=!{partitionKeyFromQuery:d}/r=!{partitionKeyFromQuery:r}/"
    monkeypatch.setattr(limits, "FIREHOSE_PARSE_AHEAD_MIN_BYTES", 1)     # parsed while it waits for the flush
    grouped = []
    merge = fastjson._merge_groups
    monkeypatch.setattr(fastjson, "_merge_groups", lambda parts: grouped.append(merge(parts)) or grouped[-1])
    ahead = _deliver(make_engine(), records, query, prefix, puts=5)
    assert (grouped[-1] is not None) == (odd is None)
    monkeypatch.setattr(models._Plan, "fast_reader", lambda self, schema, mapping: None)
    complete = _deliver(make_engine(), records, query, prefix, puts=5)
    assert ahead == complete
    assert sorted(ahead[0]) == sorted(f"d={d}/r={r}" for d in ("2024-01-02", "2024-01-03")
                                      for r in ("eu", "us", "ap", "sa"))
    # each partition holds its records in arrival order
    assert all([row["id"] for row in rows] == sorted(row["id"] for row in rows) for rows in ahead[0].values())
    assert sum(len(v) for v in ahead[0].values()) == 400 - (odd is not None)
    assert set(ahead[1]) == (set() if odd is None else {"partitioning-failed"})


def test_a_chunk_that_cannot_be_grouped_ahead_leaves_the_buffer_to_its_own_pass(make_engine, monkeypatch):
    records = [json.dumps({"id": i, "name": f"n{i}", "day": "2024-01-02", "region": ["eu", "us"][i % 2]}).encode()
               for i in range(200)]
    query, prefix = "{r: .region}", "out/r=!{partitionKeyFromQuery:r}/"
    monkeypatch.setattr(limits, "FIREHOSE_PARSE_AHEAD_MIN_BYTES", 1)
    expected = _deliver(make_engine(), records, query, prefix, puts=3)
    group_keys, calls = fastjson._core.group_keys, []

    def out_of_memory_once(columns):
        calls.append(len(columns[0]))
        if len(calls) == 2:
            raise fastjson._core.CoreMemoryError("cannot allocate a grouping")
        return group_keys(columns)

    monkeypatch.setattr(fastjson._core, "group_keys", out_of_memory_once)
    assert _deliver(make_engine(), records, query, prefix, puts=3) == expected
    assert len(calls) >= 2 and sum(len(v) for v in expected[0].values()) == 200


def test_parallel_map_starts_the_costliest_first_and_keeps_the_order():
    started = []

    def work(item):
        started.append(item)
        return item * 10

    assert fastjson.parallel_map(work, [3, 9, 1, 5], workers=1, cost=lambda item: item) == [30, 90, 10, 50]
    assert started == [9, 5, 3, 1]
    assert fastjson.parallel_map(work, [3, 9, 1, 5], workers=2, cost=lambda item: item) == [30, 90, 10, 50]


def test_a_parse_ahead_that_fails_leaves_the_put_accepted(make_engine, monkeypatch):
    records = [json.dumps({"id": i, "name": f"n{i}", "region": "eu"}).encode() for i in range(50)]
    expected = _deliver(make_engine(), records)
    monkeypatch.setattr(limits, "FIREHOSE_PARSE_AHEAD_MIN_BYTES", 1)
    choose = models.DeliveryStream._fast_reader
    calls = []

    def failing_once(self, plan):
        calls.append(plan)
        if len(calls) == 1:       # the put's parse-ahead; the buffer's own parse then reads it
            raise RuntimeError("schema lookup failed")
        return choose(self, plan)

    monkeypatch.setattr(models.DeliveryStream, "_fast_reader", failing_once)
    assert _deliver(make_engine(), records) == expected
    assert len(calls) == 2

"""Firehose benchmarks, each group timed against its limit in the same run:

* "firehose kinesis->parquet": records already in a 4-shard Kinesis stream (100-byte records)
  delivered as snappy Parquet (poll the shards zero-copy + write), versus
  pyarrow.parquet.write_table of the same table (kind="baseline": the limit).
* "firehose directput json->parquet": put_batch of JSON records + flush with conversion through
  a Glue schema, versus pyarrow.json.read_json + pyarrow.parquet.write_table of the same bytes,
  and moto's Firehose (put_record_batch of the same records, raw delivery) when installed.
* "firehose directput json->iceberg": the same records into an Apache Iceberg table (AppendOnly,
  one commit per flush) versus pyarrow.json.read_json + pyiceberg's append of the same bytes.
* "firehose demo json->parquet dt/hour": the demo's Firehose stage (1M clickstream events from a
  4-shard Kinesis stream, MetadataExtraction dt/hour, Glue-typed snappy Parquet) against DuckDB's
  COPY ... PARTITION_BY (dt, hour) and pyarrow's read_json + write_dataset on the same lines.
* "firehose C pass json->columns (one thread)": the pass Firehose runs over each chunk it parses
  ahead (the demo's records in ~1.5 MiB chunks: the Glue table's columns, the dt/hour keys, the
  chunk's records grouped by them) against pyarrow's JSON reader given the same schema, both on
  one thread.
* "ingest json lines (whole commands)": `python -m engine ingest` against DuckDB's COPY run as a
  command, on the same file (1M events, and that file five times over, ~1 GB); wall time, and the
  peak RSS and CPU time (user + system) of each process.

report.py turns the timings into records/s, MiB/s and ratios. Sizes scale with ENGINE_BENCH_SCALE.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

import engine
from engine import _core
from engine.firehose import export
from bench.conftest import RECORD_BYTES, fixed_width_binary, random_keys, record_info, scaled

ROLE = "arn:aws:iam::000000000000:role/firehose"
KINESIS_GROUP = "firehose kinesis->parquet"
JSON_GROUP = "firehose directput json->parquet"


@pytest.fixture
def s3_eng():
    root = tempfile.mkdtemp(prefix="bench-s3-")
    e = engine.Engine(s3_root=root, clock=engine.ManualClock())
    yield e
    e.close()


@pytest.fixture(scope="module")
def kinesis_input():
    n = scaled(1_000_000)
    return fixed_width_binary(n, RECORD_BYTES, seed=3), random_keys(n, seed=4)


def _kinesis_delivery(eng, name):
    kinesis = eng.client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=4)
    stream = eng.backend("kinesis").get_stream(name)
    stream.memory_cap_bytes = None
    glue = eng.client("glue")
    try:
        glue.create_database(DatabaseInput={"Name": "bench"})
        glue.create_table(DatabaseName="bench", TableInput={
            "Name": "records", "Parameters": {"engine.firehose.input": "kinesis-records"},
            "StorageDescriptor": {"Columns": [{"Name": "partition_key", "Type": "string"},
                                              {"Name": "data", "Type": "binary"},
                                              {"Name": "sequence_number", "Type": "bigint"},
                                              {"Name": "approximate_arrival_timestamp", "Type": "timestamp"}]}})
    except eng.client("glue").exceptions.AlreadyExistsException:
        pass
    eng.client("firehose").create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream.arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench", "Prefix": f"{name}/",
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900},
            "DataFormatConversionConfiguration": {
                "Enabled": True, "SchemaConfiguration": {"DatabaseName": "bench", "TableName": "records"},
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}}})
    return stream, eng.backend("firehose").get(name)


def test_kinesis_to_parquet(benchmark, s3_eng, kinesis_input):
    """Firehose's part: read the shards (zero-copy) and write snappy Parquet."""
    data, keys = kinesis_input
    rounds = iter(range(1000))

    def setup():
        stream, delivery = _kinesis_delivery(s3_eng, f"k{next(rounds)}")
        stream.put_batch(data, keys)
        return (delivery,), {}

    benchmark.group = KINESIS_GROUP
    record_info(benchmark, records=len(data), bytes_=len(data) * RECORD_BYTES, kind="engine", shards=4,
                api="firehose flush (kinesis -> snappy parquet)")
    benchmark.pedantic(lambda d: d.flush(), setup=setup, rounds=3, iterations=1)


def test_kinesis_put_and_deliver_end_to_end(benchmark, s3_eng, kinesis_input):
    """put_batch into the stream + Firehose delivery, timed together."""
    data, keys = kinesis_input
    rounds = iter(range(1000))

    def setup():
        return _kinesis_delivery(s3_eng, f"e{next(rounds)}"), {}

    def run(stream, delivery):
        stream.put_batch(data, keys)
        delivery.flush()

    benchmark.group = KINESIS_GROUP
    record_info(benchmark, records=len(data), bytes_=len(data) * RECORD_BYTES, kind="engine", shards=4,
                api="kinesis put_batch + firehose flush")
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)


def test_kinesis_baseline_pyarrow_write_table(benchmark, s3_eng, kinesis_input):
    """The limit: pyarrow.parquet.write_table of the same records as one table."""
    data, keys = kinesis_input
    stream, delivery = _kinesis_delivery(s3_eng, "baseline")
    stream.put_batch(data, keys)
    table = pa.concat_tables([stream.read_table(i) for i in range(4)])
    path = os.path.join(s3_eng.s3_root, "baseline.parquet")
    benchmark.group = KINESIS_GROUP
    record_info(benchmark, records=table.num_rows, bytes_=table.num_rows * RECORD_BYTES, kind="baseline", shards=4,
                api="pyarrow.parquet.write_table (snappy)")
    benchmark.pedantic(lambda: pq.write_table(table, path, compression="snappy"), rounds=3, iterations=1)


# --- DirectPut JSON with conversion ----------------------------------------------------
@pytest.fixture(scope="module")
def json_input():
    n = scaled(200_000)
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 10**9, n)
    docs = [json.dumps({"id": int(i), "user": f"u{int(i) % 1000:04d}", "amount": float(i % 997) / 7,
                        "ok": bool(i & 1), "at": "2024-01-02T03:04:05"}).encode() for i in ids]
    return pa.array(docs, pa.binary())


def _json_delivery(eng, name):
    glue = eng.client("glue")
    glue.create_database(DatabaseInput={"Name": name})
    glue.create_table(DatabaseName=name, TableInput={"Name": "events", "StorageDescriptor": {"Columns": [
        {"Name": "id", "Type": "bigint"}, {"Name": "user", "Type": "string"}, {"Name": "amount", "Type": "double"},
        {"Name": "ok", "Type": "boolean"}, {"Name": "at", "Type": "timestamp"}]}})
    eng.client("firehose").create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench", "Prefix": f"{name}/",
        "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900},
        "DataFormatConversionConfiguration": {
            "Enabled": True, "SchemaConfiguration": {"DatabaseName": name, "TableName": "events"},
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}})
    return eng.backend("firehose").get(name)


def _bytes(arr):
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)
    return int(offsets[-1] - offsets[0])


def test_directput_json_to_parquet(benchmark, s3_eng, json_input):
    rounds = iter(range(1000))

    def setup():
        return (_json_delivery(s3_eng, f"j{next(rounds)}"),), {}

    def run(delivery):
        delivery.put_batch(json_input)
        delivery.flush()

    benchmark.group = JSON_GROUP
    record_info(benchmark, records=len(json_input), bytes_=_bytes(json_input), kind="engine",
                api="put_batch + flush (json -> parquet)")
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)


def test_directput_json_boto3_shape(benchmark, s3_eng, json_input):
    n = min(len(json_input), 50_000)
    records = [{"Data": d} for d in json_input.slice(0, n).to_pylist()]
    rounds = iter(range(1000))

    def setup():
        return (_json_delivery(s3_eng, f"b{next(rounds)}"),), {}

    def run(delivery):
        fh = s3_eng.client("firehose")
        for start in range(0, n, 500):
            fh.put_record_batch(DeliveryStreamName=delivery.name, Records=records[start:start + 500])
        delivery.flush()

    benchmark.group = JSON_GROUP
    record_info(benchmark, records=n, bytes_=_bytes(json_input.slice(0, n)), kind="engine",
                api="put_record_batch + flush (json -> parquet)")
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)


def test_directput_json_baseline_pyarrow(benchmark, s3_eng, json_input):
    """The limit: pyarrow reads the same JSON lines and writes the same Parquet."""
    import pyarrow.compute as pc
    joined = pc.binary_join_element_wise(json_input, pa.scalar(b""), pa.scalar(b"\n"))
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)
    buf = joined.buffers()[2].slice(0, int(offsets[-1]))
    schema = pa.schema([("id", pa.int64()), ("user", pa.string()), ("amount", pa.float64()), ("ok", pa.bool_()),
                        ("at", pa.timestamp("ms"))])
    path = os.path.join(s3_eng.s3_root, "json-baseline.parquet")

    def run():
        table = pajson.read_json(pa.BufferReader(buf), parse_options=pajson.ParseOptions(explicit_schema=schema))
        pq.write_table(table, path, compression="snappy")

    benchmark.group = JSON_GROUP
    record_info(benchmark, records=len(json_input), bytes_=_bytes(json_input), kind="baseline",
                api="pyarrow read_json + write_table")
    benchmark.pedantic(run, rounds=3, iterations=1)


# --- DirectPut JSON into an Apache Iceberg table -------------------------------------------
ICEBERG_GROUP = "firehose directput json->iceberg"
ICEBERG_CATALOG = "arn:aws:glue:us-east-1:000000000000:catalog"
ICEBERG_SCHEMA = pa.schema([("id", pa.int64()), ("user", pa.string()), ("amount", pa.float64()),
                            ("ok", pa.bool_()), ("at", pa.timestamp("us"))])


def _iceberg_table(eng, database):
    """An empty Iceberg table db.events in the engine's Glue catalog, and that catalog (pyiceberg's)."""
    from pyiceberg.catalog.glue import GlueCatalog

    glue = eng.client("glue")
    glue.create_database(DatabaseInput={"Name": database})
    catalog = GlueCatalog("bench", client=glue)
    location = f"file://{os.path.join(eng.s3_root, 'lake', database)}"
    return catalog, catalog.create_table((database, "events"), schema=ICEBERG_SCHEMA, location=location)


def test_directput_json_to_iceberg(benchmark, s3_eng, json_input):
    """The same records as the Parquet destination, appended to an Iceberg table: one commit per flush."""
    pytest.importorskip("pyiceberg")
    rounds = iter(range(1000))

    def setup():
        database = f"i{next(rounds)}"
        _iceberg_table(s3_eng, database)
        s3_eng.client("firehose").create_delivery_stream(DeliveryStreamName=database, IcebergDestinationConfiguration={
            "RoleARN": ROLE, "CatalogConfiguration": {"CatalogARN": ICEBERG_CATALOG},
            "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench", "ErrorOutputPrefix": "ice-err/"},
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}, "AppendOnly": True,
            "DestinationTableConfigurationList": [{"DestinationDatabaseName": database,
                                                   "DestinationTableName": "events"}]})
        return (s3_eng.backend("firehose").get(database),), {}

    def run(delivery):
        delivery.put_batch(json_input)
        delivery.flush()

    benchmark.group = ICEBERG_GROUP
    record_info(benchmark, records=len(json_input), bytes_=_bytes(json_input), kind="engine",
                api="put_batch + flush (json -> iceberg append)")
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)


def test_directput_json_baseline_pyiceberg(benchmark, s3_eng, json_input):
    """The limit: pyarrow reads the same JSON lines and pyiceberg appends them in one commit."""
    pytest.importorskip("pyiceberg")
    joined = pc.binary_join_element_wise(json_input, pa.scalar(b""), pa.scalar(b"\n"))
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)
    buf = joined.buffers()[2].slice(0, int(offsets[-1]))
    rounds = iter(range(1000))

    def setup():
        return (_iceberg_table(s3_eng, f"p{next(rounds)}")[1],), {}

    def run(table):
        rows = pajson.read_json(pa.BufferReader(buf), parse_options=pajson.ParseOptions(
            explicit_schema=ICEBERG_SCHEMA))
        table.append(rows.cast(table.schema().as_arrow()))

    benchmark.group = ICEBERG_GROUP
    record_info(benchmark, records=len(json_input), bytes_=_bytes(json_input), kind="baseline",
                api="pyarrow read_json + pyiceberg append")
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)


def test_directput_moto(benchmark, json_input):
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    n = min(len(json_input), 5_000)
    records = [{"Data": d} for d in json_input.slice(0, n).to_pylist()]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        fh = boto3.client("firehose", region_name="us-east-1")
        fh.create_delivery_stream(DeliveryStreamName="m", ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench", "Prefix": "m/"})

        def run():
            for start in range(0, n, 500):
                fh.put_record_batch(DeliveryStreamName="m", Records=records[start:start + 500])

        benchmark.group = JSON_GROUP
        record_info(benchmark, records=n, bytes_=_bytes(json_input.slice(0, n)), kind="moto",
                    api="moto put_record_batch (raw, no conversion)")
        benchmark.pedantic(run, rounds=3, iterations=1)


# --- the main job: demo records -> partitioned Parquet, against DuckDB and pyarrow -----------
DEMO_GROUP = "firehose demo json->parquet dt/hour"
INGEST_GROUP = "ingest json lines (whole commands)"


@pytest.fixture(scope="module")
def demo_lines(tmp_path_factory):
    """The demo's clickstream as JSON lines: an Arrow array and the same bytes in a file."""
    from engine.cli.arrow_json import batch_to_json_lines
    from engine.cli.demo import clickstream

    n = scaled(1_000_000)
    table = clickstream(n)
    lines = pa.concat_arrays([batch_to_json_lines(b) for b in table.to_batches(100_000)])
    path = tmp_path_factory.mktemp("demo") / "clicks.jsonl"
    joined = pc.binary_join_element_wise(lines, "", "\n")
    with open(path, "wb") as f:
        f.write(export.concatenated(joined.cast(pa.binary())))
    return table, lines, table.column("user_id").cast(pa.string()).combine_chunks(), str(path)


def _demo_delivery(eng, table, name):
    from engine.cli.pipeline import Pipeline

    pipeline = Pipeline(eng, name, 4, "bench", name, partition_by=["dt", "hour"], database=name, table="clicks")
    pipeline.create(table.schema)
    return pipeline


def test_demo_firehose_delivery(benchmark, s3_eng, demo_lines):
    """Records already in the 4-shard stream; Firehose reads, parses, partitions by dt/hour and
    writes snappy Parquet typed by the Glue table (the demo's Firehose stage)."""
    table, lines, keys, path = demo_lines
    rounds = iter(range(1000))

    def setup():
        pipeline = _demo_delivery(s3_eng, table, f"demo{next(rounds)}")
        for start in range(0, len(lines), 100_000):
            pipeline.put(lines[start:start + 100_000], keys[start:start + 100_000])
        _core.prefault_wait_idle()    # the puts' background work is theirs, not the delivery's
        return (pipeline,), {}

    benchmark.group = DEMO_GROUP
    record_info(benchmark, records=len(lines), bytes_=os.path.getsize(path), kind="engine",
                api="firehose flush (kinesis source, dt/hour, glue-typed snappy parquet)")
    benchmark.pedantic(lambda p: p.deliver(), setup=setup, rounds=3, iterations=1)


def test_demo_duckdb_copy(benchmark, demo_lines, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    _, lines, _, path = demo_lines
    rounds = iter(range(1000))

    def run():
        out = tmp_path / f"duck{next(rounds)}"
        duckdb.connect().execute(f"COPY (SELECT * FROM read_json('{path}')) TO '{out}' "
                                 "(FORMAT parquet, PARTITION_BY (dt, hour))")

    benchmark.group = DEMO_GROUP
    record_info(benchmark, records=len(lines), bytes_=os.path.getsize(path), kind="peer",
                api="DuckDB COPY (read_json) TO parquet PARTITION_BY (dt, hour)")
    benchmark.pedantic(run, rounds=3, iterations=1)


def test_demo_pyarrow_pipeline(benchmark, demo_lines, tmp_path):
    import pyarrow.dataset as ds

    _, lines, _, path = demo_lines
    rounds = iter(range(1000))

    def run():
        table = pajson.read_json(path)
        ds.write_dataset(table, tmp_path / f"pa{next(rounds)}", format="parquet", partitioning=["dt", "hour"],
                         partitioning_flavor="hive")

    benchmark.group = DEMO_GROUP
    record_info(benchmark, records=len(lines), bytes_=os.path.getsize(path), kind="peer",
                api="pyarrow read_json + write_dataset (hive dt/hour)")
    benchmark.pedantic(run, rounds=3, iterations=1)


# --- the C pass alone: JSON records -> typed columns and partition keys, one thread ------------
PARSE_GROUP = "firehose C pass json->columns (one thread)"
PARSE_CHUNK_BYTES = 3 << 19       # about a shard's share of an ingest block, as Firehose parses ahead


@pytest.fixture(scope="module")
def demo_chunks(demo_lines):
    """The demo's lines, each with its line end (as `engine ingest` puts them), in chunks of
    PARSE_CHUNK_BYTES, the schema its Glue table gives them (partition columns aside) and each
    chunk's bytes, for pyarrow's reader."""
    table, lines, _, _ = demo_lines
    lines = pc.binary_join_element_wise(lines, "", "\n")
    sizes = np.diff(export.offsets(lines))
    cuts = np.searchsorted(np.cumsum(sizes), np.arange(PARSE_CHUNK_BYTES, int(sizes.sum()), PARSE_CHUNK_BYTES))
    bounds = [0, *sorted(set(int(c) for c in cuts)), len(lines)]
    chunks = [lines.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:])]
    schema = pa.schema([f for f in table.schema if f.name not in ("dt", "hour")])
    return chunks, schema, [pa.py_buffer(export.concatenated(c)) for c in chunks]


def test_parse_c_pass(benchmark, demo_chunks):
    """The C pass Firehose runs over each chunk parsed ahead: the Glue table's columns and the
    dt/hour keys, with the chunk's records grouped by key, on one thread."""
    from engine.firehose.fastjson import FastReader

    chunks, schema, _ = demo_chunks
    reader = FastReader(schema, {}, ["dt", "hour"], group_keys=True)
    benchmark.group = PARSE_GROUP
    n = sum(len(c) for c in chunks)
    record_info(benchmark, records=n, bytes_=sum(c.nbytes for c in chunks), kind="engine",
                api="FastReader.parse_chunk (columns + dt/hour keys, grouped)")
    parts = benchmark.pedantic(lambda: [reader.parse_chunk(c) for c in chunks], rounds=5, iterations=1)
    assert sum(rows for _, rows, _, _ in parts) == n     # every record taken by the pass


def test_parse_pyarrow_read_json(benchmark, demo_chunks):
    """pyarrow's JSON reader on the same chunks' bytes with the same explicit schema, one thread
    (its columns only: no keys, no grouping)."""
    chunks, schema, joined = demo_chunks
    options = pajson.ReadOptions(use_threads=False, block_size=PARSE_CHUNK_BYTES * 2)
    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    benchmark.group = PARSE_GROUP
    record_info(benchmark, records=sum(len(c) for c in chunks), bytes_=sum(c.nbytes for c in chunks),
                kind="baseline", api="pyarrow.json.read_json, explicit schema (use_threads=False)")
    tables = benchmark.pedantic(lambda: [pajson.read_json(pa.BufferReader(b), read_options=options,
                                                          parse_options=parse) for b in joined], rounds=5, iterations=1)
    assert sum(t.num_rows for t in tables) == sum(len(c) for c in chunks)


# --- ingest as whole commands: wall time and peak memory of each process ----------------------
# A small process that runs each command it is sent (a JSON argv per line) and answers its exit
# code, peak RSS (KiB) and the tail of its stderr. The commands' parent must be small: a child
# of the benchmark process would report the benchmark's RSS as its own peak (Linux carries the
# exec'ing memory's high-water mark into the child's ru_maxrss).
_SPAWNER = """
import json, os, subprocess, sys
for line in sys.stdin:
    proc = subprocess.Popen(json.loads(line), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime,
                      err[-2000:].decode(errors="replace")]),
          flush=True)
"""


@pytest.fixture(scope="module")
def spawner(tmp_path_factory):
    """The spawner; its commands import compiled bytecode, as from an installed package (pip
    compiles it at install), kept outside the tree: the editable install here runs under
    PYTHONDONTWRITEBYTECODE=1, which would compile the engine's modules from source in every
    command (about 0.2 s of CPU time that no installed package spends)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    proc = subprocess.Popen([sys.executable, "-c", _SPAWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    warm = tmp_path_factory.mktemp("warm")
    (warm / "one.jsonl").write_text('{"dt": "2026-11-28", "hour": "06"}\n')
    _run_command(proc, [sys.executable, "-m", "engine", "ingest", warm / "one.jsonl", "--to", warm / "out",
                        "--partition-by", "dt,hour", "--quiet"])    # the bytecode is written here, untimed
    yield proc
    proc.stdin.close()
    proc.wait()


def _run_command(spawner, argv) -> tuple[float, float]:
    """Run one command (timed by the caller): its peak RSS in MiB and its CPU seconds (user + system,
    every thread: what the command costs whatever the machine's load)."""
    spawner.stdin.write(json.dumps([str(a) for a in argv]) + "\n")
    spawner.stdin.flush()
    code, kib, cpu_s, err = json.loads(spawner.stdout.readline())
    if code:
        raise RuntimeError(f"{argv[:4]} failed: {err}")
    return kib / 1024, cpu_s


@pytest.fixture(scope="module", params=[1, 5], ids=["1M events", "~1 GB"])
def ingest_file(request, demo_lines, tmp_path_factory):
    """The demo's JSON lines (scaled 1M events, 196 MB), or that file five times over (~1 GB)."""
    _, lines, _, path = demo_lines
    if request.param == 1:
        return path, len(lines), "1M events"
    big = tmp_path_factory.mktemp("big") / "clicks-1gb.jsonl"
    with open(path, "rb") as src, open(big, "wb") as dst:
        blob = src.read()
        for _ in range(request.param):
            dst.write(blob)
    return str(big), len(lines) * request.param, "~1 GB"


INGEST_ROUNDS = 3
INGEST_PAIRED_ROUNDS = 5     # engine rounds, each just after DuckDB's command on the same file


def _duckdb_argv(path, out):
    script = ("import sys, duckdb; duckdb.sql(f\"COPY (SELECT * FROM read_json('{sys.argv[1]}')) TO "
              "'{sys.argv[2]}' (FORMAT parquet, PARTITION_BY (dt, hour))\")")
    return [sys.executable, "-c", script, path, str(out)]


def _ingest_bench(benchmark, argv_for, ingest_file, kind, api, tmp_path, spawner, peer_argv_for=None):
    """Whole commands, timed by the benchmark. With peer_argv_for, each round is preceded by the
    peer's command (untimed by the benchmark, timed here), and paired_ratio is the median over
    rounds of (peer's wall time / this round's): the machine's speed drifts by up to 2x from one
    minute to the next here, and separate rows inherit that drift (see bench_kinesis PAIRED_NOTE)."""
    path, n, _label = ingest_file
    rounds = iter(range(1000))
    usage, peer_s, own_s = [], [], []

    def peer_first():   # (pedantic's setup)
        if peer_argv_for is not None:
            start = time.perf_counter()
            _run_command(spawner, peer_argv_for(path, tmp_path / f"peer{next(rounds)}"))
            peer_s.append(time.perf_counter() - start)
        return (), {}

    def run():
        start = time.perf_counter()
        usage.append(_run_command(spawner, argv_for(path, tmp_path / f"out{next(rounds)}")))
        own_s.append(time.perf_counter() - start)

    benchmark.group = f"{INGEST_GROUP}, {n / 1e6:g}M events ({os.path.getsize(path) / 2**20:,.0f} MiB)"
    record_info(benchmark, records=n, bytes_=os.path.getsize(path), kind=kind, api=api)
    benchmark.pedantic(run, setup=peer_first, rounds=INGEST_PAIRED_ROUNDS if peer_argv_for else INGEST_ROUNDS,
                       iterations=1)
    benchmark.extra_info["peak_rss_mib"] = round(max(peak for peak, _ in usage))
    benchmark.extra_info["cpu_s"] = round(float(np.median([cpu for _, cpu in usage])), 2)
    if peer_s:
        benchmark.extra_info["paired_ratio"] = round(float(np.median([p / o for p, o in zip(peer_s, own_s)])), 2)


def test_ingest_engine_command(benchmark, ingest_file, tmp_path, spawner):
    _ingest_bench(benchmark, lambda path, out: [sys.executable, "-m", "engine", "ingest", path, "--to", str(out),
                                                "--partition-by", "dt,hour", "--quiet"],
                  ingest_file, "engine", "python -m engine ingest --partition-by dt,hour", tmp_path, spawner,
                  peer_argv_for=_duckdb_argv if importlib.util.find_spec("duckdb") else None)


def test_ingest_duckdb_command(benchmark, ingest_file, tmp_path, spawner):
    pytest.importorskip("duckdb")
    _ingest_bench(benchmark, _duckdb_argv, ingest_file, "peer", "DuckDB COPY ... PARTITION_BY (dt, hour) (python -c)",
                  tmp_path, spawner)

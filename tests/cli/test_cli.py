"""The command line end to end on small inputs: files written, row counts, exit codes, errors."""
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from engine.cli import main
from engine.cli.arrow_json import batch_to_json_lines

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_puts_records_through_kinesis_and_firehose_into_partitioned_parquet(tmp_path, capsys):
    code = main(["demo", "--records", "3000", "--shards", "2", "--root", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "records in: 3,000   records out: 3,000   OK: equal" in out
    for stage in ("generate", "kinesis put", "firehose delivery", "read back"):
        assert stage in out
    dataset = ds.dataset(tmp_path / "engine-demo" / "clicks", format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 3000
    assert set(table.column("dt").to_pylist()) == {"2026-11-28"}
    assert {int(h) for h in table.column("hour").to_pylist()} == set(range(6, 12))
    assert "user_id" in table.column_names and "event_time" in table.column_names
    files = list((tmp_path / "engine-demo" / "clicks").rglob("*.parquet"))
    assert files and all(f.parent.name.startswith("hour=") for f in files)
    # the same files read at once by DuckDB and polars
    import duckdb

    pattern = f"{tmp_path}/engine-demo/clicks/**/*.parquet"
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning=true)").fetchall()[0][0] == 3000
    pl = pytest.importorskip("polars")
    frame = pl.read_parquet(pattern, hive_partitioning=True)
    assert frame.height == 3000 and frame["user_id"].sum() == table.column("user_id").to_numpy().sum()


def _rows(n=250):
    return [{"id": i, "name": f"n{i}", "city": ["paris", "oslo", "lima"][i % 3], "score": i / 4,
             "note": 'quote " and \\ and é' if i % 50 == 0 else None} for i in range(n)]


def _write_inputs(tmp_path):
    rows = _rows()
    table = pa.Table.from_pylist(rows)
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    csv = tmp_path / "in.csv"
    pcsv.write_csv(table.drop_columns(["note"]), csv)
    parquet = tmp_path / "in.parquet"
    pq.write_table(table, parquet, row_group_size=100)
    return rows, {"jsonl": jsonl, "csv": csv, "parquet": parquet}


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_ingest_each_format_to_partitioned_parquet(tmp_path, capsys, kind):
    rows, files = _write_inputs(tmp_path)
    out_dir = tmp_path / "out"
    code = main(["ingest", str(files[kind]), "--to", str(out_dir), "--partition-key", "name",
                 "--partition-by", "city", "--batch-size", "64", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"ingested {len(rows)} records from 1 file(s)" in out
    table = ds.dataset(out_dir, format="parquet", partitioning="hive",
                       ignore_prefixes=[".", "_", "errors"]).to_table()
    assert table.num_rows == len(rows)
    assert sorted(table.column("id").to_pylist()) == list(range(len(rows)))
    assert {d.name for d in out_dir.iterdir() if not d.name.startswith(".")} == \
        {"city=paris", "city=oslo", "city=lima"}
    if kind != "csv":
        notes = {r["id"]: r["note"] for r in table.to_pylist()}
        assert notes[50] == 'quote " and \\ and é' and notes[1] is None


def test_ingest_json_output_with_gzip(tmp_path, capsys):
    rows, files = _write_inputs(tmp_path)
    code = main(["ingest", str(files["jsonl"]), "--to", str(tmp_path / "raw"), "--format", "json",
                 "--compression", "gzip", "--quiet"])
    assert code == 0
    objects = [p for p in (tmp_path / "raw").rglob("*") if p.is_file() and ".engine-tmp" not in str(p)]
    assert objects and all(p.name.endswith(".gz") for p in objects)
    import gzip

    lines = [json.loads(line) for p in objects for line in gzip.decompress(p.read_bytes()).splitlines() if line]
    assert sorted(r["id"] for r in lines) == [r["id"] for r in rows]


def test_ingest_to_s3_uri_lands_under_the_s3_root(tmp_path, capsys, monkeypatch):
    _, files = _write_inputs(tmp_path)
    monkeypatch.setenv("ENGINE_S3_ROOT", str(tmp_path / "s3"))
    assert main(["ingest", str(files["parquet"]), "--to", "s3://lake/events", "--quiet"]) == 0
    table = ds.dataset(tmp_path / "s3" / "lake" / "events", format="parquet").to_table()
    assert table.num_rows == 250


@pytest.mark.parametrize("args,message", [
    (["missing.jsonl", "--to", "OUT"], "missing.jsonl: no such file"),
    (["IN.jsonl", "--to", "OUT", "--partition-key", "nope"], "unknown column 'nope'"),
    (["IN.jsonl", "--to", "OUT", "--partition-by", "city,zzz"], "unknown column 'zzz'"),
    (["IN.txt", "--to", "OUT"], "unknown file type"),
    (["BAD.jsonl", "--to", "OUT"], "BAD.jsonl: line 3:"),
    (["IN.jsonl", "--to", "OUT", "--compression", "lz4"], "--compression lz4"),
    (["IN.jsonl", "--to", "OUT_DIR"], "Bucket names can consist only of lowercase letters"),
])
def test_ingest_errors_are_one_clear_line(tmp_path, capsys, args, message):
    _, files = _write_inputs(tmp_path)
    (tmp_path / "IN.jsonl").write_text(files["jsonl"].read_text())
    (tmp_path / "IN.txt").write_text("x")
    (tmp_path / "BAD.jsonl").write_text('{"a": 1}\n{"a": 2}\n{"a": \n')
    args = [str(tmp_path / a) if a.isupper() or a.endswith((".jsonl", ".txt")) else a for a in args]
    code = main(["ingest", *args, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_and_bad_arguments_exit_cleanly(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["demo", "--records", "0"])
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_console_module_runs_and_bench_writes_a_report(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "engine", "bench", "--scale", "0.01", "--out", str(out),
                           "-k", "md5 or route"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    reports = list(out.glob("*.json"))
    assert len(reports) == 1
    rows = json.loads(reports[0].read_text())["results"]
    assert {r["group"] for r in rows} == {"md5", "routing (16 shards)"}
    assert all(r["records_per_s"] > 0 for r in rows)
    assert (out / "latest.md").read_text().count("| md5 |") == 2
    assert (out / "latest.png").stat().st_size > 1000


_COMMAND_PROBE = """
import os, sys
from engine.cli import main
code = main(sys.argv[1:])
import pyarrow
print(code, os.environ.get("OPENBLAS_NUM_THREADS"), pyarrow.default_memory_pool().backend_name)
"""


@pytest.mark.parametrize("command", ["ingest", "demo"])
@pytest.mark.parametrize("preset, expected", [({}, ["1", "system"]),
                                              ({"OPENBLAS_NUM_THREADS": "2", "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"},
                                               ["2", "mimalloc"])])
def test_command_process_starts_without_blas_threads_and_with_malloc_for_arrow(tmp_path, command, preset, expected):
    """OpenBLAS's threads spin at import (CPU time a command does not use) and mimalloc returns
    freed pages at once (faulted in afresh by the next delivery); a user's own settings stand."""
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    argv = {"ingest": ["ingest", str(tmp_path / "in.jsonl"), "--to", str(tmp_path / "out"), "--quiet"],
            "demo": ["demo", "--records", "100", "--root", str(tmp_path / "demo"), "--quiet"]}[command]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "ARROW_DEFAULT_MEMORY_POOL")}
    proc = subprocess.run([sys.executable, "-c", _COMMAND_PROBE, *argv], env={**env, **preset}, capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.split()[-3:] == ["0", *expected], proc.stderr[-2000:]


_HEAP_PROBE = """
import ctypes, sys
from engine.cli import main
code = main(sys.argv[1:])
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
block = libc.malloc(16 << 20)   # a block the size of a delivery's column
heap = [line.split()[0].split("-") for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
print(code, any(int(lo, 16) <= block < int(hi, 16) for lo, hi in heap))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                    reason="mallopt's thresholds are glibc's")
@pytest.mark.parametrize("command", ["ingest", "demo"])
def test_command_process_serves_large_blocks_from_malloc_heap_not_fresh_mappings(tmp_path, command):
    """glibc maps blocks over its threshold afresh (faulted in and zeroed at every use, unmapped at
    free); the commands raise it so a block of 16 MiB comes from the heap that keeps what is freed."""
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    argv = {"ingest": ["ingest", str(tmp_path / "in.jsonl"), "--to", str(tmp_path / "out"), "--quiet"],
            "demo": ["demo", "--records", "100", "--root", str(tmp_path / "demo"), "--quiet"]}[command]
    proc = subprocess.run([sys.executable, "-c", _HEAP_PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split()[-2:] == ["0", "True"], proc.stderr[-2000:]
    # the same block in a process that ran no command: a fresh mapping, outside the heap
    plain = subprocess.run([sys.executable, "-c", _HEAP_PROBE.replace("code = main(sys.argv[1:])", "code = 0")],
                           capture_output=True, text=True, timeout=120)
    assert plain.stdout.split() == ["0", "False"], plain.stderr[-2000:]


def test_arrow_json_lines_round_trip_through_json_loads():
    batch = pa.record_batch({"s": ["a\"b\\", None, "é\n\t\x01"], "i": [1, None, -3], "f": [1.5, float("nan"), None],
                             "b": [True, False, None], "l": [[1], None, [2, 3]]})
    docs = [json.loads(line) for line in batch_to_json_lines(batch).to_pylist()]
    assert docs == [{"s": "a\"b\\", "i": 1, "f": 1.5, "b": True, "l": [1]},
                    {"s": None, "i": None, "f": None, "b": False, "l": None},
                    {"s": "é\n\t\x01", "i": -3, "f": None, "b": None, "l": [2, 3]}]


def test_ingest_json_lines_in_many_blocks_keeps_every_record_and_lets_the_stream_go(tmp_path, capsys, monkeypatch):
    from engine.cli import ingest
    from engine.kinesis import models as kinesis_models

    monkeypatch.setattr(ingest, "json_block_bytes", lambda shards: 4096)    # many blocks and puts
    kept = []
    real = kinesis_models.Stream.apply_retention

    def spy(self, now=None):
        real(self, now)
        kept.append(sum(s.log.stats()["records"] for s in self.shards))
    monkeypatch.setattr(kinesis_models.Stream, "apply_retention", spy)
    rows = [{"id": i, "user": i % 7, "city": ["paris", "oslo"][i % 2], "pad": "x" * (i % 50)} for i in range(3000)]
    path = tmp_path / "big.jsonl"
    path.write_text("\n\n".join(json.dumps(r) for r in rows) + "\n   \n")     # blank lines between and after
    code = main(["ingest", str(path), "--to", str(tmp_path / "out"), "--partition-key", "user",
                 "--partition-by", "city", "--quiet"])
    assert code == 0, capsys.readouterr()
    table = ds.dataset(tmp_path / "out", format="parquet", partitioning="hive",
                       ignore_prefixes=[".", "_", "errors"]).to_table()
    assert sorted(table.column("id").to_pylist()) == list(range(3000))
    assert len(kept) > 50 and max(kept) < 1000      # what Firehose has read is not kept in the stream


def test_ingest_names_the_first_malformed_line_after_delivering_the_rest(tmp_path, capsys, monkeypatch):
    from engine.cli import ingest

    monkeypatch.setattr(ingest, "SCHEMA_SAMPLE_BYTES", 64)     # the bad line is past the schema sample
    lines = [json.dumps({"id": i}) for i in range(200)]
    lines[150] = '{"id": 150,'
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code = main(["ingest", str(path), "--to", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "late.jsonl: line 151:" in err and "1 records not delivered" in err
    table = ds.dataset(tmp_path / "out", format="parquet", ignore_prefixes=[".", "_", "errors"]).to_table()
    assert table.num_rows == 199


def test_ingest_types_dates_and_times_as_timestamps_as_duckdb_reads_them(tmp_path, capsys):
    """Text that is a date and time in every sampled line becomes a timestamp column (as
    DuckDB's read_json infers it); text that is not, or not always, or finer than Glue's
    milliseconds, stays text. DuckDB reads the timestamps back as the same instants."""
    import datetime

    rows = [{"at": f"2026-11-28 06:{i // 60:02d}:{i % 60:02d}.{i % 1000:03d}", "iso": f"2026-11-28T07:00:{i % 60:02d}Z",
             "mixed": "n/a" if i == 3 else "2026-11-28 06:00:00", "micros": "2026-11-28 06:00:00.123456",
             "id": i} for i in range(300)]
    rows[5]["at"] = None
    path = tmp_path / "times.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["ingest", str(path), "--to", str(tmp_path / "out"), "--quiet"]) == 0, capsys.readouterr()
    table = ds.dataset(tmp_path / "out", format="parquet", ignore_prefixes=[".", "_", "errors"]).to_table()
    types = {f.name: f.type for f in table.schema}
    assert types["at"] == pa.timestamp("ms") and types["iso"] == pa.timestamp("ms")
    assert types["mixed"] == pa.string() and types["micros"] == pa.string()
    got = {r["id"]: r for r in table.to_pylist()}
    assert len(got) == 300 and got[5]["at"] is None
    assert got[61]["at"] == datetime.datetime(2026, 11, 28, 6, 1, 1, 61_000)
    assert got[7]["iso"] == datetime.datetime(2026, 11, 28, 7, 0, 7)
    import duckdb

    pattern = f"{tmp_path}/out/**/*.parquet"
    assert duckdb.sql(f"SELECT count(*), min(\"at\"), max(iso) FROM read_parquet('{pattern}')").fetchall()[0] == (
        300, datetime.datetime(2026, 11, 28, 6, 0, 0), datetime.datetime(2026, 11, 28, 7, 0, 59))


@pytest.mark.parametrize("offset,n", [(0, 10), (4090, 20), (123_456, 5000)])
def test_ingest_spread_keys_carry_their_own_md5_so_puts_route_as_the_keys_would(offset, n):
    """Without --partition-key, ingest spreads records over keys "0".."4095" and hands the
    stream their MD5s as hash keys (computed once): each record lands on the shard its key
    would pick."""
    from engine import _core
    from engine.cli.ingest import SPREAD_KEYS, _spread_keys

    keys, hashes = _spread_keys(offset, n)
    assert keys.to_pylist() == [str((offset + i) % SPREAD_KEYS) for i in range(n)]
    router = _core.Router([0, 2**126, 2**127, 3 * 2**126, 2**128 - 2**100])
    assert router.route(keys, hashes).tolist() == router.route(keys).tolist()

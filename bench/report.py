"""Run the benchmark suites and write results/<date>.json, a markdown table and a PNG chart.

Each figure is a rate (records/s, MiB/s) and ratios measured in the same run: to the
documented per-shard limit (1,000 records/s or 1 MiB/s per shard) and to the baseline of
its group (pure Python, pyarrow alone or moto), since absolute timings on a shared machine
are noisy and ratios are not.

    python -m bench.report [--scale 0.2] [--out bench/results] [-k EXPR]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SHARD_RECORDS_PER_S = 1000
SHARD_MIB_PER_S = 1.0
SHARD_READ_MIB_PER_S = 2.0
NOTE_KEYS = ("overhead_bytes_per_record", "reserved_bytes_per_record", "overhead_bytes_per_message")


def run_suites(scale: float, select: str | None, json_path: Path) -> int:
    cmd = [sys.executable, "-m", "pytest", str(BENCH_DIR), "-p", "no:cacheprovider", "-o", "addopts=",
           "--benchmark-only", f"--benchmark-json={json_path}", "--benchmark-min-rounds=3",
           "--benchmark-max-time=0.5", "--benchmark-disable-gc", "-q", "--benchmark-columns=median,rounds"]
    if select:
        cmd += ["-k", select]
    env = dict(os.environ, ENGINE_BENCH_SCALE=str(scale))
    print("running:", " ".join(cmd), flush=True)
    return subprocess.call(cmd, env=env, cwd=BENCH_DIR.parent)


def summarize(raw: dict) -> list[dict]:
    rows = []
    for b in raw["benchmarks"]:
        info = b.get("extra_info", {})
        if "records" not in info:
            continue
        seconds = b["stats"]["median"]
        row = {
            "group": b["group"] or b["name"],
            "name": b["name"],
            "api": info.get("api", b["name"]),
            "kind": info.get("kind", "engine"),
            "shards": info.get("shards"),
            "records_per_s": info["records"] / seconds,
            "mib_per_s": info.get("bytes", 0) / seconds / 2**20,
            "median_s": seconds,
        }
        for key, value in info.items():
            if key not in ("records", "bytes", "kind", "shards", "api", "direction"):
                row[key] = value
        if row["shards"] and info.get("direction") == "read":
            row["x_byte_limit"] = row["mib_per_s"] / (SHARD_READ_MIB_PER_S * row["shards"])
        elif row["shards"]:
            row["x_record_limit"] = row["records_per_s"] / (SHARD_RECORDS_PER_S * row["shards"])
            row["x_byte_limit"] = row["mib_per_s"] / (SHARD_MIB_PER_S * row["shards"])
        rows.append(row)
    baselines = {r["group"]: r for r in rows if r["kind"] == "baseline"}
    for r in rows:
        base = baselines.get(r["group"])
        if base is not None and r is not base:
            r["x_baseline"] = r["records_per_s"] / base["records_per_s"]
    return rows


def _fmt(value, spec="{:,.0f}"):
    if value is None:
        return ""
    if value < 10 and spec.endswith("×"):
        return f"{value:.2g}×"
    return spec.format(value)


def markdown(rows: list[dict], when: str) -> str:
    lines = [f"Benchmark run {when} (`python -m engine bench`); rates are medians, ratios are to figures "
             "measured in the same run.", "",
             "| group | implementation | records/s | MiB/s | × per-shard record limit (1,000/s) | × per-shard MiB/s limit (1 in, 2 out) | × baseline | notes |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in sorted(rows, key=lambda r: (r["group"], r["kind"] != "engine", -r["records_per_s"])):
        notes = ", ".join(f"{k}={v}" for k, v in r.items() if k in NOTE_KEYS)
        lines.append(f"| {r['group']} | {r['api']} ({r['kind']}) | {_fmt(r['records_per_s'])} | "
                     f"{_fmt(r['mib_per_s'], '{:,.1f}') if r['mib_per_s'] else ''} | "
                     f"{_fmt(r.get('x_record_limit'), '{:,.0f}×')} | {_fmt(r.get('x_byte_limit'), '{:,.0f}×')} | "
                     f"{_fmt(r.get('x_baseline'), '{:,.1f}×')} | {notes} |")
    return "\n".join(lines) + "\n"


def chart(rows: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install -e '.[bench]')")
        return False
    def by_shards(prefix):
        return [r for r in rows if r["group"].startswith(prefix)]

    put_rows, read_rows = by_shards("put shards="), by_shards("read shards=")
    other = [r for r in rows if r not in put_rows and r not in read_rows]
    bar_height = max(3.0, 0.24 * len(other) + 1.0)
    fig = plt.figure(figsize=(15, 5.5 + bar_height))
    grid = fig.add_gridspec(2, 2, height_ratios=[5.5, bar_height])
    left, middle, right = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, :])
    for axis, chosen, title, limit, limit_label in (
            (left, put_rows, "Kinesis put", SHARD_RECORDS_PER_S, "AWS limit in: 1,000 records/s per shard"),
            (middle, read_rows, "Kinesis read", None, None)):
        series = {}
        for r in chosen:
            series.setdefault(f"{r['api']} ({r['kind']})", []).append((r["shards"], r["records_per_s"]))
        for label, points in sorted(series.items()):
            points.sort()
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        counts = sorted({r["shards"] for r in chosen}) or [1, 4, 16]
        if limit:
            axis.plot(counts, [limit * c for c in counts], "k--", label=limit_label)
        else:   # reads: 2 MiB/s per shard, as records/s of the measured record size
            size = next((r["mib_per_s"] * 2**20 / r["records_per_s"] for r in chosen if r["mib_per_s"]), 100)
            axis.plot(counts, [SHARD_READ_MIB_PER_S * 2**20 / size * c for c in counts], "k--",
                      label=f"AWS limit out: 2 MiB/s per shard ({size:.0f}-byte records)")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("shards")
        axis.set_ylabel("records/s (log)")
        axis.set_title(f"{title}: records/s against shard count")
        axis.legend(fontsize=7)
    other = sorted(other, key=lambda r: (r["group"], r["kind"] != "engine", -r["records_per_s"]), reverse=True)
    labels = [f"{r['group']}  —  {r['api']}" for r in other]
    colors = ["tab:blue" if r["kind"] == "engine" else "tab:gray" if r["kind"] == "baseline" else "tab:orange"
              for r in other]
    right.barh(range(len(other)), [r["records_per_s"] for r in other], color=colors)
    right.set_yticks(range(len(other)))
    right.set_yticklabels(labels, fontsize=7)
    right.set_xscale("log")
    right.set_xlabel("records (messages, deliveries) per second, log scale; blue engine, grey baseline, orange peer")
    right.set_title("Firehose, SQS, SNS, hashing and routing")
    right.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="engine bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="input size multiplier (default 1.0; 0.05 for a smoke run)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="output directory")
    parser.add_argument("-k", dest="select", default=None, help="pytest -k expression to pick benchmarks")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp) / "raw.json"
        code = run_suites(args.scale, args.select, json_path)
        if not json_path.exists():
            print("benchmarks produced no results", file=sys.stderr)
            return code or 1
        raw = json.loads(json_path.read_text())
    rows = summarize(raw)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
    machine = raw.get("machine_info", {})
    (args.out / f"{when}.json").write_text(json.dumps({"when": when, "machine": machine, "results": rows}, indent=1))
    table = markdown(rows, when)
    (args.out / f"{when}.md").write_text(table)
    (args.out / "latest.md").write_text(table)
    drew = chart(rows, args.out / f"{when}.png")
    if drew:
        (args.out / "latest.png").write_bytes((args.out / f"{when}.png").read_bytes())
    print()
    print(table)
    print(f"wrote {args.out / (when + '.json')}, .md{' and .png' if drew else ''}")
    return code


if __name__ == "__main__":
    sys.exit(main())

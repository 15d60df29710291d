"""`python -m engine demo`: a synthetic clickstream through Kinesis and Firehose into Parquet."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import limits
from .arrow_json import batch_to_json_lines
from .pipeline import Pipeline, Stage, Timer
from .progress import progress

PAGES = np.array(["/", "/search", "/cart", "/checkout", "/account", "/help", "/deals", "/new"]
                 + [f"/product/{i}" for i in range(32)])
EVENTS = np.array(["view", "click", "add_to_cart", "purchase", "scroll"])
EVENT_WEIGHTS = np.array([0.55, 0.25, 0.1, 0.03, 0.07])
DEVICES = np.array(["desktop", "mobile", "tablet"])
START = np.datetime64("2026-11-28T06:00:00", "ms")


def clickstream(n: int, seed: int = 7, hours: int = 6) -> pa.Table:
    """n events from ~n/25 users over `hours` hours, sorted by time, with numpy only."""
    rng = np.random.default_rng(seed)
    users = max(1, n // 25)
    offsets = np.sort(rng.integers(0, hours * 3600 * 1000, n))
    event_time = START + offsets.astype("timedelta64[ms]")
    user_id = (rng.zipf(1.3, n) % users).astype(np.int64)
    page_index = rng.integers(0, len(PAGES), n)
    event = rng.choice(len(EVENTS), n, p=EVENT_WEIGHTS)
    is_product = page_index >= 8
    product_id = np.where(is_product, page_index - 8 + 1000, -1)
    price = np.round(rng.gamma(2.0, 20.0, n), 2)
    ts = pa.array(event_time, pa.timestamp("ms"))
    text_time = ts.cast(pa.string())          # "YYYY-MM-DD hh:mm:ss.fff"
    table = pa.table({
        "event_time": ts,
        "user_id": pa.array(user_id),
        "session_id": pc.binary_join_element_wise("s-", pa.array(user_id).cast(pa.string()), "-",
                                                  pa.array(offsets // (30 * 60 * 1000)).cast(pa.string()), ""),
        "page": pa.array(PAGES[page_index]),
        "event_type": pa.array(EVENTS[event]),
        "product_id": pa.array(product_id, mask=~is_product),
        "price": pa.array(price, mask=~(is_product & (event == 3))),
        "device": pa.array(DEVICES[rng.integers(0, len(DEVICES), n)]),
        "dt": pc.utf8_slice_codeunits(text_time, 0, 10),
        "hour": pc.utf8_slice_codeunits(text_time, 11, 13),
    })
    return table


def run(records: int, shards: int, root: str, bucket: str = "engine-demo", batch_size: int = 100_000,
        quiet: bool = False) -> dict:
    import engine

    out_dir = os.path.join(root, bucket, "clicks")
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)   # a rerun starts clean, so records in == records out
    stages = {name: Stage(name) for name in ("generate", "kinesis put", "firehose delivery", "read back")}
    with engine.Engine(s3_root=root) as eng:
        with Timer(stages["generate"]) as st:
            table = clickstream(records)
            lines = pa.concat_arrays([batch_to_json_lines(b) for b in table.to_batches(batch_size)])
            keys = table.column("user_id").cast(pa.string()).combine_chunks()
            st.records, st.bytes = records, pc.sum(pc.binary_length(lines)).as_py() or 0
        pipeline = Pipeline(eng, "clicks", shards, bucket, "clicks", partition_by=["dt", "hour"],
                            database="demo", table="clicks")
        pipeline.create(table.schema)
        with Timer(stages["kinesis put"]) as st, progress(records, "kinesis put", quiet) as bar:
            for start in range(0, records, batch_size):
                chunk = lines[start:start + batch_size]
                pipeline.put(chunk, keys[start:start + batch_size])
                bar.update(len(chunk))
            st.records, st.bytes = records, stages["generate"].bytes
        with Timer(stages["firehose delivery"]) as st, progress(records, "firehose -> parquet", quiet) as bar:
            pipeline.deliver()
            bar.update(records)
            st.records, st.bytes = records, stages["generate"].bytes
        with Timer(stages["read back"]) as st:
            back = pipeline.read_back()
            files = pipeline.written_files()
            st.records = back.num_rows
            st.bytes = sum(os.path.getsize(f) for f in files)
    return {"records_in": records, "records_out": back.num_rows, "files": files, "stages": stages,
            "shards": shards, "out_dir": out_dir, "table": back}


def report(result: dict) -> str:
    shards = result["shards"]
    limit = limits.KINESIS_SHARD_WRITE_RECORDS_PER_S * shards
    lines = [f"records in: {result['records_in']:,}   records out: {result['records_out']:,}   "
             f"{'OK: equal' if result['records_in'] == result['records_out'] else 'MISMATCH'}",
             f"files written: {len(result['files'])} Parquet files under {result['out_dir']}"]
    for path in result["files"][:3]:
        lines.append(f"  {os.path.relpath(path, result['out_dir'])}")
    if len(result["files"]) > 3:
        lines.append(f"  ... and {len(result['files']) - 3} more")
    lines.append("")
    lines.append(f"{'stage':<20}{'records/s':>14}{'MiB/s':>10}{'x limit':>10}   (limit: {shards} shards x "
                 f"{limits.KINESIS_SHARD_WRITE_RECORDS_PER_S:,} records/s)")
    for stage in result["stages"].values():
        lines.append(f"{stage.name:<20}{stage.records_per_s:>14,.0f}{stage.mib_per_s:>10,.1f}"
                     f"{stage.records_per_s / limit:>10,.0f}")
    return "\n".join(lines)

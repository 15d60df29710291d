"""python -m engine: demo (the main job), ingest, bench, serve."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import limits
from ..engine import DURABILITY_MODES


# The one-shot commands do no linear algebra: numpy's OpenBLAS need not start a thread per core,
# whose spin-wait at import costs about 0.1 s of CPU per command (and an idle core's time).
COMMAND_BLAS_THREADS = 1
# Arrow's memory for ingest and the demo comes from the C library's malloc: mimalloc, pyarrow's
# default, hands freed pages back to the kernel within milliseconds, so each delivery's columns
# and Parquet buffers are faulted in and zeroed afresh (ingest of 1M events, alternating runs:
# 2.88 s of CPU against 3.27, peak RSS 520 MB against 590; the demo: RSS 960 MB against 1,060).
COMMAND_ARROW_MEMORY_POOL = "system"
# ... and that malloc keeps what it frees for the next block rather than handing it back: glibc
# maps each block over its dynamic threshold afresh and trims its heaps at 128 KiB, so the same
# sizes are faulted in and zeroed again and again (ingest of 5M events, alternating runs: 140-150k
# page faults against 210-230k, 0.87-1.01 s of system time against 1.10-1.18). Blocks up to
# 32 MiB (glibc's ceiling) come from the heaps, which keep up to 256 MiB free at their tops.
COMMAND_MALLOC_MMAP_THRESHOLD = 32 << 20
COMMAND_MALLOC_TRIM_THRESHOLD = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameters (malloc.h)


def _before_numpy_and_pyarrow(**environ) -> None:
    """Settings numpy and pyarrow read when first imported, for a command's own process (the
    user's own stand; a caller that imported them already is left as it is)."""
    if "numpy" in sys.modules or "pyarrow" in sys.modules:
        return
    for name, value in environ.items():
        os.environ.setdefault(name, str(value))


def _keep_freed_memory() -> None:
    """The one-shot commands' malloc settings (above); nothing where the C library has no mallopt."""
    import ctypes

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, COMMAND_MALLOC_MMAP_THRESHOLD)
        mallopt(_M_TRIM_THRESHOLD, COMMAND_MALLOC_TRIM_THRESHOLD)


def _demo(args) -> int:
    _keep_freed_memory()
    _before_numpy_and_pyarrow(OPENBLAS_NUM_THREADS=COMMAND_BLAS_THREADS,
                              ARROW_DEFAULT_MEMORY_POOL=COMMAND_ARROW_MEMORY_POOL)
    from . import demo

    result = demo.run(args.records, args.shards, args.root, bucket=args.bucket, quiet=args.quiet)
    print(demo.report(result))
    return 0 if result["records_in"] == result["records_out"] else 1


def _ingest(args) -> int:
    _keep_freed_memory()
    _before_numpy_and_pyarrow(OPENBLAS_NUM_THREADS=COMMAND_BLAS_THREADS,
                              ARROW_DEFAULT_MEMORY_POOL=COMMAND_ARROW_MEMORY_POOL)
    from . import ingest

    try:
        summary = ingest.run(args.files, stream=args.stream, shards=args.shards, partition_key=args.partition_key,
                             to=args.to, fmt=args.format, partition_by=args.partition_by,
                             compression=args.compression, batch_size=args.batch_size, quiet=args.quiet,
                             s3_root=args.s3_root)
    except ingest.IngestError as exc:
        print(f"engine ingest: {exc}", file=sys.stderr)
        return 2
    print(summary.text())
    return 0 if summary.records_read == summary.records_out else 1


def _bench(rest) -> int:
    root = Path(__file__).resolve().parent.parent.parent
    if not (root / "bench" / "report.py").exists():
        print("engine bench: bench/ not found; run it from a source checkout of engine", file=sys.stderr)
        return 2
    sys.path.insert(0, str(root))
    from bench import report

    return report.main(rest)


def _serve(args) -> int:
    from . import serve

    return serve.run(serve.ServeOptions(host=args.host, port=args.port, s3_root=args.s3_root,
                                        require_auth=args.require_auth, keys_file=args.keys_file,
                                        tls_cert=args.tls_cert, tls_key=args.tls_key,
                                        data_dir=args.data_dir, durability=args.durability))


def _agent(args) -> int:
    from . import agent

    return agent.run(args.config, endpoint=args.endpoint_url, region=args.region, once=args.once, local=args.local,
                     shards=args.shards, s3_root=args.s3_root, quiet=args.quiet)


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError("must be between 1 and 65535")
    return value


def _shards(text: str) -> int:
    value = int(text)
    if not limits.KINESIS_SHARD_COUNT_MIN <= value <= 1024:
        raise argparse.ArgumentTypeError("must be between 1 and 1024")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine", description="Local, high-throughput AWS messaging services: "
                                     "Kinesis, Firehose, SQS and SNS with boto3-compatible clients.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="clickstream -> Kinesis -> Firehose -> Parquet, with throughput",
                               description="Generate a clickstream with numpy, put it into a Kinesis stream, let a "
                               "Firehose delivery stream convert it to Parquet partitioned by dt= and hour=, read it "
                               "back with pyarrow and print records in/out, files and throughput per stage.")
    demo.add_argument("--records", type=_positive, default=1_000_000, help="events to generate (default 1,000,000)")
    demo.add_argument("--shards", type=_shards, default=4, help="Kinesis shards (default 4)")
    demo.add_argument("--root", default="./s3", help="S3-style output root directory (default ./s3)")
    demo.add_argument("--bucket", default="engine-demo", help="bucket under the root (default engine-demo)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    ingest = commands.add_parser("ingest", help="stream JSON Lines / CSV / Parquet files into Parquet or JSON",
                                 description="Read files in blocks, put them through a Kinesis stream and a "
                                 "Firehose delivery stream, and write objects to s3://bucket/prefix (under "
                                 "--s3-root) or a directory. JSON Lines go into the stream as the lines "
                                 "themselves; memory stays bounded whatever the input size.")
    ingest.add_argument("files", nargs="+", metavar="FILE", help=".jsonl/.json, .csv/.tsv or .parquet files")
    ingest.add_argument("--to", required=True, help="s3://bucket/prefix or a directory")
    ingest.add_argument("--s3-root", default=None, metavar="ROOT",
                        help="where s3:// targets land: a directory or an object store URI such as "
                        "s3://?region=eu-west-1 (AWS, credentials from the environment) or "
                        "s3://?endpoint_override=HOST:PORT&scheme=http (default $ENGINE_S3_ROOT, else ./s3)")
    ingest.add_argument("--stream", default="ingest", help="Kinesis stream name (default ingest)")
    ingest.add_argument("--shards", type=_shards, default=4, help="Kinesis shards (default 4)")
    ingest.add_argument("--partition-key", default=None, metavar="COLUMN",
                        help="column whose value is the Kinesis partition key (default: spread evenly)")
    ingest.add_argument("--format", choices=("parquet", "json"), default="parquet", help="output format")
    ingest.add_argument("--partition-by", type=_columns, default=[], metavar="COL[,COL...]",
                        help="hive-style prefixes col=value/ from these columns")
    ingest.add_argument("--compression", default="snappy", help="parquet: snappy|gzip|zstd|none; "
                        "json: gzip|snappy|zip|none (default snappy)")
    ingest.add_argument("--batch-size", type=_positive, default=65_536, help="records per batch read")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")

    serve = commands.add_parser("serve", help="every service on one port over the AWS wire protocols",
                                description="Serve Kinesis, Firehose, SQS, SNS and Glue on one endpoint for any "
                                "AWS SDK or the AWS CLI (--endpoint-url http://HOST:PORT): HTTP/1.1 and cleartext "
                                "HTTP/2, JSON, query/XML and CBOR. Ctrl-C or SIGTERM stop it gracefully.")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=4566, help="port (default 4566)")
    serve.add_argument("--s3-root", default=None, metavar="ROOT",
                       help="where Firehose's S3 destinations land (default $ENGINE_S3_ROOT, else ./s3)")
    serve.add_argument("--require-auth", action="store_true",
                       help="verify SigV4 signatures against the configured access keys")
    serve.add_argument("--keys-file", default=None, metavar="FILE",
                       help="access keys for --require-auth: lines of ACCESS_KEY_ID SECRET [ACCOUNT_ID] "
                       "(default $ENGINE_ACCESS_KEYS, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    serve.add_argument("--tls-cert", default=None, metavar="PEM", help="serve HTTPS with this certificate")
    serve.add_argument("--tls-key", default=None, metavar="PEM", help="the certificate's private key")
    serve.add_argument("--data-dir", default=None, metavar="PATH",
                       help="keep Kinesis streams and their records here across restarts (default: memory only)")
    serve.add_argument("--durability", choices=DURABILITY_MODES, default=None,
                       help="with --data-dir: flush (default; survives a crash of the server, not of the machine), "
                       "fsync (also a power loss) or memory (nothing written)")

    agent = commands.add_parser("agent", help="tail log files into Kinesis or Firehose (a Kinesis Agent)",
                                description="Tail the files of a Kinesis Agent configuration (agent.json: flows "
                                "with filePattern, kinesisStream or deliveryStream, dataProcessingOptions, ...) and "
                                "send their records with retries, checkpointing each file. Sends to engine serve "
                                "on http://127.0.0.1:4566 unless the config or --endpoint-url name another "
                                "endpoint; --local keeps the streams in this process.")
    agent.add_argument("config", metavar="CONFIG", help="the agent's JSON configuration")
    agent.add_argument("--endpoint-url", default=None, metavar="URL", help="endpoint for Kinesis and Firehose")
    agent.add_argument("--region", default=None, help="region (default the config's awsRegion, then AWS's)")
    agent.add_argument("--once", action="store_true", help="stop once every file is read and sent")
    agent.add_argument("--local", action="store_true", help="streams in this process (created if missing)")
    agent.add_argument("--shards", type=_shards, default=4, help="--local: shards of a stream it creates")
    agent.add_argument("--s3-root", default=None, metavar="ROOT", help="--local: where Firehose objects land")
    agent.add_argument("--quiet", action="store_true", help="no status line")

    commands.add_parser("bench", help="run the benchmarks and write a report (engine bench --help)", add_help=False)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return _bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "demo":
        return _demo(args)
    if args.command == "ingest":
        return _ingest(args)
    if args.command == "agent":
        return _agent(args)
    if args.command == "serve":
        if bool(args.tls_cert) != bool(args.tls_key):
            parser.error("--tls-cert and --tls-key go together")
        return _serve(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m engine agent CONFIG`: the Kinesis Agent, configured by its agent.json.

It sends to an endpoint speaking the AWS protocols: --endpoint-url, else the config's
kinesis.endpoint / firehose.endpoint (https://kinesis.us-east-1.amazonaws.com for AWS itself,
credentials and region from the usual AWS environment), else `engine serve` on
http://127.0.0.1:4566. --local runs the streams in this
process instead (Kinesis streams created with --shards, Firehose delivery streams writing raw
objects under --s3-root): a way to try a configuration and measure the agent.
Runs until Ctrl-C / SIGTERM (it then sends what it buffered and checkpoints), or with --once
until every file is read and sent. A status line on stderr shows files, records and rates.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

from .. import limits
from ..agent import Agent, AgentConfig, ConfigError, load_config

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_BUCKET = "agent"


def _clients(config: AgentConfig, endpoint: str | None, region: str | None):
    import botocore.session

    session = botocore.session.get_session()
    region = region or config.region or session.get_config_variable("region") or limits.DEFAULT_REGION
    if session.get_credentials() is None:   # engine serve without --require-auth takes any key
        session.set_credentials("engine", "engine")

    def client(service: str, configured: str | None):
        return session.create_client(service, region_name=region, endpoint_url=endpoint or configured or DEFAULT_ENDPOINT)

    kinesis = client("kinesis", config.kinesis_endpoint) if any(f.kinesis_stream for f in config.flows) else None
    firehose = client("firehose", config.firehose_endpoint) if any(f.delivery_stream for f in config.flows) else None
    return kinesis, firehose


def _local(config: AgentConfig, shards: int, s3_root: str):
    import engine

    eng = engine.Engine(s3_root=s3_root)
    kinesis = eng.client("kinesis")
    firehose = eng.client("firehose")
    for flow in config.flows:
        if flow.kinesis_stream and flow.kinesis_stream not in kinesis.list_streams()["StreamNames"]:
            kinesis.create_stream(StreamName=flow.kinesis_stream, ShardCount=shards)
        elif flow.delivery_stream and flow.delivery_stream not in firehose.list_delivery_streams()[
                "DeliveryStreamNames"]:
            firehose.create_delivery_stream(
                DeliveryStreamName=flow.delivery_stream, DeliveryStreamType="DirectPut",
                ExtendedS3DestinationConfiguration={"BucketARN": f"arn:aws:s3:::{LOCAL_BUCKET}",
                                                    "RoleARN": "arn:aws:iam::000000000000:role/engine-agent",
                                                    "Prefix": f"{flow.delivery_stream}/"})
    return eng


def _status(agent: Agent, started: float) -> str:
    t = agent.totals()
    elapsed = max(time.monotonic() - started, 1e-9)
    return (f"agent: {t.files} files, {t.lines:,} lines read, {t.records:,} records sent "
            f"({t.records / elapsed:,.0f}/s, {t.bytes / 2**20 / elapsed:,.1f} MiB/s), {t.dropped:,} dropped, "
            f"{t.retried:,} retried")


def run(config_path: str, *, endpoint: str | None = None, region: str | None = None, once: bool = False,
        local: bool = False, shards: int = 4, s3_root: str | None = None, quiet: bool = False) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as err:
        print(f"engine agent: {err}", file=sys.stderr)
        return 2
    for name in config.ignored:
        print(f"engine agent: ignoring {name} (not implemented)", file=sys.stderr)
    eng = None
    if local:
        eng = _local(config, shards, s3_root or os.environ.get("ENGINE_S3_ROOT", "./s3"))
        agent = Agent.in_process(config, eng)
    else:
        kinesis, firehose = _clients(config, endpoint, region)
        agent = Agent.with_clients(config, kinesis=kinesis, firehose=firehose)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    started = time.monotonic()

    def report(a: Agent) -> None:
        if not quiet:
            print("\r" + _status(a, started), end="", file=sys.stderr, flush=True)

    try:
        if once:
            while not stop.is_set() and agent.step():
                report(agent)
        else:
            agent.run(stop, report)
    finally:
        agent.close()
        if eng is not None:
            eng.close()
    if not quiet:
        print("\r" + _status(agent, started), file=sys.stderr)
    print(f"{agent.totals().records} records sent")
    return 0

"""Firehose Direct PUT with a data dir (issue 13), side by side in one run:

* "firehose put_record_batch durability": boto3-shaped put_record_batch (500 records of 100
  bytes per request) on an in-memory engine (kind="baseline") and on engines with a data dir in
  flush and fsync mode: each accepted request is a frame of the stream's segment log before the
  call returns.
* "firehose put_batch durability": the native put_batch of 500-record Arrow arrays, the same way.
* "sns publish to lambda durability": publish_many of 500 messages to a topic with one Lambda
  subscription (a no-op handler), until every delivery has run; with a data dir each delivery is
  journaled when handed over and when it settles.

Only the puts are timed (the buffer is large enough to hold them; delivery is the same in every
mode). Sizes scale with ENGINE_BENCH_SCALE.
"""
import shutil
import tempfile

import pytest

import engine
from bench.conftest import RECORD_BYTES, fixed_width_binary, record_info, scaled

ROLE = "arn:aws:iam::000000000000:role/firehose"
BOTO3_GROUP = "firehose put_record_batch durability"
NATIVE_GROUP = "firehose put_batch durability"
SNS_GROUP = "sns publish to lambda durability"
BATCH = 500
MODES = ["memory", "flush", "fsync"]


@pytest.fixture(scope="module")
def records():
    return fixed_width_binary(scaled(200_000), RECORD_BYTES, seed=9)


@pytest.fixture
def make_stream():
    made = []

    def make(durability: str, name: str):
        root = tempfile.mkdtemp(prefix="bench-durability-")
        data_dir = None if durability == "memory" else f"{root}/data"
        eng = engine.Engine(s3_root=f"{root}/s3", clock=engine.ManualClock(), data_dir=data_dir,
                            durability=durability)
        made.append((eng, root))
        eng.client("firehose").create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench",
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}})
        return eng
    yield make
    for eng, root in made:
        eng.close()
        shutil.rmtree(root, ignore_errors=True)


def _info(benchmark, group, durability, n, api):
    benchmark.group = group
    record_info(benchmark, records=n, bytes_=n * RECORD_BYTES, kind="baseline" if durability == "memory" else "engine",
                api=f"{api}, durability={durability}")


@pytest.mark.parametrize("durability", MODES)
def test_put_record_batch(benchmark, make_stream, records, durability):
    n = min(len(records), scaled(50_000))
    requests = [[{"Data": d} for d in records.slice(start, BATCH).to_pylist()] for start in range(0, n, BATCH)]
    rounds = iter(range(1000))

    def setup():
        name = f"s{next(rounds)}"
        return (make_stream(durability, name).client("firehose"), name), {}

    def run(fh, name):
        for request in requests:
            fh.put_record_batch(DeliveryStreamName=name, Records=request)

    _info(benchmark, BOTO3_GROUP, durability, n, "put_record_batch x500")
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)


@pytest.mark.parametrize("durability", MODES)
def test_put_batch(benchmark, make_stream, records, durability):
    batches = [records.slice(start, BATCH) for start in range(0, len(records), BATCH)]
    rounds = iter(range(1000))

    def setup():
        name = f"n{next(rounds)}"
        return (make_stream(durability, name).backend("firehose").get(name),), {}

    def run(stream):
        for batch in batches:
            stream.put_batch(batch)

    _info(benchmark, NATIVE_GROUP, durability, len(records), "put_batch x500")
    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)


@pytest.mark.parametrize("durability", MODES)
def test_sns_publish_to_lambda(benchmark, durability):
    n = scaled(20_000)
    bodies = [f"message {i}" for i in range(BATCH)]
    made = []

    def setup():
        root = tempfile.mkdtemp(prefix="bench-durability-")
        eng = engine.Engine(clock=engine.ManualClock(), data_dir=None if durability == "memory" else root,
                            durability=durability)
        made.append((eng, root))
        fn = eng.register_function("consumer", lambda event, context: None)
        sns = eng.client("sns")
        arn = sns.create_topic(Name="t")["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=fn)
        return (eng.backend("sns"), eng.backend("sns").topics[arn]), {}

    def run(backend, topic):
        for _ in range(n // BATCH):
            topic.publish_many(bodies)
        assert backend.drain(600)

    _info(benchmark, SNS_GROUP, durability, n // BATCH * BATCH, "publish_many x500 + drain")
    try:
        benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    finally:
        for eng, root in made:
            eng.close()
            shutil.rmtree(root, ignore_errors=True)

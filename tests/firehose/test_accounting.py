"""The accounting test of issue 9: threads put into Firehose (DirectPut and a Kinesis source) while
destinations fail, hang and recover, then the engine closes with puts still coming; every record
that got a RecordId (or a Kinesis sequence number) is found exactly once across the outputs,
the error outputs and the HTTP endpoint. Nothing is killed; the engine clock is a ManualClock
driven by one thread while another injects the faults."""
import json
import random
import threading
import time

import engine
from engine.errors import ClientError

from .conftest import ROLE, StoreFaults, ids_in, scan_ids

PAD = "p" * 1500
PER_PUTTER = 4000          # records each thread offers at full speed; then it slows down, so the
                           # test's length does not depend on the machine, and puts go on into close
BUCKETS = ("raw-out", "dp-out", "ks-out", "http-out")


def _s3(bucket, **extra):
    cfg = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
           "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 5}}
    cfg.update(extra)
    return cfg


def _record(rid, k="a"):
    return (json.dumps({"id": rid, "k": k, "pad": PAD}) + "\n").encode()


def test_every_accepted_record_is_found_exactly_once(tmp_path, monkeypatch, http_endpoint):
    clock = engine.ManualClock()
    eng = engine.Engine(clock=clock, s3_root=str(tmp_path))
    backend = eng.backend("firehose")
    backend.http_timeout = 5.0
    faults = StoreFaults(eng, monkeypatch)
    ep = http_endpoint()
    fh = eng.client("firehose")
    kinesis = eng.client("kinesis")

    fh.create_delivery_stream(DeliveryStreamName="raw", ExtendedS3DestinationConfiguration=_s3("raw-out"))
    fh.create_delivery_stream(DeliveryStreamName="dp", ExtendedS3DestinationConfiguration=_s3(
        "dp-out", BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 5}, Prefix="k=!{partitionKeyFromQuery:k}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/", DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k: .k}"},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}))
    fh.create_delivery_stream(DeliveryStreamName="http", HttpEndpointDestinationConfiguration={
        "EndpointConfiguration": {"Url": ep.url}, "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 5},
        "RetryOptions": {"DurationInSeconds": 30}, "S3Configuration": _s3("http-out")})
    kinesis.create_stream(StreamName="src", ShardCount=2)
    arn = kinesis.describe_stream_summary(StreamName="src")["StreamDescriptionSummary"]["StreamARN"]
    fh.create_delivery_stream(DeliveryStreamName="ks", DeliveryStreamType="KinesisStreamAsSource",
                              KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
                              ExtendedS3DestinationConfiguration=_s3("ks-out"))

    accepted: list = []
    lock = threading.Lock()
    stop_kinesis = threading.Event()

    def direct_putter(name, tag):
        rng = random.Random(tag)
        n = 0
        while True:
            if n >= PER_PUTTER:
                time.sleep(0.005)
            ids = [f"{tag}-{n + i}" for i in range(rng.randint(1, 40))]
            keys = ["" if name == "dp" and rng.random() < 0.02 else rng.choice("abc") for _ in ids]
            try:
                out = fh.put_record_batch(DeliveryStreamName=name, Records=[
                    {"Data": _record(i, k)} for i, k in zip(ids, keys)])
            except fh.exceptions.ServiceUnavailableException:
                if eng._closed:
                    return
                time.sleep(0.001)             # backpressure: nothing accepted, try again
                continue
            except ClientError:
                return                        # the engine closed
            with lock:
                accepted.extend(i for i, r in zip(ids, out["RequestResponses"]) if "RecordId" in r)
            n += len(ids)

    def kinesis_putter():
        n = 0
        while not stop_kinesis.is_set() and n < PER_PUTTER:
            ids = [f"k-{n + i}" for i in range(50)]
            out = kinesis.put_records(StreamName="src", Records=[
                {"Data": _record(i), "PartitionKey": i} for i in ids])
            with lock:
                accepted.extend(i for i, r in zip(ids, out["Records"]) if "SequenceNumber" in r)
            n += 50

    def chaos(stop):
        """Every destination fails at first; then writes fail or hang, bucket by bucket, and the
        endpoint fails or hangs, in short windows; each window ends with the fault cleared."""
        rng = random.Random(9)
        faults.fail.update(BUCKETS)
        ep.fail = True
        stop.wait(0.3)
        while not stop.is_set():
            buckets = rng.sample(BUCKETS, 2)
            for bucket in buckets:
                if rng.random() < 0.5:
                    faults.fail.add(bucket)
                else:
                    faults.hold[bucket] = threading.Event()
            if rng.random() < 0.5:
                ep.fail = True
            else:
                ep.gate = threading.Event()
            stop.wait(rng.uniform(0.03, 0.15))
            for bucket in buckets:
                faults.fail.discard(bucket)
                gate = faults.hold.pop(bucket, None)
                if gate is not None:
                    gate.set()
            ep.fail = False
            gate, ep.gate = ep.gate, None
            if gate is not None:
                gate.set()
            stop.wait(rng.uniform(0.02, 0.05))
        faults.fail.clear()
        ep.fail = False

    def tick(stop):
        while not stop.is_set():
            clock.advance(1)
            time.sleep(0.002)

    stop_chaos, stop_clock = threading.Event(), threading.Event()
    threads = [threading.Thread(target=direct_putter, args=(name, f"{name}{t}"))
               for name in ("raw", "dp", "http") for t in range(2)]
    kthread = threading.Thread(target=kinesis_putter)
    helpers = [threading.Thread(target=chaos, args=(stop_chaos,)), threading.Thread(target=tick, args=(stop_clock,))]
    for t in threads + [kthread] + helpers:
        t.start()
    time.sleep(1.5)
    stop_chaos.set()                           # the destinations recover ...
    helpers[0].join()
    stop_kinesis.set()                         # (a Kinesis put in flight when close starts may land after
    kthread.join()                             #  Firehose's last read; Firehose owes what it read)
    stop_clock.set()
    helpers[1].join()
    eng.close()                                # ... and the engine closes while DirectPut puts go on
    for t in threads:
        t.join()
    assert backend.drain(timeout=30)

    seen = scan_ids(tmp_path)
    for blob in ep.received:
        for i in ids_in(blob):
            seen[i] = seen.get(i, 0) + 1
    assert len(accepted) > 1000 and len(set(accepted)) == len(accepted)
    missing = set(accepted) - set(seen)
    assert not missing, f"{len(missing)} accepted records are in no output, e.g. {sorted(missing)[:5]}"
    assert set(seen) == set(accepted)
    assert {i: n for i, n in seen.items() if n != 1} == {}
    assert all(backend.get(name).stats["undeliverable_records"] == 0 for name in ("raw", "dp", "http", "ks"))
    assert sum(backend.get(name).stats["retried_attempts"] for name in ("raw", "dp", "http", "ks")) > 0

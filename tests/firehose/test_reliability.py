"""Firehose delivery guarantees: puts never wait on a destination, close and delete lose nothing
they accepted, one bad record or a failing destination costs only what it concerns, and a
destination that recovers gets everything (issue 9)."""
import base64
import json
import logging
import os
import threading

import pytest

import engine
from engine.errors import ClientError
from engine.firehose.models import ExtendedS3, HttpEndpoint, S3Destination

from .conftest import BUCKET, ROLE, get, http_config, ids_in, json_lines, keys, s3_config, scan_ids, tagged

MiB = 1024 * 1024


def _backend(eng):
    return eng.backend("firehose")


def _dp_config(prefix="data/k=!{partitionKeyFromQuery:k}/", **extra):
    cfg = s3_config(
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60}, Prefix=prefix,
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k: .k}"},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]})
    cfg.update(extra)
    return cfg


# --- delivery off the put path ------------------------------------------------------------
def test_puts_and_other_streams_never_wait_on_a_hanging_destination(eng, fh, faults):
    fh.create_delivery_stream(DeliveryStreamName="slow", ExtendedS3DestinationConfiguration=s3_config(
        BucketARN="arn:aws:s3:::slow-bucket", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900}))
    fh.create_delivery_stream(DeliveryStreamName="fast", ExtendedS3DestinationConfiguration=s3_config())
    gate = faults.hold["slow-bucket"] = threading.Event()
    big = {"Data": b"x" * 600_000}
    fh.put_record_batch(DeliveryStreamName="slow", Records=[big, big])      # full: sealed and handed off
    assert faults.holding.acquire(timeout=10)                                 # its write is now stuck
    # the putting thread got its answer; more puts and another stream's delivery go on meanwhile
    out = fh.put_record_batch(DeliveryStreamName="slow", Records=[{"Data": b"later"}])
    assert out["FailedPutCount"] == 0
    fh.put_record(DeliveryStreamName="fast", Record={"Data": b"quick"})
    assert _backend(eng).get("fast").flush()
    assert [get(eng, k) for k in keys(eng)] == [b"quick"]
    assert not gate.is_set() and _backend(eng).get("slow").pending_buffers == 1
    gate.set()
    assert _backend(eng).drain(timeout=10)
    assert [len(get(eng, k, bucket="slow-bucket")) for k in keys(eng, bucket="slow-bucket")] == [1_200_000]


def test_backpressure_refuses_puts_with_service_unavailable_while_buffers_pile_up(eng, fh, faults):
    _backend(eng).pending_buffers_max = 2
    fh.create_delivery_stream(DeliveryStreamName="bp", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900}))
    gate = faults.hold["bucket"] = threading.Event()
    big = {"Data": b"y" * 900_000}
    for _ in range(4):                                   # two full buffers: one stuck, one queued
        fh.put_record_batch(DeliveryStreamName="bp", Records=[big])
    with pytest.raises(fh.exceptions.ServiceUnavailableException):
        fh.put_record(DeliveryStreamName="bp", Record={"Data": b"z"})
    with pytest.raises(ClientError) as err:
        _backend(eng).get("bp").put_batch([b"z"])         # the native API gets the same answer
    assert err.value.response["Error"]["Code"] == "ServiceUnavailableException"
    gate.set()
    assert _backend(eng).drain(timeout=10)
    fh.put_record(DeliveryStreamName="bp", Record={"Data": b"z"})   # accepted again
    _backend(eng).get("bp").flush()
    assert sum(len(get(eng, k)) for k in keys(eng)) == 4 * 900_000 + 1


def test_a_kinesis_source_stops_reading_while_delivery_is_behind(eng, fh, clock, faults):
    kinesis = eng.backend("kinesis")
    eng.client("kinesis").create_stream(StreamName="src", ShardCount=1)
    source = kinesis.get_stream("src")
    _backend(eng).pending_buffers_max = 1
    fh.create_delivery_stream(DeliveryStreamName="ks", DeliveryStreamType="KinesisStreamAsSource",
                              KinesisStreamSourceConfiguration={"KinesisStreamARN": source.arn, "RoleARN": ROLE},
                              ExtendedS3DestinationConfiguration=s3_config(
                                  BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900}))
    faults.fail.add("bucket")
    source.put_batch([b"r" * 500_000] * 3, ["k"] * 3)
    clock.advance(1)                      # a poll reads them: a full buffer, its write fails and waits
    stream = _backend(eng).get("ks")
    assert stream.pending_buffers == 1
    source.put_batch([b"s" * 500_000] * 3, ["k"] * 3)
    clock.advance(1)                      # the next poll leaves the new records in Kinesis
    assert stream.pending_buffers == 1 and stream.buffered_records == 0
    faults.fail.clear()
    clock.advance(10)                     # the retry succeeds; polls read the rest
    stream.flush()
    assert sorted(len(get(eng, k)) for k in keys(eng)) == [3 * 500_000, 3 * 500_000]


# --- close and delete -------------------------------------------------------------------
@pytest.mark.parametrize("how", ["delete", "close"])
def test_puts_racing_delete_or_close_are_delivered_or_refused(clock, tmp_path, how):
    eng = engine.Engine(clock=clock, s3_root=str(tmp_path))
    fh = eng.client("firehose")
    fh.create_delivery_stream(DeliveryStreamName="race", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900}))
    accepted, refused = [], []
    start = threading.Barrier(5)

    def putter(t):
        start.wait()
        for n in range(400):
            ids = [f"{t}-{n}-{i}" for i in range(20)]
            try:
                out = fh.put_record_batch(DeliveryStreamName="race", Records=[{"Data": d} for d in tagged(ids)])
            except fh.exceptions.ServiceUnavailableException:
                if how == "close":
                    refused.append(t)
                    return
                continue                      # backpressure: nothing was accepted, try again
            except ClientError as err:
                refused.append(err.response["Error"]["Code"])
                return
            accepted.extend(i for i, r in zip(ids, out["RequestResponses"]) if "RecordId" in r)
    threads = [threading.Thread(target=putter, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    start.wait()
    while len(accepted) < 2000:
        pass
    if how == "delete":
        fh.delete_delivery_stream(DeliveryStreamName="race")
    else:
        eng.close()
    for t in threads:
        t.join()
    assert _backend(eng).drain(timeout=10)
    seen = scan_ids(tmp_path / "bucket")
    assert len(refused) == 4
    if how == "delete":
        assert set(refused) == {"ResourceNotFoundException"}
    assert sorted(seen) == sorted(accepted) and set(seen.values()) == {1}
    eng.close()


def test_close_drain_time_sends_what_is_left_to_the_error_output(eng, fh, faults, caplog):
    caplog.set_level(logging.WARNING, logger="engine.firehose")
    _backend(eng).close_drain_s = 0.2
    fh.create_delivery_stream(DeliveryStreamName="stuck", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="data/", ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900}))
    gate = faults.hold["bucket"] = threading.Event()
    first = tagged(f"a{i}" for i in range(3))
    fh.put_record_batch(DeliveryStreamName="stuck", Records=[{"Data": d + b" " * 400_000} for d in first])
    assert faults.holding.acquire(timeout=10)         # the first buffer's write hangs
    fh.put_record_batch(DeliveryStreamName="stuck", Records=[{"Data": d} for d in tagged(["b0", "b1"])])
    del faults.hold["bucket"]                         # only the write already stuck keeps waiting
    eng.close()                                       # returns after the drain time
    stats = _backend(eng).get("stuck").stats
    assert stats["in_flight_at_close_records"] == 3 and stats["expired_at_close_records"] == 2
    (late,) = keys(eng, "errors/s3-failed/")
    docs = json_lines(eng, late)
    assert [ids_in(base64.b64decode(d["rawData"])) for d in docs] == [["b0"], ["b1"]]
    assert {d["errorCode"] for d in docs} == {"Engine.CloseDrainTimeout"}
    assert "drain time ran out" in caplog.text
    gate.set()                                        # the stuck write returns: delivered, once
    assert _backend(eng).drain(timeout=10)
    (data,) = keys(eng, "data/")
    assert ids_in(get(eng, data)) == ["a0", "a1", "a2"]


def test_close_gives_pending_http_retries_one_last_attempt_then_the_error_output(eng, fh, clock, http_endpoint):
    ep = http_endpoint()
    ep.fail = True
    for name in ("h1", "h2", "h3"):
        fh.create_delivery_stream(DeliveryStreamName=name, HttpEndpointDestinationConfiguration=http_config(
            ep.url, retry=3600, S3Configuration={"RoleARN": ROLE, "BucketARN": BUCKET, "Prefix": f"{name}/"}))
        fh.put_record(DeliveryStreamName=name, Record={"Data": tagged([name])[0]})
    clock.advance(60)                                 # first attempts fail; retries wait on the clock
    assert ep.requests == 3
    eng.close()
    assert ep.requests == 6                           # one last attempt each, not the hour of retries
    for name in ("h1", "h2", "h3"):
        (key,) = keys(eng, f"{name}/http-endpoint-failed/")
        (doc,) = json_lines(eng, key)
        assert ids_in(base64.b64decode(doc["rawData"])) == [name] and doc["attemptsMade"] == 2


def test_after_close_nothing_is_accepted(eng, fh):
    fh.create_delivery_stream(DeliveryStreamName="c", ExtendedS3DestinationConfiguration=s3_config())
    stream = _backend(eng).get("c")
    backend = _backend(eng)
    eng.close()
    with pytest.raises(ClientError):
        fh.put_record(DeliveryStreamName="c", Record={"Data": b"x"})
    with pytest.raises(ClientError):
        fh.create_delivery_stream(DeliveryStreamName="d", ExtendedS3DestinationConfiguration=s3_config())
    with pytest.raises(ClientError) as err:
        stream.put_batch([b"x"])
    assert err.value.response["Error"]["Code"] == "ServiceUnavailableException"
    with pytest.raises(ClientError) as err:
        backend.create_delivery_stream("d", ExtendedS3(S3Destination(BUCKET, ROLE)))
    assert err.value.response["Error"]["Code"] == "ServiceUnavailableException"


# --- per-record failures ------------------------------------------------------------------
def test_a_bad_partition_key_fails_only_its_record(eng, fh, clock):
    fh.create_delivery_stream(DeliveryStreamName="dp", ExtendedS3DestinationConfiguration=_dp_config())
    bad = ['{"id": "nul", "k": "a\\u0000b"}', '{"id": "surrogate", "k": "\\ud800"}',
           json.dumps({"id": "long", "k": "x" * 1100}), '{"id": "missing"}', "not json",
           json.dumps({"id": "empty", "k": ""}), json.dumps({"id": "deep", "k": [[[[1]]]]})]
    good = [json.dumps({"id": f"g{i}", "k": f"p{i % 2}"}) for i in range(6)]
    fh.put_record_batch(DeliveryStreamName="dp", Records=[{"Data": r + "\n"} for r in good[:3] + bad + good[3:]])
    clock.advance(60)
    data = {k.split("/")[1]: ids_in(get(eng, k)) for k in keys(eng, "data/")}
    assert data == {"k=p0": ["g0", "g2", "g4"], "k=p1": ["g1", "g3", "g5"]}
    (err,) = keys(eng, "errors/partitioning-failed/")
    raw = [base64.b64decode(d["rawData"]) for d in json_lines(eng, err)]
    assert sorted(raw) == sorted((r + "\n").encode() for r in bad)
    assert {d["errorCode"] for d in json_lines(eng, err)} <= {"DynamicPartitioning.MetadataExtractionFailed",
                                                               "DynamicPartitioning.InvalidPartitionKey"}


def test_bad_lambda_partition_keys_fail_only_their_records(eng, fh, clock):
    def handler(event, context):
        out = []
        for r in event["records"]:
            doc = json.loads(base64.b64decode(r["data"]))
            out.append({"recordId": r["recordId"], "result": "Ok", "data": r["data"],
                        "metadata": {"partitionKeys": {"k": doc["k"]}}})
        return {"records": out}
    arn = eng.register_function("keys", handler)
    fh.create_delivery_stream(DeliveryStreamName="lk", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60}, Prefix="data/!{partitionKeyFromLambda:k}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/", DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
            {"ParameterName": "LambdaArn", "ParameterValue": arn}]}]}))
    records = [{"id": "nul", "k": "a\u0000b"}, {"id": "surrogate", "k": "\ud800"}, {"id": "long", "k": "x" * 1100},
               {"id": "ok", "k": "fine"}]
    stream = _backend(eng).get("lk")
    stream.put_batch([json.dumps(r).encode() + b"\n" for r in records])
    clock.advance(60)
    ((key, blob),) = [(k, get(eng, k)) for k in keys(eng, "data/")]
    assert key.startswith("data/fine/") and ids_in(blob) == ["ok"]
    (err,) = keys(eng, "errors/partitioning-failed/")
    assert sorted(json.loads(base64.b64decode(d["rawData"]))["id"] for d in json_lines(eng, err)) == \
        ["long", "nul", "surrogate"]


@pytest.mark.parametrize("exc", [SystemExit, KeyboardInterrupt, RecursionError])
def test_a_lambda_raising_anything_is_retried_then_processing_failed(eng, fh, clock, exc):
    calls = []

    def handler(event, context):
        calls.append(1)
        raise exc("bye")
    arn = eng.register_function("dies", handler)
    fh.create_delivery_stream(DeliveryStreamName="l", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="out/", ErrorOutputPrefix="err/!{firehose:error-output-type}/",
        ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
            {"ParameterName": "LambdaArn", "ParameterValue": arn},
            {"ParameterName": "NumberOfRetries", "ParameterValue": "2"}]}]}))
    fh.put_record(DeliveryStreamName="l", Record={"Data": b"r1"})
    clock.advance(60)
    assert len(calls) == 3                            # the invocation and its 2 retries
    (err,) = keys(eng, "err/processing-failed/")
    (doc,) = json_lines(eng, err)
    assert doc["errorCode"] == "Lambda.FunctionError" and exc.__name__ in doc["errorMessage"]
    assert doc["attemptsMade"] == 3 and base64.b64decode(doc["rawData"]) == b"r1"
    fh.put_record(DeliveryStreamName="l", Record={"Data": b"r2"})   # the stream keeps running
    clock.advance(60)
    assert len(calls) == 6


def test_a_glue_table_changed_to_an_unusable_type_fails_the_batch_to_format_conversion_failed(
        eng, fh, glue, clock, events_table):
    from .conftest import conversion, event, put_json
    fh.create_delivery_stream(DeliveryStreamName="cv", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="pq/", ErrorOutputPrefix="err/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60}, DataFormatConversionConfiguration=conversion()))
    glue.update_table(DatabaseName="db", TableInput={"Name": "events", "StorageDescriptor": {"Columns": [
        {"Name": "id", "Type": "uniontype<int,string>"}]}})
    put_json(fh, "cv", [event(i) for i in range(5)])
    clock.advance(60)
    assert keys(eng, "pq/") == []
    (err,) = keys(eng, "err/format-conversion-failed/")
    docs = json_lines(eng, err)
    assert [json.loads(base64.b64decode(d["rawData"]))["id"] for d in docs] == list(range(5))
    glue.update_table(DatabaseName="db", TableInput={"Name": "events", "StorageDescriptor": {"Columns": [
        {"Name": "id", "Type": "bigint"}]}})
    put_json(fh, "cv", [event(i) for i in range(5, 8)])
    clock.advance(60)
    assert len(keys(eng, "pq/")) == 1


# --- destination failures -----------------------------------------------------------------
def test_a_bucket_directory_that_cannot_be_created_is_retried_until_it_can(eng, fh, clock, tmp_path):
    root = tmp_path / "s3"
    root.mkdir(exist_ok=True)
    (root / "bucket").write_bytes(b"a file where the bucket directory should be")
    fh.create_delivery_stream(DeliveryStreamName="r", ExtendedS3DestinationConfiguration=s3_config(Prefix="p/"))
    fh.put_record_batch(DeliveryStreamName="r", Records=[{"Data": d} for d in tagged(["x", "y"])])
    clock.advance(60)
    stream = _backend(eng).get("r")
    assert stream.stats["retried_attempts"] == 1 and stream.pending_buffers == 1
    clock.advance(600)                                # retried every few seconds, still failing
    assert stream.stats["retried_attempts"] > 100
    (root / "bucket").unlink()                        # the fault clears
    clock.advance(5)
    assert stream.pending_buffers == 0 and stream.stats["delivered_records"] == 2
    assert scan_ids(root / "bucket") == {"x": 1, "y": 1}


def test_s3_failure_beyond_the_retry_duration_goes_to_the_error_output(eng, fh, clock, tmp_path):
    root = tmp_path / "s3"
    (root / "bucket").mkdir(parents=True)
    (root / "bucket" / "data").write_bytes(b"blocks the data prefix only")
    fh.create_delivery_stream(DeliveryStreamName="dp", ExtendedS3DestinationConfiguration=_dp_config(
        prefix="data/!{partitionKeyFromQuery:k}/", DynamicPartitioningConfiguration={
            "Enabled": True, "RetryOptions": {"DurationInSeconds": 30}}))
    fh.put_record_batch(DeliveryStreamName="dp", Records=[{"Data": d} for d in tagged(["a", "b"], k="v")])
    clock.advance(60)
    assert keys(eng, "errors/") == []
    clock.advance(40)
    (err,) = keys(eng, "errors/s3-failed/")
    docs = json_lines(eng, err)
    assert [ids_in(base64.b64decode(d["rawData"])) for d in docs] == [["a"], ["b"]]
    assert docs[0]["errorCode"] == "S3.WriteFailed" and docs[0]["attemptsMade"] > 3
    assert _backend(eng).get("dp").stats["failed_records"] == 2


def test_an_unwritable_error_output_is_counted_and_logged_not_dropped_silently(eng, fh, clock, faults, caplog):
    caplog.set_level(logging.ERROR, logger="engine.firehose")
    _backend(eng).s3_retry_s = 20
    fh.create_delivery_stream(DeliveryStreamName="u", ExtendedS3DestinationConfiguration=s3_config())
    faults.fail.add("bucket")
    fh.put_record(DeliveryStreamName="u", Record={"Data": b"lost"})
    clock.advance(60)
    clock.advance(25)                                 # data write gave up; error write starts retrying
    clock.advance(25)
    stats = _backend(eng).get("u").stats
    assert stats["undeliverable_records"] == 1 and stats["delivered_records"] == 0
    assert "could not be written to any output" in caplog.text


def test_an_http_endpoint_that_recovers_gets_everything_once(eng, fh, clock, http_endpoint):
    ep = http_endpoint()
    ep.fail = True
    fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration=http_config(ep.url))
    fh.put_record_batch(DeliveryStreamName="h", Records=[{"Data": d} for d in tagged(["1", "2"])])
    clock.advance(60)
    clock.advance(10)
    assert ep.requests > 2 and ep.received == []
    ep.fail = False
    clock.advance(30)
    assert [ids_in(r) for r in ep.received] == [["1"], ["2"]] and keys(eng) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:notaport/", "http://127.0.0.1:99999/", "https://:443/x",
                                 "ftp://127.0.0.1/"])
def test_an_invalid_endpoint_url_is_refused_at_create_time(eng, fh, url):
    with pytest.raises(ClientError) as err:
        fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration=http_config(url))
    assert err.value.response["Error"]["Code"] in ("InvalidArgumentException", "ValidationException")
    with pytest.raises(ClientError) as err:
        _backend(eng).create_delivery_stream("h", HttpEndpoint(url, S3Destination(BUCKET, ROLE)))
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == []


def test_native_put_batch_refuses_malformed_records(eng, fh):
    fh.create_delivery_stream(DeliveryStreamName="n", ExtendedS3DestinationConfiguration=s3_config())
    stream = _backend(eng).get("n")
    for bad in ([None], [b"x" * (1000 * 1024 + 1)], 42, [1, 2], {"a": 1}):
        with pytest.raises(ClientError) as err:
            stream.put_batch(bad)
        assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert stream.buffered_records == 0


"""Lambda transformation, S3 backup, and the HTTP endpoint destination."""
import base64
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from .conftest import ROLE, get, json_lines, keys, s3_config


def _lambda_cfg(arn, retries=None):
    params = [{"ParameterName": "LambdaArn", "ParameterValue": arn}]
    if retries is not None:
        params.append({"ParameterName": "NumberOfRetries", "ParameterValue": str(retries)})
    return {"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": params}]}


def test_lambda_ok_dropped_processing_failed(eng, fh, clock):
    events = []

    def handler(event, context):
        events.append(event)
        out = []
        for r in event["records"]:
            data = base64.b64decode(r["data"])
            if data.startswith(b"drop"):
                out.append({"recordId": r["recordId"], "result": "Dropped", "data": r["data"]})
            elif data.startswith(b"fail"):
                out.append({"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]})
            else:
                out.append({"recordId": r["recordId"], "result": "Ok",
                            "data": base64.b64encode(data.upper() + b"\n").decode()})
        return {"records": out}
    arn = eng.register_function("upper", handler)
    fh.create_delivery_stream(DeliveryStreamName="lam", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="ok/", ProcessingConfiguration=_lambda_cfg(arn), S3BackupMode="Enabled",
        S3BackupConfiguration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup", "Prefix": "src/"}))
    fh.put_record_batch(DeliveryStreamName="lam", Records=[{"Data": d} for d in
                                                          (b"a", b"drop1", b"b", b"fail1", b"c")])
    clock.advance(60)
    (event,) = events
    assert set(event) == {"invocationId", "deliveryStreamArn", "region", "records"}
    assert event["deliveryStreamArn"].endswith(":deliverystream/lam") and event["region"] == "us-east-1"
    assert event["records"][0]["approximateArrivalTimestamp"] == 1_700_000_000_000
    (ok,) = keys(eng, "ok/2023/")
    assert get(eng, ok) == b"A\nB\nC\n"
    # default error prefix when Prefix has no expressions: <Prefix><error-output-type>/yyyy/MM/dd/HH/
    (failed,) = keys(eng, "ok/processing-failed/2023/11/14/22/lam-1-")
    assert keys(eng) == sorted([ok, failed])
    (doc,) = json_lines(eng, failed)
    assert doc["errorCode"] == "Lambda.ProcessingFailed" and base64.b64decode(doc["rawData"]) == b"fail1"
    assert doc["lambdaArn"] == arn and doc["attemptsMade"] == 1
    assert set(doc) == {"attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage", "attemptEndingTimestamp",
                        "rawData", "lambdaArn"}
    (backup,) = keys(eng, "src/", bucket="backup")
    assert get(eng, backup, bucket="backup") == b"adrop1bfail1c"


def test_default_error_prefix_follows_prefix(eng, fh, clock):
    arn = eng.register_function("fails", lambda e, c: {"records": [
        {"recordId": r["recordId"], "result": "ProcessingFailed"} for r in e["records"]]})
    fh.create_delivery_stream(DeliveryStreamName="e", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="data/", ProcessingConfiguration=_lambda_cfg(arn)))
    fh.put_record(DeliveryStreamName="e", Record={"Data": b"x"})
    clock.advance(60)
    (key,) = keys(eng)
    assert key.startswith("data/processing-failed/2023/11/14/22/e-1-")


@pytest.mark.parametrize("kind", ["raises", "malformed", "wrong_ids", "bad_result", "bad_base64"])
def test_failing_transformation_goes_to_error_prefix_and_stream_keeps_running(eng, fh, clock, kind):
    calls = {"n": 0}

    def handler(event, context):
        calls["n"] += 1
        if calls["n"] <= 4:          # the first invocation and its 3 retries misbehave
            if kind == "raises":
                raise ValueError("boom")
            if kind == "malformed":
                return {"nope": []}
            if kind == "wrong_ids":
                return {"records": [{"recordId": "zzz", "result": "Ok", "data": ""}]}
            if kind == "bad_result":
                return {"records": [{"recordId": r["recordId"], "result": "Maybe", "data": r["data"]}
                                    for r in event["records"]]}
            return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": "!!!"}
                                for r in event["records"]]}
        return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]]}
    arn = eng.register_function("flaky", handler)
    fh.create_delivery_stream(DeliveryStreamName="f", ExtendedS3DestinationConfiguration=s3_config(
        Prefix="out/", ErrorOutputPrefix="err/!{firehose:error-output-type}/", ProcessingConfiguration=_lambda_cfg(arn)))
    fh.put_record_batch(DeliveryStreamName="f", Records=[{"Data": b"1"}, {"Data": b"2"}])
    clock.advance(60)
    assert calls["n"] == 4 and keys(eng, "out/") == []
    (err,) = keys(eng, "err/processing-failed/")
    docs = json_lines(eng, err)
    assert [base64.b64decode(d["rawData"]) for d in docs] == [b"1", b"2"]
    assert all(d["attemptsMade"] == 4 for d in docs)
    if kind == "raises":
        assert docs[0]["errorCode"] == "Lambda.FunctionError" and "boom" in docs[0]["errorMessage"]
    fh.put_record(DeliveryStreamName="f", Record={"Data": b"3"})
    clock.advance(60)
    (out,) = keys(eng, "out/")
    assert get(eng, out) == b"3"


def test_partition_key_from_lambda(eng, fh, clock):
    def handler(event, context):
        return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"],
                             "metadata": {"partitionKeys": {"kind": json.loads(base64.b64decode(r["data"]))["k"]}}}
                            for r in event["records"]]}
    arn = eng.register_function("keys", handler)
    fh.create_delivery_stream(DeliveryStreamName="pl", ExtendedS3DestinationConfiguration=s3_config(
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        Prefix="pl/kind=!{partitionKeyFromLambda:kind}/", ErrorOutputPrefix="plerr/!{firehose:error-output-type}/",
        DynamicPartitioningConfiguration={"Enabled": True}, ProcessingConfiguration=_lambda_cfg(arn)))
    fh.put_record_batch(DeliveryStreamName="pl", Records=[{"Data": json.dumps({"k": k, "i": i})}
                                                         for i, k in enumerate("abab")])
    clock.advance(60)
    got = {k.split("/")[1]: get(eng, k) for k in keys(eng, "pl/")}
    assert got == {"kind=a": b'{"k": "a", "i": 0}{"k": "a", "i": 2}', "kind=b": b'{"k": "b", "i": 1}{"k": "b", "i": 3}'}


class _Endpoint:
    """A local HTTP endpoint speaking the Firehose protocol; `fail` answers 500 that many times."""

    def __init__(self, fail=0, bad_id=False):
        self.requests = []
        self.fail = fail
        self.bad_id = bad_id
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                outer.requests.append((dict(self.headers), json.loads(body)))
                request_id = json.loads(body)["requestId"]
                if outer.fail > 0:
                    outer.fail -= 1
                    status, answer = 500, {"requestId": request_id, "timestamp": 1, "errorMessage": "busy"}
                else:
                    status, answer = 200, {"requestId": "other" if outer.bad_id else request_id, "timestamp": 1}
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/ingest"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    made = []

    def make(**kw):
        made.append(_Endpoint(**kw))
        return made[-1]
    yield make
    for e in made:
        e.close()


def _http_cfg(url, retry=60, **extra):
    cfg = {"EndpointConfiguration": {"Url": url, "Name": "local", "AccessKey": "secret"},
           "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
           "RequestConfiguration": {"ContentEncoding": "GZIP",
                                    "CommonAttributes": [{"AttributeName": "env", "AttributeValue": "test"}]},
           "RetryOptions": {"DurationInSeconds": retry},
           "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bucket", "Prefix": "http/"}}
    cfg.update(extra)
    return cfg


def test_http_endpoint_request_and_response(eng, fh, clock, endpoint, shape):
    ep = endpoint()
    fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration=_http_cfg(ep.url))
    desc = fh.describe_delivery_stream(DeliveryStreamName="h")
    shape("firehose", "DescribeDeliveryStream", desc)
    http = desc["DeliveryStreamDescription"]["Destinations"][0]["HttpEndpointDestinationDescription"]
    assert http["EndpointConfiguration"] == {"Url": ep.url, "Name": "local"}     # AccessKey is never shown
    assert http["S3BackupMode"] == "FailedDataOnly" and http["RetryOptions"] == {"DurationInSeconds": 60}
    fh.put_record_batch(DeliveryStreamName="h", Records=[{"Data": b"r1"}, {"Data": b"r2"}])
    clock.advance(60)
    ((headers, body),) = ep.requests
    assert headers["X-Amz-Firehose-Protocol-Version"] == "1.0"
    assert headers["X-Amz-Firehose-Access-Key"] == "secret"
    assert headers["X-Amz-Firehose-Request-Id"] == body["requestId"]
    assert headers["X-Amz-Firehose-Source-Arn"].endswith(":deliverystream/h")
    assert json.loads(headers["X-Amz-Firehose-Common-Attributes"]) == {"commonAttributes": {"env": "test"}}
    assert headers["Content-Type"] == "application/json"
    assert [base64.b64decode(r["data"]) for r in body["records"]] == [b"r1", b"r2"]
    assert body["timestamp"] == 1_700_000_060_000
    assert keys(eng) == []


def test_http_endpoint_retries_then_succeeds(eng, fh, clock, endpoint):
    ep = endpoint(fail=2)
    fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration=_http_cfg(ep.url))
    fh.put_record(DeliveryStreamName="h", Record={"Data": b"x"})
    clock.advance(60)
    assert len(ep.requests) == 1
    clock.advance(10)
    assert len(ep.requests) == 3
    ids = {body["requestId"] for _, body in ep.requests}
    assert len(ids) == 1                     # the request id is stable across retries
    assert keys(eng) == []


@pytest.mark.parametrize("bad_id", [False, True])
def test_http_endpoint_gives_up_after_retry_duration_and_backs_up(eng, fh, clock, endpoint, bad_id):
    ep = endpoint(fail=0 if bad_id else 10 ** 6, bad_id=bad_id)
    fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration=_http_cfg(ep.url, retry=30))
    fh.put_record_batch(DeliveryStreamName="h", Records=[{"Data": b"a"}, {"Data": b"b"}])
    clock.advance(60)
    assert keys(eng) == []
    clock.advance(40)
    (key,) = keys(eng)
    assert key.startswith("http/http-endpoint-failed/2023/11/14/22/h-1-")
    docs = json_lines(eng, key)
    assert [base64.b64decode(d["rawData"]) for d in docs] == [b"a", b"b"]
    assert docs[0]["attemptsMade"] == len(ep.requests) > 1
    assert docs[0]["errorCode"] == ("HttpEndpoint.InvalidResponseFromDestination" if bad_id
                                    else "HttpEndpoint.ResponseFailed")


def test_http_all_data_backup_and_unreachable_endpoint_on_close(eng, fh, clock):
    fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration=_http_cfg(
        "http://127.0.0.1:9/nothing", retry=0, S3BackupMode="AllData"))
    fh.put_record(DeliveryStreamName="h", Record={"Data": b"z"})
    eng.close()
    all_data = [k for k in keys(eng, "http/") if "http-endpoint-failed" not in k]
    failed = keys(eng, "http/http-endpoint-failed/")
    assert len(all_data) == 1 and get(eng, all_data[0]) == b"z"
    assert json_lines(eng, failed[0])[0]["errorCode"] == "HttpEndpoint.ConnectionFailed"


def test_http_bad_input(fh):
    with pytest.raises(fh.exceptions.ValidationException, match="less than or equal to 64"):
        fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration=_http_cfg(
            "https://example.com", BufferingHints={"SizeInMBs": 65, "IntervalInSeconds": 60}))
    with pytest.raises(fh.exceptions.ValidationException, match="7200"):
        fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration=_http_cfg(
            "https://example.com", retry=7201))
    with pytest.raises(fh.exceptions.ValidationException, match="pattern"):
        fh.create_delivery_stream(DeliveryStreamName="h", HttpEndpointDestinationConfiguration=_http_cfg("ftp://x"))

"""Firehose and ingest writing to real object storage: an S3-compatible server (moto's, on
127.0.0.1) through pyarrow's S3 filesystem, credentials from the AWS environment variables.

DuckDB reads the results through pyarrow's S3 filesystem (its httpfs extension is a download
that can't be made offline)."""
import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

import engine
from engine.s3 import store_for

from .conftest import ROLE

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def s3_server():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    return boto3.client("s3", endpoint_url=f"http://{s3_server}", region_name="us-east-1")


def _uri(endpoint, bucket_and_prefix=""):
    return f"s3://{bucket_and_prefix}?endpoint_override={endpoint}&scheme=http&region=us-east-1"


def _keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def _duckdb_rows(endpoint, path, sql):
    """DuckDB over a pyarrow dataset read from the S3 server (hive partitions from the keys)."""
    fs, _ = pafs.FileSystem.from_uri(_uri(endpoint))
    events = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")  # noqa: F841 - read by DuckDB
    return duckdb.sql(sql.replace("$events", "events")).fetchall()


def _partitioned_stream(eng, name, bucket):
    glue, fh = eng.client("glue"), eng.client("firehose")
    glue.create_database(DatabaseInput={"Name": "lake"})
    glue.create_table(DatabaseName="lake", TableInput={"Name": "events", "StorageDescriptor": {"Columns": [
        {"Name": "id", "Type": "bigint"}, {"Name": "name", "Type": "string"}]}})
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": "events/kind=!{partitionKeyFromQuery:kind}/",
        "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
        "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
        "DynamicPartitioningConfiguration": {"Enabled": True},
        "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{kind: .kind}"},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]},
        "DataFormatConversionConfiguration": {
            "Enabled": True, "SchemaConfiguration": {"DatabaseName": "lake", "TableName": "events", "RoleARN": ROLE},
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}}})
    return eng.backend("firehose").get(name)


def test_firehose_writes_partitioned_parquet_under_an_s3_root_prefix(s3, s3_server):
    s3.create_bucket(Bucket="root-bucket")
    with engine.Engine(s3_root=_uri(s3_server, "root-bucket/engine"), clock=engine.ManualClock()) as eng:
        delivery = _partitioned_stream(eng, "to-s3", "events-bucket")
        delivery.put_batch([json.dumps({"id": i, "name": f"n{i}", "kind": ["a", "b"][i % 2]}) for i in range(1000)])
        delivery.flush()
        assert delivery.stats["delivered_records"] == 1000
    keys = _keys(s3, "root-bucket")
    assert keys and all(k.startswith("engine/events-bucket/events/kind=") and k.endswith(".parquet") for k in keys)
    rows = _duckdb_rows(s3_server, "root-bucket/engine/events-bucket/events",
                        "SELECT kind, count(*), sum(id) FROM $events GROUP BY kind ORDER BY kind")
    assert rows == [("a", 500, sum(range(0, 1000, 2))), ("b", 500, sum(range(1, 1000, 2)))]


def test_an_s3_root_without_a_bucket_maps_firehose_buckets_to_real_buckets(s3, s3_server):
    s3.create_bucket(Bucket="raw-events")
    with engine.Engine(s3_root=_uri(s3_server), clock=engine.ManualClock()) as eng:
        eng.client("firehose").create_delivery_stream(DeliveryStreamName="raw", ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::raw-events", "Prefix": "raw/", "CompressionFormat": "GZIP",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
        eng.client("firehose").put_record_batch(DeliveryStreamName="raw", Records=[
            {"Data": f'{{"id": {i}}}\n'.encode()} for i in range(10)])
        eng.backend("firehose").get("raw").flush()
        assert store_for(eng).list("raw-events") == _keys(s3, "raw-events")
    (key,) = _keys(s3, "raw-events")
    assert key.startswith("raw/") and key.endswith(".gz")
    import gzip

    body = gzip.decompress(s3.get_object(Bucket="raw-events", Key=key)["Body"].read())
    assert [json.loads(line)["id"] for line in body.splitlines()] == list(range(10))


def test_ingest_to_s3_through_the_object_store_root(s3, s3_server, tmp_path, capsys):
    from engine.cli import main

    s3.create_bucket(Bucket="lake")
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"id": i, "city": ["oslo", "lima"][i % 2]}) + "\n" for i in range(500)))
    code = main(["ingest", str(path), "--to", "s3://lake/clicks", "--s3-root", _uri(s3_server),
                 "--partition-by", "city", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "s3://lake/clicks" in out
    keys = _keys(s3, "lake")
    assert {k.split("/")[1] for k in keys} == {"city=oslo", "city=lima"}
    assert _duckdb_rows(s3_server, "lake/clicks", "SELECT count(*), sum(id) FROM $events") == [(500, sum(range(500)))]


class FailingParts:
    """A proxy in front of the S3 server that refuses UploadPart requests while `fail` is set."""

    def __init__(self, upstream: str):
        self.fail = True
        self.refused = 0
        outer = self
        host, port = upstream.split(":")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes:
                if "chunked" not in self.headers.get("Transfer-Encoding", ""):
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline().strip():     # trailers
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()

            def _forward(self):
                body = self._body()
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                if outer.fail and self.command == "PUT" and "partNumber" in query:
                    outer.refused += 1
                    payload = b"<Error><Code>AccessDenied</Code><Message>injected</Message></Error>"
                    self.send_response(403)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "expect", "content-length")}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                conn.request(self.command, self.path, body, headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failing_parts(s3_server):
    proxy = FailingParts(s3_server)
    yield proxy
    proxy.close()


def test_a_multipart_upload_with_a_failed_part_leaves_no_object(s3, failing_parts):
    s3.create_bucket(Bucket="atomic")
    with engine.Engine(s3_root=_uri(failing_parts.endpoint)) as eng:
        store = store_for(eng)
        payload = bytes(range(256)) * (96 << 12)           # 24 MiB: several parts
        with pytest.raises(OSError):
            store.put("atomic", "big.bin", payload)
        assert failing_parts.refused and _keys(s3, "atomic") == []
        with pytest.raises(ZeroDivisionError):     # a writer that fails half way sends nothing either
            store.write("atomic", "half.bin", lambda out: (out.write(payload[:1 << 20]), 1 / 0))
        assert _keys(s3, "atomic") == []
        failing_parts.fail = False
        store.put("atomic", "big.bin", payload)
    assert _keys(s3, "atomic") == ["big.bin"]
    assert s3.get_object(Bucket="atomic", Key="big.bin")["Body"].read() == payload


def test_firehose_retries_an_object_whose_upload_failed_and_writes_it_whole(s3, failing_parts):
    s3.create_bucket(Bucket="retry-bucket")
    clock = engine.ManualClock(start=1_700_000_000.0)
    with engine.Engine(s3_root=_uri(failing_parts.endpoint), clock=clock) as eng:
        eng.client("firehose").create_delivery_stream(DeliveryStreamName="big", ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::retry-bucket", "Prefix": "big/",
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 60}})
        delivery = eng.backend("firehose").get("big")
        records = pa.array([bytes([i % 251]) * 1000 + b"\n" for i in range(20_000)], pa.binary())   # ~20 MB
        delivery.put_batch(records)
        delivery.flush()
        assert delivery.stats["retried_attempts"] >= 1 and _keys(s3, "retry-bucket") == []
        failing_parts.fail = False
        clock.advance(2)
        assert delivery.stats["delivered_records"] == 20_000
    (key,) = _keys(s3, "retry-bucket")
    body = s3.get_object(Bucket="retry-bucket", Key=key)["Body"].read()
    assert body == b"".join(records.to_pylist())

import base64
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.s3 import TMP_DIR, store_for

ROLE = "arn:aws:iam::000000000000:role/firehose"
BUCKET = "arn:aws:s3:::bucket"

# <stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><ext>
NAME_RE = r"(?P<stream>[A-Za-z0-9_.-]+)-(?P<version>\d+)-(?P<ts>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)-" \
          r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
def fh(eng):
    return eng.client("firehose")


@pytest.fixture
def glue(eng):
    return eng.client("glue")


def s3_config(**extra):
    cfg = {"RoleARN": ROLE, "BucketARN": BUCKET, "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}
    cfg.update(extra)
    return cfg


def conversion(db="db", table="events", serializer=None, deserializer=None):
    return {"Enabled": True,
            "SchemaConfiguration": {"DatabaseName": db, "TableName": table, "RoleARN": ROLE},
            "InputFormatConfiguration": {"Deserializer": deserializer or {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": serializer or {"ParquetSerDe": {}}}}


EVENT_COLUMNS = [
    {"Name": "id", "Type": "bigint"},
    {"Name": "name", "Type": "string"},
    {"Name": "score", "Type": "double"},
    {"Name": "ok", "Type": "boolean"},
    {"Name": "day", "Type": "date"},
    {"Name": "at", "Type": "timestamp"},
    {"Name": "price", "Type": "decimal(10,2)"},
    {"Name": "tags", "Type": "array<string>"},
    {"Name": "customer", "Type": "struct<id:string,tier:int>"},
]


@pytest.fixture
def events_table(glue):
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={"Name": "events",
                                                     "StorageDescriptor": {"Columns": EVENT_COLUMNS}})
    return "events"


def event(i, customer=None):
    return {"id": i, "name": f"n{i}", "score": i / 2, "ok": i % 2 == 0, "day": "2024-01-02",
            "at": "2024-01-02 03:04:05", "price": "12.34", "tags": ["a", str(i)],
            "customer": {"id": customer or f"c{i % 3}", "tier": i % 5}}


def put_json(fh, name, docs):
    for start in range(0, len(docs), 500):
        out = fh.put_record_batch(DeliveryStreamName=name, Records=[
            {"Data": json.dumps(d).encode()} for d in docs[start:start + 500]])
        assert out["FailedPutCount"] == 0


def keys(eng, prefix="", bucket="bucket"):
    return store_for(eng).list(bucket, prefix)


def get(eng, key, bucket="bucket"):
    return store_for(eng).get(bucket, key)


def json_lines(eng, key):
    return [json.loads(line) for line in get(eng, key).decode().splitlines() if line]


def assert_name(key, stream, version=1):
    m = re.fullmatch(r".*/" + NAME_RE + r"(\.[a-z]+)?", key) or re.fullmatch(NAME_RE + r"(\.[a-z]+)?", key)
    assert m, key
    assert m["stream"] == stream and int(m["version"]) == version
    return m


class StoreFaults:
    """Faults injected into the engine's S3 store: `fail` (a set of buckets) makes writes raise,
    `hold` (bucket -> threading.Event) makes them wait until the event is set."""

    def __init__(self, eng, monkeypatch):
        store = store_for(eng)
        self.fail: set = set()
        self.hold: dict = {}
        self.holding = threading.Semaphore(0)    # released once per write that starts waiting
        real = store.put

        def put(bucket, key, data):
            gate = self.hold.get(bucket)
            if gate is not None and not gate.is_set():
                self.holding.release()
                gate.wait()
            if bucket in self.fail:
                raise OSError(f"injected fault writing s3://{bucket}/{key}")
            return real(bucket, key, data)
        monkeypatch.setattr(store, "put", put)


@pytest.fixture
def faults(eng, monkeypatch):
    return StoreFaults(eng, monkeypatch)


def tagged(ids, **extra):
    """JSON lines records carrying their id, so outputs can be matched to what was accepted."""
    return [(json.dumps({"id": i, **extra}) + "\n").encode() for i in ids]


def ids_in(blob: bytes) -> list:
    return [json.loads(line)["id"] for line in blob.splitlines() if line.strip()]


def scan_ids(root) -> dict:
    """{id: times seen} over every object under root: data objects hold records as JSON lines,
    error objects hold AWS's error documents with the record in rawData."""
    seen: dict = {}
    for dirpath, _, names in os.walk(root):
        if TMP_DIR in dirpath.split(os.sep):
            continue
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                blob = f.read()
            if "-failed" in dirpath:
                found = [i for doc in blob.splitlines() if doc.strip()
                         for i in ids_in(base64.b64decode(json.loads(doc)["rawData"]))]
            else:
                found = ids_in(blob)
            for i in found:
                seen[i] = seen.get(i, 0) + 1
    return seen


class Endpoint:
    """A local HTTP endpoint speaking the Firehose protocol. `fail` answers 500, `gate` (an Event)
    holds each request until it is set; only records answered with 200 count as received."""

    def __init__(self):
        self.received: list = []
        self.requests = 0
        self.fail = False
        self.gate = None
        self.waiting = threading.Semaphore(0)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests += 1
                gate = outer.gate
                if gate is not None:
                    outer.waiting.release()
                    gate.wait()
                ok = not outer.fail
                if ok:   # before answering: once Firehose has the 200, the records are received
                    outer.received.extend(base64.b64decode(r["data"]) for r in body["records"])
                payload = json.dumps({"requestId": body["requestId"], "timestamp": 1}).encode()
                self.send_response(200 if ok else 500)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/ingest"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_endpoint():
    made = []

    def make():
        made.append(Endpoint())
        return made[-1]
    yield make
    for e in made:
        e.close()


def http_config(url, retry=60, **extra):
    cfg = {"EndpointConfiguration": {"Url": url},
           "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
           "RetryOptions": {"DurationInSeconds": retry},
           "S3Configuration": {"RoleARN": ROLE, "BucketARN": BUCKET, "Prefix": "http/"}}
    cfg.update(extra)
    return cfg

import json
import re

import pytest

from engine.s3 import store_for

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

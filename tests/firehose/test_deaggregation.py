"""The RecordDeAggregation processor: aggregated records split before the Lambda step and dynamic
partitioning, as AWS orders them (deaggregation -> transformation -> partition keys)."""
import base64
import json

import pytest

from .conftest import ROLE, BUCKET, get, json_lines, keys


def _create(fh, sub_record_type, delimiter=None, lambda_arn=None):
    params = [{"ParameterName": "SubRecordType", "ParameterValue": sub_record_type}]
    if delimiter is not None:
        params.append({"ParameterName": "Delimiter", "ParameterValue": base64.b64encode(delimiter).decode()})
    processors = [{"Type": "RecordDeAggregation", "Parameters": params},
                  {"Type": "MetadataExtraction", "Parameters": [
                      {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k: .k}"},
                      {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
                  {"Type": "AppendDelimiterToRecord", "Parameters": []}]
    if lambda_arn is not None:
        processors.append({"Type": "Lambda", "Parameters": [{"ParameterName": "LambdaArn",
                                                             "ParameterValue": lambda_arn}]})
    fh.create_delivery_stream(DeliveryStreamName="agg", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": BUCKET, "Prefix": "k=!{partitionKeyFromQuery:k}/",
        "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
        "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
        "DynamicPartitioningConfiguration": {"Enabled": True},
        "ProcessingConfiguration": {"Enabled": True, "Processors": processors}})


def _lines(eng, prefix):
    return sorted(line for key in keys(eng, prefix) for line in get(eng, key).splitlines())


def test_json_sub_records_are_partitioned_one_by_one(eng, fh, clock):
    seen = []

    def count(event, context):
        seen.append(len(event["records"]))
        return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]]}

    _create(fh, "JSON", lambda_arn=eng.register_function("count", count))
    fh.put_record_batch(DeliveryStreamName="agg", Records=[
        {"Data": b'{"k":"a","i":1}{"k":"b","i":2}'}, {"Data": b'{"k":"a","i":3}\n{"k":"a","i":4}\n'},
        {"Data": b'[{"k":"a"}]'}, {"Data": b"".join(b'{"k":"c"}' for _ in range(501))}])
    clock.advance(60)
    assert seen == [4]                       # the function sees sub-records, after deaggregation
    assert _lines(eng, "k=a/") == [b'{"k":"a","i":1}', b'{"k":"a","i":3}', b'{"k":"a","i":4}']
    assert _lines(eng, "k=b/") == [b'{"k":"b","i":2}']
    (err,) = keys(eng, "err/processing-failed/")
    docs = json_lines(eng, err)
    assert {d["errorCode"] for d in docs} == {"RecordDeAggregation.Failed"}
    assert base64.b64decode(docs[0]["rawData"]) == b'[{"k":"a"}]' and len(docs) == 2   # an array; 501 objects


@pytest.mark.parametrize("delimiter", [b"####", b"\n"])
def test_delimited_sub_records(eng, fh, clock, delimiter):
    _create(fh, "DELIMITED", delimiter=delimiter)
    docs = [json.dumps({"k": k}).encode() for k in ("x", "y", "x")]
    fh.put_record(DeliveryStreamName="agg", Record={"Data": delimiter.join(docs)})
    clock.advance(60)
    assert _lines(eng, "k=x/") == [b'{"k": "x"}', b'{"k": "x"}'] and _lines(eng, "k=y/") == [b'{"k": "y"}']

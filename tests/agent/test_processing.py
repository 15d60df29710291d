"""The agent's configuration and record processing, as the Kinesis Agent defines them."""
import json

import pytest

from engine import limits
from engine.agent import ConfigError, parse_config
from engine.agent.processing import build_chain, apply_chain, single_line, truncate


def test_defaults_and_ignored_options():
    config = parse_config({"flows": [{"filePattern": "/var/log/app.log*", "kinesisStream": "s", "extra": 1}],
                           "cloudwatch.emitMetrics": True}, base_dir="/etc/agent")
    (flow,) = config.flows
    assert (flow.initial_position, flow.max_buffer_records, flow.max_buffer_bytes, flow.max_buffer_age_ms,
            flow.poll_ms, flow.partition_key_option) == ("END_OF_FILE", 500, 4 * 2**20, 60_000, 100, "RANDOM")
    assert config.checkpoint_file == "/etc/agent/agent-checkpoints.json"
    assert config.ignored == ("cloudwatch.emitMetrics", "flows[0].extra")
    assert flow.record_max == limits.AGENT_KINESIS_RECORD_MAX


@pytest.mark.parametrize("document, message", [
    ({}, "flows"),
    ({"flows": [{"kinesisStream": "s"}]}, "filePattern"),
    ({"flows": [{"filePattern": "x", "kinesisStream": "s", "deliveryStream": "d"}]}, "exactly one"),
    ({"flows": [{"filePattern": "x", "kinesisStream": "s", "initialPosition": "MIDDLE"}]}, "initialPosition"),
    ({"flows": [{"filePattern": "x", "kinesisStream": "s", "maxBufferSizeRecords": 501}]}, "maxBufferSizeRecords"),
    ({"flows": [{"filePattern": "x", "kinesisStream": "s", "maxBufferAgeMillis": 999}]}, "maxBufferAgeMillis"),
    ({"flows": [{"filePattern": "x", "kinesisStream": "s", "multiLineStartPattern": "("}]}, "multiLineStartPattern"),
    ({"flows": [{"filePattern": "x", "kinesisStream": "s", "dataProcessingOptions": [{"optionName": "NOPE"}]}]},
     "not supported"),
    ({"flows": [{"filePattern": "x", "kinesisStream": "s", "dataProcessingOptions": [{"optionName": "CSVTOJSON"}]}]},
     "customFieldNames"),
    ({"flows": [{"filePattern": "x", "kinesisStream": "s", "dataProcessingOptions": [
        {"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG", "customFieldNames": ["a"]}]}]}, "custom field"),
])
def test_refused_configurations(document, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(document)


def test_single_line():
    assert single_line(b"  first\n   second  \n third\n") == b"firstsecondthird\n"


def test_csv_to_json():
    chain = build_chain([{"optionName": "CSVTOJSON", "customFieldNames": ["a", "b", "c"]}])
    assert json.loads(apply_chain(chain, b"1,x\n")) == {"a": "1", "b": "x", "c": None}
    tabs = build_chain([{"optionName": "CSVTOJSON", "customFieldNames": ["a", "b"], "delimiter": "\\t"}])
    assert apply_chain(tabs, b"1\t2\t3\n") == b'{"a":"1","b":"2"}\n'


def test_log_to_json_formats():
    common = build_chain([{"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG"}])
    line = b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326\n'
    assert json.loads(apply_chain(common, line)) == {
        "host": "127.0.0.1", "ident": None, "authuser": "frank", "datetime": "10/Oct/2000:13:55:36 -0700",
        "request": "GET /apache_pb.gif HTTP/1.0", "response": "200", "bytes": "2326"}
    combined = build_chain([{"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"}])
    doc = json.loads(apply_chain(combined, line[:-1] + b' "http://www.example.com/start.html" "Mozilla/4.08"\n'))
    assert (doc["referer"], doc["agent"]) == ("http://www.example.com/start.html", "Mozilla/4.08")
    error = build_chain([{"optionName": "LOGTOJSON", "logFormat": "APACHEERRORLOG"}])
    doc = json.loads(apply_chain(error, b"[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid "
                                        b"4328636416] [client 72.15.99.187] File does not exist: /usr/local\n"))
    assert (doc["module"], doc["severity"], doc["processid"], doc["client"]) == ("core", "error", "35708",
                                                                                 "72.15.99.187")
    syslog = build_chain([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG"}])
    doc = json.loads(apply_chain(syslog, b"Mar 12 12:00:08 server2 rcd[308]: Loaded 12 packages in 'ximian-red'\n"))
    assert doc == {"timestamp": "Mar 12 12:00:08", "hostname": "server2", "program": "rcd", "processid": "308",
                   "message": "Loaded 12 packages in 'ximian-red'"}
    assert apply_chain(syslog, b"not a syslog line\n") is None      # skipped, as the Java agent does


def test_log_to_json_custom_pattern_and_names():
    chain = build_chain([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPattern": r"(\w+)=(\d+)",
                          "customFieldNames": ["key", "value"]}])
    assert apply_chain(chain, b"speed=42\n") == b'{"key":"speed","value":"42"}\n'
    renamed = build_chain([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG",
                            "customFieldNames": ["t", "h", "p", "pid", "m"]}])
    assert set(json.loads(apply_chain(renamed, b"Mar 12 12:00:08 host prog: hi\n"))) == {"t", "h", "p", "pid", "m"}


def test_chain_in_order_and_truncation():
    chain = build_chain([{"optionName": "SINGLELINE"}, {"optionName": "CSVTOJSON", "customFieldNames": ["x", "y"]}])
    assert apply_chain(chain, b"a,\n  b\n") == b'{"x":"a","y":"b"}\n'
    assert truncate(b"abcdefgh\n", 5, b"\n") == b"abcd\n"
    assert truncate(b"abc\n", 5, b"\n") == b"abc\n"

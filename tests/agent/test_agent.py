"""The agent end to end, in process: tailing (new files, rotation by rename and by copy-truncate),
multi-line records, batching and retries, checkpoints across restarts, Kinesis and Firehose."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from engine.agent import Agent, parse_config
from engine.agent.sinks import SendError


class FakeTime:
    """The agent's clock and sleep: time moves only when the test (or a back-off sleep) moves it."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake():
    return FakeTime()


@pytest.fixture
def stream(eng):
    eng.client("kinesis", region_name="us-east-1").create_stream(StreamName="logs", ShardCount=1)
    return eng.backend("kinesis").get_stream("logs")


def _config(tmp_path, **flow):
    flow = {"filePattern": str(tmp_path / "app.log*"), "kinesisStream": "logs",
            "initialPosition": "START_OF_FILE", **flow}
    return parse_config({"checkpointFile": str(tmp_path / "checkpoints.json"), "flows": [flow]})


def _agent(eng, tmp_path, fake, **flow):
    return Agent.in_process(_config(tmp_path, **flow), eng, clock=fake.clock, sleep=fake.sleep)


def _drive(agent):
    while agent.step():
        pass


def _sent(stream):
    """Every record in the stream, in sequence order."""
    rows = []
    for shard in range(len(stream.shards)):
        table = stream.read_table(shard)
        rows += zip(table.column("sequence_number").to_pylist(), table.column("data").to_pylist())
    return [data for _, data in sorted(rows)]


def _write(path, lines, mode="a"):
    with open(path, mode) as f:
        f.writelines(f"{line}\n" for line in lines)


def test_lines_become_records(eng, stream, tmp_path, fake):
    _write(tmp_path / "app.log", [f"line {i}" for i in range(1234)])
    agent = _agent(eng, tmp_path, fake)
    _drive(agent)
    agent.close()
    assert _sent(stream) == [f"line {i}\n".encode() for i in range(1234)]
    assert agent.totals().records == 1234


def test_partial_buffer_waits_for_its_age(eng, stream, tmp_path, fake):
    _write(tmp_path / "app.log", ["a", "b"])
    agent = _agent(eng, tmp_path, fake, maxBufferAgeMillis=5000)
    _drive(agent)
    assert _sent(stream) == []
    fake.now += 5
    _drive(agent)
    assert _sent(stream) == [b"a\n", b"b\n"]
    agent.close()


def test_end_of_file_skips_what_was_there(eng, stream, tmp_path, fake):
    _write(tmp_path / "app.log", ["old"])
    agent = _agent(eng, tmp_path, fake, initialPosition="END_OF_FILE")
    _drive(agent)
    _write(tmp_path / "app.log", ["new"])
    _write(tmp_path / "app.log.other", ["from a new file"])
    fake.now += 1
    _drive(agent)
    agent.close()
    assert sorted(_sent(stream)) == [b"from a new file\n", b"new\n"]


def test_partial_last_line_waits_for_its_newline(eng, stream, tmp_path, fake):
    with open(tmp_path / "app.log", "w") as f:
        f.write("whole\nhal")
    agent = _agent(eng, tmp_path, fake)
    _drive(agent)
    with open(tmp_path / "app.log", "a") as f:
        f.write("f\n")
    fake.now += 1
    _drive(agent)
    agent.close()
    assert _sent(stream) == [b"whole\n", b"half\n"]


def test_rotation_by_rename(eng, stream, tmp_path, fake):
    log = tmp_path / "app.log"
    _write(log, [f"a{i}" for i in range(100)])
    agent = _agent(eng, tmp_path, fake)
    _drive(agent)
    _write(log, [f"b{i}" for i in range(50)])           # written before the rotation, read after it
    os.rename(log, tmp_path / "app.log.1")
    _write(log, [f"c{i}" for i in range(70)], mode="w")
    fake.now += 1
    _drive(agent)
    agent.close()
    expected = [f"{p}{i}\n".encode() for p, n in (("a", 100), ("b", 50), ("c", 70)) for i in range(n)]
    assert sorted(_sent(stream)) == sorted(expected) and len(_sent(stream)) == len(expected)


def test_rotation_to_a_name_outside_the_pattern(eng, stream, tmp_path, fake):
    log = tmp_path / "app.log"
    _write(log, ["one"])
    agent = _agent(eng, tmp_path, fake)
    _drive(agent)
    _write(log, ["two"])
    os.rename(log, tmp_path / "rotated")               # not matched by app.log*: read to its end anyway
    fake.now += 1
    _drive(agent)
    agent.close()
    assert _sent(stream) == [b"one\n", b"two\n"]


@pytest.mark.parametrize("poll_between_copy_and_truncate", [False, True])
def test_rotation_by_copy_truncate(eng, stream, tmp_path, fake, poll_between_copy_and_truncate):
    log = tmp_path / "app.log"
    _write(log, [f"a{i}" for i in range(100)])
    agent = _agent(eng, tmp_path, fake)
    _drive(agent)
    _write(log, [f"b{i}" for i in range(30)])           # not read yet when logrotate copies
    shutil.copyfile(log, tmp_path / "app.log.1")
    if poll_between_copy_and_truncate:
        fake.now += 1
        _drive(agent)
    with open(log, "r+") as f:
        f.truncate(0)
    _write(log, [f"c{i}" for i in range(40)])
    fake.now += 1
    _drive(agent)
    agent.close()
    sent = _sent(stream)
    expected = [f"{p}{i}\n".encode() for p, n in (("a", 100), ("b", 30), ("c", 40)) for i in range(n)]
    assert sorted(sent) == sorted(expected) and len(sent) == len(expected)


def test_restart_neither_loses_nor_repeats(eng, stream, tmp_path, fake):
    log = tmp_path / "app.log"
    _write(log, [f"first {i}" for i in range(777)])
    agent = _agent(eng, tmp_path, fake)
    _drive(agent)
    agent.close()
    _write(log, [f"second {i}" for i in range(333)])
    os.rename(log, tmp_path / "app.log.1")                # rotated while the agent was down
    _write(log, [f"third {i}" for i in range(111)], mode="w")
    again = _agent(eng, tmp_path, fake, initialPosition="END_OF_FILE")   # (a checkpoint exists: ignored)
    _drive(again)
    again.close()
    sent = _sent(stream)
    expected = ([f"first {i}\n".encode() for i in range(777)] + [f"second {i}\n".encode() for i in range(333)]
                + [f"third {i}\n".encode() for i in range(111)])
    assert sorted(sent) == sorted(expected) and len(sent) == len(expected)


@pytest.mark.parametrize("copy_is_newer", [False, True])
def test_copy_truncate_while_stopped(eng, stream, tmp_path, fake, copy_is_newer):
    log = tmp_path / "app.log"
    _write(log, [f"a{i}" for i in range(50)])
    agent = _agent(eng, tmp_path, fake)
    _drive(agent)
    agent.close()
    _write(log, [f"b{i}" for i in range(20)])
    shutil.copyfile(log, tmp_path / "app.log.1")
    with open(log, "r+") as f:
        f.truncate(0)
    _write(log, [f"c{i}" for i in range(10)])
    stamps = (1_000_000, 2_000_000) if copy_is_newer else (2_000_000, 1_000_000)   # the order files are seen in
    os.utime(log, (stamps[0], stamps[0]))
    os.utime(tmp_path / "app.log.1", (stamps[1], stamps[1]))
    again = _agent(eng, tmp_path, fake)
    _drive(again)
    again.close()
    sent = _sent(stream)
    expected = [f"{p}{i}\n".encode() for p, n in (("a", 50), ("b", 20), ("c", 10)) for i in range(n)]
    assert sorted(sent) == sorted(expected) and len(sent) == len(expected)


def test_crash_loses_nothing(eng, stream, tmp_path):
    """A process killed before it checkpoints: the next run sends everything again, nothing lost."""
    log = tmp_path / "app.log"
    _write(log, [f"x{i}" for i in range(200)])
    script = (f"import os, engine; from engine.agent import Agent, parse_config\n"
              f"eng = engine.Engine()\n"
              f"eng.client('kinesis').create_stream(StreamName='logs', ShardCount=1)\n"
              f"cfg = parse_config({{'checkpointFile': {str(tmp_path / 'checkpoints.json')!r}, 'flows': [{{"
              f"'filePattern': {str(log)!r}, 'kinesisStream': 'logs', 'initialPosition': 'START_OF_FILE'}}]}})\n"
              f"agent = Agent.in_process(cfg, eng)\n"
              f"agent.save()\n"
              f"while agent.step(): pass\n"
              f"os._exit(9)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), timeout=120)
    assert done.returncode == 9
    again = Agent.in_process(_config(tmp_path), eng)
    _drive(again)
    again.close()
    assert set(_sent(stream)) == {f"x{i}\n".encode() for i in range(200)}


def test_multi_line_records(eng, stream, tmp_path, fake):
    log = tmp_path / "app.log"
    _write(log, ["[1] start", "  detail a", "[2] start", "  detail b", "  detail c", "[3] last"])
    agent = _agent(eng, tmp_path, fake, multiLineStartPattern=r"^\[", maxBufferAgeMillis=2000,
                   dataProcessingOptions=[{"optionName": "SINGLELINE"}])
    _drive(agent)
    fake.now += 1
    _write(log, ["  more of 3"])              # [3] is still growing: not sent on its own
    _drive(agent)
    fake.now += 1.5                           # the first buffer ages out; [3] was idle only 1.5 s
    _drive(agent)
    assert _sent(stream) == [b"[1] startdetail a\n", b"[2] startdetail bdetail c\n"]
    fake.now += 1                             # [3]'s file idle for the buffer age: it is complete
    _drive(agent)
    fake.now += 2
    _drive(agent)
    agent.close()
    assert _sent(stream)[-1] == b"[3] lastmore of 3\n" and len(_sent(stream)) == 3


def test_skip_header_lines_and_csv(eng, stream, tmp_path, fake):
    _write(tmp_path / "app.log", ["id,name", "1,ann", "2,bob"])
    agent = _agent(eng, tmp_path, fake, skipHeaderLines=1,
                   dataProcessingOptions=[{"optionName": "CSVTOJSON", "customFieldNames": ["id", "name"]}])
    _drive(agent)
    agent.close()
    assert _sent(stream) == [b'{"id":"1","name":"ann"}\n', b'{"id":"2","name":"bob"}\n']


def test_blank_lines_are_records_and_count_as_header_lines(eng, stream, tmp_path, fake):
    # As AWS's agent splits lines (SingleLineSplitter): every line is a record, a blank one too.
    _write(tmp_path / "app.log", ["h1", "", "h2", "a", "", "b"])
    agent = _agent(eng, tmp_path, fake, skipHeaderLines=2)
    _drive(agent)
    agent.close()
    assert _sent(stream) == [b"h2\n", b"a\n", b"\n", b"b\n"]


def test_deterministic_partition_keys(eng, stream, tmp_path, fake):
    _write(tmp_path / "app.log", ["same", "same", "other"])
    agent = _agent(eng, tmp_path, fake, partitionKeyOption="DETERMINISTIC")
    _drive(agent)
    agent.close()
    keys = {}
    for shard in range(1):
        table = stream.read_table(shard)
        for key, data in zip(table.column("partition_key").to_pylist(), table.column("data").to_pylist()):
            keys.setdefault(data, set()).add(key)
    assert len(keys[b"same\n"]) == 1 and keys[b"same\n"] != keys[b"other\n"]


class FlakySink:
    """Refuses whole requests, then every other record, then takes everything."""

    buffers_per_call = 1

    def __init__(self, refuse_calls=2):
        self.refuse_calls = refuse_calls
        self.calls = 0
        self.taken = []

    def send(self, data, keys):
        self.calls += 1
        if self.calls <= self.refuse_calls:
            raise SendError("ProvisionedThroughputExceededException")
        rows = data.to_pylist()
        if self.calls == self.refuse_calls + 1 and len(rows) > 1:
            failed = np.arange(len(rows)) % 2 == 1
            self.taken += [r for r, f in zip(rows, failed) if not f]
            return failed
        self.taken += rows
        return None


def test_retries_with_back_off(tmp_path, fake):
    _write(tmp_path / "app.log", [f"r{i}" for i in range(10)])
    config = _config(tmp_path)
    sink = FlakySink()
    agent = Agent(config, {config.flows[0].key: sink}, clock=fake.clock, sleep=fake.sleep)
    _drive(agent)
    agent.close()
    assert sorted(sink.taken) == sorted(f"r{i}\n".encode() for i in range(10)) and len(sink.taken) == 10
    assert fake.sleeps == [0.1, 0.2, 0.4]
    assert agent.totals().retried == 10 + 10 + 5


def test_shutdown_leaves_refused_records_for_the_next_run(tmp_path, fake):
    _write(tmp_path / "app.log", ["keep me"])
    config = _config(tmp_path)
    agent = Agent(config, {config.flows[0].key: FlakySink(refuse_calls=10**9)}, clock=fake.clock, sleep=fake.sleep)
    _drive(agent)
    agent.close()                  # gives up after AGENT_SHUTDOWN_TIMEOUT_S of (fake) back-off
    sink = FlakySink(refuse_calls=0)
    again = Agent(config, {config.flows[0].key: sink}, clock=fake.clock, sleep=fake.sleep)
    _drive(again)
    again.close()
    assert sink.taken == [b"keep me\n"]


def test_boto3_shaped_clients_kinesis_and_firehose(eng, tmp_path, fake):
    kinesis = eng.client("kinesis", region_name="us-east-1")
    firehose = eng.client("firehose", region_name="us-east-1")
    kinesis.create_stream(StreamName="logs", ShardCount=1)
    firehose.create_delivery_stream(
        DeliveryStreamName="fh", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"BucketARN": "arn:aws:s3:::out", "RoleARN":
                                            "arn:aws:iam::000000000000:role/r", "Prefix": "logs/"})
    _write(tmp_path / "k.log", ["to kinesis"])
    _write(tmp_path / "f.log", [f"to firehose {i}" for i in range(3)])
    config = parse_config({"checkpointFile": str(tmp_path / "cp.json"), "flows": [
        {"filePattern": str(tmp_path / "k.log"), "kinesisStream": "logs", "initialPosition": "START_OF_FILE"},
        {"filePattern": str(tmp_path / "f.log"), "deliveryStream": "fh", "initialPosition": "START_OF_FILE"}]})
    agent = Agent.with_clients(config, kinesis=kinesis, firehose=firehose, clock=fake.clock, sleep=fake.sleep)
    _drive(agent)
    agent.close()
    it = kinesis.get_shard_iterator(StreamName="logs", ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=it)["Records"]] == [b"to kinesis\n"]
    eng.close()                    # Firehose delivers its buffer
    out = b"".join(p.read_bytes() for p in sorted((tmp_path / "s3" / "out").rglob("*")) if p.is_file())
    assert out == b"".join(f"to firehose {i}\n".encode() for i in range(3))


def test_cli_local_once(tmp_path):
    _write(tmp_path / "app.log", [f"line {i}" for i in range(500)])
    config = tmp_path / "agent.json"
    config.write_text('{"flows": [{"filePattern": "%s", "kinesisStream": "logs", "initialPosition": '
                      '"START_OF_FILE"}], "cloudwatch.emitMetrics": false}' % (tmp_path / "app.log*"))
    done = subprocess.run([sys.executable, "-m", "engine", "agent", str(config), "--local", "--once"],
                          capture_output=True, text=True, timeout=120, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "500 records sent"
    assert "ignoring cloudwatch.emitMetrics" in done.stderr and "500 records sent (" in done.stderr
    assert (tmp_path / "agent-checkpoints.json").exists()
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    done = subprocess.run([sys.executable, "-m", "engine", "agent", str(bad)], capture_output=True, text=True,
                          timeout=120, cwd=os.getcwd())
    assert done.returncode == 2 and "flows" in done.stderr

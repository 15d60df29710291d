"""Kinesis with a data dir whose files cannot be written: the caller gets AWS's answer to a
failure on its side (HTTP 500 naming the file), never a raw OSError, and every put that was
acknowledged is still there after a restart. The fault is a file size limit (RLIMIT_FSIZE,
which holds for root too, unlike a read-only directory), set in a subprocess."""
import json
import subprocess
import sys
import textwrap

import pytest

import engine

SCRIPT = textwrap.dedent("""
    import json, resource, signal, sys
    import engine
    from engine.errors import ClientError

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG instead
    eng = engine.Engine(data_dir=sys.argv[1], durability=sys.argv[2])
    kin = eng.client("kinesis")
    kin.create_stream(StreamName="s", ShardCount=1)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    out = {"acked": [], "errors": []}

    def error(e):
        return [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
                e.response["Error"]["Message"]]

    def put(i):
        kin.put_records(StreamName="s", Records=[{"Data": b"%06d-%03d" % (i, j) + b"x" * 1000, "PartitionKey": "k"}
                                                 for j in range(20)])
        out["acked"].append(i)

    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, hard))
    for i in range(100):
        try:
            put(i)
        except ClientError as e:
            out["errors"].append(error(e))
            break
    try:
        put(1000)   # the stream is still refused while the limit holds
    except ClientError as e:
        out["errors"].append(error(e))
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))   # smaller than the stream's metadata file
    try:
        kin.add_tags_to_stream(StreamName="s", Tags={"k": "v"})
    except ClientError as e:
        out["errors"].append(error(e))
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    put(2000)   # room again: the stream takes writes
    eng.close()
    print(json.dumps(out))
""")


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_a_full_disk_answers_internal_failure_and_loses_no_acknowledged_put(tmp_path, clock, durability):
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), durability], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert 0 < len(out["acked"]) < 100 and out["acked"][-1] == 2000
    (put_code, put_status, put_message), (again_code, _, _), (tag_code, tag_status, tag_message) = out["errors"]
    assert (put_code, put_status) == ("InternalFailureException", 500)   # PutRecords models it
    assert "File too large" in put_message and ".log" in put_message
    assert again_code == "InternalFailureException"
    assert (tag_code, tag_status) == ("InternalFailure", 500)              # AWS's common 500 elsewhere
    assert "stream.json" in tag_message

    eng = engine.Engine(clock=clock, data_dir=str(tmp_path))
    kin = eng.client("kinesis")
    it = kin.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000",
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    stored = {r["Data"][:6] for r in kin.get_records(ShardIterator=it, Limit=10_000)["Records"]}
    assert {b"%06d" % i for i in out["acked"]} <= stored
    eng.close()

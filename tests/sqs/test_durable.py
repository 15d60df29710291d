"""SQS with a data dir (issue 13): queues, their settings and every message come back after a
restart in the state they were in: bodies, attributes, receive counts, delays, in-flight
messages until their visibility deadline (and deletable with the handle they were received
with), FIFO group order and deduplication, dead-letter moves; the log is folded into snapshots
so the files track the live messages; queues that ask for server-side encryption are written
sealed."""
import json
import marshal
import os

import pytest

import engine
from engine.sqs import store as sqs_store
from tests.powerloss import acknowledged_then_synced, cut_to_synced
from tests.sqs.conftest import START, redrive

def bodies(messages):
    return sorted(m["Body"] for m in messages)


def receive_all(sqs, url, **kwargs):
    got = []
    while True:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **kwargs).get("Messages", [])
        if not page:
            return got
        got += page


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_queues_and_their_settings_come_back(reopen, durability):
    clock = engine.ManualClock(START)
    sqs = reopen(clock, durability)
    dlq = sqs.create_queue(QueueName="dead", Attributes={
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "allowAll"})})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "45", "DelaySeconds": "3",
                                                         "RedrivePolicy": redrive(dlq_arn, 2)},
                           tags={"team": "ingest"})["QueueUrl"]
    fifo = sqs.create_queue(QueueName="jobs.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId", "KmsMasterKeyId": "alias/aws/sqs"})["QueueUrl"]
    sqs.add_permission(QueueUrl=url, Label="peer", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    clock.advance(10)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "7200"})
    sqs.tag_queue(QueueUrl=fifo, Tags={"a": "1", "b": "2"})
    sqs.untag_queue(QueueUrl=fifo, TagKeys=["a"])
    gone = sqs.create_queue(QueueName="gone")["QueueUrl"]
    sqs.delete_queue(QueueUrl=gone)
    before = {u: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"])["Attributes"] for u in (dlq, url, fifo)}
    tags = {u: sqs.list_queue_tags(QueueUrl=u).get("Tags") for u in (dlq, url, fifo)}

    sqs = reopen(engine.ManualClock(START + 100), durability)
    assert sorted(sqs.list_queues()["QueueUrls"]) == sorted([dlq, url, fifo])
    for u in (dlq, url, fifo):
        assert sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"])["Attributes"] == before[u]
        assert sqs.list_queue_tags(QueueUrl=u).get("Tags") == tags[u]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_messages_come_back_in_their_state(reopen, durability):
    clock = engine.ManualClock(START)
    sqs = reopen(clock, durability)
    url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    attrs = {"kind": {"DataType": "String", "StringValue": "order"},
             "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="with attributes", MessageAttributes=attrs,
                            MessageSystemAttributes={"AWSTraceHeader": {
                                "DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}})
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"plain {i}"} for i in range(6)])
    sent_delayed = sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=300)
    clock.advance(1)
    taken = receive_all(sqs, url, AttributeNames=["All"])
    assert len(taken) == 7
    by_body = {m["Body"]: m for m in taken}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=by_body["plain 0"]["ReceiptHandle"])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=by_body["plain 1"]["ReceiptHandle"],
                                  VisibilityTimeout=0)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=by_body["plain 2"]["ReceiptHandle"],
                                  VisibilityTimeout=600)

    clock = engine.ManualClock(START + 10)
    sqs = reopen(clock, durability)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"],
            counts["ApproximateNumberOfMessagesDelayed"]) == ("1", "5", "1")
    # a handle received before the restart still deletes its in-flight message
    sqs.delete_message(QueueUrl=url, ReceiptHandle=by_body["plain 3"]["ReceiptHandle"])
    got = receive_all(sqs, url)
    assert bodies(got) == ["plain 1"]                      # made visible again before the restart

    clock.advance(60)                                      # past the 60 s deadlines, not the 600 s one
    got = receive_all(sqs, url, AttributeNames=["All"], MessageAttributeNames=["All"])
    assert bodies(got) == ["plain 1", "plain 4", "plain 5", "with attributes"]
    again = {m["Body"]: m for m in got}["with attributes"]
    first = by_body["with attributes"]
    assert again["MessageId"] == sent["MessageId"]
    assert again["MD5OfBody"] == first["MD5OfBody"]
    assert again["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert again["MessageAttributes"] == attrs
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp", "AWSTraceHeader"):
        assert again["Attributes"][name] == first["Attributes"][name]

    clock.advance(230)                                     # past the delay (START + 300)
    got = receive_all(sqs, url, AttributeNames=["All"], VisibilityTimeout=1000)
    assert bodies(got) == ["delayed", "plain 1", "plain 4", "plain 5", "with attributes"]
    delayed = {m["Body"]: m for m in got}["delayed"]
    assert delayed["Attributes"]["SentTimestamp"] == str(int(START * 1000))
    assert delayed["MessageId"] == sent_delayed["MessageId"]
    clock.advance(302)                                     # past START + 601
    assert bodies(receive_all(sqs, url)) == ["plain 2"]


def test_a_log_of_marshal_frames_from_before_folds_on_beside_msgpack_frames(reopen, monkeypatch):
    """Data dirs written before operations were MessagePack hold marshal frames (no OP_MSGPACK
    flag): a restart folds them as before, and the frames written after it (MessagePack) fold
    beside them at the next restart."""
    clock = engine.ManualClock(START)
    attrs = {"kind": {"DataType": "String", "StringValue": "order"},
             "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    with monkeypatch.context() as before:
        before.setattr(sqs_store, "_encode_op_into",
                       lambda op, buffer, offset=0: buffer.__setitem__(slice(offset, None), marshal.dumps(op)))
        before.setattr(sqs_store, "OP_MSGPACK", 0)
        sqs = reopen(clock)
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        sent = sqs.send_message(QueueUrl=url, MessageBody="with attributes", MessageAttributes=attrs)
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
        taken = receive_all(sqs, url, VisibilityTimeout=100)
        sqs.delete_message(QueueUrl=url, ReceiptHandle={m["Body"]: m for m in taken}["m0"]["ReceiptHandle"])
        frames = list(sqs._client._engine.backend("sqs").queues["jobs"]._disk.store._log.frames())
        assert len(frames) == 4 and not any(f.flags & sqs_store.OP_MSGPACK for f in frames)

    sqs = reopen(clock)
    sqs.send_message(QueueUrl=url, MessageBody="after")
    sqs = reopen(clock)
    clock.advance(100)
    got = receive_all(sqs, url, MessageAttributeNames=["All"])
    assert bodies(got) == ["after", "m1", "m2", "with attributes"]
    again = {m["Body"]: m for m in got}["with attributes"]
    assert (again["MessageId"], again["MessageAttributes"]) == (sent["MessageId"], attrs)


def test_a_second_restart_keeps_what_the_first_rebuilt(reopen):
    """In-flight messages got new handles at the first restart; the old ones still work after a
    second restart, and what was deleted in between stays deleted."""
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(4)])
    taken = receive_all(sqs, url, VisibilityTimeout=100)
    sqs = reopen(clock)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"])
    sqs = reopen(clock)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=taken[1]["ReceiptHandle"])
    sqs = reopen(clock)
    clock.advance(100)
    assert bodies(receive_all(sqs, url)) == bodies(taken[2:])


def test_purge_and_retention_hold_after_a_restart(reopen):
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    purged = sqs.create_queue(QueueName="purged")["QueueUrl"]
    short = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=purged, MessageBody="old")
    sqs.purge_queue(QueueUrl=purged)
    sqs.send_message(QueueUrl=purged, MessageBody="new")
    sqs.send_message(QueueUrl=short, MessageBody="expires")
    sqs = reopen(engine.ManualClock(START + 61))
    assert bodies(receive_all(sqs, purged)) == ["new"]
    assert receive_all(sqs, short) == []


def test_fifo_order_deduplication_and_sequence_numbers_survive(reopen):
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sent = {}
    for g in ("a", "b"):
        for i in range(4):
            sent[f"{g}{i}"] = sqs.send_message(QueueUrl=url, MessageBody=f"{g}{i}", MessageGroupId=g,
                                               MessageDeduplicationId=f"{g}{i}")
    head = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=300)["Messages"]
    assert bodies(head) == ["a0", "a1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=head[0]["ReceiptHandle"])   # a0 gone, a1 in flight

    clock = engine.ManualClock(START + 120)
    sqs = reopen(clock)
    # within 5 minutes of their send, duplicates (of a deleted one too) report the original
    for name in ("a0", "b2"):
        dup = sqs.send_message(QueueUrl=url, MessageBody=name, MessageGroupId=name[0], MessageDeduplicationId=name)
        assert dup["MessageId"] == sent[name]["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in got] == ["b0", "b1", "b2", "b3"]                 # a1 in flight holds group a
    assert all(m["MessageId"] == sent[m["Body"]]["MessageId"] for m in got)
    seqs = [int(m["Attributes"]["SequenceNumber"]) for m in got]
    assert seqs == sorted(seqs)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=head[1]["ReceiptHandle"])   # the old handle, in flight
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["a2", "a3"]
    later = sqs.send_message(QueueUrl=url, MessageBody="c", MessageGroupId="c", MessageDeduplicationId="c")
    assert int(later["SequenceNumber"]) > max(int(s["SequenceNumber"]) for s in sent.values())
    clock.advance(300)                                                        # past every window
    again = sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="a", MessageDeduplicationId="a0")
    assert again["MessageId"] != sent["a0"]["MessageId"]


def test_dead_letter_moves_survive(reopen):
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="jobs", Attributes={"RedrivePolicy": redrive(dlq_arn, 1)})["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None           # moved on the 2nd receive
    sqs = reopen(clock)
    assert receive_all(sqs, url) == []
    got = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"], VisibilityTimeout=0)["Messages"]
    assert got[0]["MessageId"] == sent["MessageId"]
    assert got[0]["Attributes"]["DeadLetterQueueSourceArn"].endswith(":jobs")
    # a move task takes it back to its source; the move is on disk too
    assert sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    sqs = reopen(clock)
    assert bodies(receive_all(sqs, url)) == ["poison"]
    assert receive_all(sqs, dlq) == []


def test_compaction_keeps_the_files_near_the_live_messages(reopen, tmp_path, monkeypatch):
    monkeypatch.setattr(sqs_store, "SEGMENT_BYTES", 64 << 10)
    monkeypatch.setattr(sqs_store, "COMPACT_MIN_BYTES", 256 << 10)
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    url = sqs.create_queue(QueueName="jobs", Attributes={"SqsManagedSseEnabled": "false"})["QueueUrl"]
    keep = [f"keep {i}" for i in range(50)]
    for i in range(0, 50, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": keep[k]} for k in range(i, i + 10)])
    held = receive_all(sqs, url, VisibilityTimeout=3600)             # in flight through what follows
    body = "x" * 1000
    for _ in range(400):   # ~4 MB through the queue, none of it kept
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": body} for k in range(10)])
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(got)])
    queue = [e for e in engine.engine._live_engines if e.data_dir == str(tmp_path)][0].backend("sqs").queues["jobs"]
    queue._disk.store.compact()
    queue_dir = tmp_path / "sqs" / "000000000000" / "us-east-1" / "jobs"
    assert any(f.startswith(sqs_store.SNAPSHOT_PREFIX) for f in os.listdir(queue_dir))
    assert queue._disk.store.size() < 1 << 20
    sqs = reopen(clock)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=held[0]["ReceiptHandle"])   # still in flight, by its handle
    assert receive_all(sqs, url) == []
    clock.advance(3600)
    assert bodies(receive_all(sqs, url)) == bodies(held[1:])


def _files_hold(directory, needle: bytes) -> bool:
    for d, _, files in os.walk(directory):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                if needle in fh.read():
                    return True
    return False


def test_encrypted_queues_are_written_sealed(reopen, tmp_path, monkeypatch):
    monkeypatch.setattr(sqs_store, "SEGMENT_BYTES", 4096)
    monkeypatch.setattr(sqs_store, "COMPACT_MIN_BYTES", 8192)
    clock = engine.ManualClock(START)
    sqs = reopen(clock)
    urls = {name: sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"] for name, attrs in (
        ("sse-sqs", {}),                                             # SSE-SQS: the default for new queues
        ("sse-kms", {"KmsMasterKeyId": "alias/aws/sqs"}),
        ("plain", {"SqsManagedSseEnabled": "false"}))}
    for name, url in urls.items():
        for i in range(20):
            sqs.send_message(QueueUrl=url, MessageBody=f"secret body {name} {i} " + "y" * 400)
    for name in urls:
        backend = [e for e in engine.engine._live_engines if e.data_dir == str(tmp_path)][0].backend("sqs")
        backend.queues[name]._disk.store.compact()
    root = tmp_path / "sqs" / "000000000000" / "us-east-1"
    assert not _files_hold(root / "sse-sqs", b"secret body")
    assert not _files_hold(root / "sse-kms", b"secret body")
    assert _files_hold(root / "plain", b"secret body")
    assert any(f.startswith(sqs_store.SNAPSHOT_PREFIX) for f in os.listdir(root / "sse-sqs"))
    sqs = reopen(clock)
    for name, url in urls.items():
        assert len(receive_all(sqs, url)) == 20
    # the key file is the only way back in
    os.rename(tmp_path / "atrest.key", tmp_path / "moved.key")
    with pytest.raises(Exception, match="atrest.key"):
        reopen(clock)


def test_a_second_engine_on_the_same_data_dir_is_refused(reopen, tmp_path):
    sqs = reopen(engine.ManualClock(START))
    sqs.create_queue(QueueName="jobs")
    other = engine.Engine(data_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match="in use by another engine"):
        other.client("sqs")
    other.close()


def test_without_a_data_dir_nothing_is_written(eng, tmp_path):
    sqs = eng.client("sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    assert eng.backend("sqs").queues["jobs"]._disk is None
    assert not (tmp_path / "sqs").exists()


def test_fsync_mode_keeps_every_acknowledged_send_through_a_simulated_power_loss(tmp_path, monkeypatch):
    """Threads send while the 'power goes': each log file is cut to what an fdatasync covered at
    that moment (files made later vanish), then the engine restarts."""
    monkeypatch.setattr(sqs_store, "SEGMENT_BYTES", 100_000)   # a few segments seal during the run
    eng = engine.Engine(data_dir=str(tmp_path), durability="fsync")
    sqs = eng.client("sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    log = eng.backend("sqs").queues["jobs"]._disk.store._log

    def put(k, n):
        return [m["MessageId"] for m in sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": f"{k}-{10 * n + i}"} for i in range(10)])["Successful"]]

    acknowledged, on_disk = acknowledged_then_synced(
        put, 5_000, lambda: {info.base_seq: info for info in log.segments()})
    eng.close()
    cut_to_synced(tmp_path / "sqs" / "000000000000" / "us-east-1" / "jobs" / "log", on_disk)
    with engine.Engine(data_dir=str(tmp_path), durability="fsync") as eng:
        sqs = eng.client("sqs")
        stored = {m["MessageId"] for m in receive_all(sqs, url)}
    missing = [mid for mid in acknowledged if mid not in stored]
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
    assert sum(1 for info in on_disk.values() if info.sealed) > 0

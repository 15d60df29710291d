"""SQS snapshots (issue 13): a queue that empties gets an empty snapshot at once, with no frame
replayed, and the log it replaces is deleted; a queue that never empties is folded on a
background thread; a snapshot never drops a message taken out for another queue before that
move is logged. Each is checked by a restart on the same data dir."""
import os
import re

import pytest

import engine
from engine.sqs import store as sqs_store

START = 1_700_000_000.0
BODY = "x" * 1000


@pytest.fixture
def small_log(monkeypatch):
    monkeypatch.setattr(sqs_store, "SEGMENT_BYTES", 64 << 10)
    monkeypatch.setattr(sqs_store, "COMPACT_MIN_BYTES", 256 << 10)


@pytest.fixture
def folds(monkeypatch):
    """The background folds started (each replays the sealed segments' frames)."""
    started = []
    start = sqs_store.QueueStore._start_compaction

    def counted(self):
        started.append(self)
        start(self)
    monkeypatch.setattr(sqs_store.QueueStore, "_start_compaction", counted)
    return started


def open_engine(tmp_path, clock):
    return engine.Engine(clock=clock, data_dir=str(tmp_path), durability="flush")


def round_trips(sqs, url, n, shape=None) -> set:
    """n rounds of send 10, receive 10, delete 10; returns the ids sent."""
    ids = set()
    for _ in range(n):
        sent = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": BODY} for k in range(10)])
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(got["Messages"])])
        if shape is not None:
            shape("sqs", "SendMessageBatch", sent)
            shape("sqs", "ReceiveMessage", got)
            shape("sqs", "DeleteMessageBatch", deleted)
        assert len(deleted["Successful"]) == 10
        ids.update(e["MessageId"] for e in sent["Successful"])
    return ids


def queue_dir(tmp_path, name):
    return tmp_path / "sqs" / "000000000000" / "us-east-1" / name


def snapshots(tmp_path, name):
    return [f for f in os.listdir(queue_dir(tmp_path, name)) if f.startswith(sqs_store.SNAPSHOT_PREFIX)]


def test_an_emptied_queue_is_snapshotted_without_replaying_its_log(tmp_path, small_log, folds, shape):
    clock = engine.ManualClock(START)
    with open_engine(tmp_path, clock) as eng:
        sqs = eng.client("sqs")
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        ids_before = round_trips(sqs, url, 100, shape)   # ~2 MB through the queue, all of it deleted
        ids_before.add(sqs.send_message(QueueUrl=url, MessageBody="last")["MessageId"])
        store = eng.backend("sqs").queues["jobs"]._disk.store
        assert snapshots(tmp_path, "jobs") and folds == []
        assert store.size() < 512 << 10          # the sealed segments went with each snapshot
    with open_engine(tmp_path, clock) as eng:
        sqs = eng.client("sqs")
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in got] == ["last"]
        ids_after = {sqs.send_message(QueueUrl=url, MessageBody=str(i))["MessageId"] for i in range(20)}
        assert not ids_after & ids_before   # (the numbers go on from the last run's)


def test_a_queue_that_never_empties_is_folded(tmp_path, small_log, folds):
    clock = engine.ManualClock(START)
    with open_engine(tmp_path, clock) as eng:
        sqs = eng.client("sqs")
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="waiting", DelaySeconds=900)   # never empty
        round_trips(sqs, url, 100)
        store = eng.backend("sqs").queues["jobs"]._disk.store
        store.compact()   # (waits for a fold still running)
        assert folds and snapshots(tmp_path, "jobs")
        assert store.size() < 1 << 20
    clock.advance(900)
    with open_engine(tmp_path, clock) as eng:
        sqs = eng.client("sqs")
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["waiting"]


def test_a_message_taken_out_stays_in_the_log_until_its_move_is(tmp_path, small_log, folds):
    """A move takes messages out of the native queue before the destination logs them: a
    snapshot in between must keep them (a crash then leaves a copy in both, never in neither)."""
    clock = engine.ManualClock(START)
    with open_engine(tmp_path, clock) as eng:
        sqs = eng.client("sqs")
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="moving")
        disk = eng.backend("sqs").queues["jobs"]._disk
        taken = disk.receive(disk.store.last_ms, 10, 0, remove=True)   # the source side of a move
        assert len(taken.ids) == 1
        round_trips(sqs, url, 100)                                    # the queue empties again and again
        assert folds   # (a fold, which keeps what the log holds, not an empty snapshot)
    # killed before the destination logged the message: it is still here
    with open_engine(tmp_path, clock) as eng:
        sqs = eng.client("sqs")
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["moving"]


def test_ids_go_on_after_a_restart_from_an_empty_snapshot_alone(tmp_path, monkeypatch, folds):
    clock = engine.ManualClock(START)
    with open_engine(tmp_path, clock) as eng:
        sqs = eng.client("sqs")
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        ids_before = round_trips(sqs, url, 3)
        monkeypatch.setattr(sqs_store, "COMPACT_MIN_BYTES", 1)
        sqs.purge_queue(QueueUrl=url)        # the last operation: a snapshot is due, the queue empty
        store = eng.backend("sqs").queues["jobs"]._disk.store
        assert snapshots(tmp_path, "jobs") == [f"{sqs_store.SNAPSHOT_PREFIX}{store.next_op}"] and folds == []
    with open_engine(tmp_path, clock) as eng:   # (nothing after the snapshot in the log)
        sqs = eng.client("sqs")
        ids_after = round_trips(sqs, url, 3)
        assert not ids_after & ids_before


@pytest.mark.parametrize("encrypted", [False, True])
def test_a_damaged_snapshot_is_an_error_naming_its_file(tmp_path, small_log, encrypted):
    """A snapshot whose bytes were changed on disk is never read as fewer messages: opening the
    queue fails with the snapshot's path in the message (plain: its decoding fails; sealed: its
    tag does not match)."""
    clock = engine.ManualClock(START)
    with open_engine(tmp_path, clock) as eng:
        sqs = eng.client("sqs")
        url = sqs.create_queue(QueueName="jobs", Attributes={"SqsManagedSseEnabled": str(encrypted).lower()})[
            "QueueUrl"]
        round_trips(sqs, url, 100)
        sqs.send_message(QueueUrl=url, MessageBody="kept")
    path = queue_dir(tmp_path, "jobs") / max(snapshots(tmp_path, "jobs"), key=lambda f: int(f.split("-")[1]))
    data = bytearray(path.read_bytes())
    data[1:] = b"\x07" * (len(data) - 1)   # (the first byte says sealed or plain: kept)
    path.write_bytes(bytes(data))
    with open_engine(tmp_path, clock) as eng:
        with pytest.raises(Exception, match=re.escape(str(path))):
            eng.client("sqs").list_queues()

"""SNS FIFO topics on a data dir (issue 13): deduplication records within their 5-minute window
and the topic's sequence numbers survive a restart. A publish repeated after the restart is
accepted with the first one's MessageId and SequenceNumber and delivered to no subscription
again; sequence numbers go on growing; expired records leave the disk."""
import json
import os

import pytest

import engine
from engine.sns import store
from tests.powerloss import acknowledged_then_synced, cut_to_synced

START = 1_700_000_000.0
REGION_DIR = ("sns", "000000000000", "us-east-1")


def _engine(tmp_path, start=START, **kw):
    return engine.Engine(data_dir=str(tmp_path / "data"), clock=engine.ManualClock(start=start), **kw)


def _setup(eng, content_based="false"):
    """A FIFO topic with a FIFO and a standard queue subscribed (the standard queue has no
    deduplication of its own: what it holds is what SNS delivered)."""
    sns, sqs = eng.client("sns"), eng.client("sqs")
    topic = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true",
                                                            "ContentBasedDeduplication": content_based})["TopicArn"]
    urls = {}
    for name, attributes in (("fifo.fifo", {"FifoQueue": "true"}), ("std", {})):
        url = urls[name] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic, urls


def _bodies(sqs, url) -> list:
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        out += [m["Body"] for m in got]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(got)])


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_a_publish_repeated_after_a_restart_is_deduplicated_with_the_first_ones_id(tmp_path, durability, shape):
    with _engine(tmp_path, durability=durability) as eng:
        sns, sqs = eng.client("sns"), eng.client("sqs")
        topic, urls = _setup(eng)
        first = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d1")
        shape("sns", "Publish", first)
        batch = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": f"b{i}", "MessageGroupId": "g", "MessageDeduplicationId": f"b{i}"}
            for i in range(3)])
        shape("sns", "PublishBatch", batch)
        sns.set_topic_attributes(TopicArn=topic, AttributeName="ContentBasedDeduplication", AttributeValue="true")
        content = sns.publish(TopicArn=topic, Message="by content", MessageGroupId="g")
        assert {u: sorted(_bodies(sqs, u)) for u in urls.values()} == \
            {u: ["b0", "b1", "b2", "by content", "one"] for u in urls.values()}
    with _engine(tmp_path, start=START + 200, durability=durability) as eng:   # inside the window
        sns, sqs = eng.client("sns"), eng.client("sqs")
        again = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d1")
        shape("sns", "Publish", again)
        assert (again["MessageId"], again["SequenceNumber"]) == (first["MessageId"], first["SequenceNumber"])
        batch_again = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": f"b{i}", "MessageGroupId": "g", "MessageDeduplicationId": f"b{i}"}
            for i in range(3)])
        shape("sns", "PublishBatch", batch_again)
        assert batch_again["Successful"] == batch["Successful"]
        content_again = sns.publish(TopicArn=topic, Message="by content", MessageGroupId="g")
        assert content_again["MessageId"] == content["MessageId"]
        assert content_again["SequenceNumber"] == content["SequenceNumber"]
        assert [_bodies(sqs, u) for u in urls.values()] == [[], []]
        new = sns.publish(TopicArn=topic, Message="two", MessageGroupId="g", MessageDeduplicationId="d2")
        assert int(new["SequenceNumber"]) > int(content["SequenceNumber"])
        assert [_bodies(sqs, u) for u in urls.values()] == [["two"], ["two"]]


def test_a_record_past_its_window_at_the_restart_deduplicates_nothing(tmp_path):
    with _engine(tmp_path) as eng:
        topic, _ = _setup(eng)
        first = eng.client("sns").publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d")
    with _engine(tmp_path, start=START + 301) as eng:
        sns, sqs = eng.client("sns"), eng.client("sqs")
        again = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d")
        assert again["MessageId"] != first["MessageId"]
        assert int(again["SequenceNumber"]) > int(first["SequenceNumber"])
        assert _bodies(sqs, sqs.get_queue_url(QueueName="std")["QueueUrl"]) == ["one", "one"]   # delivered again


def test_a_record_restored_expires_at_the_end_of_its_first_window(tmp_path):
    with _engine(tmp_path) as eng:
        topic, urls = _setup(eng)
        eng.client("sns").publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d")
        _bodies(eng.client("sqs"), urls["std"])
    with _engine(tmp_path, start=START + 100) as eng:
        sns, sqs = eng.client("sns"), eng.client("sqs")
        std = urls["std"]
        eng.clock.advance(199)     # 299 s after the publish
        sns.publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d")
        assert _bodies(sqs, std) == []
        eng.clock.advance(2)       # 301 s
        sns.publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d")
        assert _bodies(sqs, std) == ["one"]


def test_records_scoped_by_message_group_survive_per_group(tmp_path):
    with _engine(tmp_path) as eng:
        sns = eng.client("sns")
        topic, _ = _setup(eng)
        sns.set_topic_attributes(TopicArn=topic, AttributeName="FifoThroughputScope", AttributeValue="MessageGroup")
        a = sns.publish(TopicArn=topic, Message="x", MessageGroupId="a", MessageDeduplicationId="d")
        b = sns.publish(TopicArn=topic, Message="x", MessageGroupId="b", MessageDeduplicationId="d")
        assert a["MessageId"] != b["MessageId"]
    with _engine(tmp_path, start=START + 10) as eng:
        sns = eng.client("sns")
        for group, before in (("a", a), ("b", b)):
            again = sns.publish(TopicArn=topic, Message="x", MessageGroupId=group, MessageDeduplicationId="d")
            assert again["MessageId"] == before["MessageId"]


def test_sequence_numbers_keep_growing_across_restarts_on_the_same_clock(tmp_path):
    """Each run starts its clock at the same time: the numbers come from the topic's file, not the clock."""
    seen = []
    for run in range(3):
        with _engine(tmp_path) as eng:
            sns = eng.client("sns")
            topic = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]  # (idempotent)
            for i in range(3):
                seen.append(int(sns.publish(TopicArn=topic, Message="m", MessageGroupId="g",
                                            MessageDeduplicationId=f"{run}-{i}")["SequenceNumber"]))
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


def test_a_topic_made_again_under_the_same_name_starts_without_records(tmp_path):
    with _engine(tmp_path) as eng:
        sns = eng.client("sns")
        topic, _ = _setup(eng)
        first = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d")
        sns.delete_topic(TopicArn=topic)
        sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true"})
    with _engine(tmp_path, start=START + 10) as eng:
        again = eng.client("sns").publish(TopicArn=topic, Message="one", MessageGroupId="g",
                                          MessageDeduplicationId="d")
        assert again["MessageId"] != first["MessageId"]


def test_expired_records_leave_the_disk(tmp_path):
    """An hour of publishing, a batch every 30 s: the log keeps about the window's segments (one
    a minute), and a restart long after holds none of the old records."""
    dedup_dir = tmp_path.joinpath("data", *REGION_DIR, store.DEDUP_DIR)
    with _engine(tmp_path) as eng:
        sns = eng.client("sns")
        topic, _ = _setup(eng)
        log = eng.backend("sns").store.dedup
        most = 0
        for i in range(120):
            sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                {"Id": str(k), "Message": "m" * 100, "MessageGroupId": "g", "MessageDeduplicationId": f"{i}-{k}"}
                for k in range(10)])
            most = max(most, len([f for f in os.listdir(dedup_dir) if f.endswith(".log")]))
            eng.clock.advance(30)
        assert 5 <= most <= 7     # five minutes of records in one-minute segments, the active one
        total = log.size()
    assert total < 7 * 2 * 10 * 200
    with _engine(tmp_path, start=START + 7200) as eng:
        sns = eng.client("sns")
        sns.publish(TopicArn=topic, Message="m", MessageGroupId="g", MessageDeduplicationId="new")
        assert eng.backend("sns").store.dedup.size() < 1000   # the old segments went


def test_a_durable_engine_writes_no_records_for_standard_topics(tmp_path):
    with _engine(tmp_path) as eng:
        sns = eng.client("sns")
        topic = sns.create_topic(Name="t")["TopicArn"]
        sns.publish(TopicArn=topic, Message="m")
        assert eng.backend("sns").store.dedup.size() == 0
        with open(tmp_path.joinpath("data", *REGION_DIR, "topics", "n-t.json")) as f:
            assert json.load(f)["seq_reserved"] == 0


def test_fsync_mode_keeps_every_acknowledged_record_through_a_simulated_power_loss(tmp_path, monkeypatch):
    """Threads publish while the 'power goes': each dedup segment is cut to what an fdatasync
    covered at that moment (files made later vanish), then the engine restarts and every
    acknowledged publish, made again, is deduplicated."""
    monkeypatch.setattr(store, "DEDUP_SEGMENT_BYTES", 20_000)   # a few segments seal during the run
    eng = _engine(tmp_path, durability="fsync")
    sns = eng.client("sns")
    topic = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    log = eng.backend("sns").store.dedup._log

    def put(k, n):
        got = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": "m", "MessageGroupId": str(k), "MessageDeduplicationId": f"{k}-{10 * n + i}"}
            for i in range(10)])["Successful"]
        return [(f"{k}-{10 * n + i}", str(k), r["MessageId"], r["SequenceNumber"]) for i, r in enumerate(got)]

    acknowledged, on_disk = acknowledged_then_synced(
        put, 2_000, lambda: {info.base_seq: info for info in log.segments()})
    eng.close()
    cut_to_synced(tmp_path.joinpath("data", *REGION_DIR, store.DEDUP_DIR), on_disk)
    assert sum(1 for info in on_disk.values() if info.sealed) > 0
    with _engine(tmp_path, start=START + 1, durability="fsync") as eng:
        sns = eng.client("sns")
        changed = []
        for dedup, group, mid, seq in acknowledged:
            got = sns.publish(TopicArn=topic, Message="m", MessageGroupId=group, MessageDeduplicationId=dedup)
            if (got["MessageId"], got["SequenceNumber"]) != (mid, seq):
                changed.append(dedup)
    assert not changed, f"{len(changed)} acknowledged records lost, e.g. {changed[:3]}"

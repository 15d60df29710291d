"""boto3's resource interface (boto3.resource("sqs") / ("sns")) over the engine's clients."""
import pytest

import engine


def test_sqs_resource_code_runs_unchanged(eng):
    sqs = eng.resource("sqs")
    queue = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "5"})
    assert queue.attributes["VisibilityTimeout"] == "5"
    queue.send_messages(Entries=[{"Id": str(i), "MessageBody": f"order {i}"} for i in range(3)])
    bodies = []
    while len(bodies) < 3:
        for message in queue.receive_messages(MaxNumberOfMessages=10):
            bodies.append(message.body)
            message.delete()
    assert sorted(bodies) == ["order 0", "order 1", "order 2"]
    assert [q.url for q in sqs.queues.all()] == [queue.url]
    assert sqs.get_queue_by_name(QueueName="orders").url == queue.url
    queue.reload()
    assert queue.attributes["ApproximateNumberOfMessages"] == "0"
    queue.delete()
    assert list(sqs.queues.all()) == []


def test_sns_resource_publishes_into_a_subscribed_queue(eng):
    sns, sqs = eng.resource("sns"), eng.resource("sqs")
    topic = sns.create_topic(Name="events")
    queue = sqs.create_queue(QueueName="sink")
    subscription = topic.subscribe(Protocol="sqs", Endpoint=queue.attributes["QueueArn"],
                                   Attributes={"RawMessageDelivery": "true"})
    assert subscription.attributes["RawMessageDelivery"] == "true"
    topic.publish(Message="hello")
    (message,) = queue.receive_messages(WaitTimeSeconds=0)
    assert message.body == "hello"
    assert [t.arn for t in sns.topics.all()] == [topic.arn]


def test_resource_errors_are_the_clients_errors(eng):
    sqs = eng.resource("sqs")
    with pytest.raises(sqs.meta.client.exceptions.QueueDoesNotExist):
        sqs.get_queue_by_name(QueueName="missing")


def test_services_without_a_boto3_resource_are_refused_by_name(eng):
    with pytest.raises(ValueError, match="kinesis"):
        eng.resource("kinesis")


def test_default_engine_resource():
    queue = engine.resource("sqs").create_queue(QueueName="default-engine-resource")
    try:
        assert queue.url.endswith("/default-engine-resource")
    finally:
        queue.delete()

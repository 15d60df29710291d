"""Amazon MQ benchmarks: how long a broker made by the API takes to reach RUNNING, and the
publish+consume rate of one Python client through each broker (pika with publisher confirms to
RabbitMQ; stomp.py to ActiveMQ), beside the engine's own SQS round trip for the same message
size. A comparison, not a target: the brokers are the real RabbitMQ and ActiveMQ, so their rates
are those of the brokers and clients, measured on this machine in the same run.

    python -m pytest bench/bench_mq.py -p no:cacheprovider -o addopts= --benchmark-only
"""
from __future__ import annotations

import queue
import shutil
import time

import pytest

import engine
from bench.conftest import record_info

BODY_BYTES = 256
MESSAGES = 1000               # published, then consumed, per benchmark round
ROUNDS = 3
USER, PASSWORD = "bench", "bench-pass-1234"
GROUP_CREATE = "mq create_broker to RUNNING"
GROUP_TRIP = f"mq publish then consume {MESSAGES} x {BODY_BYTES} B, one Python client"
BODY = b"x" * BODY_BYTES


@pytest.fixture(scope="module")
def mq_engine():
    eng = engine.Engine()
    yield eng
    eng.close()


def create_running(mq, name: str, engine_type: str) -> dict:
    broker_id = mq.create_broker(BrokerName=name, EngineType=engine_type, DeploymentMode="SINGLE_INSTANCE",
                                 HostInstanceType="mq.m5.large", PubliclyAccessible=False,
                                 Users=[{"Username": USER, "Password": PASSWORD}])["BrokerId"]
    while True:
        described = mq.describe_broker(BrokerId=broker_id)
        if described["BrokerState"] != "CREATION_IN_PROGRESS":
            assert described["BrokerState"] == "RUNNING", described["ActionsRequired"]
            return described
        time.sleep(0.05)


def port(described: dict, scheme: str) -> int:
    return next(int(e.rsplit(":", 1)[1]) for e in described["BrokerInstances"][0]["Endpoints"]
                if e.startswith(scheme + "://"))


_brokers: dict[str, dict] = {}


@pytest.mark.parametrize("engine_type", ["RABBITMQ", "ACTIVEMQ"])
def test_creation_to_running(benchmark, mq_engine, engine_type):
    command = "rabbitmq-server" if engine_type == "RABBITMQ" else "activemq"
    if shutil.which(command) is None:
        pytest.skip(f"{command} not installed")
    mq = mq_engine.client("mq")
    benchmark.group = GROUP_CREATE
    _brokers[engine_type] = benchmark.pedantic(create_running, args=(mq, f"bench-{engine_type.lower()}", engine_type),
                                               rounds=1, iterations=1)
    record_info(benchmark, records=1, bytes_=0, kind="broker", api=f"{engine_type} (Debian's package)")


def broker(mq_engine, engine_type: str) -> dict:
    if engine_type not in _brokers:
        pytest.skip(f"no {engine_type} broker (its creation benchmark did not run)")
    return _brokers[engine_type]


def test_trip_pika_rabbitmq(benchmark, mq_engine):
    pika = pytest.importorskip("pika")
    described = broker(mq_engine, "RABBITMQ")
    connection = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", port(described, "amqp"), credentials=pika.PlainCredentials(USER, PASSWORD)))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare("bench")

    def trip() -> int:
        for _ in range(MESSAGES):
            channel.basic_publish("", "bench", BODY)          # returns once the broker confirms
        got = 0
        for method, _, _ in channel.consume("bench", inactivity_timeout=30):
            channel.basic_ack(method.delivery_tag)
            got += 1
            if got == MESSAGES:
                break
        channel.cancel()
        return got

    benchmark.group = GROUP_TRIP
    record_info(benchmark, records=MESSAGES, bytes_=MESSAGES * BODY_BYTES, kind="broker",
                api="pika -> RabbitMQ (publisher confirms, manual acks)")
    try:
        assert benchmark.pedantic(trip, rounds=ROUNDS, iterations=1) == MESSAGES
    finally:
        connection.close()


def test_trip_stomp_activemq(benchmark, mq_engine):
    stomp = pytest.importorskip("stomp")
    described = broker(mq_engine, "ACTIVEMQ")
    inbox: queue.Queue = queue.Queue()

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame):
            inbox.put(frame.body)

    connection = stomp.Connection([("127.0.0.1", port(described, "stomp"))])
    connection.set_listener("bench", Listener())
    connection.connect(USER, PASSWORD, wait=True)
    body = BODY.decode()

    def trip() -> int:
        for _ in range(MESSAGES):
            connection.send("/queue/bench", body)
        connection.subscribe("/queue/bench", id="1", ack="auto")
        for _ in range(MESSAGES):
            inbox.get(timeout=30)
        connection.unsubscribe(id="1")
        return MESSAGES

    benchmark.group = GROUP_TRIP
    record_info(benchmark, records=MESSAGES, bytes_=MESSAGES * BODY_BYTES, kind="broker",
                api="stomp.py -> ActiveMQ (auto ack)")
    try:
        assert benchmark.pedantic(trip, rounds=ROUNDS, iterations=1) == MESSAGES
    finally:
        connection.disconnect()


def test_trip_engine_sqs(benchmark, mq_engine):
    """The same messages through the engine's SQS, as a boto3 user writes the loop (batches of 10)."""
    sqs = mq_engine.client("sqs")
    url = sqs.create_queue(QueueName="bench")["QueueUrl"]
    body = BODY.decode()
    entries = [{"Id": str(i), "MessageBody": body} for i in range(10)]

    def trip() -> int:
        for _ in range(MESSAGES // 10):
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        got = 0
        while got < MESSAGES:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)])
            got += len(messages)
        return got

    benchmark.group = GROUP_TRIP
    record_info(benchmark, records=MESSAGES, bytes_=MESSAGES * BODY_BYTES, kind="engine",
                api="eng.client('sqs') send_message_batch, receive_message(10), delete_message_batch")
    assert benchmark.pedantic(trip, rounds=ROUNDS, iterations=1) == MESSAGES

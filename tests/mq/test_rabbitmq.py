"""RABBITMQ brokers made by the API are real RabbitMQ nodes: pika publishes with confirms and
consumes as the user given to create_broker, a wrong password is refused, a configuration
revision applies on reboot, a broker that cannot start is CREATION_FAILED with the reason, and
delete ends every process. One engine and its brokers are shared by the module (Erlang is slow)."""
from __future__ import annotations

import base64
import urllib.error
import urllib.request

import pytest

from .conftest import PASSWORD, USER, alive, create, need, port_of, wait_for, wait_gone

pika = pytest.importorskip("pika")


@pytest.fixture(scope="module")
def rabbit(module_engine):
    # ~20 s on a loaded machine: the Erlang node and its management plugin booting.
    need("RABBITMQ")
    mq = module_engine.client("mq")
    # Both brokers start at once: the failing one costs no extra wall time.
    bad = mq.create_configuration(Name="bad", EngineType="RABBITMQ")
    mq.update_configuration(ConfigurationId=bad["Id"], Data=base64.b64encode(b"no_such_key = 1\n").decode())
    broker_id = create(mq, "rabbit", "RABBITMQ")
    failing_id = create(mq, "failing", "RABBITMQ", Configuration={"Id": bad["Id"], "Revision": 2})
    creating = mq.describe_broker(BrokerId=broker_id)     # Erlang takes seconds: still creating
    assert (creating["BrokerState"], creating["BrokerInstances"]) == ("CREATION_IN_PROGRESS", [])
    described = wait_for(mq, broker_id, leaving=("CREATION_IN_PROGRESS",))
    assert described["BrokerState"] == "RUNNING", described["ActionsRequired"]
    return mq, broker_id, failing_id


def connect(described, password=PASSWORD, **params):
    credentials = pika.PlainCredentials(USER, password)
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", port_of(described, "amqp"), credentials=credentials, connection_attempts=1, **params))


def test_describe_reports_the_running_broker(rabbit, shape):
    mq, broker_id, _ = rabbit
    described = mq.describe_broker(BrokerId=broker_id)
    shape("mq", "DescribeBroker", described)
    assert described["EngineType"] == "RABBITMQ" and described["Users"] == []
    [instance] = described["BrokerInstances"]
    assert [e.split("://")[0] for e in instance["Endpoints"]] == ["amqps", "amqp"]   # TLS first, as on AWS
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(instance["ConsoleURL"] + "/api/overview", timeout=30)
    assert refused.value.code == 401


def test_console_url_serves_the_management_api(rabbit):
    mq, broker_id, _ = rabbit
    url = mq.describe_broker(BrokerId=broker_id)["BrokerInstances"][0]["ConsoleURL"] + "/api/whoami"
    request = urllib.request.Request(url, headers={
        "Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert b'"administrator"' in response.read()


def test_pika_publishes_with_confirms_and_consumes(rabbit):
    mq, broker_id, _ = rabbit
    connection = connect(mq.describe_broker(BrokerId=broker_id))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("orders", durable=True)
        for i in range(20):
            channel.basic_publish("", "orders", f"order-{i}".encode(), mandatory=True,
                                  properties=pika.BasicProperties(delivery_mode=2))
        with pytest.raises(pika.exceptions.UnroutableError):
            channel.basic_publish("", "no-such-queue", b"lost", mandatory=True)
        bodies = []
        for _ in range(20):
            method, _, body = channel.basic_get("orders")
            bodies.append(body)
            channel.basic_ack(method.delivery_tag)
        assert bodies == [f"order-{i}".encode() for i in range(20)]
        assert channel.basic_get("orders") == (None, None, None)
    finally:
        connection.close()


def test_aws_tls_example_code_connects_to_the_first_endpoint(rabbit):
    """The connection code of Amazon MQ's own pika example (amqps, a TLS 1.2 context with its
    cipher string), pointed at Endpoints[0] as an application written for AWS does."""
    import ssl
    mq, broker_id, _ = rabbit
    endpoint = mq.describe_broker(BrokerId=broker_id)["BrokerInstances"][0]["Endpoints"][0]
    ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ssl_context.set_ciphers("ECDHE+AESGCM:!ECDSA")
    ssl_context.load_verify_locations(mq._backend.broker(broker_id).process.tls.cert)   # trust the broker's own
    parameters = pika.URLParameters(endpoint.replace("amqps://", f"amqps://{USER}:{PASSWORD}@"))
    parameters.ssl_options = pika.SSLOptions(context=ssl_context)
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("over-tls")
        channel.basic_publish("", "over-tls", b"secret")
        assert channel.basic_get("over-tls", auto_ack=True)[2] == b"secret"
    finally:
        connection.close()


def test_wrong_password_and_guest_are_refused(rabbit):
    mq, broker_id, _ = rabbit
    described = mq.describe_broker(BrokerId=broker_id)
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(described, password="not-the-password")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port_of(described, "amqp"),
                                                          connection_attempts=1))   # guest/guest


def test_a_broker_that_cannot_start_is_creation_failed_with_the_reason(rabbit, shape):
    mq, _, failing_id = rabbit
    described = wait_for(mq, failing_id, leaving=("CREATION_IN_PROGRESS",))
    shape("mq", "DescribeBroker", described)
    assert described["BrokerState"] == "CREATION_FAILED"
    [action] = described["ActionsRequired"]
    assert "no_such_key" in action["ActionRequiredInfo"]
    assert described["BrokerInstances"] == []
    with pytest.raises(mq.exceptions.BadRequestException):
        mq.reboot_broker(BrokerId=failing_id)
    mq.delete_broker(BrokerId=failing_id)
    wait_gone(mq, failing_id)


def test_lifecycle_reboot_applies_the_configuration_then_delete_ends_the_processes(rabbit, shape):
    # Slow (~35 s on a loaded 2-core machine): a real RabbitMQ stop and start for the reboot
    # (Erlang boots in seconds, not milliseconds), then its stop for the delete.
    mq, broker_id, _ = rabbit
    described = mq.describe_broker(BrokerId=broker_id)
    config_id = described["Configurations"]["Current"]["Id"]
    revision = mq.update_configuration(ConfigurationId=config_id,
                                       Data=base64.b64encode(b"heartbeat = 17\n").decode())["LatestRevision"]
    updated = mq.update_broker(BrokerId=broker_id, Configuration={"Id": config_id,
                                                                   "Revision": revision["Revision"]})
    shape("mq", "UpdateBroker", updated)
    pending = mq.describe_broker(BrokerId=broker_id)["Configurations"]
    assert pending["Pending"] == {"Id": config_id, "Revision": 2} and pending["Current"]["Revision"] == 1

    before = connect(described)
    assert before._impl.params.heartbeat != 17          # negotiated from the server's proposal
    before.close()
    old_pids = mq._backend.broker(broker_id).pids()
    assert old_pids and all(alive(pid) for pid in old_pids)

    rebooted = mq.reboot_broker(BrokerId=broker_id)
    shape("mq", "RebootBroker", rebooted)
    assert mq.describe_broker(BrokerId=broker_id)["BrokerState"] == "REBOOT_IN_PROGRESS"
    after = wait_for(mq, broker_id, leaving=("REBOOT_IN_PROGRESS",))
    assert after["BrokerState"] == "RUNNING", after["ActionsRequired"]
    assert after["Configurations"]["Current"] == {"Id": config_id, "Revision": 2}
    assert after["Configurations"]["History"] == [{"Id": config_id, "Revision": 1}]
    assert "Pending" not in after["Configurations"]
    assert after["BrokerInstances"][0]["Endpoints"] == described["BrokerInstances"][0]["Endpoints"]
    assert not any(alive(pid) for pid in old_pids)
    connection = connect(after)
    try:
        assert connection._impl.params.heartbeat == 17
        channel = connection.channel()                    # the durable queue outlived the reboot
        assert channel.queue_declare("orders", passive=True).method.message_count == 0
    finally:
        connection.close()

    pids = mq._backend.broker(broker_id).pids()
    deleted = mq.delete_broker(BrokerId=broker_id)
    shape("mq", "DeleteBroker", deleted)
    assert mq.describe_broker(BrokerId=broker_id)["BrokerState"] == "DELETION_IN_PROGRESS"
    wait_gone(mq, broker_id)
    assert pids and not any(alive(pid) for pid in pids)
    assert mq.list_brokers()["BrokerSummaries"] == []

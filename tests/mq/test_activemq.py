"""ACTIVEMQ brokers made by the API are real ActiveMQ brokers: stomp.py (STOMP) and paho-mqtt
(MQTT) publish and consume as the broker's users, a configuration revision that changes a
destination policy and a new user both take effect on reboot (not before), and the engine's
close ends every process. One engine and broker are shared by the module (the JVM is slow)."""
from __future__ import annotations

import base64
import queue
import threading
import uuid

import pytest

from engine.mq.processes import ACTIVEMQ_NS, MQTT_PACKAGE, mqtt_available
from tests.tools import require

from .conftest import PASSWORD, USER, alive, create, need, port_of, wait_for

stomp = pytest.importorskip("stomp")
mqtt = pytest.importorskip("paho.mqtt.client")

RECEIVE_TIMEOUT_S = 30      # a message the broker owes us; only reached when something is broken

# Topics keep their last 10 messages for retroactive subscribers: observable over STOMP.
RECOVERY_POLICY = f"""<broker xmlns="{ACTIVEMQ_NS}">
  <destinationPolicy><policyMap><policyEntries>
    <policyEntry topic="&gt;">
      <subscriptionRecoveryPolicy><fixedCountSubscriptionRecoveryPolicy maximumSize="10"/></subscriptionRecoveryPolicy>
    </policyEntry>
  </policyEntries></policyMap></destinationPolicy>
</broker>"""


@pytest.fixture(scope="module")
def active(module_engine):
    need("ACTIVEMQ")
    mq = module_engine.client("mq")
    broker_id = create(mq, "active", "ACTIVEMQ", DeploymentMode="ACTIVE_STANDBY_MULTI_AZ",
                       Users=[{"Username": USER, "Password": PASSWORD, "ConsoleAccess": True, "Groups": ["ops"]}])
    described = wait_for(mq, broker_id, leaving=("CREATION_IN_PROGRESS",))
    assert described["BrokerState"] == "RUNNING", described["ActionsRequired"]
    return mq, broker_id


class Inbox(stomp.ConnectionListener):
    def __init__(self):
        self.messages = queue.Queue()

    def on_message(self, frame):
        self.messages.put(frame.body)


def stomp_connection(described, user=USER, password=PASSWORD):
    connection = stomp.Connection([("127.0.0.1", port_of(described, "stomp"))], reconnect_attempts_max=1)
    inbox = Inbox()
    connection.set_listener("inbox", inbox)
    connection.connect(user, password, wait=True)
    return connection, inbox


def test_describe_reports_both_instances_of_the_pair(active, shape):
    mq, broker_id = active
    described = mq.describe_broker(BrokerId=broker_id)
    shape("mq", "DescribeBroker", described)
    assert described["DeploymentMode"] == "ACTIVE_STANDBY_MULTI_AZ"
    assert len(described["BrokerInstances"]) == 2
    schemes = [e.split("://")[0] for e in described["BrokerInstances"][0]["Endpoints"]]
    expected = ["ssl", "stomp+ssl", "mqtt+ssl", "tcp", "stomp", "mqtt"]      # TLS first, as on AWS
    assert schemes == [s for s in expected if mqtt_available() or not s.startswith("mqtt")]
    assert described["Users"] == [{"Username": USER}]
    listed = mq.list_brokers()
    shape("mq", "ListBrokers", listed)
    assert [(s["BrokerId"], s["BrokerState"]) for s in listed["BrokerSummaries"]] == [(broker_id, "RUNNING")]
    user = mq.describe_user(BrokerId=broker_id, Username=USER)
    shape("mq", "DescribeUser", user)
    assert (user["ConsoleAccess"], user["Groups"], "Pending" in user) == (True, ["ops"], False)


def test_stomp_publishes_and_consumes_through_a_queue(active):
    mq, broker_id = active
    connection, inbox = stomp_connection(mq.describe_broker(BrokerId=broker_id))
    try:
        connection.subscribe("/queue/work", id="1", ack="auto")
        for i in range(10):
            connection.send("/queue/work", f"job-{i}", headers={"persistent": "true"})
        assert [inbox.messages.get(timeout=RECEIVE_TIMEOUT_S) for _ in range(10)] == [f"job-{i}" for i in range(10)]
    finally:
        connection.disconnect()


def test_stomp_over_tls_with_the_brokers_certificate_verified(active):
    mq, broker_id = active
    described = mq.describe_broker(BrokerId=broker_id)
    port = port_of(described, "stomp+ssl")
    connection = stomp.Connection([("127.0.0.1", port)], reconnect_attempts_max=1)
    connection.set_ssl(for_hosts=[("127.0.0.1", port)], ca_certs=str(mq._backend.broker(broker_id).process.tls.cert))
    inbox = Inbox()
    connection.set_listener("inbox", inbox)
    connection.connect(USER, PASSWORD, wait=True)
    try:
        connection.subscribe("/queue/tls", id="1", ack="auto")
        connection.send("/queue/tls", "sealed")
        assert inbox.messages.get(timeout=RECEIVE_TIMEOUT_S) == "sealed"
    finally:
        connection.disconnect()


def test_stomp_refuses_a_wrong_password(active):
    mq, broker_id = active
    with pytest.raises(stomp.exception.ConnectFailedException):
        stomp_connection(mq.describe_broker(BrokerId=broker_id), password="not-the-password")


def test_mqtt_publishes_and_consumes(active):
    mq, broker_id = active
    require(mqtt_available(), f"ActiveMQ's MQTT transport needs {MQTT_PACKAGE}; .ci/system-deps installs it")
    port = port_of(mq.describe_broker(BrokerId=broker_id), "mqtt")
    received, subscribed, connected = queue.Queue(), threading.Event(), queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(USER, PASSWORD)
    client.on_connect = lambda c, userdata, flags, reason, props: connected.put(reason)
    client.on_subscribe = lambda c, userdata, mid, reasons, props: subscribed.set()
    client.on_message = lambda c, userdata, message: received.put((message.topic, message.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert not connected.get(timeout=RECEIVE_TIMEOUT_S).is_failure
        client.subscribe("sensors/+", qos=1)
        assert subscribed.wait(RECEIVE_TIMEOUT_S)
        client.publish("sensors/t1", b"21.5", qos=1).wait_for_publish(RECEIVE_TIMEOUT_S)
        assert received.get(timeout=RECEIVE_TIMEOUT_S) == ("sensors/t1", b"21.5")
    finally:
        client.loop_stop()
        client.disconnect()

    refused = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    refused.username_pw_set(USER, "not-the-password")
    outcome = queue.Queue()
    refused.on_connect = lambda c, userdata, flags, reason, props: outcome.put(reason)
    refused.connect("127.0.0.1", port)
    refused.loop_start()
    try:
        assert outcome.get(timeout=RECEIVE_TIMEOUT_S).is_failure
    finally:
        refused.loop_stop()


def test_mqtt_over_tls_with_the_brokers_certificate_verified(active):
    mq, broker_id = active
    require(mqtt_available(), f"ActiveMQ's MQTT transport needs {MQTT_PACKAGE}; .ci/system-deps installs it")
    port = port_of(mq.describe_broker(BrokerId=broker_id), "mqtt+ssl")
    received, subscribed = queue.Queue(), threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tls-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(USER, PASSWORD)
    client.tls_set(ca_certs=str(mq._backend.broker(broker_id).process.tls.cert))
    client.on_subscribe = lambda c, userdata, mid, reasons, props: subscribed.set()
    client.on_message = lambda c, userdata, message: received.put(message.payload)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.subscribe("secure/1", qos=1)
        assert subscribed.wait(RECEIVE_TIMEOUT_S)
        client.publish("secure/1", b"sealed", qos=1).wait_for_publish(RECEIVE_TIMEOUT_S)
        assert received.get(timeout=RECEIVE_TIMEOUT_S) == b"sealed"
    finally:
        client.loop_stop()
        client.disconnect()


def first_retroactive_message(described) -> str:
    """Publish 'early' to a fresh topic with no subscriber, then subscribe retroactively and publish
    'late': a topic that keeps recent messages delivers 'early' first, any other only 'late'."""
    topic = f"/topic/prices.{uuid.uuid4().hex[:8]}"
    connection, inbox = stomp_connection(described)
    try:
        connection.send(topic, "early")
        connection.subscribe(topic, id="1", ack="auto", headers={"activemq.retroactive": "true"})
        connection.send(topic, "late")
        return inbox.messages.get(timeout=RECEIVE_TIMEOUT_S)
    finally:
        connection.disconnect()


def test_configuration_revision_and_new_user_take_effect_on_reboot(active, shape):
    mq, broker_id = active
    described = mq.describe_broker(BrokerId=broker_id)
    assert first_retroactive_message(described) == "late"
    config_id = described["Configurations"]["Current"]["Id"]
    revision = mq.update_configuration(ConfigurationId=config_id, Data=base64.b64encode(
        RECOVERY_POLICY.encode()).decode(), Description="keep recent topic messages")["LatestRevision"]["Revision"]
    mq.update_broker(BrokerId=broker_id, Configuration={"Id": config_id, "Revision": revision})
    mq.create_user(BrokerId=broker_id, Username="app", Password="app-pass-1234", Groups=["apps"])
    pending = mq.describe_user(BrokerId=broker_id, Username="app")
    shape("mq", "DescribeUser", pending)
    assert pending["Pending"] == {"ConsoleAccess": False, "Groups": ["apps"], "PendingChange": "CREATE"}
    users = mq.list_users(BrokerId=broker_id)
    shape("mq", "ListUsers", users)
    assert users["Users"] == [{"Username": USER}, {"Username": "app", "PendingChange": "CREATE"}] or \
        users["Users"] == [{"Username": "app", "PendingChange": "CREATE"}, {"Username": USER}]

    # Nothing applies before the reboot.
    assert first_retroactive_message(described) == "late"
    with pytest.raises(stomp.exception.ConnectFailedException):
        stomp_connection(described, "app", "app-pass-1234")

    old_pids = mq._backend.broker(broker_id).pids()
    mq.reboot_broker(BrokerId=broker_id)
    after = wait_for(mq, broker_id, leaving=("REBOOT_IN_PROGRESS",))
    assert after["BrokerState"] == "RUNNING", after["ActionsRequired"]
    assert after["Configurations"]["Current"] == {"Id": config_id, "Revision": revision}
    assert not any(alive(pid) for pid in old_pids)

    assert first_retroactive_message(after) == "early"
    connection, _ = stomp_connection(after, "app", "app-pass-1234")
    connection.disconnect()
    applied = mq.describe_user(BrokerId=broker_id, Username="app")
    assert "Pending" not in applied and applied["Groups"] == ["apps"]


def test_delete_user_is_pending_until_reboot(active):
    mq, broker_id = active
    mq.delete_user(BrokerId=broker_id, Username="app")
    assert mq.describe_user(BrokerId=broker_id, Username="app")["Pending"]["PendingChange"] == "DELETE"
    with pytest.raises(mq.exceptions.ConflictException):
        mq.create_user(BrokerId=broker_id, Username="app", Password="app-pass-1234")


def test_engine_close_ends_every_broker_process(module_engine, active):
    mq, broker_id = active
    pids = mq._backend.broker(broker_id).pids()
    assert pids and all(alive(pid) for pid in pids)
    directory = mq._backend.broker(broker_id).process.directory
    module_engine.close()
    assert not any(alive(pid) for pid in pids)
    assert not directory.exists()

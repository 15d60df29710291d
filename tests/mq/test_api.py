"""The mq API without running brokers: configurations and revisions, tags, what the service offers,
the request layer's refusals, the model's rules, and a missing broker binary."""
from __future__ import annotations

import base64

import botocore.session
import pytest
from botocore import xform_name

from engine.errors import ParamValidationError
from engine.mq.processes import (ACTIVEMQ_NS, BrokerUser, RabbitMQProcess, activemq_broker_xml,
                                 rabbitmq_password_hash, rabbitmq_user_lines, tls_files)

from .conftest import PASSWORD, USER


@pytest.fixture
def mq(eng):
    return eng.client("mq")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_every_operation_of_the_model_is_a_method(mq):
    model = botocore.session.get_session().get_service_model("mq")
    missing = [op for op in model.operation_names if getattr(type(mq), xform_name(op), None) is None]
    assert missing == []


def test_configuration_revisions(mq, shape):
    created = mq.create_configuration(Name="cfg", EngineType="ACTIVEMQ", EngineVersion="5.18", Tags={"team": "a"})
    shape("mq", "CreateConfiguration", created)
    assert created["LatestRevision"]["Revision"] == 1
    first = mq.describe_configuration_revision(ConfigurationId=created["Id"], ConfigurationRevision="1")
    shape("mq", "DescribeConfigurationRevision", first)
    assert f'xmlns="{ACTIVEMQ_NS}"' in base64.b64decode(first["Data"]).decode()

    data = f'<broker xmlns="{ACTIVEMQ_NS}"><destinationPolicy/><managementContext/></broker>'
    updated = mq.update_configuration(ConfigurationId=created["Id"], Data=b64(data), Description="two")
    shape("mq", "UpdateConfiguration", updated)
    assert updated["LatestRevision"]["Revision"] == 2
    assert updated["Warnings"] == [{"ElementName": "managementContext", "Reason": "DISALLOWED_ELEMENT_REMOVED"}]
    stored = base64.b64decode(mq.describe_configuration_revision(
        ConfigurationId=created["Id"], ConfigurationRevision="2")["Data"]).decode()
    assert "destinationPolicy" in stored and "managementContext" not in stored

    described = mq.describe_configuration(ConfigurationId=created["Id"])
    shape("mq", "DescribeConfiguration", described)
    assert (described["Name"], described["Tags"], described["LatestRevision"]["Revision"]) == ("cfg", {"team": "a"}, 2)
    revisions = mq.list_configuration_revisions(ConfigurationId=created["Id"], MaxResults=5)
    shape("mq", "ListConfigurationRevisions", revisions)
    assert [r["Revision"] for r in revisions["Revisions"]] == [1, 2]
    listed = mq.list_configurations()
    shape("mq", "ListConfigurations", listed)
    assert [c["Id"] for c in listed["Configurations"]] == [created["Id"]]

    deleted = mq.delete_configuration(ConfigurationId=created["Id"])
    shape("mq", "DeleteConfiguration", deleted)
    assert deleted["ConfigurationId"] == created["Id"]
    with pytest.raises(mq.exceptions.NotFoundException) as err:
        mq.describe_configuration(ConfigurationId=created["Id"])
    assert err.value.response["ErrorAttribute"] == "configuration-id"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_malformed_activemq_configuration_is_refused(mq):
    created = mq.create_configuration(Name="bad", EngineType="ACTIVEMQ")
    with pytest.raises(mq.exceptions.BadRequestException, match="well-formed"):
        mq.update_configuration(ConfigurationId=created["Id"], Data=b64("<broker"))
    with pytest.raises(mq.exceptions.BadRequestException, match="root element"):
        mq.update_configuration(ConfigurationId=created["Id"], Data=b64("<beans/>"))
    with pytest.raises(mq.exceptions.BadRequestException, match="base64"):
        mq.update_configuration(ConfigurationId=created["Id"], Data="not base64!")
    assert mq.describe_configuration(ConfigurationId=created["Id"])["LatestRevision"]["Revision"] == 1
    with pytest.raises(mq.exceptions.NotFoundException):
        mq.describe_configuration_revision(ConfigurationId=created["Id"], ConfigurationRevision="2")


def test_rabbitmq_configuration_keeps_cuttlefish_text(mq):
    created = mq.create_configuration(Name="rabbit", EngineType="RABBITMQ")
    text = "consumer_timeout = 60000\nheartbeat = 120\n"
    updated = mq.update_configuration(ConfigurationId=created["Id"], Data=b64(text))
    assert updated["Warnings"] == []
    revision = mq.describe_configuration_revision(ConfigurationId=created["Id"], ConfigurationRevision="2")
    assert base64.b64decode(revision["Data"]).decode() == text


def test_tags_on_a_configuration(mq, shape):
    arn = mq.create_configuration(Name="t", EngineType="RABBITMQ")["Arn"]
    mq.create_tags(ResourceArn=arn, Tags={"a": "1", "b": "2"})
    mq.delete_tags(ResourceArn=arn, TagKeys=["a"])
    listed = mq.list_tags(ResourceArn=arn)
    shape("mq", "ListTags", listed)
    assert listed["Tags"] == {"b": "2"}
    with pytest.raises(mq.exceptions.NotFoundException):
        mq.list_tags(ResourceArn=arn + "x")


def test_engine_types_and_instance_options(mq, shape):
    types = mq.describe_broker_engine_types()
    shape("mq", "DescribeBrokerEngineTypes", types)
    assert {t["EngineType"] for t in types["BrokerEngineTypes"]} == {"ACTIVEMQ", "RABBITMQ"}
    rabbit = mq.describe_broker_engine_types(EngineType="RABBITMQ")["BrokerEngineTypes"]
    assert [t["EngineType"] for t in rabbit] == ["RABBITMQ"]

    options = mq.describe_broker_instance_options(EngineType="ACTIVEMQ", HostInstanceType="mq.m5.large")
    shape("mq", "DescribeBrokerInstanceOptions", options)
    assert {(o["StorageType"], tuple(o["SupportedDeploymentModes"])) for o in options["BrokerInstanceOptions"]} == {
        ("EFS", ("SINGLE_INSTANCE", "ACTIVE_STANDBY_MULTI_AZ")), ("EBS", ("SINGLE_INSTANCE", "ACTIVE_STANDBY_MULTI_AZ"))}
    everything, token = [], None
    while True:
        page = mq.describe_broker_instance_options(MaxResults=5, **({"NextToken": token} if token else {}))
        everything += page["BrokerInstanceOptions"]
        token = page.get("NextToken")
        if token is None:
            break
    assert len(everything) == len(mq.describe_broker_instance_options(MaxResults=100)["BrokerInstanceOptions"])
    with pytest.raises(mq.exceptions.BadRequestException):
        mq.describe_broker_instance_options(NextToken="forged")


def test_request_layer_refuses_what_boto3_refuses(mq):
    with pytest.raises(ParamValidationError, match="BrokerName"):
        mq.create_broker(EngineType="RABBITMQ", DeploymentMode="SINGLE_INSTANCE", HostInstanceType="mq.m5.large",
                         PubliclyAccessible=False)
    with pytest.raises(ParamValidationError, match="MaxResults"):
        mq.list_brokers(MaxResults=0)


def test_broker_rules_of_the_model(mq):
    base = dict(BrokerName="b1", EngineType="ACTIVEMQ", DeploymentMode="SINGLE_INSTANCE",
                HostInstanceType="mq.m5.large", PubliclyAccessible=False)
    cases = [
        ({"Users": [{"Username": USER, "Password": "short"}]}, "password"),
        ({"Users": [{"Username": USER, "Password": "aaaaaaaaaaaaaaaa"}]}, "password"),
        ({"Users": [{"Username": USER, "Password": PASSWORD + ","}]}, "password"),
        ({"Users": [{"Username": "a b", "Password": PASSWORD}]}, "username"),
        ({"Users": []}, "users"),
        ({"Users": [{"Username": USER, "Password": PASSWORD}], "BrokerName": "has space"}, "brokerName"),
        ({"Users": [{"Username": USER, "Password": PASSWORD}], "DeploymentMode": "CLUSTER_MULTI_AZ"},
         "deploymentMode"),
        ({"Users": [{"Username": USER, "Password": PASSWORD}], "HostInstanceType": "mq.huge"}, "hostInstanceType"),
        ({"Users": [{"Username": USER, "Password": PASSWORD}], "EngineVersion": "1.0"}, "engineVersion"),
        ({"Users": [{"Username": USER, "Password": PASSWORD}], "AuthenticationStrategy": "LDAP"},
         "authenticationStrategy"),
    ]
    for extra, attribute in cases:
        with pytest.raises(mq.exceptions.BadRequestException) as err:
            mq.create_broker(**{**base, **extra})
        assert err.value.response["ErrorAttribute"] == attribute, extra
    rabbit = dict(base, EngineType="RABBITMQ")
    with pytest.raises(mq.exceptions.BadRequestException, match="exactly one user"):
        mq.create_broker(**rabbit, Users=[{"Username": "u1", "Password": PASSWORD},
                                          {"Username": "u2", "Password": PASSWORD}])
    with pytest.raises(mq.exceptions.BadRequestException, match="guest"):
        mq.create_broker(**rabbit, Users=[{"Username": "guest", "Password": PASSWORD}])
    assert mq.list_brokers()["BrokerSummaries"] == []


def test_unknown_broker(mq):
    for call in (lambda: mq.describe_broker(BrokerId="b-none"), lambda: mq.reboot_broker(BrokerId="b-none"),
                 lambda: mq.delete_broker(BrokerId="b-none"), lambda: mq.list_users(BrokerId="b-none")):
        with pytest.raises(mq.exceptions.NotFoundException) as err:
            call()
        assert err.value.response["ErrorAttribute"] == "broker-id"


def test_missing_binary_names_the_package(eng, mq):
    eng.backend("mq").commands["ACTIVEMQ"] = "/nonexistent/activemq"
    eng.backend("mq").commands["RABBITMQ"] = "/nonexistent/rabbitmq-server"
    for engine_type, package in (("ACTIVEMQ", "activemq"), ("RABBITMQ", "rabbitmq-server")):
        with pytest.raises(mq.exceptions.BadRequestException) as err:
            mq.create_broker(BrokerName="x", EngineType=engine_type, DeploymentMode="SINGLE_INSTANCE",
                             HostInstanceType="mq.m5.large", PubliclyAccessible=False,
                             Users=[{"Username": USER, "Password": PASSWORD}])
        assert f"Debian package {package}" in str(err.value)
    assert mq.list_brokers()["BrokerSummaries"] == []


def test_a_wrapper_that_is_not_the_real_rabbitmq_script_is_refused(tmp_path):
    # Debian's /usr/sbin/rabbitmq-server switches user and runs itself again by another name;
    # only the real script (beside rabbitmq-env) may run, whatever PATH finds first.
    wrapper = tmp_path / "rabbitmq-server"
    wrapper.write_text("#!/bin/sh\nexit 1\n")
    wrapper.chmod(0o755)
    RabbitMQProcess_ = type("Probe", (RabbitMQProcess,), {"debian_script": str(tmp_path / "missing")})
    with pytest.raises(Exception, match="not RabbitMQ's rabbitmq-server script"):
        RabbitMQProcess_.find_command(str(wrapper))
    (tmp_path / "rabbitmq-env").write_text("")
    assert RabbitMQProcess_.find_command(str(wrapper)) == str(wrapper)


def test_rabbitmq_password_hash_is_rabbits_sha256_scheme():
    import hashlib
    salt = b"\x01\x02\x03\x04"
    decoded = base64.b64decode(rabbitmq_password_hash("pässword", salt))
    assert decoded[:4] == salt and decoded[4:] == hashlib.sha256(salt + "pässword".encode()).digest()


def test_engine_owned_rabbitmq_keys_are_dropped():
    lines = rabbitmq_user_lines("heartbeat = 120\nlisteners.tcp.default = 0.0.0.0:5672\n# listeners.ssl\n"
                                "management.tcp.port=1\nload_definitions=/etc/x\nssl_options.certfile = /x\n")
    assert lines == ["heartbeat = 120", "# listeners.ssl"]


def test_activemq_file_keeps_policies_and_sets_engine_parts(tmp_path):
    import xml.etree.ElementTree as ET
    config = (f'<broker xmlns="{ACTIVEMQ_NS}" schedulePeriodForDestinationPurge="10000">'
              '<transportConnectors><transportConnector name="x" uri="tcp://0.0.0.0:1"/></transportConnectors>'
              '<plugins><jaasAuthenticationPlugin configuration="x"/><timeStampingBrokerPlugin/></plugins>'
              '<destinationPolicy><policyMap/></destinationPolicy></broker>')
    connectors = {"stomp-ssl": "stomp+ssl://127.0.0.1:1", "openwire": "tcp://127.0.0.1:2"}
    tls = tls_files(tmp_path)
    text = activemq_broker_xml(config, "b", tmp_path, connectors, [BrokerUser("u1", PASSWORD, ("g1",))], tls)
    broker = ET.fromstring(text)[0]
    q = f"{{{ACTIVEMQ_NS}}}"
    names = [child.tag.replace(q, "") for child in broker]
    assert names == sorted(names) == ["destinationPolicy", "persistenceAdapter", "plugins", "sslContext",
                                      "transportConnectors"]
    assert broker.get("schedulePeriodForDestinationPurge") == "10000"
    uris = [c.get("uri") for c in broker.find(f"{q}transportConnectors")]
    assert uris == ["stomp+ssl://127.0.0.1:1", "tcp://127.0.0.1:2"]
    assert broker.find(f"{q}sslContext/{q}sslContext").get("keyStore") == str(tls.keystore)
    plugins = [p.tag.replace(q, "") for p in broker.find(f"{q}plugins")]
    assert plugins == ["simpleAuthenticationPlugin", "timeStampingBrokerPlugin"]
    user = broker.find(f"{q}plugins/{q}simpleAuthenticationPlugin/{q}users/{q}authenticationUser")
    assert (user.get("username"), user.get("password"), user.get("groups")) == ("u1", PASSWORD, "users,g1")


ORPHAN_CHILD = r"""
import os, pathlib, signal, sys, threading, time
from engine.mq.processes import ActiveMQProcess, BrokerUser
from engine.mq.configurations import ACTIVEMQ_DEFAULT
stand_in = pathlib.Path(sys.argv[1])
process = ActiveMQProcess(stand_in.parent, str(stand_in), "orphan")
cancelled = threading.Event()
cancelled.set()                     # spawn, then return at once instead of waiting for the ports
process.start([BrokerUser("u1", "secret-pass-12")], ACTIVEMQ_DEFAULT, cancelled)
deadline = time.monotonic() + 30
while len(process.pids()) < 4 and time.monotonic() < deadline:   # the leash forks its children
    time.sleep(0.01)
print(" ".join(map(str, process.pids())), flush=True)
os.kill(os.getpid(), signal.SIGKILL)   # no close, no atexit: the engine's process just dies
"""


def test_brokers_do_not_outlive_a_killed_engine_process(tmp_path):
    import subprocess
    import sys
    import time

    from .conftest import alive
    stand_in = tmp_path / "activemq"
    stand_in.write_text("#!/bin/sh\nsleep 300 &\nexec sleep 301\n")     # a broker with a child of its own
    stand_in.chmod(0o755)
    child = subprocess.run([sys.executable, "-c", ORPHAN_CHILD, str(stand_in)], capture_output=True, text=True,
                           timeout=60, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert child.returncode == -9, child.stderr
    pids = [int(p) for p in child.stdout.split()]
    assert len(pids) == 4            # the leash, its pipe reader, the stand-in and its child
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)


def test_tls_files_are_a_matching_self_signed_pair_for_loopback(tmp_path):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12
    tls = tls_files(tmp_path)
    cert = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    key = load_pem_private_key(tls.key.read_bytes(), None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    stored_key, stored_cert, _ = pkcs12.load_key_and_certificates(tls.keystore.read_bytes(),
                                                                  tls.keystore_password.encode())
    assert stored_cert == cert
    assert tls_files(tmp_path).cert.read_bytes() == tls.cert.read_bytes()      # made once per broker

"""The broker lifecycle as AWS reports it, on a stand-in broker command (no JVM: fast and
deterministic): creation held and released, delete while creating, a reboot whose configuration
the broker refuses (CRITICAL_ACTION_REQUIRED with the reason) and the reboot that repairs it,
pending changes, idempotent creation, configurations in use, paging."""
from __future__ import annotations

import base64

import pytest

from engine.mq.processes import ACTIVEMQ_NS

from .conftest import alive, create, wait_for, wait_gone


def test_creating_until_the_broker_listens_then_running(stand_in, shape):
    mq, bin_dir = stand_in
    (bin_dir / "hold").touch()
    broker_id = create(mq, "held", "ACTIVEMQ")
    creating = mq.describe_broker(BrokerId=broker_id)
    shape("mq", "DescribeBroker", creating)
    assert (creating["BrokerState"], creating["BrokerInstances"]) == ("CREATION_IN_PROGRESS", [])
    assert mq.list_brokers()["BrokerSummaries"][0]["BrokerState"] == "CREATION_IN_PROGRESS"
    with pytest.raises(mq.exceptions.BadRequestException):
        mq.reboot_broker(BrokerId=broker_id)
    (bin_dir / "hold").unlink()
    running = wait_for(mq, broker_id, leaving=("CREATION_IN_PROGRESS",))
    assert running["BrokerState"] == "RUNNING"
    ports = {e.split("://")[0]: e for e in running["BrokerInstances"][0]["Endpoints"]}
    assert set(ports) >= {"tcp", "stomp"}
    assert "ConsoleURL" not in running["BrokerInstances"][0]     # Debian's ActiveMQ has no web console


def test_delete_while_creating_stops_the_process(stand_in):
    mq, bin_dir = stand_in
    (bin_dir / "hold").touch()
    broker_id = create(mq, "doomed", "ACTIVEMQ")
    broker = mq._backend.broker(broker_id)
    pids = []
    while not pids:
        pids = broker.pids()
    mq.delete_broker(BrokerId=broker_id)
    assert mq.describe_broker(BrokerId=broker_id)["BrokerState"] == "DELETION_IN_PROGRESS"
    wait_gone(mq, broker_id)
    assert not any(alive(pid) for pid in pids)
    assert not broker.process.directory.exists()
    with pytest.raises(mq.exceptions.NotFoundException):
        mq.delete_broker(BrokerId=broker_id)


def test_a_refused_configuration_on_reboot_is_critical_action_required_until_repaired(stand_in, shape):
    mq, _ = stand_in
    broker_id = create(mq, "rebooted", "ACTIVEMQ")
    assert wait_for(mq, broker_id, leaving=("CREATION_IN_PROGRESS",))["BrokerState"] == "RUNNING"
    config_id = mq.describe_broker(BrokerId=broker_id)["Configurations"]["Current"]["Id"]
    refused = f'<broker xmlns="{ACTIVEMQ_NS}"><destinations><queue physicalName="stand-in-refuses"/></destinations></broker>'
    mq.update_configuration(ConfigurationId=config_id, Data=base64.b64encode(refused.encode()).decode())
    mq.update_broker(BrokerId=broker_id, Configuration={"Id": config_id, "Revision": 2},
                     EngineVersion="5.17.6", HostInstanceType="mq.m5.xlarge")
    pending = mq.describe_broker(BrokerId=broker_id)
    assert (pending["PendingEngineVersion"], pending["PendingHostInstanceType"]) == ("5.17.6", "mq.m5.xlarge")
    assert (pending["EngineVersion"], pending["HostInstanceType"]) == ("5.18", "mq.m5.large")

    mq.reboot_broker(BrokerId=broker_id)
    failed = wait_for(mq, broker_id, leaving=("REBOOT_IN_PROGRESS",))
    shape("mq", "DescribeBroker", failed)
    assert failed["BrokerState"] == "CRITICAL_ACTION_REQUIRED"
    assert "stand-in refuses this configuration" in failed["ActionsRequired"][0]["ActionRequiredInfo"]
    assert (failed["EngineVersion"], failed["HostInstanceType"]) == ("5.17.6", "mq.m5.xlarge")
    assert "PendingEngineVersion" not in failed

    mq.update_broker(BrokerId=broker_id, Configuration={"Id": config_id, "Revision": 1})
    mq.reboot_broker(BrokerId=broker_id)
    repaired = wait_for(mq, broker_id, leaving=("REBOOT_IN_PROGRESS",))
    assert (repaired["BrokerState"], repaired["ActionsRequired"]) == ("RUNNING", [])
    assert repaired["Configurations"]["History"] == [{"Id": config_id, "Revision": 1},
                                                     {"Id": config_id, "Revision": 2}]


def test_creator_request_id_makes_creation_idempotent(stand_in):
    mq, _ = stand_in
    first = create(mq, "once", "ACTIVEMQ", CreatorRequestId="token-1")
    assert create(mq, "once", "ACTIVEMQ", CreatorRequestId="token-1") == first
    with pytest.raises(mq.exceptions.ConflictException) as err:
        create(mq, "once", "ACTIVEMQ")
    assert err.value.response["ErrorAttribute"] == "brokerName"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_a_configuration_in_use_cannot_be_deleted(stand_in):
    mq, _ = stand_in
    config = mq.create_configuration(Name="shared", EngineType="ACTIVEMQ")
    rabbit_config = mq.create_configuration(Name="rabbit", EngineType="RABBITMQ")
    with pytest.raises(mq.exceptions.BadRequestException):
        create(mq, "wrong-engine", "ACTIVEMQ", Configuration={"Id": rabbit_config["Id"]})
    broker_id = create(mq, "user", "ACTIVEMQ", Configuration={"Id": config["Id"]})
    assert mq.describe_broker(BrokerId=broker_id)["Configurations"]["Current"] == {"Id": config["Id"], "Revision": 1}
    with pytest.raises(mq.exceptions.ConflictException):
        mq.delete_configuration(ConfigurationId=config["Id"])
    mq.delete_broker(BrokerId=broker_id)
    wait_gone(mq, broker_id)
    mq.delete_configuration(ConfigurationId=config["Id"])


def test_list_brokers_pages(stand_in, shape):
    mq, _ = stand_in
    ids = [create(mq, f"p{i}", "ACTIVEMQ") for i in range(5)]
    seen, token = [], None
    while True:
        page = mq.list_brokers(MaxResults=2, **({"NextToken": token} if token else {}))
        shape("mq", "ListBrokers", page)
        seen += [b["BrokerId"] for b in page["BrokerSummaries"]]
        token = page.get("NextToken")
        if token is None:
            break
    assert sorted(seen) == sorted(ids)
    paginated = [b["BrokerId"] for p in mq.get_paginator("list_brokers").paginate(PaginationConfig={"PageSize": 2})
                 for b in p["BrokerSummaries"]]
    assert sorted(paginated) == sorted(ids)


def test_every_write_answers_in_the_models_shape(stand_in, shape):
    mq, _ = stand_in
    created = mq.create_broker(BrokerName="shaped", EngineType="ACTIVEMQ", DeploymentMode="SINGLE_INSTANCE",
                               HostInstanceType="mq.m5.large", PubliclyAccessible=False, Tags={"k": "v"},
                               Users=[{"Username": "admin", "Password": "secret-pass-12"}],
                               Logs={"General": True, "Audit": True},
                               MaintenanceWindowStartTime={"DayOfWeek": "MONDAY", "TimeOfDay": "02:00"})
    shape("mq", "CreateBroker", created)
    broker_id = created["BrokerId"]
    shape("mq", "CreateUser", mq.create_user(BrokerId=broker_id, Username="u2", Password="secret-pass-34"))
    shape("mq", "UpdateUser", mq.update_user(BrokerId=broker_id, Username="u2", Groups=["g1"]))
    assert mq.describe_user(BrokerId=broker_id, Username="u2")["Pending"]["PendingChange"] == "CREATE"
    shape("mq", "DeleteUser", mq.delete_user(BrokerId=broker_id, Username="u2"))
    with pytest.raises(mq.exceptions.NotFoundException):       # never applied: gone at once
        mq.describe_user(BrokerId=broker_id, Username="u2")
    shape("mq", "UpdateBroker", mq.update_broker(BrokerId=broker_id, Logs={"General": False},
                                                 AutoMinorVersionUpgrade=True, SecurityGroups=["sg-1"]))
    described = mq.describe_broker(BrokerId=broker_id)
    shape("mq", "DescribeBroker", described)
    assert described["Logs"]["General"] is False and described["AutoMinorVersionUpgrade"] is True
    assert described["PendingSecurityGroups"] == ["sg-1"] and described["Tags"] == {"k": "v"}
    assert described["StorageType"] == "EFS"                   # ActiveMQ's default
    shape("mq", "CreateTags", mq.create_tags(ResourceArn=created["BrokerArn"], Tags={"k2": "v2"}))
    shape("mq", "DeleteTags", mq.delete_tags(ResourceArn=created["BrokerArn"], TagKeys=["k"]))
    assert mq.list_tags(ResourceArn=created["BrokerArn"])["Tags"] == {"k2": "v2"}
    with pytest.raises(mq.exceptions.BadRequestException):
        mq.promote(BrokerId=broker_id, Mode="SWITCHOVER")
    with pytest.raises(mq.exceptions.BadRequestException):
        mq.update_broker(BrokerId=broker_id, AuthenticationStrategy="LDAP")

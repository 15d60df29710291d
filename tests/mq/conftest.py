"""Shared by the mq tests: brokers are real processes and slow to start (JVM, Erlang), so each
test module shares one engine and starts its brokers once."""
from __future__ import annotations

import os
import time

import pytest

import engine
from engine import limits
from tests.tools import require_tool

PASSWORD = "secret-pass-12"
USER = "admin"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it is gone for our purposes)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:].split()[0] != b"Z"


def wait_for(mq, broker_id: str, *, leaving: tuple[str, ...]) -> dict:
    """describe_broker once the broker has left the given states (a start has a deadline of its own)."""
    deadline = time.monotonic() + limits.MQ_BROKER_START_TIMEOUT_S + limits.MQ_BROKER_STOP_TIMEOUT_S * 2
    while time.monotonic() < deadline:
        described = mq.describe_broker(BrokerId=broker_id)
        if described["BrokerState"] not in leaving:
            return described
        time.sleep(0.1)
    raise AssertionError(f"broker {broker_id} still {described['BrokerState']}")


def wait_gone(mq, broker_id: str) -> None:
    deadline = time.monotonic() + limits.MQ_BROKER_STOP_TIMEOUT_S * 3
    while time.monotonic() < deadline:
        try:
            mq.describe_broker(BrokerId=broker_id)
        except mq.exceptions.NotFoundException:
            return
        time.sleep(0.1)
    raise AssertionError(f"broker {broker_id} not deleted")


def create(mq, name: str, engine_type: str, **extra) -> str:
    params = dict(BrokerName=name, EngineType=engine_type, DeploymentMode="SINGLE_INSTANCE",
                  HostInstanceType="mq.m5.large", PubliclyAccessible=False,
                  Users=[{"Username": USER, "Password": PASSWORD}])
    params.update(extra)
    return mq.create_broker(**params)["BrokerId"]


def port_of(described: dict, scheme: str) -> int:
    for endpoint in described["BrokerInstances"][0]["Endpoints"]:
        if endpoint.startswith(scheme + "://"):
            return int(endpoint.rsplit(":", 1)[1])
    raise AssertionError(f"no {scheme} endpoint in {described['BrokerInstances']}")


@pytest.fixture(scope="module")
def module_engine():
    eng = engine.Engine(clock=engine.ManualClock(start=1_700_000_000.0))
    yield eng
    eng.close()


def need(engine_type: str) -> None:
    if engine_type == "RABBITMQ":
        require_tool("rabbitmq-server", "RabbitMQ brokers")
    else:
        require_tool("activemq", "ActiveMQ brokers")
    assert os.path.isdir("/proc"), "broker processes are tracked through /proc"


@pytest.fixture
def stand_in(eng, tmp_path):
    """eng's ACTIVEMQ brokers run tests/mq/stand_in_broker.py instead of the JVM: (mq, bin dir);
    create bin/hold to keep a broker from listening."""
    import sys
    from pathlib import Path
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "activemq"
    script = Path(__file__).with_name("stand_in_broker.py")
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "{bin_dir}" "$@"\n')
    wrapper.chmod(0o755)
    eng.backend("mq").commands["ACTIVEMQ"] = str(wrapper)
    return eng.client("mq"), bin_dir

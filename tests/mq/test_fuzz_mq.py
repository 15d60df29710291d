"""Every mq operation fed malformed input drawn from botocore's shapes (tests/fuzzing.py's
harness): a call returns, or raises ParamValidationError or an AWS-coded ClientError, never a
raw exception. Brokers the fuzzer creates run a stand-in command that exits at once, so they
go through CREATION_FAILED instead of starting JVMs and Erlang nodes."""
from __future__ import annotations

import pytest
from hypothesis import strategies as st

import engine
from tests.fuzzing import ODD_STRINGS, fuzz_operation, service_model

from .conftest import PASSWORD, USER, create


@pytest.fixture(scope="module")
def fuzz_mq(tmp_path_factory):
    stand_in = tmp_path_factory.mktemp("bin")
    for name in ("rabbitmq-server", "activemq"):
        script = stand_in / name
        script.write_text("#!/bin/sh\necho stand-in broker refuses to start >&2\nexit 3\n")
        script.chmod(0o755)
    (stand_in / "rabbitmq-env").write_text("")
    eng = engine.Engine(clock=engine.ManualClock())
    backend = eng.backend("mq")
    backend.commands.update(RABBITMQ=str(stand_in / "rabbitmq-server"), ACTIVEMQ=str(stand_in / "activemq"))
    mq = eng.client("mq")
    broker_id = create(mq, "fuzzed", "ACTIVEMQ")
    config = mq.create_configuration(Name="fuzzed", EngineType="ACTIVEMQ")
    yield eng, {"broker": broker_id, "config": config["Id"], "arn": config["Arn"]}
    eng.close()


def names(fixture):
    return {
        "BrokerId": st.sampled_from([fixture["broker"], "b-missing"]),
        "ConfigurationId": st.sampled_from([fixture["config"], "c-missing"]),
        "ResourceArn": st.sampled_from([fixture["arn"], fixture["arn"] + "x"]),
        "Username": st.sampled_from([USER, "other-user", "guest"]),
        "Password": st.sampled_from([PASSWORD, "short"]),
        "ConfigurationRevision": st.sampled_from(["1", "2", "0", "x"]),
        "Data": st.one_of(st.sampled_from(["PGJyb2tlci8+", "bm90IHhtbA==", "%%%"]), ODD_STRINGS),
    }


def operations():
    return list(service_model("mq").operation_names)


@pytest.mark.parametrize("operation", operations())
def test_malformed_input_gets_aws_answers(fuzz_mq, operation):
    eng, fixture = fuzz_mq
    fuzz_operation(eng.client("mq"), "mq", operation, names(fixture))

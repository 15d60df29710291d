"""Functions whose code is a registered callable, and Invoke."""
import json

import pytest

from tests.awslambda.conftest import ROLE


def _payload_shape(shape, op, response):
    """Invoke's Payload is a streaming body; the shape check sees the bytes it holds."""
    data = response["Payload"].read()
    shape("lambda", op, {**response, "Payload": data})
    return data


def test_create_get_delete_function(eng, lam, shape):
    eng.register_function("handler-one", lambda event, context: event)
    made = lam.create_function(FunctionName="f", Role=ROLE, Code={"ZipFile": b"ignored"}, Handler="handler-one",
                               Runtime="python3.12", Timeout=30, Environment={"Variables": {"MODE": "1"}})
    shape("lambda", "CreateFunction", made)
    assert made["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:f"
    assert (made["Handler"], made["Timeout"], made["Environment"]) == ("handler-one", 30, {"Variables": {"MODE": "1"}})
    got = lam.get_function(FunctionName="f")
    shape("lambda", "GetFunction", got)
    assert got["Configuration"]["FunctionArn"] == made["FunctionArn"]
    assert lam.get_function(FunctionName=made["FunctionArn"])["Configuration"]["FunctionName"] == "f"
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_function(FunctionName="f", Role=ROLE, Code={"ZipFile": b""}, Handler="handler-one")
    lam.delete_function(FunctionName="f")
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as err:
        lam.get_function(FunctionName="f")
    assert err.value.response["Error"]["Message"] == f"Function not found: {made['FunctionArn']}"


def test_create_function_needs_a_registered_handler(lam):
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="not registered"):
        lam.create_function(FunctionName="f", Role=ROLE, Code={"ZipFile": b""}, Handler="nobody")


def test_a_registered_callable_is_a_function_without_create(eng, lam):
    eng.register_function("plain", lambda event, context: {"seen": event})
    out = lam.invoke(FunctionName="plain", Payload=json.dumps({"x": 1}))
    assert json.loads(out["Payload"].read()) == {"seen": {"x": 1}}


def test_invoke_request_response(eng, lam, shape):
    calls = []

    def handler(event, context):
        calls.append((event, context.function_name, context.get_remaining_time_in_millis()))
        return {"doubled": event["n"] * 2}

    eng.register_function("f", handler)
    lam.create_function(FunctionName="f", Role=ROLE, Code={"ZipFile": b""}, Timeout=10)
    out = lam.invoke(FunctionName="f", Payload=b'{"n": 21}', LogType="Tail")
    assert json.loads(_payload_shape(shape, "Invoke", out)) == {"doubled": 42}
    assert out["StatusCode"] == 200 and "FunctionError" not in out and out["LogResult"]
    assert calls == [({"n": 21}, "f", 10_000)]


def test_invoke_function_error(eng, lam, shape):
    def handler(event, context):
        raise KeyError("missing")

    eng.register_function("f", handler)
    out = lam.invoke(FunctionName="f")
    body = json.loads(_payload_shape(shape, "Invoke", out))
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "KeyError" and "missing" in body["errorMessage"]


def test_invoke_timeout_on_the_engine_clock(eng, lam, clock):
    def slow(event, context):
        clock.advance(5)           # the handler "runs" five engine seconds
        return "late"

    eng.register_function("slow", slow)
    lam.create_function(FunctionName="slow", Role=ROLE, Code={"ZipFile": b""}, Timeout=3)
    out = lam.invoke(FunctionName="slow")
    body = json.loads(out["Payload"].read())
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout" and "Task timed out after 3.00 seconds" in body["errorMessage"]


def test_invoke_event_runs_later_and_retries_twice(eng, lam, clock, settle):
    calls = []

    def failing(event, context):
        calls.append(event)
        raise RuntimeError("no")

    eng.register_function("f", failing)
    out = lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"k": 1}')
    assert out["StatusCode"] == 202 and out["Payload"].read() == b""
    settle()
    assert len(calls) == 1
    clock.advance(60)
    settle()
    clock.advance(120)
    settle()
    clock.advance(600)
    settle()
    assert calls == [{"k": 1}] * 3


def test_invoke_dry_run_and_bad_payloads(eng, lam):
    calls = []
    eng.register_function("f", lambda event, context: calls.append(event))
    assert lam.invoke(FunctionName="f", InvocationType="DryRun")["StatusCode"] == 204
    assert calls == []
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName="f", Payload=b"{not json")
    with pytest.raises(lam.exceptions.RequestTooLargeException):
        lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'"' + b"x" * 300_000 + b'"')
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nobody")


def test_unmarshallable_result(eng, lam):
    eng.register_function("f", lambda event, context: {1, 2})
    out = lam.invoke(FunctionName="f")
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read())["errorType"] == "Runtime.MarshalError"


def test_close_drains_event_invocations(eng, lam):
    import threading

    started, finished = threading.Event(), []

    def handler(event, context):
        started.set()
        threading.Event().wait(0.2)
        finished.append(event)

    eng.register_function("f", handler)
    lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"k": 1}')
    assert started.wait(10)
    eng.close()
    assert finished == [{"k": 1}]

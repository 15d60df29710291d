"""Engine, clock and error registry: the pieces every service stands on."""
import threading

import botocore.exceptions
import pytest

import engine
from engine.errors import ClientError, ResourceNotFoundException, error_class


def test_error_response_shape_and_message():
    err = ResourceNotFoundException("Stream s under account 000000000000 not found.").with_operation("DescribeStream")
    assert err.response["Error"] == {"Code": "ResourceNotFoundException",
                                     "Message": "Stream s under account 000000000000 not found."}
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert str(err) == ("An error occurred (ResourceNotFoundException) when calling the DescribeStream "
                        "operation: Stream s under account 000000000000 not found.")
    # code written for boto3 catches it as botocore's ClientError
    assert isinstance(err, botocore.exceptions.ClientError)
    assert isinstance(err, engine.ClientError)


def test_error_codes_register_once():
    assert error_class("ResourceNotFoundException") is ResourceNotFoundException
    with pytest.raises(TypeError, match="already registered"):
        class Again(ClientError):
            code = "ResourceNotFoundException"


def test_manual_clock_runs_timers_in_order_at_their_deadline():
    clock = engine.ManualClock(start=100.0)
    seen = []
    clock.call_at(105.0, lambda: seen.append(("b", clock.now())))
    clock.call_at(102.0, lambda: seen.append(("a", clock.now())))
    cancelled = clock.call_at(103.0, lambda: seen.append(("x", clock.now())))
    cancelled.cancel()
    clock.advance(1)
    assert seen == []
    clock.advance(10)
    assert seen == [("a", 102.0), ("b", 105.0)]
    assert clock.now() == 111.0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_manual_clock_wakes_waiters_on_advance():
    clock = engine.ManualClock(start=0.0)
    cond = threading.Condition()
    woke = threading.Event()

    def waiter():
        with cond:
            while clock.now() < 10:
                clock.wait(cond, 10)
        woke.set()

    t = threading.Thread(target=waiter)
    t.start()
    assert not woke.wait(0.1)
    clock.advance(10)
    assert woke.wait(2)
    t.join()


def test_wall_clock_timer_fires():
    clock = engine.WallClock()
    fired = threading.Event()
    clock.call_later(0.01, fired.set)
    assert fired.wait(2)
    clock.close()


def test_unknown_service_is_refused():
    with engine.Engine() as eng:
        with pytest.raises(ValueError, match="Unknown service"):
            eng.client("dynamodb")


def test_register_function_returns_lambda_arn():
    with engine.Engine() as eng:
        arn = eng.register_function("transform", lambda event, context: event)
        assert arn == "arn:aws:lambda:us-east-1:000000000000:function:transform"
        assert eng.function(arn) is not None
        assert eng.function(arn + ":$LATEST") is not None
        assert eng.function("transform") is not None
        assert eng.function("missing") is None


def test_default_engine_client_is_shared_by_scripts():
    a = engine.client("kinesis", region_name="eu-west-1")
    b = engine.client("kinesis", region_name="eu-west-1")
    a.create_stream(StreamName="shared-by-default", ShardCount=1)
    assert "shared-by-default" in b.list_streams()["StreamNames"]
    assert engine.client("kinesis").meta.region_name == "us-east-1"
    assert "shared-by-default" not in engine.client("kinesis").list_streams()["StreamNames"]
    a.delete_stream(StreamName="shared-by-default")


def test_interpreter_exit_delivers_what_firehose_buffered(tmp_path):
    """Nothing accepted is dropped on a clean shutdown: the atexit hook closes live engines."""
    import subprocess
    import sys

    script = f"""
import engine
eng = engine.Engine(s3_root={str(tmp_path)!r})
fh = eng.client("firehose")
fh.create_delivery_stream(DeliveryStreamName="exit", ExtendedS3DestinationConfiguration={{
    "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::exit-bucket",
    "BufferingHints": {{"SizeInMBs": 128, "IntervalInSeconds": 900}}}})
fh.put_record_batch(DeliveryStreamName="exit", Records=[{{"Data": b"line %d\\n" % i}} for i in range(100)])
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    objects = [p for p in (tmp_path / "exit-bucket").rglob("*") if p.is_file()]
    assert len(objects) == 1
    assert objects[0].read_bytes() == b"".join(b"line %d\n" % i for i in range(100))

"""Every operation of the Lambda client, fed malformed input drawn from botocore's shapes (the
harness of tests/fuzzing.py): a call returns, or raises ParamValidationError or a
ClientError with an AWS code; never a raw exception. Mappings made along the way are then
checked to have a running poller (a bad setting must be refused, not crash the poller later)."""
import pytest
from hypothesis import strategies as st

import engine
from tests.fuzzing import fuzz_operation

OPERATIONS = ["CreateFunction", "GetFunction", "DeleteFunction", "Invoke", "CreateEventSourceMapping",
              "GetEventSourceMapping", "UpdateEventSourceMapping", "DeleteEventSourceMapping",
              "ListEventSourceMappings"]


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory):
    eng = engine.Engine(clock=engine.ManualClock(), s3_root=str(tmp_path_factory.mktemp("fuzz-s3")))
    eng.register_function("f", lambda event, context: event)
    sqs = eng.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    kinesis = eng.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    stream = kinesis.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    lam = eng.client("lambda")
    uuid = lam.create_event_source_mapping(FunctionName="f", EventSourceArn=queue)["UUID"]
    names = {
        "FunctionName": st.sampled_from(["f", "arn:aws:lambda:us-east-1:000000000000:function:f", "missing"]),
        "EventSourceArn": st.sampled_from([queue, stream, queue + "x", "arn:aws:sns:us-east-1:000000000000:t"]),
        "UUID": st.sampled_from([uuid, "00000000-0000-0000-0000-000000000000"]),
        "Handler": st.sampled_from(["f", "nobody"]),
        "Destination": st.sampled_from([queue, "arn:aws:sns:us-east-1:000000000000:t", "x"]),
    }
    yield eng, names
    eng.close()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_malformed_input_gets_aws_answers(fuzz_engine, operation, caplog):
    eng, names = fuzz_engine
    fuzz_operation(eng.client("lambda"), "lambda", operation, names)
    eng.backend("lambda").settle()
    for mapping in eng.backend("lambda").mappings.values():
        assert mapping.poller._thread.is_alive()
    assert not [r for r in caplog.records if r.name == "engine.lambda"], "a mapping's poller failed"

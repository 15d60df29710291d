"""Bad input through the native queue API and the boto3-shaped client: every refusal is AWS's
error code (never a raw Python exception, never a crash) and leaves the queue unchanged.
Crash cases run in a fresh interpreter, so a heap corruption fails the case, not the run."""
import subprocess
import sys
import textwrap

import pytest

import engine
from engine.sqs.models import OutgoingMessage


@pytest.fixture
def backend(eng):
    return eng.backend("sqs")


@pytest.fixture
def std(backend):
    q = backend.create_queue("std")
    q.send_raw(["a", "b", "c"])
    return q


@pytest.fixture
def fifo(backend):
    q = backend.create_queue("f.fifo", {"FifoQueue": "true"})
    q.send_raw(["a", "b", "c"], ["g1", "g2", "g1"], ["d1", "d2", "d3"])
    return q


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def counts(q):
    return (q.approximate_number_of_messages, q.approximate_number_of_messages_not_visible,
            q.approximate_number_of_messages_delayed)


# --- crash cases: a receive count beyond any buffer ------------------------------------------------
def run_isolated(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.mark.parametrize("count", ["2**31", "2**60", "2**63", "2**100"])
@pytest.mark.parametrize("kind", ["standard", "fifo"])
def test_a_huge_receive_count_returns_what_the_queue_holds(kind, count):
    out = run_isolated(f"""
        import engine
        backend = engine.Engine().backend("sqs")
        if "{kind}" == "fifo":
            q = backend.create_queue("q.fifo", {{"FifoQueue": "true"}})
            q.send_raw(["x" * 200] * 300, [f"g{{i % 7}}" for i in range(300)], [str(i) for i in range(300)])
        else:
            q = backend.create_queue("q")
            q.send_raw(["x" * 200] * 300)
        got = q.receive({count})
        print(len(got.ids), len(set(got.handles)), q.approximate_number_of_messages_not_visible)
    """)
    assert out.split() == ["300", "300", "300"]


# --- numbers through the native API ----------------------------------------------------------------
@pytest.mark.parametrize("kw", [
    {"max_messages": 0}, {"max_messages": -1}, {"max_messages": True}, {"max_messages": "3"},
    {"max_messages": 1.5}, {"max_messages": None},
    {"visibility_timeout": -1}, {"visibility_timeout": 43201}, {"visibility_timeout": 2**70},
    {"visibility_timeout": "30"}, {"visibility_timeout": 1.0},
    {"wait_time": -1}, {"wait_time": 21}, {"wait_time": 2**64}, {"wait_time": "1"},
])
@pytest.mark.parametrize("kind", ["std", "fifo"])
def test_receive_numbers_are_checked_by_the_model(kind, kw, request):
    q = request.getfixturevalue(kind)
    with pytest.raises(engine.ClientError) as exc:
        q.receive(**{"max_messages": 1, **kw})
    assert code_of(exc) == "InvalidParameterValue"
    assert counts(q) == (3, 0, 0)


def test_numpy_integers_are_counts(std):
    np = pytest.importorskip("numpy")
    got = std.receive(np.int64(2), visibility_timeout=np.int32(5))
    assert len(got.ids) == 2 and counts(std) == (1, 2, 0)


@pytest.mark.parametrize("delay", [-1, 901, 2**70, "5", 2.0, True])
def test_send_delay_is_checked(std, delay):
    with pytest.raises(engine.ClientError) as exc:
        std.send("x", delay=delay)
    assert code_of(exc) == "InvalidParameterValue"
    [err] = std.send_batch([OutgoingMessage("x", delay)])
    assert err.response["Error"]["Code"] == "InvalidParameterValue"
    assert counts(std) == (3, 0, 0)


@pytest.mark.parametrize("timeout", [-1, 43201, 2**70, "5", None])
def test_change_visibility_timeout_is_checked(std, timeout):
    handle = std.receive(1, visibility_timeout=100).handles[0]
    with pytest.raises(engine.ClientError) as exc:
        std.change_visibility(handle, timeout)
    assert code_of(exc) == "InvalidParameterValue"
    assert std.stats()["next_due_ms"] == int((std.clock.now() + 100) * 1000)


@pytest.mark.parametrize("body", [3, None, ["x"], {"a": 1}])
def test_a_body_of_the_wrong_type_is_refused(std, fifo, body):
    for call in (lambda: std.send(body), lambda: std.send_raw(["ok", body]),
                 lambda: fifo.send_raw(["ok", body], ["g", "g"], ["x1", "x2"])):
        with pytest.raises(engine.ClientError) as exc:
            call()
        assert code_of(exc) == "InvalidParameterValue"
    assert counts(std) == (3, 0, 0) and counts(fifo) == (3, 0, 0)


# --- numbers and JSON inside attribute strings -------------------------------------------------------
@pytest.fixture
def sqs(eng):
    return eng.client("sqs")


INT_ATTRIBUTES = ["DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                  "VisibilityTimeout", "KmsDataKeyReusePeriodSeconds"]
BAD_INTEGERS = ["\u00b2", "\u0663", "\uff15", " 5", "5 ", "5.0", "1e3", "", " ", "0x10", "-1", "+-1",
                "99999999999999999999999", "9" * 5000, "NaN", "Infinity", "\x00"]


@pytest.mark.parametrize("value", BAD_INTEGERS)
@pytest.mark.parametrize("name", INT_ATTRIBUTES)
def test_integer_attributes_take_ascii_digits_in_range(sqs, name, value):
    extra = {"KmsMasterKeyId": "alias/aws/sqs"} if name.startswith("Kms") else {}
    with pytest.raises(sqs.exceptions.InvalidAttributeValue) as exc:
        sqs.create_queue(QueueName="q", Attributes={name: value, **extra})
    assert exc.value.response["Error"]["Message"] == f"Invalid value for the parameter {name}."
    assert "QueueUrls" not in sqs.list_queues()
    url = sqs.create_queue(QueueName="q", Attributes=extra)["QueueUrl"]
    before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "7", name: value})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"] == before


@pytest.mark.parametrize("name,value", [
    ("SqsManagedSseEnabled", "yes"), ("SqsManagedSseEnabled", ""), ("SqsManagedSseEnabled", "true "),
    ("ContentBasedDeduplication", "1"), ("DeduplicationScope", "Queue"), ("FifoThroughputLimit", ""),
])
def test_boolean_and_enum_attributes(sqs, name, value):
    fifo = {"FifoQueue": "true"} if name != "SqsManagedSseEnabled" else {}
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.create_queue(QueueName="q.fifo" if fifo else "q", Attributes={**fifo, name: value})
    assert "QueueUrls" not in sqs.list_queues()


def deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.fixture
def dlq_arn(sqs):
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


@pytest.mark.parametrize("count", ["1e400", "-1e400", "NaN", "5.5", "true", "null", "[]", "{}", '"\\u00b2"',
                                   '"\\u0663"', '" 5"', '"5.0"', "0", "1001", "1" + "0" * 400])
def test_max_receive_count_values(sqs, dlq_arn, count):
    policy = '{"deadLetterTargetArn": "%s", "maxReceiveCount": %s}' % (dlq_arn, count)
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as exc:
        sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": policy})
    assert "Invalid value for maxReceiveCount" in exc.value.response["Error"]["Message"]
    assert len(sqs.list_queues()["QueueUrls"]) == 1


@pytest.mark.parametrize("count", ["5", '"5"', "5.0"])
def test_max_receive_count_forms_aws_accepts(sqs, dlq_arn, count):
    policy = '{"deadLetterTargetArn": "%s", "maxReceiveCount": %s}' % (dlq_arn, count)
    sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": policy})


@pytest.mark.parametrize("name,code", [("Policy", "InvalidAttributeValue"),
                                       ("RedrivePolicy", "InvalidParameterValue"),
                                       ("RedriveAllowPolicy", "InvalidParameterValue")])
@pytest.mark.parametrize("text", [deep(5000), '{"a":' * 5000 + "1" + "}" * 5000, "{", "[1]", '"x"', "\ud800"])
def test_json_attributes_nested_or_malformed(sqs, name, code, text):
    with pytest.raises(engine.ClientError) as exc:
        sqs.create_queue(QueueName="q", Attributes={name: text})
    assert code_of(exc) == code
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    with pytest.raises(engine.ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={name: text})
    assert code_of(exc) == code
    assert name not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


# --- forged identifiers ------------------------------------------------------------------------------
FORGED_HANDLES = ["", "x", "AQEB", "AQEB" + "9" * 40, "AQEBZm9vYmFy", "\u00b2\u00b3", "\ud800", "a" * 5_000,
                  "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", str(2**64), str(2**200)]


@pytest.mark.parametrize("handle", FORGED_HANDLES)
@pytest.mark.parametrize("kind", ["standard", "fifo"])
def test_forged_receipt_handles(sqs, kind, handle):
    if kind == "fifo":
        url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true",
                                                               "ContentBasedDeduplication": "true"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    else:
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="m")
    real = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    for call in (lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=handle),
                 lambda: sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=5)):
        with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
            call()
    for batch in (sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": handle}]),
                  sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                      {"Id": "a", "ReceiptHandle": handle, "VisibilityTimeout": 5}])):
        assert "Successful" not in batch and batch["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=real)


def b64(raw: bytes) -> str:
    import base64
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize("handle", [
    "foobared", "", b64(b"[]"), b64(b"null"), b64(b'{"taskId": [1], "sourceArn": "x"}'),
    b64(b'{"taskId": "x", "sourceArn": {"a": 1}}'), b64(b'{"taskId": "x"}'), b64(b"\xff\xfe"),
    b64(deep(5000).encode()), b64(b'{"taskId": "' + b"x" * 10 + b'", "sourceArn": null}'),
])
def test_forged_move_task_handles(sqs, handle):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as exc:
        sqs.cancel_message_move_task(TaskHandle=handle)
    assert exc.value.response["Error"]["Message"] == "Value for parameter TaskHandle is invalid."


def test_move_task_handles_hold_a_uuid_and_the_source_arn(sqs, dlq_arn):
    import base64
    import json
    import uuid
    sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    doc = json.loads(base64.b64decode(handle))
    assert set(doc) == {"taskId", "sourceArn"} and doc["sourceArn"] == dlq_arn
    assert str(uuid.UUID(doc["taskId"])) == doc["taskId"]
    forged = b64(json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": dlq_arn}).encode())
    with pytest.raises(sqs.exceptions.ResourceNotFoundException):
        sqs.cancel_message_move_task(TaskHandle=forged)
    assert sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"] == 0


@pytest.mark.parametrize("rate", [0, 501, -1, 2**70])
def test_move_task_rate(sqs, dlq_arn, rate):
    import json
    sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as exc:
        sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=rate)
    assert exc.value.response["Error"]["Message"] == (
        f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500.")
    assert "Results" not in sqs.list_message_move_tasks(SourceArn=dlq_arn)


@pytest.mark.parametrize("max_results", [0, 11, -5, 2**70])
def test_list_move_tasks_max_results(sqs, dlq_arn, max_results):
    with pytest.raises(sqs.exceptions.InvalidParameterValue) as exc:
        sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=max_results)
    assert exc.value.response["Error"]["Message"] == (
        f"Value {max_results} for parameter MaxResults is invalid. Reason: Must be between 1 and 10.")


@pytest.mark.parametrize("token", ["x", "====", b64(b"\xff\xfe"), b64(b"zzz"), "\ud800", "a" * 10_000,
                                   b64(deep(5000).encode())])
def test_forged_next_tokens(sqs, dlq_arn, token):
    sqs.create_queue(QueueName="a")
    for call in (lambda: sqs.list_queues(NextToken=token, MaxResults=1),
                 lambda: sqs.list_dead_letter_source_queues(QueueUrl=sqs.get_queue_url(QueueName="dlq")["QueueUrl"],
                                                            NextToken=token, MaxResults=1)):
        try:
            page = call()
        except sqs.exceptions.InvalidParameterValue as err:
            assert err.response["Error"]["Message"] == "Invalid NextToken value."
        else:
            assert set(page) <= {"QueueUrls", "queueUrls", "NextToken", "ResponseMetadata"}


# --- message attributes through the native API --------------------------------------------------------
@pytest.mark.parametrize("attrs", [
    {"k": ("String",)}, {"k": 5}, {"k": (5, "v", None)}, {"k": ("String", 5, None)},
    {"k": ("Binary", None, "text")}, {"k": ("Number", "\u0663", None)}, {3: ("String", "v", None)},
    [("k", "v")], {"k": ("String\x00", "v", None)},
])
def test_native_message_attributes_of_the_wrong_shape(std, attrs):
    with pytest.raises(engine.ClientError) as exc:
        std.send("body", attributes=attrs)
    assert code_of(exc) == "InvalidParameterValue"
    assert counts(std) == (3, 0, 0)


@pytest.mark.parametrize("call", [
    lambda b: b.create_queue(5), lambda b: b.create_queue("q", {"DelaySeconds": 5}),
    lambda b: b.create_queue("q", ["DelaySeconds"]), lambda b: b.create_queue("q", {}, {"k": 5}),
    lambda b: b.create_queue("q", {}, {"": "v"}), lambda b: b.create_queue("q", {}, {f"k{i}": "v" for i in range(51)}),
    lambda b: b.create_queue("q", {"FifoQueue": True}),
    lambda b: b.list_message_move_tasks(["arn"]), lambda b: b.cancel_message_move_task(None),
    lambda b: b.start_message_move_task({"arn": 1}),
])
def test_native_backend_calls_with_bad_values(backend, call):
    with pytest.raises(engine.ClientError):
        call(backend)
    assert backend.list_queues() == ([], False)


# --- every operation with malformed values (strategies from botocore's SQS model) ------------------
import botocore.session  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_MODEL = botocore.session.get_session().get_service_model("sqs")
ODD_TEXT = st.sampled_from(["", " ", "x", "\u00b2", "\ud800", "\x00", "a" * 300, "9" * 50, "-1", "1e400",
                            "[" * 3000, "{}", "null", "All", ".*", "String", "Number.x", "AQEB123",
                            "arn:aws:sqs:us-east-1:000000000000:q", "q.fifo", b64(b"\xff\xfe")]) | st.text(max_size=20)
ODD_INT = st.sampled_from([0, 1, -1, 10, 11, 2**31, 2**63, -2**63, 2**100, 43201, 900]) | st.integers()


def _values(shape, depth=0):
    t = shape.type_name
    if t == "string":
        return st.sampled_from(shape.enum) | ODD_TEXT if shape.enum else ODD_TEXT
    if t in ("integer", "long"):
        return ODD_INT
    if t == "boolean":
        return st.booleans()
    if t == "blob":
        return st.binary(max_size=10)
    if t == "list":
        return st.lists(_values(shape.member, depth + 1), max_size=3 if depth < 2 else 0)
    if t == "map":
        return st.dictionaries(_values(shape.key, depth + 1), _values(shape.value, depth + 1), max_size=3)
    members = {name: _values(s, depth + 1) for name, s in shape.members.items()}
    required = {k: v for k, v in members.items() if k in shape.required_members}
    optional = {k: v for k, v in members.items() if k not in shape.required_members}
    return st.fixed_dictionaries(required, optional=optional)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


OPERATIONS = [op for op in _MODEL.operation_names]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_any_values_get_aws_errors_only(eng, operation):
    sqs = eng.client("sqs")
    urls = [sqs.create_queue(QueueName="q")["QueueUrl"],
            sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]]
    call = getattr(sqs, _snake(operation))
    shape = _MODEL.operation_model(operation).input_shape

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(params=_values(shape) if shape is not None else st.just({}), url=st.sampled_from(urls))
    def check(params, url):
        if "QueueUrl" in params:
            params["QueueUrl"] = url
        if "WaitTimeSeconds" in params:
            params["WaitTimeSeconds"] = 0  # (a long poll waits on the manual clock)
        try:
            call(**params)
        except (engine.ClientError, engine.errors.ParamValidationError):
            pass

    check()


@pytest.mark.parametrize("attempt", ["", "has space", "x" * 129, "\u00e9", 5])
def test_receive_attempt_ids_are_checked_by_the_model(std, fifo, attempt):
    for q in (std, fifo):
        with pytest.raises(engine.ClientError) as exc:
            q.receive(1, attempt_id=attempt)
        assert code_of(exc) == "InvalidParameterValue"
    assert counts(std) == (3, 0, 0) and counts(fifo) == (3, 0, 0)

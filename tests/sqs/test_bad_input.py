"""Bad input through the native queue API and the boto3-shaped client: every refusal is AWS's
error code (never a raw Python exception, never a crash) and leaves the queue unchanged.
Crash cases run in a fresh interpreter, so a heap corruption fails the case, not the run."""
import subprocess
import sys
import textwrap

import pytest

import engine
from engine.sqs.models import FifoQueue, Queue


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
    q.send_fifo_raw(["a", "b", "c"], ["g1", "g2", "g1"], ["d1", "d2", "d3"])
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
            q.send_fifo_raw(["x" * 200] * 300, [f"g{{i % 7}}" for i in range(300)], [str(i) for i in range(300)])
        else:
            q = backend.create_queue("q")
            q.send_raw(["x" * 200] * 300)
        got = q.receive_raw({count})
        print(len(got[0]), len(set(got[1])), q.approximate_number_of_messages_not_visible)
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
    for receive in (q.receive_raw, q.receive):
        with pytest.raises(engine.ClientError) as exc:
            receive(**{"max_messages": 1, **kw})
        assert code_of(exc) == "InvalidParameterValue"
    assert counts(q) == (3, 0, 0)


def test_numpy_integers_are_counts(std):
    np = pytest.importorskip("numpy")
    got = std.receive_raw(np.int64(2), visibility_timeout=np.int32(5))
    assert len(got[0]) == 2 and counts(std) == (1, 2, 0)


@pytest.mark.parametrize("delay", [-1, 901, 2**70, "5", 2.0, True])
def test_send_delay_is_checked(std, delay):
    with pytest.raises(engine.ClientError) as exc:
        std.send("x", delay=delay)
    assert code_of(exc) == "InvalidParameterValue"
    [err] = std.send_batch([("x", delay, None, None, None, None)])
    assert err.response["Error"]["Code"] == "InvalidParameterValue"
    assert counts(std) == (3, 0, 0)


@pytest.mark.parametrize("timeout", [-1, 43201, 2**70, "5", None])
def test_change_visibility_timeout_is_checked(std, timeout):
    handle = std.receive_raw(1, visibility_timeout=100)[1][0]
    with pytest.raises(engine.ClientError) as exc:
        std.change_visibility(handle, timeout)
    assert code_of(exc) == "InvalidParameterValue"
    assert std.stats()["next_due_ms"] == int((std.clock.now() + 100) * 1000)


@pytest.mark.parametrize("body", [3, None, ["x"], {"a": 1}])
def test_a_body_of_the_wrong_type_is_refused(std, fifo, body):
    for call in (lambda: std.send(body), lambda: std.send_raw(["ok", body]),
                 lambda: fifo.send_fifo_raw(["ok", body], ["g", "g"], ["x1", "x2"])):
        with pytest.raises(engine.ClientError) as exc:
            call()
        assert code_of(exc) == "InvalidParameterValue"
    assert counts(std) == (3, 0, 0) and counts(fifo) == (3, 0, 0)

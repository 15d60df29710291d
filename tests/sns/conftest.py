import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture
def sns(eng):
    return eng.client("sns")


@pytest.fixture
def sqs(eng):
    return eng.client("sqs")


@pytest.fixture
def backend(eng):
    return eng.backend("sns")


@pytest.fixture
def make_queue(sqs):
    """make_queue(name, **attributes) -> (url, arn)."""
    def make(name, **attributes):
        if name.endswith(".fifo"):
            attributes.setdefault("FifoQueue", "true")
        url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn
    return make


@pytest.fixture
def receive(sqs):
    """receive(url) -> every message now visible in the queue (deleted as read), oldest first."""
    def receive_all(url, attributes=False):
        out = []
        while True:
            kwargs = {"QueueUrl": url, "MaxNumberOfMessages": 10}
            if attributes:
                kwargs["MessageAttributeNames"] = ["All"]
                kwargs["MessageSystemAttributeNames"] = ["All"]
            msgs = sqs.receive_message(**kwargs).get("Messages", [])
            if not msgs:
                return out
            out.extend(msgs)
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
    return receive_all


def bodies(messages):
    return [json.loads(m["Body"]) for m in messages]


class Endpoint:
    """A local HTTP endpoint: records every request; answers with the next queued status (200 when
    the queue is empty); `hold` makes it wait (bounded) on an event before answering."""

    def __init__(self):
        self.requests = []
        self.statuses = []
        self.hold = None
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                with endpoint.lock:
                    endpoint.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in
                                                                            self.headers.items()}, "body": body})
                    status = endpoint.statuses.pop(0) if endpoint.statuses else 200
                    hold = endpoint.hold
                    endpoint.arrived.notify_all()
                if hold is not None:
                    hold.wait(5)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait_for(self, n, timeout=5.0):
        """Block (bounded) until `n` requests arrived; returns them."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.arrived.wait(left)
            return list(self.requests)

    def of_type(self, kind):
        with self.lock:
            return [r for r in self.requests if r["headers"].get("x-amz-sns-message-type") == kind]

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    ep = Endpoint()
    yield ep
    ep.close()


@pytest.fixture
def endpoint2():
    ep = Endpoint()
    yield ep
    ep.close()

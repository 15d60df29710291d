"""`python -m engine serve` in a subprocess on a free port, for the tests that need the real
server with options of their own (auth, TLS) or a client in another language."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(*args: str, env: dict | None = None, scheme: str = "http", ca_file: str | None = None, log_path=None):
    """Yield the endpoint URL of a running `engine serve` with these extra arguments."""
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(env or {})}
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port), *args],
                               cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    endpoint = f"{scheme}://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=ca_file) if scheme == "https" else None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"engine serve exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"{endpoint}/_engine/health", timeout=2, context=context):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("engine serve did not answer its health check") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)   # its own session: granian's workers go too
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if log is not subprocess.DEVNULL:
            log.close()

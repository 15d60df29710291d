"""The kill -9 harness the durability tests share: a writer process reports each
acknowledgement as a line on a pipe, and is SIGKILLed at a random moment after it is ready."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_until_killed(script: str, args: list, rng, delay=(0.05, 0.8)) -> list[str]:
    """Run `python -c script *args <pipe fd>`; once it writes "ready", SIGKILL it after a random
    delay. Returns every whole line it wrote after "ready": what it wrote before the kill counts
    as acknowledged, a line cut short by the kill does not."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args), str(write_fd)],
                            pass_fds=(write_fd,), cwd=ROOT)
    os.close(write_fd)
    buf, deadline = b"", None
    try:
        while deadline is None or time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], 0.05)
            if ready:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    pytest.fail(f"the writer exited with {proc.wait()}")
                buf += chunk
                if deadline is None and b"ready\n" in buf:
                    deadline = time.monotonic() + rng.uniform(*delay)
            elif proc.poll() is not None:
                pytest.fail(f"the writer exited with {proc.returncode}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        while True:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            buf += chunk
        os.close(read_fd)
    return [line for line in buf.decode().split("\n")[:-1] if line != "ready"]

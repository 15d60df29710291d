"""Virtual environments for clients that pin their own botocore (an old botocore that speaks
SQS's query protocol, the AWS CLI v1), made once under a cache directory with pip from the index.
If one cannot be made (no index), the test skips outside CI and fails in CI (tests/tools.py)."""
from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

from tests.tools import require

CACHE = Path(os.environ.get("ENGINE_TEST_CACHE", Path.home() / ".cache" / "engine-tests"))
PIP_TIMEOUT_S = 600


def client_venv(name: str, *requirements: str) -> Path:
    """The bin/ directory of a venv named `name` holding `requirements` (made on first use)."""
    root = CACHE / name
    marker = root / ".complete"
    if not marker.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        try:
            done = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q",
                                   "--disable-pip-version-check", *requirements],
                                  capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
            ok, why = done.returncode == 0, done.stderr[-2000:]
        except subprocess.TimeoutExpired:
            ok, why = False, "pip timed out"
        require(ok, f"could not install {' '.join(requirements)} into a venv: {why}")
        marker.write_text(" ".join(requirements))
    return root / "bin"


def run(bin_dir: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    environment.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
                       **(env or {}))
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=environment)


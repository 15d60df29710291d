"""Outside tools (brokers, Java, Node packages) that some tests need.

CI installs them (.ci/system-deps) and sets CI=true: there a missing tool fails the test. Elsewhere
the test skips and the reason shows in pytest's summary (addopts has -rs)."""
from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(command: str, why: str) -> str:
    """The path of `command`, or skip (fail in CI) saying what installs it."""
    path = shutil.which(command)
    if path is None:
        message = f"{command} not found ({why}); .ci/system-deps installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def require(condition: bool, message: str) -> None:
    """Skip outside CI (fail in CI) unless `condition` holds."""
    if not condition:
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)

"""moto's own SQS, SNS, Kinesis and Firehose test suites, in moto's server mode, against
`engine serve` (TEST_SERVER_MODE=true, TEST_SERVER_MODE_ENDPOINT).

The suites come from the source distribution of the installed moto (`pip download
--no-binary :all: --no-deps moto==<version>`, cached). The server runs with --require-auth and
maps moto's test key (FOOBARKEY) to moto's account 123456789012, so the ARNs and queue URLs the
tests build match, and every request of the suites is SigV4-verified on the way. moto's
`account_id` fixture asks STS, which is not served: an override returns the same account.

excluded.txt lists the tests left out, each with its reason: services not served here, moto's
quirks (AWS answers otherwise), and places where the engine and moto differ without AWS's answer
verified here. Every other test must pass; the counts are printed (pytest -s) and asserted."""
from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.server.wire_server import serve
from tests.tools import require

HERE = Path(__file__).resolve().parent
SUITES = ("tests/test_sqs", "tests/test_sns", "tests/test_kinesis", "tests/test_firehose")
MOTO_ACCOUNT = "123456789012"
MOTO_KEY = "FOOBARKEY FOOBARSECRET"   # what moto's mock_aws puts in the environment
RUN_TIMEOUT_S = 900
# Leaves out excluded.txt's test ids exactly (pytest's --deselect matches prefixes, and would take
# test_permissions_x along with test_permissions).
EXCLUSIONS_PLUGIN = '''import os


def pytest_collection_modifyitems(config, items):
    with open(os.environ["ENGINE_EXCLUDED_TESTS"]) as f:
        excluded = set(f.read().split())
    kept = [item for item in items if item.nodeid not in excluded]
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid in excluded])
    items[:] = kept
'''
ACCOUNT_FIXTURE = '''import pytest


@pytest.fixture(scope="function")
def account_id():   # (engine serve has no STS: the account moto's tests sign for)
    return "123456789012"
'''


def excluded() -> dict[str, str]:
    """Test id (or file) -> reason, from excluded.txt."""
    entries = {}
    for line in (HERE / "excluded.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            test, _, reason = line.partition(" | ")
            assert reason.strip(), f"excluded.txt: {test} has no reason"
            entries[test.strip()] = reason.strip()
    return entries


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "engine-tests"


@pytest.fixture(scope="module")
def moto_source() -> Path:
    """The installed moto's sdist test suites, with the account fixture override in each."""
    version = importlib.metadata.version("moto")
    root = _cache_dir() / f"moto-{version}"
    if not (root / SUITES[-1]).is_dir():
        download = _cache_dir() / "downloads"
        download.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                               "--quiet", "-d", str(download), f"moto=={version}"],
                              capture_output=True, text=True, timeout=600)
        require(done.returncode == 0, f"cannot download moto {version}'s source distribution: {done.stderr[-1000:]}")
        with tarfile.open(next(download.glob(f"moto-{version}.tar.gz"))) as archive:
            prefix = f"moto-{version}/"
            wanted = [m for m in archive.getmembers() if m.name.startswith(prefix + "tests/")
                      and (m.name.count("/") == 2 or any(m.name.startswith(prefix + s + "/") for s in SUITES))]
            for member in wanted:
                member.name = member.name[len(prefix):]
            archive.extractall(root, members=wanted, filter="data")
    for suite in SUITES:
        (root / suite / "conftest.py").write_text(ACCOUNT_FIXTURE)
    (root / "engine_exclusions.py").write_text(EXCLUSIONS_PLUGIN)
    return root


def test_moto_suites_in_server_mode(moto_source, tmp_path):
    pytest.importorskip("freezegun", reason="moto's suites import freezegun (the test extra installs it)")
    leave_out = excluded()
    args = [sys.executable, "-m", "pytest", *SUITES, "-q", "-p", "no:cacheprovider", "-p", "engine_exclusions",
            "-o", "addopts=", "--tb=short", "-rf"]
    args += [f"--ignore={test}" for test in leave_out if "::" not in test]
    exact = tmp_path / "excluded-ids.txt"
    exact.write_text("\n".join(test for test in leave_out if "::" in test))
    with serve("--require-auth", "--s3-root", str(tmp_path / "s3"),
               env={"ENGINE_ACCESS_KEYS": f"{MOTO_KEY} {MOTO_ACCOUNT}"}) as endpoint:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        environment.update(TEST_SERVER_MODE="true", TEST_SERVER_MODE_ENDPOINT=endpoint, AWS_DEFAULT_REGION="us-east-1",
                           PYTHONPATH=str(moto_source), ENGINE_EXCLUDED_TESTS=str(exact))
        done = subprocess.run(args, cwd=moto_source, env=environment, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", summary)}
    print(f"\nmoto {importlib.metadata.version('moto')} suites against engine serve: {summary} "
          f"({len(leave_out)} entries in excluded.txt)")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert counts.get("passed", 0) > 300 and not counts.get("failed")

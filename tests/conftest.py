import pytest

import engine
from tests.shapes import assert_shape


@pytest.fixture
def clock():
    return engine.ManualClock(start=1_700_000_000.0)


@pytest.fixture
def eng(clock, tmp_path):
    e = engine.Engine(clock=clock, s3_root=str(tmp_path / "s3"))
    yield e
    e.close()


@pytest.fixture
def shape():
    """shape(service, operation, response): validate a response against botocore's output shape."""
    return assert_shape

"""engine: local, high-throughput AWS messaging services with boto3-compatible clients.

    import engine
    eng = engine.Engine()
    kinesis = eng.client("kinesis", region_name="us-east-1")
"""
from .clock import ManualClock, WallClock
from .engine import Engine, client, default_engine, resource
from .errors import ClientError, ParamValidationError

__version__ = "0.1.0"
__all__ = ["Engine", "ManualClock", "WallClock", "client", "default_engine", "resource", "ClientError", "ParamValidationError"]

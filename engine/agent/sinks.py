"""Where a flow's records go: a Kinesis stream or a Firehose delivery stream, through the engine's
native API (in process) or any boto3-shaped client (the engine's, botocore's against `engine
serve` or AWS). `send` returns the mask of records refused (to send again), or None when all
were taken; a refusal of the whole request raises SendError."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from .. import limits
from ..errors import ClientError


class SendError(Exception):
    """The whole request was refused (throttled, unavailable, unreachable): send it again later."""


class NativeKinesisSink:
    # The native put has no PutRecords limits: one call takes many of the agent's buffers.
    buffers_per_call = limits.AGENT_NATIVE_BUFFERS_PER_CALL

    def __init__(self, stream):
        self.stream = stream

    def send(self, data: pa.Array, keys: pa.Array) -> np.ndarray | None:
        try:
            result = self.stream.put_batch(data, keys)
        except ClientError as err:
            raise SendError(str(err)) from None
        return result.throttled if result.throttled is not None and result.throttled.any() else None


class NativeFirehoseSink:
    buffers_per_call = limits.AGENT_NATIVE_BUFFERS_PER_CALL

    def __init__(self, delivery_stream):
        self.delivery_stream = delivery_stream

    def send(self, data: pa.Array, keys) -> np.ndarray | None:
        try:
            self.delivery_stream.put_batch(data)
        except ClientError as err:
            raise SendError(str(err)) from None
        return None


def _failed_mask(entries: list) -> np.ndarray | None:
    failed = np.fromiter(("ErrorCode" in e for e in entries), dtype=bool, count=len(entries))
    return failed if failed.any() else None


class ClientKinesisSink:
    buffers_per_call = 1

    def __init__(self, client, stream_name: str):
        self.client = client
        self.stream_name = stream_name

    def send(self, data: pa.Array, keys: pa.Array) -> np.ndarray | None:
        records = [{"Data": d, "PartitionKey": k} for d, k in zip(data.to_pylist(), keys.to_pylist())]
        try:
            out = self.client.put_records(StreamName=self.stream_name, Records=records)
        except Exception as err:  # noqa: BLE001 - throttling, network, service errors: all retried
            raise SendError(str(err)) from None
        return _failed_mask(out["Records"]) if out.get("FailedRecordCount") else None


class ClientFirehoseSink:
    buffers_per_call = 1

    def __init__(self, client, delivery_stream_name: str):
        self.client = client
        self.name = delivery_stream_name

    def send(self, data: pa.Array, keys) -> np.ndarray | None:
        try:
            out = self.client.put_record_batch(DeliveryStreamName=self.name,
                                               Records=[{"Data": d} for d in data.to_pylist()])
        except Exception as err:  # noqa: BLE001 - as above
            raise SendError(str(err)) from None
        return _failed_mask(out["RequestResponses"]) if out.get("FailedPutCount") else None

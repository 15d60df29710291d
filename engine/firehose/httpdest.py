"""HTTP endpoint destination: the documented Firehose request and response.

Request: POST, Content-Type application/json, headers X-Amz-Firehose-Protocol-Version: 1.0,
X-Amz-Firehose-Request-Id (the same across retries), X-Amz-Firehose-Source-Arn,
X-Amz-Firehose-Access-Key (when configured), X-Amz-Firehose-Common-Attributes (when configured),
body {"requestId", "timestamp", "records": [{"data": base64}]}, optionally gzip-encoded.
Response: 200 with {"requestId": same id, "timestamp": ms, ["errorMessage"]}; anything else is a
failure that is retried until RetryOptions.DurationInSeconds has passed.
"""
from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass
class Outcome:
    ok: bool
    code: str = ""
    message: str = ""


def post(url: str, *, request_id: str, timestamp_ms: int, records_b64: list[str], source_arn: str,
         access_key: str | None, common_attributes: dict | None, gzip_body: bool, timeout: float) -> Outcome:
    body = json.dumps({"requestId": request_id, "timestamp": timestamp_ms,
                       "records": [{"data": d} for d in records_b64]}).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Firehose-Protocol-Version": "1.0",
        "X-Amz-Firehose-Request-Id": request_id,
        "X-Amz-Firehose-Source-Arn": source_arn,
        "User-Agent": "Amazon Kinesis Data Firehose Agent/1.0",
    }
    if access_key:
        headers["X-Amz-Firehose-Access-Key"] = access_key
    if common_attributes:
        headers["X-Amz-Firehose-Common-Attributes"] = json.dumps({"commonAttributes": common_attributes})
    if gzip_body:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        detail = _error_message(err.read())
        return Outcome(False, "HttpEndpoint.ResponseFailed",
                       f"The endpoint returned HTTP {err.code}." + (f" {detail}" if detail else ""))
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        if "timed out" in str(reason):
            return Outcome(False, "HttpEndpoint.RequestTimeout", f"The request to the endpoint timed out: {reason}")
        return Outcome(False, "HttpEndpoint.ConnectionFailed", f"Could not connect to the endpoint: {reason}")
    if status != 200:
        return Outcome(False, "HttpEndpoint.ResponseFailed", f"The endpoint returned HTTP {status}.")
    try:
        answer = json.loads(payload)
    except ValueError:
        return Outcome(False, "HttpEndpoint.InvalidResponseFromDestination",
                       "The response from the endpoint is not valid JSON.")
    if not isinstance(answer, dict) or answer.get("requestId") != request_id:
        return Outcome(False, "HttpEndpoint.InvalidResponseFromDestination",
                       "The response from the endpoint does not carry the request's requestId.")
    return Outcome(True)


def _error_message(payload: bytes) -> str:
    try:
        answer = json.loads(payload)
        return str(answer.get("errorMessage", "")) if isinstance(answer, dict) else ""
    except ValueError:
        return ""

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
import http.client
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

SCHEMES = ("https", "http")    # AWS requires https; http reaches local endpoints (the model allows it)
PORT_MAX = 65535


def url_problem(url: str) -> str | None:
    """Why `url` can't be an endpoint (checked at create/update time), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        return str(err)
    if parts.scheme not in SCHEMES:
        return f"the scheme must be one of {', '.join(SCHEMES)}"
    if not parts.hostname:
        return "the URL has no host"
    if port is not None and not 1 <= port <= PORT_MAX:
        return f"port {port} is out of range 1-{PORT_MAX}"
    return None


@dataclass
class Outcome:
    ok: bool
    code: str = ""
    message: str = ""


def post(url: str, *, request_id: str, timestamp_ms: int, records_b64: list[str], source_arn: str,
         access_key: str | None, common_attributes: dict | None, gzip_body: bool, timeout: float,
         ssl_context: ssl.SSLContext | None = None) -> Outcome:
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
        with urllib.request.urlopen(req, timeout=timeout, context=ssl_context) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        detail = _error_message(err.read())
        return Outcome(False, "HttpEndpoint.ResponseFailed",
                       f"The endpoint returned HTTP {err.code}." + (f" {detail}" if detail else ""))
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as err:
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

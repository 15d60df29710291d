"""Which service, operation and protocol a request is for, from what it carries.

In order: an `X-Amz-Target` header (`AmazonSQS.SendMessage`: the JSON protocols, prefix per
service from the model's targetPrefix); a form or query-string `Action` (the query protocol: SNS,
and SQS's older query protocol, told apart by the SigV4 signing name, then `Version`, then an
SQS queue path); else a REST path (rest-json services, engine.server.protocols.rest).
Region and signing name come from the SigV4 credential scope (header or presigned query).
"""
from __future__ import annotations

import re

from .. import limits
from ..request import service_models

# Services speaking the query protocol, by the API version their requests carry.
QUERY_SERVICES = ("sns", "sqs")
_QUERY_CREDENTIAL = re.compile(r"X-Amz-Credential=[^&]*?(?:/|%2F)\d{8}(?:/|%2F)([^/&%]+)(?:/|%2F)([^/&%]+)(?:/|%2F)")
_QUEUE_PATH = re.compile(r"/\d{12}/[^/]+/?")


def json_targets(services) -> dict[str, str]:
    """{target prefix: service} for the JSON-protocol services among `services`."""
    targets = {}
    for name in services:
        model = service_models.service_model(name)
        if model.protocol == "json" and "targetPrefix" in model.metadata:
            targets[model.metadata["targetPrefix"]] = name
    return targets


def query_versions(services) -> dict[str, str]:
    return {service_models.service_model(name).api_version: name for name in QUERY_SERVICES if name in services}


def credential_scope(authorization: str | None, query_string: str) -> tuple[str, str | None]:
    """(region, signing name) from SigV4's credential scope; the default region when unsigned."""
    if authorization:
        start = authorization.find("Credential=")
        if start >= 0:   # Credential=AKID/20260101/us-east-1/sqs/aws4_request
            scope = authorization[start + 11:authorization.find(",", start) % (len(authorization) + 1)].split("/")
            if len(scope) == 5 and scope[4].startswith("aws4_request"):
                return scope[2], scope[3]
    elif "X-Amz-Credential" in query_string:
        found = _QUERY_CREDENTIAL.search(query_string)
        if found:
            return found.group(1), found.group(2)
    return limits.DEFAULT_REGION, None


def query_service(signing_name: str | None, version: str | None, path: str, versions: dict[str, str]) -> str | None:
    """The query-protocol service a form request is for."""
    if signing_name in versions.values():
        return signing_name
    if version in versions:
        return versions[version]
    if "sqs" in versions.values() and _QUEUE_PATH.fullmatch(path):
        return "sqs"
    return None

"""botocore's service models: the one source of operation names, shapes, constraints, error
codes and paginators for the request layer.

botocore is a runtime dependency (it comes with boto3, and the models are what users' boto3
validates against), so the shapes are read from the installed copy instead of a generated
module that would drift from it. Loaded once per process, per service, on first use.
"""
from __future__ import annotations

import functools

import botocore.session
from botocore.model import OperationModel, ServiceModel


@functools.lru_cache(maxsize=None)
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.lru_cache(maxsize=None)
def service_model(service_name: str) -> ServiceModel:
    return _session().get_service_model(service_name)


@functools.lru_cache(maxsize=None)
def operation_model(service_name: str, operation_name: str) -> OperationModel | None:
    model = service_model(service_name)
    if operation_name not in model.operation_names:
        return None
    return model.operation_model(operation_name)


@functools.lru_cache(maxsize=None)
def paginator_config(service_name: str) -> dict:
    """{OperationName: botocore pagination config}; empty when botocore paginates nothing."""
    try:
        return _session().get_paginator_model(service_name)._paginator_config
    except Exception:  # botocore raises UnknownServiceError/DataNotFoundError for none
        return {}


@functools.lru_cache(maxsize=None)
def waiter_model(service_name: str):
    try:
        return _session().get_waiter_model(service_name)
    except Exception:
        return None


@functools.lru_cache(maxsize=None)
def query_error_codes(service_name: str) -> dict[str, str] | None:
    """For awsQueryCompatible services (SQS): JSON error code -> legacy query code, from the
    error shapes' `error` traits where the model has them (older and newer botocore releases
    differ); None for the other services."""
    model = service_model(service_name)
    if "awsQueryCompatible" not in model.metadata:
        return None
    codes = {}
    for shape in model.error_shapes:
        trait = shape._shape_model.get("error") or {}
        if "code" in trait:
            codes[shape.name] = trait["code"]
    return codes

"""botocore's service models as the oracle for response shapes.

Every member of a response must exist in the operation's output shape with the right type,
and every required member must be present, except where AWS itself omits one (OMITTED_BY_AWS).
ResponseMetadata is added by botocore itself and is checked separately.
"""
import datetime
import functools

import botocore.session

_session = botocore.session.get_session()


# (service, operation suffix) -> required output members AWS leaves out when empty: SQS's batch
# results carry only the list (Successful or Failed) that has entries, though the model requires both.
OMITTED_BY_AWS = {("sqs", "Batch"): {"Successful", "Failed"}}
# shape name -> (member AWS leaves out, the member whose presence says so): the last
# SubscribeToShardEvent of a closed shard has ChildShards and no ContinuationSequenceNumber (the KCL,
# Flink's and Beam's connectors all read a missing one as the shard's end).
OMITTED_WITH = {"SubscribeToShardEvent": ("ContinuationSequenceNumber", "ChildShards")}


def _omitted(service, operation):
    return next((members for (svc, suffix), members in OMITTED_BY_AWS.items()
                 if svc == service and operation.endswith(suffix)), set())


@functools.lru_cache(maxsize=None)
def _model(service):
    return _session.get_service_model(service)


def output_shape(service, operation):
    return _model(service).operation_model(operation).output_shape


def _check(shape, value, path, errors, omitted=frozenset()):
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected dict, got {type(value).__name__}")
            return
        if shape.name in OMITTED_WITH:
            member, sign = OMITTED_WITH[shape.name]
            if sign in value:
                omitted = omitted | {member}
        for name in getattr(shape, "required_members", []):
            if name not in value and name not in omitted:
                errors.append(f"{path}: missing required member {name}")
        for key, item in value.items():
            if key not in shape.members:
                errors.append(f"{path}: unknown member {key}")
            else:
                _check(shape.members[key], item, f"{path}.{key}", errors)
    elif t == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]", errors)
    elif t == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected dict, got {type(value).__name__}")
            return
        for k, v in value.items():
            _check(shape.key, k, f"{path}<key>", errors)
            _check(shape.value, v, f"{path}[{k}]", errors)
    elif t == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected str, got {type(value).__name__}")
        elif shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not in enum {shape.enum}")
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected int, got {type(value).__name__}")
    elif t in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"{path}: expected number, got {type(value).__name__}")
    elif t == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected bool, got {type(value).__name__}")
    elif t == "blob":
        if not isinstance(value, (bytes, bytearray)):
            errors.append(f"{path}: expected bytes, got {type(value).__name__}")
    elif t == "timestamp":
        if not isinstance(value, datetime.datetime) or value.tzinfo is None:
            errors.append(f"{path}: expected tz-aware datetime, got {value!r}")


def assert_shape(service, operation, response):
    """Raise AssertionError listing every way `response` departs from botocore's output shape."""
    response = dict(response)
    meta = response.pop("ResponseMetadata", None)
    status = _model(service).operation_model(operation).http.get("responseCode", 200)
    assert meta is not None and meta["HTTPStatusCode"] == status, f"{operation}: ResponseMetadata {meta}"
    shape = output_shape(service, operation)
    errors = []
    if shape is None:
        assert not response, f"{operation} returns no members, got {response}"
        return
    _check(shape, response, operation, errors, _omitted(service, operation))
    assert not errors, "\n".join(errors)

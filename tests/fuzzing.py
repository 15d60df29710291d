"""The fuzzing harness every client's fuzz test calls: each operation fed malformed input drawn
from botocore's own shapes.

The contract (DESIGN.md, "Every malformed input gets AWS's answer"): whatever a caller passes,
a call returns, or raises botocore's ParamValidationError (what boto3 refuses before sending),
or a ClientError with an AWS code; never a raw TypeError, RecursionError, OverflowError, ...

Values are mostly well-typed (so calls get past the validator and into the services), with
wrong types, missing and unknown members, out-of-range numbers, odd strings (surrogates, NUL,
control characters, deep JSON) mixed in. `names` (member name -> strategy) biases the members
that name resources towards resources that exist, so the service code behind the validator is
reached too.
"""
from __future__ import annotations

import datetime
import functools
import math

import botocore.session
from botocore import xform_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine

EXAMPLES = 25

# Members that would block (long polls on a manual clock) or reach the network are fixed.
FIXED = {
    "WaitTimeSeconds": st.sampled_from([0, -1, 21]),
}
LOOPBACK_URLS = st.sampled_from([
    "http://127.0.0.1:9/fuzz", "https://127.0.0.1:9/", "http://127.0.0.1:notaport/", "http://[::1]:99999/",
    "http://127.0.0.1:0/", "ftp://127.0.0.1/", "not a url", "", "http://", "https://127.0.0.1:9/\x00",
])
NETWORK_MEMBERS = {"Endpoint", "Url", "SubscribeURL", "EndpointUrl"}

DEEP_JSON = ["[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000, '{"a": [' * 2000]
ODD_STRINGS = st.sampled_from([
    "", " ", "\x00", "\ud800", "a\udcffb", "\u202e", "../../../../x", "..", "a" * 300, "a" * 5000,
    "1e400", "-1", "²", "NaN", "null", "{}", "[]", '{"a":', "arn:aws:", "arn:aws:sqs:us-east-1:000000000000:",
    "9" * 60, "0x10", "true", "\n", "é" * 200, "%00", "a b", *DEEP_JSON,
])
ODD_NUMBERS = st.sampled_from([-1, 0, 2 ** 31, 2 ** 63, 2 ** 64 + 1, 10 ** 40, -(2 ** 63) - 1])
ODD_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 1e-320])
WRONG_TYPES = st.sampled_from([None, 5, 1.5, True, "x", b"x", [], {}, ["x"], {"a": 1}, object()])


def strategy(shape, names, depth=0):
    """Values for a shape: mostly valid, with malformed ones mixed in at every level."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 4:
            return st.just({})
        required = list(shape.required_members)
        optional = [m for m in shape.members if m not in required]
        fields = {m: member_strategy(m, shape.members[m], names, depth) for m in shape.members}

        @st.composite
        def build(draw):
            chosen = required + draw(st.lists(st.sampled_from(optional), max_size=4, unique=True)) if optional \
                else list(required)
            if required and draw(st.integers(0, 9)) == 0:          # a required member missing
                chosen.remove(draw(st.sampled_from(required)))
            value = {m: draw(fields[m]) for m in chosen}
            if draw(st.integers(0, 19)) == 0:                       # an unknown member
                value["NotAMember"] = draw(st.text(max_size=3))
            return value
        valid = build()
    elif kind == "list":
        valid = st.lists(strategy(shape.member, names, depth + 1), max_size=3)
    elif kind == "map":
        keys = st.one_of(strategy(shape.key, names, 0), st.sampled_from([5, None, 1.5, b"k"]))   # hashable
        valid = st.dictionaries(keys, strategy(shape.value, names, depth + 1), max_size=3)
    elif kind == "string":
        if shape.enum:
            valid = st.one_of(st.sampled_from(shape.enum), ODD_STRINGS)
        else:
            valid = st.one_of(st.text(max_size=12), ODD_STRINGS)
    elif kind in ("integer", "long"):
        lo = shape.metadata.get("min", -10)
        hi = shape.metadata.get("max", 1000)
        valid = st.one_of(st.integers(lo, max(lo, min(hi, lo + 1000))), ODD_NUMBERS)
    elif kind in ("float", "double"):
        valid = st.one_of(st.floats(-1e3, 1e3), ODD_FLOATS)
    elif kind == "boolean":
        valid = st.booleans()
    elif kind == "blob":
        valid = st.one_of(st.binary(max_size=64), st.text(max_size=8), st.just(b"x" * (1024 * 1024 + 1)))
    elif kind == "timestamp":
        valid = st.one_of(st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 1, 1)),
                          st.sampled_from(["2026-01-01", "yesterday", 1e20, -5, math.nan]))
    else:
        valid = st.none()
    return st.one_of(valid, WRONG_TYPES) if depth else valid


def member_strategy(name, shape, names, depth):
    if name in FIXED:
        return FIXED[name]
    if name in NETWORK_MEMBERS:
        return LOOPBACK_URLS
    if name in names and shape.type_name == "string":
        return st.one_of(names[name], ODD_STRINGS)
    return strategy(shape, names, depth + 1)


@functools.lru_cache(maxsize=None)
def service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


def fuzz_operation(client, service: str, operation: str, names: dict, examples: int = EXAMPLES) -> None:
    """Call `operation` of `client` with `examples` drawn inputs (derandomized: the same inputs
    every run); fails on any exception but ParamValidationError and ClientError."""
    method = getattr(client, xform_name(operation))
    shape = service_model(service).operation_model(operation).input_shape
    params = strategy(shape, names) if shape is not None else st.just({})

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(params)
    def call(kwargs):
        try:
            method(**kwargs)
        except (engine.ParamValidationError, engine.ClientError):
            pass

    call()

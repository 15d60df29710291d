"""The MD5 digests SQS returns, computed exactly as AWS computes them.

MD5OfMessageBody / MD5OfBody: MD5 of the UTF-8 body, lower-case hex.

MD5OfMessageAttributes / MD5OfMessageSystemAttributes (the AWS developer guide, "Calculating the
MD5 message digest for message attributes"; the SDKs that verify it do the same): for each
attribute, sorted by name,
    len(name) name  len(DataType) DataType  transport-byte  len(value) value
where every len is a 4-byte big-endian count of the UTF-8 (or raw binary) bytes that follow, the
transport byte is 1 for a StringValue (String and Number types) and 2 for a BinaryValue; then
MD5 of the whole, lower-case hex.
"""
from __future__ import annotations

import hashlib
import struct

try:  # the builtin implementation has less per-call overhead than OpenSSL's for short inputs
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover
    _md5 = hashlib.md5

_pack_len = struct.Struct(">I").pack

STRING_TRANSPORT = b"\x01"  # the transport byte of a StringValue (String and Number types)
BINARY_TRANSPORT = b"\x02"  # of a BinaryValue


def attributes_md5(attributes) -> str:
    """MD5 of a message (or message system) attribute map.

    `attributes` maps name -> (data_type, string_value, binary_value): exactly one of the two
    values is not None (a validated AttributeValue from engine.sqs.models)."""
    h = _md5()
    for name in sorted(attributes):
        data_type, string_value, binary_value = attributes[name]
        raw = name.encode("utf-8")
        h.update(_pack_len(len(raw)) + raw)
        raw = data_type.encode("utf-8")
        h.update(_pack_len(len(raw)) + raw)
        if string_value is not None:
            raw = string_value.encode("utf-8")
            h.update(STRING_TRANSPORT + _pack_len(len(raw)) + raw)
        else:
            h.update(BINARY_TRANSPORT + _pack_len(len(binary_value)) + binary_value)
    return h.hexdigest()

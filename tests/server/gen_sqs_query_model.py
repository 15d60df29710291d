"""Regenerates engine/server/protocols/sqs_query_model.py from an old botocore's SQS model (the
query protocol, as botocore <= 1.31.80 and the older SDKs speak it).

    <venv with botocore==1.31.80>/bin/python -c "import botocore.session as s, json; \
        print(json.dumps(s.get_session().get_service_model('sqs')._service_description))" > sqs.json
    python tests/server/gen_sqs_query_model.py sqs.json > engine/server/protocols/sqs_query_model.py

tests/server/test_query_protocol.py runs this against the old botocore and diffs."""
from __future__ import annotations

import json
import pprint
import sys

_DROPPED = ("documentation", "documentationUrl", "examples", "deprecatedMessage")

HEADER = '''"""GENERATED FROM botocore 1.31.80's SQS service model (the query protocol) by
tests/server/gen_sqs_query_model.py. DO NOT MODIFY.

SQS's query protocol names members differently from its JSON protocol (`Attribute.N.Name`,
`AttributeName.N`, `SendMessageBatchRequestEntry.N.Id`, flattened results), and only the old
model says how; the SDKs that still speak it follow this model."""
'''


def _strip(node):
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _DROPPED}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def generate(description: dict) -> str:
    model = _strip(description)
    return HEADER + "\nMODEL = " + pprint.pformat(model, width=110, sort_dicts=True) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        sys.stdout.write(generate(json.load(f)))

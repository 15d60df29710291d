"""Every operation of botocore's model is on the engine's client, for the services the engine
implements in full (Glue is a catalog for Firehose and Iceberg: only its table and database calls)."""
import botocore.session
import pytest
from botocore import xform_name

FULL_SERVICES = ("sqs", "sns", "kinesis", "firehose", "mq", "lambda")
# Lambda: functions whose code is a registered Python callable and event source mappings; the rest
# of the model (layers, aliases, versions, URLs, code signing, ...) is not served.
PARTIAL = {"lambda"}


@pytest.mark.parametrize("service", [s for s in FULL_SERVICES if s not in PARTIAL])
def test_every_model_operation_is_a_client_method(eng, service):
    model = botocore.session.get_session().get_service_model(service)
    client = eng.client(service)
    missing = [op for op in model.operation_names if not callable(getattr(client, xform_name(op), None))]
    assert missing == []


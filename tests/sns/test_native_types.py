"""The native API of mobile push, SMS and topic policies answers a value of any type with AWS's
error or botocore's ParamValidationError, never a raw TypeError/AttributeError."""
from types import SimpleNamespace

import pytest

from engine import ClientError
from engine.errors import ParamValidationError

ODD = [None, 5, 1.5, True, b"x", [], {}, ["x"], {"a": 1}, object(), "", "\ud800", "x" * 5000]
NUMBER = "+15555550100"


@pytest.fixture
def world(backend):
    app = backend.mobile.create_application("a", "GCM", {"PlatformCredential": "k"})
    return SimpleNamespace(b=backend, app=app, ep=backend.mobile.create_endpoint(app, "tok", None, {}),
                           t=backend.create_topic("t"))


CALLS = {
    "create_application.name": lambda w, v: w.b.mobile.create_application(v, "GCM", {"PlatformCredential": "k"}),
    "create_application.platform": lambda w, v: w.b.mobile.create_application("n", v, {"PlatformCredential": "k"}),
    "create_application.attributes": lambda w, v: w.b.mobile.create_application("n", "GCM", v),
    "create_application.credential": lambda w, v: w.b.mobile.create_application(
        "n", "APNS", {"PlatformCredential": v, "PlatformPrincipal": v}),
    "application": lambda w, v: w.b.mobile.application(v),
    "endpoint": lambda w, v: w.b.mobile.endpoint(v),
    "set_application_attributes": lambda w, v: w.b.mobile.set_application_attributes(w.app, v),
    "delete_application": lambda w, v: w.b.mobile.delete_application(v),
    "list_applications": lambda w, v: w.b.mobile.list_applications(v),
    "create_endpoint.token": lambda w, v: w.b.mobile.create_endpoint(w.app, v, None, {}),
    "create_endpoint.custom_user_data": lambda w, v: w.b.mobile.create_endpoint(w.app, "t2", v, {}),
    "create_endpoint.attributes": lambda w, v: w.b.mobile.create_endpoint(w.app, "t3", None, v),
    "set_endpoint_attributes": lambda w, v: w.b.mobile.set_endpoint_attributes(w.ep, v),
    "set_endpoint_attributes.value": lambda w, v: w.b.mobile.set_endpoint_attributes(w.ep, {"Enabled": v}),
    "delete_endpoint": lambda w, v: w.b.mobile.delete_endpoint(v),
    "list_endpoints": lambda w, v: w.b.mobile.list_endpoints(w.app, v),
    "sms.set_attributes": lambda w, v: w.b.sms.set_attributes(v),
    "sms.get_attributes": lambda w, v: w.b.sms.get_attributes(v),
    "sms.opt_out": lambda w, v: w.b.sms.opt_out(v),
    "sms.is_opted_out": lambda w, v: w.b.sms.is_opted_out(v),
    "sms.opt_in": lambda w, v: w.b.sms.opt_in(v),
    "sms.list_opted_out": lambda w, v: w.b.sms.list_opted_out(v),
    "sms.create_sandbox_number": lambda w, v: w.b.sms.create_sandbox_number(v),
    "sms.create_sandbox_number.language": lambda w, v: w.b.sms.create_sandbox_number(NUMBER, v),
    "sms.verify_sandbox_number": lambda w, v: w.b.sms.verify_sandbox_number(NUMBER, v),
    "sms.delete_sandbox_number": lambda w, v: w.b.sms.delete_sandbox_number(v),
    "sms.list_sandbox_numbers": lambda w, v: w.b.sms.list_sandbox_numbers(None, v),
    "sms.list_origination_numbers": lambda w, v: w.b.sms.list_origination_numbers(None, v),
    "publish_to.phone_number": lambda w, v: w.b.publish_to("x", phone_number=v),
    "publish_to.target_arn": lambda w, v: w.b.publish_to("x", target_arn=v),
    "publish_to.body": lambda w, v: w.b.publish_to(v, phone_number=NUMBER),
    "publish_to_endpoint.subject": lambda w, v: w.b.publish_to_endpoint(w.ep, "x", v),
    "add_permission.label": lambda w, v: w.t.add_permission(v, ["111122223333"], ["Publish"]),
    "add_permission.accounts": lambda w, v: w.t.add_permission("l", v, ["Publish"]),
    "add_permission.actions": lambda w, v: w.t.add_permission("l2", ["111122223333"], v),
    "remove_permission": lambda w, v: w.t.remove_permission(v),
    "put_data_protection_policy": lambda w, v: w.t.put_data_protection_policy(v),
    "publish_batch": lambda w, v: w.b.publish_batch(w.t, v),
    "create_topic.tags": lambda w, v: w.b.create_topic("tagged", tags=v),
    "untag_resource": lambda w, v: w.b.untag_resource(w.t.arn, v),
}


@pytest.mark.parametrize("call", CALLS)
def test_any_value_gets_an_aws_answer(world, call):
    for value in ODD:
        try:
            CALLS[call](world, value)
        except (ClientError, ParamValidationError):
            pass

"""The boto3-shaped SNS client: `eng.client("sns")`.

Translation only: the request layer (client_base) has already checked every member against
botocore's SNS model (types, required and unknown members) when a method runs; each method turns
boto3's shapes into engine.sns.models calls and the results into boto3's response shapes. Every
rule (attribute values, policies, ARNs, FIFO ids, tags, batches, phone numbers, credentials) is
the model's, so the native API obeys the same ones. Errors carry the codes of botocore's SNS model
(InvalidParameter, NotFound, ParameterValueInvalid, ...); `client.exceptions` has both the codes
and botocore's exception names (`sns.exceptions.NotFoundException`).
"""
from __future__ import annotations

from ..client_base import BaseClient, to_blob
from ..errors import ClientError
from . import errors as sns_errors
from .models import Message, PublishEntry


def _message_attributes(value) -> dict | None:
    """boto3 MessageAttributes -> {name: (data_type, string_value, binary_value)}."""
    if value is None:
        return None
    out = {}
    for name, attr in value.items():
        binary = attr.get("BinaryValue")
        out[name] = (attr["DataType"], attr.get("StringValue"),
                     None if binary is None else to_blob(f"MessageAttributes.{name}.BinaryValue", binary))
    return out


def _tag_pairs(tags) -> list:
    return [(t["Key"], t["Value"]) for t in tags]


def _subscription_shape(sub) -> dict:
    return {"SubscriptionArn": "PendingConfirmation" if sub.pending else sub.arn, "Owner": sub.owner,
            "Protocol": sub.protocol, "Endpoint": sub.endpoint, "TopicArn": sub.topic.arn}


def _publish_result(m: Message) -> dict:
    out = {"MessageId": m.id}
    if m.seq is not None:
        out["SequenceNumber"] = m.seq
    return out


def _paged(key: str, items: list, token: str | None, token_key: str = "NextToken") -> dict:
    out = {key: items}
    if token:
        out[token_key] = token
    return out


class SNSClient(BaseClient):
    """boto3's SNS client, in process."""

    service_name = "sns"
    error_modules = (sns_errors,)

    def __init__(self, engine, region_name: str):
        super().__init__(engine, region_name)
        self._backend = engine.backend("sns", region_name)

    # --- topics ------------------------------------------------------------------------------------
    def create_topic(self, *, Name, Attributes=None, Tags=None, DataProtectionPolicy=None):
        attributes = dict(Attributes or {})
        if DataProtectionPolicy is not None:
            attributes["DataProtectionPolicy"] = DataProtectionPolicy
        tags = _tag_pairs(Tags) if Tags is not None else None
        return {"TopicArn": self._backend.create_topic(Name, attributes, tags).arn}

    def delete_topic(self, *, TopicArn):
        self._backend.delete_topic(TopicArn)
        return {}

    def list_topics(self, *, NextToken=None):
        topics, token = self._backend.list_topics(NextToken)
        return _paged("Topics", [{"TopicArn": t.arn} for t in topics], token)

    def get_topic_attributes(self, *, TopicArn):
        return {"Attributes": self._backend.get_topic(TopicArn).get_attributes()}

    def set_topic_attributes(self, *, TopicArn, AttributeName, AttributeValue=None):
        self._backend.set_topic_attribute(self._backend.get_topic(TopicArn), AttributeName, AttributeValue)
        return {}

    def add_permission(self, *, TopicArn, Label, AWSAccountId, ActionName):
        self._backend.get_topic(TopicArn).add_permission(Label, list(AWSAccountId), list(ActionName))
        return {}

    def remove_permission(self, *, TopicArn, Label):
        self._backend.get_topic(TopicArn).remove_permission(Label)
        return {}

    def put_data_protection_policy(self, *, ResourceArn, DataProtectionPolicy):
        self._backend.get_topic(ResourceArn, "ResourceArn").put_data_protection_policy(DataProtectionPolicy)
        return {}

    def get_data_protection_policy(self, *, ResourceArn):
        return {"DataProtectionPolicy": self._backend.get_topic(ResourceArn, "ResourceArn").data_protection_policy}

    # --- subscriptions -----------------------------------------------------------------------------------
    def subscribe(self, *, TopicArn, Protocol, Endpoint=None, Attributes=None, ReturnSubscriptionArn=False):
        sub = self._backend.subscribe(TopicArn, Protocol, Endpoint, Attributes)
        if sub.pending and not ReturnSubscriptionArn:
            return {"SubscriptionArn": "pending confirmation"}
        return {"SubscriptionArn": sub.arn}

    def confirm_subscription(self, *, TopicArn, Token, AuthenticateOnUnsubscribe=None):
        return {"SubscriptionArn": self._backend.confirm_subscription(TopicArn, Token, AuthenticateOnUnsubscribe).arn}

    def unsubscribe(self, *, SubscriptionArn):
        self._backend.unsubscribe(SubscriptionArn)
        return {}

    def list_subscriptions(self, *, NextToken=None):
        subs, token = self._backend.list_subscriptions(None, NextToken)
        return _paged("Subscriptions", [_subscription_shape(s) for s in subs], token)

    def list_subscriptions_by_topic(self, *, TopicArn, NextToken=None):
        subs, token = self._backend.list_subscriptions(self._backend.get_topic(TopicArn), NextToken)
        return _paged("Subscriptions", [_subscription_shape(s) for s in subs], token)

    def get_subscription_attributes(self, *, SubscriptionArn):
        return {"Attributes": self._backend.get_subscription(SubscriptionArn).get_attributes()}

    def set_subscription_attributes(self, *, SubscriptionArn, AttributeName, AttributeValue=None):
        sub = self._backend.get_subscription(SubscriptionArn)
        self._backend.set_subscription_attribute(sub, AttributeName, AttributeValue)
        return {}

    # --- publishing ------------------------------------------------------------------------------------------
    def publish(self, *, Message, TopicArn=None, TargetArn=None, PhoneNumber=None, Subject=None,
                MessageStructure=None, MessageAttributes=None, MessageDeduplicationId=None, MessageGroupId=None):
        m = self._backend.publish_to(Message, topic_arn=TopicArn, target_arn=TargetArn, phone_number=PhoneNumber,
                                     subject=Subject, attributes=_message_attributes(MessageAttributes),
                                     structure=MessageStructure, group=MessageGroupId, dedup=MessageDeduplicationId)
        return _publish_result(m)

    def publish_batch(self, *, TopicArn, PublishBatchRequestEntries):
        topic = self._backend.get_topic(TopicArn)
        entries = [PublishEntry(e["Id"], e["Message"], e.get("Subject"), e.get("MessageStructure"),
                                _message_attributes(e.get("MessageAttributes")), e.get("MessageGroupId"),
                                e.get("MessageDeduplicationId")) for e in PublishBatchRequestEntries]
        results = self._backend.publish_batch(topic, entries)
        successful = []
        failed = []
        for entry, result in zip(entries, results):
            if isinstance(result, ClientError):
                err = result.response["Error"]
                failed.append({"Id": entry.id, "Code": err["Code"], "Message": err["Message"],
                               "SenderFault": result.sender_fault})
            else:
                successful.append({"Id": entry.id, **_publish_result(result)})
        return {"Successful": successful, "Failed": failed}

    # --- tags --------------------------------------------------------------------------------------------------
    def tag_resource(self, *, ResourceArn, Tags):
        self._backend.tag_resource(ResourceArn, _tag_pairs(Tags))
        return {}

    def untag_resource(self, *, ResourceArn, TagKeys):
        self._backend.untag_resource(ResourceArn, list(TagKeys))
        return {}

    def list_tags_for_resource(self, *, ResourceArn):
        tags = self._backend.list_tags(ResourceArn)
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    # --- mobile push ------------------------------------------------------------------------------------------
    def create_platform_application(self, *, Name, Platform, Attributes):
        app = self._backend.mobile.create_application(Name, Platform, Attributes)
        return {"PlatformApplicationArn": app.arn}

    def get_platform_application_attributes(self, *, PlatformApplicationArn):
        return {"Attributes": self._backend.mobile.application(PlatformApplicationArn).get_attributes()}

    def set_platform_application_attributes(self, *, PlatformApplicationArn, Attributes):
        mobile = self._backend.mobile
        mobile.set_application_attributes(mobile.application(PlatformApplicationArn), Attributes)
        return {}

    def list_platform_applications(self, *, NextToken=None):
        apps, token = self._backend.mobile.list_applications(NextToken)
        return _paged("PlatformApplications",
                      [{"PlatformApplicationArn": a.arn, "Attributes": a.get_attributes()} for a in apps], token)

    def delete_platform_application(self, *, PlatformApplicationArn):
        self._backend.mobile.delete_application(PlatformApplicationArn)
        return {}

    def create_platform_endpoint(self, *, PlatformApplicationArn, Token, CustomUserData=None, Attributes=None):
        mobile = self._backend.mobile
        ep = mobile.create_endpoint(mobile.application(PlatformApplicationArn), Token, CustomUserData,
                                    Attributes or {})
        return {"EndpointArn": ep.arn}

    def get_endpoint_attributes(self, *, EndpointArn):
        return {"Attributes": dict(self._backend.mobile.endpoint(EndpointArn).attributes)}

    def set_endpoint_attributes(self, *, EndpointArn, Attributes):
        mobile = self._backend.mobile
        mobile.set_endpoint_attributes(mobile.endpoint(EndpointArn), Attributes)
        return {}

    def list_endpoints_by_platform_application(self, *, PlatformApplicationArn, NextToken=None):
        mobile = self._backend.mobile
        endpoints, token = mobile.list_endpoints(mobile.application(PlatformApplicationArn), NextToken)
        return _paged("Endpoints", [{"EndpointArn": e.arn, "Attributes": dict(e.attributes)} for e in endpoints],
                      token)

    def delete_endpoint(self, *, EndpointArn):
        self._backend.mobile.delete_endpoint(EndpointArn)
        return {}

    # --- SMS ------------------------------------------------------------------------------------------------
    def set_sms_attributes(self, *, attributes):
        self._backend.sms.set_attributes(attributes)
        return {}

    def get_sms_attributes(self, *, attributes=None):
        return {"attributes": self._backend.sms.get_attributes(attributes)}

    def check_if_phone_number_is_opted_out(self, *, phoneNumber):
        return {"isOptedOut": self._backend.sms.is_opted_out(phoneNumber)}

    def list_phone_numbers_opted_out(self, *, nextToken=None):
        numbers, token = self._backend.sms.list_opted_out(nextToken)
        return _paged("phoneNumbers", numbers, token, "nextToken")

    def opt_in_phone_number(self, *, phoneNumber):
        self._backend.sms.opt_in(phoneNumber)
        return {}

    def get_sms_sandbox_account_status(self):
        return {"IsInSandbox": self._backend.sms.in_sandbox}

    def create_sms_sandbox_phone_number(self, *, PhoneNumber, LanguageCode="en-US"):
        self._backend.sms.create_sandbox_number(PhoneNumber, LanguageCode)
        return {}

    def verify_sms_sandbox_phone_number(self, *, PhoneNumber, OneTimePassword):
        self._backend.sms.verify_sandbox_number(PhoneNumber, OneTimePassword)
        return {}

    def delete_sms_sandbox_phone_number(self, *, PhoneNumber):
        self._backend.sms.delete_sandbox_number(PhoneNumber)
        return {}

    def list_sms_sandbox_phone_numbers(self, *, NextToken=None, MaxResults=None):
        numbers, token = self._backend.sms.list_sandbox_numbers(NextToken, MaxResults)
        return _paged("PhoneNumbers", [{"PhoneNumber": n, "Status": s} for n, s in numbers], token)

    def list_origination_numbers(self, *, NextToken=None, MaxResults=None):
        numbers, token = self._backend.sms.list_origination_numbers(NextToken, MaxResults)
        return _paged("PhoneNumbers", numbers, token)


# botocore names its exceptions after the error shapes (NotFoundException, ...): alias them.
for _name, _cls in sns_errors.SHAPE_NAMES.items():
    setattr(SNSClient._exceptions_namespace, _name, _cls)
    SNSClient._exceptions_namespace._codes.setdefault(_cls.code, _cls)
del _name, _cls

__all__ = ["SNSClient"]

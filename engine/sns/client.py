"""The boto3-shaped SNS client: `eng.client("sns")`.

Every method checks its parameters as botocore would client-side (ParamValidationError for wrong
types, missing or unknown members), calls engine.sns.models, and shapes the response exactly as
boto3 returns it. Errors carry the codes of botocore's SNS model (InvalidParameter, NotFound,
ParameterValueInvalid, ...); `client.exceptions` has both the codes and botocore's exception
names (`sns.exceptions.NotFoundException`).
"""
from __future__ import annotations

import re

from .. import limits
from ..client_base import BaseClient, check_bool, check_dict, check_list, check_str, to_blob
from ..client_base import check_members as _members, check_str_map as _str_map
from ..errors import ClientError
from . import errors as sns_errors
from .errors import (BatchEntryIdsNotDistinct, EmptyBatchRequest, InvalidBatchEntryId, TooManyEntriesInBatchRequest,
                     invalid)
from .models import Message

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]+")
_ATTRIBUTE_VALUE_KEYS = ("DataType", "StringValue", "BinaryValue")
_ENTRY_KEYS = ("Id", "Message", "Subject", "MessageStructure", "MessageAttributes", "MessageDeduplicationId",
               "MessageGroupId")


def _opt_str(name, value):
    if value is not None:
        check_str(name, value)
    return value


def _message_attributes(name: str, value) -> dict | None:
    """boto3 MessageAttributes -> {name: (data_type, string_value, binary_value)}."""
    if value is None:
        return None
    check_dict(name, value)
    out = {}
    for key, attr in value.items():
        check_str(f"{name} keys", key)
        where = f"{name}.{key}"
        _members(where, attr, _ATTRIBUTE_VALUE_KEYS, ("DataType",))
        dt = check_str(f"{where}.DataType", attr["DataType"])
        sv = _opt_str(f"{where}.StringValue", attr.get("StringValue"))
        bv = attr.get("BinaryValue")
        if bv is not None:
            bv = to_blob(f"{where}.BinaryValue", bv)
        out[key] = (dt, sv, bv)
    return out


def _tags(name: str, value) -> dict:
    check_list(name, value)
    out = {}
    for i, tag in enumerate(value):
        _members(f"{name}[{i}]", tag, ("Key", "Value"), ("Key", "Value"))
        key = check_str(f"{name}[{i}].Key", tag["Key"])
        check_str(f"{name}[{i}].Value", tag["Value"])
        if key in out:
            raise invalid("Duplicated keys are not allowed.")
        out[key] = tag["Value"]
    return out


def _subscription_shape(sub) -> dict:
    return {"SubscriptionArn": "PendingConfirmation" if sub.pending else sub.arn, "Owner": sub.owner,
            "Protocol": sub.protocol, "Endpoint": sub.endpoint, "TopicArn": sub.topic.arn}


def _publish_result(m: Message) -> dict:
    out = {"MessageId": m.id}
    if m.seq is not None:
        out["SequenceNumber"] = m.seq
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
        check_str("Name", Name)
        attributes = dict(_str_map("Attributes", Attributes)) if Attributes is not None else {}
        if DataProtectionPolicy is not None:
            attributes["DataProtectionPolicy"] = check_str("DataProtectionPolicy", DataProtectionPolicy)
        tags = _tags("Tags", Tags) if Tags is not None else None
        return {"TopicArn": self._backend.create_topic(Name, attributes, tags).arn}

    def delete_topic(self, *, TopicArn):
        self._backend.delete_topic(check_str("TopicArn", TopicArn))
        return {}

    def list_topics(self, *, NextToken=None):
        topics, token = self._backend.list_topics(_opt_str("NextToken", NextToken))
        out = {"Topics": [{"TopicArn": t.arn} for t in topics]}
        if token:
            out["NextToken"] = token
        return out

    def get_topic_attributes(self, *, TopicArn):
        return {"Attributes": self._backend.get_topic(check_str("TopicArn", TopicArn)).get_attributes()}

    def set_topic_attributes(self, *, TopicArn, AttributeName, AttributeValue=None):
        topic = self._backend.get_topic(check_str("TopicArn", TopicArn))
        check_str("AttributeName", AttributeName)
        self._backend.set_topic_attribute(topic, AttributeName, _opt_str("AttributeValue", AttributeValue))
        return {}

    # --- subscriptions -----------------------------------------------------------------------------------
    def subscribe(self, *, TopicArn, Protocol, Endpoint=None, Attributes=None, ReturnSubscriptionArn=False):
        check_str("TopicArn", TopicArn)
        check_str("Protocol", Protocol)
        _opt_str("Endpoint", Endpoint)
        attributes = _str_map("Attributes", Attributes) if Attributes is not None else None
        check_bool("ReturnSubscriptionArn", ReturnSubscriptionArn)
        sub = self._backend.subscribe(TopicArn, Protocol, Endpoint, attributes)
        if sub.pending and not ReturnSubscriptionArn:
            return {"SubscriptionArn": "pending confirmation"}
        return {"SubscriptionArn": sub.arn}

    def confirm_subscription(self, *, TopicArn, Token, AuthenticateOnUnsubscribe=None):
        check_str("TopicArn", TopicArn)
        check_str("Token", Token)
        auth = _opt_str("AuthenticateOnUnsubscribe", AuthenticateOnUnsubscribe)
        sub = self._backend.confirm_subscription(TopicArn, Token, (auth or "").lower() == "true")
        return {"SubscriptionArn": sub.arn}

    def unsubscribe(self, *, SubscriptionArn):
        self._backend.unsubscribe(check_str("SubscriptionArn", SubscriptionArn))
        return {}

    def list_subscriptions(self, *, NextToken=None):
        subs, token = self._backend.list_subscriptions(None, _opt_str("NextToken", NextToken))
        out = {"Subscriptions": [_subscription_shape(s) for s in subs]}
        if token:
            out["NextToken"] = token
        return out

    def list_subscriptions_by_topic(self, *, TopicArn, NextToken=None):
        topic = self._backend.get_topic(check_str("TopicArn", TopicArn))
        subs, token = self._backend.list_subscriptions(topic, _opt_str("NextToken", NextToken))
        out = {"Subscriptions": [_subscription_shape(s) for s in subs]}
        if token:
            out["NextToken"] = token
        return out

    def get_subscription_attributes(self, *, SubscriptionArn):
        sub = self._backend.get_subscription(check_str("SubscriptionArn", SubscriptionArn))
        return {"Attributes": sub.get_attributes()}

    def set_subscription_attributes(self, *, SubscriptionArn, AttributeName, AttributeValue=None):
        sub = self._backend.get_subscription(check_str("SubscriptionArn", SubscriptionArn))
        check_str("AttributeName", AttributeName)
        self._backend.set_subscription_attribute(sub, AttributeName, _opt_str("AttributeValue", AttributeValue))
        return {}

    # --- publishing ------------------------------------------------------------------------------------------
    def publish(self, *, Message, TopicArn=None, TargetArn=None, PhoneNumber=None, Subject=None,
                MessageStructure=None, MessageAttributes=None, MessageDeduplicationId=None, MessageGroupId=None):
        check_str("Message", Message)
        _opt_str("TopicArn", TopicArn)
        _opt_str("TargetArn", TargetArn)
        _opt_str("PhoneNumber", PhoneNumber)
        _opt_str("Subject", Subject)
        _opt_str("MessageStructure", MessageStructure)
        _opt_str("MessageDeduplicationId", MessageDeduplicationId)
        _opt_str("MessageGroupId", MessageGroupId)
        attributes = _message_attributes("MessageAttributes", MessageAttributes)
        targets = [t for t in (TopicArn, TargetArn, PhoneNumber) if t is not None]
        if len(targets) > 1:
            raise invalid("TopicArn or TargetArn Reason: Only one of TopicArn, TargetArn or PhoneNumber may be "
                          "specified")
        if not targets:
            raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
        if PhoneNumber is not None:
            return _publish_result(self._backend.publish_sms(PhoneNumber, Message, Subject, attributes))
        arn = TopicArn if TopicArn is not None else TargetArn
        param = "TopicArn" if TopicArn is not None else "TargetArn"
        if param == "TargetArn" and ":endpoint/" in arn:
            raise invalid("TargetArn Reason: No endpoint found for the target arn specified")
        topic = self._backend.get_topic(arn, param)
        m = self._backend.publish(topic, Message, subject=Subject, attributes=attributes, structure=MessageStructure,
                                  group=MessageGroupId, dedup=MessageDeduplicationId)
        return _publish_result(m)

    def publish_batch(self, *, TopicArn, PublishBatchRequestEntries):
        topic = self._backend.get_topic(check_str("TopicArn", TopicArn))
        entries = PublishBatchRequestEntries
        check_list("PublishBatchRequestEntries", entries)
        if not entries:
            raise EmptyBatchRequest("The batch request doesn't contain any entries.")
        if len(entries) > limits.SNS_BATCH_MAX:
            raise TooManyEntriesInBatchRequest("The batch request contains more entries than permissible.")
        ids = []
        parsed = []
        for i, e in enumerate(entries):
            where = f"PublishBatchRequestEntries[{i}]"
            _members(where, e, _ENTRY_KEYS, ("Id", "Message"))
            eid = check_str(f"{where}.Id", e["Id"])
            check_str(f"{where}.Message", e["Message"])
            for key in ("Subject", "MessageStructure", "MessageDeduplicationId", "MessageGroupId"):
                _opt_str(f"{where}.{key}", e.get(key))
            parsed.append({"body": e["Message"], "subject": e.get("Subject"), "structure": e.get("MessageStructure"),
                           "group": e.get("MessageGroupId"), "dedup": e.get("MessageDeduplicationId"),
                           "attributes": _message_attributes(f"{where}.MessageAttributes",
                                                             e.get("MessageAttributes"))})
            ids.append(eid)
        if len(set(ids)) != len(ids):
            raise BatchEntryIdsNotDistinct("Two or more batch entries in the request have the same Id.")
        for eid in ids:
            if len(eid) > limits.SNS_BATCH_ID_MAX:
                raise InvalidBatchEntryId(f"The Id of a batch entry in the batch request is too long: {eid}")
            if not _BATCH_ID.fullmatch(eid):
                raise InvalidBatchEntryId(
                    f"The Id of a batch entry in the batch request contains an impermissible character: {eid}")
        results = self._backend.publish_batch(topic, parsed)
        successful = []
        failed = []
        for eid, result in zip(ids, results):
            if isinstance(result, ClientError):
                err = result.response["Error"]
                failed.append({"Id": eid, "Code": err["Code"], "Message": err["Message"],
                               "SenderFault": result.sender_fault})
            else:
                item = {"Id": eid, "MessageId": result.id}
                if result.seq is not None:
                    item["SequenceNumber"] = result.seq
                successful.append(item)
        return {"Successful": successful, "Failed": failed}

    # --- tags --------------------------------------------------------------------------------------------------
    def tag_resource(self, *, ResourceArn, Tags):
        check_str("ResourceArn", ResourceArn)
        self._backend.tag_resource(ResourceArn, _tags("Tags", Tags))
        return {}

    def untag_resource(self, *, ResourceArn, TagKeys):
        check_str("ResourceArn", ResourceArn)
        check_list("TagKeys", TagKeys)
        for i, key in enumerate(TagKeys):
            check_str(f"TagKeys[{i}]", key)
        self._backend.untag_resource(ResourceArn, list(TagKeys))
        return {}

    def list_tags_for_resource(self, *, ResourceArn):
        tags = self._backend.list_tags(check_str("ResourceArn", ResourceArn))
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


# botocore names its exceptions after the error shapes (NotFoundException, ...): alias them.
for _name, _cls in sns_errors.SHAPE_NAMES.items():
    setattr(SNSClient._exceptions_namespace, _name, _cls)
    SNSClient._exceptions_namespace._codes.setdefault(_cls.code, _cls)
del _name, _cls

__all__ = ["SNSClient"]

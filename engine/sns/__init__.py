"""Amazon SNS: standard and FIFO topics, subscriptions, filter policies and fan-out, mobile push
and SMS.

    eng = engine.Engine()
    sns = eng.client("sns")                         # boto3-shaped (engine.sns.client.SNSClient)
    backend = eng.backend("sns")                    # typed domain (engine.sns.models.SNSBackend)
    topic = backend.topics[arn]; topic.publish_many(bodies)   # native bulk publishing
    backend.mobile.create_application(name, "GCM", {...}); backend.sms.opt_out("+1555...")

models.py holds topics, subscriptions and publishing, filter.py the filter-policy language
(validated and compiled once per subscription), delivery.py the per-protocol delivery (SQS,
Lambda, HTTP/S, Firehose; email, email-json, sms and application into `engine.outbox`), errors.py
the AWS error codes and client.py the boto3 shapes; mobile.py the platform applications and
endpoints (and the payload each push service receives), sms.py the SMS settings, opt-out list and
sandbox; jsontext.py parses the JSON held in string
parameters as AWS does (iteratively, with its limits and messages) and slots.py keeps the
subscription and topic lists whose every change is O(1), and the list pages' NextTokens.
"""
from .mobile import PlatformApplication, PlatformEndpoint
from .models import Message, PublishEntry, SNSBackend, Subscription, Topic

__all__ = ["SNSBackend", "Topic", "Subscription", "Message", "PublishEntry", "PlatformApplication",
           "PlatformEndpoint"]

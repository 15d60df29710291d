"""SMS: account settings, publish(PhoneNumber=...) into the outbox, the opt-out list (a number that
opted out gets nothing, and can be opted in once every 30 days), the SMS sandbox and its verified
numbers, origination numbers."""
import json

import pytest

from engine import ClientError

NUMBER = "+15555550100"


def error(exc_info):
    return exc_info.value.response["Error"]


def test_sms_attributes(sns, shape):
    got = sns.get_sms_attributes()
    shape("sns", "GetSMSAttributes", got)
    assert got["attributes"] == {"MonthlySpendLimit": "1"}
    sns.set_sms_attributes(attributes={"DefaultSMSType": "Transactional", "DefaultSenderID": "Acme1",
                                       "DeliveryStatusSuccessSamplingRate": "10",
                                       "DeliveryStatusIAMRole": "arn:aws:iam::000000000000:role/sms",
                                       "UsageReportS3Bucket": "sms-reports", "MonthlySpendLimit": "20"})
    assert sns.get_sms_attributes(attributes=["DefaultSMSType", "MonthlySpendLimit", "Unset"])["attributes"] == {
        "DefaultSMSType": "Transactional", "MonthlySpendLimit": "20"}


@pytest.mark.parametrize("name,value,message", [
    ("DefaultSMSType", "Urgent", "Invalid parameter: DefaultSMSType Reason: must be Promotional or Transactional"),
    ("DefaultSenderID", "123456", "Invalid parameter: DefaultSenderID Reason: 1 to 11 alphanumeric characters, "
                                  "at least one a letter"),
    ("DefaultSenderID", "TwelveLetter", "Invalid parameter: DefaultSenderID Reason: 1 to 11 alphanumeric "
                                        "characters, at least one a letter"),
    ("DeliveryStatusSuccessSamplingRate", "101", "Invalid parameter: DeliveryStatusSuccessSamplingRate Reason: "
                                                 "must be an integer from 0 to 100"),
    ("MonthlySpendLimit", "-1", "Invalid parameter: MonthlySpendLimit Reason: must be a whole number of US dollars"),
    ("Colour", "blue", "Invalid parameter: Colour is not a valid attribute"),
])
def test_sms_attribute_values_refused(sns, name, value, message):
    with pytest.raises(ClientError) as e:
        sns.set_sms_attributes(attributes={"DefaultSMSType": "Promotional", name: value})
    assert error(e) == {"Code": "InvalidParameter", "Message": message, "Type": "Sender"}
    assert "DefaultSMSType" not in sns.get_sms_attributes()["attributes"]   # nothing applied


def test_publish_to_a_phone_number(sns, eng, shape):
    r = sns.publish(PhoneNumber=NUMBER, Message="your code is 1234", Subject="ignored by phones",
                    MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}})
    shape("sns", "Publish", r)
    [entry] = eng.outbox
    assert entry["Protocol"] == "sms" and entry["Endpoint"] == NUMBER and entry["Body"] == "your code is 1234"
    assert entry["MessageId"] == r["MessageId"]
    assert entry["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["Value"] == "Transactional"
    assert entry["SMSType"] == "Transactional" and entry["SenderID"] is None
    sns.publish(PhoneNumber=NUMBER, Message=json.dumps({"default": "d", "sms": "for phones"}),
                MessageStructure="json")
    assert eng.outbox[-1]["Body"] == "for phones" and eng.outbox[-1]["SMSType"] == "Promotional"
    # the account's defaults, unless the message says otherwise
    sns.set_sms_attributes(attributes={"DefaultSenderID": "Acme", "DefaultSMSType": "Transactional"})
    sns.publish(PhoneNumber=NUMBER, Message="a")
    sns.publish(PhoneNumber=NUMBER, Message="b", MessageAttributes={
        "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "Shop"}})
    assert [(e["SenderID"], e["SMSType"]) for e in eng.outbox[-2:]] == [("Acme", "Transactional"),
                                                                        ("Shop", "Transactional")]


@pytest.mark.parametrize("number", ["+0123456789", "+1555555010012345", "call me"])
def test_publish_refuses_numbers_not_in_e164(sns, eng, number):
    with pytest.raises(ClientError) as e:
        sns.publish(PhoneNumber=number, Message="x")
    assert error(e)["Message"] == f"Invalid parameter: PhoneNumber Reason: {number} is not valid to publish to"
    assert eng.outbox == []


def test_publish_refuses_two_targets_and_none(sns):
    with pytest.raises(ClientError) as e:
        sns.publish(PhoneNumber=NUMBER, TopicArn="arn:aws:sns:us-east-1:000000000000:t", Message="x")
    assert "Only one of TopicArn, TargetArn or PhoneNumber may be specified" in error(e)["Message"]
    with pytest.raises(ClientError) as e:
        sns.publish(Message="x")
    assert error(e)["Message"] == "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"


def test_opted_out_numbers_get_nothing_until_opted_in(sns, eng, backend, clock, shape):
    backend.sms.opt_out(NUMBER)   # the recipient replied STOP
    got = sns.check_if_phone_number_is_opted_out(phoneNumber=NUMBER)
    shape("sns", "CheckIfPhoneNumberIsOptedOut", got)
    assert got["isOptedOut"] is True
    listed = sns.list_phone_numbers_opted_out()
    shape("sns", "ListPhoneNumbersOptedOut", listed)
    assert listed["phoneNumbers"] == [NUMBER]
    mid = sns.publish(PhoneNumber=NUMBER, Message="sale!")["MessageId"]   # accepted, not delivered
    assert eng.outbox == []
    [failure] = backend.failures
    assert failure["MessageId"] == mid and failure["ErrorCode"] == "OptedOut"
    # topic subscriptions are held back the same way
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint=NUMBER)
    sns.publish(TopicArn=topic, Message="also not")
    assert eng.outbox == [] and len(backend.failures) == 2
    sns.opt_in_phone_number(phoneNumber=NUMBER)
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=NUMBER)["isOptedOut"] is False
    sns.publish(PhoneNumber=NUMBER, Message="welcome back")
    assert [e["Body"] for e in eng.outbox] == ["welcome back"]
    # a number can be opted in once every 30 days
    backend.sms.opt_out(NUMBER)
    with pytest.raises(ClientError) as e:
        sns.opt_in_phone_number(phoneNumber=NUMBER)
    assert error(e)["Code"] == "InvalidParameter"
    clock.advance(30 * 24 * 3600)
    sns.opt_in_phone_number(phoneNumber=NUMBER)
    assert sns.list_phone_numbers_opted_out()["phoneNumbers"] == []


def test_opt_out_list_pages(sns, backend):
    numbers = [f"+1555555{i:04d}" for i in range(150)]
    for n in numbers:
        backend.sms.opt_out(n)
    first = sns.list_phone_numbers_opted_out()
    assert len(first["phoneNumbers"]) == 100
    second = sns.list_phone_numbers_opted_out(nextToken=first["nextToken"])
    assert first["phoneNumbers"] + second["phoneNumbers"] == numbers and "nextToken" not in second
    paged = [n for page in sns.get_paginator("list_phone_numbers_opted_out").paginate() for n in page["phoneNumbers"]]
    assert paged == numbers


@pytest.mark.parametrize("call", ["check_if_phone_number_is_opted_out", "opt_in_phone_number"])
def test_opt_out_calls_refuse_malformed_numbers(sns, call):
    with pytest.raises(ClientError) as e:
        getattr(sns, call)(phoneNumber="12ab")
    assert error(e)["Message"] == "Invalid parameter: PhoneNumber Reason: input incorrectly formatted"


def test_sandbox_numbers_verify_with_the_texted_password(sns, eng, backend, shape):
    status = sns.get_sms_sandbox_account_status()
    shape("sns", "GetSMSSandboxAccountStatus", status)
    assert status["IsInSandbox"] is False
    backend.sms.in_sandbox = True
    assert sns.get_sms_sandbox_account_status()["IsInSandbox"] is True
    sns.publish(PhoneNumber=NUMBER, Message="held back")   # not verified: accepted, not delivered
    assert eng.outbox == [] and backend.failures[0]["ErrorCode"] == "Unverified"

    shape("sns", "CreateSMSSandboxPhoneNumber", sns.create_sms_sandbox_phone_number(PhoneNumber=NUMBER,
                                                                                     LanguageCode="de-DE"))
    [text] = eng.outbox
    otp = text["OneTimePassword"]
    assert text["Type"] == "SandboxVerification" and otp in text["Body"] and len(otp) == 6
    listed = sns.list_sms_sandbox_phone_numbers()
    shape("sns", "ListSMSSandboxPhoneNumbers", listed)
    assert listed["PhoneNumbers"] == [{"PhoneNumber": NUMBER, "Status": "Pending"}]
    wrong = "000000" if otp != "000000" else "111111"
    with pytest.raises(sns.exceptions.VerificationException) as e:
        sns.verify_sms_sandbox_phone_number(PhoneNumber=NUMBER, OneTimePassword=wrong)
    assert error(e)["Status"] == "Pending"
    sns.verify_sms_sandbox_phone_number(PhoneNumber=NUMBER, OneTimePassword=otp)
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"][0]["Status"] == "Verified"
    sns.publish(PhoneNumber=NUMBER, Message="now delivered")
    assert eng.outbox[-1]["Body"] == "now delivered"
    sns.delete_sms_sandbox_phone_number(PhoneNumber=NUMBER)
    with pytest.raises(sns.exceptions.ResourceNotFoundException):
        sns.delete_sms_sandbox_phone_number(PhoneNumber=NUMBER)
    with pytest.raises(sns.exceptions.ResourceNotFoundException):
        sns.verify_sms_sandbox_phone_number(PhoneNumber=NUMBER, OneTimePassword=otp)


def test_sandbox_password_expires(sns, eng, clock):
    sns.create_sms_sandbox_phone_number(PhoneNumber=NUMBER)
    otp_before = eng.outbox[-1]["OneTimePassword"]
    clock.advance(24 * 3600)
    with pytest.raises(sns.exceptions.VerificationException):
        sns.verify_sms_sandbox_phone_number(PhoneNumber=NUMBER, OneTimePassword=otp_before)
    sns.create_sms_sandbox_phone_number(PhoneNumber=NUMBER)   # a new password
    sns.verify_sms_sandbox_phone_number(PhoneNumber=NUMBER, OneTimePassword=eng.outbox[-1]["OneTimePassword"])


def test_sandbox_rules(sns, backend):
    for number, code in [("5555550100", "InvalidParameter"), ("+1555", "InvalidParameter")]:
        with pytest.raises(ClientError) as e:
            sns.create_sms_sandbox_phone_number(PhoneNumber=number)
        assert error(e)["Code"] == code
    with pytest.raises(ClientError) as e:
        sns.create_sms_sandbox_phone_number(PhoneNumber=NUMBER, LanguageCode="xx-XX")
    assert error(e)["Message"].startswith("Invalid parameter: LanguageCode Reason: must be one of en-US")
    backend.sms.opt_out(NUMBER)
    with pytest.raises(sns.exceptions.OptedOutException):
        sns.create_sms_sandbox_phone_number(PhoneNumber=NUMBER)
    for i in range(10):
        sns.create_sms_sandbox_phone_number(PhoneNumber=f"+1555555{i:04d}")
    with pytest.raises(sns.exceptions.UserErrorException):
        sns.create_sms_sandbox_phone_number(PhoneNumber="+15555559999")
    page = sns.list_sms_sandbox_phone_numbers(MaxResults=4)
    assert len(page["PhoneNumbers"]) == 4 and "NextToken" in page
    with pytest.raises(ClientError) as e:
        sns.list_sms_sandbox_phone_numbers(MaxResults=101)
    assert error(e)["Code"] == "InvalidParameter"


def test_origination_numbers(sns, shape):
    got = sns.list_origination_numbers(MaxResults=30)
    shape("sns", "ListOriginationNumbers", got)
    assert got["PhoneNumbers"] == []
    with pytest.raises(ClientError) as e:
        sns.list_origination_numbers(MaxResults=31)
    assert error(e)["Code"] == "InvalidParameter"

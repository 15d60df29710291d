"""SNS text messaging: account SMS settings, the opt-out list, the SMS sandbox and its verified
destination numbers. No phone network is reachable from here: a text lands in `engine.outbox`.

As in AWS, a publish to a number that opted out (a recipient who replied STOP; `opt_out` stands in
for that reply) or, while the account is in the SMS sandbox, to a number not verified there, is
accepted and delivers nothing: the suppressed delivery is recorded in the backend's `failures`.
The engine's account starts outside the sandbox (`in_sandbox = True` puts it in).
"""
from __future__ import annotations

import re
import secrets
import threading

from .. import limits
from ..arn import parse_arn
from . import native
from .errors import InvalidParameter, OptedOut, ResourceNotFound, UserError, VerificationException, invalid
from .slots import Slots, page_key, page_token

E164 = re.compile(r"\+?[1-9]\d{1,14}")
SMS_TYPES = ("Promotional", "Transactional")
DEFAULT_SMS_TYPE = "Promotional"
SMS_ATTRIBUTES = ("MonthlySpendLimit", "DeliveryStatusIAMRole", "DeliveryStatusSuccessSamplingRate", "DefaultSenderID",
                  "DefaultSMSType", "UsageReportS3Bucket")
LANGUAGE_CODES = ("en-US", "en-GB", "es-419", "es-ES", "de-DE", "fr-CA", "fr-FR", "it-IT", "ja-JP", "pt-BR", "kr-KR",
                  "zh-CN", "zh-TW")
_SANDBOX_NUMBER = re.compile(r"\+[0-9]{8,}|[0-9]{0,9}")   # botocore's PhoneNumberString
_SANDBOX_NUMBER_MAX = 20
_OTP = re.compile(r"[0-9]+")
_SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9]{1,%d}" % limits.SNS_SMS_SENDER_ID_MAX)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
OPTED_OUT_MESSAGE = "Phone number is opted out"
UNVERIFIED_MESSAGE = "The account is in the SMS sandbox and the phone number is not a verified destination"


def check_e164(number: str) -> None:
    """The numbers the opt-out calls take: E.164."""
    if not E164.fullmatch(native.text("PhoneNumber", number)):
        raise invalid("PhoneNumber Reason: input incorrectly formatted")


def _check_sandbox_number(number: str) -> None:
    native.text("PhoneNumber", number)
    if len(number) > _SANDBOX_NUMBER_MAX or not _SANDBOX_NUMBER.fullmatch(number) or not E164.fullmatch(number):
        raise invalid("PhoneNumber Reason: input incorrectly formatted")


def _check_attribute(name: str, value: str) -> str:
    if name not in SMS_ATTRIBUTES:
        raise invalid(f"{name} is not a valid attribute")
    if name == "MonthlySpendLimit":
        if not (value.isascii() and value.isdigit()):
            raise invalid("MonthlySpendLimit Reason: must be a whole number of US dollars")
    elif name == "DeliveryStatusSuccessSamplingRate":
        if not (value.isascii() and value.isdigit() and len(value) <= 3 and int(value) <= limits.SNS_SAMPLE_RATE_MAX):
            raise invalid("DeliveryStatusSuccessSamplingRate Reason: must be an integer from 0 to 100")
    elif name == "DefaultSenderID":
        if not _SENDER_ID.fullmatch(value):
            raise invalid("DefaultSenderID Reason: 1 to 11 alphanumeric characters, at least one a letter")
    elif name == "DefaultSMSType":
        if value not in SMS_TYPES:
            raise invalid("DefaultSMSType Reason: must be Promotional or Transactional")
    elif name == "DeliveryStatusIAMRole":
        info = parse_arn(value)
        if info is None or info["service"] != "iam":
            raise invalid("DeliveryStatusIAMRole Reason: must be an IAM role ARN")
    elif name == "UsageReportS3Bucket":
        if not _BUCKET.fullmatch(value) or ".." in value:
            raise invalid("UsageReportS3Bucket Reason: not a valid bucket name")
    return value


class _SandboxNumber:
    __slots__ = ("number", "language", "verified", "otp", "otp_expires", "key", "number_slot")

    def __init__(self, number: str, language: str, key: int):
        self.number = number
        self.language = language
        self.verified = False
        self.otp = ""
        self.otp_expires = 0.0
        self.key = key
        self.number_slot = None

    @property
    def status(self) -> str:
        return "Verified" if self.verified else "Pending"


class TextMessaging:
    """SMS settings, opt-outs and the sandbox of one account in one region."""

    def __init__(self, backend):
        self.backend = backend
        self.clock = backend.clock
        self._lock = threading.Lock()
        self.attributes: dict[str, str] = {"MonthlySpendLimit": str(limits.SNS_SMS_MONTHLY_SPEND_DEFAULT)}
        self.in_sandbox = False
        self._opted_out: dict[str, _OptOut] = {}
        self._opted_out_roster = Slots("number_slot")
        self._opted_in_at: dict[str, float] = {}   # number -> when it was last opted back in
        self._sandbox: dict[str, _SandboxNumber] = {}
        self._sandbox_roster = Slots("number_slot")

    # --- settings ------------------------------------------------------------------------------
    def set_attributes(self, attributes: dict) -> None:
        checked = {name: _check_attribute(name, value)
                   for name, value in native.text_map("attributes", attributes).items()}
        with self._lock:
            self.attributes.update(checked)

    def get_attributes(self, names: list | None = None) -> dict:
        if names is not None:
            names = native.text_list("attributes", names)
        with self._lock:
            if not names:
                return dict(self.attributes)
            return {n: self.attributes[n] for n in names if n in self.attributes}

    # --- opt-outs ------------------------------------------------------------------------------
    def opt_out(self, number: str) -> None:
        """The recipient replied STOP: this number gets no more texts from the account."""
        check_e164(number)
        with self._lock:
            if number not in self._opted_out:
                entry = _OptOut(number, next(self.backend.keys))
                self._opted_out[number] = entry
                self._opted_out_roster.append(entry, entry.key)

    def is_opted_out(self, number: str) -> bool:
        check_e164(number)
        return number in self._opted_out

    def list_opted_out(self, next_token: str | None) -> tuple[list[str], str | None]:
        with self._lock:
            page, last = self._opted_out_roster.page(page_key(native.optional_text("nextToken", next_token)),
                                                     limits.SNS_LIST_PAGE)
        return [e.number for e in page], page_token(last) if last is not None else None

    def opt_in(self, number: str) -> None:
        """Back in: allowed once every 30 days per number."""
        check_e164(number)
        now = self.clock.now()
        with self._lock:
            last = self._opted_in_at.get(number)
            if last is not None and now - last < limits.SNS_SMS_OPT_IN_INTERVAL_S:
                raise InvalidParameter("Invalid parameter: PhoneNumber Reason: a phone number can be opted in only "
                                       "once every 30 days")
            entry = self._opted_out.pop(number, None)
            if entry is not None:
                self._opted_out_roster.remove(entry)
                self._opted_in_at[number] = now

    # --- sandbox -------------------------------------------------------------------------------
    def create_sandbox_number(self, number: str, language: str = "en-US") -> str:
        """Add a destination number (Pending) and text it a one-time password; returns the password."""
        _check_sandbox_number(number)
        if native.text("LanguageCode", language) not in LANGUAGE_CODES:
            raise invalid(f"LanguageCode Reason: must be one of {', '.join(LANGUAGE_CODES)}")
        if number in self._opted_out:
            raise OptedOut("Phone number is opted out")
        now = self.clock.now()
        otp = f"{secrets.randbelow(10 ** limits.SNS_SMS_OTP_DIGITS):0{limits.SNS_SMS_OTP_DIGITS}d}"
        with self._lock:
            entry = self._sandbox.get(number)
            if entry is None:
                if len(self._sandbox) >= limits.SNS_SMS_SANDBOX_NUMBERS_MAX:
                    raise UserError(f"An account in the SMS sandbox can verify at most "
                                    f"{limits.SNS_SMS_SANDBOX_NUMBERS_MAX} destination phone numbers")
                entry = _SandboxNumber(number, language, next(self.backend.keys))
                self._sandbox[number] = entry
                self._sandbox_roster.append(entry, entry.key)
            entry.language = language
            entry.otp = otp
            entry.otp_expires = now + limits.SNS_SMS_OTP_TTL_S
        self.backend.text(number, f"Your Amazon SNS verification code is: {otp}", kind="SandboxVerification",
                          OneTimePassword=otp)
        return otp

    def verify_sandbox_number(self, number: str, otp: str) -> None:
        _check_sandbox_number(number)
        if not _OTP.fullmatch(native.text("OneTimePassword", otp)):
            raise invalid("OneTimePassword Reason: must be digits")
        with self._lock:
            entry = self._sandbox.get(number)
            if entry is None:
                raise ResourceNotFound("Phone number does not exist in the SMS sandbox")
            if entry.verified:
                return
            if not entry.otp or entry.otp != otp or entry.otp_expires <= self.clock.now():
                raise VerificationException("Invalid one-time password", Status=entry.status)
            entry.verified = True
            entry.otp = ""

    def delete_sandbox_number(self, number: str) -> None:
        _check_sandbox_number(number)
        with self._lock:
            entry = self._sandbox.pop(number, None)
            if entry is None:
                raise ResourceNotFound("Phone number does not exist in the SMS sandbox")
            self._sandbox_roster.remove(entry)

    def list_sandbox_numbers(self, next_token: str | None, max_results: int | None) -> tuple[list, str | None]:
        """[(number, status)] in the order they were added."""
        native.optional_text("NextToken", next_token)
        native.optional_count("MaxResults", max_results)
        count = limits.SNS_LIST_PAGE if max_results is None else max_results
        if not 1 <= count <= limits.SNS_LIST_PAGE:
            raise invalid(f"MaxResults Reason: must be between 1 and {limits.SNS_LIST_PAGE}")
        with self._lock:
            page, last = self._sandbox_roster.page(page_key(next_token), count)
        return [(e.number, e.status) for e in page], page_token(last) if last is not None else None

    def list_origination_numbers(self, next_token: str | None, max_results: int | None) -> tuple[list, str | None]:
        """The account's dedicated origination numbers: none (texts go to the outbox, from no number)."""
        native.optional_text("NextToken", next_token)
        if native.optional_count("MaxResults", max_results) is not None and \
                not 1 <= max_results <= limits.SNS_ORIGINATION_NUMBERS_PAGE_MAX:
            raise invalid(f"MaxResults Reason: must be between 1 and {limits.SNS_ORIGINATION_NUMBERS_PAGE_MAX}")
        page_key(next_token)   # a token this service did not write is refused
        return [], None

    # --- delivery ------------------------------------------------------------------------------
    def refusal(self, number: str) -> tuple[str, str] | None:
        """Why a text to this number is suppressed (code, message), or None when it goes out."""
        if number in self._opted_out:
            return "OptedOut", OPTED_OUT_MESSAGE
        if self.in_sandbox:
            entry = self._sandbox.get(number)
            if entry is None or not entry.verified:
                return "Unverified", UNVERIFIED_MESSAGE
        return None

    def sending_options(self, attrs: dict) -> dict:
        """What the carrier is told of a text: its sender id and SMS type, from the message's
        AWS.SNS.SMS.* attributes, else the account's defaults."""
        def given(name):
            value = attrs.get(name, (None, None))[1]
            return value if isinstance(value, str) else None

        return {"SenderID": given("AWS.SNS.SMS.SenderID") or self.attributes.get("DefaultSenderID"),
                "SMSType": given("AWS.SNS.SMS.SMSType") or self.attributes.get("DefaultSMSType", DEFAULT_SMS_TYPE)}


class _OptOut:
    __slots__ = ("number", "key", "number_slot")

    def __init__(self, number: str, key: int):
        self.number = number
        self.key = key
        self.number_slot = None


__all__ = ["TextMessaging", "E164", "check_e164", "SMS_ATTRIBUTES"]

"""SMS backends: how a message leaves the building.

`ConsoleBackend` sends nothing (development, tests); `TwilioBackend` calls Twilio's REST API
through the official `twilio` library. Every provider failure becomes a `SendError` that says
whether trying again later may help (`TransientSendError`) or not (`PermanentSendError`); the
dispatcher decides what to do with it. The twilio client never retries by itself.

No PHI and no secrets in logs: never the message body, never a full phone number (last four
digits at most), never the auth token. This module is the only one that imports `twilio` for
sending.
"""
from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, Mapping, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger("telehealth.messaging.backends")
console_log = logging.getLogger("telehealth.messaging.console")

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SendResult:
    sid: str
    provider_status: str  # what the provider's create() answered, e.g. "queued" or "accepted"


class SendError(Exception):
    """The provider did not take the message. `message` is safe to store: phone numbers are masked."""

    transient: bool = False

    def __init__(self, message: str, *, code: int | None = None, transient: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        if transient is not None:
            self.transient = transient

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class TransientSendError(SendError):
    """Worth trying again later: rate limited, provider error, network trouble, timeout."""

    transient = True

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message, code=code, transient=True)


class PermanentSendError(SendError):
    """Trying again will not help: invalid number, opted out, not a mobile number, ..."""

    transient = False

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message, code=code, transient=False)


class SmsBackend(Protocol):
    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult: ...


def last4(phone: str) -> str:
    """The only part of a phone number that may appear in logs."""
    digits = re.sub(r"\D", "", phone or "")
    return "***" + digits[-4:] if digits else "***"


_PHONE_LIKE = re.compile(r"\+?\d[\d ().-]{5,}\d")


def _mask_phone_numbers(text: str) -> str:
    """Provider error messages quote the number ("The 'To' number +1555... is not valid")."""
    return _PHONE_LIKE.sub(lambda match: last4(match.group()), text)


class ConsoleBackend:
    """Sends nothing; logs one line (last four digits and length only) and invents a SID."""

    def __init__(self, clinic_sender: str = "console") -> None:
        self.clinic_sender = clinic_sender

    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult:
        sid = "CONSOLE" + uuid.uuid4().hex
        console_log.info("console SMS from %s to %s, %d characters, sid %s",
                         self.clinic_sender, last4(to), len(body), sid)
        return SendResult(sid=sid, provider_status="sent")


class _TwilioHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with a timeout, no retries, and optionally another API base.

    The SDK builds every URL as https://api.twilio.com/...; with `api_base` (e.g. a fake server on
    loopback) the scheme and host are replaced and the path and query kept.
    """

    def __init__(self, *, timeout: float, api_base: str | None = None) -> None:
        # max_retries=0 is requests' own default, said out loud (the SDK would otherwise mount
        # an adapter sized from os.cpu_count(), which may be None).
        super().__init__(timeout=timeout, max_retries=0)
        self.api_base = None
        if api_base:
            base = urlsplit(api_base)
            if base.scheme not in ("http", "https") or not base.netloc:
                raise ValueError("TWILIO_API_BASE must look like http(s)://host[:port]")
            self.api_base = base

    def rebase(self, url: str) -> str:
        if self.api_base is None:
            return url
        parts = urlsplit(url)
        path = self.api_base.path.rstrip("/") + parts.path
        return urlunsplit((self.api_base.scheme, self.api_base.netloc, path, parts.query, parts.fragment))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):  # noqa: ANN201
        try:
            return super().request(method, self.rebase(url), *args, **kwargs)
        finally:
            # The SDK keeps the last request (auth and form: the token and the body) and response
            # (which echoes body and number) on the client for its own tests; do not keep them.
            self._test_only_last_request = self._test_only_last_response = None


_TRANSIENT_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,  # refused, reset, DNS, connect timeout
    requests.exceptions.Timeout,  # read timeout
    requests.exceptions.ChunkedEncodingError,  # connection dropped mid-answer
)


def _is_transient_status(status: int | None) -> bool:
    return status is not None and (status == 429 or status >= 500)


class TwilioBackend:
    def __init__(self, account_sid: str, auth_token: str, *, messaging_service_sid: str | None = None,
                 from_number: str | None = None, api_base: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        if not account_sid or not auth_token:
            raise ValueError("TwilioBackend needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        if not (messaging_service_sid or from_number):
            raise ValueError("TwilioBackend needs TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER")
        self.account_sid = account_sid
        self.messaging_service_sid = messaging_service_sid or None
        self.from_number = from_number or None
        self.timeout = float(timeout)
        self.http_client = _TwilioHttpClient(timeout=self.timeout, api_base=api_base)
        self.client = Client(account_sid, auth_token, http_client=self.http_client)

    def __repr__(self) -> str:
        return f"<TwilioBackend {self.account_sid}>"

    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult:
        params: dict[str, Any] = {"to": to, "body": body}
        if status_callback:
            params["status_callback"] = status_callback
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_number
        try:
            message = self.client.messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise self._provider_error(exc, to) from None
        except _TRANSIENT_NETWORK_ERRORS as exc:
            log.warning("Twilio unreachable sending to %s: %s", last4(to), type(exc).__name__)
            raise TransientSendError(f"Twilio unreachable: {type(exc).__name__}") from None
        except TwilioException as exc:
            log.warning("Twilio client error sending to %s: %s", last4(to), type(exc).__name__)
            raise TransientSendError(f"Twilio client error: {_mask_phone_numbers(str(exc))}") from None
        return SendResult(sid=message.sid, provider_status=message.status)

    def _provider_error(self, exc: TwilioRestException | TwilioServiceException, to: str) -> SendError:
        status = getattr(exc, "status", None)
        code = exc.code if isinstance(exc.code, int) else None
        if isinstance(exc, TwilioServiceException):
            text = exc.title + (f": {exc.detail}" if exc.detail else "")
        else:
            text = exc.msg
        text = _mask_phone_numbers(f"HTTP {status}: {text}")
        log.warning("Twilio refused a message to %s: HTTP %s, code %s", last4(to), status, code)
        if _is_transient_status(status):
            return TransientSendError(text, code=code)
        return PermanentSendError(text, code=code)


def backend_from_config(config: Mapping[str, Any]) -> SmsBackend:
    kind = config.get("SMS_BACKEND")
    if kind == "console":
        return ConsoleBackend()
    if kind == "twilio":
        timeout = config.get("TWILIO_HTTP_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
        return TwilioBackend(
            config.get("TWILIO_ACCOUNT_SID"),
            config.get("TWILIO_AUTH_TOKEN"),
            messaging_service_sid=config.get("TWILIO_MESSAGING_SERVICE_SID"),
            from_number=config.get("TWILIO_FROM_NUMBER"),
            api_base=config.get("TWILIO_API_BASE"),
            timeout=DEFAULT_TIMEOUT_SECONDS if timeout is None else float(timeout),
        )
    raise ValueError(f"unknown SMS_BACKEND {kind!r} (expected 'console' or 'twilio')")

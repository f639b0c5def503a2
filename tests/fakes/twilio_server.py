"""A fake Twilio REST API on loopback, for tests that drive the real `twilio` library over HTTP.

Only the stdlib: a `ThreadingHTTPServer` in a daemon thread on a free port. It serves
`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded, as the SDK sends), checks
HTTP Basic auth, records every request, and answers each one as planned:

    with FakeTwilio() as fake:                       # or use the `fake_twilio` fixture
        backend = TwilioBackend(fake.account_sid, fake.auth_token, from_number="+15005550006",
                                api_base=fake.base_url)
        fake.plan(Reply.error(429, 20429), Reply.success())
        ...
        fake.requests   # every request that reached the endpoint (even refused ones)
        fake.sent       # those the fake accepted (201), whether or not the client saw the answer

Planned replies are consumed in order; when none is left the fake succeeds, or, with
`fail_ratio`, fails that fraction at random (500 or 429) from a seeded `random.Random`.
Credentials are synthetic: never put real ones here.
"""
from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-auth-token"

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account_sid>[^/]+)/Messages\.json$")
FIELDS = ("To", "From", "MessagingServiceSid", "Body", "StatusCallback")

ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable using the 'From' phone number via SMS.",
    21614: "'To' number is not a valid mobile number",
}


@dataclass(frozen=True)
class Reply:
    """One planned answer. Build with the class methods."""

    status: int = 201
    code: int | None = None
    message: str | None = None
    delay: float = 0.0
    message_status: str = "queued"
    disconnect: bool = False

    @classmethod
    def success(cls, *, status: str = "queued", delay: float = 0.0) -> Reply:
        """201 with a message resource whose status is `status` ("queued", "accepted", ...)."""
        return cls(message_status=status, delay=delay)

    @classmethod
    def error(cls, status: int, code: int, message: str | None = None, *, delay: float = 0.0) -> Reply:
        """`status` with Twilio's error JSON {"code", "message", "more_info", "status"}."""
        return cls(status=status, code=code, message=message, delay=delay)

    @classmethod
    def slow(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait `seconds` before answering `then` (success by default): triggers client timeouts."""
        then = then or cls.success()
        return cls(status=then.status, code=then.code, message=then.message, delay=seconds,
                   message_status=then.message_status, disconnect=then.disconnect)

    @classmethod
    def hang_up(cls) -> Reply:
        """Close the connection without answering (the client sees a connection error)."""
        return cls(status=0, disconnect=True)

    @property
    def accepted(self) -> bool:
        return not self.disconnect and 200 <= self.status < 300


@dataclass
class _State:
    account_sid: str
    auth_token: str
    fail_ratio: float
    rng: random.Random
    lock: threading.Lock = field(default_factory=threading.Lock)
    planned: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def next_reply(self) -> Reply:
        """Under the lock."""
        if self.planned:
            return self.planned.pop(0)
        if self.fail_ratio and self.rng.random() < self.fail_ratio:
            return self.rng.choice([Reply.error(500, 20500), Reply.error(429, 20429)])
        return Reply.success()


def _error_body(status: int, code: int, message: str | None = None) -> dict[str, Any]:
    return {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _message_resource(account_sid: str, sid: str, form: dict[str, str], status: str) -> dict[str, Any]:
    now = formatdate(time.time())  # RFC 2822, as Twilio's 2010 API writes dates
    uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}"
    body = form.get("Body", "")
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": str(1 if len(body) <= 160 else -(-len(body) // 153)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": form.get("To"),
        "uri": f"{uri}.json",
    }


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTwilio/1.0"
    timeout = 30  # idle keep-alive connections do not hold a thread forever
    wbufsize = -1  # headers and body leave in one write (else Nagle + delayed ACK: ~40 ms a request)
    disable_nagle_algorithm = True
    state: _State  # set on the subclass FakeTwilio builds

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client gave up (timeout) and closed its end
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        self._answer(405, _error_body(405, 20004, "Method not allowed"))

    def do_POST(self) -> None:  # noqa: N802
        state = self.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        path = urlsplit(self.path).path
        match = MESSAGES_PATH.match(path)
        if match is None:
            self._answer(404, _error_body(404, 20404))
            return
        credentials = _basic_auth(self.headers.get("Authorization"))
        parsed = parse_qs(raw, keep_blank_values=True)
        form = {key: values[0] for key, values in parsed.items()}
        record: dict[str, Any] = {field_name: form.get(field_name) for field_name in FIELDS}
        record.update(account_sid=match["account_sid"], auth_user=credentials[0] if credentials else None,
                      form=parsed, content_type=self.headers.get("Content-Type"), sid=None)

        if credentials != (state.account_sid, state.auth_token):
            reply = Reply.error(401, 20003)
        elif match["account_sid"] != state.account_sid:
            reply = Reply.error(404, 20404)
        elif not form.get("To"):
            reply = Reply.error(400, 21604)
        elif not (form.get("From") or form.get("MessagingServiceSid")):
            reply = Reply.error(400, 21603)
        elif not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            reply = Reply.error(400, 21602)
        else:
            with state.lock:
                reply = state.next_reply()
        record["response_status"] = None if reply.disconnect else reply.status
        if reply.accepted:
            record["sid"] = "SM" + uuid.uuid4().hex
        with state.lock:
            state.requests.append(record)

        if reply.delay and state.stopping.wait(reply.delay):
            self.close_connection = True  # the fake is shutting down: nobody is waiting any more
            return
        if reply.disconnect:
            self.close_connection = True
            return
        if reply.accepted:
            self._answer(reply.status, _message_resource(state.account_sid, record["sid"], form,
                                                         reply.message_status))
        else:
            self._answer(reply.status, _error_body(reply.status, reply.code or reply.status, reply.message))


class FakeTwilio:
    """A fake Twilio REST API. Start with `start()` or `with FakeTwilio(...) as fake:`."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, *,
                 fail_ratio: float = 0.0, seed: int | None = None, host: str = "127.0.0.1") -> None:
        if not 0.0 <= fail_ratio <= 1.0:
            raise ValueError("fail_ratio must be between 0 and 1")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self._state = _State(account_sid, auth_token, fail_ratio, random.Random(seed))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> FakeTwilio:
        if self._server is not None:
            return self
        handler = type("FakeTwilioHandler", (_Handler,), {"state": self._state})
        self._state.stopping.clear()
        self._server = ThreadingHTTPServer((self.host, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._state.stopping.set()  # wakes any handler sleeping on a planned delay
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # where it listens

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTwilio is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """E.g. http://127.0.0.1:54321; give it to TwilioBackend(api_base=...)."""
        return f"http://{self.host}:{self.port}"

    # scripting

    def plan(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order (after any still queued)."""
        with self._state.lock:
            self._state.planned.extend(replies)

    def fail_randomly(self, ratio: float, seed: int | None = None) -> None:
        """Once the plan is used up, answer `ratio` of requests 500 or 429 at random."""
        if not 0.0 <= ratio <= 1.0:
            raise ValueError("ratio must be between 0 and 1")
        with self._state.lock:
            self._state.fail_ratio, self._state.rng = ratio, random.Random(seed)

    @property
    def pending(self) -> int:
        """Planned replies not used yet."""
        with self._state.lock:
            return len(self._state.planned)

    def reset(self) -> None:
        """Forget recorded requests and the plan (random failures stay as configured)."""
        with self._state.lock:
            self._state.planned.clear()
            self._state.requests.clear()

    # what happened

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request to the Messages endpoint, in arrival order (copies). Keys: To, From,
        MessagingServiceSid, Body, StatusCallback (None when absent), account_sid (from the path),
        auth_user (Basic auth user), form (all fields, lists), content_type, response_status
        (None for a hang-up), sid (set when accepted)."""
        with self._state.lock:
            return [dict(record) for record in self._state.requests]

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The requests the fake accepted (201): the messages Twilio would deliver, including any
        whose answer came too late for the client."""
        return [record for record in self.requests if record["sid"] is not None]


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A running FakeTwilio with the synthetic ACCOUNT_SID / AUTH_TOKEN; stopped afterwards."""
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake

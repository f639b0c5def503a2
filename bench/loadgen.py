"""A small load generator for signed Twilio webhooks on loopback.

Requests are built and signed before the clock starts (a conversation's texts do not depend on
the replies), so the client's own cost during a pass is a socket connect, a send and a read.
gunicorn's sync workers close the connection after every response, so each request is a new
connection, as each of Twilio's webhooks would be.

Two ways to drive:
- closed loop: C client threads, each playing whole conversations one text at a time (the next
  text leaves when the reply to the previous one is in): the throughput the server sustains.
- open loop: texts start at a fixed rate whatever the server does, from a pool of sender threads;
  a text's latency counts from the moment it was due to leave, so a stall is not hidden by the
  client waiting for it (no coordinated omission). A phone still waits for its reply before its
  next text: the pacer starts another conversation instead.

Only loopback addresses are ever targeted.
"""
from __future__ import annotations

import collections
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

CLINIC_NUMBER = "+12015550100"   # fictional (555-01xx)
ACCOUNT_SID = "AC" + "0" * 32
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Text:
    """One inbound SMS, signed, ready to send."""
    step: str          # what it is in the conversation (HERE, READY, bp, ...)
    raw: bytes         # the whole HTTP request


@dataclass
class Conversation:
    texts: list[Text]
    position: int = 0

    @property
    def done(self) -> bool:
        return self.position >= len(self.texts)


def signed_request(host: str, port: int, public_base: str, token: str, from_phone: str, body: str,
                   path: str = "/twilio/sms") -> bytes:
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": ACCOUNT_SID, "From": from_phone,
              "To": CLINIC_NUMBER, "Body": body, "NumMedia": "0"}
    signature = RequestValidator(token).compute_signature(public_base.rstrip("/") + path, params)
    payload = urlencode(params).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\n"
            f"User-Agent: TwilioProxy/1.1\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
    return head.encode() + payload


@dataclass
class Sample:
    step: str
    started: float      # when it was due to leave (open loop) or left (closed loop), perf_counter
    latency: float      # seconds
    status: int
    reply: str


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0                  # connection failures (no HTTP status at all)
    exhausted: bool = False          # ran out of fresh conversations
    overloaded: bool = False         # open loop: the backlog passed its bound and the pacer stopped early

    def latencies_ms(self) -> list[float]:
        return sorted(s.latency * 1000 for s in self.samples)

    @property
    def rate(self) -> float:
        return len(self.samples) / self.wall if self.wall else 0.0


MESSAGE = re.compile(rb"<Message>(.*?)</Message>", re.S)


def send(host: str, port: int, raw: bytes) -> tuple[int, str]:
    sock = socket.create_connection((host, port), timeout=30)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(raw)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    data = b"".join(chunks)
    try:
        status = int(data[9:12])
    except ValueError:
        status = 0
    found = MESSAGE.search(data)
    return status, (found.group(1).decode("utf-8", "replace") if found else "")


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def closed_loop(host: str, port: int, fresh: collections.deque[Conversation], *, clients: int, seconds: float,
                fallback: Callable[[], Text] | None = None) -> Result:
    """`clients` threads play conversations to the end, one after another, until `seconds` pass.
    Conversations are taken from `fresh` (what is left stays there for the next pass). When none
    is left, `fallback()` gives a text to send instead (or the thread stops)."""
    assert host in LOOPBACK
    lock = threading.Lock()
    result = Result()
    stop_at = time.perf_counter() + seconds

    def worker() -> None:
        local: list[Sample] = []
        errors = 0
        current: Conversation | None = None
        while time.perf_counter() < stop_at:
            if current is None or current.done:
                with lock:
                    current = fresh.popleft() if fresh else None
                    if current is None:
                        result.exhausted = True
            if current is not None:
                text = current.texts[current.position]
                current.position += 1
            elif fallback is not None:
                text = fallback()
            else:
                break
            began = time.perf_counter()
            try:
                status, reply = send(host, port, text.raw)
            except OSError:
                errors += 1
                continue
            local.append(Sample(text.step, began, time.perf_counter() - began, status, reply))
        with lock:
            result.samples.extend(local)
            result.errors += errors
            if current is not None and not current.done:
                fresh.appendleft(current)   # the next pass carries on with it

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - began
    return result


def open_loop(host: str, port: int, fresh: collections.deque[Conversation], *, rate: float, seconds: float,
              senders: int = 48, fallback: Callable[[], Text] | None = None, max_backlog_seconds: float = 3.0) -> Result:
    """A text is due every 1/rate seconds; each goes from a pool of `senders` threads. Texts of a
    conversation already under way go first (its phone got its reply), else a fresh one starts.
    A server that cannot keep up lets the backlog grow; past `max_backlog_seconds` of texts
    waiting, the pass stops early and says so (its latencies are then meaningless)."""
    assert host in LOOPBACK
    ready: collections.deque[Conversation] = collections.deque()
    work: collections.deque[tuple[float, Conversation | None, Text]] = collections.deque()
    available = threading.Semaphore(0)
    lock = threading.Lock()
    result = Result()

    def sender() -> None:
        local: list[Sample] = []
        errors = 0
        while True:
            available.acquire()
            with lock:
                item = work.popleft() if work else None
            if item is None:   # the pacer's signal to stop
                break
            due, conversation, text = item
            try:
                status, reply = send(host, port, text.raw)
            except OSError:
                errors += 1
                continue
            local.append(Sample(text.step, due, time.perf_counter() - due, status, reply))
            if conversation is not None and not conversation.done:
                with lock:
                    ready.append(conversation)
        with lock:
            result.samples.extend(local)
            result.errors += errors

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    interval = 1.0 / rate
    began = time.perf_counter()
    k = 0
    while True:
        due = began + k * interval
        if due - began >= seconds:
            break
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        with lock:
            backlog = len(work)
            conversation = ready.popleft() if ready else (fresh.popleft() if fresh else None)
        if backlog > max_backlog_seconds * rate:
            result.overloaded = True
            break
        if conversation is not None:
            text = conversation.texts[conversation.position]
            conversation.position += 1
        elif fallback is not None:
            result.exhausted = True
            text = fallback()
        else:
            result.exhausted = True
            break
        with lock:
            work.append((due, conversation, text))
        available.release()
        k += 1
    # Let what is in flight finish, then stop the senders.
    with lock:
        for _ in threads:
            work.append(None)  # type: ignore[arg-type]
    for _ in threads:
        available.release()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - began
    # Conversations under way (their phones got their last reply) carry on in the next pass.
    fresh.extendleft(reversed(ready))
    return result


# --- CPU time of the processes taking part (from /proc, no extra packages) -------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (every core, every process) since boot."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def pids_named(fragment: str) -> list[int]:
    """Processes whose command line contains `fragment` (for reading their CPU time only)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if fragment.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found

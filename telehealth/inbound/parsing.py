"""Turning the text of an inbound SMS into an intent (SPEC: "Keywords are case-insensitive,
surrounding spaces and punctuation ignored").

Pure: nothing here knows of Flask, the database or Twilio, and neither `parse` nor
`mentions_crisis` ever raises, whatever string arrives. Every step is linear in the length of
the text (no regular expression here can backtrack catastrophically).

Normalising a message, in order:

1. `None` becomes ""; lone surrogates become U+FFFD; Unicode NFKC (so full-width "ＳＴＯＰ" is
   "STOP" and "５" is "5").
2. Control characters become spaces, invisible format junk (zero-width space, word joiner,
   byte-order mark, soft hyphen) is dropped, and every run of whitespace becomes one space.
3. Punctuation, symbols (emoji included), separators, control/format characters and orphan
   combining marks are stripped from both ends; inner characters are kept. One exception: a
   leading sign or decimal point directly before a digit stays ("-5", ".5"), so a negative or
   fractional number is never silently read as a whole one.

Keywords are then matched against the WHOLE normalised message, case-insensitively, the way
carriers match opt-out words: "Stop!!" opts out, "please don't stop" does not. Consent words are
checked first and always win. For consent words only, inner spaces and hyphens are ignored too
("STOP ALL", "opt-out"): an opt-out is honoured whenever it is plainly meant.
"""
from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

MAX_TEXT = 1600   # Twilio's longest inbound body; longer normalised text is truncated
MAX_NOTE = 500

OPT_OUT_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})


class Kind(enum.Enum):
    OPT_OUT = "opt_out"      # STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT (carrier/Twilio reserved)
    OPT_IN = "opt_in"        # START, UNSTOP, YES (reserved: always opt-in, whatever a questionnaire asked)
    HELP = "help"            # HELP, and INFO (a carrier-reserved help word)
    SOS = "sos"
    HERE = "here"            # sitter arrived
    OK = "ok"                # sitter: patient back to baseline / observation check fine
    READY = "ready"          # patient: begin questionnaire
    TAKEN = "taken"          # patient: dose taken now
    RECEIVED = "received"    # patient: RECEIVED <n>, package received with n items
    STATUS = "status"
    SKIP = "skip"
    ACK = "ack"              # prescriber: ACK [n]
    RESOLVE = "resolve"      # prescriber: RESOLVE n note
    ANSWER = "answer"        # a plain questionnaire value: "128/82", "72", "Y", "N"
    EMPTY = "empty"          # nothing but whitespace/punctuation/emoji (or a media-only message)
    UNKNOWN = "unknown"      # anything else


@dataclass(frozen=True)
class Intent:
    kind: Kind
    text: str                  # the normalised text (canonical value for ANSWER), at most MAX_TEXT chars
    number: int | None = None  # RECEIVED n, ACK n, RESOLVE n
    note: str | None = None    # RESOLVE n <note>: original case, trimmed, at most MAX_NOTE chars
    problem: str | None = None # why a keyword was malformed, worded as the reply to send
    reading: str | None = None # OK <blood pressure>: the sitter's reading at release, as "128/82"


SINGLE_WORDS: dict[str, Kind] = {
    "help": Kind.HELP,
    "info": Kind.HELP,
    "sos": Kind.SOS,
    "here": Kind.HERE,
    "ok": Kind.OK,
    "ready": Kind.READY,
    "taken": Kind.TAKEN,
    "status": Kind.STATUS,
    "skip": Kind.SKIP,
}

# Replies for malformed keywords (plain GSM-7 characters, so the reply stays short).
RECEIVED_PROBLEM = "Send RECEIVED and the number of items you found, like RECEIVED 8."
ACK_PROBLEM = "Send ACK and the alert number, like ACK 482, or just ACK."
RESOLVE_PROBLEM = "Send RESOLVE, the alert number and a note, like RESOLVE 482 reached patient."
OK_READING_PROBLEM = "Send OK and their blood pressure as two numbers, like OK 128/82."

MAX_RECEIVED_DIGITS = 4
MAX_ALERT_DIGITS = 9
MAX_ANSWER_DIGITS = 9

_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"))
_WHITESPACE = re.compile(r"\s+")
_SIGNS = frozenset("-+.,\u2212\u2012\u2013")
_INTEGER = re.compile(r"\d+")
_BLOOD_PRESSURE = re.compile(r"(\d{1,3}) ?(?:/|over) ?(\d{1,3})", re.IGNORECASE)
_CONSENT_JOINERS = re.compile(r"[ \-\u2010\u2011]")
_SEPARATORS = frozenset(" :#-")
_NOTE_LEAD = " :,;.-\u2013\u2014"
_YES_NO = {"y": "Y", "n": "N", "no": "N"}


def _is_variation_selector(ch: str) -> bool:
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _is_edge_junk(ch: str) -> bool:
    """Punctuation, symbols (emoji), separators, control/format/unassigned, enclosing marks."""
    category = unicodedata.category(ch)
    return category[0] in "PSZC" or category == "Me" or _is_variation_selector(ch)


def _strip_edges(text: str) -> tuple[int, int]:
    """The [start, end) of `text` left once junk is stripped from both ends."""
    start, end = 0, len(text)
    while start < end:
        ch = text[start]
        if ch in _SIGNS and start + 1 < end and text[start + 1].isdecimal():
            break
        if _is_edge_junk(ch) or unicodedata.category(ch)[0] == "M":
            start += 1
            continue
        break
    while end > start:
        ch = text[end - 1]
        if _is_edge_junk(ch):
            end -= 1
            continue
        if unicodedata.category(ch)[0] == "M":
            # A run of combining marks goes only if what it sits on goes too (an emoji, say).
            run = end - 1
            while run > start and unicodedata.category(text[run - 1])[0] == "M":
                run -= 1
            if run == start or _is_edge_junk(text[run - 1]):
                end = run
                continue
        break
    return start, end


def _clean(text: object) -> str:
    """Steps 1 and 2 of normalising: one NFKC string, single-spaced, no control characters."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    text = _SURROGATES.sub("\ufffd", text)
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROLS.sub(" ", text).translate(_INVISIBLE)
    return _WHITESPACE.sub(" ", text)


def normalise(text: str | None) -> str:
    """The normalised text of a message, as `parse` matches it (not truncated)."""
    cleaned = _clean(text)
    start, end = _strip_edges(cleaned)
    return cleaned[start:end]


def _keyword_rest(message: str, keyword: str) -> str | None:
    """What follows `keyword` at the start of the message, or None if it doesn't start with it.

    "RECEIVED8" starts with RECEIVED; "RECEIVEDS" and "ACKNOWLEDGED" do not.
    """
    if message[:len(keyword)].casefold() != keyword:
        return None
    rest = message[len(keyword):]
    if rest and rest[0].isalpha():
        return None
    return rest


def _leading_number(rest: str, max_digits: int) -> tuple[int | None, str, bool]:
    """Parse `[ :#-]* digits` at the start of `rest`.

    Returns (number, what follows the digits, ok). Not ok: no digits, a minus sign ("-8",
    ": -8"; a hyphen glued to the keyword, "ACK-482", is a separator), too many digits, or
    digits running straight into letters.
    """
    i = 0
    while i < len(rest) and rest[i] in _SEPARATORS:
        i += 1
    separators = rest[:i]
    match = _INTEGER.match(rest, i)
    if match is None:
        return None, rest[i:], False
    if separators.endswith("-") and len(separators) > 1:
        return None, rest[i:], False   # "RECEIVED -8": a negative number
    digits = match.group()
    after = rest[match.end():]
    if len(digits) > max_digits or (after and after[0].isalnum()):
        return None, after, False
    return int(digits), after, True


def _received(text: str, rest: str) -> Intent:
    number, after, ok = _leading_number(rest, MAX_RECEIVED_DIGITS)
    if not ok or after.strip(" " + "".join(_SEPARATORS)):
        return Intent(Kind.RECEIVED, text, problem=RECEIVED_PROBLEM)
    return Intent(Kind.RECEIVED, text, number=number)


def _ack(text: str, rest: str) -> Intent:
    if not rest.strip():
        return Intent(Kind.ACK, text)
    number, after, ok = _leading_number(rest, MAX_ALERT_DIGITS)
    if not ok or after.strip():
        return Intent(Kind.ACK, text, problem=ACK_PROBLEM)
    return Intent(Kind.ACK, text, number=number)


def _resolve(text: str, rest: str, note_source: str) -> Intent:
    """`note_source` is the message from the same offset as `rest`, before trailing punctuation
    was stripped, so a note keeps its full stop or closing bracket."""
    number, after, ok = _leading_number(rest, MAX_ALERT_DIGITS)
    if not ok:
        return Intent(Kind.RESOLVE, text, problem=RESOLVE_PROBLEM)
    note = note_source[len(rest) - len(after):].lstrip(_NOTE_LEAD).rstrip()
    if not any(ch.isalnum() for ch in note):   # nothing, or only punctuation and emoji
        return Intent(Kind.RESOLVE, text, number=number,
                      problem=f"Add a note: RESOLVE {number} <what happened>")
    return Intent(Kind.RESOLVE, text, number=number, note=note[:MAX_NOTE].rstrip())


def _ok_with_reading(text: str, rest: str) -> Intent | None:
    """`OK 128/82`: the sitter's release with the blood pressure they took. Numbers that are not
    a reading ("OK 128") are a malformed one; OK followed by words ("ok thanks") is not ours."""
    rest = rest.lstrip(" " + "".join(_SEPARATORS) + ",")
    if not rest[:1].isdecimal():
        return None
    match = _BLOOD_PRESSURE.fullmatch(rest)
    if match is None:
        return Intent(Kind.OK, text, problem=OK_READING_PROBLEM)
    return Intent(Kind.OK, text, reading=f"{int(match.group(1))}/{int(match.group(2))}")


def _answer(text: str, folded: str) -> Intent | None:
    if folded in _YES_NO:
        return Intent(Kind.ANSWER, _YES_NO[folded])
    if len(text) > 2 * MAX_ANSWER_DIGITS + 6:
        return None
    if _INTEGER.fullmatch(text) and len(text) <= MAX_ANSWER_DIGITS:
        return Intent(Kind.ANSWER, str(int(text)))
    match = _BLOOD_PRESSURE.fullmatch(text)
    if match:
        return Intent(Kind.ANSWER, f"{int(match.group(1))}/{int(match.group(2))}")
    return None


def _parse(text: str | None) -> Intent:
    cleaned = _clean(text)
    start, end = _strip_edges(cleaned)
    message = cleaned[start:end]
    shown = message[:MAX_TEXT]
    if not message:
        return Intent(Kind.EMPTY, "")
    folded = message.casefold()

    joined = _CONSENT_JOINERS.sub("", folded)
    if joined in OPT_OUT_WORDS:
        return Intent(Kind.OPT_OUT, shown)
    if joined in OPT_IN_WORDS:
        return Intent(Kind.OPT_IN, shown)
    if folded in SINGLE_WORDS:
        return Intent(SINGLE_WORDS[folded], shown)
    if _keyword_rest(message, "sos") is not None:
        # "SOS he is not waking up": someone asking for help says why; it is still SOS.
        return Intent(Kind.SOS, shown)
    answer = _answer(message, folded)
    if answer is not None:
        return answer
    rest = _keyword_rest(message, "ok")
    if rest is not None:
        ok = _ok_with_reading(shown, rest)
        if ok is not None:
            return ok
    rest = _keyword_rest(message, "received")
    if rest is not None:
        return _received(shown, rest)
    rest = _keyword_rest(message, "ack")
    if rest is not None:
        return _ack(shown, rest)
    rest = _keyword_rest(message, "resolve")
    if rest is not None:
        # The note comes from the text before its trailing punctuation was stripped.
        return _resolve(shown, rest, cleaned[start + len("resolve"):])
    return Intent(Kind.UNKNOWN, shown)


def parse(text: str | None) -> Intent:
    """The intent of one inbound SMS. Never raises."""
    try:
        return _parse(text)
    except Exception:  # pragma: no cover - a safety net; the property tests exercise _parse itself
        return Intent(Kind.UNKNOWN, "")


# --- crisis phrases -------------------------------------------------------------------------

_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019\u2018\u02bc\u0060\u00b4\u2032\uff07"))
_NON_WORD = re.compile(r"[\W_]+")


def _words(text: str) -> str:
    """Lower-case words joined by single spaces; apostrophes vanish ("can’t" -> "cant")."""
    text = _SURROGATES.sub("\ufffd", text).translate(_APOSTROPHES)
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()
    return _NON_WORD.sub(" ", text).strip()


@lru_cache(maxsize=256)
def _phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    """A phrase as a pattern over `_words` output; a word ending in "*" matches any continuation."""
    parts = []
    for raw in phrase.split():
        wildcard = raw.endswith("*")
        word = _words(raw)
        if not word:
            continue
        parts.append(" ".join(map(re.escape, word.split())) + (r"\w*" if wildcard else ""))
    if not parts:
        return None
    return re.compile(r"(?<!\w)" + " ".join(parts) + r"(?!\w)")


def mentions_crisis(text: str | None, phrases: Iterable[str]) -> bool:
    """Whether `text` contains any of `phrases` as whole words, case-insensitively.

    Punctuation and runs of whitespace between words are ignored, and apostrophes may be
    straight, curly or missing ("can't breathe" matches "I cant breathe!"). A word ending in "*"
    matches any continuation of it ("overdos*" matches "overdosed"). Phrases that are not
    strings, or have no words, are ignored; a lone string is taken as one phrase. Never raises.
    """
    try:
        if text is None or not isinstance(text, str):
            return False
        if isinstance(phrases, str):
            phrases = (phrases,)
        words = _words(text)
        if not words:
            return False
        for phrase in phrases:
            if not isinstance(phrase, str):
                continue
            pattern = _phrase_pattern(phrase)
            if pattern is not None and pattern.search(words):
                return True
        return False
    except Exception:  # pragma: no cover - a safety net, as for parse
        return False

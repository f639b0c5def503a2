"""All SMS wording, in one place.

Every message names the clinic, and none names the drug, a dose or a diagnosis: carriers
restrict controlled-substance content, and the minimum-necessary rule applies (SPEC §5–§6).
Every message fits in two SMS segments; `tests/unit/test_sms_templates.py` checks all three
for every template here.
"""
from __future__ import annotations

from dataclasses import dataclass

# The GSM 03.38 basic alphabet (plus its escaped extension characters, counted twice).
GSM7_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = set("^{}\\[~]|€")


def segments(body: str) -> int:
    """How many SMS segments a body takes: 160/153 GSM-7 septets, or 70/67 UCS-2 characters."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in body):
        length = sum(2 if ch in GSM7_EXTENDED else 1 for ch in body)
        single, multi = 160, 153
    else:
        length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in body)
        single, multi = 70, 67
    return 1 if length <= single else -(-length // multi)


@dataclass(frozen=True)
class Sms:
    template: str
    body: str


def _sms(template: str, clinic: str, text: str) -> Sms:
    return Sms(template, f"{clinic}: {text}")


CRISIS_LINES = "If you are thinking about suicide or feel unsafe, call or text 988 now. If you are in danger, call 911."

HELP_BY_PARTY = {
    "patient": ("Text READY to start a check-in, TAKEN when you have taken it, RECEIVED and a count when a package "
                "arrives (RECEIVED 8), STATUS for what is next, SKIP to cancel your next session, SOS for urgent "
                "help. Emergency: 911. STOP to opt out."),
    "sitter": ("Text HERE when you arrive, OK when they are back to their usual self, SOS if they do not respond "
               "or you are worried. Emergency: 911. STOP to opt out."),
    "prescriber": ("Text ACK and the alert number to acknowledge (ACK 482), RESOLVE, the number and a note to "
                   "resolve (RESOLVE 482 reached patient). STOP to opt out."),
    "staff": "This number sends care alerts for clinic patients. Call the clinic with questions. STOP to opt out.",
}


def help_text(clinic: str, party_kind: str) -> Sms:
    return _sms("help", clinic, HELP_BY_PARTY.get(party_kind, HELP_BY_PARTY["staff"]))


def unknown_sender(clinic: str) -> Sms:
    return _sms("unknown_sender", clinic,
                "We could not match this number to anyone in our care. Please call the clinic. Emergency: 911.")


def opted_out(clinic: str) -> Sms:
    return _sms("opted_out", clinic,
                "You are unsubscribed and will get no more texts from us. Reply START to resubscribe. "
                "For care questions call the clinic.")


def opted_in(clinic: str) -> Sms:
    return _sms("opted_in", clinic, "You are subscribed again. Reply HELP for help, STOP to opt out.")


def crisis_reply(clinic: str) -> Sms:
    return _sms("crisis_reply", clinic, CRISIS_LINES)


def sos_reply(clinic: str) -> Sms:
    return _sms("sos_reply", clinic, "Call 911 now if anyone is in danger or not responding. If you are thinking "
                                     "about suicide or feel unsafe, call or text 988.")


def text_only(clinic: str) -> Sms:
    return _sms("text_only", clinic, "We can only read text, not pictures or empty messages. Reply HELP for what "
                                     "you can send.")


def malformed_keyword(clinic: str, problem: str) -> Sms:
    return _sms("malformed_keyword", clinic, problem)


def page(clinic: str, *, number: int, severity: str, reason: str, initials: str, dose_number: int | None) -> Sms:
    """An escalation page: minimum necessary (SPEC §5): number, severity, reason, initials, session."""
    session = f", session {dose_number}" if dose_number else ""
    return _sms("page", clinic, f"Alert {number} {severity.upper()}: {reason}. Patient {initials}{session}. "
                                f"Reply ACK {number} to acknowledge.")


def acknowledged(clinic: str, number: int) -> Sms:
    return _sms("acknowledged", clinic, f"Alert {number} acknowledged; paging stopped. Resolve it on the "
                                        f"dashboard or text RESOLVE {number} and a note.")


def resolved(clinic: str, number: int, outcome: str) -> Sms:
    return _sms("resolved", clinic, f"Alert {number} resolved ({outcome}).")


def alert_problem(clinic: str, problem: str) -> Sms:
    """Why an ACK or RESOLVE by text did nothing, and what to send instead."""
    return _sms("alert_problem", clinic, problem)


# --- sitters -----------------------------------------------------------------------------

def sitter_code(clinic: str, code: int) -> Sms:
    """To a newly named sitter: no patient name, no reason (minimum necessary)."""
    return _sms("sitter_code", clinic, f"You were named as a sitter (a support person) for one of our patients. "
                                       f"To confirm this number and agree to our care texts, reply {code}. "
                                       f"Reply STOP to opt out.")


def sitter_verified(clinic: str) -> Sms:
    return _sms("sitter_verified", clinic, "Thank you, this number is confirmed. We will text you before each "
                                           "session you sit for. Reply HELP for help.")


def sitter_code_problem(clinic: str, problem: str) -> Sms:
    return _sms("sitter_code_problem", clinic, problem)


# --- packages ----------------------------------------------------------------------------

def package_shipped(clinic: str) -> Sms:
    return _sms("package_shipped", clinic, "A package from the clinic is on its way. When it arrives, count the "
                                           "items and text RECEIVED and the count, like RECEIVED 8.")


def package_delivered(clinic: str) -> Sms:
    return _sms("package_delivered", clinic, "Your package from the clinic shows as delivered. Please count the "
                                             "items and text RECEIVED and the count, like RECEIVED 8.")


def receipt_recorded(clinic: str, count: int) -> Sms:
    return _sms("receipt_recorded", clinic, f"Thank you. We recorded {count} items received. Keep them in a safe, "
                                            f"locked place.")


def receipt_count_differs(clinic: str, count: int) -> Sms:
    return _sms("receipt_count_differs", clinic, f"Thank you. We recorded {count} items, which is not what we "
                                                 f"sent. The clinic will call you about it.")


def package_problem(clinic: str, problem: str) -> Sms:
    """Why a RECEIVED text did nothing, and what to do instead."""
    return _sms("package_problem", clinic, problem)

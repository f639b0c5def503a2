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
    "sitter": ("Text HERE when you arrive, OK when asked if they respond, OK and their blood pressure when they "
               "are back to their usual self (OK 128/82), SOS if they do not respond or you are worried. "
               "Emergency: 911. STOP to opt out."),
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


def opted_in_then(clinic: str, key: str) -> Sms:
    """Opted back in with YES (or START) while a question was open: the word was the consent word,
    not the answer, so the question is asked again (a patient's check-in question, or the sitter's
    "observation" or "release" one); in case YES was the answer meant, with the crisis lines for
    thoughts of self-harm and the 911 line for chest pain."""
    asked = SITTER_QUESTIONS.get(key) or QUESTION_PROMPTS[key]
    urgent = {"self_harm": f" {CRISIS_LINES}", "chest_pain": " If you have chest pain or trouble breathing, call 911 now."}
    return _sms("opted_in_then", clinic, f"You are subscribed again (STOP to opt out). {asked}{urgent.get(key, '')}")


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


# --- dose sessions -----------------------------------------------------------------------
# "Session" and "it", never the medicine's name or the word for an amount (SPEC §6).

QUESTION_PROMPTS = {
    "blood_pressure": "What is your blood pressure now? Send it like 128/82.",
    "blood_pressure_recheck": "Please measure your blood pressure again now and send it like 128/82.",
    "pulse": "What is your pulse (beats a minute)? Send one number, like 72.",
    "substances": "Any alcohol, sedatives, opioids or drugs not prescribed to you in the last 24 hours? "
                  "Send Y or N.",
    "self_harm": "Are you having any thoughts of harming yourself? Send Y or N.",
    "mood": "How is your mood from 0 (worst) to 10 (best)? Send one number.",
    "on_hand": "How many items from the clinic do you have on hand right now? Send one number, like 7.",
    "chest_pain": "Any chest pain or trouble breathing? Send Y or N.",
    "nausea": "Any nausea, from 0 (none) to 3 (vomiting)? Send one number.",
    "dissociation": "Do you feel detached, unreal or confused, from 0 (not at all) to 10 (severe)? "
                    "Send one number.",
}


def window_open_patient(clinic: str, time: str) -> Sms:
    return _sms("window_open_patient", clinic, f"Your session is at {time}. When your sitter is with you, text "
                                               f"READY to start your check-in. Text SKIP to cancel.")


def window_open_sitter(clinic: str, time: str, link: str) -> Sms:
    return _sms("window_open_sitter", clinic, f"A session you sit for is at {time}. Text HERE when you arrive, "
                                              f"and stay until we ask you to release. Or check in at {link}")


def question(clinic: str, key: str) -> Sms:
    """One question of a check-in (one question per message)."""
    return _sms("question", clinic, QUESTION_PROMPTS[key])


def rest_then_next(clinic: str, time: str, key: str) -> Sms:
    """After a first blood pressure at a hold threshold: rest, and meanwhile the next question."""
    return _sms("rest_then_next", clinic, f"Thanks. Please rest quietly: we will ask you to measure again at "
                                          f"{time}. Next: {QUESTION_PROMPTS[key]}")


def keep_resting(clinic: str, time: str) -> Sms:
    return _sms("keep_resting", clinic, f"Please keep resting and measure your blood pressure again at {time}, "
                                        f"then send it like 128/82.")


def check_in_problem(clinic: str, problem: str) -> Sms:
    """Why a check-in text did nothing, and what to send instead."""
    return _sms("check_in_problem", clinic, problem)


def waiting_for_sitter(clinic: str) -> Sms:
    return _sms("waiting_for_sitter", clinic, "Thank you, your check-in is complete. You will be cleared when "
                                              "your sitter texts HERE.")


def sitter_arrived(clinic: str) -> Sms:
    return _sms("sitter_arrived", clinic, "Thank you for being there. Please stay for the whole session; we will "
                                          "text you to check on them.")


def cleared(clinic: str, time: str) -> Sms:
    return _sms("cleared", clinic, f"You are cleared for your session. Take it now with your sitter there, and "
                                   f"text TAKEN when you have, by {time}.")


def not_cleared(clinic: str, problem: str) -> Sms:
    return _sms("not_cleared", clinic, f"You are not cleared for this session: {problem} Please do not take it. "
                                       f"The clinic will contact you.")


def held(clinic: str) -> Sms:
    return _sms("held", clinic, "Thank you. Please do not take it today: your session is on hold and your "
                                "prescriber will contact you. Emergency: 911.")


def held_sitter(clinic: str) -> Sms:
    return _sms("held_sitter", clinic, "The session is on hold; nothing will be taken today. The clinic will be "
                                       "in touch. Emergency: 911.")


def crisis_to_sitter(clinic: str) -> Sms:
    return _sms("crisis_to_sitter", clinic, "Please stay with them now. " + CRISIS_LINES)


def taken_soon(clinic: str, time: str) -> Sms:
    return _sms("taken_soon", clinic, f"Reminder: text TAKEN once you have taken it. Your clearance ends at "
                                      f"{time}.")


def taken_recorded(clinic: str, time: str) -> Sms:
    return _sms("taken_recorded", clinic, f"Recorded. Stay with your sitter and rest. We will ask how you feel "
                                          f"at {time}.")


def session_missed(clinic: str) -> Sms:
    return _sms("session_missed", clinic, "Your session did not go ahead in time. Please do not take it now. "
                                          "The clinic will contact you to reschedule.")


def session_missed_sitter(clinic: str) -> Sms:
    return _sms("session_missed_sitter", clinic, "The session did not go ahead in time; nothing will be taken "
                                                 "now. Thank you.")


def taken_after_expiry(clinic: str) -> Sms:
    return _sms("taken_after_expiry", clinic, "Recorded. Please rest with your sitter there now. Your prescriber "
                                              "has been alerted and will contact you. Emergency: 911.")


def taken_after_expiry_sitter(clinic: str) -> Sms:
    return _sms("taken_after_expiry_sitter", clinic, "They report having taken it after all. Please stay with "
                                                     "them; the clinic will contact you. Emergency: 911.")


def clearance_expired(clinic: str) -> Sms:
    return _sms("clearance_expired", clinic, "Your clearance has ended because we did not hear TAKEN. If you have "
                                             "taken it, text TAKEN now. If not, do not take it now. The clinic will "
                                             "contact you.")


def post_dose_due(clinic: str) -> Sms:
    return _sms("post_dose_due", clinic, "Time for your after-session check-in. With your sitter there, text READY "
                                         "to start.")


def post_dose_recorded(clinic: str, time: str) -> Sms:
    return _sms("post_dose_recorded", clinic, f"Thank you, your check-in is recorded. Rest with your sitter; they "
                                              f"can release you from {time}.")


URGENT_LINES = "Call 911 now. Your prescriber has been alerted. Keep your sitter with you."


def post_dose_urgent(clinic: str) -> Sms:
    return _sms("post_dose_urgent", clinic, URGENT_LINES)


# Asked of the sitter by the check itself and again by STATUS. "Text OK if they do", never "if
# yes": YES is a carrier's opt-in word, and would not answer the check.
OBSERVATION_QUESTION = ("Check-in: do they respond to their name spoken in a normal voice? Text OK if they do, or "
                        "SOS if not (and call 911).")
RELEASE_QUESTION = ("If they are alert, know where they are and are back to their usual self, take their blood "
                    "pressure and text OK with it, like OK 128/82, to end the session. If not, text SOS.")
SITTER_QUESTIONS = {"observation": OBSERVATION_QUESTION, "release": RELEASE_QUESTION}


def observation_check(clinic: str) -> Sms:
    return _sms("observation_check", clinic, OBSERVATION_QUESTION)


def observation_ok(clinic: str) -> Sms:
    return _sms("observation_ok", clinic, "Thank you. Please keep staying with them.")


def stay_until(clinic: str, time: str) -> Sms:
    return _sms("stay_until", clinic, f"Thank you. Please stay with them until {time}; we will text you when you "
                                      f"can release.")


def release_due(clinic: str) -> Sms:
    return _sms("release_due", clinic, RELEASE_QUESTION)


def release_needs_reading(clinic: str) -> Sms:
    return _sms("release_needs_reading", clinic, "Thank you. To end the session, take their blood pressure and "
                                                 "text OK with it, like OK 128/82. If they are not alert, text SOS.")


def released(clinic: str) -> Sms:
    return _sms("released", clinic, "Thank you, the session is complete.")


def session_complete(clinic: str) -> Sms:
    return _sms("session_complete", clinic, "Your session is complete. Rest today, and do not drive until "
                                            "tomorrow.")


def session_cancelled(clinic: str, time: str) -> Sms:
    return _sms("session_cancelled", clinic, f"The session at {time} is cancelled. Do not take it. The clinic "
                                             f"will be in touch to reschedule.")


def session_cancelled_sitter(clinic: str, time: str) -> Sms:
    return _sms("session_cancelled_sitter", clinic, f"The session at {time} you sit for is cancelled; nothing will "
                                                    f"be taken. Thank you.")


def hold_released(clinic: str) -> Sms:
    return _sms("hold_released", clinic, "Your prescriber has reviewed your check-in. When your sitter is with "
                                         "you, you will be cleared; we will text you.")


def hold_released_finish(clinic: str) -> Sms:
    """A hold released before the check-in was finished (it was held at a crisis answer)."""
    return _sms("hold_released_finish", clinic, "Your prescriber has reviewed your check-in. Text READY to "
                                                "finish it. You will be cleared only with your sitter there.")


def hold_released_sitter(clinic: str, time: str) -> Sms:
    return _sms("hold_released_sitter", clinic, f"The session is no longer on hold. If it is to go ahead, please "
                                                f"be with them and text HERE by {time}.")


def status(clinic: str, summary: str) -> Sms:
    """STATUS: the next session and what is due now (worded by the dosing room)."""
    return _sms("status", clinic, summary)

"""The inbound SMS parser: text in, intent out (SPEC: "Keywords are case-insensitive,
surrounding spaces and punctuation ignored"). Pure: no app, no database."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from config.sms import CRISIS_PHRASES
from telehealth.inbound import parsing
from telehealth.inbound.parsing import Intent, Kind, mentions_crisis, parse

# --- consent words ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "STOP", "stop", "Stop", "STOPALL", "unsubscribe", "Cancel", "END", "quit", "REVOKE", "optout",
])
def test_every_reserved_opt_out_word_opts_out(text):
    assert parse(text).kind is Kind.OPT_OUT


@pytest.mark.parametrize("text", ["stop", " STOP. ", "Stop!!", "stop 🙏", "¡¡STOP!!", "\n\tstop\r\n", "«Stop»"])
def test_stop_with_punctuation_opts_out(text):
    assert parse(text).kind is Kind.OPT_OUT


def test_stop_with_emoji_and_skin_tone_opts_out():
    assert parse("STOP 🙏🏽❤️").kind is Kind.OPT_OUT


@pytest.mark.parametrize("text", ["please don't stop", "stop it", "I want to stop the program", "STOP STOP",
                                  "the end", "stopping"])
def test_stop_inside_a_sentence_is_not_an_opt_out(text):
    assert parse(text).kind is not Kind.OPT_OUT


@pytest.mark.parametrize("text", ["STOP ALL", "opt-out", "Opt out", "un-subscribe"])
def test_spaces_and_hyphens_inside_a_consent_word_are_ignored(text):
    assert parse(text).kind is Kind.OPT_OUT


def test_full_width_stop_opts_out():
    assert parse("ＳＴＯＰ").kind is Kind.OPT_OUT


@pytest.mark.parametrize("text", ["START", "start", "Unstop", "YES", "yes!", "Yes."])
def test_every_reserved_opt_in_word_opts_in(text):
    assert parse(text).kind is Kind.OPT_IN


def test_yes_is_always_opt_in_never_an_answer():
    intent = parse("Yes")
    assert intent.kind is Kind.OPT_IN
    assert intent.text == "Yes"


def test_consent_intent_keeps_the_normalised_text_for_the_audit_trail():
    assert parse("  Stop!! ").text == "Stop"


# --- single-word keywords --------------------------------------------------------------------


@pytest.mark.parametrize("text, kind", [
    ("HELP", Kind.HELP), ("help?", Kind.HELP), ("INFO", Kind.HELP), ("info.", Kind.HELP),
    ("SOS", Kind.SOS), ("sos!!!", Kind.SOS),
    ("HERE", Kind.HERE), ("here.", Kind.HERE),
    ("OK", Kind.OK), ("ok", Kind.OK), ("Ok!", Kind.OK),
    ("READY", Kind.READY), ("ready", Kind.READY),
    ("TAKEN", Kind.TAKEN), ("Taken.", Kind.TAKEN),
    ("STATUS", Kind.STATUS), ("status?", Kind.STATUS),
    ("SKIP", Kind.SKIP), ("skip", Kind.SKIP),
])
def test_single_word_keywords_in_any_case_with_punctuation(text, kind):
    assert parse(text).kind is kind


def test_info_is_treated_as_help():
    assert parse("INFO").kind is Kind.HELP


@pytest.mark.parametrize("text", ["help me please", "I am here", "ok thanks", "taken at 9"])
def test_keyword_is_matched_on_the_whole_message_only(text):
    assert parse(text).kind is Kind.UNKNOWN


@pytest.mark.parametrize("text", ["SOS please", "SOS he is not waking up", "sos: can't wake her", "SOS!! help"])
def test_sos_followed_by_words_is_still_sos(text):
    assert parse(text).kind is Kind.SOS


@pytest.mark.parametrize("text", ["sossy", "sosa 8", "an SOS"])
def test_sos_must_open_the_message_as_a_word_of_its_own(text):
    assert parse(text).kind is not Kind.SOS


# --- RECEIVED --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, reading", [("OK 128/82", "128/82"), ("ok: 128 / 82", "128/82"),
                                           ("OK, 131/84.", "131/84"), ("Ok 128 over 82", "128/82"),
                                           ("OK 300/20", "300/20")])
def test_ok_with_a_blood_pressure_carries_the_reading(text, reading):
    # Only the shape is read here; whether it is plausible is the dose session's to say.
    assert (parse(text).kind, parse(text).reading, parse(text).problem) == (Kind.OK, reading, None)


@pytest.mark.parametrize("text", ["OK 128", "OK 128/", "OK 128/82 thanks", "OK1 28/82"])
def test_ok_with_numbers_that_are_not_a_reading_explains_the_problem(text):
    intent = parse(text)
    assert (intent.kind, intent.reading) == (Kind.OK, None)
    assert "like OK 128/82" in intent.problem


@pytest.mark.parametrize("text, number", [
    ("RECEIVED 8", 8), ("received: 8", 8), ("Received #8", 8), ("RECEIVED8", 8), ("Received-8", 8),
    ("RECEIVED - 8", 8), ("received 8.", 8), ("RECEIVED   12", 12), ("received 0", 0), ("RECEIVED 9999", 9999),
])
def test_received_with_a_number(text, number):
    intent = parse(text)
    assert intent.kind is Kind.RECEIVED
    assert intent.number == number
    assert intent.problem is None


@pytest.mark.parametrize("text", [
    "RECEIVED", "received!", "RECEIVED eight", "RECEIVED -8", "received: -8", "RECEIVED 12345",
    "received 8 lozenges", "RECEIVED 8.5", "RECEIVED 8 8",
])
def test_malformed_received_explains_the_problem(text):
    intent = parse(text)
    assert intent.kind is Kind.RECEIVED
    assert intent.number is None
    assert intent.problem == "Send RECEIVED and the number of items you found, like RECEIVED 8."


def test_a_word_that_merely_starts_with_received_is_unknown():
    assert parse("receivedx").kind is Kind.UNKNOWN


def test_received_with_a_huge_number_is_a_problem_not_a_crash():
    intent = parse("RECEIVED " + "9" * 5000)
    assert intent.kind is Kind.RECEIVED and intent.number is None and intent.problem


# --- ACK -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, number", [
    ("ACK", None), ("ack", None), ("Ack.", None), ("ack 482", 482), ("ACK #482", 482), ("Ack-482", 482),
    ("ACK: 482", 482), ("ACK 123456789", 123456789),
])
def test_ack_with_or_without_a_number(text, number):
    intent = parse(text)
    assert intent.kind is Kind.ACK
    assert intent.number == number
    assert intent.problem is None


@pytest.mark.parametrize("text", ["ACK abc", "ACK -482", "ACK 1234567890", "ack 482 thanks", "ACK 48x"])
def test_malformed_ack_explains_the_problem(text):
    intent = parse(text)
    assert intent.kind is Kind.ACK
    assert intent.number is None
    assert intent.problem


def test_acknowledged_is_not_ack():
    assert parse("ACKNOWLEDGED").kind is Kind.UNKNOWN


# --- RESOLVE ---------------------------------------------------------------------------------


def test_resolve_with_number_and_note_keeps_the_note_in_its_original_case():
    intent = parse("RESOLVE 482 reached patient, all fine")
    assert intent == Intent(Kind.RESOLVE, "RESOLVE 482 reached patient, all fine", number=482,
                            note="reached patient, all fine")


@pytest.mark.parametrize("text", ["resolve #482: Reached Patient", "Resolve-482 - Reached Patient",
                                  "RESOLVE 482    Reached Patient  "])
def test_resolve_tolerates_separators_around_the_number(text):
    intent = parse(text)
    assert (intent.kind, intent.number, intent.note, intent.problem) == \
        (Kind.RESOLVE, 482, "Reached Patient", None)


def test_resolve_note_keeps_its_trailing_punctuation():
    assert parse("RESOLVE 482 spoke to pt (fine).").note == "spoke to pt (fine)."


def test_resolve_note_is_capped_at_500_characters():
    intent = parse("RESOLVE 482 " + "x" * 2000)
    assert intent.note == "x" * 500


@pytest.mark.parametrize("text", ["RESOLVE 482", "RESOLVE 482.", "RESOLVE 482 👍"])
def test_resolve_without_a_note_asks_for_one(text):
    intent = parse(text)
    assert intent.kind is Kind.RESOLVE
    assert intent.number == 482
    assert intent.note is None
    assert intent.problem == "Add a note: RESOLVE 482 <what happened>"


@pytest.mark.parametrize("text", ["RESOLVE", "resolve abc fixed it", "RESOLVE -482 fine", "RESOLVE 482abc",
                                  "RESOLVE 1234567890 fine"])
def test_resolve_without_a_usable_number_explains_the_problem(text):
    intent = parse(text)
    assert intent.kind is Kind.RESOLVE
    assert intent.number is None
    assert intent.problem == "Send RESOLVE, the alert number and a note, like RESOLVE 482 reached patient."


# --- questionnaire answers -------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("128/82", "128/82"), ("128 / 82", "128/82"), ("128 over 82", "128/82"), ("128 OVER 82", "128/82"),
    ("128/82.", "128/82"), ("72", "72"), ("0", "0"), ("10", "10"), ("007", "7"), (" 6 ", "6"),
    ("y", "Y"), ("Y", "Y"), ("n", "N"), ("N.", "N"), ("no", "N"), ("NO!", "N"), ("５", "5"),
])
def test_questionnaire_values_are_answers_with_a_canonical_text(text, value):
    intent = parse(text)
    assert intent.kind is Kind.ANSWER
    assert intent.text == value


def test_answers_are_not_range_checked():
    assert parse("999/1").text == "999/1"
    assert parse("123456789").text == "123456789"


@pytest.mark.parametrize("text", ["-5", ".5", "98.6", "5 mg", "72 bpm", "1234567890", "128-82", "nope"])
def test_signed_decimal_or_unit_values_are_not_answers(text):
    assert parse(text).kind is Kind.UNKNOWN


def test_a_keycap_digit_emoji_is_that_digit():
    assert parse("5️⃣") == Intent(Kind.ANSWER, "5")


# --- empty and unknown -----------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t", "...", "?!", "🙏", "👍🏻❤️", "🇺🇸", "👨‍👩‍👧", "\x00\x00", "\u200b"])
def test_whitespace_punctuation_or_emoji_only_is_empty(text):
    assert parse(text) == Intent(Kind.EMPTY, "")


def test_anything_else_is_unknown_with_the_normalised_text():
    assert parse("  Hello,   can I   call you?  ") == Intent(Kind.UNKNOWN, "Hello, can I call you")


def test_unknown_text_is_truncated_to_1600_characters():
    intent = parse("a" * 5000)
    assert intent.kind is Kind.UNKNOWN
    assert intent.text == "a" * 1600


# --- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "a" * 100_000, " " * 100_000 + "STOP", "1" * 100_000, "RESOLVE 1 " + "x" * 100_000, "(" * 100_000,
    "\x00STOP\x00", "\ud800\udfff", "a\ud83dz", "\u0301\u0301stop", "\U0010ffff", "\ufdfa" * 1000,
    "RECEIVED" + "#" * 50_000 + "8", "1/" * 50_000,
])
def test_hostile_input_never_raises(text):
    intent = parse(text)
    assert isinstance(intent, Intent)
    assert len(intent.text) <= 1600
    intent.text.encode("utf-8")   # no lone surrogates survive


def test_control_characters_inside_become_spaces():
    assert parse("hi\x00there\x07").text == "hi there"


def test_lone_surrogates_become_replacement_characters():
    assert parse("a\ud800b").text == "a\ufffdb"


def test_non_string_input_never_raises():
    assert parse(b"STOP").kind is Kind.OPT_OUT       # type: ignore[arg-type]
    assert parse(72).text == "72"                    # type: ignore[arg-type]


def test_the_parser_imports_only_the_standard_library():
    tree = ast.parse(Path(parsing.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


# --- crisis phrases --------------------------------------------------------------------------


@pytest.mark.parametrize("text, phrase", [
    ("I want to KILL   myself!!", "kill myself"),
    ("I cant breathe", "can't breathe"),
    ("I can’t breathe", "can't breathe"),
    ("i can't breathe", "can’t breathe"),
    ("Chest pain since 3pm", "chest pain"),
    ("chest-pain", "chest pain"),
    ("thinking about self harm", "self-harm"),
    ("I think I overdosed", "overdos*"),
    ("overdose", "overdos*"),
    ("SUICIDE.", "suicide"),
])
def test_crisis_phrase_matches_regardless_of_case_punctuation_and_apostrophes(text, phrase):
    assert mentions_crisis(text, [phrase])


@pytest.mark.parametrize("text, phrase", [
    ("skill myself at chess", "kill myself"),
    ("I overdosed", "overdose"),          # no "*": whole words only
    ("chest painting", "chest pain"),
    ("pain in my chest", "chest pain"),
])
def test_crisis_phrase_needs_whole_words(text, phrase):
    assert not mentions_crisis(text, [phrase])


def test_a_single_string_is_one_phrase_not_its_letters():
    assert not mentions_crisis("a", "chest pain")
    assert mentions_crisis("bad chest pain", "chest pain")


@pytest.mark.parametrize("text, phrases", [
    (None, CRISIS_PHRASES), ("", CRISIS_PHRASES), ("hello", []), ("hello", ["", "*", "!!!", None, 42]),
    ("\ud800 suicide", CRISIS_PHRASES), ("x" * 100_000, CRISIS_PHRASES), (42, CRISIS_PHRASES),
])
def test_mentions_crisis_never_raises(text, phrases):
    assert mentions_crisis(text, phrases) in (True, False)


def test_crisis_phrases_survive_surrogates_nearby():
    assert mentions_crisis("\ud800 suicide", CRISIS_PHRASES)


@pytest.mark.parametrize("text", [
    "I want to die", "feeling suicidal", "I took too many pills", "my son is not breathing",
    "she passed out", "having a seizure", "I think it is a heart attack", "trouble breathing",
])
def test_the_reviewed_list_catches_plain_crisis_texts(text):
    assert mentions_crisis(text, CRISIS_PHRASES)


@pytest.mark.parametrize("text", ["READY", "128/82", "TAKEN", "all good, thanks", "RECEIVED 8"])
def test_the_reviewed_list_leaves_routine_texts_alone(text):
    assert not mentions_crisis(text, CRISIS_PHRASES)

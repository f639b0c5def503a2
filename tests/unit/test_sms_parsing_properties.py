"""Properties of the inbound SMS parser, for any text at all. Pure: no app, no database.

`_parse` (the parser without `parse`'s last-resort safety net) is exercised too, so a bug that
the net would quietly turn into UNKNOWN still fails here.
"""
from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from config.sms import CRISIS_PHRASES
from telehealth.inbound.parsing import Intent, Kind, _parse, mentions_crisis, parse

# These run with the unit tests on every change: the whole file stays within a few seconds.
THOROUGH = settings(max_examples=300, deadline=None)   # for the never-raises properties
FAST = settings(max_examples=150, deadline=None)

# Written out here, not imported, so an addition to the parser's sets has to be deliberate.
RESERVED_OPT_OUT = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
RESERVED_OPT_IN = {"start", "unstop", "yes"}
KEYWORDS = [
    *((word, Kind.OPT_OUT) for word in sorted(RESERVED_OPT_OUT)),
    *((word, Kind.OPT_IN) for word in sorted(RESERVED_OPT_IN)),
    ("help", Kind.HELP), ("info", Kind.HELP), ("sos", Kind.SOS), ("here", Kind.HERE), ("ok", Kind.OK),
    ("ready", Kind.READY), ("taken", Kind.TAKEN), ("status", Kind.STATUS), ("skip", Kind.SKIP),
    ("ack", Kind.ACK),
]


def _is_stable_junk(ch: str) -> bool:
    """Punctuation, symbol or space that stays one after NFKC ("™" becomes "TM": not junk)."""
    return all(unicodedata.category(c)[0] in "PSZ" for c in unicodedata.normalize("NFKC", ch))


any_character = st.one_of(st.characters(), st.characters(categories=["Cs"]),
                          st.characters(categories=["Cc", "Cf", "Co", "Cn", "Mn", "Me"]))
# Short arbitrary text, plus long text cheaply made by repeating a short chunk (up to 10k chars; the unit tests try 100k).
any_text = st.one_of(
    st.text(any_character, max_size=100),
    st.builds(lambda chunk, times: chunk * times, st.text(any_character, min_size=1, max_size=10),
              st.integers(1, 1000)),
)
junk = st.lists(
    st.one_of(st.characters(categories=["P", "S", "Z"]).filter(_is_stable_junk),
              st.sampled_from([" ", "\t", "\n", "\r\n", "\u3000", "\xa0", "\x00", "\u200b", "🙏", "🙏🏽",
                               "❤️", "👍🏻", "🇺🇸", "👨‍👩‍👧"])),
    max_size=6).map("".join)


def random_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(word, upper)))


keyword_with_kind = st.sampled_from(KEYWORDS).flatmap(
    lambda pair: st.tuples(random_case(pair[0]), st.just(pair[1])))
# Texts near the reserved words: a word, maybe with random text glued in, wrapped in junk.
near_keyword = st.builds(
    lambda before, word, middle, after: before + word[0] + middle + after,
    junk, keyword_with_kind, st.one_of(st.just(""), st.text(max_size=5)), junk)


@THOROUGH
@given(any_text)
def test_parse_never_raises_and_returns_an_intent(text):
    for intent in (parse(text), _parse(text)):
        assert isinstance(intent, Intent)
        assert isinstance(intent.kind, Kind)
        assert len(intent.text) <= 1600
        intent.text.encode("utf-8")   # no lone surrogates survive
        assert (intent.kind is Kind.EMPTY) == (intent.text == "")


@FAST
@given(junk, keyword_with_kind, junk)
def test_keywords_survive_random_case_and_surrounding_punctuation_and_whitespace(before, keyword, after):
    word, kind = keyword
    assert _parse(before + word + after).kind is kind


@FAST
@given(junk, random_case("received"), st.sampled_from(["", " ", ": ", " #", "-", " - "]),
       st.integers(0, 9999), junk)
def test_received_n_survives_random_case_and_surrounding_punctuation(before, word, separator, n, after):
    intent = _parse(f"{before}{word}{separator}{n}{after}")
    assert (intent.kind, intent.number, intent.problem) == (Kind.RECEIVED, n, None)


@FAST
@given(st.one_of(any_text, near_keyword))
def test_anything_that_opts_out_really_is_a_reserved_word(text):
    intent = _parse(text)
    reserved = re.sub(r"[\s\-\u2010\u2011]", "", intent.text.casefold())
    assert (intent.kind is Kind.OPT_OUT) == (reserved in RESERVED_OPT_OUT)
    if intent.kind is Kind.OPT_IN:
        assert reserved in RESERVED_OPT_IN


@FAST
@given(st.one_of(any_text, near_keyword))
def test_parsing_the_normalised_text_again_gives_the_same_intent(text):
    intent = _parse(text)
    if intent.kind in (Kind.UNKNOWN, Kind.ANSWER) or len(intent.text) >= 1600:
        return   # answers are canonicalised ("no" -> "N"); unknown text may be truncated
    if intent.kind is Kind.RESOLVE:
        return   # the note keeps punctuation the normalised text drops
    assert _parse(intent.text) == intent


@THOROUGH
@given(any_text, st.lists(st.one_of(st.text(any_character, max_size=30), st.sampled_from(CRISIS_PHRASES)),
                          max_size=5))
def test_mentions_crisis_never_raises(text, phrases):
    assert mentions_crisis(text, phrases) in (True, False)
    assert mentions_crisis(text, CRISIS_PHRASES) in (True, False)


@FAST
@given(st.text(any_character, max_size=100), st.sampled_from(CRISIS_PHRASES), st.text(any_character, max_size=100))
def test_a_crisis_phrase_set_apart_by_spaces_is_always_found(before, phrase, after):
    shouted = phrase.upper().replace("*", "")
    assert mentions_crisis(f"{before} {shouted} {after}", CRISIS_PHRASES)

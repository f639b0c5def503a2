"""The audit chain's byte encodings: stable, injective, and the MACs are standard HMAC-SHA-256."""
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest

from telehealth.audit.canonical import (
    EVENT_TAG, GENESIS, SEAL_TAG, ChainKey, details_text, event_content, new_nonce, time_text)

KEY = "unit-test-audit-key-0123456789abcdef"


def content(**changes):
    fields = dict(occurred_at="2026-11-20T15:00:00.000000Z", actor_user_id=3, actor_label="Dr Ada Example",
                  action="patient.record_read", object_type="patient", object_id="12", patient_id=12,
                  client_address="10.0.0.7", details='{"channel": "web"}')
    fields.update(changes)
    return event_content(*fields.values())


def test_the_content_encoding_is_fixed():
    """These exact bytes are what every stored MAC covers: changing them breaks every chain."""
    assert content() == (b"27:2026-11-20T15:00:00.000000Z\n1:3\n14:Dr Ada Example\n19:patient.record_read\n"
                         b"7:patient\n2:12\n2:12\n8:10.0.0.7\n18:{\"channel\": \"web\"}\n")
    assert event_content("t", None, "system: cli", "logout", None, None, None, None, "{}") == \
        b"1:t\n-\n11:system: cli\n6:logout\n-\n-\n-\n-\n2:{}\n"


def test_texts_are_length_prefixed_so_no_two_rows_share_a_content():
    # A label that looks like the next field, or a newline that looks like the end of one.
    assert content(actor_label="A\n6:action", action="x") != content(actor_label="A", action="action")
    assert content(actor_label="A\n", object_type=None) != content(actor_label="A", object_type="")
    assert content(client_address=None) != content(client_address="-")
    assert b"\n0:\n" in content(object_type="")  # an empty text is not an absent one
    assert content(actor_label="Zoë") == content().replace(b"14:Dr Ada Example", "4:Zoë".encode())
    assert b"4:Zo\xc3\xab" in content(actor_label="Zoë")  # lengths count UTF-8 bytes


def test_time_is_utc_with_six_fractional_digits():
    assert time_text(datetime(2026, 11, 20, 10, 0, tzinfo=timezone(timedelta(hours=-5)))) == \
        "2026-11-20T15:00:00.000000Z"
    assert time_text(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)) == "2026-01-02T03:04:05.000006Z"
    with pytest.raises(ValueError):
        time_text(datetime(2026, 1, 2))


def test_details_are_sorted_and_stored_as_json_dumps_writes_them():
    text = details_text({"b": [1, 2], "a": {"y": 1, "x": "é"}})
    assert text == '{"a": {"x": "\\u00e9", "y": 1}, "b": [1, 2]}'
    # The JSON column stores json.dumps of the dict record() hands it: the same text.
    assert json.dumps(json.loads(text)) == text
    assert details_text(None) == details_text({}) == "{}"


def test_the_keyed_hashes_are_hmac_sha256():
    key = ChainKey(KEY)
    nonce = new_nonce()
    assert len(nonce) == 16 and new_nonce() != nonce
    assert key.event_mac(nonce, content()) == hmac.digest(KEY.encode(), EVENT_TAG + nonce + content(), "sha256")
    mac = key.event_mac(nonce, content())
    expected = hmac.digest(KEY.encode(), SEAL_TAG + (7).to_bytes(8, "big") + (42).to_bytes(8, "big") + GENESIS + mac,
                           "sha256")
    assert key.seal_hash(7, 42, GENESIS, mac) == expected
    long_key = "k" * 100
    assert ChainKey(long_key).mac(b"x") == hmac.digest(long_key.encode(), b"x", hashlib.sha256)


def test_every_part_of_a_link_counts():
    key = ChainKey(KEY)
    mac = key.event_mac(bytes(16), content())
    link = key.seal_hash(2, 10, GENESIS, mac)
    assert key.seal_hash(3, 10, GENESIS, mac) != link           # another position
    assert key.seal_hash(2, 11, GENESIS, mac) != link           # another event id
    assert key.seal_hash(2, 10, b"\1" * 32, mac) != link        # another predecessor
    assert key.seal_hash(2, 10, GENESIS, bytes(32)) != link     # another event
    assert ChainKey(KEY + "x").seal_hash(2, 10, GENESIS, mac) != link  # another key
    assert key.event_mac(bytes(16), content(details='{"channel": "sms"}')) != mac
    assert key.event_mac(b"\1" * 16, content()) != mac


def test_an_empty_key_is_refused():
    with pytest.raises(ValueError):
        ChainKey("")


def test_production_refuses_a_short_or_throwaway_audit_key():
    from config import ConfigurationError, load_settings
    from tests.unit.test_config import COMPLETE_PRODUCTION

    for weak in ("short", load_settings("development", environ={})["AUDIT_HMAC_KEY"]):
        with pytest.raises(ConfigurationError, match="AUDIT_HMAC_KEY"):
            load_settings("production", environ={**COMPLETE_PRODUCTION, "AUDIT_HMAC_KEY": weak})


def test_development_and_testing_keys_are_fixed_so_other_processes_can_verify():
    from config import load_settings

    for profile in ("development", "testing"):
        assert load_settings(profile, environ={})["AUDIT_HMAC_KEY"] == load_settings(profile, environ={})["AUDIT_HMAC_KEY"]

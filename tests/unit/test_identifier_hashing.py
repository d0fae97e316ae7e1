"""Keyed pseudonyms for IPs and device ids: stable, salted, configured in one place, never the raw value."""

import hashlib
import hmac
import random
import re
import subprocess
import sys

import pytest

from shopguard.config import ConfigError, PrivacySettings, load_config
from shopguard.udfs.identifier_hashing import DEFAULT_SALT, IdentifierHashing

SALTED = IdentifierHashing.from_settings(PrivacySettings(), {"SHOPGUARD_ID_SALT": "s3cret"})
PSEUDONYM = re.compile(r"^h:[0-9a-f]{16}$")


def test_a_pseudonym_is_h_and_16_hex_digits_equal_for_equal_values_and_depends_on_the_salt():
    first = SALTED.pseudonym("203.0.113.7")
    assert PSEUDONYM.match(first) and first == SALTED.pseudonym("203.0.113.7")
    assert first != SALTED.pseudonym("203.0.113.8")
    other_salt = IdentifierHashing.from_settings(PrivacySettings(), {"SHOPGUARD_ID_SALT": "another"})
    assert other_salt.pseudonym("203.0.113.7") != first


def test_the_pseudonym_is_the_same_in_another_process():
    # Flink runs the functions in other processes (TaskManagers, Python workers); str hashing is randomised
    # per process, so this proves nothing depends on it.
    code = (
        "from shopguard.udfs.identifier_hashing import IdentifierHashing; "
        "print(IdentifierHashing(key=b's3cret').pseudonym('203.0.113.7'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "12345"}
    ).stdout.strip()
    assert out == SALTED.pseudonym("203.0.113.7")


def test_the_salt_comes_from_the_named_environment_variable_and_never_shows_in_repr():
    cfg = load_config(None, ["privacy.salt_env=MY_SALT"])
    hashing = IdentifierHashing.from_settings(cfg.privacy, {"MY_SALT": "s3cret", "SHOPGUARD_ID_SALT": "other"})
    assert hashing.pseudonym("d1") == SALTED.pseudonym("d1") and hashing.warning is None
    assert "s3cret" not in repr(hashing) and "key" not in repr(hashing)


def test_without_the_variable_the_public_default_salt_is_used_with_a_warning_that_names_it():
    hashing = IdentifierHashing.from_settings(PrivacySettings(), {})
    assert hashing.pseudonym("d1") == IdentifierHashing(key=DEFAULT_SALT.encode()).pseudonym("d1")
    assert "SHOPGUARD_ID_SALT (privacy.salt_env) is not set" in hashing.warning


@pytest.mark.parametrize(
    "settings, environ, message",
    [
        (PrivacySettings(salt_env=""), {}, "privacy.salt_env is empty"),
        (PrivacySettings(), {"SHOPGUARD_ID_SALT": ""}, r"SHOPGUARD_ID_SALT \(privacy.salt_env\) is set but empty"),
    ],
)
def test_a_salt_setting_that_cannot_work_is_an_error_naming_the_setting(settings, environ, message):
    with pytest.raises(ConfigError, match=message):
        IdentifierHashing.from_settings(settings, environ)


def test_hashing_can_be_switched_off_and_then_lets_everything_pass():
    off = IdentifierHashing.from_settings(PrivacySettings(hash_identifiers=False), {})
    body = {"ip": "203.0.113.7", "device_id": "d1"}
    assert not off.enabled and off.warning is None
    assert off.scrub(body) is body and off.scrub_text('"ip": "203.0.113.7"') == '"ip": "203.0.113.7"'


def test_scrub_pseudonymises_identifiers_at_any_depth_and_leaves_everything_else():
    body = {
        "user_id": "u1",
        "ip": "203.0.113.7",
        "device_id": 42,
        "session_id": "s1",
        "context": {"ip": "198.51.100.1", "device_id": None},
        "events": [{"device_id": ["d", 1]}, "ip"],
        "empty": {"ip": ""},
    }
    scrubbed = SALTED.scrub(body)
    assert scrubbed == {
        "user_id": "u1",
        "ip": SALTED.pseudonym("203.0.113.7"),
        "device_id": SALTED.pseudonym("42"),
        "session_id": "s1",
        "context": {"ip": SALTED.pseudonym("198.51.100.1"), "device_id": None},
        "events": [{"device_id": SALTED.pseudonym('["d",1]')}, "ip"],
        "empty": {"ip": ""},
    }
    assert body["ip"] == "203.0.113.7"  # the input is not changed
    assert list(scrubbed) == list(body)  # nor is the order of its fields


def test_scrub_returns_its_input_when_there_is_nothing_to_hash():
    body = {"user_id": "u1", "nested": [{"a": 1}]}
    assert SALTED.scrub(body) is body


def test_scrub_handles_nesting_deeper_than_the_recursion_limit():
    body: object = {"ip": "203.0.113.7"}
    for _ in range(sys.getrecursionlimit() * 2):
        body = [body]
    scrubbed = SALTED.scrub(body)
    for _ in range(sys.getrecursionlimit() * 2):
        scrubbed = scrubbed[0]
    assert scrubbed == {"ip": SALTED.pseudonym("203.0.113.7")}


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"user_id": "u1", "ip": "203.0.113.7", "ts": ', '{"user_id": "u1", "ip": "IP", "ts": '),
        ('{"device_id":42,"x', '{"device_id":"N42","x'),
        ('{"ip" : "a\\"b", "device_id": "d1"', '{"ip" : "Q", "device_id": "D"'),
        ('{"user_id": "u1", "ip": "203.0.11', '{"user_id": "u1", "ip": "CUT"'),
        ('{"ip": "203.0.113.7\\', '{"ip": "CUT2"'),
        ("no identifiers here: ip 203.0.113.7", "no identifiers here: ip 203.0.113.7"),
    ],
)
def test_scrub_text_replaces_identifier_pairs_in_text_that_is_not_json(text, expected):
    names = {
        "IP": SALTED.pseudonym("203.0.113.7"),
        "N42": SALTED.pseudonym("42"),
        "Q": SALTED.pseudonym('a"b'),
        "D": SALTED.pseudonym("d1"),
        "CUT": SALTED.pseudonym('"203.0.11'),
        "CUT2": SALTED.pseudonym('"203.0.113.7\\'),
    }
    for placeholder, pseudonym in names.items():
        expected = expected.replace(f'"{placeholder}"', f'"{pseudonym}"')
    assert SALTED.scrub_text(text) == expected


def test_the_pseudonym_is_hmac_sha256_of_the_value_under_the_salt_for_any_salt_and_value():
    rng = random.Random(5)
    for _ in range(300):
        key = rng.randbytes(rng.randrange(1, 100))
        value = "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(0, 30)))
        expected = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]
        assert IdentifierHashing(key=key).pseudonym(value) == "h:" + expected


def test_a_remembered_pseudonym_is_the_one_computed_and_the_memory_stays_bounded(monkeypatch):
    import shopguard.udfs.identifier_hashing as module

    monkeypatch.setattr(module, "KNOWN_PSEUDONYMS", 50)
    rng = random.Random(7)
    key = rng.randbytes(16)
    hashing, known = IdentifierHashing(key=key), module._known_pseudonyms(key)
    values = [f"device-{rng.randrange(80)}" for _ in range(1_000)]  # repeats, more distinct values than remembered
    for value in values:
        expected = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        assert hashing.pseudonym(value) == "h:" + expected
        assert len(known) <= 50
    assert IdentifierHashing(key=rng.randbytes(16)).pseudonym(values[0]) != hashing.pseudonym(values[0])

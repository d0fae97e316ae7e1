"""The console's parts beside its pages: the board, the pseudonyms, the port check, and ./dev's Chromium step."""

from __future__ import annotations

import pathlib
import socket
import subprocess

import pytest

from shopguard.config import ConfigError, PrivacySettings, load_config
from shopguard.console.alert_board import AlertBoard, AlertFilter
from shopguard.console.pseudonyms import console_hashing, display_safe
from shopguard.console.server import check_port_free, console_url
from shopguard.udfs.identifier_hashing import DEFAULT_SALT, IdentifierHashing

DEV = pathlib.Path(__file__).resolve().parents[2] / "dev"


def alert(alert_id: str, user: str, at: str, revision: int = 0, score: float = 0.95) -> dict:
    return {"alert_id": alert_id, "user_id": user, "detected_at": at, "revision": revision, "score": score}


def test_the_board_keeps_the_newest_revision_of_an_alert():
    board = AlertBoard(capacity=10)
    board.add_alert(alert("a1", "u1", "2026-12-06T06:00:00.000Z", revision=2, score=0.99))
    board.add_alert(alert("a1", "u1", "2026-12-06T06:00:00.000Z", revision=1, score=0.91))  # late, older revision
    assert board.alert("a1")["score"] == 0.99
    board.add_alert(alert("a1", "u1", "2026-12-06T06:00:09.000Z", revision=3, score=0.995))
    assert [a["score"] for a in board.open_alerts(AlertFilter())] == [0.995]


def test_the_board_holds_at_most_its_capacity_and_skips_records_without_an_id():
    board = AlertBoard(capacity=2)
    for n in range(3):
        board.add_alert(alert(f"a{n}", "u1", f"2026-12-06T06:00:0{n}.000Z"))
    board.add_alert({"user_id": "u9"})
    assert [a["alert_id"] for a in board.open_alerts(AlertFilter())] == ["a2", "a1"]


def test_earlier_alerts_are_the_same_users_before_this_one_with_their_verdicts():
    board = AlertBoard(capacity=10)
    board.add_alert(alert("a1", "u1", "2026-12-06T06:00:00.000Z"))
    board.add_alert(alert("a2", "u2", "2026-12-06T06:00:01.000Z"))
    board.add_alert(alert("a3", "u1", "2026-12-06T06:00:02.000Z"))
    board.add_alert(alert("a4", "u1", "2026-12-06T06:00:03.000Z"))
    board.add_verdict({"alert_id": "a1", "verdict": "false_positive", "decided_at": "2026-12-06T06:01:00.000Z"})
    earlier = board.earlier_alerts(board.alert("a3"))
    assert [(a["alert_id"], (a["verdict"] or {}).get("verdict")) for a in earlier] == [("a1", "false_positive")]


def test_the_newest_verdict_on_an_alert_wins():
    board = AlertBoard(capacity=10)
    board.add_verdict({"alert_id": "a1", "verdict": "confirmed", "decided_at": "2026-12-06T07:00:00.000Z"})
    board.add_verdict({"alert_id": "a1", "verdict": "false_positive", "decided_at": "2026-12-06T06:00:00.000Z"})
    assert board.verdict("a1")["verdict"] == "confirmed"


def test_identifiers_become_pseudonyms_and_other_text_stays():
    hashing = IdentifierHashing(key=b"k")
    shown = display_safe(
        {
            "user_id": "u1",
            "detected_at": "2026-12-06T06:00:05.123Z",
            "ring": {"entity_type": "ip", "entity_id": "2001:db8::7", "accounts": ["u1", "u2"]},
            "devices": [{"device_id": 4711}, {"device_id": "h:0011223344556677"}],
            "text": "version 1.2.3.4.5 at 06:00:05, from 10.0.0.1 and 2001:db8::1",
        },
        hashing,
    )
    assert shown["user_id"] == "u1" and shown["detected_at"] == "2026-12-06T06:00:05.123Z"
    assert shown["ring"]["entity_id"] == hashing.pseudonym("2001:db8::7") and shown["ring"]["accounts"] == ["u1", "u2"]
    assert shown["devices"] == [{"device_id": hashing.pseudonym("4711")}, {"device_id": "h:0011223344556677"}]
    assert shown["text"] == (
        f"version 1.2.3.4.5 at 06:00:05, from {hashing.pseudonym('10.0.0.1')} and {hashing.pseudonym('2001:db8::1')}"
    )


def test_the_console_hashes_with_the_jobs_salt_and_still_hashes_when_the_job_does_not():
    settings = PrivacySettings()
    assert console_hashing(settings, {"SHOPGUARD_ID_SALT": "pepper"}).pseudonym("203.0.113.7") == "h:f9a092447a622340"
    off = console_hashing(PrivacySettings(hash_identifiers=False), {})
    assert off.pseudonym("203.0.113.7") == IdentifierHashing(key=DEFAULT_SALT.encode()).pseudonym("203.0.113.7")


def test_a_port_in_use_is_refused_naming_the_setting():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        cfg = load_config(None, [f"console.port={port}"])
        with pytest.raises(ConfigError, match=rf"console.host:console.port 127.0.0.1:{port} is in use"):
            check_port_free(cfg)


def _ensure_chromium(fake_bin: pathlib.Path) -> subprocess.CompletedProcess:
    """Runs ./dev's own ``ensure_chromium`` (cut out of ``dev``) with only ``fake_bin`` on PATH."""
    script = f'source <(/usr/bin/sed -n "/^die() {{/,/^}}/p;/^ensure_chromium() {{/,/^}}/p" "{DEV}")\nensure_chromium\n'
    env = {"PATH": str(fake_bin), "TMPDIR": str(fake_bin)}
    return subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, env=env)


def test_dev_installs_chromium_only_when_missing_and_says_what_to_do_when_apt_fails(tmp_path):
    (tmp_path / "apt-get").write_text("#!/bin/sh\necho 'E: Unable to locate package chromium' >&2\nexit 100\n")
    (tmp_path / "apt-get").chmod(0o755)
    failed = _ensure_chromium(tmp_path)
    assert failed.returncode == 2
    assert "apt-get could not install chromium" in failed.stderr
    assert "run 'apt-get update && apt-get install chromium', then ./dev setup again" in failed.stderr
    assert "Unable to locate package" in (tmp_path / "shopguard-apt-chromium.log").read_text()
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    (tmp_path / "chromium").chmod(0o755)
    present = _ensure_chromium(tmp_path)
    assert present.returncode == 0 and present.stdout == ""  # already there: apt-get is not run


def test_the_console_binds_to_loopback_unless_configured_otherwise():
    cfg = load_config(None)
    assert cfg.console.host == "127.0.0.1"
    assert console_url(cfg) == "http://127.0.0.1:8765/"
    assert load_config(None, ["console.host=0.0.0.0"]).console.host == "0.0.0.0"

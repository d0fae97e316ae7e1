"""The review console's pages and its verdict request, through Starlette's test client.

The board, the rules, the pseudonyms and the verdict checks are the real ones; only the write to Kafka
is replaced by a list (the end-to-end test, tests/integration/test_console_browser.py, writes to the real
broker from the real browser).
"""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from shopguard.config import ConsoleSettings
from shopguard.console import cross_site
from shopguard.console.active_rules import ActiveRules
from shopguard.console.alert_board import AlertBoard
from shopguard.console.web_app import SHOWN_APART, ConsoleParts, create_app
from shopguard.training.analyst_verdicts import make_verdict
from shopguard.udfs.alerts import ALERT_FIELDS, build_alert
from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing

ORIGIN = "http://127.0.0.1:8765"
SALT = "console-test-salt-never-shown"
HASHING = IdentifierHashing(key=SALT.encode())
T0 = 1_764_990_000_000
DENY = {
    "id": "deny-devices",
    "version": 3,
    "owner": "risk",
    "description": "one device",
    "kind": "deny",
    "device_keys": ["h:0011223344556677"],
}


def alert(user: str, event: str, score: float, at_s: int, model: str = "m1", **extra) -> dict:
    events = [Event(f"{event}-{i}", user, "payment_failed", T0 + 500 * i, price=1.0) for i in range(4)]
    built = build_alert(
        user_id=user,
        session_id=None,
        event_id=f"{event}-3",
        event_ts=T0 + 1500,
        codes=encode_user_events(events, 32)[-1],
        recent_event_ids=[e.event_id for e in events],
        score=score,
        threshold=0.9,
        model_version=model,
        detected_at_ms=T0 + at_s * 1000,
        detectors={"rarity": 0.42, "next_event": 0.95},
        contributions=[{"event_id": f"{event}-2", "event": "payment_failed", "contribution": 0.2}],
    )
    return {**built, **extra}


@pytest.fixture
def console():
    board, rules, written = AlertBoard(capacity=100), ActiveRules(), []

    def record_verdict(published, verdict, anomaly_type, note):
        decided = make_verdict(published, verdict, anomaly_type, analyst="ana", note=note)
        written.append(decided)
        return decided

    parts = ConsoleParts(board, rules, HASHING, record_verdict, lambda: "following behavior-alerts")
    client = TestClient(create_app(parts, ConsoleSettings()), base_url=ORIGIN)
    return client, board, rules, written


def token_of(client: TestClient, path: str = "/") -> str:
    page = client.get(path)
    (token,) = set(re.findall(r'name="csrf_token" value="([^"]+)"', page.text)) or {page.cookies[cross_site.COOKIE]}
    return token


def test_open_alerts_are_listed_newest_first_and_filtered(console):
    client, board, _, _ = console
    board.add_alert(alert("u1", "a", 0.95, at_s=1, anomaly_type="bot"))
    board.add_alert(alert("u2", "b", 0.99, at_s=2, model="m2"))
    board.add_alert(alert("u3", "c", 0.91, at_s=3))
    page = client.get("/")
    assert page.status_code == 200
    assert re.findall(r"<td>(u\d)</td>", page.text) == ["u3", "u2", "u1"]
    assert re.findall(r"<td>(u\d)</td>", client.get("/?type=bot").text) == ["u1"]
    assert re.findall(r"<td>(u\d)</td>", client.get("/?min_score=0.94").text) == ["u2", "u1"]
    assert re.findall(r"<td>(u\d)</td>", client.get("/?model_version=m2").text) == ["u2"]
    refused = client.get("/?min_score=high")
    assert refused.status_code == 400 and "min_score &#39;high&#39; is not a number" in refused.text


def test_the_rows_answer_only_when_the_board_changed(console):
    client, board, _, _ = console
    board.add_alert(alert("u1", "a", 0.95, at_s=1))
    first = client.get("/alerts/rows")
    version = first.headers["X-Board-Version"]
    assert first.status_code == 200 and "u1" in first.text and first.headers["X-Open-Alerts"] == "1"
    assert client.get(f"/alerts/rows?since={version}").status_code == 204
    board.add_alert(alert("u2", "b", 0.97, at_s=2))
    changed = client.get(f"/alerts/rows?since={version}")
    assert changed.status_code == 200 and changed.text.index("u2") < changed.text.index("u1")


def test_an_alert_page_shows_reasons_detectors_events_and_earlier_alerts(console):
    client, board, _, _ = console
    hit = {"id": "cards", "version": 2, "effect": "count", "reason": "3 payment_failed events within 60 s"}
    earlier = alert("u1", "a", 0.93, at_s=1)
    later = alert("u1", "b", 0.97, at_s=60, rules=[hit], session={"events": 4, "distinct_items": 1})
    board.add_alert(earlier)
    board.add_alert(later)
    page = client.get(f"/alerts/{later['alert_id']}").text
    assert "failed payments among the last" in page
    assert re.search(r"<td>rarity</td><td class=\"num\">0.42</td>", page)
    assert re.search(r"<td>next_event</td><td class=\"num\">0.95</td>", page)
    assert all(f"<td>b-{i}</td>" in page for i in range(4))
    assert "raised the lstm score by 0.200" in page  # what the reasons say about event b-2
    assert f'href="/alerts/{earlier["alert_id"]}"' in page  # the user's earlier alert
    assert re.search(r'<td><a href="/rules">cards</a></td><td>2</td><td>count</td>\s*<td>3 payment_failed', page)
    assert "distinct_items" in page  # fields the page does not lay out itself are still shown
    assert client.get("/alerts/no-such-alert").status_code == 404


def test_a_confirmation_with_a_type_is_recorded_and_closes_the_alert(console):
    client, board, _, written = console
    judged = alert("u1", "a", 0.95, at_s=1)
    board.add_alert(judged)
    token = token_of(client, f"/alerts/{judged['alert_id']}")
    done = client.post(
        f"/alerts/{judged['alert_id']}/verdict",
        data={"csrf_token": token, "verdict": "confirmed", "anomaly_type": "card_testing", "note": "three cards"},
        headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/alerts/{judged['alert_id']}"
    (verdict,) = written
    assert (verdict.alert_id, verdict.user_id, verdict.verdict, verdict.anomaly_type, verdict.note) == (
        judged["alert_id"],
        "u1",
        "confirmed",
        "card_testing",
        "three cards",
    )
    assert "u1" not in client.get("/alerts/rows").text  # no longer open
    assert "confirmed as card_testing, by ana" in client.get(f"/alerts/{judged['alert_id']}").text


def test_a_false_positive_is_recorded_and_a_bad_verdict_refused_with_its_reason(console):
    client, board, _, written = console
    judged = alert("u1", "a", 0.95, at_s=1)
    board.add_alert(judged)
    token = token_of(client)
    url = f"/alerts/{judged['alert_id']}/verdict"
    refused = client.post(url, data={"csrf_token": token, "verdict": "confirmed", "anomaly_type": "teleportation"})
    assert refused.status_code == 400 and "unknown abuse type &#39;teleportation&#39;" in refused.text
    assert written == []
    done = client.post(url, data={"csrf_token": token, "verdict": "false_positive"}, follow_redirects=False)
    assert done.status_code == 303 and [v.verdict for v in written] == ["false_positive"]


@pytest.mark.parametrize(
    "form_token, headers, reason",
    [
        (None, {}, "form token is missing"),
        ("forged", {}, "does not match"),
        ("GOOD", {"Origin": "https://evil.example"}, "comes from &#39;https://evil.example&#39;"),
        ("GOOD", {"Sec-Fetch-Site": "cross-site"}, "the browser says it is cross-site"),
    ],
)
def test_a_cross_site_verdict_is_refused_and_nothing_is_written(console, form_token, headers, reason):
    client, board, _, written = console
    judged = alert("u1", "a", 0.95, at_s=1)
    board.add_alert(judged)
    token = token_of(client)
    data = {"verdict": "false_positive"}
    if form_token:
        data["csrf_token"] = token if form_token == "GOOD" else form_token
    refused = client.post(f"/alerts/{judged['alert_id']}/verdict", data=data, headers=headers)
    assert refused.status_code == 403 and reason in refused.text
    assert written == [] and board.verdict(judged["alert_id"]) is None


def test_a_verdict_without_the_cookie_is_refused(console):
    client, board, _, written = console
    judged = alert("u1", "a", 0.95, at_s=1)
    board.add_alert(judged)
    token = token_of(client)
    client.cookies.clear()  # what a request another site starts carries: no SameSite=Strict cookie
    refused = client.post(
        f"/alerts/{judged['alert_id']}/verdict", data={"csrf_token": token, "verdict": "false_positive"}
    )
    assert refused.status_code == 403 and written == []


def test_the_token_cookie_is_strict_and_http_only_and_pages_refuse_framing(console):
    client, _, _, _ = console
    page = client.get("/")
    cookie = page.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie and "httponly" in cookie
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_another_host_name_is_refused_against_dns_rebinding(console):
    client, _, _, _ = console
    assert client.get("/", headers={"Host": "evil.example:8765"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200


def test_pages_show_identifiers_only_as_pseudonyms_and_no_secret(console):
    client, board, rules, _ = console
    raw_ip, raw_device = "203.0.113.7", "phone-4711"
    leaky = alert(
        "u1",
        "a",
        0.95,
        at_s=1,
        ip=raw_ip,
        device_id=raw_device,
        entity={"entity_type": "device", "entity_id": raw_device},
        reasons=[{"feature": "new_ip", "value": 1, "text": f"first seen from {raw_ip}"}],
    )
    board.add_alert(leaky)
    rules.apply(json.dumps(dict(DENY, ip_keys=[raw_ip])))
    rules.apply(json.dumps(dict(DENY, version=9, kind="allow", device_keys=[raw_device], colour="red")))
    pages = [client.get(path).text for path in ("/", "/alerts/rows", f"/alerts/{leaky['alert_id']}", "/rules")]
    everything = "\n".join(pages)
    for secret in (raw_ip, raw_device, SALT):
        assert secret not in everything
    assert HASHING.pseudonym(raw_ip) in pages[2] and HASHING.pseudonym(raw_device) in pages[2]


def test_the_rules_page_lists_the_rules_in_force_and_the_records_refused(console):
    client, _, rules, _ = console
    rules.apply(json.dumps(DENY))
    rules.apply(json.dumps(dict(DENY, version=4, description="two devices", kind="deny")))
    rules.apply(json.dumps(dict(DENY, version=5, kind="teleport")))  # refused: version 4 stays in force
    rules.apply(
        json.dumps(
            {"id": "gone", "version": 1, "owner": "risk", "description": "x", "kind": "deny", "user_ids": ["u1"]}
        )
    )
    rules.apply(json.dumps({"id": "gone", "version": 2, "deleted": True}))
    page = client.get("/rules").text
    assert re.search(
        r'data-rule-id="deny-devices"><td>deny-devices</td><td>4</td><td>deny</td><td>risk</td>\s*'
        r"<td>two devices</td>",
        page,
    )
    assert re.search(
        r'data-refused-rule-id="deny-devices"><td>deny-devices</td><td>5</td>\s*'
        r'<td class="error">unknown kind &#39;teleport&#39;',
        page,
    )
    assert 'data-rule-id="gone"' not in page


def test_the_alert_page_lays_out_fields_that_alerts_have():
    assert set(SHOWN_APART) - {"_arrival"} <= set(ALERT_FIELDS)  # "_arrival" is the board's own mark

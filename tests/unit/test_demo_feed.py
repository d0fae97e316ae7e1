"""What the demo shows a person: one line per alerted user, every dead letter, and a summary."""

from shopguard.local.demo import FeedPrinter

ALERT = {
    "alert_id": "a",
    "user_id": "u1",
    "anomaly_type": "bot",
    "score": 0.99,
    "threshold": 0.9,
    "model_version": "m",
    "reasons": [{"text": "30 fast events"}],
}


def test_the_first_alert_of_a_user_is_shown_and_repeats_are_only_counted(capsys):
    printer = FeedPrinter()
    for _ in range(5):
        printer.show(True, ALERT)
    printer.show(False, {"reason": "malformed_json", "detail": "bad", "record": "{"})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "ALERT bot" in lines[0] and "30 fast events" in lines[0]
    assert "DEAD LETTER malformed_json" in lines[1]
    assert printer.summary() == "5 alerts for 1 users (users by type: bot 1); dead letters: malformed_json 1"

"""Judging what the replayed job wrote against a team's labels, and its report (no Flink here)."""

import json

import pytest

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.training.labelled_replay import ReplayOutput, judge_replay, read_replay_output, replay_labelled
from shopguard.training.labelled_replay_report import write_labelled_report
from shopguard.training.user_labels import UserLabel


def lines(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def job_output(tmp_path):
    """20 normal users, two bots, a card tester alerted only before the onset, one thin user, one stray."""
    events, scores, alerts = [], [], []
    users = {f"n{i}": 0.01 * i for i in range(20)} | {"bot1": 0.9, "bot2": 0.95, "card1": 0.6, "thin": 0.0, "x": 0.3}
    for user, top in users.items():
        count = 1 if user == "thin" else 3
        for k in range(count):
            ts = 1_000_000 + 10_000 * k
            events.append({"event_id": f"{user}-{k}", "user_id": user, "event_type": "page_view", "ts": ts})
            scores.append(
                {
                    "event_id": f"{user}-{k}",
                    "user_id": user,
                    "event_ts": ts,
                    "score": top * (k + 1) / count,
                    "model_version": "m1",
                }
            )
    events.append("not json")
    alerts += [
        {"user_id": "bot1", "event_ts": "1970-01-01T00:17:00Z", "revision": 0},
        {"user_id": "bot2", "event_ts": 1_010_000},
    ]
    alerts += [{"user_id": "bot2", "event_ts": 1_020_000}, {"user_id": "card1", "event_ts": 1_000_000}]
    alerts += [{"user_id": "n19", "event_ts": 1_020_000}]
    return (
        lines(tmp_path / "events.jsonl", events),
        lines(tmp_path / "scores.jsonl", scores),
        lines(tmp_path / "alerts.jsonl", alerts),
    )


LABELS = {f"n{i}": UserLabel("normal") for i in range(20)} | {
    "bot1": UserLabel("bot", onset_ms=1_000_000),
    "bot2": UserLabel("bot", onset_ms=1_000_000),
    "card1": UserLabel("card_testing", onset_ms=1_010_000),
    "thin": UserLabel("normal"),
    "absent": UserLabel("bot"),
}


def test_the_job_s_output_is_read_per_user(tmp_path):
    output = read_replay_output(*job_output(tmp_path))
    assert output.events_per_user["bot1"] == 3 and output.events_per_user["thin"] == 1
    assert output.scores["bot1"] == [(1_000_000, 0.3), (1_010_000, 0.6), (1_020_000, 0.9)]
    assert output.alert_times["bot2"] == [1_010_000, 1_020_000]


def test_figures_count_the_alerts_the_job_wrote_and_name_who_was_not_judged(tmp_path):
    result = judge_replay(LABELS, read_replay_output(*job_output(tmp_path)), min_events=2)
    overall = result["overall"]
    assert (overall["users"], overall["normal_users"], overall["abused_users"]) == (23, 20, 3)
    assert overall["pr_auc"] == 1.0 and overall["roc_auc"] == 1.0
    assert overall["recall_at_0.1pct_fpr"] == 1.0 and overall["recall_at_0.1pct_fpr_interval"] == [1.0, 1.0]
    # alerted: bot1, bot2 (right), card1 (before its onset: a false alert) and n19 (normal)
    assert overall["alerted_users"] == 4 and overall["alert_precision"] == 0.5
    assert overall["alert_recall"] == pytest.approx(2 / 3)
    assert overall["median_delay_s"] == 15.0 and overall["median_delay_events"] == 2.5  # bot1 20 s/3, bot2 10 s/2
    assert set(result["per_type"]) == {"bot", "card_testing"}
    assert result["per_type"]["bot"]["alert_recall"] == 1.0 and result["per_type"]["bot"]["users"] == 22
    assert result["per_type"]["card_testing"]["alert_recall"] == 0.0
    assert result["per_type"]["card_testing"]["median_delay_s"] is None
    assert result["false_alerts"] == ["card1", "n19"] and result["missed"] == ["card1"]
    assert result["population"] == {
        "labelled_users": 25,
        "judged_users": 23,
        "too_few_events": {"thin": 1},
        "not_in_events": ["absent"],
        "not_in_labels": ["x"],
    }


def test_figures_that_need_both_kinds_of_user_are_none_without_them():
    output = ReplayOutput({"n": 2}, {"n": [(1, 0.1), (2, 0.2)]}, {}, ("m",))
    overall = judge_replay({"n": UserLabel("normal")}, output, min_events=2)["overall"]
    assert overall["pr_auc"] is None and overall["recall_at_1pct_fpr"] is None and overall["alert_recall"] is None
    assert overall["pr_auc_interval"] is None and overall["alert_precision"] is None


def test_the_report_names_every_group_and_draws_its_plot(tmp_path):
    result = judge_replay(LABELS, read_replay_output(*job_output(tmp_path)), min_events=2)
    result["context"] = {"events": "events.jsonl", "labels": "labels.json", "model_versions": ["m1"], "min_events": 2}
    report = write_labelled_report(result, tmp_path / "report")
    text = report.read_text()
    assert "`thin` (1)" in text and "`absent`" in text and "`x`" in text and "`n19`" in text
    assert "| bot |" in text and "| card_testing |" in text and "1.0000 [1.00–1.00]" in text
    assert (tmp_path / "report" / "labelled_evaluation.png").stat().st_size > 0
    body = json.loads((tmp_path / "report" / "labelled_evaluation.json").read_text())
    assert "user_scores" not in body and body["population"]["not_in_labels"] == ["x"]


def test_a_bad_labels_file_is_refused_before_any_replay(tmp_path):
    events = lines(tmp_path / "events.jsonl", [{"user_id": "u"}])
    (tmp_path / "labels.json").write_text('{"users": {"u1": 7}}')
    with pytest.raises(ShopguardError, match="labels.json: user 'u1'"):
        replay_labelled(ShopguardConfig(), events, tmp_path / "labels.json", None, tmp_path / "work")
    with pytest.raises(ShopguardError, match="no such events file"):
        replay_labelled(ShopguardConfig(), tmp_path / "nope.jsonl", tmp_path / "labels.json", None, tmp_path / "work")
    assert not (tmp_path / "work").exists()


def test_the_command_refuses_a_bad_labels_file_naming_it(tmp_path, capsys):
    from shopguard.cli import main

    events = lines(tmp_path / "events.jsonl", [{"user_id": "u"}])
    (tmp_path / "labels.json").write_text('{"users": {"u1": {"type": "bot", "onset": "soon"}}}')
    assert main(["evaluate", "--events", str(events), "--labels", str(tmp_path / "labels.json")]) == 2
    assert f"{tmp_path / 'labels.json'}: user 'u1': onset 'soon'" in capsys.readouterr().err
    assert main(["evaluate", "--events", str(events)]) == 2
    assert "--events and --labels go together" in capsys.readouterr().err

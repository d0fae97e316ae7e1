"""``shopguard evaluate --events --labels`` on the real mini-cluster: a small labelled Taobao file replayed
through the job, every figure out, and the users that could not be judged named."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from shopguard.config import ShopguardConfig
from shopguard.training.anomalies import INJECTORS, inject
from shopguard.training.behaviour_stats import by_user
from shopguard.training.datasets import read_taobao
from shopguard.training.labelled_replay import replay_labelled
from shopguard.training.labelled_replay_report import write_labelled_report

pytestmark = pytest.mark.integration


def labelled_taobao(tmp_path, cfg: ShopguardConfig):
    """40 real shoppers with 3+ events, 2 with one event, a blunt bot and a blunt card tester; one label
    without events and one shopper without a label."""
    events, _ = read_taobao(cfg.data.taobao_csv)
    histories = by_user(e for e in events if e.ts_ms >= cfg.validation.min_event_time_ms)
    regular = [user for user in sorted(histories) if len(histories[user]) >= 3][:43]
    single = [user for user in sorted(histories) if len(histories[user]) == 1][:2]
    rng = np.random.default_rng(3)
    chosen = [e for user in regular[:40] + single + regular[42:] for e in histories[user]]
    labels: dict[str, object] = {user: "normal" for user in regular[:40] + single}
    for user, kind in zip(regular[40:42], ("bot", "card_testing")):
        history = histories[user]
        abused, label = inject(INJECTORS[kind], history, history[-1].ts_ms + 60_000, subtle=False, rng=rng)
        chosen += abused
        labels[user] = {"type": kind, "onset": label.onset_ms}
    labels["nobody-here"] = "bot"
    chosen.sort(key=lambda e: e.ts_ms)
    events_path, labels_path = tmp_path / "EVENTS.jsonl", tmp_path / "LABELS.json"
    events_path.write_text("".join(e.to_json() + "\n" for e in chosen))
    labels_path.write_text(json.dumps({"users": labels}))
    return events_path, labels_path, regular, single


def test_a_labelled_file_replayed_through_the_job_gives_every_figure_and_names_who_was_not_judged(tmp_path):
    base = ShopguardConfig()
    cfg = dataclasses.replace(base, registry=dataclasses.replace(base.registry, url=str(tmp_path / "registry")))
    events_path, labels_path, regular, single = labelled_taobao(tmp_path, cfg)
    result = replay_labelled(cfg, events_path, labels_path, None, tmp_path / "replay", progress=lambda line: None)
    overall = result["overall"]
    assert (overall["normal_users"], overall["abused_users"]) == (40, 2)
    for figure in ("pr_auc", "roc_auc", "recall_at_0.1pct_fpr", "recall_at_1pct_fpr"):
        assert 0.0 <= overall[figure] <= 1.0, figure
    assert overall["pr_auc_interval"] is not None and overall["recall_at_1pct_fpr_interval"] is not None
    assert set(result["per_type"]) == {"bot", "card_testing"}
    assert result["population"]["too_few_events"] == {user: 1 for user in single}
    assert result["population"]["not_in_events"] == ["nobody-here"]
    assert result["population"]["not_in_labels"] == [regular[42]]
    assert result["context"]["model_versions"]  # the job tagged every score with the model that scored it
    alerts = [json.loads(line) for line in (tmp_path / "replay" / "alerts.jsonl").read_text().splitlines()]
    assert overall["alerted_users"] == len({a["user_id"] for a in alerts} - {regular[42], *single})
    report = write_labelled_report(result, tmp_path / "report").read_text()
    assert all(f"`{user}` (1)" in report for user in single) and "`nobody-here`" in report

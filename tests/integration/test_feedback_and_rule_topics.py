"""``shopguard feedback`` and ``shopguard rules put|list|delete`` on the real broker (no Flink job needed).

A verdict on an alert that is not among the committed alerts is refused, and so is an unknown abuse type;
a good one is written and read back. Rules are checked before anything is written, their versions grow,
and a deletion ends a rule.
"""

from __future__ import annotations

import json

import pytest

from shopguard.cli import main
from shopguard.config import to_toml
from shopguard.local.alert_feedback import read_verdicts, submit_verdict
from shopguard.local.job_process import isolated_job_config
from shopguard.local.producer import send_records
from shopguard.local.rule_topic import delete_rule, put_rules, rules_in_force
from shopguard.local.topics import ensure_topics
from shopguard.training.analyst_verdicts import VerdictRefused
from shopguard.udfs.detection_rules import RuleRefused

pytestmark = pytest.mark.integration

ALERT = {"alert_id": "a-123", "user_id": "u-7", "anomaly_type": "card_testing", "score": 0.99, "detectors": {}}
RULE = {"id": "qa", "owner": "qa", "description": "test shoppers", "kind": "allow", "user_ids": ["qa-1"]}


@pytest.fixture(scope="module")
def topics(kafka_config, tmp_path_factory):
    cfg, _ = isolated_job_config(kafka_config, "topics", tmp_path_factory.mktemp("registry"))
    ensure_topics(cfg)
    send_records(cfg, cfg.topics.alerts, [(ALERT["user_id"], json.dumps(ALERT).encode())])
    config_file = tmp_path_factory.mktemp("config") / "shopguard.toml"
    config_file.write_text(to_toml(cfg))
    return cfg, str(config_file)


def test_a_verdict_on_an_unknown_alert_is_refused_and_nothing_is_written(topics, capsys):
    cfg, config_file = topics
    with pytest.raises(VerdictRefused, match="unknown alert"):
        submit_verdict(cfg, "no-such-alert", "false_positive", analyst="t", lookup_timeout_s=10)
    code = main(["feedback", "no-such-alert", "confirmed", "--type", "bot", "--config", config_file])
    assert code == 2 and "unknown alert" in capsys.readouterr().err
    code = main(["feedback", ALERT["alert_id"], "confirmed", "--type", "teleportation", "--config", config_file])
    assert code == 2 and "unknown abuse type 'teleportation'" in capsys.readouterr().err
    assert read_verdicts(cfg) == ([], [])


def test_a_good_verdict_is_written_keyed_by_user_and_read_back(topics, capsys):
    cfg, config_file = topics
    code = main(["feedback", ALERT["alert_id"], "false-positive", "--note", "QA", "--config", config_file])
    assert code == 0 and "a false positive" in capsys.readouterr().out
    (verdict,), refused = read_verdicts(cfg)
    assert (verdict.alert_id, verdict.user_id, verdict.verdict, verdict.note) == (
        "a-123",
        "u-7",
        "false_positive",
        "QA",
    )
    assert refused == []


def test_rules_are_checked_versioned_listed_and_deleted(topics, tmp_path, capsys):
    cfg, config_file = topics
    (first,) = put_rules(cfg, [RULE])
    (second,) = put_rules(cfg, [{**RULE, "user_ids": ["qa-1", "qa-2"]}])
    assert (first.version, second.version) == (1, 2)
    with pytest.raises(RuleRefused, match="not newer than version 2"):
        put_rules(cfg, [{**RULE, "version": 2}])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{**RULE, "id": "fine"}, {**RULE, "id": "broken", "kind": "block"}]))
    assert main(["rules", "put", str(bad), "--config", config_file]) == 2
    assert "unknown kind 'block'" in capsys.readouterr().err
    rules, _ = rules_in_force(cfg)
    assert set(rules.rules) == {"qa"}  # the good rule of the refused file was not written either
    assert main(["rules", "list", "--config", config_file]) == 0
    assert "qa" in capsys.readouterr().out
    assert delete_rule(cfg, "qa").version == 3
    assert len(rules_in_force(cfg)[0]) == 0
    with pytest.raises(RuleRefused, match="no such rule"):
        delete_rule(cfg, "qa")

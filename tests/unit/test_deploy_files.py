"""Deployment files parse and run the command they document."""

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_retrain_cronjob_is_a_valid_cronjob_running_shopguard_retrain():
    manifest = yaml.safe_load((DEPLOY / "kubernetes" / "retrain-cronjob.yaml").read_text())
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "CronJob"
    assert len(manifest["spec"]["schedule"].split()) == 5
    container = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "retrain"


def test_the_cron_line_runs_shopguard_retrain():
    lines = [line for line in (DEPLOY / "retrain.cron").read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1 and len(lines[0].split()) > 5 and "shopguard retrain" in lines[0]

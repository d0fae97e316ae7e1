"""shopguard evaluate's command-line plumbing: one section alone, the report folder, the shared options."""

import json

from shopguard.cli import _evaluate_section_only, build_parser
from shopguard.config import load_config


def test_one_section_alone_goes_to_its_own_json_beside_its_markdown(tmp_path, capsys):
    cfg = load_config(None, [f"training.report_dir={tmp_path / 'unused'}"])
    args = build_parser().parse_args(["evaluate", "--churn-only", "--json", "--report-dir", str(tmp_path)])
    seen = []

    def section(report_dir):
        seen.append(report_dir)
        return {"lead_time_days": 3}

    assert _evaluate_section_only(cfg, args, "churn", section) == 0
    assert seen == [tmp_path]
    assert json.loads((tmp_path / "churn.json").read_text()) == {"churn": {"lead_time_days": 3}}
    out, err = capsys.readouterr()
    assert json.loads(out) == {"churn": {"lead_time_days": 3}} and f"report: {tmp_path / 'churn.md'}" in err


def test_without_report_dir_the_configured_folder_is_used(tmp_path, capsys):
    cfg = load_config(None, [f"training.report_dir={tmp_path}"])
    args = build_parser().parse_args(["evaluate", "--rings-only"])
    assert _evaluate_section_only(cfg, args, "rings", lambda report_dir: {"families": []}) == 0
    assert json.loads((tmp_path / "rings.json").read_text()) == {"rings": {"families": []}}
    assert capsys.readouterr().out == ""


def test_the_shared_options_mean_the_same_on_every_command():
    parse = build_parser().parse_args
    for argv in (
        ["detect", "--input", "i", "--output", "o"],
        ["evaluate"],
        ["bench"],
        ["rules", "test", "rules.json"],
    ):
        assert parse([*argv, "--model", "m"]).model == "m"
    assert parse(["evaluate", "--json"]).json and parse(["bench", "--json"]).json

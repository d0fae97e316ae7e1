import json

from shopguard.training.injected_taobao import main


def test_the_labelled_taobao_check_names_every_user_and_the_abused_ones_with_their_onset(tmp_path):
    assert main([str(tmp_path), "--users", "300", "--share", "0.05", "--seed", "3"]) == 0
    events = [json.loads(line) for line in (tmp_path / "EVENTS.jsonl").read_text().splitlines()]
    labels = json.loads((tmp_path / "LABELS.json").read_text())["users"]
    assert {e["user_id"] for e in events} == set(labels)
    abused = {user: label for user, label in labels.items() if label != "normal"}
    assert abused and all({"type", "onset"} == set(label) for label in abused.values())
    assert len(labels) - len(abused) >= 250  # the real shoppers stay, labelled normal

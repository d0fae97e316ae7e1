"""``shopguard bench --json``: one JSON object on stdout, whatever the helpers it starts print."""

import json

from shopguard import benchmark
from shopguard.cli import main


def test_json_output_is_one_object_even_when_the_broker_helper_prints(tmp_path, monkeypatch, capsys):
    def fake_run(cfg, model_dir, plan, out_dir, progress):
        print("Kafka broker already running at 127.0.0.1:19092 (pid 1)")  # what LocalKafkaBroker.start says
        return {"job_eps_p1": 1.0, "plan_events": plan.throughput_events}

    monkeypatch.setattr(benchmark, "run_benchmark", fake_run)
    assert main(["bench", "--quick", "--json", "--model", str(tmp_path), "--out", str(tmp_path / "bench")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"job_eps_p1": 1.0, "plan_events": benchmark.BenchPlan.quick().throughput_events}
    assert "Kafka broker already running" in err

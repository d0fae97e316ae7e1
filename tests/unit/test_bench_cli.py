"""``shopguard bench --json``: one JSON object on stdout, whatever the helpers it starts print."""

import json

from shopguard.bench import benchmark
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


def test_repeats_sets_the_runs_per_throughput_figure(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(
        benchmark,
        "run_benchmark",
        lambda cfg, model_dir, plan, out_dir, progress: seen.append(plan.repeats) or {"job_eps_p1": 1.0},
    )
    assert main(["bench", "--quick", "--json", "--repeats", "5", "--model", str(tmp_path)]) == 0
    assert main(["bench", "--quick", "--json", "--model", str(tmp_path)]) == 0
    assert seen == [5, benchmark.BenchPlan.quick().repeats]


def test_repeats_below_one_is_refused_with_the_flag_named(tmp_path, capsys):
    assert main(["bench", "--quick", "--repeats", "0", "--model", str(tmp_path)]) != 0
    assert "--repeats 0" in capsys.readouterr().err


def test_targets_runs_the_full_plan_without_user_scaling_and_session_clusters(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(benchmark, "run_benchmark", lambda cfg, model_dir, plan, out_dir, progress: seen.append(plan))
    assert main(["bench", "--targets", "--json", "--model", str(tmp_path)]) == 0
    (plan,) = seen
    full = benchmark.BenchPlan.full()
    assert plan.scaling_users == () and plan.cluster_layouts == () and plan.caveat
    assert (plan.throughput_events, plan.floor_events, plan.repeats) == (
        full.throughput_events,
        full.floor_events,
        full.repeats,
    )
    assert (plan.latency_offered_eps, plan.profile_seconds, plan.diagnostics) == (
        full.latency_offered_eps,
        full.profile_seconds,
        full.diagnostics,
    )

"""The churn-cost harness feeds the job's own user and churn steps, as the job would."""

from pathlib import Path

from shopguard.bench.churn_cost import main, measure, run_churn_step, run_user_step, user_step, visit_events
from shopguard.bench.workload import as_records
from shopguard.config import ShopguardConfig
from shopguard.udfs.model_source import ModelSource

DEFAULT_MODEL = str(Path(__file__).resolve().parents[2] / "udfs" / "default-model")


def test_facts_only_with_the_churn_watch_on_and_the_stoppers_timers_signal():
    cfg, source = ShopguardConfig(), ModelSource(fixed_dir=DEFAULT_MODEL)
    records = as_records(visit_events(events=1_200, users=8, per_visit=5))
    without, state = user_step(cfg, source, churn_on=False)
    assert run_user_step(without, state, records) == []
    with_churn, state = user_step(cfg, source, churn_on=True)
    facts = [fact for fact in run_user_step(with_churn, state, records) if fact[0]]  # ticks have no user
    assert len(facts) >= len(records) // 5  # every visit start at least
    signals, fired = run_churn_step(cfg, facts)
    assert fired > 0 and signals >= 2  # shopper-3 and shopper-7 stop after a third of their visits


def test_measure_reports_both_runs_and_the_churn_step(capsys):
    figures = measure(ShopguardConfig(), DEFAULT_MODEL, events=300, users=6, per_visit=5, repeats=2)
    assert len(figures["without_runs_us"]) == len(figures["with_runs_us"]) == len(figures["churn_step_runs_us"]) == 2
    assert figures["churn_facts_per_event"] > 0.2 and figures["churn_step_us"] > 0
    assert main(["--model", DEFAULT_MODEL, "--events", "100", "--users", "5", "--repeats", "1"]) == 0
    assert "churn_watch_us" in capsys.readouterr().out
    bench = measure(ShopguardConfig(), DEFAULT_MODEL, events=300, users=6, per_visit=5, repeats=1, workload="bench")
    assert bench["events"] == 300 and bench["churn_facts_per_event"] < figures["churn_facts_per_event"]

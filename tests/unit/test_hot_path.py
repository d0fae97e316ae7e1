"""The hot-path harness feeds the job's own keyed and scoring functions, as the job would."""

from pathlib import Path

from shopguard.bench.hot_path import (
    main,
    measure,
    open_entity_steps,
    open_keyed_step,
    run_entity_steps,
    run_keyed_step,
    scoring_batches,
)
from shopguard.bench.workload import as_records, bench_events
from shopguard.config import ShopguardConfig
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.rows import SCORING_FIELDS

DEFAULT_MODEL = str(Path(__file__).resolve().parents[2] / "udfs" / "default-model")


def test_every_record_gives_one_scoring_row_and_a_duplicate_none():
    step, state = open_keyed_step(ShopguardConfig(), ModelSource(fixed_dir=DEFAULT_MODEL))
    records = as_records(bench_events(60, 6))
    rows = run_keyed_step(step, state, records + records[:5])
    step.close()
    assert len(rows) == 60 and len(state.values) == 6
    assert [row[SCORING_FIELDS.index("event_id")] for row in rows] == [f"b7-{i}" for i in range(60)]
    batches = scoring_batches(rows, batch=25)
    assert [len(codes) for codes, _, _ in batches] == [25, 25, 10]


def test_measure_reports_every_step_per_event(capsys):
    figures = measure(ShopguardConfig(), DEFAULT_MODEL, events=200, users=20, repeats=2, batch=100)
    assert len(figures["keyed_runs_us"]) == len(figures["entity_runs_us"]) == len(figures["scoring_runs_us"]) == 2
    assert figures["keyed_step_us"] > 0 and figures["entity_steps_us"] > 0 and figures["scoring_step_us"] > 0
    assert len(figures["keyed_without_patterns_runs_us"]) == 2 and figures["keyed_step_without_patterns_us"] > 0
    difference = figures["keyed_step_us"] - figures["keyed_step_without_patterns_us"]
    assert abs(figures["pattern_matching_us"] - difference) <= 0.011  # each figure rounded to 0.01
    assert main(["--model", DEFAULT_MODEL, "--events", "100", "--users", "10", "--repeats", "1"]) == 0
    assert "keyed_step_us" in capsys.readouterr().out


def test_the_profile_names_the_keyed_and_the_scoring_functions(capsys):
    assert main(["--model", DEFAULT_MODEL, "--events", "200", "--users", "20", "--profile"]) == 0
    out = capsys.readouterr().out
    assert "process_element" in out and "eval" in out and "entity_streams.py" in out


def test_the_entity_steps_pass_every_row_with_its_device_and_ip_figures():
    cfg = ShopguardConfig()
    step, state = open_keyed_step(cfg, ModelSource(fixed_dir=DEFAULT_MODEL), packed_rows=True)
    rows = run_keyed_step(step, state, as_records(bench_events(60, 6)))
    passed = run_entity_steps(open_entity_steps(cfg), rows)
    figures = [SCORING_FIELDS.index(name) for name in ("device_accounts_1h", "ip_accounts_1h")]
    assert len(passed) == 60 and all(row[i] >= 1 for row in passed for i in figures)


def test_an_entity_step_keeps_its_sketch_and_its_ring_record_apart():
    from shopguard.udfs.entity_streams import ENTITY_TYPES

    cfg = ShopguardConfig()
    step, state = open_keyed_step(cfg, ModelSource(fixed_dir=DEFAULT_MODEL), packed_rows=True)
    events = [e._replace(device_id="shared-device") for e in bench_events(300, 30)]  # a ring of 30 accounts
    rows = run_keyed_step(step, state, as_records(events))
    assert len(run_entity_steps(open_entity_steps(cfg), rows)) == 300 and ENTITY_TYPES

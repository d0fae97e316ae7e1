"""``shopguard bench --sweep``: a ladder of offered loads, what it refuses, and the report it writes."""

import json

import pytest

from shopguard.bench import latency_sweep
from shopguard.bench.latency_sweep import SweepPlan, parse_loads, sweep_figures, write_sweep_report
from shopguard.cli import main
from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError


def _offer(rate: float, latencies: list[float], scored: int | None = None) -> dict:
    """One offer as ``job_latency`` returns it, with latencies one second apart."""
    sent = len(latencies)
    return {
        "offered_eps": rate,
        "shoppers": int(rate * 20),
        "sent": sent,
        "scored": sent if scored is None else scored,
        "latency_p50_ms": sorted(latencies)[sent // 2],
        "latency_p95_ms": max(latencies),
        "latency_p99_ms": max(latencies),
        "over_time": [[float(s), ms] for s, ms in enumerate(latencies)],
    }


MEASURED = {
    "warm_up": {"eps": 2_161.0},
    "loads": [
        _offer(200, [170, 180, 175, 172, 178, 181, 169, 174, 176, 180]),
        _offer(3_000, [400, 900, 1_500, 2_600, 3_400, 4_200, 5_100, 6_300, 7_400, 8_300]),
    ],
}


@pytest.mark.parametrize("text", ["", ",", "0,200", "200,-5"])
def test_a_sweep_without_positive_loads_is_refused_with_the_flag_named(text):
    with pytest.raises(ShopguardError, match=r"^--sweep .*each above 0"):
        SweepPlan(parse_loads(text))


def test_a_load_that_is_no_number_is_named():
    with pytest.raises(ShopguardError, match=r"'2k' is not a number of events/s"):
        parse_loads("200,2k")


def test_offer_time_and_warm_up_must_be_usable():
    with pytest.raises(ShopguardError, match=r"^--sweep-seconds 0"):
        SweepPlan((200.0,), seconds=0)
    with pytest.raises(ShopguardError, match=r"^--warm-up-events 10:"):
        SweepPlan((200.0,), warm_up_events=10)


def test_an_offer_whose_latency_grows_through_it_did_not_keep_up():
    figures = sweep_figures(ShopguardConfig(), "v1", SweepPlan((200.0, 3_000.0)), MEASURED)
    assert [offer["kept_up"] for offer in figures["offers"]] == [True, False]
    assert figures["offers"][1]["first_fifth_p50_ms"] < 1_000 < 7_000 < figures["offers"][1]["last_fifth_p50_ms"]


def test_an_offer_with_events_never_scored_did_not_keep_up():
    measured = {**MEASURED, "loads": [_offer(200, [170] * 10, scored=9)]}
    assert sweep_figures(ShopguardConfig(), "v1", SweepPlan((200.0,)), measured)["offers"][0]["kept_up"] is False


def test_the_report_names_the_settings_that_shape_latency(tmp_path):
    cfg = ShopguardConfig()
    figures = sweep_figures(cfg, "v1", SweepPlan((200.0, 3_000.0), seconds=10), MEASURED)
    write_sweep_report(figures, tmp_path)
    report = (tmp_path / "sweep.md").read_text()
    assert f"`job.bundle_time_ms` {cfg.job.bundle_time_ms}" in report and "2,161 events/s (warm-up)" in report
    assert "| 200 | 4,000 | 10 / 10 |" in report and "| 3,000 | 60,000 | 10 / 10 |" in report
    assert "no: falling behind" in report
    assert json.loads((tmp_path / "sweep.json").read_text())["offers"][0]["offered_eps"] == 200


def test_the_cli_runs_the_sweep_instead_of_the_benchmark(tmp_path, monkeypatch, capsys):
    plans = []

    def fake_sweep(cfg, model_dir, plan, out_dir, progress):
        plans.append(plan)
        return {"offers": []}

    monkeypatch.setattr(latency_sweep, "run_latency_sweep", fake_sweep)
    assert main(["bench", "--sweep", "200,500", "--sweep-seconds", "5", "--json", "--model", str(tmp_path)]) == 0
    assert plans == [SweepPlan((200.0, 500.0), seconds=5.0)]
    assert json.loads(capsys.readouterr().out) == {"offers": []}


def test_the_cli_refuses_a_sweep_with_the_benchmark_s_own_flags(tmp_path, capsys):
    assert main(["bench", "--sweep", "200", "--quick", "--model", str(tmp_path)]) == 2
    assert "leave out --quick and --repeats" in capsys.readouterr().err

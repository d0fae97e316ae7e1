"""The combiner: the formula the job applies, its fallback without patterns, and files it refuses."""

import dataclasses
import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from shopguard.training.combiner_fitting import deciding_events, fit_combiner
from shopguard.udfs.score_combiner import CombinerError, Hinge, ScoreCombiner, TailTable, transformed

FALLBACK = ScoreCombiner(("lstm",), ("logit",), (1.0,), 0.0, 0.6)
COMBINER = ScoreCombiner(("lstm", "user_patterns"), ("logit", "logit"), (1.0, 2.0), -1.0, 0.8, fallback=FALLBACK)
HINGED = ScoreCombiner(
    ("lstm", "user_patterns"),
    ("logit", "share"),
    (1.0, 2.0),
    -1.0,
    0.8,
    fallback=FALLBACK,
    hinges=(Hinge("lstm", 5.0, 4.0),),
)


def test_the_combined_score_is_the_logistic_of_the_weighted_transformed_scores():
    combined = COMBINER.combine({"lstm": np.array([0.5]), "user_patterns": np.array([0.9])})
    expected = 1 / (1 + np.exp(-(-1.0 + 0.0 + 2.0 * np.log(0.9 / 0.1))))
    assert combined[0] == pytest.approx(expected)


def test_rows_without_a_pattern_score_use_the_fallback_and_its_threshold():
    scores = {"lstm": np.array([0.7, 0.7]), "user_patterns": np.array([np.nan, 0.9])}
    combined = COMBINER.combine(scores)
    assert combined[0] == pytest.approx(0.7) and combined[1] != pytest.approx(0.7)
    assert COMBINER.threshold_for(scores["user_patterns"]).tolist() == [0.6, 0.8]


def test_a_hinge_adds_its_weight_only_beyond_its_knee():
    below, beyond = 1 / (1 + np.exp(-4.0)), 1 / (1 + np.exp(-6.0))  # logits 4 and 6, knee at 5
    combined = HINGED.combine({"lstm": np.array([below, beyond]), "user_patterns": np.array([0.0, 0.0])})
    logits = np.log(combined / (1 - combined))
    assert logits == pytest.approx([-1.0 + 4.0, -1.0 + 6.0 + 4.0 * 1.0])


def test_a_pattern_share_of_zero_is_not_a_certain_normal():
    """The share transform keeps 0 at 0; a logit would send it to -16 and outvote a certain LSTM."""
    assert transformed(np.array([0.0, 0.5, 1.0]), "share").tolist() == [0.0, 0.5, 1.0]
    assert transformed(np.array([0.0]), "logit")[0] < -15


def test_float32_probabilities_near_one_stay_apart_on_the_logit_scale():
    bot, most_abnormal_normal = np.float32(1 - 1e-6), np.float32(1 - 1e-5)
    assert transformed(np.array([bot]), "logit")[0] > transformed(np.array([most_abnormal_normal]), "logit")[0] + 2


@pytest.mark.parametrize("combiner", [COMBINER, HINGED])
def test_a_combiner_survives_its_file(tmp_path, combiner):
    combiner.write(tmp_path)
    assert ScoreCombiner.read(tmp_path) == combiner
    assert ScoreCombiner.read(tmp_path / "elsewhere") is None


def test_a_combiner_file_from_before_hinges_still_reads(tmp_path):
    body = COMBINER.to_dict()
    del body["hinges"]
    (tmp_path / "combiner.json").write_text(json.dumps(body))
    assert ScoreCombiner.read(tmp_path) == COMBINER


@pytest.mark.parametrize(
    "body",
    [
        {"detectors": ["lstm"]},
        "not json",
        {**COMBINER.to_dict(), "transforms": ["sqrt", "logit"]},
        {**COMBINER.to_dict(), "weights": [1.0]},
        {**COMBINER.to_dict(), "hinges": [{"detector": "next_event", "knee": 1, "weight": 1}]},
        {**COMBINER.to_dict(), "hinges": [{"detector": "lstm"}]},
    ],
)
def test_a_broken_combiner_file_is_refused_with_its_path(tmp_path, body):
    (tmp_path / "combiner.json").write_text(body if isinstance(body, str) else json.dumps(body))
    with pytest.raises(CombinerError, match="combiner.json"):
        ScoreCombiner.read(tmp_path)


def test_the_combiner_needs_every_detector_it_names():
    with pytest.raises(CombinerError, match="user_patterns"):
        COMBINER.combine({"lstm": np.array([0.5])})


def test_fitting_weighs_the_informative_detector_and_keeps_a_fallback():
    rng = np.random.default_rng(1)
    abuse = rng.random(2000) < 0.1
    scores = {"lstm": rng.random(2000), "user_patterns": np.where(abuse, 0.9, 0.1) + rng.normal(0, 0.05, 2000)}
    scores["user_patterns"] = scores["user_patterns"].clip(0, 1)
    combiner = fit_combiner(scores, abuse, [f"u{i}" for i in range(2000)], alert_rate=0.01)
    assert combiner.weights[1] > 10 * abs(combiner.weights[0])
    assert combiner.fallback is not None and combiner.fallback.detectors == ("lstm",)
    normal_flagged = np.mean(combiner.combine(scores)[~abuse] >= combiner.threshold)
    assert normal_flagged <= 0.01


def test_fitting_lets_a_certain_detector_outvote_a_blend_that_misses_its_abuse():
    """Abuse of kind A is certain to the LSTM and invisible to the patterns; kind B is seen by both.

    A linear blend leans on the patterns and ranks some A users below normal users; with the fitted
    hinge on the LSTM every A user ranks above every normal user.
    """
    rng = np.random.default_rng(3)
    n = 6000
    kind = rng.choice(["normal", "A", "B"], size=n, p=[0.9, 0.03, 0.07])
    lstm = np.where(kind == "A", 1 - 10 ** rng.uniform(-7, -6.5, n), 1 / (1 + np.exp(-rng.normal(-2, 2, n))))
    lstm = np.where(kind == "B", 1 / (1 + np.exp(-rng.normal(0, 2, n))), lstm).astype(np.float32)
    patterns = np.where(kind == "B", rng.uniform(0.4, 1.0, n), np.where(kind == "A", 0.0, rng.uniform(0, 0.5, n)))
    scores, abuse, users = {"lstm": lstm, "user_patterns": patterns}, kind != "normal", [f"u{i}" for i in range(n)]

    hinged = fit_combiner(scores, abuse, users, alert_rate=0.01)
    linear = fit_combiner(scores, abuse, users, alert_rate=0.01, hinged=())

    assert [h.detector for h in hinged.hinges] == ["lstm", "user_patterns"] and linear.hinges == ()
    assert [h.detector for h in hinged.fallback.hinges] == ["lstm"]
    for combiner, separates in ((hinged, True), (linear, False)):
        combined = combiner.combine(scores)
        assert bool(combined[kind == "A"].min() > combined[kind == "normal"].max()) is separates


def _users_with_many_events(seed: int):
    """Normal users with 40 events each and now and then a pattern spike; bots the LSTM sees on every event;
    strangers with three events that only the patterns see (clearer than any normal spike)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(400):
        spikes = rng.random(40) < 0.03
        rows += [
            (f"n{i}", s, p, False)
            for s, p in zip(
                1 / (1 + np.exp(-rng.normal(-3, 1.5, 40))),
                np.where(spikes, rng.uniform(0.4, 0.8, 40), rng.uniform(0, 0.3, 40)),
            )
        ]
    for i in range(20):
        rows += [
            (f"b{i}", s, p, True) for s, p in zip(1 / (1 + np.exp(-rng.normal(5, 1, 40))), rng.uniform(0, 0.2, 40))
        ]
    for i in range(40):
        rows += [
            (f"s{i}", s, p, True) for s, p in zip(1 / (1 + np.exp(-rng.normal(-2, 1.5, 3))), rng.uniform(0.85, 1, 3))
        ]
    users, lstm, patterns, abuse = zip(*rows)
    return {"lstm": np.array(lstm, np.float32), "user_patterns": np.array(patterns)}, np.array(abuse), list(users)


def _user_level_pr_auc(combined: np.ndarray, users: list[str]) -> float:
    best: dict[str, float] = {}
    for user, score in zip(users, combined.tolist()):
        best[user] = max(best.get(user, 0.0), score)
    return average_precision_score([not user.startswith("n") for user in best], list(best.values()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_refitting_on_each_users_deciding_event_ranks_users_better_than_fitting_on_all_events(seed):
    """A user is alerted at their highest event: fitted on all events, the weights trust a pattern spike
    that is rare among events but sits in many normal users' highest event, and strangers fall below them."""
    scores, abuse, users = _users_with_many_events(seed)
    on_events = fit_combiner(scores, abuse, users, alert_rate=0.01, user_rounds=0)
    refitted = fit_combiner(scores, abuse, users, alert_rate=0.01)
    assert (
        _user_level_pr_auc(refitted.combine(scores), users)
        > _user_level_pr_auc(on_events.combine(scores), users) + 0.01
    )
    assert refitted.weights[1] < on_events.weights[1]  # the pattern detector trusted less
    assert refitted.fallback is not None and refitted.fallback.detectors == ("lstm",)


def test_the_deciding_events_are_each_normal_users_highest_and_each_abused_users_highest_abuse_event():
    combined = np.array([0.2, 0.7, 0.9, 0.1, 0.3, 0.5])
    users = ["n", "n", "a", "a", "a", "m"]
    abuse = np.array([False, False, False, True, True, False])
    assert deciding_events(combined, users, abuse).tolist() == [1, 4, 5]


def _tail_combiner():
    from shopguard.training.combiner_fitting import fit_tail_combiner

    rng = np.random.default_rng(3)
    users = [f"u{i % 500}" for i in range(5000)]
    abuse = np.array([i % 500 < 10 for i in range(5000)])
    scores = {
        "lstm": np.where(abuse, 0.99, rng.random(5000) * 0.9),
        "user_patterns": np.where(rng.random(5000) < 0.1, np.nan, rng.random(5000)),
    }
    return fit_tail_combiner(scores, abuse, users, alert_rate=0.01), scores, users, abuse


def test_a_min_tail_combiner_reads_back_and_combines_as_written(tmp_path):
    combiner, scores, _, _ = _tail_combiner()
    combiner.write(tmp_path)
    again = ScoreCombiner.read(tmp_path)
    assert again == combiner and again.mode == "min_tail"
    assert np.allclose(again.combine(scores), combiner.combine(scores))


def test_min_tail_is_label_free_and_a_nan_pattern_score_counts_as_not_rare():
    combiner, scores, users, abuse = _tail_combiner()
    normal_only = np.array([not a for a in abuse])
    from shopguard.training.combiner_fitting import fit_tail_combiner

    refit = fit_tail_combiner(
        {n: s[normal_only] for n, s in scores.items()},
        abuse[normal_only],
        [u for u, keep in zip(users, normal_only) if keep],
        alert_rate=0.01,
    )
    assert refit.tails == combiner.tails  # the abused users' events change nothing but who is left out
    rare = combiner.combine({"lstm": np.array([0.999999, 0.999999]), "user_patterns": np.array([np.nan, 0.0])})
    assert rare[0] == pytest.approx(rare[1]) and rare[0] > combiner.threshold


def test_min_tail_ranks_beyond_every_normal_score_by_how_far_beyond():
    combiner, _, _, _ = _tail_combiner()
    far = combiner.combine({"lstm": np.array([0.95, 0.99, 0.9999]), "user_patterns": np.zeros(3)})
    assert far[0] < far[1] < far[2] < 1.0


def test_old_combiner_files_without_a_mode_stay_logistic_and_unknown_modes_are_refused(tmp_path):
    body = COMBINER.to_dict()
    assert "mode" not in body and ScoreCombiner.from_dict(body).mode == "logistic"
    (tmp_path / "combiner.json").write_text(json.dumps(body | {"mode": "median"}))
    with pytest.raises(CombinerError, match="median"):
        ScoreCombiner.read(tmp_path)
    (tmp_path / "combiner.json").write_text(json.dumps(body | {"mode": "min_tail", "tails": []}))
    with pytest.raises(CombinerError, match="tail table"):
        ScoreCombiner.read(tmp_path)


def test_fisher_tail_pools_evidence_that_min_tail_would_not():
    tails = tuple(TailTable(n, (0.0, 0.5, 1.0), (0.0, -1.0, -2.0)) for n in ("a", "b"))
    both = {"a": np.array([0.5, 1.0]), "b": np.array([0.5, 0.0])}  # row 0: twice one in ten; row 1: once one in 100
    fisher = ScoreCombiner(("a", "b"), ("share", "share"), (1.0, 1.0), 0.0, 0.5, mode="fisher_tail", tails=tails)
    rarest = dataclasses.replace(fisher, mode="min_tail")
    assert rarest.combine(both)[0] < rarest.combine(both)[1]
    assert fisher.combine(both)[0] > rarest.combine(both)[0]
    assert ScoreCombiner.from_dict(fisher.to_dict()) == fisher


def test_own_tails_read_a_p_value_and_decades_from_the_score_itself():
    p_value, decades = TailTable("rarity", (), (), own="p_value"), TailTable("new_account", (), (), own="decades")
    scores = np.array([0.0, 0.9, 0.999, 0.75, np.nan, 1 - 1e-12, 1.0])
    assert np.allclose(
        p_value.log_tail_of(scores, "logit"), [0.0, -1.0, -3.0, np.log10(0.25), 0.0, -12, -15], atol=1e-3
    )
    assert np.allclose(decades.log_tail_of(scores[:5], "logit"), [0.0, -9.0, -999.0, -3.0, 0.0], atol=1e-4)


def test_a_floor_caps_how_rare_a_detector_may_say_a_row_is():
    table = TailTable("lstm", (0.0, 1.0, 2.0), (0.0, -1.0, -3.0), floor=-2.0)
    assert table.log_tail(np.array([1.0, 2.0, 50.0])).tolist() == [-1.0, -2.0, -2.0]


def test_own_tails_and_floors_survive_the_file_and_unknown_own_tails_are_refused(tmp_path):
    tails = (TailTable("rarity", (), (), own="p_value"), TailTable("lstm", (0.0, 1.0), (0.0, -2.0), floor=-2.0))
    combiner = ScoreCombiner(
        ("rarity", "lstm"), ("logit", "logit"), (1.0, 1.0), 0.0, 0.7, mode="fisher_tail", tails=tails
    )
    combiner.write(tmp_path)
    assert ScoreCombiner.read(tmp_path) == combiner
    body = json.loads((tmp_path / "combiner.json").read_text())
    assert "floor" not in body["tails"][0] and "own" not in body["tails"][1]
    body["tails"][0]["own"] = "z_score"
    (tmp_path / "combiner.json").write_text(json.dumps(body))
    with pytest.raises(CombinerError, match="z_score"):
        ScoreCombiner.read(tmp_path)


def test_fisher_min_tail_keeps_one_detectors_certainty_and_pools_several_mild_ones():
    names = tuple(f"d{i}" for i in range(6))
    tails = tuple(TailTable(n, (), (), own="p_value") for n in names)
    combiners = {
        mode: ScoreCombiner(names, ("logit",) * 6, (1.0,) * 6, 0.0, 0.5, mode=mode, tails=tails)
        for mode in ("min_tail", "fisher_tail", "fisher_min_tail")
    }
    one_certain = {n: np.array([0.99999 if n == "d0" else 0.0]) for n in names}  # 5 decades from one detector
    several_mild = {n: np.array([0.99 if n in ("d0", "d1", "d2") else 0.0]) for n in names}  # 2 decades from three
    decades = {
        mode: {k: float(c.combine(rows)[0]) for k, rows in (("one", one_certain), ("several", several_mild))}
        for mode, c in combiners.items()
    }
    hybrid, fisher, rarest = decades["fisher_min_tail"], decades["fisher_tail"], decades["min_tail"]
    assert hybrid["one"] > fisher["one"] and hybrid["several"] > rarest["several"]


def _log_tail_as_it_was(table: TailTable, scaled: np.ndarray) -> np.ndarray:
    """TailTable.log_tail before its curve was kept (every call built its arrays and slope, nan_to_num)."""
    scaled = np.asarray(scaled, dtype=np.float64)
    knots, tails = np.asarray(table.scores), np.asarray(table.log_tails)
    inside = np.interp(np.nan_to_num(scaled, nan=-np.inf), knots, tails)
    top = int(np.argmax(tails <= tails[-1] + 1.0))
    slope = (tails[-1] - tails[top]) / (knots[-1] - knots[top]) if knots[-1] > knots[top] else -1.0
    beyond = tails[-1] + min(slope, -1e-3) * (scaled - knots[-1])
    tail = np.where(scaled > knots[-1], beyond, inside)
    return np.where(np.isnan(scaled), 0.0, np.maximum(tail, table.floor))


def test_a_table_reads_every_score_bit_for_bit_as_before_its_curve_was_kept_and_one_row_at_a_time_as_a_batch():
    rng = np.random.default_rng(3)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -1e308, 1e308])
    for knots_count in (1, 2, 5, 48):
        knots = np.sort(rng.normal(0, 3, knots_count))
        tails = np.minimum.accumulate(np.concatenate([[0.0], -np.cumsum(rng.exponential(0.5, knots_count - 1))]))
        for floor in (-np.inf, -6.0):
            table = TailTable("x", tuple(knots), tuple(tails), floor=floor)
            scaled = np.concatenate([rng.normal(0, 5, 400), knots, special])
            expected = _log_tail_as_it_was(table, scaled)
            assert table.log_tail(scaled).tobytes() == expected.tobytes()
            one_at_a_time = np.concatenate([table.log_tail(np.array([value])) for value in scaled])
            assert one_at_a_time.tobytes() == expected.tobytes()  # the decision step's evidence reads one row


def test_an_own_tail_reads_nan_and_infinities_as_it_did_with_nan_to_num():
    scores = np.array([np.nan, np.inf, -np.inf, 0.0, 0.5, 1.0, 1 - 1e-16, 0.999999])
    for own in ("p_value", "decades"):
        table = TailTable("x", (), (), own=own, floor=-12.0)
        top = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, 1 - 1e-15)
        tail = np.log10(1 - top) if own == "p_value" else -top / (1 - top)
        expected = np.where(np.isnan(scores), 0.0, np.maximum(tail, -12.0))
        assert table.log_tail_of(scores, "logit").tobytes() == expected.tobytes()

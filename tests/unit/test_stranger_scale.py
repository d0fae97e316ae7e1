"""The pattern score of strangers fitted on real shoppers: mapped by tail share, stored, applied to strangers only."""

import numpy as np

from shopguard.config import PatternSettings
from shopguard.training.detectors.user_patterns import UserPatternDetector
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.training.stranger_scale import fit_stranger_scale, write_stranger_scale
from shopguard.udfs.events import Event
from shopguard.udfs.pattern_matching import PatternMatcher, PatternState, StrangerScale
from shopguard.udfs.pattern_store import PATTERNS_FILE, PatternStore
from tests.unit.test_pattern_matching import ODD, ODD_TS, SETTINGS, store_with


def test_a_stranger_is_as_rare_after_the_scale_as_a_known_user_with_that_score():
    rng = np.random.default_rng(1)
    strangers = np.r_[np.zeros(6000), rng.random(3000), np.ones(1000)]  # 10% of them at the highest score
    known = rng.beta(2, 8, 5000)
    scale = fit_stranger_scale(strangers, known)
    mapped = np.array([scale.apply(v) for v in strangers])
    for cut in np.quantile(known, [0.7, 0.8, 0.85, 0.88]):  # above the 60% of strangers at 0
        assert abs(np.mean(mapped >= cut) - np.mean(known >= cut)) < 0.02
    assert mapped.max() <= np.quantile(known, 0.9) + 1e-12  # the 10% at the top cannot look rarer than 10%
    assert list(scale.raw) == sorted(scale.raw) and list(scale.scaled) == sorted(scale.scaled)
    assert scale.apply(0.0) == 0.0


def test_the_store_carries_the_scale_and_only_strangers_are_mapped(tmp_path):
    store = store_with(tmp_path, [("known", 100, [])])
    store.close()
    write_stranger_scale(tmp_path / PATTERNS_FILE, StrangerScale((0.0, 1.0), (0.0, 0.25)))
    matcher = PatternMatcher(PatternStore.open(tmp_path / PATTERNS_FILE, 10_000, 0.01), SETTINGS)
    assert matcher.observe("known", ODD, ODD_TS, PatternState()).score == 1.0
    state = PatternState()
    assert matcher.observe("stranger", ODD, ODD_TS, state).score == 0.25 and state.score == 1.0


def _events(user, kinds, gap_s, start_s=0):
    return [
        Event(f"{user}-{i}", user, kind, (start_s + i * gap_s) * 1000, item_id=f"i{i}", category_id=f"c{i % 3}")
        for i, kind in enumerate(kinds)
    ]


def test_fitting_with_real_shoppers_writes_the_scale_into_the_store(tmp_path):
    usual = ["page_view", "page_view", "add_to_cart", "page_view", "purchase"]
    history = [e for n in range(40) for e in _events(f"k{n}", usual * 4, 30)]
    later = [e for n in range(40) for e in _events(f"k{n}", usual, 30, start_s=86_400)]
    real = [e for n in range(200) for e in _events(f"r{n}", ["page_view", "login_failed"][: 1 + n % 2], 2)]
    encode = lambda events: encode_traffic(LabelledTraffic(events, []), 32)  # noqa: E731
    settings = PatternSettings(min_idf=(0.5,))
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    detector = UserPatternDetector(settings, tmp_path / "a", reference=(encode(real), encode(later))).fit(
        encode(history)
    )
    plain = UserPatternDetector(settings, tmp_path / "b").fit(encode(history))
    scale = StrangerScale.from_json(PatternStore.open(detector.store_path, 10_000, 0.01).meta.get("stranger_scale"))
    assert scale is not None and plain.matcher.stranger_scale is None
    assert np.array_equal(detector.score(encode(later)), plain.score(encode(later)))  # known users: unchanged
    assert detector.score(encode(real)).max() <= scale.scaled[-1] < plain.score(encode(real)).max()

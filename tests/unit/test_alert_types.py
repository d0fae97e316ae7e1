"""An alert names new_account_abuse only when the job saw the account open or new accounts on its device or IP."""

import numpy as np

from shopguard.udfs.alert_types import NEW_ACCOUNT_TYPE, choose_types, new_account_evidence
from shopguard.udfs.default_model import DEFAULT_MODEL_DIR
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import batch_features, encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.rows import ENTITY_FIGURE_FIELDS

T0 = 1_511_658_000_000


def _window(*kinds: str) -> bytes:
    events = [
        Event(f"e{i}", "u1", kind, T0 + 20_000 * i, item_id="i1", category_id="c1", price=50.0, device_id="d1")
        for i, kind in enumerate(kinds)
    ]
    return encode_user_events(events, 32)[-1]


def test_without_evidence_the_next_most_likely_type_is_named():
    classes = ("normal", "bot", "card_testing", NEW_ACCOUNT_TYPE)
    probabilities = np.array([[0.0, 0.1, 0.2, 0.7]] * 2 + [[0.0, 0.5, 0.2, 0.3]])
    assert choose_types(classes, probabilities, np.array([True, False, False])) == [
        NEW_ACCOUNT_TYPE,
        "card_testing",
        "bot",
    ]
    assert choose_types(classes, probabilities) == [NEW_ACCOUNT_TYPE, NEW_ACCOUNT_TYPE, "bot"]  # the head alone


def test_evidence_is_a_known_signup_or_new_accounts_on_the_device_or_ip():
    seconds = np.array([np.nan, 3600.0, np.nan, np.nan, np.nan])
    device = np.array([np.nan, np.nan, 1.0, 0.0, np.nan])
    ip = np.array([np.nan, np.nan, np.nan, 0.0, 2.0])
    assert new_account_evidence(seconds, device, ip).tolist() == [False, True, True, False, True]


def test_the_job_s_scoring_types_new_account_abuse_only_with_evidence():
    ensemble = DetectorEnsemble.load(DEFAULT_MODEL_DIR)
    windows = [_window("signup", "login", "page_view", "purchase"), _window("page_view"), _window("login", "purchase")]
    features = batch_features(windows * 2, 32)
    _, head_alone = ensemble.model.score_with_types(features)
    assert NEW_ACCOUNT_TYPE in head_alone  # the shipped head types such windows so: the case this guards
    rows = len(features)
    figures = np.full((rows, len(ENTITY_FIGURE_FIELDS)), np.nan)
    seconds = np.r_[np.full(3, np.nan), [60.0, 60.0, 60.0]]  # the first three: no signup seen, no entity figure
    result = ensemble.score_batch(
        features, np.full(rows, np.nan), entity_figures=figures, new_account_inputs=(["purchase"] * rows, seconds)
    )
    for row, (chosen, head) in enumerate(zip(result.anomaly_type, head_alone)):
        if row < 3:
            assert chosen != NEW_ACCOUNT_TYPE and (head == NEW_ACCOUNT_TYPE or chosen == head)
        else:
            assert chosen == head
    without_inputs = ensemble.score_batch(features, np.full(rows, np.nan))
    assert NEW_ACCOUNT_TYPE not in without_inputs.anomaly_type


def test_a_type_about_one_kind_of_event_needs_one_in_the_window():
    classes = ("normal", "card_testing", "account_takeover", "review_abuse", "inventory_hoarding", "bot")
    windows = [
        _window("page_view", "add_to_cart", "purchase"),  # a real shopper buying a second after the cart
        _window("page_view", "payment_failed", "payment_failed"),
        _window("login_failed", "login", "purchase"),
        _window("review", "review", "review"),
    ]
    features = batch_features(windows, 32)
    head = np.array([[0.0, 0.5, 0.2, 0.15, 0.1, 0.05]] * 4)  # the head's order: card testing first
    assert choose_types(classes, head, window_features=features) == [
        "inventory_hoarding",  # no declined payment, no sign-in, no review; a cart
        "card_testing",
        "account_takeover",
        "review_abuse",  # account_takeover, ranked above it, has no sign-in or identity change here
    ]
    assert choose_types(classes, head) == ["card_testing"] * 4  # the head alone


def test_the_shipped_head_no_longer_calls_a_quick_purchase_card_testing():
    ensemble = DetectorEnsemble.load(DEFAULT_MODEL_DIR)
    features = batch_features([_window("page_view", "add_to_cart", "purchase")], 32)
    _, types = ensemble.model.score_with_types(features)
    assert types != ["card_testing"] and types != ["account_takeover"]

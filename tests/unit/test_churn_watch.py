"""The churn watch: silence against a user's own cadence, refund climbs, sparse and idempotent timers."""

import heapq

from shopguard.config import ChurnSettings
from shopguard.udfs.churn_state import LAYOUT, ChurnState
from shopguard.udfs.churn_watch import ChurnWatch
from shopguard.udfs.events import Event

DAY = 86_400_000
T0 = 1_700_000_000_000


def _visits(user: str, every_days: float, count: int, start: int = T0, events_per_visit: int = 3) -> list[Event]:
    return [
        Event(f"{user}-{n}-{k}", user, "page_view", int(start + n * every_days * DAY) + 60_000 * k)
        for n in range(count)
        for k in range(events_per_visit)
    ]


def run_live(watch: ChurnWatch, events: list[Event], until_ms: int) -> tuple[list[dict], int]:
    """The watch as the job runs it with a watermark that follows the events: timers fire in event-time order.

    Returns the signals and how many timers were registered.
    """
    state, timers, signals, registered = ChurnState(), [], [], 0
    previous = -1
    for event in [*events, None]:
        now = until_ms if event is None else event.ts_ms
        while timers and timers[0] < now:
            fired, timer = watch.on_timer(state, "u", heapq.heappop(timers))
            signals += fired
            if timer is not None:
                heapq.heappush(timers, timer)
                registered += 1
        if event is None:
            break
        if watch.concerns(event, previous):
            fired, timer = watch.on_event(state, event, previous)
            signals += fired
            if timer is not None:
                heapq.heappush(timers, timer)
                registered += 1
        previous = max(previous, event.ts_ms)
    return signals, registered


def run_without_watermark(watch: ChurnWatch, events: list[Event]) -> list[dict]:
    """A replay of a file: no timer fires before the end of the input."""
    state, signals, previous = ChurnState(), [], -1
    for event in events:
        if watch.concerns(event, previous):
            signals += watch.on_event(state, event, previous)[0]
        previous = max(previous, event.ts_ms)
    return signals


def test_a_regular_customer_who_goes_silent_gets_a_signal_once_the_silence_is_unusual_for_them():
    watch = ChurnWatch(ChurnSettings())
    events = _visits("u", every_days=3, count=20)
    last_visit = events[-3].ts_ms
    signals, _ = run_live(watch, events, until_ms=last_visit + 60 * DAY)
    first = signals[0]
    threshold = watch.threshold_ms(ChurnState(visits=20, mean_gap_s=3 * 86_400.0))
    assert first["status"] == "open" and first["signal"] == "churn_risk" and first["score"] == 0.5
    assert first["at"] == _iso(last_visit + threshold) and first["since"] == _iso(last_visit)
    assert first["reasons"][0]["text"].startswith("no visit for 10 days; this customer came every 3 days for 8 weeks")
    assert [s["status"] for s in signals] == ["open", "updated", "updated", "updated"]
    assert [s["revision"] for s in signals] == [0, 1, 2, 3]
    assert len({s["signal_id"] for s in signals}) == 1
    assert [s["score"] for s in signals] == sorted(s["score"] for s in signals)


def test_no_signal_before_the_users_own_threshold_and_a_frequent_customer_is_judged_on_their_own_cadence():
    watch = ChurnWatch(ChurnSettings(min_silence_days=1.0))
    daily = ChurnState(visits=40, mean_gap_s=86_400.0, longest_gap_s=2 * 86_400.0)
    weekly = ChurnState(visits=40, mean_gap_s=7 * 86_400.0, longest_gap_s=9 * 86_400.0)
    assert watch.threshold_ms(daily) < 4 * DAY < 20 * DAY < watch.threshold_ms(weekly)
    quiet = _visits("u", every_days=7, count=10)
    signals, _ = run_live(watch, quiet, until_ms=quiet[-1].ts_ms + 15 * DAY)
    assert signals == []


def test_a_customer_who_comes_back_gets_recovered_on_the_same_signal():
    watch = ChurnWatch(ChurnSettings())
    events = _visits("u", every_days=3, count=10)
    back = Event("back", "u", "page_view", events[-1].ts_ms + 12 * DAY)
    signals, _ = run_live(watch, [*events, back], until_ms=back.ts_ms + DAY)
    assert [s["status"] for s in signals] == ["open", "recovered"]
    assert signals[0]["signal_id"] == signals[1]["signal_id"] and signals[1]["revision"] == 1
    assert "came back after" in signals[1]["reasons"][0]["text"]


def test_a_replay_without_watermarks_sends_what_the_live_timers_would_have_sent():
    watch = ChurnWatch(ChurnSettings())
    events = _visits("u", every_days=2, count=15) + _visits("u", every_days=2, count=5, start=T0 + 80 * DAY)
    live, _ = run_live(watch, events, until_ms=events[-1].ts_ms)
    replayed = run_without_watermark(watch, events)
    assert live and replayed == live


def test_a_timer_fired_twice_after_a_restart_sends_nothing_twice():
    watch = ChurnWatch(ChurnSettings())
    state, previous = ChurnState(), -1
    for event in _visits("u", every_days=3, count=10):
        if watch.concerns(event, previous):
            watch.on_event(state, event, previous)
        previous = event.ts_ms
    deadline = watch.next_deadline(state)
    first, _ = watch.on_timer(state, "u", deadline)
    again, _ = watch.on_timer(state, "u", deadline)
    restored = ChurnState.from_bytes(state.to_bytes())
    after_restore, _ = watch.on_timer(restored, "u", deadline)
    assert len(first) == 1 and again == [] and after_restore == []


def test_timers_are_registered_sparingly_not_per_event_or_per_visit():
    watch = ChurnWatch(ChurnSettings())
    events = _visits("u", every_days=1, count=120, events_per_visit=10)
    _, registered = run_live(watch, events, until_ms=events[-1].ts_ms)
    assert registered <= 120 / 7 + 2  # about one per threshold (7 days), not one per visit (120) or event (1200)


def test_inside_a_visit_the_churn_record_is_not_touched():
    watch = ChurnWatch(ChurnSettings())
    view = Event("e", "u", "page_view", T0 + 60_000)
    assert not watch.concerns(view, T0)
    assert watch.concerns(view, -1) and watch.concerns(view._replace(ts_ms=T0 + DAY), T0)
    assert watch.concerns(view._replace(event_type="refund_request"), T0)


def test_a_one_visit_user_costs_no_timer():
    watch = ChurnWatch(ChurnSettings())
    state = ChurnState()
    assert watch.on_event(state, Event("e", "u", "page_view", T0), -1) == ([], None)


def _orders(kinds: str, start: int = T0) -> list[Event]:
    """One visit a day with a purchase (p) or a refund request (r)."""
    kind = {"p": "purchase", "r": "refund_request"}
    return [Event(f"o{n}", "u", kind[c], start + n * DAY, item_id=f"i{n}") for n, c in enumerate(kinds)]


def test_refund_requests_that_climb_against_the_users_own_past_open_a_signal_in_words():
    watch = ChurnWatch(ChurnSettings())
    signals = run_without_watermark(watch, _orders("p" * 12 + "prprpr"))
    refund = [s for s in signals if s["reasons"][0]["feature"] == "refund_requests"]
    assert refund[0]["status"] == "open"
    assert refund[0]["reasons"][0]["text"] == "3 refund requests in the last 5 purchases, none before"


def test_a_customer_who_always_asks_refunds_at_that_rate_is_no_climb():
    watch = ChurnWatch(ChurnSettings())
    signals = run_without_watermark(watch, _orders("prp" * 12))
    assert not [s for s in signals if s["reasons"][0]["feature"] == "refund_requests"]


def test_the_churn_record_stays_far_inside_the_per_user_budget():
    full = ChurnState(1, 2, 3, 4, 65535, 1.0, 2.0, 65535, 2**32 - 1, 2**32 - 1, 65535, 16, 3, 4)
    assert len(full.to_bytes()) <= len(LAYOUT.tag) + 64 and ChurnState.from_bytes(full.to_bytes()) == full


def _iso(ms: int) -> str:
    from shopguard.udfs.alerts import rfc3339_ms

    return rfc3339_ms(ms)


def test_visits_that_thin_out_open_a_signal_while_the_customer_still_comes_and_one_holiday_does_not():
    watch = ChurnWatch(ChurnSettings())
    regular = _visits("u", every_days=2, count=20)
    start = regular[-1].ts_ms
    thinning = [Event(f"t{n}", "u", "page_view", start + gap * DAY) for n, gap in enumerate((6, 15, 26))]
    signals = run_without_watermark(watch, regular + thinning)
    first = signals[0]
    assert first["status"] == "open" and first["reasons"][0]["feature"] == "thinning"
    assert first["at"] == _iso(start + 15 * DAY)  # the visit that ends the second long gap: they still come
    assert "the last 2 gaps between visits were 6 and 9 days" in first["reasons"][0]["text"]
    holiday = [Event(f"h{n}", "u", "page_view", start + gap * DAY) for n, gap in enumerate((6, 8, 10, 12))]
    assert not [s for s in run_without_watermark(watch, regular + holiday) if s["reasons"][0]["feature"] == "thinning"]


def test_the_silence_threshold_is_a_survival_quantile_longer_while_the_pace_is_uncertain():
    """Longer than silence_factor x the blended usual gap, the more so the fewer gaps, and tending to it."""
    settings = ChurnSettings(min_silence_days=0.0, longest_gap_factor=0.0)
    watch = ChurnWatch(settings)
    for every_days in (1.0, 3.5, 12.0):  # faster than the population default, at it, slower
        ratios = []
        for visits in (2, 4, 10, 40, 400):
            state = ChurnState(visits=visits, mean_gap_s=every_days * 86_400.0)
            ratios.append(watch.threshold_ms(state) / (settings.silence_factor * watch.usual_gap_ms(state)))
        assert all(r > 1.0 for r in ratios) and ratios == sorted(ratios, reverse=True)
        assert ratios[0] > 1.3 and ratios[-1] < 1.01

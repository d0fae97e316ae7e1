"""The churn watch: a customer's silence against their own visit cadence, and refund requests that climb.

A customer who stops coming sends no events, so the churn step (:class:`~shopguard.udfs.churn_step.
WatchChurn`) registers an event-time timer per user at the moment their silence would become
unusual for *them*; this module decides everything else, free of Flink, so that the job, the replay
and the evaluation run the same rule:

* a user's **silence threshold** (:meth:`ChurnWatch.threshold_ms`): the silence their own gaps make as
  unlikely as ``exp(-churn.silence_factor)`` (:func:`silence_quantile_ms`: a survival view of their visits,
  shrunk towards a population default while they have few, and longer the less their pace is known),
  ``churn.longest_gap_factor`` x their longest gap so far, or ``churn.min_silence_days``,
  the largest;
* a silence of k thresholds reports score ``1 - 0.5**k``: it opens a signal at k = 1 and updates it
  at each further multiple while the score still rises by ``job.alert_update_min_gain``;
* a **refund climb**: at least ``churn.min_refunds`` refund requests since the
  ``churn.refund_window_purchases``-th newest purchase, at ``churn.refund_climb_factor`` times the
  user's earlier rate (at least 5%) or more, over at least as many earlier purchases, opens or updates the
  signal at the refund request;
* **thinning visits** (a customer slowing down before leaving): the latest ``churn.thinning_gaps``
  gaps between visits each ``churn.thinning_factor`` x the user's usual gap or longer, and at least half
  of ``churn.min_silence_days``, open or update the signal at the visit that ends them;
* a visit while a silence is reported closes the signal with ``recovered``; a signal about thinning
  alone closes at a visit back in the usual rhythm, one about refunds alone when they no longer climb.

Timers are registered sparingly: only when none is pending or the deadline moved *earlier* by more than
``churn.timer_tolerance_ms``. A timer that fires before the user's current deadline re-arms at it, and
firing is idempotent (:meth:`ChurnWatch.catch_up` reports only levels not yet reported), so a stale or
restored timer never repeats a signal. An event that arrives after a deadline whose timer has not fired
(the watermark lags the events by the allowed out-of-orderness) first reports what the timer would have.
A timer that the end of a bounded input fires (:data:`END_OF_INPUT`) reports only if the events reached its
deadline: :func:`observed_by`.

Example
-------
>>> from shopguard.config import ChurnSettings
>>> from shopguard.udfs.events import Event
>>> watch, state, day = ChurnWatch(ChurnSettings()), ChurnState(), 86_400_000
>>> for n in range(20):  # a visit every 3 days
...     signals, timer = watch.on_event(state, Event(f"e{n}", "u", "page_view", 3 * day * n), previous_ts_ms=-1)
>>> round(watch.threshold_ms(state) / day, 1)  # about 3 x the usual gap, 19 gaps and the prior's 3
9.9
>>> watch.on_timer(state, "u", state.visit_start_ms + day)  # a stale timer (an earlier visit's): nothing due yet
([], None)
>>> signals, timer = watch.on_timer(state, "u", state.timer_ms)
>>> signals[0]["status"], signals[0]["reasons"][0]["text"]
('open', 'no visit for 10 days; this customer came every 3 days for 8 weeks')
>>> signals, timer = watch.on_event(state, Event("back", "u", "page_view", 3 * day * 19 + 12 * day), -1)
>>> [s["status"] for s in signals]
['recovered']
"""

from __future__ import annotations

import math
from typing import Any

from shopguard.config import ChurnSettings
from shopguard.udfs.churn_state import RECENT_GAPS, RECENT_ORDERS_CAPACITY, REFUNDS, SILENCE, THINNING, ChurnState
from shopguard.udfs.encoding import VISIT_GAP_MS
from shopguard.udfs.events import Event
from shopguard.udfs.risk_signals import (
    DAY_MS,
    recovered_reason,
    refund_reason,
    rhythm_reason,
    risk_signal,
    silence_reason,
    thinning_reason,
)

MIN_REFUND_RATE = 0.05  # the earlier refund rate a climb is measured against is at least this
ORDER_EVENTS = frozenset({"purchase", "refund_request"})
END_OF_INPUT = 2**63 - 1  # the watermark at the end of a bounded input (Flink's Long.MAX_VALUE)


def is_churn_fact(event: Event, previous_ts_ms: int) -> bool:
    """Whether ``event`` concerns the churn watch: it may start a visit, or it is a purchase or refund request.

    ``previous_ts_ms`` is the newest event time in the user's state before this event (-1: none kept).
    Events inside a visit cost nothing.

    >>> is_churn_fact(Event("e", "u", "page_view", 10_000), previous_ts_ms=5_000)  # inside a visit
    False
    >>> is_churn_fact(Event("e", "u", "refund_request", 10_000), 5_000), is_churn_fact(Event("e", "u", "cart", 0), -1)
    (True, True)
    """
    return previous_ts_ms < 0 or event.ts_ms - previous_ts_ms > VISIT_GAP_MS or event.event_type in ORDER_EVENTS


def observed_by(timer_ms: int, watermark_ms: int, data_watermark_ms: int) -> bool:
    """Whether a timer due at ``timer_ms``, firing at stream watermark ``watermark_ms``, speaks for a silence the
    data showed.

    At the end of a bounded input (a replay's file, a drained job) the watermark jumps to :data:`END_OF_INPUT`
    and fires every pending timer at once. Only those the events' own watermark had reached
    (``data_watermark_ms``: the newest event time seen minus the allowed out-of-orderness, the watermark the
    live job would have had) report: a deadline beyond it is a silence never observed, and reports nothing,
    so a replay's end sends no flood of signals, and a replay reports what the live job would have, however
    seldom the periodic watermark was emitted while it ran.

    >>> day = 86_400_000
    >>> observed_by(10 * day, watermark_ms=11 * day, data_watermark_ms=11 * day)
    True
    >>> observed_by(10 * day, END_OF_INPUT, data_watermark_ms=12 * day), observed_by(10 * day, END_OF_INPUT, 9 * day)
    (True, False)
    """
    return watermark_ms < END_OF_INPUT or timer_ms <= data_watermark_ms


def silence_quantile_ms(gaps: int, gaps_ms: float, settings: ChurnSettings) -> float:
    """How long a silence must last before a user's own ``gaps`` gaps between visits (``gaps_ms`` in all) make it
    as unlikely as ``exp(-settings.silence_factor)``.

    Gaps are taken as exponential at the user's own visit rate, with a Gamma prior on that rate worth
    ``settings.prior_visits`` gaps of ``settings.default_visit_gap_days`` (the population default). The chance
    of no visit for ``t`` given the gaps seen is then ``(1 + t / (b + gaps_ms)) ** -(a + gaps)`` (a Lomax
    survival, with ``a``, ``b`` the prior's), and the threshold is where it falls to ``exp(-silence_factor)``.
    With many gaps it tends to ``silence_factor`` x the user's mean gap. It is always longer than
    ``silence_factor`` x the blended usual gap (:meth:`ChurnWatch.usual_gap_ms`), the more so the fewer gaps:
    the uncertainty about a new customer's pace makes a long silence less surprising (a point blend with a
    short default would warn a slow new customer early).

    >>> from shopguard.config import ChurnSettings
    >>> day, settings = 86_400_000, ChurnSettings()
    >>> round(silence_quantile_ms(99, 99 * 3 * day, settings) / day, 1)  # near 3 x a 3-day pace
    9.2
    >>> [round(silence_quantile_ms(1, gap * day, settings) / day, 1) for gap in (1, 12)]  # blend x 3: 8.6, 16.9
    [12.8, 25.1]
    """
    a = settings.prior_visits + gaps
    b = settings.prior_visits * settings.default_visit_gap_days * DAY_MS + gaps_ms
    return b * math.expm1(settings.silence_factor / a)


def silence_score(level: float) -> float:
    """The score of a silence ``level`` thresholds long: 0.5 at one, 0.75 at two, ...

    >>> silence_score(1), silence_score(2), silence_score(0)
    (0.5, 0.75, 0.0)
    """
    return 1.0 - 0.5**level


def refund_score(recent_refunds: int, min_refunds: int) -> float:
    """The score of a refund climb: 0.5 at ``min_refunds`` requests, rising with each one more.

    >>> refund_score(3, 3), round(refund_score(6, 3), 2)
    (0.5, 0.75)
    """
    return 1.0 - 0.5 ** (recent_refunds / max(min_refunds, 1))


class ChurnWatch:
    """The churn rule on one user's :class:`ChurnState`; returns the signals to send and the timer to register."""

    def __init__(self, settings: ChurnSettings, min_gain: float = 0.05):
        self.settings = settings
        self.min_gain = min_gain
        self.max_level = _max_level(min_gain)

    def concerns(self, event: Event, previous_ts_ms: int) -> bool:
        """Whether ``event`` needs the churn record (:func:`is_churn_fact`)."""
        return is_churn_fact(event, previous_ts_ms)

    def usual_gap_ms(self, state: ChurnState) -> float:
        """The user's usual time between visit starts, the population default weighing ``prior_visits`` gaps."""
        s = self.settings
        gaps = max(state.visits - 1, 0)
        default_ms = s.default_visit_gap_days * DAY_MS
        return (gaps * state.mean_gap_s * 1000.0 + s.prior_visits * default_ms) / (gaps + s.prior_visits)

    def threshold_ms(self, state: ChurnState) -> int:
        """How long a silence is unusual for this user (see the module docstring)."""
        s = self.settings
        gaps = max(state.visits - 1, 0)
        return int(
            max(
                silence_quantile_ms(gaps, gaps * state.mean_gap_s * 1000.0, s),
                s.longest_gap_factor * state.longest_gap_s * 1000.0,
                s.min_silence_days * DAY_MS,
            )
        )

    def next_deadline(self, state: ChurnState) -> int | None:
        """When the user's silence reaches its next unreported level (None: nothing left to report)."""
        if state.visits < self.settings.min_visits or state.visit_start_ms < 0:
            return None
        level = state.silence_level if state.open_kinds & SILENCE else 0
        if level >= self.max_level:
            return None
        return state.visit_start_ms + (level + 1) * self.threshold_ms(state)

    def catch_up(self, state: ChurnState, user_id: str, now_ms: int) -> list[dict[str, Any]]:
        """The silence signals due by event time ``now_ms`` and not yet reported (idempotent)."""
        if state.visits < self.settings.min_visits or state.visit_start_ms < 0:
            return []
        threshold = self.threshold_ms(state)
        reached = min((now_ms - state.visit_start_ms) // threshold, self.max_level)
        done = state.silence_level if state.open_kinds & SILENCE else 0
        signals = []
        for level in range(done + 1, int(reached) + 1):  # each level the live job's timers would have reported
            at_ms = state.visit_start_ms + level * threshold
            status = self._raise(state, at_ms, SILENCE)
            state.silence_level = level
            reason = silence_reason(
                at_ms - state.visit_start_ms,
                self.usual_gap_ms(state),
                state.visit_start_ms - state.first_visit_ms,
                state.visits,
            )
            signals.append(self._signal(state, user_id, status, silence_score(level), at_ms, [reason]))
        return signals

    def on_timer(self, state: ChurnState, user_id: str, timer_ms: int) -> tuple[list[dict[str, Any]], int | None]:
        """A timer fired at event time ``timer_ms``: the signals due, and the next timer to register (or None)."""
        if state.timer_ms == timer_ms:
            state.timer_ms = 0
        signals = self.catch_up(state, user_id, timer_ms)
        return signals, self._timer_to_register(state, timer_ms)

    def on_event(self, state: ChurnState, event: Event, previous_ts_ms: int) -> tuple[list[dict[str, Any]], int | None]:
        """An accepted event the user's churn record :meth:`concerns`: signals to send and the timer to register."""
        signals: list[dict[str, Any]] = []
        newest = max(previous_ts_ms, state.visit_start_ms)
        if newest < 0 or event.ts_ms - newest > VISIT_GAP_MS:
            signals += self.catch_up(state, event.user_id, event.ts_ms - 1)
            signals += self._start_visit(state, event)
        if event.event_type in ORDER_EVENTS:
            signals += self._count_order(state, event)
        return signals, self._timer_to_register(state, event.ts_ms)

    def _start_visit(self, state: ChurnState, event: Event) -> list[dict[str, Any]]:
        signals = []
        if state.open_kinds & SILENCE:
            reason = recovered_reason(event.ts_ms - state.visit_start_ms)
            signals.append(self._close(state, event.user_id, event.ts_ms, reason))
        if state.visit_start_ms < 0:
            state.first_visit_ms = event.ts_ms
        else:
            gap_ms = event.ts_ms - state.visit_start_ms
            usual_ms = self.usual_gap_ms(state)  # the cadence before this gap counts
            gaps = state.visits  # the gaps seen once this one is counted
            state.mean_gap_s += (gap_ms / 1000.0 - state.mean_gap_s) / max(gaps, 1)
            state.longest_gap_s = max(state.longest_gap_s, gap_ms / 1000.0)
            state.push_gap(gap_ms)
            signals += self._judge_thinning(state, event, usual_ms)
        state.visits = min(state.visits + 1, 0xFFFF)
        state.visit_start_ms = event.ts_ms
        return signals

    def _judge_thinning(self, state: ChurnState, event: Event, usual_ms: float) -> list[dict[str, Any]]:
        """Open (or close) a signal when the user's latest gaps between visits all stretch far beyond their usual."""
        s = self.settings
        count = min(max(s.thinning_gaps, 1), RECENT_GAPS)
        gaps_ms = [hours * 3_600_000 for hours in reversed(state.recent_gaps_h[:count])]  # oldest first
        if state.visits < s.min_thinning_visits or not all(gaps_ms):
            return []
        ratio = min(gaps_ms) / usual_ms
        long_enough = min(gaps_ms) >= s.min_silence_days * DAY_MS / 2  # days apart, not hours: a frequent visitor
        if ratio >= s.thinning_factor and long_enough:
            if state.open_kinds & THINNING:
                return []
            status = self._raise(state, event.ts_ms, THINNING)
            reason = thinning_reason(gaps_ms, usual_ms, event.ts_ms - state.first_visit_ms)
            score = silence_score(ratio / s.thinning_factor)
            return [self._signal(state, event.user_id, status, score, event.ts_ms, [reason])]
        if state.open_kinds == THINNING and gaps_ms[-1] < s.thinning_factor * usual_ms:
            return [self._close(state, event.user_id, event.ts_ms, rhythm_reason(gaps_ms[-1]))]
        return []

    def _close(self, state: ChurnState, user_id: str, at_ms: int, reason: dict[str, Any]) -> dict[str, Any]:
        """The ``recovered`` update that ends the open episode."""
        state.revision = min(state.revision + 1, 0xFFFF)
        signal = self._signal(state, user_id, "recovered", 0.0, at_ms, [reason])
        state.open_kinds, state.open_since_ms, state.silence_level, state.revision = 0, 0, 0, 0
        return signal

    def _count_order(self, state: ChurnState, event: Event) -> list[dict[str, Any]]:
        refund = event.event_type == "refund_request"
        state.recent_orders = ((state.recent_orders << 1) | int(refund)) & ((1 << RECENT_ORDERS_CAPACITY) - 1)
        state.recent_length = min(state.recent_length + 1, RECENT_ORDERS_CAPACITY)
        state.purchases += int(not refund)
        state.refunds += int(refund)
        climb = self._refund_climb(state)
        if not refund:
            if climb is None and state.open_kinds == REFUNDS:  # a refund-only episode ends when the climb does
                return [self._close(state, event.user_id, event.ts_ms, _refunds_settled(self.settings))]
            return []
        if climb is None or state.open_kinds & REFUNDS:
            return []
        recent_refunds, recent_purchases, earlier_refunds, earlier_purchases = climb
        status = self._raise(state, event.ts_ms, REFUNDS)
        score = refund_score(recent_refunds, self.settings.min_refunds)
        reason = refund_reason(*climb)
        return [self._signal(state, event.user_id, status, score, event.ts_ms, [reason])]

    def _refund_climb(self, state: ChurnState) -> tuple[int, int, int, int] | None:
        """(recent refunds, recent purchases, earlier refunds, earlier purchases) when refunds climb, else None."""
        s = self.settings
        recent_refunds = recent_purchases = 0
        for position in range(state.recent_length):
            if (state.recent_orders >> position) & 1:
                recent_refunds += 1
            else:
                recent_purchases += 1
                if recent_purchases == s.refund_window_purchases:
                    break
        if recent_refunds < s.min_refunds:
            return None
        earlier_refunds = state.refunds - recent_refunds
        earlier_purchases = state.purchases - recent_purchases
        if earlier_purchases < s.refund_window_purchases:  # a climb is against the user's own past: they need one
            return None
        earlier_rate = max(earlier_refunds / max(earlier_purchases, 1), MIN_REFUND_RATE)
        if recent_refunds / max(recent_purchases, 1) < s.refund_climb_factor * earlier_rate:
            return None
        return recent_refunds, max(recent_purchases, recent_refunds), earlier_refunds, earlier_purchases

    def _raise(self, state: ChurnState, at_ms: int, kind: int) -> str:
        """Open the user's signal, or count an update of the open one; its status."""
        if state.open_kinds:
            state.open_kinds |= kind
            state.revision = min(state.revision + 1, 0xFFFF)
            return "updated"
        state.open_kinds, state.open_since_ms, state.revision = kind, at_ms, 0
        return "open"

    def _signal(
        self, state: ChurnState, user_id: str, status: str, score: float, at_ms: int, reasons: list
    ) -> dict[str, Any]:
        return risk_signal(
            user_id=user_id,
            status=status,
            score=score,
            since_ms=state.visit_start_ms,
            at_ms=at_ms,
            reasons=reasons,
            rule_version=self.settings.rule_version,
            revision=state.revision,
            opened_at_ms=state.open_since_ms or at_ms,
        )

    def _timer_to_register(self, state: ChurnState, now_ms: int) -> int | None:
        """The deadline to register now, or None when a pending timer is early enough (or nothing is due)."""
        deadline = self.next_deadline(state)
        if deadline is None:
            return None
        pending = state.timer_ms if state.timer_ms > now_ms else 0
        if pending and pending <= deadline + self.settings.timer_tolerance_ms:
            return None
        state.timer_ms = deadline
        return deadline


def _refunds_settled(settings: ChurnSettings) -> dict[str, Any]:
    return {
        "feature": "refund_requests",
        "value": 0,
        "text": f"refund requests no longer climb over the last {settings.refund_window_purchases} purchases",
    }


def _max_level(min_gain: float) -> int:
    """The last silence level whose score still rises by ``min_gain`` over the one before.

    >>> _max_level(0.05), _max_level(0.2)
    (4, 2)
    """
    return max(1, int(math.floor(math.log2(1.0 / max(min_gain, 1e-6)))))

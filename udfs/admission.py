"""Which events may change a user's history: late ones and duplicates may not.

:func:`admit_event` is the decision :class:`~shopguard.udfs.user_history.TrackUserHistory` makes for
every event, kept free of Flink so that each case of bad timing has a fast test.

Example
-------
>>> from shopguard.config import JobSettings
>>> from shopguard.udfs.events import Event
>>> state, settings = UserState(), JobSettings()
>>> admit_event(state, Event("e1", "u", "page_view", 3_600_000), settings)
('accepted', -1)
>>> admit_event(state, Event("e1", "u", "page_view", 3_600_000), settings)[0]
'duplicate'
>>> admit_event(state, Event("e0", "u", "page_view", 0), settings)  # an hour older than the user's newest
('late', 3590000)
"""

from __future__ import annotations

from typing import Iterable

from shopguard.config import JobSettings
from shopguard.udfs.event_time import is_late, user_watermark
from shopguard.udfs.events import Event
from shopguard.udfs.user_state import UserState


def admit_event(state: UserState, event: Event, settings: JobSettings) -> tuple[str, int]:
    """``("accepted" | "duplicate" | "late", the user's watermark)``; only an accepted event changes ``state``."""
    watermark = user_watermark(state.history.last_ts_ms, settings.max_out_of_orderness_ms)
    if is_late(event.ts_ms, watermark, settings.allowed_lateness_ms):
        return "late", watermark
    if not state.accept(
        event, settings.history_length, settings.dedup_window_events, settings.recent_event_ids, settings.session_gap_ms
    ):
        return "duplicate", watermark
    return "accepted", watermark


def session_profiles(history: Iterable[Event], settings: JobSettings) -> list[bytes]:
    """The session bytes the keyed step sends to scoring after each of one user's events, in the given order.

    What :class:`~shopguard.udfs.user_history.TrackUserHistory` computes, for training and evaluation
    to see exactly what the job's ``rarity`` detector sees; an event the job would not score (late,
    duplicate) gets the bytes of the user's state as it stands.
    """
    state, profiles = UserState(), []
    for event in history:
        admit_event(state, event, settings)
        profiles.append(state.session.to_bytes())
    return profiles

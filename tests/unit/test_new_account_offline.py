"""The new_account detector offline gives the job's scores: the same seconds since signup from the same
keyed-state code, the same tables."""

import math

import numpy as np

from shopguard.config import JobSettings
from shopguard.training.detectors.new_account import NewAccountDetector, seconds_since_signup
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.udfs.admission import admit_event
from shopguard.udfs.events import Event
from shopguard.udfs.new_account import tables_for
from shopguard.udfs.user_state import UserState

T0 = 1_511_658_000_000


def traffic():
    events = [Event("s1", "u1", "signup", T0, device_id="d"), Event("p1", "u1", "purchase", T0 + 30_000, price=5.0)]
    events += [Event("v2", "u2", "page_view", T0), Event("p2", "u2", "purchase", T0 + 90_000, price=5.0)]
    events += [Event("s3", "u3", "signup", T0), Event("p3", "u3", "purchase", T0 + 40 * 86_400_000, price=5.0)]
    return events


def test_seconds_since_signup_are_the_keyed_step_s():
    events = traffic()
    expected = []
    for user in ("u1", "u2", "u3"):
        state = UserState()
        for event in (e for e in events if e.user_id == user):
            admit_event(state, event, JobSettings())
            expected.append(state.seconds_since_signup(event.ts_ms))
    assert np.allclose(seconds_since_signup(events), expected, equal_nan=True)
    assert seconds_since_signup(events)[1] == 30.0 and math.isnan(seconds_since_signup(events)[3])


def test_offline_scores_are_the_serving_tables_and_encoded_traffic_gives_the_time_part():
    events = traffic()
    detector = NewAccountDetector()
    scores = detector.score_events(events, device_new_accounts=[np.nan] * 6)
    assert np.allclose(
        scores, tables_for(None).score([e.event_type for e in events], seconds_since_signup(events), [np.nan] * 6)
    )
    assert scores[1] > 0.8 and scores[3] == 0.0 and scores[5] < scores[1]
    encoded = encode_traffic(LabelledTraffic(events, []), 8)
    by_id = dict(zip(encoded.event_ids, detector.score(encoded)))
    assert [round(by_id[e.event_id], 9) for e in events] == [round(s, 9) for s in scores]


def test_offline_the_device_figure_comes_from_the_entity_steps_own_code():
    ring = [Event(f"s{n}", f"r{n}", "signup", T0 + 1_000 * n, device_id="ring") for n in range(4)]
    ring += [Event(f"p{n}", f"r{n}", "purchase", T0 + 1_000 * n + 500, price=5.0, device_id="ring") for n in range(4)]
    ring.sort(key=lambda e: e.ts_ms)
    scores = dict(zip((e.event_id for e in ring), NewAccountDetector().score_events(ring)))
    assert scores["p3"] > scores["p0"] > 0.8  # the fourth account's device had three other new accounts

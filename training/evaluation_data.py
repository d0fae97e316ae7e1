"""The labelled data every detector is trained and judged on, built the same way each time.

Normal shoppers are simulated, calibrated on the real Taobao slice, their first events spread over
``training.span_days`` so that a time split is meaningful; a share of them is abused by the injectors.
Two more test sets come from *real* traffic: the Taobao users themselves (how many real shoppers a
detector would flag) and the Taobao users with abuse injected into their real timelines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shopguard.config import ShopguardConfig
from shopguard.training.behaviour_stats import measure_behaviour
from shopguard.training.datasets import read_taobao
from shopguard.training.encoded_traffic import EncodedTraffic, encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic, mix_in_anomalies
from shopguard.training.simulator import ShopperSimulator
from shopguard.training.splits import split_by_time
from shopguard.udfs.events import Event

DAY_MS = 86_400_000


@dataclass
class EvaluationData:
    """Encoded train/validation/test splits of simulated traffic, and the real-traffic test sets."""

    train: EncodedTraffic
    validation: EncodedTraffic
    test: EncodedTraffic
    real_normal: EncodedTraffic
    real_injected: EncodedTraffic
    fingerprint: str  # what the data was built from, for the model card
    test_events: list[Event] = field(default_factory=list)  # the test split's raw events (to replay through the job)


def real_events(cfg: ShopguardConfig) -> list[Event]:
    """The Taobao slice's events with a plausible time (the corrupt ``ts=15`` row is left out)."""
    events, _ = read_taobao(cfg.data.taobao_csv)
    return [e for e in events if e.ts_ms >= cfg.validation.min_event_time_ms]


def build_evaluation_data(cfg: ShopguardConfig, progress=print) -> EvaluationData:
    """Simulate, inject, split by time and encode with the job's encoder."""
    t, length = cfg.training, cfg.job.history_length
    real = real_events(cfg)
    progress(f"simulating {t.simulated_users:,} shoppers calibrated on {len(real):,} real events")
    start = min(e.ts_ms for e in real)
    simulated = ShopperSimulator(measure_behaviour(real)).simulate(
        t.simulated_users, start, int(t.span_days * DAY_MS), t.seed
    )
    traffic = mix_in_anomalies(simulated, t.abused_share, t.seed, t.subtle_share)
    parts = split_by_time(traffic, t.train_share, t.validation_share)
    progress("injecting abuse into real Taobao timelines and encoding every event")
    real_traffic = LabelledTraffic(real, [])
    real_injected = mix_in_anomalies(real, t.abused_share, t.seed + 1, t.subtle_share)
    fingerprint = (
        f"simulated users={t.simulated_users} span_days={t.span_days} abused_share={t.abused_share} "
        f"subtle_share={t.subtle_share} seed={t.seed}; calibrated on {cfg.data.taobao_csv} "
        f"({len(real)} events)"
    )
    return EvaluationData(
        train=encode_traffic(parts["train"], length),
        validation=encode_traffic(parts["validation"], length),
        test=encode_traffic(parts["test"], length),
        real_normal=encode_traffic(real_traffic, length),
        real_injected=encode_traffic(real_injected, length),
        fingerprint=fingerprint,
        test_events=list(parts["test"].events),
    )

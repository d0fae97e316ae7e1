"""job.debug_throttle_us: a test-only sleep before each record the keyed step reads, none when 0."""

import dataclasses

import pytest

from shopguard.config import ConfigError, ShopguardConfig
from shopguard.udfs import user_history
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.user_history import TrackUserHistory
from tests.unit.flink_fakes import Runtime

CFG = ShopguardConfig()
T0 = 1_511_658_000_000


def _naps_over_three_records(tmp_path, monkeypatch, throttle_us: int) -> list[float]:
    naps: list[float] = []
    monkeypatch.setattr(user_history.time, "sleep", naps.append)
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path)))
    history = TrackUserHistory(
        dataclasses.replace(CFG.job, debug_throttle_us=throttle_us),
        CFG.validation,
        IdentifierHashing.from_settings(CFG.privacy, {}),
        CFG.patterns,
        source,
    )
    history.open(Runtime())
    try:
        for i in range(3):
            list(history.process_element(Event(f"e{i}", "u-1", "page_view", T0 + 1000 * i).to_json().encode(), None))
    finally:
        history.close()
    return naps


def test_the_keyed_step_sleeps_the_set_time_before_each_record(tmp_path, monkeypatch):
    assert _naps_over_three_records(tmp_path, monkeypatch, 2000) == [0.002] * 3


def test_by_default_the_keyed_step_never_sleeps(tmp_path, monkeypatch):
    assert CFG.job.debug_throttle_us == 0
    assert _naps_over_three_records(tmp_path, monkeypatch, 0) == []


def test_a_negative_throttle_is_refused_where_the_job_is_built():
    with pytest.raises(ConfigError, match="job.debug_throttle_us = -1"):
        user_history.throttle_seconds(-1)

"""Checks every Flink function of the job must pass: PyFlink pickles them to ship them to workers."""

import cloudpickle
import pytest

from shopguard.bench.pipeline_floor import ConstantScore, KeepRecentCodes
from shopguard.config import ShopguardConfig
from shopguard.udfs.alert_decision import DecideAlert
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.scoring import ScoreHistories
from shopguard.udfs.user_history import TrackUserHistory

CFG = ShopguardConfig()
HASHING = IdentifierHashing.from_settings(CFG.privacy, {"SHOPGUARD_ID_SALT": "test-salt"})
FUNCTIONS = {
    "history": lambda: TrackUserHistory(
        CFG.job, CFG.validation, HASHING, CFG.patterns, ModelSource.from_config(CFG, "/models/placeholder-1")
    ),
    "score": lambda: ScoreHistories(
        ModelSource.from_config(CFG, "/models/placeholder-1"),
        CFG.job.history_length,
        CFG.job.onnx_threads,
        CFG.job.model_poll_interval_s,
    ),
    "decide": lambda: DecideAlert(CFG.job, ModelSource.from_config(CFG, "/models/placeholder-1")),
    "floor: keep recent codes": lambda: KeepRecentCodes(CFG.job.history_length),
    "floor: constant score": ConstantScore,
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_function_survives_pickling_with_its_settings(name):
    function = FUNCTIONS[name]()
    copy = cloudpickle.loads(cloudpickle.dumps(function))
    assert type(copy) is type(function)
    assert vars(copy) == vars(function)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_building_the_function_leaves_the_configuration_untouched(name):
    before = ShopguardConfig()
    FUNCTIONS[name]()
    assert CFG == before

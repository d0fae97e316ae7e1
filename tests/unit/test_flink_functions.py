"""Checks every Flink function of the job must pass: PyFlink pickles them to ship them to workers."""

import cloudpickle
import pytest

from shopguard.config import ShopguardConfig
from shopguard.udfs.alerts import FormatAlert
from shopguard.udfs.parse_events import ParseEvents
from shopguard.udfs.scoring import ModelCard, ScoreHistories
from shopguard.udfs.user_history import TrackUserHistory

CFG = ShopguardConfig()
FUNCTIONS = {
    "parse": lambda: ParseEvents(CFG.validation),
    "history": lambda: TrackUserHistory(CFG.job),
    "score": lambda: ScoreHistories("/models/placeholder-1", CFG.job.history_length, CFG.job.onnx_threads),
    "alert": lambda: FormatAlert(ModelCard("m1", "event-codes-v1", 0.9)),
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

"""The detection graph as Flink plans it: where rows cross from Java into Python.

In thread mode every Python step is a crossing of the whole row into the one interpreter and back. A Python
step chained to another Python step shares its crossing, but one after a Java step (the Table conversion
after scoring) is a crossing of its own. The graph is built on the real PyFlink (its Java gateway) and read
from Flink's execution plan; nothing runs.
"""

import dataclasses
import json

import pytest
from pyflink.common import Types

from shopguard.config import ShopguardConfig
from shopguard.jobs.detect_job import build_detection_graph, model_source
from shopguard.jobs.flink_environment import create_environments
from shopguard.udfs.identifier_hashing import IdentifierHashing

pytestmark = pytest.mark.integration

PYTHON_KEY_SELECTOR = "_stream_key_by_map_operator"  # the step PyFlink's DataStream.key_by adds


@pytest.fixture(scope="module")
def plan() -> dict[int, dict]:
    cfg = ShopguardConfig()
    cfg = dataclasses.replace(cfg, job=dataclasses.replace(cfg.job, parallelism=1, prometheus_ports=""))
    env, t_env = create_environments(cfg)
    raw = env.from_collection(["{}"], type_info=Types.STRING())
    build_detection_graph(raw, t_env, cfg, model_source(cfg), IdentifierHashing.from_settings(cfg.privacy, {}))
    return {node["id"]: node for node in json.loads(env.get_execution_plan())["nodes"]}


def _predecessors(plan: dict[int, dict], node: dict) -> list[dict]:
    return [plan[edge["id"]] for edge in node.get("predecessors", [])]


def test_the_crossings_reach_the_decision_keyed_in_java_with_no_python_step_before_it(plan):
    decisions = [node for node in plan.values() if node["contents"].startswith("decide alert")]
    assert len(decisions) == 1
    before = _predecessors(plan, decisions[0])
    assert before and all(PYTHON_KEY_SELECTOR not in node["contents"] for node in before), before


def test_every_python_key_selector_follows_a_python_step_so_it_adds_no_crossing(plan):
    python_steps = ("track ", "watch ", "decide ", "Map", PYTHON_KEY_SELECTOR)
    for node in plan.values():
        if PYTHON_KEY_SELECTOR in node["contents"]:
            for before in _predecessors(plan, node):
                assert before["contents"].startswith(python_steps), (node["contents"], before["contents"])


def test_the_entity_steps_read_the_user_steps_rows_in_java_and_only_ring_candidates_reach_python(plan):
    devices = [node for node in plan.values() if node["contents"].startswith("track devices")]
    assert len(devices) == 1  # entities.engine = "java" by default: keyed in Java, no Python key selector
    assert [node["contents"] for node in _predecessors(plan, devices[0])] == ["track user history"]
    for entity_type in ("device", "ip"):
        raising = [node for node in plan.values() if node["contents"] == f"raise {entity_type} ring alerts"]
        assert len(raising) == 1
        assert [node["contents"] for node in _predecessors(plan, raising[0])] == [f"key {entity_type} ring candidates"]

"""The one typed configuration: file, overrides, and errors that name the setting."""

import ast
import dataclasses
import io
import pickle
import tokenize
import tomllib
from pathlib import Path

import pytest

from shopguard import config
from shopguard.config import (
    SEQUENCE_LENGTH_LIMIT,
    THINNING_GAPS_LIMIT,
    ConfigError,
    ShopguardConfig,
    from_dict,
    load_config,
    to_dict,
    to_toml,
)
from shopguard.udfs.behaviour_tokens import MAX_SEQUENCE_LENGTH
from shopguard.udfs.churn_state import RECENT_GAPS
from shopguard.udfs.encoding import VISIT_GAP_MS


def test_defaults_name_the_canonical_topics():
    cfg = ShopguardConfig()
    assert (cfg.topics.events, cfg.topics.alerts, cfg.topics.dead_letters) == (
        "user-events",
        "behavior-alerts",
        "user-events-dlq",
    )


def test_a_file_and_overrides_are_applied_in_that_order(tmp_path):
    path = tmp_path / "shopguard.toml"
    path.write_text(
        '[kafka]\nbootstrap_servers = "k1:9092"\n[kafka.client_properties]\n'
        '"security.protocol" = "SASL_SSL"\n[job]\nparallelism = 4\n'
    )
    cfg = load_config(path, ["job.parallelism=2", "demo.speedup=10"])
    assert cfg.kafka.bootstrap_servers == "k1:9092"
    assert cfg.kafka.client_properties == {"security.protocol": "SASL_SSL"}
    assert cfg.job.parallelism == 2 and cfg.demo.speedup == 10.0


def test_the_configuration_pickles_because_flink_ships_it_to_workers():
    cfg = load_config(None, ['kafka.client_properties={"sasl.mechanism"="PLAIN"}'])
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert to_dict(pickle.loads(pickle.dumps(cfg))) == to_dict(cfg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("job.paralelism=2", "unknown setting 'job.paralelism'"),
        ("job.parallelism=two", "'job.parallelism' must be int"),
        ("job=3", "'job' is a section"),
        ("parallelism", "expected section.key=value"),
    ],
)
def test_a_bad_override_names_the_setting(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_a_bad_file_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[job\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    path.write_text("[job]\nthreads = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'job.threads'"):
        load_config(path)


def test_the_example_file_holds_every_default(tmp_path):
    example = Path(__file__).resolve().parents[2] / "shopguard.example.toml"
    assert load_config(example) == ShopguardConfig()


def test_the_example_file_names_every_setting():
    """Every setting with its comment, as the README promises; cache_dir only in a comment (its default is per user)."""
    example = tomllib.loads((Path(__file__).resolve().parents[2] / "shopguard.example.toml").read_text())
    missing = [
        f"{section}.{key}"
        for section, values in to_dict(ShopguardConfig()).items()
        if isinstance(values, dict)
        for key in values
        if key not in example.get(section, {})
    ]
    assert missing == [], f"shopguard.example.toml: add {', '.join(missing)}, each with its comment"


def test_toml_output_reads_back_unchanged():
    cfg = load_config(
        None,
        [
            'kafka.client_properties={"sasl.jaas.config"="x required username=\\"a\\";"}',
            "job.python_execution_mode=process",
        ],
    )
    path_text = to_toml(cfg)
    assert from_dict(tomllib.loads(path_text)) == cfg


def test_the_default_session_gap_is_the_visit_gap_the_behaviour_tokens_are_built_on():
    assert ShopguardConfig().job.session_gap_ms == VISIT_GAP_MS


@pytest.mark.parametrize(
    "setting, value, choices",
    [
        ("job.state_backend", "rockdb", "'hashmap', 'rocksdb'"),
        ("job.restart_strategy", "failure-rate", "'fixed-delay', 'exponential-delay', 'cluster'"),
        ("job.delivery_guarantee", "exactly_once", "'exactly-once', 'at-least-once'"),
        ("job.python_execution_mode", "threads", "'thread', 'process'"),
        ("kafka.starting_offsets", "newest", "'committed-or-earliest', 'earliest', 'latest'"),
        ("entities.engine", "jvm", "'java', 'python'"),
    ],
)
def test_a_choice_outside_its_list_is_refused_when_the_file_is_loaded(tmp_path, setting, value, choices):
    path = _file_setting(tmp_path, setting, f'"{value}"')
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == f"{path}: {setting}: {value!r} is not one of {choices}"


def test_every_refusal_of_a_configuration_is_a_shopguard_error(tmp_path, capsys):
    from shopguard.cli import main

    path = tmp_path / "shopguard.toml"
    path.write_text('[job]\nstate_backend = "rockdb"\n')
    assert main(["config", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"shopguard: {path}: job.state_backend: 'rockdb' is not one of 'hashmap', 'rocksdb'\n"
    )


def test_the_job_module_refuses_a_bad_setting_in_one_line(capsys):
    from shopguard.jobs.detect_job import main

    assert main(["--set", "job.state_backend=rockdb"]) == 2
    assert capsys.readouterr().err == (
        "shopguard: --set: job.state_backend: 'rockdb' is not one of 'hashmap', 'rocksdb'\n"
    )


@pytest.mark.parametrize(
    "setting, value, advice",
    [
        ("job.parallelism", 0, "use 1 or more (useful up to topics.partitions)"),
        (
            "job.alert_hold_ms",
            -5,
            "use 0 (decide at once), more milliseconds, or -1 (at the end of the input, for replays)",
        ),
        ("job.restart_backoff_jitter", 1.5, "use a share between 0 and 1"),
        ("topics.partitions", 0, "use 1 or more"),
        ("training.target_alert_rate", 0.0, "use a share above 0 and below 1"),
        (
            "training.validation_share",
            0.5,
            "use a share above 0 that leaves a test split: training.train_share (0.6) + "
            "training.validation_share must stay below 1",
        ),
        (
            "patterns.max_length",
            6,
            "use patterns.min_length (1) <= patterns.max_length <= 5, and patterns.min_length at least 1",
        ),
        ("entities.ring_min_share", 2.0, "use a share between 0 and 1"),
        ("entities.ring_min_accounts_device", 1, "use 2 or more: a ring is several accounts"),
        ("validation.max_event_bytes", 0, "use 1 or more bytes"),
        ("churn.thinning_gaps", 4, "use 1 to 3 gaps (the churn record keeps the 3 latest)"),
    ],
)
def test_a_value_out_of_range_is_refused_when_the_file_is_loaded(tmp_path, setting, value, advice):
    path = _file_setting(tmp_path, setting, repr(value))
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == f"{path}: {setting} = {value!r}: {advice}"


def _file_setting(tmp_path, setting: str, literal: str):
    """A configuration file that sets ``setting`` (section.key) to the TOML ``literal``."""
    section, key = setting.split(".")
    path = tmp_path / "shopguard.toml"
    path.write_text(f"[{section}]\n{key} = {literal}\n")
    return path


def test_an_override_out_of_range_names_the_override():
    with pytest.raises(ConfigError, match=r"^--set: job.parallelism = 0: use 1 or more"):
        load_config(None, ["job.parallelism=0"])


def test_the_limits_are_the_ones_the_serving_code_holds():
    assert SEQUENCE_LENGTH_LIMIT == MAX_SEQUENCE_LENGTH
    assert THINNING_GAPS_LIMIT == RECENT_GAPS


def test_every_setting_has_a_comment_in_the_dataclass():
    """nanoGPT style: each field says what it means and its trade-off, on its own lines or in a comment line above."""
    source = Path(config.__file__).read_text()
    comments = [
        token for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT
    ]
    trailing = {token.start[0] for token in comments}
    above = {token.start[0] + 1 for token in comments if token.line.lstrip().startswith("#")}
    sections = {cls.__name__ for cls in vars(config).values() if dataclasses.is_dataclass(cls)}
    bare = [
        f"{node.name}.{field.target.id} (shopguard/config.py:{field.lineno})"
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name in sections
        for field in node.body
        if isinstance(field, ast.AnnAssign) and ast.unparse(field.annotation) not in sections
        if field.lineno not in above and not trailing & set(range(field.lineno, field.end_lineno + 1))
    ]
    assert bare == [], f"add a comment (meaning, trade-off) to: {', '.join(bare)}"


def test_an_unknown_override_lists_the_names_known_where_it_points():
    with pytest.raises(ConfigError, match=r"'jobs.parallelism'; known here: broker, cache_dir, churn, cluster, "):
        load_config(None, ["jobs.parallelism=2"])
    with pytest.raises(ConfigError, match=r"'job.paralelism'; known here: alert_cooldown_ms, .*, parallelism, "):
        load_config(None, ["job.paralelism=2"])

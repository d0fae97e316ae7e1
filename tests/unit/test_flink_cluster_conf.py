"""The session cluster's configuration and command line, without starting Flink (tests/integration runs it)."""

import zipfile
from pathlib import Path

import pyflink
import pytest

from shopguard.cli import main
from shopguard.config import load_config
from shopguard.local.flink_cluster import ClusterError, FlinkSessionCluster, flink_conf, job_entry_script


def test_every_daemon_binds_and_advertises_loopback_on_the_configured_ports(tmp_path):
    cfg = load_config(
        None, ["cluster.rest_port=18081", "cluster.jobmanager_rpc_port=16123", "cluster.taskmanager_slots=3"]
    )
    conf = flink_conf(cfg, tmp_path, {"rest.address": "localhost", "env.java.opts.all": "--add-opens=x"})
    for key in (
        "jobmanager.rpc.address",
        "jobmanager.bind-host",
        "taskmanager.host",
        "taskmanager.bind-host",
        "rest.address",
        "rest.bind-address",
    ):
        assert conf[key] == "127.0.0.1", key
    assert (conf["rest.port"], conf["jobmanager.rpc.port"], conf["taskmanager.numberOfTaskSlots"]) == (18081, 16123, 3)
    assert conf["env.java.opts.all"] == "--add-opens=x"  # the wheel's defaults stay underneath
    assert conf["io.tmp.dirs"] == str(tmp_path / "tmp")


def test_the_prometheus_reporter_is_configured_unless_its_ports_are_empty(tmp_path):
    with_reporter = flink_conf(load_config(None, ["cluster.prometheus_ports=9300-9301"]), tmp_path, {})
    assert with_reporter["metrics.reporter.prom.port"] == "9300-9301"
    without = flink_conf(load_config(None, ['cluster.prometheus_ports=""']), tmp_path, {})
    assert not [key for key in without if key.startswith("metrics.reporter.")]


def test_status_of_a_cluster_that_never_ran_says_so_with_exit_code_3(tmp_path, capsys):
    code = main(["cluster", "status", "--set", f"cluster.data_dir={tmp_path}", "--set", "cluster.rest_port=1"])
    assert code == 3
    assert "Flink session cluster not running" in capsys.readouterr().out


def test_submitting_without_a_cluster_says_how_to_start_one(tmp_path):
    cfg = load_config(None, [f"cluster.data_dir={tmp_path}", "cluster.rest_port=1"])
    with pytest.raises(ClusterError, match="start one with 'shopguard cluster start'"):
        FlinkSessionCluster(cfg).submit()


def test_heartbeats_default_to_2_s_and_10_s_so_a_lost_taskmanager_is_noticed_soon(tmp_path):
    conf = flink_conf(load_config(None), tmp_path, {"heartbeat.timeout": 50000})
    assert (conf["heartbeat.interval"], conf["heartbeat.timeout"]) == ("2000 ms", "10000 ms")
    tuned = flink_conf(
        load_config(None, ["cluster.heartbeat_interval_ms=1000", "cluster.heartbeat_timeout_ms=4000"]), tmp_path, {}
    )
    assert (tuned["heartbeat.interval"], tuned["heartbeat.timeout"]) == ("1000 ms", "4000 ms")
    (dist,) = (Path(pyflink.__file__).parent / "lib").glob("flink-dist-*.jar")
    with zipfile.ZipFile(dist) as jar:  # the keys are Flink's own option names
        options = jar.read("org/apache/flink/configuration/HeartbeatManagerOptions.class")
    assert b"heartbeat.interval" in options and b"heartbeat.timeout" in options


def test_a_heartbeat_timeout_shorter_than_the_interval_is_named(tmp_path):
    cfg = load_config(None, ["cluster.heartbeat_interval_ms=5000", "cluster.heartbeat_timeout_ms=1000"])
    with pytest.raises(
        ClusterError, match="cluster.heartbeat_interval_ms = 5000 .* cluster.heartbeat_timeout_ms = 1000"
    ):
        flink_conf(cfg, tmp_path, {})


def test_each_taskmanager_gets_a_line_in_workers_so_start_cluster_starts_them_all(tmp_path):
    cfg = load_config(None, [f"cluster.data_dir={tmp_path}", "cluster.taskmanagers=3"])
    cluster = FlinkSessionCluster(cfg)
    home = tmp_path / "home"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "config.yaml").write_text("taskmanager:\n  numberOfTaskSlots: 8\n")
    cluster._write_conf(home)
    assert (cluster.conf_dir / "workers").read_text().splitlines() == ["127.0.0.1"] * 3
    assert "numberOfTaskSlots: 1" in (cluster.conf_dir / "config.yaml").read_text()


@pytest.mark.parametrize("setting", ["cluster.taskmanagers=0", "cluster.taskmanager_slots=0"])
def test_a_cluster_without_a_slot_is_refused_with_the_setting(tmp_path, setting):
    with pytest.raises(ClusterError, match=setting.split("=")[0]):
        flink_conf(load_config(None, [setting]), tmp_path, {})


def test_the_benchmark_s_pipeline_floor_is_submitted_from_its_installed_file():
    assert Path(job_entry_script("shopguard.bench.pipeline_floor_job")).name == "pipeline_floor_job.py"
    assert Path(job_entry_script()).name == "detect_job.py"


def test_a_job_module_that_is_not_installed_is_named():
    with pytest.raises(ClusterError, match="shopguard.jobs.no_such_job is not importable"):
        job_entry_script("shopguard.jobs.no_such_job")


def _cluster_starting_a_taskmanager(tmp_path, monkeypatch, pid: int, runs_after: int):
    """A cluster whose taskmanager.sh writes ``pid`` to the pid file; ``pid`` reads as a TaskManager from the
    ``runs_after``-th look on (before that, as a process in its exec), and its slots register with it."""
    import shopguard.local.flink_cluster as flink_cluster

    cfg = load_config(None, [f"cluster.data_dir={tmp_path}", "cluster.start_timeout_s=10"])
    cluster = FlinkSessionCluster(cfg)
    cluster.pid_dir.mkdir(parents=True)
    pid_file = cluster.pid_dir / f"flink-{flink_cluster.IDENT}-taskexecutor.pid"
    looks = []

    def runs(candidate, main_class):
        looks.append(candidate)
        return candidate == pid and len(looks) >= runs_after

    def rest(method, path):
        slots = cfg.cluster.taskmanager_slots
        return {"taskmanagers": [{"id": "new", "slotsNumber": slots}]} if len(looks) >= runs_after else {}

    monkeypatch.setattr(flink_cluster, "_runs", runs)
    monkeypatch.setattr(cluster, "_rest", rest)
    monkeypatch.setattr(cluster, "_flink_home", lambda: tmp_path)
    monkeypatch.setattr(cluster, "_run_script", lambda *a, **k: pid_file.write_text(f"{pid}\n"))
    monkeypatch.setattr(cluster, "_log_tail", lambda daemon: "(log)")
    return cluster


def test_a_new_taskmanager_still_in_its_exec_is_waited_for_not_called_exited(tmp_path, monkeypatch):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        cluster = _cluster_starting_a_taskmanager(tmp_path, monkeypatch, child.pid, runs_after=3)
        assert cluster.start_taskmanager() == child.pid
    finally:
        child.kill()
        child.wait()


def test_a_new_taskmanager_whose_process_is_gone_is_named_as_exited(tmp_path, monkeypatch):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    cluster = _cluster_starting_a_taskmanager(tmp_path, monkeypatch, child.pid, runs_after=10**6)
    with pytest.raises(ClusterError, match="exited while starting"):
        cluster.start_taskmanager()

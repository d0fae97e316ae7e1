"""Local job tooling: the ports handed to a job's metrics reporters."""

from shopguard.local.job_process import free_port_range


def test_reporter_ports_stay_below_the_ephemeral_range_so_a_scrape_cannot_connect_to_itself():
    for _ in range(20):
        low, high = free_port_range(4)
        assert high - low == 3 and high < 32768


def test_a_private_job_checkpoints_beside_its_registry_not_in_the_user_s_cache(tmp_path):
    from shopguard.config import load_config
    from shopguard.local.job_process import isolated_job_config

    cfg, _ = isolated_job_config(load_config(None, [f"cache_dir={tmp_path / 'cache'}"]), "t", tmp_path / "registry0")
    assert cfg.job.checkpoint_dir == str(tmp_path / "registry0-checkpoints")
    named = load_config(None, [f"job.checkpoint_dir={tmp_path / 'shared'}"])
    assert isolated_job_config(named, "t", tmp_path / "registry1")[0].job.checkpoint_dir == str(tmp_path / "shared")
    assert isolated_job_config(named, "t", tmp_path / "r", checkpoint_dir="x")[0].job.checkpoint_dir == "x"

"""Local job tooling: the ports handed to a job's metrics reporters."""

from shopguard.local.job_process import free_port_range


def test_reporter_ports_stay_below_the_ephemeral_range_so_a_scrape_cannot_connect_to_itself():
    for _ in range(20):
        low, high = free_port_range(4)
        assert high - low == 3 and high < 32768

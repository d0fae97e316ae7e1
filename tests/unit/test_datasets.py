"""Loading the real Taobao slice: mapped to canonical events, bad rows reported with their line."""

from pathlib import Path

import pytest

from shopguard.errors import ShopguardError
from shopguard.training.datasets import read_taobao

TAOBAO = Path(__file__).resolve().parents[2] / "../shared/data/taobao_user_behavior_slice.csv"


def test_behaviours_map_to_canonical_event_types(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,10,100,pv,1511658000\n1,10,100,cart,1511658001\n1,10,100,fav,1511658002\n"
                    "1,10,100,buy,1511658003\n1,10,100,dance,1511658004\n")
    events, bad = read_taobao(path)
    assert [e.event_type for e in events] == ["page_view", "add_to_cart", "favorite", "purchase"]
    assert [(b.line, b.problem) for b in bad] == [(5, "unknown behavior 'dance' (expected pv, cart, fav or buy)")]
    assert str(bad[0]).startswith(f"{path}:5: ")


def test_a_missing_file_is_named_with_what_to_do(tmp_path):
    with pytest.raises(ShopguardError, match="missing.csv: Taobao data file not found"):
        read_taobao(tmp_path / "missing.csv")


@pytest.mark.skipif(not TAOBAO.is_file(), reason="../shared/data is not beside this checkout")
def test_the_real_slice_loads_whole_and_keeps_its_corrupt_timestamp_row():
    events, bad = read_taobao(TAOBAO)
    assert len(events) + len(bad) == 96_169 and bad == []
    assert [e.ts_ms for e in events if e.ts_ms < 10**12] == [15_000]
    assert len({e.user_id for e in events}) == 58_732

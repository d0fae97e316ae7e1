"""Loading the real Taobao slice: mapped to canonical events, bad rows reported with their line."""

from pathlib import Path

import pytest

from shopguard.errors import ShopguardError
from shopguard.training.datasets import (
    ShopperSession,
    read_diginetica,
    read_fraud_data,
    read_online_shoppers,
    read_talkingdata,
    read_taobao,
)

TAOBAO = Path(__file__).resolve().parents[2] / "../shared/data/taobao_user_behavior_slice.csv"


def test_behaviours_map_to_canonical_event_types(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "1,10,100,pv,1511658000\n1,10,100,cart,1511658001\n1,10,100,fav,1511658002\n"
        "1,10,100,buy,1511658003\n1,10,100,dance,1511658004\n"
    )
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


DATA = TAOBAO.parent


def real(name):
    path = DATA / name
    if not path.is_file():
        pytest.skip("../shared/data is not beside this checkout")
    return path


def test_fraud_data_gives_a_signup_and_a_purchase_per_row_and_reports_the_cut_off_row(tmp_path):
    path = tmp_path / "fraud.csv"
    path.write_text(
        "user_id,signup_time,purchase_time,purchase_value,device_id,source,browser,sex,age,class\n"
        "7,2/24/15 22:55,4/18/15 2:47,34,DEV,SEO,Chrome,M,39,1\n"
        "8,2/24/15 22:55,13/40/15 2:47,34,DEV,SEO,Chrome,M,39,0\n"
        "9,1/25/15 22:53,5/21/15 16:44,30,DEV,Ads,FireFox,M,32,\n"
    )
    events, labels, bad = read_fraud_data(path)
    assert [(e.event_type, e.ts_ms, e.price, e.device_id, e.channel, e.user_agent) for e in events] == [
        ("signup", 1424818500000, None, "DEV", "SEO", "Chrome"),
        ("purchase", 1429325220000, 34.0, "DEV", "SEO", "Chrome"),
    ]
    assert labels == {"7": 1}
    assert [(b.line, b.problem) for b in bad] == [
        (3, "time '13/40/15 2:47' is not m/d/yy H:MM"),
        (4, "class is '', expected 0 or 1 (a cut-off row?)"),
    ]


def test_talkingdata_repairs_the_mangled_header_and_labels_each_click(tmp_path):
    path = tmp_path / "td.csv"
    path.write_text(
        "..ip,app,device,os,channel,click_time,attributed_time,is_attributed\n"
        "87540,12,1,13,497,2017-11-07 09:30:38,,0\n1,2,3,4,5,yesterday,,0\n1,2,3\n"
    )
    events, labels, bad = read_talkingdata(path)
    assert [(e.user_id, e.item_id, e.device_id, e.channel, e.ts_ms) for e in events] == [
        ("ip-87540", "app-12", "1-13", "497", 1510047038000)
    ]
    assert labels == {events[0].event_id: 0}
    assert [b.line for b in bad] == [3, 4] and bad[1].problem == "expected 8 fields, found 3"


def test_diginetica_views_become_events_of_the_user_or_of_the_anonymous_session(tmp_path):
    path = tmp_path / "dg.csv"
    path.write_text(
        "session_id;user_id;item_id;timeframe;eventdate\n1;NA;81766;526309;2016-05-09\n"
        "2;u5;31331;1000;2016-05-09\n3;NA;1;-5;2016-05-09\n"
    )
    events, bad = read_diginetica(path)
    assert [(e.user_id, e.session_id, e.item_id, e.ts_ms) for e in events] == [
        ("session-1", "1", "81766", 1462752000000 + 526309),
        ("u5", "2", "31331", 1462752000000 + 1000),
    ]
    assert [(b.line, b.problem) for b in bad] == [(4, "timeframe '-5' is not a whole number >= 0")]


def test_online_shopper_sessions_keep_their_purchase_label_and_reject_nan(tmp_path):
    header = (
        "AcctPagesViewed,AcctPageTime,InfoPagesViewed,InfoPageTime,ProductPagesViewed,ProductPageTime,"
        "AvgBounceRate,AvgExitRate,AvgPageValue,ProximityToSpecialDay,VisitMonth,UserOS,UserBrowser,"
        "UserRegion,SourceChannel,UserCategory,IsWeekendVisit,MadePurchase\n"
    )
    path = tmp_path / "os.csv"
    path.write_text(
        header + "0,0,0,0,3,64.5,0.2,0.2,0,0,Feb,1,1,1,1,Returning_Visitor,FALSE,TRUE\n"
        "0,0,0,0,3,nan,0.2,0.2,0,0,Feb,1,1,1,1,Returning_Visitor,FALSE,TRUE\n"
    )
    sessions, bad = read_online_shoppers(path)
    assert sessions == [ShopperSession(3, 64.5, 0.2, 0.2, 0.0, False, "Returning_Visitor", True)]
    assert [(b.line, b.problem) for b in bad] == [(3, "ProductPageTime is 'nan', not a finite number")]


@pytest.mark.parametrize("loader", [read_fraud_data, read_talkingdata, read_diginetica, read_online_shoppers])
def test_an_empty_file_or_a_missing_column_is_named(loader, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ShopguardError, match="empty.csv: the file is empty"):
        loader(empty)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a;b,c\n1,2\n")
    with pytest.raises(ShopguardError, match=r"wrong.csv:1: the header lacks column"):
        loader(wrong)


def test_the_real_fraud_subset_holds_51689_purchases_and_its_cut_off_row():
    events, labels, bad = read_fraud_data(real("fraud_data_subset.csv"))
    assert len(labels) == 51_689 and len(events) == 2 * 51_689
    assert round(sum(labels.values()) / len(labels), 4) == 0.0935
    assert len(bad) == 1 and "cut-off" in bad[0].problem


def test_the_real_talkingdata_sample_holds_100000_clicks_227_attributed():
    events, labels, bad = read_talkingdata(real("talkingdata_clicks_sample.csv"))
    assert len(events) == 100_000 and sum(labels.values()) == 227 and bad == []


def test_the_real_diginetica_sample_holds_12391_views_in_2986_sessions():
    events, bad = read_diginetica(real("diginetica_item_views_sample.csv"))
    assert len(events) == 12_391 and len({e.session_id for e in events}) == 2_986 and bad == []


def test_the_real_online_shoppers_file_holds_12330_sessions():
    sessions, bad = read_online_shoppers(real("online_shoppers_intention.csv"))
    assert len(sessions) == 12_330 and bad == []

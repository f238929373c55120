"""The parcel page: events with both times, rule and facts, money, actor; as-recorded-at
replay; the hash-chain badge, also on a tampered store; search by each field."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from flask.testing import FlaskClient

from tests.web.conftest import Seeded, signed_in

RECORDED = re.compile(r'<time class="recorded" datetime="([^"]+)"')


@pytest.fixture(scope="module")
def auditor(seeded: Seeded) -> FlaskClient:
    return signed_in(seeded.app, seeded.keys["auditor"])


def test_timeline_shows_both_times_rule_facts_money_and_actor(seeded: Seeded,
        auditor: FlaskClient) -> None:
    page = auditor.get(f"/web/parcels/{seeded.parcels['amazon']}").get_data(True)
    assert page.count('class="event') == 10
    refund = page[page.index('id="v8"'):page.index('id="v9"')]
    assert "RefundRequested" in refund
    assert '<time datetime="2026-03-12T09:00:00+00:00">2026-03-12 09:00:00 UTC</time>' in refund
    assert RECORDED.search(refund)  # the ledger's own recording time beside the business time
    assert '<span class="rule">AM-4</span>' in refund  # AM-4: above the threshold
    assert "<dt>threshold</dt><dd>500</dd>" in refund
    assert '<dd class="money">906.50 EUR</dd>' in refund
    assert "item 899.00 EUR; return shipping 7.50 EUR" in refund
    assert '<dd class="actor">clerk</dd>' in refund
    assert '<dd class="actor">finance-lead</dd>' in page  # the second person (AM-4)
    assert 'id="chain-badge"' in page and "Chain OK: 10 stored events verified" in page


def test_as_recorded_at_replays_events_and_state_known_then(seeded: Seeded,
        auditor: FlaskClient) -> None:
    url = f"/web/parcels/{seeded.parcels['amazon']}"
    recorded = RECORDED.findall(auditor.get(url).get_data(True))
    assert len(recorded) == 10
    then = auditor.get(url, query_string={"as_of": recorded[2]}).get_data(True)
    assert then.count('class="event') == 3 and 'id="v4"' not in then
    assert "3 of 10 events" in then
    assert '<span class="status status-return_requested" id="state-status">' in then
    assert "Chain OK: 3 stored events verified" in then
    before = auditor.get(url, query_string={"as_of": "2020-01-01"}).get_data(True)
    assert "Nothing was recorded about this parcel by then." in before


def test_as_recorded_at_that_does_not_parse_is_a_400_page(seeded: Seeded,
        auditor: FlaskClient) -> None:
    answer = auditor.get(f"/web/parcels/{seeded.parcels['amazon']}?as_of=yesterday")
    assert answer.status_code == 400
    assert "as recorded at: write a date and time" in answer.get_data(True)


@pytest.mark.parametrize("query", ["/web/parcels?to=9999-12-31",
                                   "/web/parcels?from=0001-01-01T00:00:00%2B01:00",
                                   "/web/finance?to=9999-12-31"])
def test_dates_outside_business_time_are_a_400_page(auditor: FlaskClient, query: str) -> None:
    answer = auditor.get(query)
    assert answer.status_code == 400
    assert "a date between 2000 and 2099" in answer.get_data(True)


def test_badge_shows_a_broken_chain_when_a_stored_event_was_altered(fresh: Seeded) -> None:
    parcel = fresh.parcels["tiktok_shop_hold"]
    db = sqlite3.connect(fresh.env["SQLITE_DBNAME"])
    (state,) = db.execute("SELECT state FROM stored_events WHERE originator_id = ? AND "
                          "originator_version = 2", (parcel.hex,)).fetchone()
    data = json.loads(state)
    data["reason"] = "delivered"  # rewritten behind the ledger's back
    db.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? AND "
               "originator_version = 2", (json.dumps(data).encode(), parcel.hex))
    db.commit()
    db.close()
    client = signed_in(fresh.app, fresh.keys["auditor"])
    page = client.get(f"/web/parcels/{parcel}").get_data(True)
    assert 'class="badge broken" id="chain-badge"' in page
    assert re.search(r"Chain broken\n    at version 3, position \d+ \(hash mismatch\)", page)
    recorded = RECORDED.findall(page)
    before = client.get(f"/web/parcels/{parcel}", query_string={"as_of": recorded[0]})
    assert "Chain OK: 1 stored event verified" in before.get_data(True)


def test_parcel_whose_events_no_longer_replay_shows_the_broken_chain(fresh: Seeded) -> None:
    parcel = fresh.parcels["tiktok_shop_hold"]
    db = sqlite3.connect(fresh.env["SQLITE_DBNAME"])
    db.execute("DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 2",
               (parcel.hex,))
    db.commit()
    db.close()
    answer = signed_in(fresh.app, fresh.keys["auditor"]).get(f"/web/parcels/{parcel}")
    page = answer.get_data(True)
    assert answer.status_code == 500 and "text/html" in answer.content_type
    assert re.search(r"Chain broken\n  at version 2, position \d+ \(missing version\)", page)
    assert "no longer replay into a parcel" in page


@pytest.mark.parametrize(("query", "found"), [
    ({"tracking_number": "LZPH0001"}, ["LZPH0001"]),
    ({"order_id": "CD-ORDER-1"}, ["CDFR0001"]),
    ({"seller_id": "seller-am"}, ["AMDE0001"]),
    ({"status": "destroyed"}, ["TTTH0002"]),
    ({"status": "closed", "from": "2026-03-03", "to": "2026-03-03"}, ["TTMY0001"]),
    ({"from": "2026-03-04"}, []),
])
def test_search_by_each_field_uses_the_tracking_view(auditor: FlaskClient,
                                                     query: dict[str, str],
                                                     found: list[str]) -> None:
    page = auditor.get("/web/parcels", query_string=query).get_data(True)
    listed = re.findall(r'<a href="/web/parcels/[0-9a-f-]+">([A-Z0-9]+)</a>', page)
    assert listed == found


def test_search_with_an_unknown_status_is_a_400_page(auditor: FlaskClient) -> None:
    assert auditor.get("/web/parcels?status=lost").status_code == 400

"""The views over HTTP: GET /v1/parcels pages, LZ-4 reports, seller scope, read-your-writes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.api.conftest import bearer, issue_keys, make_app, parcel_body, post, register
from tests.integration.projection_support import (  # noqa: F401 - view_env is a fixture
    DAY,
    T0,
    catch_up,
    tt_parcel,
    view_env,
)


@pytest.fixture
def api(view_env) -> Iterator[tuple[Flask, object]]:
    app = make_app(view_env, VIEW_WAIT_SECONDS="0.3")
    yield app, issue_keys(app)
    app.extensions["returns_ledger_views"].close()
    app.extensions["returns_ledger"].close()


def project(app: Flask) -> None:
    holder = app.extensions["returns_ledger"]
    catch_up(app.extensions["returns_ledger_views"].env, holder.get())


def test_parcel_list_pages_filters_and_keeps_to_the_sellers_scope(api):
    app, keys = api
    client = app.test_client()
    for n in range(5):
        register(client, keys.client, tracking=f"TTMY{n:04d}")
    register(client, keys.other_seller, tracking="TTMY9999", seller="s2")
    project(app)
    seen, cursor = [], None
    while True:
        url = "/v1/parcels?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=bearer(keys.client)).get_json()
        seen += [p["tracking_number"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"TTMY{n:04d}" for n in range(5)] and len(set(seen)) == 5  # s1 only
    everyone = client.get("/v1/parcels?site=MY", headers=bearer(keys.admin)).get_json()
    assert len(everyone["items"]) == 6
    assert client.get("/v1/parcels?seller_id=s2", headers=bearer(keys.client)).status_code == 403
    assert client.get("/v1/parcels?cursor=garbage",
                      headers=bearer(keys.client)).status_code == 422
    found = client.get("/v1/parcels?tracking_number=TTMY0001", headers=bearer(keys.client))
    assert [p["tracking_number"] for p in found.get_json()["items"]] == ["TTMY0001"]


def test_read_your_writes_with_min_position(api):
    app, keys = api
    client = app.test_client()
    first = client.post("/v1/parcels", json=parcel_body("TTMYRYW1"), headers=bearer(keys.client)).get_json()
    stale = client.get(f"/v1/parcels?min_position={first['position']}",
                       headers=bearer(keys.client))
    assert stale.status_code == 200  # answered after the bounded wait, flagged
    assert (stale.get_json()["caught_up"], stale.get_json()["items"]) == (False, [])
    assert stale.headers["X-View-Caught-Up"] == "false"
    unknown = client.get(f"/v1/parcels?min_position={first['position'] + 1000}",
                         headers=bearer(keys.client))
    assert unknown.status_code == 409  # well formed; the log has not got that far
    assert unknown.get_json()["type"].endswith("position-not-recorded")
    project(app)
    fresh = client.get(f"/v1/parcels?min_position={first['position']}",
                       headers=bearer(keys.client)).get_json()
    assert fresh["caught_up"] is True
    assert [p["parcel_id"] for p in fresh["items"]] == [first["id"]]
    report = client.get(f"/v1/reports/liabilities?min_position={first['position']}",
                        headers=bearer(keys.client)).get_json()
    assert report["caught_up"] is True  # project() caught every view up
    assert fresh["position"] >= first["position"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'projection_lag{view="tracking"} 0.0' in metrics


def test_lz4_parcel_reports_by_range_numbers_and_upload(api):
    app, keys = api
    client = app.test_client()
    for n in range(3):
        register(client, keys.client, tracking=f"LZ{n:04d}")
    project(app)
    base = "/v1/reports/parcels"
    too_long = client.get(f"{base}?registered_from=2026-03-01T00:00:00Z"
                          "&registered_to=2026-04-01T00:00:01Z", headers=bearer(keys.client))
    assert too_long.status_code == 422 and too_long.get_json()["rule"] == "LZ-4"
    neither = client.get(base, headers=bearer(keys.client))
    assert neither.status_code == 422
    month = client.get(f"{base}?registered_from=2026-03-01T00:00:00Z"
                       "&registered_to=2026-03-31T00:00:00Z", headers=bearer(keys.client))
    assert sorted(p["tracking_number"] for p in month.get_json()["items"]) == [
        "LZ0000", "LZ0001", "LZ0002"]
    as_csv = client.get(f"{base}?registered_from=2026-03-01T00:00:00Z"
                        "&registered_to=2026-03-31T00:00:00Z&format=csv",
                        headers=bearer(keys.client))
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert as_csv.mimetype == "text/csv" and [r["status"] for r in rows] == ["registered"] * 3
    listed = client.get(f"{base}?tracking_numbers=LZ0002,NOPE", headers=bearer(keys.client))
    assert ([p["tracking_number"] for p in listed.get_json()["items"]],
            listed.get_json()["missing"]) == (["LZ0002"], ["NOPE"])
    upload = client.post(f"{base}/upload", headers=bearer(keys.client),
                         data={"file": (io.BytesIO(b"tracking_number\nLZ0000\nLZ0001\n"),
                                        "numbers.csv")}, content_type="multipart/form-data")
    assert upload.status_code == 200, upload.get_json()
    assert sorted(p["tracking_number"] for p in upload.get_json()["items"]) == [
        "LZ0000", "LZ0001"]
    other = client.get(f"{base}?tracking_numbers=LZ0000", headers=bearer(keys.other_seller))
    assert other.get_json()["items"] == [] and other.get_json()["missing"] == ["LZ0000"]


def test_lz4_upload_reads_any_line_ending_and_refuses_an_unreadable_csv(api):
    """CR, LF and CRLF line ends all separate numbers; a CSV the reader cannot parse is a
    422 that says why, not a server error."""
    app, keys = api
    client = app.test_client()
    for n in range(3):
        register(client, keys.client, tracking=f"LZ{n:04d}")
    project(app)
    upload = client.post("/v1/reports/parcels/upload", headers=bearer(keys.client),
                         data=b"LZ0000\rLZ0001\r\nLZ0002\n", content_type="text/csv")
    assert upload.status_code == 200, upload.get_json()
    assert sorted(p["tracking_number"] for p in upload.get_json()["items"]) == [
        "LZ0000", "LZ0001", "LZ0002"]
    broken = client.post("/v1/reports/parcels/upload", headers=bearer(keys.client),
                         data=b'"LZ0000\nLZ0001', content_type="text/csv")  # quote never closed
    assert broken.status_code == 422, broken.get_json()
    assert broken.get_json()["type"].endswith("invalid-upload")


def test_free_return_deadline_and_liability_reports(api):
    app, keys = api
    client = app.test_client()
    ledger = app.extensions["returns_ledger"].get()
    held = tt_parcel(ledger, "rep-held", site="TH", eligible_address=False)
    ledger.dispose(held, "destroyed", T0 + 20 * DAY)
    tt_parcel(ledger, "rep-free")
    tt_parcel(ledger, "rep-hold2", site="TH", eligible_address=False)
    project(app)
    auditor = bearer(keys.auditor)
    free = client.get("/v1/reports/free-returns", headers=auditor).get_json()
    assert [(r["seller_id"], r["outcome"]) for r in free["items"]] == [
        ("seller-rep-free", "in_transit")]
    assert free["totals"][0]["used"] == 1
    deadlines = client.get("/v1/reports/deadlines?now=2026-04-01T00:00:00Z",
                           headers=auditor).get_json()
    assert [h["seller_id"] for h in deadlines["expired_holds"]] == ["seller-rep-hold2"]
    assert [r["seller_id"] for r in deadlines["overdue_returns"]] == ["seller-rep-free"]
    holds_csv = client.get("/v1/reports/deadlines?list=holds&format=csv", headers=auditor)
    assert "hold_until" in holds_csv.get_data(as_text=True).splitlines()[0]
    liabilities = client.get("/v1/reports/liabilities", headers=auditor).get_json()
    assert [(r["seller_id"], r["party"], r["amount"]) for r in liabilities["items"]] == [
        ("seller-rep-held", "seller", {"amount": "100.00", "currency": "THB"})]
    scoped = client.get("/v1/reports/liabilities", headers=bearer(keys.client)).get_json()
    assert scoped["items"] == [] and scoped["totals"] == []
    lines = client.get("/v1/reports/liabilities?format=csv", headers=auditor).get_data(
        as_text=True).splitlines()
    assert lines[1].split(",")[2:4] == ["100.00", "THB"]


def test_embedded_runners_start_with_the_first_request(view_env):
    app = make_app(view_env, PROJECTIONS_IN_PROCESS="yes", VIEW_WAIT_SECONDS="10")
    try:
        keys = issue_keys(app)
        client = app.test_client()
        created = post(client, keys.client, "/v1/parcels",
                       parcel_body("EMB1"))
        position = created.get_json()["position"]
        page = client.get(f"/v1/parcels?min_position={position}", headers=bearer(keys.client))
        assert page.status_code == 200 and page.get_json()["caught_up"], page.get_json()
        assert [p["tracking_number"] for p in page.get_json()["items"]] == ["EMB1"]
    finally:
        app.extensions["returns_ledger_views"].close()
        app.extensions["returns_ledger"].close()

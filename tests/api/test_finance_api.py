"""Refunds ledger and reconciliations over HTTP: roles, JSON and CSV, uploads, idempotence."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from interfaces.cli.finance import caught_up_refunds
from tests.api.conftest import Keys, bearer, day, money, post, register

FIXTURE = Path(__file__).parent.parent / "fixtures" / "settlement_refunds.csv"


@pytest.fixture
def refunded(app: Flask, keys: Keys, sqlite_env: dict[str, str]) -> FlaskClient:
    """Seller s1: R-MATCH 100.00 MYR issued; seller s2: R-OTHER 10.00 MYR issued."""
    client = app.test_client()
    for tracking, seller, token, reference, amount in (
            ("TT-1", "s1", keys.client, "R-MATCH", "30.00"),
            ("TT-2", "s2", keys.other_seller, "R-OTHER", "10.00")):
        parcel = register(client, token, tracking=tracking, seller=seller)
        response = post(client, token, f"/v1/parcels/{parcel}/refunds", {
            "reference": reference, "occurred_at": day(3),
            "components": [{"kind": "item", "amount": money(amount)}]})
        assert response.status_code == 201, response.get_json()
    caught_up_refunds(sqlite_env).datastore.close()
    return client


def test_refunds_json_is_scoped_to_the_finance_keys_seller(refunded, keys) -> None:
    mine = refunded.get("/v1/refunds", headers=bearer(keys.finance)).get_json()
    assert [(r["reference"], r["amount"], r["currency"]) for r in mine["refunds"]] == [
        ("R-MATCH", "30.00", "MYR")]
    every = refunded.get("/v1/refunds", headers=bearer(keys.auditor)).get_json()
    assert sorted(r["reference"] for r in every["refunds"]) == ["R-MATCH", "R-OTHER"]
    assert refunded.get("/v1/refunds").status_code == 401


def test_a_client_reads_its_own_sellers_refunds_only(refunded, keys) -> None:
    """The role table: a client key runs every query for its seller, the refunds too."""
    mine = refunded.get("/v1/refunds", headers=bearer(keys.client))
    assert mine.status_code == 200, mine.get_json()
    assert [r["reference"] for r in mine.get_json()["refunds"]] == ["R-MATCH"]
    totals = refunded.get("/v1/refunds/totals", headers=bearer(keys.client)).get_json()
    assert {t["seller_id"] for t in totals["totals"]} == {"s1"}
    other = refunded.get("/v1/refunds?seller_id=s2", headers=bearer(keys.client))
    assert other.status_code == 403
    as_csv = refunded.get("/v1/refunds?format=csv", headers=bearer(keys.other_seller))
    assert "R-MATCH" not in as_csv.data.decode() and "R-OTHER" in as_csv.data.decode()


def test_refunds_csv_by_accept_header_or_query(refunded, keys) -> None:
    by_header = refunded.get("/v1/refunds", headers=bearer(keys.admin, Accept="text/csv"))
    by_query = refunded.get("/v1/refunds?format=csv", headers=bearer(keys.admin))
    assert by_header.mimetype == "text/csv" and by_header.data == by_query.data
    rows = list(csv.DictReader(io.StringIO(by_header.data.decode(), newline="")))
    assert {(r["reference"], r["amount"]) for r in rows} == {("R-MATCH", "30.00"),
                                                             ("R-OTHER", "10.00")}


def test_totals_per_seller_platform_currency_day(refunded, keys) -> None:
    totals = refunded.get("/v1/refunds/totals", headers=bearer(keys.admin)).get_json()
    assert [(t["seller_id"], t["currency"], t["day"], t["refunds"], t["amount"])
            for t in totals["totals"]] == [("s1", "MYR", "2026-03-05", 1, "30.00"),
                                           ("s2", "MYR", "2026-03-05", 1, "10.00")]


SETTLEMENT = "reference,currency,amount\r\nR-MATCH,MYR,30.00\r\nR-OTHER,MYR,10.00\r\n"


def finished(client: FlaskClient, location: str, token: str) -> dict:
    """Poll an accepted run until it is no longer running (it never answers 404)."""
    for _ in range(200):
        answer = client.get(location, headers=bearer(token))
        assert answer.status_code == 200, answer.get_json()
        if answer.get_json()["status"] != "running":
            return answer.get_json()
        time.sleep(0.02)
    raise AssertionError(f"{location} still running")


def test_reconciliation_upload_is_idempotent_and_scoped(refunded, keys) -> None:
    first = refunded.post("/v1/reconciliations", data={
        "file": (io.BytesIO(SETTLEMENT.encode()), "june.csv")},
        headers=bearer(keys.finance), content_type="multipart/form-data")
    assert first.status_code == 202, first.get_json()
    assert first.get_json()["status"] == "running"
    summary = finished(refunded, first.headers["Location"], keys.finance)
    assert summary["status"] == "done" and summary["started_by_owner"] == "fin-a"
    assert summary["started_by_key_label"] == "finance"
    # For seller s1, R-OTHER (seller s2's) is not in its ledger: nothing of s2 leaks.
    assert summary["counts"]["matched"] == 1
    assert summary["counts"]["settled_not_in_ledger"] == 1
    assert summary["seller_scope"] == "s1" and summary["file_name"] == "june.csv"
    again = refunded.post("/v1/reconciliations", data=SETTLEMENT,
                          headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert again.status_code == 200 and again.get_json()["id"] == summary["id"]
    assert again.get_json()["digest"] == summary["digest"]
    assert first.headers["Location"] == f"/v1/reconciliations/{summary['id']}"
    report = refunded.get(first.headers["Location"], headers=bearer(keys.finance)).get_json()
    assert [(r["outcome"], r["reference"]) for r in report["lines"]] == [
        ("matched", "R-MATCH"), ("settled_not_in_ledger", "R-OTHER")]
    as_csv = refunded.get(first.headers["Location"], headers=bearer(keys.auditor,
                                                                    Accept="text/csv"))
    assert as_csv.data.decode().startswith("outcome,reference,parcel_id")
    other = post(refunded, keys.client, "/v1/reconciliations")
    assert other.status_code == 403


def test_a_file_the_ledger_cannot_read_is_a_problem_not_a_crash(refunded, keys) -> None:
    response = refunded.post("/v1/reconciliations", data="a;b\r\n1;2\r\n",
                             headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert refunded.post("/v1/reconciliations", data="x", headers=bearer(
        keys.finance, **{"Content-Type": "application/pdf"})).status_code == 415


def test_the_fixture_file_uploads_with_every_outcome(refunded, keys) -> None:
    response = refunded.post("/v1/reconciliations", data={
        "file": (FIXTURE.open("rb"), FIXTURE.name)}, headers=bearer(keys.admin),
        content_type="multipart/form-data")
    assert response.status_code == 403  # reconciling is finance's alone
    response = refunded.post("/v1/reconciliations", data={
        "file": (FIXTURE.open("rb"), FIXTURE.name)}, headers=bearer(keys.finance),
        content_type="multipart/form-data")
    assert response.status_code == 202
    counts = finished(refunded, response.headers["Location"], keys.finance)["counts"]
    # Seller s1's one refund (R-MATCH, 30.00 MYR) is settled in EUR in the fixture.
    assert counts == {"matched": 0, "amount_mismatch": 0, "currency_mismatch": 1,
                      "in_ledger_not_settled": 0, "settled_not_in_ledger": 5,
                      "ambiguous_reference": 0, "unreadable_line": 2}


def test_min_position_waits_for_the_write_and_a_future_one_is_refused(refunded, keys) -> None:
    head = refunded.get("/v1/refunds", headers=bearer(keys.admin)).get_json()["position"]
    fresh = refunded.get(f"/v1/refunds?min_position={head}", headers=bearer(keys.admin))
    assert fresh.get_json()["caught_up"] is True
    future = refunded.get(f"/v1/refunds?min_position={head + 1000}",
                          headers=bearer(keys.admin))
    assert future.status_code == 409  # well formed: the log has not got that far
    other = refunded.get("/v1/refunds?seller_id=s2", headers=bearer(keys.finance))
    assert other.status_code == 403


def _role_table_row(role: str) -> str:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    [row] = [line for line in readme.splitlines() if line.startswith(f"| `{role}` |")]
    return row


@pytest.mark.parametrize("role", ["client", "admin"])
def test_the_role_table_matches_the_finance_endpoints(app: Flask, keys: Keys,
                                                      role: str) -> None:
    """README's role table: a client reads its refunds and totals and requests refunds;
    neither a client nor an admin approves, rejects, fails or reverses a refund or runs a
    reconciliation; an admin reads reconciliations, a client does not (AM-4)."""
    row = _role_table_row(role)
    for promise in ("`GET /v1/refunds`", "approving, rejecting, failing and reversing",
                    "reconciliations") if role == "client" else (
                        "approving, rejecting, failing and reversing",
                        "running reconciliations (it reads them)"):
        assert promise in row, (promise, row)
    client, token = app.test_client(), getattr(keys, role)
    parcel = "/v1/parcels/00000000-0000-4000-8000-000000000000/refunds/R-1"
    assert client.get("/v1/refunds", headers=bearer(token)).status_code == 200
    assert client.get("/v1/refunds/totals", headers=bearer(token)).status_code == 200
    for path in ("approvals", "rejections", "failures", "reversals"):
        answer = post(client, token, f"{parcel}/{path}", {"reason": "x"})
        assert answer.status_code == 403, (path, answer.get_json())
    assert post(client, token, "/v1/reconciliations").status_code == 403
    listed = client.get("/v1/reconciliations", headers=bearer(token)).status_code
    assert listed == (403 if role == "client" else 200)
    # A client's refund request is a command it may send (404: no such parcel, not 403).
    asked = post(client, token, parcel.rsplit("/", 1)[0], {"reference": "R-1", "components": [
        {"kind": "item", "amount": money("1.00")}]})
    assert asked.status_code == 404, asked.get_json()

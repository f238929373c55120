"""AM-2, AM-3, AM-4 and CD-4 over HTTP, with the finance endpoints of a refund's later life."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import Keys, bearer, day, issue_keys, make_app, money, post, register


def amazon_inspected(client: FlaskClient, keys: Keys, seller_fault: bool,
                     tracking: str = "AMDE0001") -> str:
    """An Amazon parcel of 899 EUR (+5.99 shipping) returned, received and inspected."""
    parcel = register(client, keys.client, tracking=tracking, platform="amazon", site="DE",
                      lines=[{"sku": "DRONE", "quantity": 1,
                              "unit_price": money("899.00", "EUR")}],
                      amount_paid=money("899.00", "EUR"), shipping_paid=money("5.99", "EUR"),
                      order_created_at=day(0), occurred_at=day(0))
    base = f"/v1/parcels/{parcel}"
    for path, body in [
            ("deliveries", {"occurred_at": day(2)}),
            ("return-requests", {"reason": "damaged" if seller_fault else "changed my mind",
                                 "seller_fault": seller_fault,
                                 "return_shipping_cost": money("7.50", "EUR"),
                                 "occurred_at": day(5)}),
            ("routes", {"occurred_at": day(5)}),
            ("return-labels", {"carrier": "DHL", "tracking_number": f"DHL-{tracking}",
                               "occurred_at": day(5)}),
            ("receipts", {"occurred_at": day(9)}),
            ("inspections", {"condition": "damaged", "occurred_at": day(9)})]:
        response = post(client, keys.client, f"{base}/{path}", body)
        assert response.status_code == 201, (path, response.get_json())
    return base


def refund(reference: str, **parts: str) -> dict[str, Any]:
    return {"reference": reference, "occurred_at": day(10), "components": [
        {"kind": kind, "amount": money(amount, "EUR")} for kind, amount in parts.items()]}


def test_am2_return_shipping_refused_when_the_buyer_changed_their_mind(app: Flask,
                                                                         keys: Keys) -> None:
    client = app.test_client()
    base = amazon_inspected(client, keys, seller_fault=False)
    refused = post(client, keys.finance, f"{base}/refunds",
                   refund("R-1", item="100.00", return_shipping="7.50"))
    assert refused.status_code == 409 and refused.get_json()["rule"] == "AM-2"
    assert refused.headers["Content-Type"] == "application/problem+json"


def test_am3_reversal_over_http_returns_the_amount_to_the_cap(app: Flask, keys: Keys) -> None:
    client = app.test_client()
    base = amazon_inspected(client, keys, seller_fault=True)
    assert post(client, keys.finance, f"{base}/refunds",
                refund("R-1", item="400.00")).status_code == 201
    second = post(client, keys.finance, f"{base}/refunds", refund("R-2", item="400.00"))
    # AM-4 counts R-1: together they pass the 500 EUR threshold, so R-2 waits.
    assert second.status_code == 201 and second.get_json()["refund"]["status"] == "requested"
    assert post(client, keys.finance_b, f"{base}/refunds/R-2/approvals",
                {}).status_code == 201
    over = post(client, keys.finance, f"{base}/refunds", refund("R-3", item="100.00"))
    assert over.status_code == 409 and over.get_json()["rule"] == "AM-3"
    reversals = f"{base}/refunds/R-1/reversals"
    assert post(client, keys.client, reversals, {"reason": "chargeback"}).status_code == 403
    # Separation of duties: the key that issued R-1 does not release it; another does.
    own = post(client, keys.finance, reversals,
               {"reason": "charged back", "occurred_at": day(12)})
    assert own.status_code == 409 and own.get_json()["rule"] == "AM-4"
    reversed_ = post(client, keys.finance_b, reversals,
                     {"reason": "charged back", "occurred_at": day(12)})
    assert reversed_.status_code == 201, reversed_.get_json()
    assert reversed_.get_json()["refund"]["status"] == "reversed"
    third = post(client, keys.finance, f"{base}/refunds", refund("R-3", item="100.00"))
    # AM-3 has room again, but the reversed R-1 did leave once: AM-4 still counts it.
    assert third.status_code == 201 and third.get_json()["refund"]["status"] == "requested"
    assert post(client, keys.finance_b, f"{base}/refunds/R-3/approvals",
                {}).status_code == 201
    failed = post(client, keys.finance, f"{base}/refunds/R-3/failures",
                  {"reason": "card expired", "occurred_at": day(13)})
    assert failed.get_json()["refund"]["status"] == "failed"
    again = post(client, keys.finance, f"{base}/refunds/R-3/failures",
                 {"reason": "card expired", "occurred_at": day(13)})
    assert again.get_json()["version"] == failed.get_json()["version"]
    state = client.get(base, headers=bearer(keys.finance)).get_json()
    assert state["refunded_total"] == money("400.00", "EUR")


def test_am4_finance_rejects_a_large_refund_with_a_reason(app: Flask, keys: Keys) -> None:
    client = app.test_client()
    base = amazon_inspected(client, keys, seller_fault=True)
    post(client, keys.client, f"{base}/refunds", refund("R-BIG", item="899.00"))
    rejections = f"{base}/refunds/R-BIG/rejections"
    assert post(client, keys.finance, rejections, {}).status_code == 422  # reason required
    assert post(client, keys.auditor, rejections, {"reason": "x"}).status_code == 403
    rejected = post(client, keys.finance, rejections, {"reason": "no photos of the damage"})
    assert rejected.status_code == 201
    assert rejected.get_json()["refund"]["status"] == "rejected"
    late = post(client, keys.finance_b, f"{base}/refunds/R-BIG/approvals", {})
    assert late.status_code == 409 and late.get_json()["rule"] == "AM-4"
    small = post(client, keys.client, f"{base}/refunds", refund("R-SMALL", item="100.00"))
    not_pending = post(client, keys.finance, f"{base}/refunds/R-SMALL/rejections",
                       {"reason": "too late"})
    assert small.status_code == 201 and not_pending.get_json()["rule"] == "AM-4"


def test_cd4_full_refund_without_return_then_a_chargeback_after_close(app: Flask,
                                                                       keys: Keys) -> None:
    client = app.test_client()
    parcel = register(client, keys.client, tracking="CDFR0001", platform="cdiscount",
                      site="FR", tracking_url="https://tracking.example/CDFR0001",
                      tracked_shipping=True,
                      lines=[{"sku": "KETTLE", "quantity": 1,
                              "unit_price": money("39.00", "EUR")}],
                      amount_paid=money("39.00", "EUR"), shipping_paid=money("4.90", "EUR"),
                      order_created_at=day(0), occurred_at=day(0))
    base = f"/v1/parcels/{parcel}"
    post(client, keys.client, f"{base}/deliveries", {"occurred_at": day(3)})
    post(client, keys.client, f"{base}/return-requests",
         {"reason": "defective", "seller_fault": True, "occurred_at": day(6)})
    post(client, keys.client, f"{base}/routes", {"occurred_at": day(6)})
    partial = post(client, keys.client, f"{base}/refunds", refund("CD-1", item="39.00"))
    assert partial.status_code == 409 and partial.get_json()["rule"] == "CD-4"
    full = post(client, keys.client, f"{base}/refunds",
                refund("CD-2", item="39.00", shipping="4.90"))
    assert full.get_json()["status"] == "closed"
    # The same refund sent again after it closed the parcel is the same refund (a 409
    # invalid-transition once): same version, nothing recorded, with or without a key.
    for headers in ({}, {"Idempotency-Key": "cd2-retry"}):
        again = post(client, keys.client, f"{base}/refunds",
                     refund("CD-2", item="39.00", shipping="4.90"), **headers)
        assert again.status_code in (200, 201), again.get_json()
        assert again.get_json()["version"] == full.get_json()["version"]
        assert again.get_json()["refund"]["status"] == "issued"
    charged_back = post(client, keys.finance, f"{base}/refunds/CD-2/reversals",
                        {"reason": "charged back", "occurred_at": day(20)})
    assert charged_back.status_code == 201, charged_back.get_json()
    assert charged_back.get_json()["status"] == "closed"


def test_am4_one_finance_key_looping_refund_and_failure_issues_at_most_the_threshold(
        store_env: dict[str, str]) -> None:
    """Threshold 100 MYR, a parcel paid 500.00 MYR, one finance key eight times: refund
    90.00 (issued at once, under the threshold), then record it failed. This issued
    720.00 MYR on a 500.00 parcel, never reviewed, when the issuer could release their
    own refund and a released amount no longer counted towards AM-4."""
    app = make_app({**store_env, "LARGE_REFUND_THRESHOLD_MYR": "100"})
    try:
        keys = issue_keys(app)
        client = app.test_client()
        parcel = register(client, keys.client, tracking="TTMY-LOOP",
                          lines=[{"sku": "TV", "quantity": 1, "unit_price": money("500.00")}],
                          amount_paid=money("500.00"))
        base = f"/v1/parcels/{parcel}"
        for i in range(8):
            asked = post(client, keys.finance, f"{base}/refunds", {
                "reference": f"LOOP-{i}",
                "components": [{"kind": "item", "amount": money("90.00")}]})
            failed = post(client, keys.finance, f"{base}/refunds/LOOP-{i}/failures",
                          {"reason": "bounced"})
            assert asked.status_code in (201, 409), asked.get_json()
            if asked.status_code == 409:
                assert asked.get_json()["rule"] in ("AM-3", "AM-4"), asked.get_json()
            # The issuer never releases their own refund; a refused one is not there.
            assert failed.status_code == (404 if asked.status_code == 409 else 409), (
                i, failed.get_json())
            if i == 0:
                assert failed.get_json()["rule"] == "AM-4", failed.get_json()
        history = client.get(f"{base}/history", headers=bearer(keys.auditor)).get_json()
        events = history["events"]
        approved = {e["data"]["reference"] for e in events if e["type"] == "RefundApproved"}
        issued = [e for e in events if e["type"] == "RefundIssued"]
        unreviewed = sum((Decimal(e["data"]["amount"]["amount"]) for e in issued
                          if e["data"]["reference"] not in approved), Decimal(0))
        assert unreviewed <= Decimal("100"), issued
        assert [e["data"]["reference"] for e in issued] == ["LOOP-0"]
        assert not [e for e in events if e["type"] in ("RefundFailed", "RefundReversed")]
        state = client.get(base, headers=bearer(keys.finance)).get_json()
        assert state["refunded_total"] == money("90.00")
        waiting = [r["reference"] for r in state["refunds"] if r["status"] == "requested"]
        assert waiting and all(r != "LOOP-0" for r in waiting)  # the rest waits for review
    finally:
        app.extensions["returns_ledger"].close()

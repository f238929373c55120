"""Full lifecycles over HTTP, on SQLite and PostgreSQL: every command endpoint answers."""

from __future__ import annotations

from flask import Flask

from tests.api.conftest import bearer, day, issue_keys, money, post, register


def test_tiktok_shop_failed_delivery_lifecycle(store_app: Flask) -> None:
    keys, client = issue_keys(store_app), store_app.test_client()
    address = post(client, keys.client, "/v1/return-addresses", {
        "seller_id": "s1", "platform": "tiktok_shop", "country": "MY",
        "address": {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur",
                    "postcode": "50000"},
        "effective_from": "2026-01-01T00:00:00+08:00", "occurred_at": "2026-01-01T00:00:00Z"})
    assert address.status_code == 201, address.get_json()
    assert address.headers["Location"] == f"/v1/return-addresses/{address.get_json()['id']}"
    parcel = register(client, keys.client)
    base = f"/v1/parcels/{parcel}"
    for n in (3, 4, 5):
        response = post(client, keys.client, f"{base}/delivery-attempts",
                        {"reason": "buyer not at home", "occurred_at": day(n)})
        assert response.status_code == 201, response.get_json()
    failed = post(client, keys.client, f"{base}/delivery-failures",
                  {"reason": "unreachable", "occurred_at": day(5)})
    assert failed.get_json()["status"] == "delivery_failed"
    routed = post(client, keys.client, f"{base}/routes", {"occurred_at": day(6)})
    body = routed.get_json()
    assert routed.status_code == 201 and routed.headers["ETag"] == f'"{body["version"]}"'
    decision = body["decision"]
    assert decision["destination"] == "seller_overseas_address"
    assert decision["rule"] == "TT-3" and decision["free_return"] is True
    assert {"payer", "facts", "hold_until", "expected_back_by"} <= set(decision)
    assert body["status"] == "returning_to_seller" and body["position"] > 0
    assert post(client, keys.client, f"{base}/receipts",
                {"occurred_at": day(15), "location": "KL"}).status_code == 201
    assert post(client, keys.client, f"{base}/inspections",
                {"condition": "resellable", "occurred_at": day(15)}).status_code == 201
    closed = post(client, keys.client, f"{base}/closures", {"occurred_at": day(16)})
    assert closed.get_json()["status"] == "closed"

    state = client.get(base, headers=bearer(keys.auditor))
    view = state.get_json()
    assert state.headers["ETag"] == f'"{view["version"]}"' == '"9"'
    assert view["free_return_used"] is True and view["destination"] == "seller_overseas_address"
    assert view["refunded_total"] == money("0.00") and view["liability"] is None
    assert {"id", "platform", "site", "seller_id", "order_id", "tracking_number", "status",
            "hold_until"} <= set(view)
    history = client.get(f"{base}/history", headers=bearer(keys.auditor)).get_json()
    assert [e["type"] for e in history["events"]] == [
        "ParcelRegistered", "DeliveryAttemptFailed", "DeliveryAttemptFailed",
        "DeliveryAttemptFailed", "DeliveryFailed", "ReturnRouted", "Received", "Inspected",
        "ParcelClosed"]
    routed_event = history["events"][5]
    assert routed_event["actor"] == keys.ids["client"]
    assert routed_event["occurred_at"] == day(6) and routed_event["data"]["rule"] == "TT-3"
    assert {"version", "type", "recorded_at", "occurred_at", "actor", "data"} <= set(routed_event)


def test_amazon_large_refund_needs_a_second_finance_key_am4(store_app: Flask) -> None:
    keys, client = issue_keys(store_app), store_app.test_client()
    parcel = register(client, keys.client, tracking="AMDE0001", platform="amazon", site="DE",
                      lines=[{"sku": "DRONE", "quantity": 1, "unit_price": money("899.00", "EUR")}],
                      amount_paid=money("899.00", "EUR"), shipping_paid=money("5.99", "EUR"),
                      order_created_at=day(0), occurred_at=day(0))
    base = f"/v1/parcels/{parcel}"
    steps = [("deliveries", {"occurred_at": day(2)}),
             ("return-requests", {"reason": "arrived damaged", "seller_fault": True,
                                  "return_shipping_cost": money("7.50", "EUR"),
                                  "occurred_at": day(5)}),
             ("routes", {"occurred_at": day(5)}),
             ("return-labels", {"carrier": "DHL", "tracking_number": "DHL-1",
                                "occurred_at": day(5)}),
             ("receipts", {"occurred_at": day(9)}),
             ("inspections", {"condition": "damaged", "occurred_at": day(9)})]
    for path, body in steps:
        response = post(client, keys.client, f"{base}/{path}", body)
        assert response.status_code == 201, (path, response.get_json())
    refund = {"reference": "AMZ-REF-1", "occurred_at": day(10), "components": [
        {"kind": "item", "amount": money("899.00", "EUR")},
        {"kind": "return_shipping", "amount": money("7.50", "EUR")}]}
    asked = post(client, keys.finance, f"{base}/refunds", refund)
    assert asked.status_code == 201
    assert asked.get_json()["refund"]["status"] == "requested"
    assert asked.get_json()["refund"]["needs_approval"] is True
    again = post(client, keys.finance, f"{base}/refunds", refund)  # same reference
    assert again.get_json()["version"] == asked.get_json()["version"]
    approvals = f"{base}/refunds/AMZ-REF-1/approvals"
    same = post(client, keys.finance, approvals, {"occurred_at": day(10)})
    assert same.status_code == 409 and same.get_json()["rule"] == "AM-4"
    assert post(client, keys.client, approvals, {}).status_code == 403
    approved = post(client, keys.finance_b, approvals, {"occurred_at": day(10)})
    assert approved.status_code == 201, approved.get_json()
    assert approved.get_json()["refund"]["status"] == "issued"
    view = client.get(base, headers=bearer(keys.finance)).get_json()
    assert view["refunded_total"] == money("906.50", "EUR")
    # the person, and which of their keys acted
    assert view["refunds"][0]["approved_by"] == f"person:fin-b/key:{keys.ids['finance_b']}"


def test_small_refund_is_issued_at_once_am4(store_app: Flask) -> None:
    keys, client = issue_keys(store_app), store_app.test_client()
    parcel = register(client, keys.client, tracking="CDFR0001", platform="cdiscount",
                      site="FR", tracking_url="https://tracking.example/CDFR0001",
                      tracked_shipping=True,
                      lines=[{"sku": "KETTLE", "quantity": 1, "unit_price": money("39.00", "EUR")}],
                      amount_paid=money("39.00", "EUR"), shipping_paid=money("4.90", "EUR"),
                      order_created_at=day(0), occurred_at=day(0))
    base = f"/v1/parcels/{parcel}"
    post(client, keys.client, f"{base}/deliveries", {"occurred_at": day(3)})
    post(client, keys.client, f"{base}/return-requests",
         {"reason": "defective", "seller_fault": True, "occurred_at": day(6)})
    routed = post(client, keys.client, f"{base}/routes", {"occurred_at": day(6)})
    assert routed.get_json()["decision"]["rule"].startswith("CD-4")
    refund = post(client, keys.client, f"{base}/refunds", {
        "reference": "CD-REF-1", "occurred_at": day(7), "components": [
            {"kind": "item", "amount": money("39.00", "EUR")},
            {"kind": "shipping", "amount": money("4.90", "EUR")}]})
    assert refund.status_code == 201, refund.get_json()
    assert refund.get_json()["refund"]["status"] == "issued"
    assert refund.get_json()["refund"]["amount"] == money("43.90", "EUR")


def test_tt5_failed_return_ticket_resolution_and_disposal(client, keys) -> None:
    from tests.api.conftest import ADDRESS

    post(client, keys.client, "/v1/return-addresses", ADDRESS)
    parcel = register(client, keys.client)
    base = f"/v1/parcels/{parcel}"
    post(client, keys.client, f"{base}/delivery-failures", {"reason": "refused",
                                                             "occurred_at": day(4)})
    post(client, keys.client, f"{base}/routes", {"occurred_at": day(5)})
    false_return = post(client, keys.client, f"{base}/investigations",
                        {"kind": "false_return", "occurred_at": day(6)})
    assert false_return.status_code == 201
    assert false_return.get_json()["investigation_id"] == "false_return-1"
    resolved = post(client, keys.client, f"{base}/investigations/false_return-1/resolutions",
                    {"outcome": "parcel found at the depot", "liability": "provider",
                     "occurred_at": day(7)})
    assert resolved.status_code == 201, resolved.get_json()
    failed = post(client, keys.client, f"{base}/return-failures",
                  {"cause": "carrier", "occurred_at": day(9)})
    assert failed.get_json()["status"] == "return_failed"
    ticket = post(client, keys.client, f"{base}/investigations",
                  {"kind": "failed_return", "occurred_at": day(10)}).get_json()
    blocked = post(client, keys.client, f"{base}/disposals",
                   {"kind": "destroyed", "occurred_at": day(11)})
    assert blocked.status_code == 409 and blocked.get_json()["rule"] == "TT-5"
    post(client, keys.client, f"{base}/investigations/{ticket['investigation_id']}/resolutions",
         {"outcome": "lost by the carrier", "liability": "platform", "occurred_at": day(12)})
    disposed = post(client, keys.client, f"{base}/disposals",
                    {"kind": "abandoned", "occurred_at": day(13)})
    assert disposed.status_code == 201, disposed.get_json()
    view = client.get(base, headers=bearer(keys.client)).get_json()
    assert view["status"] == "abandoned" and view["liability"]
    assert set(view["investigations"]) == {"false_return-1", ticket["investigation_id"]}


def test_addresses_and_customs_profiles(client, keys) -> None:
    from tests.api.conftest import ADDRESS

    address = post(client, keys.client, "/v1/return-addresses", ADDRESS).get_json()
    gone = post(client, keys.client, f"/v1/return-addresses/{address['id']}/deactivations",
                {"reason": "moved warehouse", "occurred_at": "2026-02-01T00:00:00Z"})
    assert gone.status_code == 201 and gone.get_json()["deactivated_at"]
    listed = client.get("/v1/return-addresses?seller_id=s1", headers=bearer(keys.auditor))
    assert [a["id"] for a in listed.get_json()["items"]] == [address["id"]]
    profile = {"seller_id": "s1", "sku": "SKU-CASE", "hs_code": "420292",
               "declared_name_local": "手机壳", "declared_name_en": "Phone case",
               "declared_value": money("3.50", "USD"), "material": "silicone",
               "use": "protects a phone", "brand": "NoBrand"}
    first = client.put("/v1/sku-customs-profiles", json=profile, headers=bearer(keys.client))
    assert first.status_code == 200 and first.headers["ETag"] == '"1"'
    assert first.get_json()["profile"]["declared_value"] == money("3.50", "USD")
    again = post(client, keys.client, "/v1/sku-customs-profiles", {**profile, "brand": "Acme"})
    assert again.get_json()["version"] == 2 and again.get_json()["profile"]["brand"] == "Acme"
    bad = post(client, keys.client, "/v1/sku-customs-profiles", {**profile, "hs_code": "42"})
    assert bad.status_code == 422 and "hs_code" in bad.get_json()["errors"]


def test_history_as_recorded_before_a_moment(client, keys) -> None:
    parcel = register(client, keys.client)
    base = f"/v1/parcels/{parcel}"
    first = client.get(f"{base}/history", headers=bearer(keys.auditor)).get_json()
    cut = first["events"][0]["recorded_at"]
    post(client, keys.client, f"{base}/delivery-failures", {"reason": "refused"})
    everything = client.get(f"{base}/history", headers=bearer(keys.auditor)).get_json()
    assert len(everything["events"]) == 2
    then = client.get(f"{base}/history", query_string={"recorded_before": cut},
                      headers=bearer(keys.auditor)).get_json()
    assert [e["type"] for e in then["events"]] == ["ParcelRegistered"]
    naive = client.get(f"{base}/history?recorded_before=2026-03-01T00:00:00",
                       headers=bearer(keys.auditor))
    assert naive.status_code == 422

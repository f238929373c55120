"""Orders (LZ-3, CD-1) and buyer questions (CD-3) over HTTP."""

from __future__ import annotations

from tests.api.conftest import T0, bearer, day, money, post


def _order(client, token, platform="lazada", site="MY", order_id="LZ-1", **extra):
    body = {"platform": platform, "site": site, "seller_id": "s1", "order_id": order_id,
            "created_at": T0, **extra}
    return client.post("/v1/orders", json=body, headers=bearer(token))


def test_lz3_order_stages_over_http(client, keys):
    created = _order(client, keys.client)
    assert created.status_code == 201, created.get_json()
    order = created.get_json()["id"]
    assert created.headers["Location"] == f"/v1/orders/{order}"
    assert created.get_json()["status"] == "pending"
    state = client.get(f"/v1/orders/{order}", headers=bearer(keys.client)).get_json()
    assert state["due_at"] == "2026-03-04T09:00:00+00:00"  # 48 hours (LZ-3)
    late = post(client, keys.client, f"/v1/orders/{order}/ready-to-ship",
                {"occurred_at": day(3)})
    assert late.status_code == 409 and "LZ-3" in late.get_json()["detail"]
    ready = post(client, keys.client, f"/v1/orders/{order}/ready-to-ship",
                 {"occurred_at": day(1)})
    assert ready.status_code == 201 and ready.get_json()["status"] == "ready_to_ship"
    by_seller = post(client, keys.client, f"/v1/orders/{order}/shipments",
                     {"occurred_at": day(2), "reported_by": "seller"})
    assert by_seller.status_code == 409 and "LZ-3" in by_seller.get_json()["detail"]
    shipped = post(client, keys.client, f"/v1/orders/{order}/shipments",
                   {"occurred_at": day(2), "reported_by": "lgs"})
    assert shipped.get_json()["status"] == "shipped"
    failed = post(client, keys.client, f"/v1/orders/{order}/delivery-failures",
                  {"occurred_at": day(3), "reported_by": "seller"})
    assert failed.get_json()["status"] == "delivery_failed"
    final = client.get(f"/v1/orders/{order}", headers=bearer(keys.client)).get_json()
    assert final["settled"] is False
    history = client.get(f"/v1/orders/{order}/history", headers=bearer(keys.auditor))
    assert [e["type"] for e in history.get_json()["events"]] == [
        "OrderCreated", "ReadyToShip", "OrderShipped", "OrderDeliveryFailed"]
    assert history.get_json()["events"][-1]["data"]["facts"]["settled"] == "false"
    assert client.get(f"/v1/orders/{order}/history",
                      headers=bearer(keys.other_seller)).status_code == 404


def test_cd1_acceptance_and_refusal_over_http(client, keys):
    refused = _order(client, keys.client, "cdiscount", "FR", "CD-1",
                     commission=money("2.40", "EUR")).get_json()["id"]
    answer = post(client, keys.client, f"/v1/orders/{refused}/refusal",
                  {"occurred_at": day(1), "reason": "out of stock"})
    assert answer.status_code == 201 and answer.get_json()["status"] == "refused"
    state = client.get(f"/v1/orders/{refused}", headers=bearer(keys.client)).get_json()
    assert state["commission_refunded"] is False
    assert state["commission"] == {"amount": "2.40", "currency": "EUR"}
    accepted = _order(client, keys.client, "cdiscount", "FR", "CD-2").get_json()["id"]
    late = post(client, keys.client, f"/v1/orders/{accepted}/acceptance",
                {"occurred_at": day(3)})
    assert late.status_code == 409 and "CD-1" in late.get_json()["detail"]
    ok = post(client, keys.client, f"/v1/orders/{accepted}/acceptance", {"occurred_at": day(1)})
    assert ok.get_json()["status"] == "accepted"


def test_lz3_orders_of_other_platforms_and_other_sellers_are_refused(client, keys):
    assert _order(client, keys.client, "amazon", "US", "A-1").status_code == 422
    mine = _order(client, keys.client).get_json()["id"]
    assert client.get(f"/v1/orders/{mine}",
                      headers=bearer(keys.other_seller)).status_code == 404
    other = post(client, keys.other_seller, f"/v1/orders/{mine}/ready-to-ship",
                 {"occurred_at": day(1)})
    assert other.status_code == 404
    again = _order(client, keys.client)
    assert again.status_code == 409  # one order per platform and order number


def test_cd3_questions_over_http(client, keys):
    body = {"platform": "cdiscount", "seller_id": "s1", "question_id": "Q-1", "kind": "order",
            "order_id": "CD-1", "asked_at": T0, "language": "fr"}
    asked = client.post("/v1/questions", json=body, headers=bearer(keys.client))
    assert asked.status_code == 201, asked.get_json()
    question = asked.get_json()["id"]
    state = client.get(f"/v1/questions/{question}", headers=bearer(keys.client)).get_json()
    assert (state["due_at"], state["preferred_by"]) == ("2026-03-04T09:00:00+00:00",
                                                        "2026-03-03T09:00:00+00:00")
    english = post(client, keys.client, f"/v1/questions/{question}/replies",
                   {"occurred_at": day(1), "language": "en"})
    assert english.status_code == 409 and "CD-3" in english.get_json()["detail"]
    text = {**body, "question_id": "Q-2", "text": "Bonjour"}
    assert client.post("/v1/questions", json=text,
                       headers=bearer(keys.client)).status_code == 422  # no text is kept
    replied = post(client, keys.client, f"/v1/questions/{question}/replies",
                   {"occurred_at": day(1), "language": "fr"})
    assert replied.get_json()["status"] == "answered"
    unhappy = post(client, keys.client, f"/v1/questions/{question}/escalations",
                   {"occurred_at": day(2)})
    assert unhappy.get_json()["status"] == "escalated"

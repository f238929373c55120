"""Every error is application/problem+json with a stable type; never a 500 for bad input."""

from __future__ import annotations

import uuid

import pytest

from interfaces.api.problems import PROBLEM_JSON
from tests.api.conftest import ADDRESS, bearer, day, make_app, money, parcel_body, post, register


def problem_of(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["type"].endswith(f":{slug}") and body["status"] == status
    assert body["title"] and "detail" in body
    return body


def test_malformed_json_is_a_400(client, keys) -> None:
    response = client.post("/v1/parcels", data=b'{"platform": ',
                           headers=bearer(keys.client, **{"Content-Type": "application/json"}))
    problem_of(response, 400, "malformed-request")


def test_a_body_that_is_not_json_is_a_415(client, keys) -> None:
    response = client.post("/v1/parcels", data="platform=amazon",
                           headers=bearer(keys.client, **{
                               "Content-Type": "application/x-www-form-urlencoded"}))
    problem_of(response, 415, "unsupported-media-type")


def test_a_body_over_the_limit_is_a_413(sqlite_env, keys) -> None:
    small = make_app(sqlite_env, MAX_CONTENT_LENGTH=1024).test_client()
    body = parcel_body(order_id="x" * 2000)
    response = small.post("/v1/parcels", json=body, headers=bearer(keys.client))
    problem_of(response, 413, "body-too-large")


def test_validation_lists_each_bad_field(client, keys) -> None:
    body = parcel_body(platform="ebay", site="Malaysia",
                       amount_paid={"amount": 39.8, "currency": "MYR"},
                       order_created_at="2026-03-02T09:00:00")
    del body["order_id"]
    errors = problem_of(post(client, keys.client, "/v1/parcels", body), 422,
                        "validation-error")["errors"]
    assert set(errors) == {"platform", "site", "amount_paid", "order_created_at", "order_id"}
    assert errors["amount_paid"] == {"amount": ["Not a valid string."]}


@pytest.mark.parametrize("amount", [
    {"amount": "NaN", "currency": "MYR"}, {"amount": "Infinity", "currency": "MYR"},
    {"amount": "12.345", "currency": "MYR"}, {"amount": "12", "currency": "XYZ"},
    {"amount": 12, "currency": "MYR"}, {"amount": "1e3", "currency": "MYR"}, "12.30"])
def test_money_must_be_a_decimal_string_in_a_known_currency(client, keys, amount) -> None:
    response = post(client, keys.client, "/v1/parcels", parcel_body(amount_paid=amount))
    assert "amount_paid" in problem_of(response, 422, "validation-error")["errors"]


def test_a_timestamp_without_zone_is_a_422(client, keys) -> None:
    parcel = register(client, keys.client)
    response = post(client, keys.client, f"/v1/parcels/{parcel}/delivery-failures",
                    {"reason": "refused", "occurred_at": "2026-03-05T10:00:00"})
    assert "occurred_at" in problem_of(response, 422, "validation-error")["errors"]


def test_unknown_fields_are_refused(client, keys) -> None:
    response = post(client, keys.client, "/v1/parcels", parcel_body(colour="red"))
    assert "colour" in problem_of(response, 422, "validation-error")["errors"]


@pytest.mark.parametrize("path", [
    "/v1/customs-work-list?seller_id=true&seller_id=other",
    "/v1/reports/parcels?seller_id=a&seller_id=b",
    "/v1/events?after=0&after=5"])
def test_a_query_parameter_given_twice_is_refused_not_read_as_its_first(
        client, keys, path: str) -> None:
    name = path.split("?")[1].split("=")[0]
    response = client.get(path, headers=bearer(keys.admin))
    errors = problem_of(response, 422, "validation-error")["errors"]
    assert "more than once" in str(errors) and name in str(errors)


def test_unknown_parcel_is_a_404(client, keys) -> None:
    missing = "/v1/parcels/3f0c7a7e-0000-4000-8000-000000000000"
    problem_of(client.get(missing, headers=bearer(keys.client)), 404, "parcel-not-found")
    problem_of(post(client, keys.client, f"{missing}/routes"), 404, "parcel-not-found")
    problem_of(client.get("/v1/nothing-here", headers=bearer(keys.client)), 404, "not-found")


def test_an_id_of_something_else_is_not_a_parcel(client, keys) -> None:
    address = post(client, keys.client, "/v1/return-addresses", ADDRESS).get_json()["id"]
    key_id = str(uuid.UUID(hex=keys.admin.split("_", 2)[1]))
    for other in (address, key_id):
        for path in (f"/v1/parcels/{other}", f"/v1/parcels/{other}/history"):
            problem_of(client.get(path, headers=bearer(keys.admin)), 404, "parcel-not-found")
        problem_of(post(client, keys.admin, f"/v1/parcels/{other}/delivery-attempts",
                        {"reason": "nobody home"}), 404, "parcel-not-found")


def test_tt4_rule_violation_is_a_409_naming_the_rule(client, keys) -> None:
    post(client, keys.client, "/v1/return-addresses", ADDRESS)
    parcel = register(client, keys.client)
    base = f"/v1/parcels/{parcel}"
    post(client, keys.client, f"{base}/delivery-failures",
         {"reason": "refused", "occurred_at": day(4)})
    routed = post(client, keys.client, f"{base}/routes", {"occurred_at": day(5)}).get_json()
    assert routed["status"] == "returning_to_seller"
    refused = post(client, keys.client, f"{base}/redelivery-requests", {"occurred_at": day(6)})
    body = problem_of(refused, 409, "rule-violation")
    assert body["rule"] == "TT-4" and body["detail"].startswith("TT-4")


def test_tt2_redelivery_from_the_warehouse_hold(client, keys) -> None:
    parcel = register(client, keys.client, tracking="TTTH0002", site="TH",
                      lines=[{"sku": "LAMP", "quantity": 1, "unit_price": money("450.00", "THB")}],
                      amount_paid=money("450.00", "THB"))
    base = f"/v1/parcels/{parcel}"
    post(client, keys.client, f"{base}/delivery-failures",
         {"reason": "refused", "occurred_at": day(4)})
    held = post(client, keys.client, f"{base}/routes", {"occurred_at": day(5)}).get_json()
    assert held["status"] == "held_at_warehouse"
    assert held["decision"]["hold_until"] == day(19) and held["decision"]["rule"] == "TT-2"
    again = post(client, keys.client, f"{base}/redelivery-requests", {"occurred_at": day(6)})
    assert again.status_code == 201 and again.get_json()["status"] == "redelivering"
    delivered = post(client, keys.client, f"{base}/deliveries", {"occurred_at": day(8)})
    assert delivered.get_json()["status"] == "delivered"


def test_invalid_transition_is_a_409(client, keys) -> None:
    parcel = register(client, keys.client)
    response = post(client, keys.client, f"/v1/parcels/{parcel}/receipts")
    body = problem_of(response, 409, "invalid-transition")
    assert body["facts"] == {"status": "registered", "command": "receive"}


def test_duplicate_parcel_is_a_409(client, keys) -> None:
    register(client, keys.client)
    problem_of(post(client, keys.client, "/v1/parcels", parcel_body()), 409, "duplicate-parcel")


def test_stale_if_match_is_a_412(client, keys) -> None:
    parcel = register(client, keys.client)
    path = f"/v1/parcels/{parcel}/delivery-attempts"
    body = {"reason": "nobody home", "occurred_at": day(3)}
    problem_of(post(client, keys.client, path, body, **{"If-Match": '"7"'}), 412,
               "version-conflict")
    fresh = post(client, keys.client, path, body, **{"If-Match": '"1"'})
    assert fresh.status_code == 201 and fresh.headers["ETag"] == '"2"'



@pytest.mark.parametrize("value", ["soon", '"3', '"-1"', '"3", "4"', " 3", "W/3", "", "3.0"])
def test_malformed_if_match_is_a_400_not_a_412(client, keys, value: str) -> None:
    """No precondition was evaluated on a value that is no ETag: a 400, as the document says
    (its pattern), not a 412; the parcel is unchanged."""
    parcel = register(client, keys.client)
    path = f"/v1/parcels/{parcel}/delivery-attempts"
    answer = post(client, keys.client, path, {"reason": "nobody home", "occurred_at": day(3)},
                  **{"If-Match": value})
    problem_of(answer, 400, "malformed-request")
    assert client.get(f"/v1/parcels/{parcel}", headers=bearer(keys.client)).get_json()[
        "version"] == 1


@pytest.mark.parametrize("value", ['"1"', 'W/"1"', "1", "*"])
def test_if_match_in_each_documented_form_is_evaluated(client, keys, value: str) -> None:
    parcel = register(client, keys.client)
    answer = post(client, keys.client, f"/v1/parcels/{parcel}/delivery-attempts",
                  {"reason": "nobody home", "occurred_at": day(3)}, **{"If-Match": value})
    assert answer.status_code == 201, answer.get_json()


def test_wrong_method_is_a_405(client, keys) -> None:
    response = client.delete("/v1/parcels", headers=bearer(keys.admin))
    problem_of(response, 405, "method-not-allowed")
    assert "POST" in response.headers["Allow"]


def test_unreachable_store_is_a_503_with_retry_after(tmp_path) -> None:
    app = make_app({"PERSISTENCE_MODULE": "eventsourcing.postgres",
                    "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "9",
                    "POSTGRES_CONNECT_TIMEOUT": "1", "POSTGRES_POOL_OPEN_TIMEOUT": "1"})
    client = app.test_client()
    response = client.post("/v1/parcels", json=parcel_body(),
                           headers=bearer("rlk_00000000000000000000000000000000_x"))
    assert problem_of(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "5"
    ready = client.get("/readyz")
    problem_of(ready, 503, "unavailable")
    assert client.get("/healthz").status_code == 200


def test_deactivating_an_address_twice_is_an_invalid_transition_without_a_fake_rule(
        client, keys) -> None:
    address = post(client, keys.client, "/v1/return-addresses", ADDRESS).get_json()
    path = f"/v1/return-addresses/{address['id']}/deactivations"
    body = {"reason": "moved warehouse", "occurred_at": "2026-02-01T00:00:00Z"}
    assert post(client, keys.client, path, body).status_code == 201
    again = problem_of(post(client, keys.client, path, body), 409, "invalid-transition")
    assert "rule" not in again
    assert again["facts"] == {"status": "deactivated", "command": "deactivate"}

"""Idempotency-Key: a retry answers the first result and records nothing new, even at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from tests.api.conftest import bearer, day, issue_keys, parcel_body, post, register


def events_of(client, token: str, parcel: str) -> list[str]:
    history = client.get(f"/v1/parcels/{parcel}/history", headers=bearer(token)).get_json()
    return [e["type"] for e in history["events"]]


def test_a_retry_answers_the_first_response_and_records_nothing(client, keys) -> None:
    key = {"Idempotency-Key": "reg-1"}
    first = post(client, keys.client, "/v1/parcels", parcel_body(), **key)
    retry = post(client, keys.client, "/v1/parcels", parcel_body(), **key)
    assert first.status_code == retry.status_code == 201
    assert first.get_json() == retry.get_json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    parcel = first.get_json()["id"]
    attempt = {"reason": "nobody home", "occurred_at": day(3)}
    path = f"/v1/parcels/{parcel}/delivery-attempts"
    answers = [post(client, keys.client, path, attempt, **{"Idempotency-Key": "att-1"})
               for _ in range(3)]
    assert {a.status_code for a in answers} == {201}
    assert all(a.get_json() == answers[0].get_json() for a in answers)
    assert events_of(client, keys.client, parcel) == ["ParcelRegistered",
                                                      "DeliveryAttemptFailed"]


def test_a_replayed_route_answers_the_same_decision(client, keys) -> None:
    parcel = register(client, keys.client)
    post(client, keys.client, f"/v1/parcels/{parcel}/delivery-failures", {"reason": "refused"})
    path, key = f"/v1/parcels/{parcel}/routes", {"Idempotency-Key": "route-1"}
    first = post(client, keys.client, path, {"occurred_at": day(5)}, **key)
    later = post(client, keys.client, path, {"occurred_at": day(5)},
                 **key, **{"If-Match": '"1"'})  # stale by now, but the answer is stored
    assert first.status_code == later.status_code == 201
    assert first.get_json() == later.get_json()
    assert first.get_json()["decision"]["rule"] == "TT-2"


def test_the_same_key_with_another_body_is_a_422(client, keys) -> None:
    key = {"Idempotency-Key": "reg-2"}
    assert post(client, keys.client, "/v1/parcels", parcel_body(), **key).status_code == 201
    other = post(client, keys.client, "/v1/parcels", parcel_body(tracking="TTMY0002"), **key)
    assert other.status_code == 422
    assert other.get_json()["type"].endswith(":idempotency-key-reused")


def test_keys_are_per_api_key(client, keys) -> None:
    key = {"Idempotency-Key": "shared-name"}
    assert post(client, keys.client, "/v1/parcels", parcel_body(), **key).status_code == 201
    clash = post(client, keys.client_b, "/v1/parcels", parcel_body(), **key)
    assert clash.status_code == 409  # a new request of another key: the parcel exists


def test_an_address_registration_retry_creates_one_address(client, keys) -> None:
    from tests.api.conftest import ADDRESS

    key = {"Idempotency-Key": "addr-1"}
    first = post(client, keys.client, "/v1/return-addresses", ADDRESS, **key)
    retry = post(client, keys.client, "/v1/return-addresses", ADDRESS, **key)
    assert first.get_json() == retry.get_json()
    listed = client.get("/v1/return-addresses?seller_id=s1", headers=bearer(keys.client))
    assert len(listed.get_json()["items"]) == 1


def test_ten_concurrent_retries_record_one_set_of_events(store_app: Flask) -> None:
    keys, client = issue_keys(store_app), store_app.test_client()
    parcel = register(client, keys.client)
    post(client, keys.client, f"/v1/parcels/{parcel}/delivery-failures", {"reason": "refused"})
    path = f"/v1/parcels/{parcel}/routes"

    def route(_: int):
        response = store_app.test_client().post(
            path, json={"occurred_at": day(5)},
            headers=bearer(keys.client, **{"Idempotency-Key": "race-1"}))
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(route, range(10)))
    assert {status for status, _ in answers} == {201}, answers
    assert all(body == answers[0][1] for _, body in answers)
    assert events_of(client, keys.client, parcel) == [
        "ParcelRegistered", "DeliveryFailed", "ReturnRouted", "HeldAtWarehouse"]

    def register_once(_: int):
        return store_app.test_client().post(
            "/v1/parcels", json=parcel_body(tracking="TTMY-RACE"),
            headers=bearer(keys.client, **{"Idempotency-Key": "race-2"})).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert set(pool.map(register_once, range(10))) == {201}


def test_a_malformed_idempotency_key_is_a_400(client, keys) -> None:
    for bad in ["", "x" * 201, "with space"]:
        response = post(client, keys.client, "/v1/parcels", parcel_body(),
                        **{"Idempotency-Key": bad})
        assert response.status_code == 400, bad
        assert response.mimetype == "application/problem+json"


def test_a_retried_real_name_verification_does_not_seal_again(app: Flask, client, keys) -> None:
    """LZ-1 sealing writes the subject's key outside the command's transaction: a retry
    must answer the first result without running the command, or it would bring back a
    key erased in between (crypto-shredding undone)."""
    from tests.api.test_auth import ADDRESS

    lazada = {**ADDRESS, "platform": "lazada", "country": "CN", "seller_country": "CN"}
    address = post(client, keys.client, "/v1/return-addresses", lazada).get_json()
    identity = {"name": "Wang Fang", "id_number": "ID-RETRY-4711",
                "document_front": "front-ref", "document_back": "back-ref"}
    path, key = (f"/v1/return-addresses/{address['id']}/real-name-verifications",
                 {"Idempotency-Key": "verify-1"})
    first = post(client, keys.client, path, identity, **key)
    assert first.status_code == 201, first.get_json()
    ledger = app.extensions["returns_ledger"].get()
    subject = ledger.repository.get(__import__("uuid").UUID(address["id"])).subject_id
    assert ledger.vault.erase(subject) is True
    again = post(client, keys.client, path, identity, **key)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert ledger.vault.is_erased(subject)

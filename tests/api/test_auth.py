"""API keys: roles per endpoint (403), seller scope (404), revocation, the actor recorded."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from uuid import UUID

import pytest

from interfaces.api.observability import JsonFormatter
from tests.api.conftest import ADDRESS, bearer, parcel_body, post, register

P = "/v1/parcels/3f0c7a7e-0000-4000-8000-000000000000"
A = "/v1/return-addresses/3f0c7a7e-0000-4000-8000-000000000000"
READ, WRITE, REFUND, APPROVE = ("read", "write", "refund", "approve")
ALLOWED = {"admin": {READ, WRITE, REFUND}, "client": {READ, WRITE, REFUND},
           "finance": {READ, REFUND, APPROVE}, "auditor": {READ}}
ENDPOINTS = [
    ("POST", "/v1/parcels", WRITE), ("GET", "/v1/parcels?tracking_number=X", READ),
    ("GET", P, READ), ("GET", f"{P}/history", READ),
    *[("POST", f"{P}/{sub}", WRITE) for sub in [
        "delivery-attempts", "delivery-failures", "deliveries", "return-requests", "routes",
        "redelivery-requests", "return-labels", "return-failures", "receipts", "inspections",
        "disposals", "closures", "investigations", "investigations/x-1/resolutions"]],
    ("POST", f"{P}/refunds", REFUND), ("POST", f"{P}/refunds/R-1/approvals", APPROVE),
    ("POST", "/v1/return-addresses", WRITE), ("GET", "/v1/return-addresses?seller_id=s1", READ),
    ("POST", f"{A}/real-name-verifications", WRITE), ("POST", f"{A}/deactivations", WRITE),
    ("PUT", "/v1/sku-customs-profiles", WRITE), ("POST", "/v1/sku-customs-profiles", WRITE),
]


@pytest.mark.parametrize(("method", "path", "needs"), ENDPOINTS,
                         ids=[f"{m} {p.replace(P, '{id}')}" for m, p, _ in ENDPOINTS])
def test_role_matrix(shared, method, path, needs) -> None:
    app, keys = shared
    client = app.test_client()
    for role, may in ALLOWED.items():
        token = getattr(keys, role)
        response = client.open(path, method=method, json={} if method != "GET" else None,
                               headers=bearer(token))
        if needs in may:
            assert response.status_code not in (401, 403), (role, response.get_json())
        else:
            assert response.status_code == 403, (role, response.get_json())
            assert response.get_json()["type"].endswith(":forbidden")


def test_no_key_or_a_wrong_key_is_a_401(client, keys) -> None:
    for headers in [{}, {"Authorization": "Basic abc"}, bearer("nonsense"),
                    bearer(keys.admin[:-2] + "xx"), bearer(keys.admin.replace("rlk", "xyz"))]:
        response = client.get("/v1/parcels?tracking_number=X", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_opens_nothing(app, client, keys) -> None:
    assert client.get("/v1/parcels?tracking_number=X",
                      headers=bearer(keys.client)).status_code == 200
    app.extensions["returns_ledger"].get().revoke_api_key(
        UUID(keys.ids["client"]), datetime.now(UTC))
    assert client.get("/v1/parcels?tracking_number=X",
                      headers=bearer(keys.client)).status_code == 401


def test_another_sellers_parcel_is_a_404(client, keys) -> None:
    parcel = register(client, keys.client)
    base = f"/v1/parcels/{parcel}"
    other = keys.other_seller
    for path in [base, f"{base}/history"]:
        response = client.get(path, headers=bearer(other))
        assert response.status_code == 404
        assert response.get_json()["type"].endswith(":parcel-not-found")
    assert post(client, other, f"{base}/delivery-failures",
                {"reason": "refused"}).status_code == 404
    found = client.get("/v1/parcels?tracking_number=TTMY0001", headers=bearer(other))
    assert found.get_json() == {"items": []}
    mine = client.get("/v1/parcels?tracking_number=TTMY0001", headers=bearer(keys.finance))
    assert [p["id"] for p in mine.get_json()["items"]] == [parcel]
    assert client.get(base, headers=bearer(keys.auditor)).status_code == 200


def test_another_sellers_addresses_are_out_of_reach(client, keys) -> None:
    address = post(client, keys.client, "/v1/return-addresses", ADDRESS).get_json()["id"]
    other = keys.other_seller
    assert post(client, other, "/v1/return-addresses", ADDRESS).status_code == 403
    assert client.get("/v1/return-addresses?seller_id=s1",
                      headers=bearer(other)).status_code == 403
    assert post(client, other, f"/v1/return-addresses/{address}/deactivations",
                {"reason": "moved"}).status_code == 404
    assert post(client, other, "/v1/parcels", parcel_body(seller="s1")).status_code == 403


def test_every_command_records_the_acting_key_as_actor(client, keys) -> None:
    parcel = register(client, keys.client)
    post(client, keys.admin, f"/v1/parcels/{parcel}/delivery-failures", {"reason": "refused"})
    history = client.get(f"/v1/parcels/{parcel}/history", headers=bearer(keys.auditor))
    actors = [e["actor"] for e in history.get_json()["events"]]
    assert actors == [keys.ids["client"], keys.ids["admin"]]


def test_lz1_identity_is_never_echoed_nor_logged(client, keys) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("returns_ledger").addHandler(handler)
    try:
        lazada = {**ADDRESS, "platform": "lazada", "country": "CN", "seller_country": "CN"}
        address = post(client, keys.client, "/v1/return-addresses", lazada).get_json()
        assert address["real_name_status"] == "unverified"
        identity = {"name": "Li Secretname", "id_number": "ID-SECRET-4711",
                    "document_front": "front-ref-4711", "document_back": "back-ref-4711"}
        verified = post(client, keys.client,
                        f"/v1/return-addresses/{address['id']}/real-name-verifications",
                        identity)
    finally:
        logging.getLogger("returns_ledger").removeHandler(handler)
    assert verified.status_code == 201, verified.get_json()
    assert verified.get_json()["real_name_status"] == "verified"
    text = verified.get_data(as_text=True) + stream.getvalue()
    assert stream.getvalue().count('"message": "request"') == 2
    for secret in [*identity.values(), keys.client]:
        assert secret not in text

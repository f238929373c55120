"""Auditors read every seller's history, digest and verification over HTTP, and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from application.audit.verification import LedgerAudit
from tests.api.conftest import bearer, day, post, register
from tests.integration.audit_tampering import StoreTamperer


def _failed_twice(client, keys) -> str:
    parcel = register(client, keys.client)
    post(client, keys.client, f"/v1/parcels/{parcel}/delivery-attempts",
         {"reason": "not at home", "occurred_at": day(3)})
    post(client, keys.client, f"/v1/parcels/{parcel}/delivery-attempts",
         {"reason": "shop closed", "occurred_at": day(2)})  # a late carrier scan
    return parcel


def test_auditor_reads_the_digest_and_sellers_do_not(client, keys, app) -> None:
    register(client, keys.client)
    response = client.get("/v1/audit/digest", headers=bearer(keys.auditor))
    assert response.status_code == 200
    body = response.get_json()
    expected = LedgerAudit(app.extensions["returns_ledger"].get()).digest()
    assert body["token"] == expected.token == f"{body['position']}:{body['digest']}"
    assert client.get("/v1/audit/digest", headers=bearer(keys.admin)).status_code == 200
    for token in (keys.client, keys.finance):
        assert client.get("/v1/audit/digest", headers=bearer(token)).status_code == 403
    assert client.get("/v1/audit/digest").status_code == 401


def test_auditor_verifies_any_sellers_parcel(client, keys) -> None:
    parcel = _failed_twice(client, keys)
    response = client.get(f"/v1/parcels/{parcel}/verification", headers=bearer(keys.auditor))
    assert response.status_code == 200
    assert response.get_json()["ok"] is True and response.get_json()["events"] == 3
    own = client.get(f"/v1/parcels/{parcel}/verification", headers=bearer(keys.client))
    assert own.status_code == 200
    other = client.get(f"/v1/parcels/{parcel}/verification", headers=bearer(keys.other_seller))
    assert other.status_code == 404


def test_verification_reports_tampering_in_the_store(client, keys, sqlite_env) -> None:
    parcel = _failed_twice(client, keys)
    tamper = StoreTamperer(sqlite_env)
    tamper.delete(UUID(parcel), 2)
    body = client.get(f"/v1/parcels/{parcel}/verification",
                      headers=bearer(keys.auditor)).get_json()
    assert body["ok"] is False
    assert (body["breach"]["reason"], body["breach"]["version"]) == ("missing_version", 2)


def test_auditor_cannot_change_anything(client, keys) -> None:
    parcel = register(client, keys.client)
    response = post(client, keys.auditor, f"/v1/parcels/{parcel}/delivery-failures",
                    {"reason": "refused"})
    assert response.status_code == 403
    assert client.post("/v1/audit/digest", headers=bearer(keys.auditor)).status_code == 405


def test_history_by_version_with_state(client, keys) -> None:
    parcel = _failed_twice(client, keys)
    body = client.get(f"/v1/parcels/{parcel}/history?version=2",
                      headers=bearer(keys.auditor)).get_json()
    assert [e["version"] for e in body["events"]] == [1, 2]
    assert body["state"]["version"] == 2 and body["view"] == "recorded"
    assert client.get(f"/v1/parcels/{parcel}/history?version=0",
                      headers=bearer(keys.auditor)).status_code == 422


def test_history_as_recorded_before_a_moment(client, keys) -> None:
    parcel = register(client, keys.client)
    between = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    post(client, keys.client, f"/v1/parcels/{parcel}/delivery-attempts",
         {"reason": "not at home", "occurred_at": day(3)})
    body = client.get(f"/v1/parcels/{parcel}/history", query_string={
        "recorded_before": between}, headers=bearer(keys.auditor)).get_json()
    assert [e["type"] for e in body["events"]] == ["ParcelRegistered"]
    assert body["state"]["status"] == "registered"


def test_tt7_history_by_business_time_flags_the_late_scan(client, keys) -> None:
    parcel = _failed_twice(client, keys)
    body = client.get(f"/v1/parcels/{parcel}/history", query_string={
        "occurred_before": day(2)}, headers=bearer(keys.auditor)).get_json()
    assert body["view"] == "business"
    assert [e["version"] for e in body["events"]] == [1, 3]
    assert body["events"][1]["late"]["recorded_as_version"] == 3
    assert "late" not in body["events"][0]  # only late-recorded events carry it


def test_verification_of_an_unknown_parcel_is_a_404(client, keys) -> None:
    response = client.get("/v1/parcels/00000000-0000-0000-0000-000000000001/verification",
                          headers=bearer(keys.auditor))
    assert response.status_code == 404
    assert response.get_json()["type"].endswith(":parcel-not-found")

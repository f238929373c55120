"""Security: sellers isolated on every parcel endpoint, keys hashed and compared in constant
time, no keys or identity data in logs, safe response headers."""

from __future__ import annotations

import hmac
import inspect
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from application.access import ApiKeys
from domain.api_key import ApiKey
from tests.api.conftest import bearer, issue_keys, make_app, parcel_body

WHEN = "2026-03-05T10:00:00+08:00"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Any, dict, str]]:
    db = tmp_path_factory.mktemp("security") / "ledger.sqlite3"
    app = make_app({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    keys = issue_keys(app)
    ledger = app.extensions["returns_ledger"].get()
    other_finance = ledger.issue_api_key("finance", "s2", datetime.now(UTC),
                                         owner="fin-s2").token
    answer = app.test_client().post("/v1/parcels", json=parcel_body("SECRET-TRACK-1"),
                                    headers=bearer(keys.client))
    assert answer.status_code == 201
    spec = app.test_client().get("/openapi.json").get_json()
    yield app, keys, {"spec": spec, "other_finance": other_finance}, answer.get_json()["id"]
    app.extensions["returns_ledger"].close()


def example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A minimal valid value for an OpenAPI schema (required fields only)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in ("MoneyRequest", "PositiveMoneyRequest"):
            return {"amount": "1.00", "currency": "MYR"}
        return example(spec["components"]["schemas"][name], spec)
    if "allOf" in schema:
        return example(schema["allOf"][0], spec)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: example(props[k], spec) for k in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), spec)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return WHEN
    return "x-1"


def parcel_endpoints(spec: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(method, path, a valid body) of every operation on one parcel, from the spec."""
    out = []
    for path, operations in spec["paths"].items():
        if "{parcel_id}" not in path:
            continue
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            body = operation.get("requestBody", {}).get("content", {}).get(
                "application/json", {}).get("schema")
            out.append((method.upper(), path, example(body, spec) if body else None))
    return out


def test_cross_seller_access_to_any_parcel_endpoint_is_a_404_without_data(world) -> None:
    app, keys, extra, parcel = world
    client = app.test_client()
    endpoints = parcel_endpoints(extra["spec"])
    assert len(endpoints) >= 20  # every command, query and refund step on a parcel
    missing = "3f0c7a7e-0000-4000-8000-000000000000"
    version_before = client.get(f"/v1/parcels/{parcel}", headers=bearer(keys.client)).json
    for method, template, body in endpoints:
        path = re.sub(r"\{(\w+)\}", lambda m: {"parcel_id": parcel}.get(m.group(1), "R-1"),
                      template)
        for token in (keys.other_seller, extra["other_finance"]):
            answer = client.open(path, method=method, json=body, headers=bearer(token))
            if answer.status_code != 403:  # the other role of seller s2 may do this
                break
        assert answer.status_code == 404, (method, template, answer.status_code, answer.json)
        assert answer.json["type"].endswith(":parcel-not-found"), (method, template)
        text = answer.get_data(as_text=True)
        assert "SECRET-TRACK-1" not in text and "O-SECRET" not in text
        # Indistinguishable from a parcel that does not exist.
        ghost = client.open(path.replace(parcel, missing), method=method, json=body,
                            headers=bearer(token))
        assert (ghost.status_code, ghost.json["type"]) == (404, answer.json["type"])
    after = client.get(f"/v1/parcels/{parcel}", headers=bearer(keys.client)).json
    assert after == version_before  # nothing another seller sent was recorded
    found = client.get("/v1/parcels?tracking_number=SECRET-TRACK-1",
                       headers=bearer(keys.other_seller))
    assert found.json == {"items": []}


def test_api_keys_are_stored_only_hashed(world) -> None:
    app, keys, extra, _ = world
    ledger = app.extensions["returns_ledger"].get()
    tokens = [keys.admin, keys.client, keys.client_b, keys.finance, keys.finance_b,
              keys.auditor, keys.other_seller, extra["other_finance"]]
    secrets = [t.split("_", 2)[2] for t in tokens]  # rlk_<key id>_<secret>
    assert all(len(s) >= 40 for s in secrets)
    stored = ledger.recorder.select_notifications(1, 100_000)
    assert len(stored) > len(tokens)
    for record in stored:
        blobs = [record.state]
        if ledger.mapper.compressor is not None:
            blobs.append(ledger.mapper.compressor.decompress(record.state))
        for blob in blobs:
            for secret in secrets:
                assert secret.encode() not in blob, record.topic


def test_api_keys_are_compared_in_constant_time() -> None:
    assert "hmac.compare_digest(" in inspect.getsource(ApiKey.matches)
    assert hmac.compare_digest is not None
    source = inspect.getsource(ApiKeys.authenticate)
    assert "key.matches(" in source and "secret_hash ==" not in source


def test_responses_carry_nosniff_and_no_server_version(world) -> None:
    app, keys, _, parcel = world
    client = app.test_client()
    for answer in [client.get("/healthz"), client.get("/openapi.json"),
                   client.get(f"/v1/parcels/{parcel}", headers=bearer(keys.client)),
                   client.get("/v1/parcels/nope", headers=bearer(keys.client)),
                   client.post("/v1/parcels", data=b"{", headers=bearer(
                       keys.client, **{"Content-Type": "application/json"}))]:
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert not re.search(r"\d", answer.headers.get("Server", ""))

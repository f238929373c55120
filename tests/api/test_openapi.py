"""The published contract: /openapi.json is valid OpenAPI 3, and the API keeps to it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from tests.api.conftest import bearer, issue_keys, register
from tests.api.schemathesis_hooks import fresh_idempotency_key

TOTAL_EXAMPLES = 200  # per key and generation mode, spread over every operation
# The suite's checks and statuses; the CLI's [auth] (a key from the environment) left out,
# as each test sends its own key.
CONFIG = SchemathesisConfig.from_dict({
    name: value for name, value in tomllib.loads(
        Path(__file__).with_name("schemathesis.toml").read_text()).items()
    if name != "auth"})


def test_openapi_document_is_valid_openapi_3(client) -> None:
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in ["/v1/parcels", "/v1/parcels/{parcel_id}", "/v1/parcels/{parcel_id}/history",
                 "/v1/parcels/{parcel_id}/routes", "/v1/parcels/{parcel_id}/refunds",
                 "/v1/parcels/{parcel_id}/refunds/{reference}/approvals",
                 "/v1/return-addresses", "/v1/sku-customs-profiles"]:
        assert path in paths
    routes = paths["/v1/parcels/{parcel_id}/routes"]["post"]
    headers = {p["name"] for p in routes["parameters"] if p["in"] == "header"}
    assert headers == {"Idempotency-Key", "If-Match"}
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_works_offline(client) -> None:
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in page and "/openapi.json" in page
    assert "http://" not in page and "https://" not in page  # no CDN
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.get_data()) > 100_000


@pytest.mark.slow
@pytest.mark.parametrize("role", ["admin", "finance"])
def test_fuzzed_requests_keep_to_the_contract(app: Flask, role: str) -> None:
    """Schemathesis over every operation with every check (tests/api/schemathesis.toml):
    no 5xx; answers as documented (status, content type, headers, body); schema-valid
    requests accepted, schema-invalid ones refused; with an admin key and a finance key."""
    keys, client = issue_keys(app), app.test_client()
    token = getattr(keys, role)
    known = register(client, keys.admin)
    schema = contract_schema(app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    per_operation = max(4, TOTAL_EXAMPLES // len(operations))
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, known, token, per_operation)


def contract_schema(app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)


def _fuzz(operation: Any, mode: GenerationMode, known: str, token: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck),
              phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        # Half the valid cases hit a real parcel, so the commands reach the domain rules.
        if (mode is GenerationMode.POSITIVE and case.path_parameters
                and "parcel_id" in case.path_parameters and hash(str(case.body)) % 2 == 0):
            case.path_parameters["parcel_id"] = known
        fresh_idempotency_key(case)
        case.call_and_validate(headers=bearer(token))  # as the CLI's -H: the run's own key

    run()


def test_every_request_schema_has_a_realistic_example_that_the_api_accepts(app: Flask) -> None:
    """What /docs' "Try it out" sends (each property's example) is a valid request: the
    registration is stored as the example says, and each parcel command validates."""
    keys, client = issue_keys(app), app.test_client()
    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    requests = [name for name in schemas if name.endswith("Request")
                and name not in ("MoneyRequest", "PositiveMoneyRequest")]
    assert len(requests) >= 20
    for name in requests:
        example = example_of(schemas, schemas[name])
        for prop, value in schemas[name].get("properties", {}).items():
            # an example, or a default (null: "leave it out"), or an object that has them
            assert {"example", "default", "$ref", "allOf"} & set(value) or "items" in value \
                and {"$ref", "example"} & set(value["items"]), f"{name}.{prop}"
        if name == "RegisterParcelRequest":
            answer = client.post("/v1/parcels", json=example, headers=bearer(keys.admin))
            assert answer.status_code == 201, answer.get_json()
            stored = client.get(f"/v1/parcels/{answer.get_json()['id']}",
                                headers=bearer(keys.admin)).get_json()
            assert (stored["site"], stored["seller_id"], stored["lines"][0]["quantity"]) == (
                "MY", "seller-my-001", 2)
            assert stored["amount_paid"] == {"amount": "39.80", "currency": "MYR"}
            parcel = answer.get_json()["id"]
    sent = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get(
                "application/json") if isinstance(operation, dict) else None
            if not body or not path.startswith("/v1/parcels/{parcel_id}/"):
                continue
            url = path.replace("{parcel_id}", parcel).replace("{reference}", "RF-2026-0001")
            answer = client.open(url.replace("{investigation_id}", "failed_return-1"),
                                 method=method.upper(), headers=bearer(keys.admin),
                                 json=example_of(schemas, body["schema"]))
            sent += 1
            problem = answer.get_json()
            assert answer.status_code not in (400, 422) or problem["type"].endswith(
                ":invalid-value"), (path, problem)  # a domain rule, not the schema
    assert sent >= 15


def example_of(schemas: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The request Swagger UI builds from the examples (refs and arrays followed)."""
    if "$ref" in schema:
        return example_of(schemas, schemas[schema["$ref"].rsplit("/", 1)[1]])
    if "example" in schema:
        return schema["example"]
    if "default" in schema:
        return schema["default"]
    if "allOf" in schema:
        return example_of(schemas, schema["allOf"][0])
    if schema.get("type") == "array":
        return [example_of(schemas, schema["items"])]
    return {prop: example_of(schemas, value)
            for prop, value in schema.get("properties", {}).items()}


def test_the_document_states_what_the_server_enforces(client, keys) -> None:
    """Each rule the server checks is in the schema (not in a vendor extension), and the
    server checks it exactly as written: the years 2000-2099, money in ASCII digits without
    a sign, nullable money as Money, the If-Match and Idempotency-Key forms."""
    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    occurred = schemas["RequestReturnRequest"]["properties"]["occurred_at"]
    assert not {k for k in occurred if k.startswith("x-")}
    assert occurred["pattern"].startswith("^20[0-9]{2}-")
    amount = schemas["MoneyRequest"]["properties"]["amount"]["pattern"]
    assert amount.startswith("^[0-9]") and r"\d" not in amount and "-?" not in amount
    cost = schemas["RequestReturnRequest"]["properties"]["return_shipping_cost"]
    assert cost["allOf"] == [{"$ref": "#/components/schemas/MoneyRequest"}]
    assert cost["nullable"] is True and "anyOf" not in cost
    route = spec["paths"]["/v1/parcels/{parcel_id}/routes"]["post"]["parameters"]
    headers = {p["name"]: p["schema"] for p in route if p["in"] == "header"}
    assert headers["If-Match"]["pattern"] and headers["Idempotency-Key"]["pattern"] == (
        "^[!-~]{1,200}$")
    # the server agrees with the patterns, at their edges
    parcel = register(client, keys.admin)
    path = f"/v1/parcels/{parcel}/delivery-attempts"
    for when, status in [("2000-01-01T00:00:00+01:00", 201), ("2099-12-31T23:59:59-02:00", 201),
                         ("1999-12-31T23:59:59Z", 422), ("2100-01-01T00:00:00Z", 422),
                         ("2026-03-05T10:00Z", 422), ("2026-02-30T10:00:00Z", 422),
                         ("2026-03-05 10:00:00Z", 422), ("2026-03-05T10:00:00Z\n", 422)]:
        answer = client.post(path, json={"reason": "nobody home", "occurred_at": when},
                             headers=bearer(keys.admin))
        body = answer.get_json()
        if status == 201 and answer.status_code == 422:
            # the schema's edge passed; RL-3 (before the order, or in the future) refused it
            assert body.get("rule") == "RL-3", (when, body)
        else:
            assert answer.status_code == status and "rule" not in body, (when, body)
    assert client.post(path, json={"reason": "x"}, headers=bearer(
        keys.admin, **{"Idempotency-Key": "with space"})).status_code == 400


def test_an_import_answered_as_it_is_documents_its_200(client) -> None:
    """A finished import retried, or a delivery pushed twice, is 200 with the import: the
    document listed only 202 (found by fuzzing: an undocumented answer)."""
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/v1/imports", "/v1/imports/{import_id}/retries", "/v1/intake/{source}"):
        responses = paths[path]["post"]["responses"]
        assert {"200", "202"} <= set(responses), path
        assert "application/json" in responses["200"]["content"], path

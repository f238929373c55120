"""The published contract: /openapi.json is valid OpenAPI 3, and the API keeps to it."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate

from tests.api.conftest import bearer, issue_keys, register
from tests.api.schema_checks import CHECKS

TOTAL_EXAMPLES = 360  # a few hundred, spread over every operation


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
def test_fuzzed_requests_never_get_a_5xx_and_conform_to_the_spec(app: Flask) -> None:
    """Schemathesis over every operation: no 5xx, answers as documented."""
    keys, client = issue_keys(app), app.test_client()
    known = register(client, keys.admin)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    per_operation = max(6, TOTAL_EXAMPLES // len(operations))
    for operation in operations:
        _fuzz(operation, known, keys.admin, per_operation)


def _fuzz(operation, known: str, token: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck),
              phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
    @hypothesis.given(case=operation.as_strategy())
    def run(case) -> None:
        # Half the cases hit a real parcel, so the commands reach the domain rules.
        if (case.path_parameters and "parcel_id" in case.path_parameters
                and hash(str(case.body)) % 2 == 0):
            case.path_parameters["parcel_id"] = known
        case.call_and_validate(headers=bearer(token), checks=CHECKS)

    run()

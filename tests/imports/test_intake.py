"""POST /v1/intake/{source}: signed with a per-source secret, answered at once (202),
imported in the background in the secret's seller scope, outcomes readable per delivery."""

from __future__ import annotations

import hashlib
import hmac
import time

from application.imports.intake import IntakeSecrets
from tests.api.conftest import bearer
from tests.imports.support import as_jsonl, registration, step, wait_done


def _signed(body: bytes, secret: str, at: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Returns-Ledger-Signature": f"t={stamp},v1={mac}"}


def _secrets(app) -> IntakeSecrets:
    return IntakeSecrets(app.extensions["returns_ledger"].get())


def test_a_signed_delivery_is_imported_in_its_sellers_scope(app, client, keys):
    made = _secrets(app).create("canonical", "s1")
    body = as_jsonl([registration(), step("delivery-attempts", 2, reason="nobody home")])
    answer = client.post("/v1/intake/canonical", data=body, headers=_signed(body, made.secret),
                         content_type="application/x-ndjson")
    assert answer.status_code == 202, answer.get_json()
    report = wait_done(client, keys.client, answer.headers["Location"])
    assert report["origin"] == "intake" and report["seller_scope"] == "s1"
    assert report["summary"]["applied"] == 2
    again = client.post("/v1/intake/canonical", data=body, headers=_signed(body, made.secret),
                        content_type="application/x-ndjson")
    assert again.status_code == 200 and again.get_json()["id"] == report["id"]
    # Another seller's key does not see the delivery.
    assert client.get(answer.headers["Location"], headers=bearer(keys.other_seller)
                      ).status_code == 404


def test_unsigned_wrongly_signed_stale_and_revoked_deliveries_are_401(app, client):
    secrets = _secrets(app)
    old = secrets.create("canonical", "s1")
    body = as_jsonl([registration()])
    for headers in ({}, _signed(body, "not-the-secret"), _signed(body, old.secret, at=1000),
                    _signed(body + b" ", old.secret) | {"X-Extra": "1"}):
        answer = client.post("/v1/intake/canonical", data=body, headers=headers,
                             content_type="application/x-ndjson")
        assert answer.status_code == 401
        assert answer.mimetype == "application/problem+json"
    new = secrets.create("canonical", "s1", rotate=True)
    assert client.post("/v1/intake/canonical", data=body, headers=_signed(body, old.secret),
                       content_type="application/x-ndjson").status_code == 401
    assert client.post("/v1/intake/canonical", data=body, headers=_signed(body, new.secret),
                       content_type="application/x-ndjson").status_code == 202
    assert client.post("/v1/intake/nope", data=body, headers=_signed(body, new.secret),
                       content_type="application/x-ndjson").status_code == 422


def test_a_delivery_over_the_intake_limit_is_413_not_read(app, client):
    made = _secrets(app).create("canonical", "s1")
    body = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    answer = client.post("/v1/intake/canonical", data=body, headers=_signed(body, made.secret),
                         content_type="application/x-ndjson")
    assert answer.status_code == 413


def test_a_json_delivery_that_does_not_parse_is_400_before_anything_else(app, client):
    for body in (b'{"a": 1, "a": 2}', b"{broken", b'"\\ud800"'):
        answer = client.post("/v1/intake/canonical", data=body,
                             content_type="application/json")
        assert answer.status_code == 400, body

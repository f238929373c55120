"""The source formats through the import engine, on SQLite and PostgreSQL: carrier scans
from AfterShip's example files applied to a registered parcel, out of order and twice, a
webhook whose every checkpoint counts, and a marketplace return from request to receipt.
The fixtures (`client`, `keys`: the API on SQLite and PostgreSQL) are the import tests'
own (tests/imports/conftest.py). Skipped, saying so, while the engine is not in this tree."""

from __future__ import annotations

import random
from pathlib import Path

from tests.api.conftest import bearer
from tests.imports.support import as_csv, imported, registration, step, wait_done

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples" / "imports"
TN = "JTMY00012345"


def _parcel(client, token: str, tn: str) -> dict:
    answer = client.get(f"/v1/parcels?tracking_number={tn}", headers=bearer(token))
    [parcel] = answer.get_json()["items"]
    return parcel


def _register(client, token, tn: str = TN):
    report = imported(client, token, as_csv([registration(tn)]))
    assert report["summary"]["applied"] == 1, report


def test_tt7_aftership_csv_applies_each_scan_once(client, keys):
    _register(client, keys.client)
    report = imported(client, keys.client, (EXAMPLES / "aftership.csv").read_bytes(),
                      fmt="aftership")
    lines = {line["line_no"]: line for line in report["lines"]}
    assert lines[2]["outcome"] == "ignored" and lines[2]["rule"] == "AfterShip:InTransit_002"
    assert lines[6]["source_key"] == lines[4]["source_key"]  # line 6 repeats line 4's scan
    assert lines[6]["version"] == lines[4]["version"]  # ... and changes nothing
    assert lines[7]["outcome"] == "waiting"  # a tracking number the ledger does not know (yet)
    parcel = _parcel(client, keys.client, TN)
    assert parcel["attempts"] == 2 and parcel["status"] == "delivery_failed"


def test_tt7_scans_in_any_order_end_in_the_same_state(client, keys):
    _register(client, keys.client)
    header, *lines = (EXAMPLES / "aftership.csv").read_bytes().splitlines()
    random.Random(7).shuffle(lines)
    imported(client, keys.client, b"\n".join([header, *lines, *lines[:3]]), fmt="aftership")
    parcel = _parcel(client, keys.client, TN)
    assert parcel["attempts"] == 2 and parcel["status"] == "delivery_failed"


def test_every_checkpoint_of_a_webhook_counts_and_a_resent_history_applies_once(client, keys):
    _register(client, keys.client)
    body = (EXAMPLES / "aftership-webhook.json").read_bytes()
    first = imported(client, keys.client, body, fmt="aftership", mimetype="application/json")
    assert first["summary"]["applied"] == 2, first["lines"]
    parcel = _parcel(client, keys.client, TN)
    assert parcel["attempts"] == 1 and parcel["status"] == "delivery_failed"
    again = imported(client, keys.client, body.replace(b'"ts": 1772787900', b'"ts": 1772790000'),
                     fmt="aftership", mimetype="application/json")
    assert again["summary"]["already_applied"] == 2, again["lines"]


def test_tt1_tiktok_shop_return_after_delivery_is_requested_and_the_route_refused(client, keys):
    """A delivered TikTok Shop parcel, then its return's statuses as TikTok Shop exports
    them: the request is recorded; the seller's approval maps to the route, which the
    ledger's TikTok Shop rules refuse (TT-1 routes only a failed delivery), reported as the
    API would; nothing is guessed around it. The lines again, in another file, change
    nothing."""
    tn = "TTMY-RET-1"
    imported(client, keys.client, as_csv([registration(tn), step("deliveries", 3, tn)]))
    example = (EXAMPLES / "tiktok_shop.csv").read_bytes().replace(
        b"576461413038785752", f"O-{tn}".encode())
    first = imported(client, keys.client, example, fmt="tiktok_shop")
    lines = {(line["line_no"], line["part"]): line for line in first["lines"]}
    assert lines[(2, 0)]["outcome"] == "applied"
    assert lines[(3, 0)]["outcome"] == "refused" and lines[(3, 0)]["problem_rule"] == "TT-1"
    assert lines[(4, 0)]["outcome"] == lines[(6, 0)]["outcome"] == "ignored"
    assert _parcel(client, keys.client, tn)["status"] == "return_requested"
    again = imported(client, keys.client, example + b"\n", fmt="tiktok_shop")  # another file
    assert again["summary"]["applied"] == 0 and again["summary"]["already_applied"] == 1


def _intake(app):
    from application.imports.intake import IntakeSecrets
    return IntakeSecrets(app.extensions["returns_ledger"].get())


def test_pushed_webhooks_are_verified_in_each_sources_own_scheme(app, client, keys):
    """AfterShip's webhook signed as AfterShip signs it (`aftership-hmac-sha256`) and
    TikTok Shop's as TikTok Shop does (`Authorization`, app key + body) are imported in the
    secret's seller scope; the same bodies with a wrong or missing signature are refused."""
    import base64
    import hashlib
    import hmac

    _register(client, keys.client)
    secret = _intake(app).create("aftership", "s1").secret
    body = (EXAMPLES / "aftership-webhook.json").read_bytes()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    answer = client.post("/v1/intake/aftership", data=body, content_type="application/json",
                         headers={"aftership-hmac-sha256": signature.decode()})
    assert answer.status_code == 202, answer.get_json()
    report = wait_done(client, keys.client, answer.headers["Location"])
    assert report["origin"] == "intake" and report["summary"]["unreadable"] == 0
    forged = client.post("/v1/intake/aftership", data=body + b" ", content_type="application/json",
                         headers={"aftership-hmac-sha256": signature.decode()})
    assert forged.status_code in (401, 403), forged.get_json()
    unsigned = client.post("/v1/intake/aftership", data=body, content_type="application/json")
    assert unsigned.status_code in (401, 403)

    app_secret = _intake(app).create("tiktok_shop", "s1", secret="6abc123:s3cr3t").secret
    assert app_secret == "6abc123:s3cr3t"
    hook = (EXAMPLES / "tiktok_shop-webhook.json").read_bytes()
    mac = hmac.new(b"s3cr3t", b"6abc123" + hook, hashlib.sha256).hexdigest()
    answer = client.post("/v1/intake/tiktok_shop", data=hook, content_type="application/json",
                         headers={"Authorization": mac})
    assert answer.status_code == 202, answer.get_json()
    wrong = hmac.new(b"other", b"6abc123" + hook, hashlib.sha256).hexdigest()
    assert client.post("/v1/intake/tiktok_shop", data=hook, content_type="application/json",
                       headers={"Authorization": wrong}).status_code in (401, 403)

"""AM-4 compares people, not keys: a key belongs to a person, and actors are shown by name."""

from __future__ import annotations

import csv
import html
import io
import secrets
from uuid import uuid4

import pytest
from click.testing import CliRunner
from flask import Flask

from application.access import KEY_PREFIX, hash_key
from domain.api_key import ApiKey
from domain.errors import InvalidValueError
from interfaces.cli import main
from tests.api.conftest import NOW, Keys, bearer, post
from tests.api.test_finance_rules import amazon_inspected, refund
from tests.conftest import TEST_PERSONAL_DATA_KEY
from tests.integration.projection_support import catch_up
from tests.web.conftest import signed_in


def waiting_refund(app: Flask, keys: Keys) -> str:
    """R-BIG (899 EUR, above the AM-4 threshold) requested by fin-a's first key."""
    client = app.test_client()
    base = amazon_inspected(client, keys, seller_fault=True)
    asked = post(client, keys.finance, f"{base}/refunds", refund("R-BIG", item="899.00"))
    assert asked.get_json()["refund"]["status"] == "requested", asked.get_json()
    return base


def test_am4_one_person_with_two_keys_cannot_approve_their_own_refund(app: Flask,
                                                                       keys: Keys) -> None:
    base = waiting_refund(app, keys)
    client = app.test_client()
    own = post(client, keys.finance_twin, f"{base}/refunds/R-BIG/approvals", {})
    assert own.status_code == 409 and own.get_json()["rule"] == "AM-4", own.get_json()
    state = client.get(base, headers=bearer(keys.finance)).get_json()
    assert state["refunds"][0]["status"] == "requested"
    other = post(client, keys.finance_b, f"{base}/refunds/R-BIG/approvals", {})
    assert other.status_code == 201 and other.get_json()["refund"]["status"] == "issued"


def test_am4_an_unowned_finance_key_cannot_approve(app: Flask, keys: Keys) -> None:
    base = waiting_refund(app, keys)
    ledger = app.extensions["returns_ledger"].get()
    legacy = ledger.issue_api_key("client", "s1", NOW, label="old laptop").token
    client = app.test_client()
    # A client key never approves (403); an unowned finance key is made below as an old
    # store would hold it: issued before owners existed.
    assert post(client, legacy, f"{base}/refunds/R-BIG/approvals", {}).status_code == 403
    unowned = _legacy_finance_key(app)
    refused = post(client, unowned, f"{base}/refunds/R-BIG/approvals", {})
    assert refused.status_code == 409 and refused.get_json()["rule"] == "AM-4"
    assert "owner" in refused.get_json()["detail"]
    failed = post(client, unowned, f"{base}/refunds/R-BIG/failures", {"reason": "bounced"})
    assert failed.status_code == 409 and failed.get_json()["rule"] == "AM-4"


def _legacy_finance_key(app: Flask) -> str:
    """A finance key without owner, as recorded before owners were required."""
    ledger = app.extensions["returns_ledger"].get()
    key_id = uuid4()
    token = f"{KEY_PREFIX}_{key_id.hex}_{secrets.token_urlsafe(32)}"
    key = ApiKey._create(ApiKey.ApiKeyIssued, id=key_id, role="finance", seller_id="s1",
                         secret_hash=hash_key(token), label="before owners", owner=None,
                         occurred_at=NOW, actor="system")
    ring = ledger._key_ring()
    ring.list_key(key.id)
    ledger.save(ring, key)
    return token


def test_a_finance_key_needs_an_owner(app: Flask) -> None:
    ledger = app.extensions["returns_ledger"].get()
    with pytest.raises(InvalidValueError, match="owner"):
        ledger.issue_api_key("finance", "s1", NOW)
    with pytest.raises(InvalidValueError, match="owner"):
        ledger.issue_api_key("finance", "s1", NOW, owner="has space")
    assert ledger.issue_api_key("finance", "s1", NOW, owner=" Alice@Example.com ").key.owner \
        == "alice@example.com"


def test_history_shows_the_person_and_an_unowned_keys_label(app: Flask, keys: Keys) -> None:
    base = waiting_refund(app, keys)
    client = app.test_client()
    assert post(client, keys.finance_b, f"{base}/refunds/R-BIG/approvals", {}).status_code \
        == 201
    history = client.get(f"{base}/history", headers=bearer(keys.auditor)).get_json()["events"]
    by_type = {e["type"]: e for e in history}
    assert by_type["RefundRequested"]["actor"] == "person:fin-a"
    assert by_type["RefundRequested"]["actor_owner"] == "fin-a"
    assert by_type["RefundApproved"]["actor_owner"] == "fin-b"
    registered = by_type["ParcelRegistered"]  # by the client key, which has no owner
    assert registered["actor"] == keys.ids["client"]
    assert registered["actor_owner"] == "unowned"
    assert registered["actor_key_label"] == "client"


def test_every_place_that_shows_an_actor_shows_the_person_or_the_unowned_keys_label(
        app: Flask, keys: Keys, sqlite_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`audit history`, the web timeline, the waiting-approval list, the refunds table and
    the refunds CSV: fin-a's refund reads as fin-a, the client key's registration as
    "unowned key 'client' <key id>"."""
    base = waiting_refund(app, keys)
    parcel_id = base.rsplit("/", 1)[1]
    unowned = f"unowned key 'client' {keys.ids['client']}"
    catch_up(sqlite_env, app.extensions["returns_ledger"].get())
    for name, value in {**sqlite_env, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}.items():
        monkeypatch.setenv(name, value)
    shown = CliRunner().invoke(main, ["audit", "history", parcel_id])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert any("ParcelRegistered" in line and f"by {unowned}" in line for line in lines)
    assert any("RefundRequested" in line and "by fin-a" in line for line in lines), lines
    web = signed_in(app, keys.finance_b)
    timeline = html.unescape(web.get(f"/web/parcels/{parcel_id}").get_data(True))
    assert unowned in timeline and "fin-a" in timeline
    assert keys.ids["finance"] not in timeline  # the person, not fin-a's key
    waiting = html.unescape(web.get("/web/finance").get_data(True))
    assert "R-BIG" in waiting and "by fin-a" in waiting
    table = html.unescape(web.get("/web/finance/refunds").get_data(True))
    assert "asked by fin-a" in table
    [row] = csv.DictReader(io.StringIO(web.get("/web/finance/refunds.csv").get_data(True)))
    assert (row["requested_by"], row["requested_by_owner"]) == ("person:fin-a", "fin-a")

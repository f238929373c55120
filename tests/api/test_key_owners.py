"""AM-4 compares people, not keys: a key belongs to a person, its events name the person and
the key that acted, and actors are shown by person, key label and key id."""

from __future__ import annotations

import csv
import html
import io
import json
import secrets
import time
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from click.testing import CliRunner
from flask import Flask

from application.access import KEY_PREFIX, hash_key
from domain.api_key import ApiKey
from domain.errors import InvalidValueError
from domain.money import Money
from domain.values import RefundComponent
from interfaces.cli import main
from tests.api.conftest import NOW, Keys, bearer, day, post
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


def two_keys_of_one_person(app: Flask, keys: Keys) -> str:
    """fin-a asks for R-BIG with the key labelled `finance` and for R-SHIP (5.99 EUR
    shipping, waiting too: AM-4 counts R-BIG) with `finance_twin`; fin-b approves R-SHIP."""
    base = waiting_refund(app, keys)
    client = app.test_client()
    asked = post(client, keys.finance_twin, f"{base}/refunds", refund("R-SHIP", shipping="5.99"))
    assert asked.get_json()["refund"]["status"] == "requested", asked.get_json()
    approved = post(client, keys.finance_b, f"{base}/refunds/R-SHIP/approvals", {})
    assert approved.status_code == 201, approved.get_json()
    return base


def shown(keys: Keys, name: str, owner: str) -> str:
    """An owned key's actor as every page and `audit history` show it."""
    return f"{owner} key '{name}' {keys.ids[name]}"


def test_history_shows_which_key_of_a_person_acted_and_an_unowned_keys_label(
        app: Flask, keys: Keys) -> None:
    base = two_keys_of_one_person(app, keys)
    client = app.test_client()
    history = client.get(f"{base}/history", headers=bearer(keys.auditor)).get_json()["events"]
    acted = [(e["type"], e["data"].get("reference"), e["actor"], e["actor_owner"],
              e["actor_key_label"], e["actor_key_id"]) for e in history
             if e["type"].startswith("Refund")]
    ids = keys.ids
    assert acted == [
        ("RefundRequested", "R-BIG", f"person:fin-a/key:{ids['finance']}", "fin-a",
         "finance", ids["finance"]),
        ("RefundRequested", "R-SHIP", f"person:fin-a/key:{ids['finance_twin']}", "fin-a",
         "finance_twin", ids["finance_twin"]),
        ("RefundApproved", "R-SHIP", f"person:fin-b/key:{ids['finance_b']}", "fin-b",
         "finance_b", ids["finance_b"]),
        ("RefundIssued", "R-SHIP", f"person:fin-b/key:{ids['finance_b']}", "fin-b",
         "finance_b", ids["finance_b"])]
    registered = history[0]  # by the client key, which has no owner
    assert registered["type"] == "ParcelRegistered"
    assert (registered["actor"], registered["actor_owner"], registered["actor_key_label"],
            registered["actor_key_id"]) == (ids["client"], "unowned", "client", ids["client"])


def test_am4_the_other_key_of_the_requester_still_cannot_approve_nor_sees_a_button(
        app: Flask, keys: Keys, sqlite_env: dict[str, str]) -> None:
    """The actor names the key, but four-eyes compares people: R-BIG, asked with fin-a's
    `finance` key, is refused to `finance_twin` over HTTP and has no button on its page."""
    base = waiting_refund(app, keys)
    client = app.test_client()
    own = post(client, keys.finance_twin, f"{base}/refunds/R-BIG/approvals", {})
    assert own.status_code == 409 and own.get_json()["rule"] == "AM-4", own.get_json()
    catch_up(sqlite_env, app.extensions["returns_ledger"].get())
    twin = html.unescape(signed_in(app, keys.finance_twin).get("/web/finance").get_data(True))
    assert "You asked for this refund: a second person approves it (AM-4)." in twin
    assert "Approve R-BIG" not in twin
    other = html.unescape(signed_in(app, keys.finance_b).get("/web/finance").get_data(True))
    assert "Approve R-BIG" in other


def test_events_recorded_before_the_key_was_still_show_the_person_and_hold_am4(
        app: Flask, keys: Keys) -> None:
    """An owned key's events once recorded `person:<owner>` alone: they show the person
    with no key, and that person's keys still cannot approve their refund (AM-4)."""
    client = app.test_client()
    base = amazon_inspected(client, keys, seller_fault=True)
    ledger = app.extensions["returns_ledger"].get()
    parcel_id = UUID(base.rsplit("/", 1)[1])
    ledger.request_refund(parcel_id, "R-OLD", [RefundComponent(
        "item", Money.of("899.00", "EUR"))], datetime.fromisoformat(day(10)),
        actor="person:fin-a")  # the actor as recorded before
    own = post(client, keys.finance, f"{base}/refunds/R-OLD/approvals", {})
    assert own.status_code == 409 and own.get_json()["rule"] == "AM-4", own.get_json()
    history = client.get(f"{base}/history", headers=bearer(keys.auditor)).get_json()["events"]
    [old] = [e for e in history if e["type"] == "RefundRequested"]
    assert (old["actor"], old["actor_owner"], old["actor_key_label"], old["actor_key_id"]) \
        == ("person:fin-a", "fin-a", "", "")
    assert str(ledger.actor_names()("person:fin-a")) == "fin-a"
    assert post(client, keys.finance_b, f"{base}/refunds/R-OLD/approvals", {}).status_code \
        == 201


def test_every_place_that_shows_an_actor_shows_the_person_and_which_key_acted(
        app: Flask, keys: Keys, sqlite_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`audit history`, the web timeline, both waiting-approval lists (finance, holds) and
    the deadlines report, the refunds table, the refunds CSV (web, API, CLI) and a
    reconciliation's "started by": fin-a's refunds read as fin-a with the label and id of
    the key each was asked with, the client key's registration as
    "unowned key 'client' <key id>"."""
    base = two_keys_of_one_person(app, keys)
    parcel_id = base.rsplit("/", 1)[1]
    ids, unowned = keys.ids, f"unowned key 'client' {keys.ids['client']}"
    big, ship = shown(keys, "finance", "fin-a"), shown(keys, "finance_twin", "fin-a")
    second = shown(keys, "finance_b", "fin-b")
    ledger = app.extensions["returns_ledger"].get()
    catch_up(sqlite_env, ledger)
    for name, value in {**sqlite_env, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    audit = runner.invoke(main, ["audit", "history", parcel_id])
    assert audit.exit_code == 0, audit.output
    lines = audit.output.splitlines()
    assert any("ParcelRegistered" in line and f"by {unowned}" in line for line in lines)
    asked = [line for line in lines if "RefundRequested" in line]
    assert len(asked) == 2 and f"by {big}" in asked[0] and f"by {ship}" in asked[1], asked
    assert any("RefundApproved" in line and f"by {second}" in line for line in lines)
    as_json = runner.invoke(main, ["audit", "history", parcel_id, "--json"])
    assert as_json.exit_code == 0, as_json.output
    events = json.loads(as_json.output)["events"]
    assert [(e["actor_owner"], e["actor_key_label"], e["actor_key_id"]) for e in events
            if e["type"] == "RefundRequested"] == [
        ("fin-a", "finance", ids["finance"]), ("fin-a", "finance_twin", ids["finance_twin"])]

    web = signed_in(app, keys.finance_b)
    timeline = html.unescape(web.get(f"/web/parcels/{parcel_id}").get_data(True))
    assert all(name in timeline for name in (unowned, big, ship, second))
    waiting = html.unescape(web.get("/web/finance").get_data(True))
    assert f"by {big}" in waiting and "R-SHIP" not in waiting.split('id="waiting"')[1]
    holds = html.unescape(web.get("/web/holds").get_data(True))
    assert big in holds
    table = html.unescape(web.get("/web/finance/refunds").get_data(True))
    assert f"asked by {big}" in table and f"asked by {ship}" in table
    assert f"approved by {second}" in table

    report = app.test_client().get("/v1/reports/deadlines?list=pending_refunds",
                                   headers=bearer(keys.finance_b)).get_json()
    [pending] = report["pending_refunds"]
    assert (pending["reference"], pending["requested_by_owner"],
            pending["requested_by_key_label"], pending["requested_by_key_id"]) == (
        "R-BIG", "fin-a", "finance", ids["finance"])
    pending_csv = app.test_client().get("/v1/reports/deadlines?list=pending_refunds&format=csv",
                                        headers=bearer(keys.finance_b)).get_data(True)
    [pending_row] = csv.DictReader(io.StringIO(pending_csv))
    assert pending_row["requested_by_key_id"] == ids["finance"]

    exports = {
        "web": web.get("/web/finance/refunds.csv").get_data(True),
        "api": app.test_client().get("/v1/refunds?format=csv",
                                     headers=bearer(keys.finance_b)).get_data(True),
        "cli": runner.invoke(main, ["finance", "refunds", "--csv"]).output}
    for where, text in exports.items():
        rows = {r["reference"]: r for r in csv.DictReader(io.StringIO(text))}
        assert set(rows) == {"R-BIG", "R-SHIP"}, (where, text)
        got = [tuple(rows[ref][f"{who}_by{column}"] for column in (
            "", "_owner", "_key_label", "_key_id")) for ref, who in (
            ("R-BIG", "requested"), ("R-SHIP", "requested"), ("R-SHIP", "approved"),
            ("R-SHIP", "issued"))]
        assert got == [
            (f"person:fin-a/key:{ids['finance']}", "fin-a", "finance", ids["finance"]),
            (f"person:fin-a/key:{ids['finance_twin']}", "fin-a", "finance_twin",
             ids["finance_twin"]),
            (f"person:fin-b/key:{ids['finance_b']}", "fin-b", "finance_b", ids["finance_b"]),
            (f"person:fin-b/key:{ids['finance_b']}", "fin-b", "finance_b", ids["finance_b"]),
        ], where

    run = reconciled_by(app, keys.finance_twin)
    assert (run["started_by"], run["started_by_owner"], run["started_by_key_label"],
            run["started_with_key"]) == (f"person:fin-a/key:{ids['finance_twin']}", "fin-a",
                                         "finance_twin", ids["finance_twin"])
    runs = html.unescape(web.get("/web/finance/reconciliations").get_data(True))
    assert f"by {ship}" in runs
    page = html.unescape(web.get(f"/web/finance/reconciliations/{run['id']}").get_data(True))
    assert f"by {ship}" in page


def reconciled_by(app: Flask, token: str) -> dict[str, Any]:
    """A settlement file reconciled over HTTP with this key, once the run is done."""
    client = app.test_client()
    accepted = client.post("/v1/reconciliations", data={
        "file": (io.BytesIO(b"reference,currency,amount\r\nR-SHIP,EUR,5.99\r\n"), "s.csv")},
        headers=bearer(token), content_type="multipart/form-data")
    assert accepted.status_code == 202, accepted.get_json()
    for _ in range(500):
        run = client.get(accepted.headers["Location"], headers=bearer(token)).get_json()
        if run["status"] != "running":
            assert run["status"] == "done", run
            return dict(run)
        time.sleep(0.02)
    raise AssertionError("the reconciliation is still running")

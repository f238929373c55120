"""Verification reads what is stored, exactly as stored: other spellings of an id, wrong
column types, NULLs, duplicates and a reused position are breaches with their position."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner

from application.audit.verification import DamagedStoreError, LedgerAudit
from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS
from interfaces.cli import main
from tests.api.conftest import NOW, bearer, issue_keys, make_app
from tests.integration.audit_tampering import StoreTamperer


@pytest.fixture
def store(store_env) -> Iterator[tuple[ReturnsLedger, UUID, UUID, StoreTamperer]]:
    """Two full lifecycles (10 and more events); the first parcel is the one tampered with."""
    ledger = ReturnsLedger(store_env)
    first = SCENARIOS["amazon"](ledger, "")
    second = SCENARIOS["cdiscount"](ledger, "")
    yield ledger, first, second, StoreTamperer(store_env)
    ledger.close()


def _fresh(store_env: dict[str, str]) -> ReturnsLedger:
    """Another worker: nothing cached, everything read from the store."""
    return ReturnsLedger(store_env)


def _cli(store_env: dict[str, str], monkeypatch: Any, *args: str) -> Any:
    for name, value in store_env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(main, list(args))


def _every_check_reports(ledger: ReturnsLedger, parcel: UUID, kept: str, reason: str,
                         position: int) -> None:
    """verify ID, verify --all, --against a kept digest, and the digest itself: a breach
    of this kind at this position, never ok and never an exception."""
    audit = LedgerAudit(ledger)
    for result in (audit.verify_parcel(parcel), audit.verify_all(), audit.verify_all(kept)):
        assert not result.ok, result
        assert (result.breach.reason, result.breach.position) == (reason, position)
    with pytest.raises(DamagedStoreError) as raised:
        audit.digest()
    assert (raised.value.breach.reason, raised.value.breach.position) == (reason, position)


# -- finding 1: another spelling of an id hides the event from its parcel (SQLite) ----------
@pytest.mark.parametrize("form", StoreTamperer.SPELLINGS)
@pytest.mark.parametrize("versions", [(9, 10), (5,)], ids=["tail", "middle"])
def test_respelled_ids_are_non_canonical_breaches(store, store_env, form, versions) -> None:
    ledger, parcel, _, tamper = store
    kept = LedgerAudit(ledger).digest().token
    hidden = tamper.positions(parcel)[versions[0] - 1]
    if tamper.postgres:
        # The uuid column has one spelling: PostgreSQL stores any other as the same id (or
        # refuses it), so nothing observable changes and every check still says ok.
        try:
            tamper.respell(parcel, versions, form)
        except Exception:  # noqa: BLE001 - refused, e.g. the urn: form
            pass
        assert tamper.stored_ids(parcel) == [parcel] * 10
        assert LedgerAudit(ledger).verify_all(kept).ok
        return
    tamper.respell(parcel, versions, form)
    _every_check_reports(ledger, parcel, kept, "non_canonical_id", hidden)
    breach = LedgerAudit(ledger).verify_parcel(parcel).breach
    assert breach.originator_id == str(parcel) and breach.version == versions[0]


def test_a_respelled_tail_then_a_new_event_is_still_a_breach(store, store_env) -> None:
    ledger, parcel, _, tamper = store
    if tamper.postgres:
        pytest.skip("PostgreSQL stores one spelling of a uuid (see the test above)")
    tamper.respell(parcel, (10,), "upper")
    worker = _fresh(store_env)
    try:
        at = worker.get_parcel(parcel).modified_at
        assert worker.get_parcel(parcel).version == 9  # the parcel's read lost v10
        worker.close_parcel(parcel, at)  # stored as v10 again, under the canonical id
        audit = LedgerAudit(worker)
        for result in (audit.verify_parcel(parcel), audit.verify_all()):
            assert result.breach.reason == "non_canonical_id"
    finally:
        worker.close()


# -- finding 2: one unreadable row must not stop auditing ------------------------------------
@pytest.mark.parametrize("damage", ["text", "null"])
def test_mistyped_or_null_state_is_a_breach_at_its_position(store, store_env, damage,
                                                            monkeypatch, tmp_path) -> None:
    ledger, parcel, second, tamper = store
    kept = LedgerAudit(ledger).digest().token
    if damage == "text" and tamper.postgres:
        pytest.skip("a bytea column holds no text")
    position = tamper.positions(parcel)[3]
    (tamper.state_as_text if damage == "text" else tamper.state_null)(parcel, 4)
    _every_check_reports(ledger, parcel, kept, "mistyped", position)
    assert LedgerAudit(ledger).verify_parcel(second).ok  # another parcel is unaffected
    out = tmp_path / "bundle.jsonl"
    for args in (("audit", "verify", str(parcel)), ("audit", "verify", "--all"),
                 ("audit", "verify", "--all", "--against", kept), ("audit", "digest"),
                 ("audit", "export", "--all", "--out", str(out))):
        result = _cli(store_env, monkeypatch, *args)
        assert result.exit_code == 1, (args, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert f"BROKEN: mistyped at aggregate {parcel}, version 4, position {position}" \
            in result.output, args
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_export_leaves_no_half_written_file(store, store_env, monkeypatch, tmp_path) -> None:
    ledger, parcel, _, tamper = store
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "bundle.jsonl"
    out.write_text("an earlier bundle\n")
    tamper.state_null(parcel, 10)  # the export fails on the last rows
    result = _cli(store_env, monkeypatch, "audit", "export", "--all", "--out", str(out))
    assert result.exit_code == 1
    assert out.read_text() == "an earlier bundle\n"  # untouched: nothing half-written
    assert [p.name for p in out.parent.iterdir()] == ["bundle.jsonl"]


def test_damaged_rows_answer_a_breach_not_a_500(store, store_env) -> None:
    ledger, parcel, _, tamper = store
    app = make_app(store_env)
    try:
        client, token = app.test_client(), issue_keys(app).auditor
        tamper.state_null(parcel, 4)
        answer = client.get(f"/v1/parcels/{parcel}/verification", headers=bearer(token))
        assert answer.status_code == 200
        assert answer.json["ok"] is False and answer.json["breach"]["reason"] == "mistyped"
        digest = client.get("/v1/audit/digest", headers=bearer(token))
        assert digest.status_code == 409 and digest.mimetype == "application/problem+json"
        assert digest.json["breach"]["reason"] == "mistyped"
        fresh = make_app(store_env)  # another worker: nothing cached, the rows are read
        try:
            other = fresh.test_client()
            history = other.get(f"/v1/parcels/{parcel}/history", headers=bearer(token))
            assert history.status_code == 409, history.get_data(True)
            assert history.json["breach"]["reason"] == "mistyped"
            seller = fresh.extensions["returns_ledger"].get().issue_api_key(
                "client", "seller-am", NOW, label="seller").token
            own = other.get(f"/v1/parcels/{parcel}/verification", headers=bearer(seller))
            assert own.status_code == 200 and own.json["breach"]["reason"] == "mistyped"
            stranger = fresh.extensions["returns_ledger"].get().issue_api_key(
                "client", "seller-other", NOW, label="stranger").token
            assert other.get(f"/v1/parcels/{parcel}/verification",
                             headers=bearer(stranger)).status_code == 404
        finally:
            fresh.extensions["returns_ledger"].close()
    finally:
        app.extensions["returns_ledger"].close()


def test_a_duplicate_version_is_a_breach(store) -> None:
    ledger, parcel, _, tamper = store
    if not tamper.postgres:
        pytest.skip("SQLite's key refuses an exact duplicate (other spellings: above)")
    table = tamper.table
    tamper.run(f"ALTER TABLE {table} DROP CONSTRAINT returnsledger_events_pkey")
    rows = tamper.rows(parcel)
    position = tamper.insert(parcel, 5, rows[4][1], rows[4][2])
    breach = LedgerAudit(ledger).verify_all().breach
    assert (breach.reason, breach.position, breach.version) == ("duplicate_version", position, 5)


# -- finding 4: audit history reports a damaged parcel ---------------------------------------
def test_history_reports_a_deleted_middle_event(store, store_env, monkeypatch) -> None:
    _, parcel, _, tamper = store
    tamper.delete(parcel, 5)
    result = _cli(store_env, monkeypatch, "audit", "history", str(parcel))
    assert result.exit_code == 1 and result.exception is None or \
        isinstance(result.exception, SystemExit), result.output
    assert "DAMAGED: v5 missing: v4 is followed by v6" in result.output
    as_json = _cli(store_env, monkeypatch, "audit", "history", str(parcel), "--json")
    assert as_json.exit_code == 1
    body = json.loads(as_json.output)
    assert body["damage"] == ["v5 missing: v4 is followed by v6"] and body["state"] is None


def test_history_reports_a_forged_extra_refund(store, store_env, monkeypatch) -> None:
    _, parcel, _, tamper = store
    tamper.forge_next(parcel, 10, reference="AMZ-REF-FORGED")  # correctly chained
    result = _cli(store_env, monkeypatch, "audit", "history", str(parcel))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "DAMAGED: v11 RefundIssued does not apply" in result.output
    assert "v11 " in result.output  # the forged event is listed, where it is


# -- finding 5: a removed tail's position is never given out again ---------------------------
def test_positions_are_never_reused_after_a_removed_tail(store, store_env) -> None:
    ledger, parcel, second, tamper = store
    last = tamper.max_position()
    tamper.delete_last()
    worker = _fresh(store_env)
    try:
        result = worker.close_parcel(parcel, worker.get_parcel(parcel).modified_at)
    finally:
        worker.close()
    assert result.position > last


def test_a_store_with_the_librarys_table_is_rebuilt_positions_kept(tmp_path) -> None:
    from tests.conftest import TEST_PERSONAL_DATA_KEY

    made = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "PERSONAL_DATA_KEY":
            TEST_PERSONAL_DATA_KEY, "SQLITE_DBNAME": str(tmp_path / "made.sqlite3")}
    ledger = ReturnsLedger(made)
    parcel = SCENARIOS["amazon"](ledger, "")
    kept = LedgerAudit(ledger).digest()
    ledger.close()
    # The same rows in the library's own table (plain rowid), as an older store has them.
    env = {**made, "SQLITE_DBNAME": str(tmp_path / "old.sqlite3")}
    db = sqlite3.connect(env["SQLITE_DBNAME"])
    db.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
               "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))")
    db.execute("ATTACH DATABASE ? AS made", (made["SQLITE_DBNAME"],))
    db.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, "
               "state) SELECT rowid, originator_id, originator_version, topic, state FROM "
               "made.stored_events ORDER BY rowid")
    db.commit()
    db.close()
    tamper = StoreTamperer(env)
    upgraded = ReturnsLedger(env)  # the ledger's own recorder rebuilds the table
    try:
        assert LedgerAudit(upgraded).digest() == kept  # every event at its position
        assert tamper.positions(parcel) == list(range(1, kept.position + 1))
        tamper.delete_last()
        SCENARIOS["lazada"](upgraded, "")  # new events: none at the removed position
        assert tamper.run("SELECT COUNT(*) FROM stored_events WHERE rowid = ?",
                          (kept.position,)) == [(0,)]
    finally:
        upgraded.close()

"""The log on the command line and the API: take and keep a checkpoint, prove inclusion
and consistency, verify offline, and the periodic checkpoints of the running service."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from click.testing import CliRunner

from application.audit.transparency import NoteVerifier, open_checkpoint
from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS
from interfaces.cli import main
from tests.api.conftest import bearer, issue_keys, make_app
from tests.integration.audit_tampering import StoreTamperer


@pytest.fixture
def cli(store_env, monkeypatch) -> Any:
    for name, value in store_env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, list(args))

    return run


@pytest.fixture
def parcels(store_env) -> dict[str, Any]:
    ledger = ReturnsLedger(store_env)
    try:
        return {name: SCENARIOS[name](ledger, "") for name in ("amazon", "cdiscount")}
    finally:
        ledger.close()


def _more_events(store_env, suffix: str = "") -> None:
    ledger = ReturnsLedger(store_env)
    try:
        SCENARIOS["lazada"](ledger, suffix)
    finally:
        ledger.close()


def test_an_auditor_keeps_a_checkpoint_and_proves_the_log_only_appended(
        cli, parcels, store_env, tmp_path) -> None:
    key = cli("audit", "public-key")
    assert key.exit_code == 0
    vkey = key.output.strip()
    NoteVerifier.parse(vkey)
    taken = cli("audit", "checkpoint")
    assert taken.exit_code == 0, taken.output
    kept = tmp_path / "kept.note"
    kept.write_text(taken.stdout)
    size = open_checkpoint(kept.read_text(), [NoteVerifier.parse(vkey)]).size
    assert "the log did not grow" in cli("audit", "checkpoint").stderr

    proof = cli("audit", "prove", "inclusion", "--parcel", str(parcels["amazon"]),
                "--version", "4")
    (tmp_path / "inclusion.json").write_text(proof.output)
    ok = cli("audit", "verify-proof", str(tmp_path / "inclusion.json"), "--checkpoint",
             str(kept), "--key", vkey)
    assert ok.exit_code == 0 and ok.output.startswith("ok: position"), ok.output

    _more_events(store_env)
    later = tmp_path / "later.note"
    later.write_text(cli("audit", "checkpoint").stdout)
    consistency = cli("audit", "prove", "consistency", "--from", str(size))
    (tmp_path / "consistency.json").write_text(consistency.output)
    ok = cli("audit", "verify-proof", str(tmp_path / "consistency.json"), "--checkpoint",
             str(later), "--kept", str(kept), "--key", vkey)
    assert ok.exit_code == 0 and "only appended" in ok.output, ok.output
    # Offered the other way round, the smaller checkpoint as the later one: refused.
    rollback = cli("audit", "verify-proof", str(tmp_path / "consistency.json"),
                   "--checkpoint", str(kept), "--kept", str(later), "--key", vkey)
    assert rollback.exit_code == 1 and "smaller than the one you kept" in rollback.output

    assert cli("audit", "verify", "--all", "--against", str(kept)).exit_code == 0
    listed = json.loads(cli("audit", "checkpoints", "--json").output)
    assert [c["tree_size"] for c in listed][-1] == size


def test_verify_against_a_kept_checkpoint_catches_a_rewrite(cli, parcels, store_env,
                                                            tmp_path) -> None:
    kept = tmp_path / "kept.note"
    kept.write_text(cli("audit", "checkpoint").stdout)
    vkey = cli("audit", "public-key").output.strip()
    StoreTamperer(store_env).rewrite_from(parcels["amazon"], 8, {"actor": "someone-else"})
    result = cli("audit", "verify", "--all", "--against", str(kept), "--key", vkey)
    assert result.exit_code == 1
    assert "BROKEN: checkpoint_mismatch" in result.output
    name, _, key = vkey.split("+", 2)
    wrong_id = cli("audit", "verify", "--all", "--against", str(kept), "--key",
                   f"{name}+00000000+{key}")
    assert wrong_id.exit_code == 2  # a key id that is not of that key: refused as a parameter
    stranger = cli("audit", "verify", "--all", "--against", str(kept), "--key",
                   NoteVerifier("other.log", b"\x01" * 32).vkey)
    assert stranger.exit_code == 1 and "BROKEN: bad_checkpoint" in stranger.output


def test_verify_all_with_nothing_kept_checks_the_ledgers_latest_checkpoint(
        cli, parcels, store_env) -> None:
    """`audit verify --all` without --against: a removed tail (then a new command) and a
    consistent rewrite of one parcel, which the chains alone pass, are breaches against the
    ledger's own latest checkpoint, as the per-parcel check reports them."""
    assert "ok: all" in cli("audit", "verify", "--all").output  # no checkpoint yet: chains
    assert cli("audit", "checkpoint").exit_code == 0
    clean = cli("audit", "verify", "--all")
    assert clean.exit_code == 0 and "the ledger's latest checkpoint" in clean.output
    tamper = StoreTamperer(store_env)
    tamper.rewrite_from(parcels["amazon"], 8, {"actor": "someone-else"})
    rewritten = cli("audit", "verify", "--all")
    assert rewritten.exit_code == 1, rewritten.output
    assert "BROKEN: checkpoint_mismatch" in rewritten.output
    assert cli("audit", "verify", str(parcels["amazon"])).exit_code == 1


def test_verify_all_with_nothing_kept_reports_a_removed_tail(cli, parcels, store_env) -> None:
    assert cli("audit", "checkpoint").exit_code == 0
    tamper = StoreTamperer(store_env)
    tamper.delete_last()
    tamper.delete_last()
    ledger = ReturnsLedger(store_env)
    try:
        parcel = parcels["amazon"]
        ledger.close_parcel(parcel, ledger.get_parcel(parcel).modified_at)
    finally:
        ledger.close()
    result = cli("audit", "verify", "--all")
    assert result.exit_code == 1 and "BROKEN: truncated" in result.output, result.output


def test_the_api_serves_checkpoints_proofs_and_keys(store_env, parcels) -> None:
    app = make_app(store_env)
    try:
        client, keys = app.test_client(), issue_keys(app)
        headers = bearer(keys.auditor)
        assert client.get("/v1/audit/checkpoints/latest", headers=headers).status_code == 404
        from application.audit.log import AuditLog

        log = AuditLog(app.extensions["returns_ledger"].get())
        from datetime import UTC, datetime

        taken, _ = log.checkpoint(datetime.now(UTC))
        latest = client.get("/v1/audit/checkpoints/latest", headers=headers)
        assert latest.status_code == 200 and latest.mimetype == "text/plain"
        vkeys = client.get("/v1/audit/public-keys", headers=headers).json["keys"]
        checkpoint = open_checkpoint(latest.get_data(True),
                                     [NoteVerifier.parse(k) for k in vkeys])
        assert checkpoint.size == taken.size
        listed = client.get("/v1/audit/checkpoints", headers=headers).json
        assert listed[0]["tree_size"] == taken.size and listed[0]["note"] == taken.note
        proof = client.get("/v1/audit/proofs/inclusion", headers=headers,
                           query_string={"originator_id": str(parcels["amazon"]),
                                         "version": 2})
        assert proof.status_code == 200 and proof.json["tree_size"] == taken.size
        missing = client.get("/v1/audit/proofs/inclusion", headers=headers)
        assert missing.status_code == 422
        beyond = client.get("/v1/audit/proofs/consistency", headers=headers,
                            query_string={"first": taken.size + 5})
        assert beyond.status_code == 404 and beyond.mimetype == "application/problem+json"
        assert client.get("/v1/audit/checkpoints/latest",
                          headers=bearer(keys.client)).status_code == 403
    finally:
        app.extensions["returns_ledger"].close()


def test_the_running_service_takes_checkpoints_when_the_log_grew(store_env, parcels) -> None:
    app = make_app(store_env, AUDIT_CHECKPOINT_SECONDS="0.2")
    try:
        client, keys = app.test_client(), issue_keys(app)
        headers = bearer(keys.auditor)
        client.get("/v1/audit/checkpoints", headers=headers)  # the first request starts it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            listed = client.get("/v1/audit/checkpoints", headers=headers).json
            if listed:
                break
            time.sleep(0.1)
        assert len(listed) == 1
        time.sleep(0.6)  # rounds pass; nothing new stored: no new checkpoint
        assert len(client.get("/v1/audit/checkpoints", headers=headers).json) == 1
    finally:
        app.extensions["returns_ledger"].close()


def test_a_witness_cosigns_only_a_log_that_appended(cli, parcels, store_env, tmp_path) -> None:
    wkey, kept = tmp_path / "witness.key", tmp_path / "witness-kept.note"
    vkey = cli("audit", "public-key").output.strip()
    witness_vkey = cli("audit", "witness", "--key-file", str(wkey), "--name",
                       "auditor.example/w1", "--print-key").output.strip()
    cli("audit", "checkpoint")
    args = ("audit", "witness", "--key-file", str(wkey), "--name", "auditor.example/w1",
            "--log-key", vkey, "--kept", str(kept))
    first = cli(*args)
    assert first.exit_code == 0, first.output
    assert open_checkpoint(kept.read_text(), [NoteVerifier.parse(vkey)],
                           witnesses=[NoteVerifier.parse(witness_vkey)], witnesses_needed=1)
    _more_events(store_env)
    cli("audit", "checkpoint")
    second = cli(*args)
    assert second.exit_code == 0, second.output
    # The service keeps the cosignature beside the checkpoint: the API's note carries it.
    latest = cli("audit", "checkpoints", "--json")
    assert witness_vkey.split("+")[0] in json.loads(latest.output)[0]["note"]
    # The tree's tables altered below a signed checkpoint: the log refuses to sign again.
    from application.audit.transparency import CompactRange
    from tests.integration.audit_tampering import StoreTamperer

    tamper = StoreTamperer(store_env)
    schema = f'"{store_env["POSTGRES_SCHEMA"]}".' if tamper.postgres else ""
    size = json.loads(latest.output)[0]["tree_size"]
    level, index = CompactRange.subtrees(size)[0]
    saved = tamper.run(f"SELECT hash FROM {schema}audit_tree_nodes WHERE level = ? AND "
                       "node_index = ?", (level, index))[0][0]
    tamper.run(f"UPDATE {schema}audit_tree_nodes SET hash = ? WHERE level = ? AND "
               "node_index = ?", (bytes(32), level, index))
    _more_events(store_env, "-2")
    refused = cli("audit", "checkpoint")
    assert refused.exit_code == 1 and "no checkpoint signed" in refused.output
    tamper.run(f"UPDATE {schema}audit_tree_nodes SET hash = ? WHERE level = ? AND "
               "node_index = ?", (saved, level, index))
    # A log that rebuilt its tree over a rewritten past (a fork): the witness refuses.
    tamper.rewrite_from(parcels["amazon"], 2, {"actor": "someone-else"})
    for table in ("audit_tree_nodes", "audit_tree_leaves", "audit_map_heads",
                  "audit_checkpoints", "audit_cosignatures"):
        tamper.run(f"DELETE FROM {schema}{table}")
    assert cli("audit", "checkpoint").exit_code == 0  # signed: the log cannot know
    forked = cli(*args)
    assert forked.exit_code == 1 and "BROKEN: not cosigned" in forked.output, forked.output

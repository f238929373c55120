"""Backup under write load, restore into a fresh store, verify against the backup's signed
audit checkpoint and its digest: nothing lost, the sealed personal data readable with the
restored key, the checkpoint signing key backed up and restored; a restore of data
tampered with after the checkpoint fails loudly; a restore never overwrites data or a key."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from application.audit.log import AuditLog, load_signer, new_signing_key
from application.audit.verification import LedgerAudit
from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line
from infrastructure.webhook_store import open_store
from tests.conftest import PG
from tests.operations.support import CLI

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NAME = "Recipient Name"


def _pg(dbname: str = PG["POSTGRES_DBNAME"]):
    return psycopg.connect(host=PG["POSTGRES_HOST"], port=PG["POSTGRES_PORT"], dbname=dbname,
                           user=PG["POSTGRES_USER"], password=PG["POSTGRES_PASSWORD"] or None,
                           autocommit=True)


@pytest.fixture
def live(store_env, tmp_path):
    """The store's settings with key files as deployed: on SQLite the personal-data key in
    its file too; PostgreSQL requires it in the environment (PERSONAL_DATA_KEY)."""
    env = dict(store_env)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        del env["PERSONAL_DATA_KEY"]
    env["PERSONAL_DATA_KEY_FILE"] = str(tmp_path / "live" / "personal-data.key")
    env["WEB_SECRET_KEY_FILE"] = str(tmp_path / "live" / "web-secret.key")
    # Its own audit signing key path (none yet), not the one the session's tests share.
    env["AUDIT_SIGNING_KEY_FILE"] = str(tmp_path / "live" / "audit-signing.key")
    (tmp_path / "live").mkdir()
    Path(env["WEB_SECRET_KEY_FILE"]).write_text("a-web-secret\n")
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        env["VIEWS_POSTGRES_SCHEMA"] = f"{env['POSTGRES_SCHEMA']}_views"
        yield env
        with _pg() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{env["VIEWS_POSTGRES_SCHEMA"]}" CASCADE')
    else:
        env["VIEWS_SQLITE_DBNAME"] = str(tmp_path / "live" / "views.sqlite3")
        yield env


@pytest.fixture
def fresh(live, tmp_path):
    """Settings for an empty store elsewhere: another SQLite file, or a new database."""
    env = dict(live)
    env["PERSONAL_DATA_KEY_FILE"] = str(tmp_path / "new" / "personal-data.key")
    env["WEB_SECRET_KEY_FILE"] = str(tmp_path / "new" / "web-secret.key")
    env["AUDIT_SIGNING_KEY_FILE"] = str(tmp_path / "new" / "audit-signing.key")
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        dbname = f"restore_{uuid.uuid4().hex[:12]}"
        with _pg() as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        env["POSTGRES_DBNAME"] = dbname
        yield env
        with _pg() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    else:
        env["SQLITE_DBNAME"] = str(tmp_path / "new" / "ledger.sqlite3")
        env["VIEWS_SQLITE_DBNAME"] = str(tmp_path / "new" / "views.sqlite3")
        yield env


def _cli(env, *args):
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("POSTGRES_", "SQLITE_", "PERSONAL_DATA_", "WEB_SECRET_"))}
    return subprocess.run([CLI, *args], env={**full, **env}, capture_output=True, text=True,
                          timeout=300)


def _register(ledger, n: int) -> None:
    ledger.register_parcel(
        platform="amazon", site="DE", seller_id="seller-load", order_id=f"LOAD-{n}",
        order_created_at=T0, tracking_number=f"LOAD{n:06d}",
        lines=[Line("SKU-1", 1, Money.of("10.00", "EUR"))],
        amount_paid=Money.of("10.00", "EUR"), occurred_at=T0)


def _sealed_address(ledger) -> uuid.UUID:
    address = ledger.register_return_address(
        seller_id="seller-lz", platform="lazada", country="CN", seller_country="CN",
        address={"lines": ["88 Example Road"], "city": "Shenzhen", "postcode": "518000"},
        effective_from=T0, occurred_at=T0)
    ledger.verify_real_name(address.id, {"name": NAME, "id_number": "ID-0001"},
                            T0 + timedelta(hours=1))
    return address.id


def _identity(ledger, address_id) -> dict[str, str]:
    for entry in ledger.get_parcel_history(address_id):
        if entry.data.get("sealed_identity"):
            return ledger.vault.open(entry.data["subject_id"], entry.data["sealed_identity"])
    raise AssertionError("no sealed identity")


def test_backup_under_write_load_restores_and_verifies(live, fresh, tmp_path):
    ledger = ReturnsLedger({**live, "CREATE_TABLE": "yes"})
    open_store(live).datastore.close()  # the webhook queue (SQLite: a file of its own)
    address_id = _sealed_address(ledger)
    for n in range(50):
        _register(ledger, n)
    stop, written, errors = threading.Event(), [], []

    def write() -> None:
        writer = ReturnsLedger(live)
        try:
            n = 1000
            while not stop.is_set():
                _register(writer, n)
                written.append(n)
                n += 1
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(written) < 20:  # the load is on before the backup starts
            threading.Event().wait(0.05)
        out = _cli(live, "backup", str(tmp_path / "backup"))
        during = len(written)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert out.returncode == 0, out.stderr
    assert during > 20  # writes went on while it copied
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    # The backup signed a checkpoint first (making the signing key, which it holds).
    signing = {"AUDIT_SIGNING_KEY_FILE", "WEB_SECRET_KEY_FILE"}
    if "PERSONAL_DATA_KEY" in live:  # PostgreSQL: the key lives in the environment
        assert set(manifest["keys"]) == signing
        assert any("PERSONAL_DATA_KEY" in k for k in manifest["keys_not_included"])
        assert "not included: PERSONAL_DATA_KEY" in out.stderr
    else:
        assert set(manifest["keys"]) == {"PERSONAL_DATA_KEY_FILE", *signing}
    for name in manifest["keys"]:
        assert os.stat(tmp_path / "backup" / "keys" / name).st_mode & 0o777 == 0o600
    checkpoint = manifest["checkpoint"]
    assert 72 <= checkpoint["size"] <= manifest["events"]
    assert checkpoint["key"] == load_signer(live).verifier.vkey
    assert (tmp_path / "backup" / "checkpoint.note").read_text() == checkpoint["note"]
    assert f"signed checkpoint of {checkpoint['size']} events" in out.stdout

    restored = _cli(fresh, "restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"verified: the checkpoint of {checkpoint['size']} events (the backup's, signed " \
           "by the log's key)" in restored.stdout, restored.stdout
    assert "matches the backup's digest" in restored.stdout
    for name in manifest["keys"]:  # the signing key among them
        assert Path(fresh[name]).read_bytes() == Path(live[name]).read_bytes()
    if live["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":  # PostgreSQL: in the dump
        assert "webhooks.sqlite3" in manifest["files"]
        assert (Path(fresh["SQLITE_DBNAME"]).parent / "webhooks.sqlite3").exists()
    assert load_signer(fresh).verifier.vkey == checkpoint["key"]

    copy = ReturnsLedger({**fresh, "CREATE_TABLE": "no"})
    try:
        events = copy.recorder.max_notification_id()
        assert events >= manifest["events"] >= 50 + 2 + 20
        assert _identity(copy, address_id)["name"] == NAME  # the restored key reads it
        _register(copy, 999_999)  # the restored store takes commands
    finally:
        copy.close()
        ledger.close()

    again = _cli(fresh, "restore", str(tmp_path / "backup"))
    assert again.returncode == 1, again.stdout
    assert "not empty" in again.stderr or "holds data" in again.stderr, again.stderr


def test_restore_refuses_a_different_key_and_a_damaged_backup(live, fresh, tmp_path):
    ledger = ReturnsLedger({**live, "CREATE_TABLE": "yes"})
    _sealed_address(ledger)
    ledger.close()
    assert _cli(live, "backup", str(tmp_path / "b")).returncode == 0
    assert _cli(live, "backup", str(tmp_path / "b")).returncode == 1  # not over a backup
    other_key = Path(fresh["WEB_SECRET_KEY_FILE"])
    other_key.parent.mkdir(parents=True, exist_ok=True)
    other_key.write_text("c29tZW9uZSBlbHNlJ3Mga2V5IHNlYWxpbmcgZGF0YSEh\n")
    refused = _cli(fresh, "restore", str(tmp_path / "b"))
    assert refused.returncode == 1 and "differs from the backup's" in refused.stderr
    assert other_key.read_text().startswith("c29tZW9uZ")  # untouched
    other_key.unlink()
    dump = next(p for p in (tmp_path / "b").iterdir() if p.suffix in (".sqlite3", ".pgdump"))
    with open(dump, "r+b") as handle:
        handle.seek(200)
        handle.write(b"\xff\xfe")
    damaged = _cli(fresh, "restore", str(tmp_path / "b"))
    assert damaged.returncode == 1 and "damaged" in damaged.stderr
    assert not other_key.exists()


def test_restore_refuses_another_personal_data_key_in_the_environment(live, fresh, tmp_path):
    ledger = ReturnsLedger({**live, "CREATE_TABLE": "yes"})
    _sealed_address(ledger)
    ledger.close()
    assert _cli(live, "backup", str(tmp_path / "b")).returncode == 0
    other = {**fresh, "PERSONAL_DATA_KEY": "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMzI="}
    refused = _cli(other, "restore", str(tmp_path / "b"))
    assert refused.returncode == 1 and "fingerprints differ" in refused.stderr


def _sqlite_backup(live, tmp_path) -> tuple[Path, dict]:
    ledger = ReturnsLedger({**live, "CREATE_TABLE": "yes"})
    for n in range(6):
        _register(ledger, n)
    ledger.close()
    assert _cli(live, "backup", str(tmp_path / "b")).returncode == 0
    return tmp_path / "b", json.loads((tmp_path / "b" / "manifest.json").read_text())


def _reseal(backup: Path, manifest: dict, env) -> None:
    """What someone rewriting the backup would do to hide it: a new digest of the altered
    copy, and new SHA-256s in the manifest (the signed checkpoint they cannot redo without
    the key kept elsewhere)."""
    ledger = ReturnsLedger({**env, "SQLITE_DBNAME": str(backup / "ledger.sqlite3"),
                            "CREATE_TABLE": "no"})
    try:
        digest = LedgerAudit(ledger).digest()
    finally:
        ledger.close()
    manifest["digest"], manifest["events"] = digest.token, digest.events
    for name in manifest["files"]:
        manifest["files"][name] = subprocess.run(
            ["sha256sum", str(backup / name)], capture_output=True, text=True,
            check=True).stdout.split()[0]
    (backup / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("store_env", ["sqlite"], indirect=True)
def test_restore_of_data_tampered_after_the_checkpoint_fails_loudly(live, fresh, tmp_path):
    """A parcel's events removed from the backup's copy after its checkpoint was signed, the
    digest and the manifest redone to match: the chains and the digest verify, the signed
    checkpoint does not, and the restore says so and exits 1."""
    backup, manifest = _sqlite_backup(live, tmp_path)
    with sqlite3.connect(backup / "ledger.sqlite3") as conn:
        victim = conn.execute("SELECT originator_id FROM stored_events WHERE "
                              "originator_version = 1 ORDER BY rowid DESC LIMIT 1").fetchone()[0]
        assert conn.execute("DELETE FROM stored_events WHERE originator_id = ?",
                            (victim,)).rowcount >= 1
    _reseal(backup, manifest, live)
    restored = _cli(fresh, "restore", str(backup))
    assert restored.returncode == 1, restored.stdout + restored.stderr
    assert "matches the backup's digest" in restored.stdout  # the digest alone would pass
    assert "BROKEN: " in restored.stderr and ("checkpoint" in restored.stderr
                                              or "truncated" in restored.stderr)
    assert "is NOT what was backed up" in restored.stderr


@pytest.mark.parametrize("store_env", ["sqlite"], indirect=True)
def test_restore_against_a_kept_checkpoint_and_key_refuses_a_re_signed_backup(
        live, fresh, tmp_path):
    """Someone holding the backup (and so its signing key) removes a parcel and signs a new
    checkpoint of what is left: against the backup's own checkpoint it verifies, against the
    checkpoint the operator kept outside (--against) it fails; a checkpoint signed by
    another key than the one given with --key fails too."""
    backup, manifest = _sqlite_backup(live, tmp_path)
    kept = tmp_path / "kept.note"
    kept.write_text(manifest["checkpoint"]["note"])
    public_key = manifest["checkpoint"]["key"]
    with sqlite3.connect(backup / "ledger.sqlite3") as conn:
        for table in [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'audit%'")]:
            conn.execute(f'DELETE FROM "{table}"')  # their tree and checkpoints, redone below
        victim = conn.execute("SELECT originator_id FROM stored_events ORDER BY rowid DESC "
                              "LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM stored_events WHERE originator_id = ?", (victim,))
    forged_env = {**live, "SQLITE_DBNAME": str(backup / "ledger.sqlite3"), "CREATE_TABLE": "no",
                  "AUDIT_SIGNING_KEY_FILE": str(backup / "keys" / "AUDIT_SIGNING_KEY_FILE")}
    ledger = ReturnsLedger(forged_env)
    try:
        log = AuditLog(ledger)
        taken, _ = log.checkpoint(datetime.now(UTC))
        manifest["checkpoint"]["note"] = taken.note
        manifest["checkpoint"]["size"] = taken.size
    finally:
        ledger.close()
    (backup / "checkpoint.note").write_text(taken.note)
    _reseal(backup, manifest, live)
    second = {**fresh, "SQLITE_DBNAME": str(tmp_path / "again" / "ledger.sqlite3"),
              "VIEWS_SQLITE_DBNAME": str(tmp_path / "again" / "views.sqlite3")}
    fooled = _cli(fresh, "restore", str(backup))  # its own checkpoint: the rewrite passes
    assert fooled.returncode == 0, fooled.stdout + fooled.stderr

    refused = _cli(second, "restore", str(backup), "--against", str(kept), "--key", public_key)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "BROKEN: " in refused.stderr and "is NOT what was backed up" in refused.stderr

    shutil.rmtree(tmp_path / "again")
    stranger = load_signer({"AUDIT_SIGNING_KEY": new_signing_key()}).verifier.vkey
    wrong_key = _cli(second, "restore", str(backup), "--key", stranger)
    assert wrong_key.returncode == 1, wrong_key.stdout + wrong_key.stderr
    assert "BROKEN: bad_checkpoint" in wrong_key.stderr


@pytest.mark.parametrize("store_env", ["sqlite"], indirect=True)
def test_a_backup_of_an_empty_store_has_no_checkpoint_and_says_so(live, fresh, tmp_path):
    ReturnsLedger({**live, "CREATE_TABLE": "yes"}).close()
    out = _cli(live, "backup", str(tmp_path / "b"))
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["checkpoint"] is None and not (tmp_path / "b" / "checkpoint.note").exists()
    restored = _cli(fresh, "restore", str(tmp_path / "b"))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "no signed checkpoint in this backup: verified against its digest only" \
        in restored.stderr


@pytest.mark.parametrize("store_env", ["sqlite"], indirect=True)
def test_a_signing_key_given_in_the_environment_is_needed_or_its_public_key(live, fresh,
                                                                           tmp_path):
    """AUDIT_SIGNING_KEY in the environment is not in the backup: a restore without it (or
    the public key with --key) cannot check the checkpoint, and says so with exit 1."""
    seed = new_signing_key()
    signing = {**live, "AUDIT_SIGNING_KEY": seed}
    ledger = ReturnsLedger({**signing, "CREATE_TABLE": "yes"})
    _register(ledger, 1)
    ledger.close()
    out = _cli(signing, "backup", str(tmp_path / "b"))
    assert out.returncode == 0 and "not included: AUDIT_SIGNING_KEY" in out.stderr
    unchecked = _cli(fresh, "restore", str(tmp_path / "b"))
    assert unchecked.returncode == 1
    assert "restored, NOT verified: no audit signing key" in unchecked.stderr
    again = {**fresh, "SQLITE_DBNAME": str(tmp_path / "again" / "ledger.sqlite3"),
             "VIEWS_SQLITE_DBNAME": str(tmp_path / "again" / "views.sqlite3")}
    vkey = load_signer({"AUDIT_SIGNING_KEY": seed}).verifier.vkey
    checked = _cli(again, "restore", str(tmp_path / "b"), "--key", vkey)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verified: the checkpoint of 1 events" in checked.stdout

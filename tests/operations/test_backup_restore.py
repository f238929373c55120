"""Backup under write load, restore into a fresh store, verify: nothing lost, the sealed
personal data readable with the restored key; a restore never overwrites data or a key."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line
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
    if "PERSONAL_DATA_KEY" in live:  # PostgreSQL: the key lives in the environment
        assert set(manifest["keys"]) == {"WEB_SECRET_KEY_FILE"}
        assert any("PERSONAL_DATA_KEY" in k for k in manifest["keys_not_included"])
        assert "not included: PERSONAL_DATA_KEY" in out.stderr
    else:
        assert set(manifest["keys"]) == {"PERSONAL_DATA_KEY_FILE", "WEB_SECRET_KEY_FILE"}
    for name in manifest["keys"]:
        assert os.stat(tmp_path / "backup" / "keys" / name).st_mode & 0o777 == 0o600

    restored = _cli(fresh, "restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "verified:" in restored.stdout and "matches the backup's digest" in restored.stdout
    for name in manifest["keys"]:
        assert Path(fresh[name]).read_bytes() == Path(live[name]).read_bytes()

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

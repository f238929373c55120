"""`db init` makes every table; with CREATE_TABLE=no nothing else makes one."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from application.ledger import ReturnsLedger
from interfaces.cli import main
from projections.runners import VIEWS, close_runner, projection_env, start_runner
from tests.conftest import TEST_PERSONAL_DATA_KEY


@pytest.fixture
def store(tmp_path, monkeypatch) -> dict[str, str]:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3"),
           "VIEWS_SQLITE_DBNAME": str(tmp_path / "views.sqlite3"),
           "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _tables(path: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_db_init_creates_the_event_store_the_key_table_and_every_view(store) -> None:
    result = CliRunner().invoke(main, ["db", "init"])
    assert result.exit_code == 0, result.output
    assert {"stored_events", "personal_data_keys", "ledger_store"} <= _tables(
        store["SQLITE_DBNAME"])
    views = _tables(store["VIEWS_SQLITE_DBNAME"])
    for spec in VIEWS.values():
        assert {*spec.view.tables, spec.view.tracking_table(),
                spec.view.binding_table()} <= views


def test_with_create_table_no_nothing_is_created_outside_db_init(store) -> None:
    ledger = ReturnsLedger({**store, "CREATE_TABLE": "no"})
    with pytest.raises(Exception, match="no such table"):
        ledger.issue_api_key("admin", None, datetime.now(UTC))
    ledger.close()
    with pytest.raises(Exception, match="no such table"):  # the view is not made either
        start_runner("tracking", projection_env({**store, "CREATE_TABLE": "no"}))
    assert "tracking_view_tracking" not in _tables(store["VIEWS_SQLITE_DBNAME"])


def test_after_db_init_the_service_runs_with_create_table_no(store) -> None:
    assert CliRunner().invoke(main, ["db", "init"]).exit_code == 0
    ledger = ReturnsLedger({**store, "CREATE_TABLE": "no"})
    try:
        ledger.issue_api_key("admin", None, datetime.now(UTC))
        ledger.vault.seal("seller:subject", {"name": "x"})  # the key table is there
    finally:
        ledger.close()
    runner = start_runner("tracking", projection_env({**store, "CREATE_TABLE": "no"}))
    try:
        runner.wait(2, timeout=20)
    finally:
        assert close_runner(runner) is None


@pytest.mark.postgres
def test_db_init_create_database_makes_a_missing_postgres_database(monkeypatch) -> None:
    import uuid

    import psycopg

    from tests.conftest import PG, require_postgres

    require_postgres()
    name = f"rl_init_{uuid.uuid4().hex[:12]}"
    for key, value in {**PG, "PERSISTENCE_MODULE": "eventsourcing.postgres",
                       "POSTGRES_DBNAME": name, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY,
                       "VIEWS_POSTGRES_SCHEMA": "views"}.items():
        monkeypatch.setenv(key, value)
    try:
        missing = CliRunner().invoke(main, ["db", "init"])
        assert missing.exit_code == 2 and "--create-database" in missing.output
        made = CliRunner().invoke(main, ["db", "init", "--create-database"])
        assert made.exit_code == 0, made.output
        assert f"created the database '{name}'" in made.output
        info = CliRunner().invoke(main, ["db", "info"])
        assert info.exit_code == 0 and "identity: " in info.output
    finally:
        with psycopg.connect(host=PG["POSTGRES_HOST"], port=PG["POSTGRES_PORT"],
                             dbname="postgres", user=PG["POSTGRES_USER"],
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_db_init_also_makes_the_audit_and_webhook_tables(store) -> None:
    assert CliRunner().invoke(main, ["db", "init"]).exit_code == 0
    assert {"audit_tree_leaves", "audit_checkpoints"} <= _tables(store["SQLITE_DBNAME"])
    webhooks = str(__import__("pathlib").Path(store["SQLITE_DBNAME"]).with_name(
        "webhooks.sqlite3"))
    assert {"webhook_endpoints", "webhook_deliveries"} <= _tables(webhooks)

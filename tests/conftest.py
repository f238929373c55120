"""Shared fixtures: a fresh ledger per test on SQLite and, for real, on PostgreSQL."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

from application.ledger import ReturnsLedger

# A fixed test key: personal data in tests is sealed like in production.
TEST_PERSONAL_DATA_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()

PG = {
    "POSTGRES_HOST": os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1"),
    "POSTGRES_PORT": os.environ.get("TEST_POSTGRES_PORT", "5432"),
    "POSTGRES_DBNAME": os.environ.get("TEST_POSTGRES_DBNAME", "test"),
    "POSTGRES_USER": os.environ.get("TEST_POSTGRES_USER", "postgres"),
    "POSTGRES_PASSWORD": os.environ.get("TEST_POSTGRES_PASSWORD", ""),
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_pg_unavailable: list[str] = []

# Property tests: thorough in CI, quicker locally; never a time limit per example.
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if IN_CI else "dev"))


def _pg_connect():
    import psycopg

    return psycopg.connect(host=PG["POSTGRES_HOST"], port=PG["POSTGRES_PORT"],
                           dbname=PG["POSTGRES_DBNAME"], user=PG["POSTGRES_USER"],
                           password=PG["POSTGRES_PASSWORD"] or None, autocommit=True,
                           connect_timeout=3)


def require_postgres() -> None:
    """Fail in CI, skip loudly elsewhere, when the PostgreSQL server is missing."""
    try:
        _pg_connect().close()
    except Exception as error:  # noqa: BLE001 - any connection failure means "missing"
        reason = (f"PostgreSQL at {PG['POSTGRES_HOST']}:{PG['POSTGRES_PORT']} "
                  f"db={PG['POSTGRES_DBNAME']} is not reachable: {error}")
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests are mandatory)", pytrace=False)
        _pg_unavailable.append(reason)
        pytest.skip(reason)


@pytest.fixture(autouse=True, scope="session")
def _key_files_outside_the_repo(tmp_path_factory) -> Iterator[None]:
    """Keys generated on first use land in a temporary folder, never in the repo's var/."""
    folder = tmp_path_factory.mktemp("keys")
    saved = {name: os.environ.get(name) for name in ("PERSONAL_DATA_KEY_FILE",
                                                      "WEB_SECRET_KEY_FILE",
                                                      "AUDIT_SIGNING_KEY_FILE")}
    os.environ["PERSONAL_DATA_KEY_FILE"] = str(folder / "personal-data.key")
    os.environ["WEB_SECRET_KEY_FILE"] = str(folder / "web-secret.key")
    os.environ["AUDIT_SIGNING_KEY_FILE"] = str(folder / "audit-signing.key")
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def pg_schema() -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    require_postgres()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield {"PERSISTENCE_MODULE": "eventsourcing.postgres", **PG, "POSTGRES_SCHEMA": schema}
    finally:
        with _pg_connect() as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_env(tmp_path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3")}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request) -> dict[str, str]:
    """The same test on the embedded SQLite store and on a real PostgreSQL schema."""
    base = {"PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}
    if request.param == "sqlite":
        return {**base, **request.getfixturevalue("sqlite_env")}
    return {**base, **request.getfixturevalue("pg_schema")}


@pytest.fixture(params=["memory", "sqlite",
                        pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store_env(request) -> dict[str, str]:
    """The in-memory store (no database is the point), SQLite and PostgreSQL."""
    base = {"PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}
    if request.param == "memory":
        return {**base, "PERSISTENCE_MODULE": "eventsourcing.popo"}
    if request.param == "sqlite":
        return {**base, **request.getfixturevalue("sqlite_env")}
    return {**base, **request.getfixturevalue("pg_schema")}


@pytest.fixture
def memory_ledger() -> Iterator[ReturnsLedger]:
    """A ledger on the library's in-memory store: for application tests of no database."""
    app = ReturnsLedger({"PERSISTENCE_MODULE": "eventsourcing.popo",
                         "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY})
    yield app
    app.close()


@pytest.fixture
def ledger_env(sqlite_env) -> dict[str, str]:
    return {"PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY, **sqlite_env}


@pytest.fixture
def ledger(ledger_env) -> Iterator[ReturnsLedger]:
    """A fresh ledger on its own SQLite file."""
    app = ReturnsLedger(ledger_env)
    yield app
    app.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _pg_unavailable:
        terminalreporter.write_sep("!", "POSTGRESQL TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_pg_unavailable[0], red=True)
        terminalreporter.write_line(
            "Start PostgreSQL on 127.0.0.1:5432 (or set TEST_POSTGRES_*) to run them.", red=True)

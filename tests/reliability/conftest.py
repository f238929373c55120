"""Reliability fixtures: the real service (gunicorn + projector) on PostgreSQL behind a proxy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_postgres
from tests.reliability.live import Live, connect, start_live, stop_live


@pytest.fixture
def pg_schemas() -> Iterator[str]:
    """A fresh schema for the event store (and its `_views`, `_fresh`), dropped afterwards."""
    require_postgres()
    schema = f"rel_{uuid.uuid4().hex[:12]}"
    with connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        drop_schemas(schema)


def drop_schemas(schema: str) -> None:
    with connect() as conn:
        for name in (schema, f"{schema}_views", f"{schema}_fresh"):
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def live(pg_schemas: str, tmp_path: Path) -> Iterator[Live]:
    """The service for one test: it may kill and cut what it likes."""
    running = start_live(pg_schemas, tmp_path / "service.log")
    yield running
    stop_live(running)


@pytest.fixture(scope="package")
def shared_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One service for the tests that do not break it (conflicts, retries, logs)."""
    require_postgres()
    schema = f"rel_{uuid.uuid4().hex[:12]}"
    with connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        running = start_live(schema, tmp_path_factory.mktemp("shared") / "service.log")
        try:
            yield running
        finally:
            stop_live(running)
    finally:
        drop_schemas(schema)

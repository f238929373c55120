"""Reliability fixtures: the real service (gunicorn + projector) on PostgreSQL behind a proxy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _pg_connect, require_postgres
from tests.reliability.live import Live, start_live, stop_live


@pytest.fixture
def pg_schemas() -> Iterator[str]:
    """A fresh schema for the event store (and its `_views`, `_fresh`), dropped afterwards."""
    require_postgres()
    schema = f"rel_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        drop_schemas(schema)


def drop_schemas(schema: str) -> None:
    with _pg_connect() as conn:
        for name in (schema, f"{schema}_views", f"{schema}_fresh"):
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def live(pg_schemas: str, tmp_path: Path) -> Iterator[Live]:
    """The service for one test: it may kill and cut what it likes."""
    running = start_live(pg_schemas, tmp_path / "service.log")
    yield running
    stop_live(running)

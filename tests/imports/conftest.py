"""Fixtures of the import tests: a ledger with a return address, and its import desk."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from application.imports.engine import ImportDesk
from application.ledger import ReturnsLedger
from interfaces.api.catalog import ApiCommands
from tests.api.conftest import client, keys, serving  # noqa: F401 (fixtures on this app)
from tests.imports.support import ADDRESS


def with_address(ledger: ReturnsLedger) -> ReturnsLedger:
    ledger.register_return_address(**{
        **ADDRESS, "effective_from": datetime.fromisoformat(ADDRESS["effective_from"]),
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC)})
    return ledger


@pytest.fixture
def import_ledger(any_store_env: dict[str, str]) -> Iterator[ReturnsLedger]:
    ledger = with_address(ReturnsLedger(any_store_env))
    yield ledger
    ledger.close()


@pytest.fixture
def desk(import_ledger: ReturnsLedger, tmp_path) -> ImportDesk:
    return ImportDesk(import_ledger, ApiCommands(), spool_dir=tmp_path / "spool")


def run_import(desk: ImportDesk, data: bytes, scope: str = "s1", **kwargs: Any) -> Any:
    view = desk.accept(io.BytesIO(data), "canonical", scope, "tester", "key",
                       datetime.now(UTC), **kwargs)
    return desk.run(view.id)


def outcomes(desk: ImportDesk, view: Any) -> list[tuple[int, str]]:
    return [(line["line_no"], line["outcome"]) for line in desk.lines(view.id)]


@pytest.fixture
def app(store_env: dict[str, str], tmp_path) -> Iterator[Flask]:
    """The API on SQLite and on PostgreSQL, importing in its own background thread."""
    with serving({**store_env, "IMPORTS_IN_PROCESS": "yes",
                  "IMPORT_SPOOL_DIR": str(tmp_path / "spool")}) as application:
        with_address(application.extensions["returns_ledger"].get())
        yield application

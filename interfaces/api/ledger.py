"""The app's ReturnsLedger, built on first use (nothing connects at import or start)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from eventsourcing.persistence import PersistenceError
from flask import current_app

from application.ledger import ReturnsLedger
from interfaces.api.problems import StoreUnavailableError

EXTENSION = "returns_ledger"


class LedgerHolder:
    """One ledger per app (so per gunicorn worker), built lazily and thread-safely."""

    def __init__(self, env: Mapping[str, Any] | None,
                 ledger_class: type[ReturnsLedger] = ReturnsLedger) -> None:
        self._env = {k: str(v) for k, v in (env or {}).items()
                     if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
        self._class = ledger_class
        self._ledger: ReturnsLedger | None = None
        self._lock = threading.Lock()

    def get(self) -> ReturnsLedger:
        if self._ledger is None:
            with self._lock:
                if self._ledger is None:
                    try:
                        self._ledger = self._class(self._env)
                    except PersistenceError as error:
                        raise StoreUnavailableError(str(error)) from error
        return self._ledger

    def close(self) -> None:
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None


def ledger() -> ReturnsLedger:
    """The current app's ledger."""
    return current_app.extensions[EXTENSION].get()

"""The app's ReturnsLedger, built on first use (nothing connects at import or start)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from eventsourcing.persistence import PersistenceError
from flask import current_app, g, has_request_context

from application.ledger import ReturnsLedger
from application.settings import Settings
from infrastructure.persistence import store_file
from interfaces.api.problems import StoreReplacedError, StoreUnavailableError

EXTENSION = "returns_ledger"
SETTINGS_EXTENSION = "returns_ledger_settings"


def ledger_overrides(config: Mapping[str, Any] | None) -> dict[str, str]:
    """The text settings of an app's config, which override the environment's."""
    return {k: str(v) for k, v in (config or {}).items()
            if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


class LedgerHolder:
    """One ledger per app (so per gunicorn worker), built lazily and thread-safely."""

    def __init__(self, settings: Settings,
                 ledger_class: type[ReturnsLedger] = ReturnsLedger) -> None:
        self.settings = settings
        self._class = ledger_class
        self._ledger: ReturnsLedger | None = None
        self._file: tuple[int, int] | None = None
        self._before_close: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def get(self) -> ReturnsLedger:
        if self._ledger is None:
            with self._lock:
                if self._ledger is None:
                    try:
                        self._ledger = self._class(self.settings)
                    except PersistenceError as error:
                        raise StoreUnavailableError(str(error)) from error
                    self._file = store_file(self.settings.env)
        if self._file is not None and not _checked_in_this_request() \
                and store_file(self.settings.env) != self._file:
            raise StoreReplacedError(
                f"the event store file {self.settings.env['SQLITE_DBNAME']} was removed or "
                "replaced while the service ran; nothing more is written to the old one: "
                "restart the service on the right store")
        return self._ledger

    def before_close(self, stop: Callable[[], None]) -> None:
        """Run `stop` before the ledger closes: a background thread that uses the ledger
        (the checkpoint timer) must be gone before its connections are (SQLite crashes
        on a connection closed under a running statement)."""
        self._before_close.append(stop)

    def close(self) -> None:
        for stop in self._before_close:
            stop()
        self._before_close.clear()
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None


def _checked_in_this_request() -> bool:
    """Whether this request has looked at the store's file already (once per request is
    enough to notice a replaced file; a request asks for the ledger several times)."""
    if not has_request_context():
        return False
    if g.get("store_file_checked"):
        return True
    g.store_file_checked = True
    return False


def ledger() -> ReturnsLedger:
    """The current app's ledger."""
    return current_app.extensions[EXTENSION].get()

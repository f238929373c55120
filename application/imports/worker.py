"""Imports run in the background: a thread of the web process, or a worker process.

The embedded default (IMPORTS_IN_PROCESS, default yes unless the ledger is on PostgreSQL)
runs each accepted import in one background thread of the process that accepted it. In
production the web processes only accept, and `returns-ledger imports worker` runs them,
looking for newly accepted imports every `poll` seconds. Either first resumes the imports
a crash (or a stop) left unfinished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from eventsourcing.utils import strtobool

from application.imports.engine import ImportDesk

log = logging.getLogger("returns_ledger.imports")


def runs_in_process(env: Mapping[str, str]) -> bool:
    """Whether the process that accepts an import also runs it."""
    configured = env.get("IMPORTS_IN_PROCESS")
    if configured:
        return bool(strtobool(configured))
    return "postgres" not in env.get("PERSISTENCE_MODULE", "")


class ImportWorker:
    """One thread that runs the unfinished imports, oldest first, whenever woken (a new
    import was accepted here) or every `poll` seconds (accepted elsewhere)."""

    def __init__(self, desk: Callable[[], ImportDesk], poll: float | None = None) -> None:
        self.desk = desk
        self.poll = poll
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.idle = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._stopping.clear()
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="imports")
                self._thread.start()

    def submit(self) -> None:
        """An import was accepted: run it (and any other unfinished one) soon."""
        self.idle.clear()
        self._wake.set()
        self.start()

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.desk().resume(self._stopping.is_set)
            except Exception:  # the thread lives on; the import stays resumable
                log.exception("imports could not be run")
            self.idle.set()
            self._wake.wait(self.poll)

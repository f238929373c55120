"""Imports run in the background: a thread of the web process, or a worker process.

The embedded default (IMPORTS_IN_PROCESS, default yes unless the ledger is on PostgreSQL)
runs each accepted import in one background thread of the process that accepted it. In
production the web processes only accept, and `returns-ledger imports worker` runs them,
looking for newly accepted imports every `poll` seconds. Either first resumes the imports
a crash (or a stop) left unfinished, and after the imports applies the waiting lines whose
parcel has advanced (ImportDesk.wake_waiting); while lines wait it looks again at least
every IMPORTS_WAITING_POLL seconds (default 5), so a parcel advanced through the API
wakes its lines without another import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from eventsourcing.utils import strtobool

from application.imports.engine import ImportDesk

log = logging.getLogger("returns_ledger.imports")
WAITING_POLL = 5.0  # seconds between looks while lines wait (IMPORTS_WAITING_POLL)


def waiting_poll(env: Mapping[str, str]) -> float:
    return float(env.get("IMPORTS_WAITING_POLL") or WAITING_POLL)


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
            timeout = self.poll
            try:
                desk = self.desk()
                desk.resume(self._stopping.is_set)
                if desk.store.any_waiting():
                    every = waiting_poll(desk.ledger.env)
                    timeout = every if timeout is None else min(timeout, every)
            except Exception:  # the thread lives on; the import stays resumable
                log.exception("imports could not be run")
            self.idle.set()
            self._wake.wait(timeout)

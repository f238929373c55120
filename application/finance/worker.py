"""Reconciliations run in the background: a thread in the web process, or a worker process.

The embedded default (RECONCILIATIONS_IN_PROCESS, default yes unless the ledger is on
PostgreSQL) runs each accepted reconciliation in one background thread of the process
that accepted it. In production the web processes only accept, and
`returns-ledger finance worker` (or the runner process) runs them. Either first resumes
the runs a crash left running: finished from their spooled files, or marked failed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from uuid import UUID

from eventsourcing.utils import strtobool

from application.finance.reconciliations import FinanceDesk

log = logging.getLogger("returns_ledger.finance")
STOP = None


def runs_in_process(env: Mapping[str, str]) -> bool:
    """Whether the process that accepts a reconciliation also runs it."""
    configured = env.get("RECONCILIATIONS_IN_PROCESS")
    if configured:
        return bool(strtobool(configured))
    return "postgres" not in env.get("PERSISTENCE_MODULE", "")


class ReconciliationWorker:
    """One thread that runs reconciliations one at a time, resuming unfinished ones first.

    `poll`: seconds between looks for runs accepted elsewhere (the worker process);
    None: only the runs submitted to it (the web process's thread).
    """

    def __init__(self, desk: Callable[[], FinanceDesk], poll: float | None = None) -> None:
        self.desk = desk
        self.poll = poll
        self._queue: queue.Queue[UUID | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.idle = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="reconciliations")
                self._thread.start()

    def submit(self, reconciliation: UUID) -> None:
        """Run this accepted reconciliation soon."""
        self.idle.clear()
        self._queue.put(reconciliation)
        self.start()

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(STOP)
            thread.join(timeout)

    def _loop(self) -> None:
        self._resume()
        while True:
            if self._queue.empty():
                self.idle.set()
            try:
                run_id = self._queue.get(timeout=self.poll)
            except queue.Empty:
                self._resume()
                continue
            if run_id is STOP:
                return
            try:
                self.desk().run(run_id)
            except Exception:  # the thread lives on; the run stays resumable
                log.exception("reconciliation %s could not be run", run_id)

    def _resume(self) -> None:
        try:
            resumed = self.desk().resume()
        except Exception:  # e.g. the store is away: try again next time
            log.exception("unfinished reconciliations could not be resumed")
            return
        if resumed:
            log.info("resumed reconciliations %s", [str(r) for r in resumed])

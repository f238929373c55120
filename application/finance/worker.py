"""Reconciliations run in the background (application/background.py):
RECONCILIATIONS_IN_PROCESS, default yes unless the ledger is on PostgreSQL, where
`returns-ledger finance worker` (or the runner process) runs them. A pass runs the runs
submitted here; the first pass, and a worker process's pass that had none, runs every
accepted run still running (a crash's, or another process's), from its spooled files: done, or failed with
the reason."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from uuid import UUID

from application.background import ResumingWorker
from application.finance.reconciliations import FinanceDesk

log = logging.getLogger("returns_ledger.finance")
IN_PROCESS = "RECONCILIATIONS_IN_PROCESS"


class ReconciliationWorker(ResumingWorker):
    name = "reconciliations"

    def __init__(self, desk: Callable[[], FinanceDesk], poll: float | None = None) -> None:
        super().__init__(poll)
        self.desk = desk
        self._submitted: queue.SimpleQueue[UUID] = queue.SimpleQueue()
        self._resumed = False

    def submit(self, reconciliation: UUID) -> None:
        """Run this accepted reconciliation soon."""
        self._submitted.put(reconciliation)
        self.wake()

    def work(self, stopping: Callable[[], bool]) -> None:
        desk, ran = self.desk(), False
        while not stopping():
            try:
                run_id = self._submitted.get_nowait()
            except queue.Empty:
                break
            ran = True
            try:
                desk.run(run_id)
            except Exception:  # e.g. the store is away: the run stays running, resumable
                log.exception("reconciliation %s could not be run", run_id)
        if not self._resumed or (not ran and self.poll is not None):
            self._resumed = True
            resumed = desk.resume()
            if resumed:
                log.info("resumed reconciliations %s", [str(r) for r in resumed])

"""Imports run in the background (application/background.py): IMPORTS_IN_PROCESS, default
yes unless the ledger is on PostgreSQL, where `returns-ledger imports worker` runs them.
A pass resumes every unfinished import, oldest first, then applies the waiting lines whose
parcel has advanced (ImportDesk.wake_waiting); while lines wait, the next pass comes at
least every IMPORTS_WAITING_POLL seconds (default 5), so a parcel advanced through the API
wakes its lines without another import."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from application.background import ResumingWorker
from application.imports.engine import ImportDesk

IN_PROCESS = "IMPORTS_IN_PROCESS"
WAITING_POLL = 5.0  # seconds between passes while lines wait (IMPORTS_WAITING_POLL)


def waiting_poll(env: Mapping[str, str]) -> float:
    return float(env.get("IMPORTS_WAITING_POLL") or WAITING_POLL)


class ImportWorker(ResumingWorker):
    name = "imports"

    def __init__(self, desk: Callable[[], ImportDesk], poll: float | None = None) -> None:
        super().__init__(poll)
        self.desk = desk
        self._waiting_every: float | None = None

    def work(self, stopping: Callable[[], bool]) -> None:
        desk = self.desk()
        self._waiting_every = None
        desk.resume(stopping)  # the imports, then their waiting lines
        if desk.store.any_waiting():
            self._waiting_every = waiting_poll(desk.ledger.env)

    def next_wait(self) -> float | None:
        every = self._waiting_every
        if every is None:
            return self.poll
        return every if self.poll is None else min(self.poll, every)

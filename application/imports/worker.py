"""Imports run in the background (application/background.py): IMPORTS_IN_PROCESS, default
yes unless the ledger is on PostgreSQL, where `returns-ledger imports worker` runs them.
A pass resumes every unfinished import, oldest first."""

from __future__ import annotations

from collections.abc import Callable

from application.background import ResumingWorker
from application.imports.engine import ImportDesk

IN_PROCESS = "IMPORTS_IN_PROCESS"


class ImportWorker(ResumingWorker):
    name = "imports"

    def __init__(self, desk: Callable[[], ImportDesk], poll: float | None = None) -> None:
        super().__init__(poll)
        self.desk = desk

    def work(self, stopping: Callable[[], bool]) -> None:
        self.desk().resume(stopping)

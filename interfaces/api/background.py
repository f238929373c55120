"""The background worker of this app that runs accepted work (imports, reconciliations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app

from application.background import ResumingWorker, runs_in_process
from interfaces.api.ledger import EXTENSION, ledger

W = TypeVar("W", bound=ResumingWorker)


def in_process_worker(name: str, variable: str, make: Callable[[Any], W]) -> W | None:
    """This app's worker called `name`, made from its ledger on first use; None when
    `variable` says a worker process runs the work instead."""
    app = current_app
    worker: W | None = app.extensions.get(name)
    if worker is None:
        if not runs_in_process(ledger().env, variable):
            return None
        worker = app.extensions.setdefault(name, make(ledger()))
        # The thread must be gone before the ledger's connections are (SQLite crashes on
        # a connection closed under a running statement).
        app.extensions[EXTENSION].before_close(worker.stop)
    return worker

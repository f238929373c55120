"""Queries from the streaming replica when POSTGRES_READ_HOST names one (infrastructure/
replica.py); commands always use the primary (`ledger()`).

A query with `min_position` (the `position` a command answered) waits until the replica has
replayed it (POSTGRES_READ_WAIT_SECONDS), then answers from the replica; if it has not by
then, 503 `replica-behind` with Retry-After, never an answer older than what was asked for
(or 409 `position-not-recorded` when the primary has not recorded that position either).
The views' queries wait the same way (interfaces/api/views.py).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app

from application.ledger import ReturnsLedger
from application.settings import Settings
from infrastructure.replica import ReplicaReads, replica_env
from interfaces.api.ledger import SETTINGS_EXTENSION, ledger
from interfaces.api.problems import problem

EXTENSION = "returns_ledger_replica"


class ReplicaBehindError(Exception):
    """The replica had not replayed the position asked for within the wait."""

    def __init__(self, position: int, replayed: int) -> None:
        super().__init__(f"the read replica has replayed position {replayed}, not yet "
                         f"{position}; retry, or read without min_position")
        self.position = position
        self.replayed = replayed


class PositionNotRecordedError(Exception):
    """The primary has not recorded the position asked for."""

    def __init__(self, head: int, position: int) -> None:
        super().__init__(f"the ledger has recorded events up to {head}, not {position}")
        self.head = head
        self.position = position


def install(app: Flask) -> None:
    """A replica's read side for the app when one is configured."""
    settings: Settings = app.extensions[SETTINGS_EXTENSION]
    if replica_env(settings.env) is not None:
        app.extensions[EXTENSION] = ReplicaReads(
            settings.env, lambda env: ReturnsLedger(Settings.from_env(env)))
    app.register_error_handler(ReplicaBehindError, _behind)
    app.register_error_handler(PositionNotRecordedError, lambda error: position_not_recorded(
        error.head, error.position))


def _behind(error: ReplicaBehindError) -> Response:
    return problem(503, "replica-behind", str(error), headers={"Retry-After": "1"})


def position_not_recorded(head: int, min_position: int, **facts: str) -> Response:
    """409: the ledger (the primary) has not recorded `min_position`: no wait can reach it."""
    return problem(409, "position-not-recorded", f"the ledger has recorded events up to "
                   f"{head}, not {min_position}",
                   facts={**facts, "min_position": str(min_position)})


def query_ledger(min_position: int | None = None) -> Any:
    """The ledger a query reads: the replica's (once it replayed `min_position`), or the
    primary's when no replica is configured."""
    replica: ReplicaReads | None = current_app.extensions.get(EXTENSION)
    if replica is None:
        return ledger()
    if not replica.wait_for(min_position):
        position = int(min_position or 0)
        head = ledger().recorder.max_notification_id() or 0
        if position > head:
            raise PositionNotRecordedError(head, position)
        raise ReplicaBehindError(position, replica.replayed_position())
    return replica.ledger

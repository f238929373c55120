"""Queries from a PostgreSQL streaming replica (hot standby); commands stay on the primary.

POSTGRES_READ_HOST (and POSTGRES_READ_PORT, _DBNAME, _USER, _PASSWORD, each defaulting to
the primary's) names the replica. A read that must see a write asks for its position (the
`position` a command answered): the replica has replayed it once its events table holds
that notification id (the primary records ids in order, under the table's lock), so
`wait_for` polls that, up to POSTGRES_READ_WAIT_SECONDS, and answers whether it got there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

READ_PREFIX = "POSTGRES_READ_"
FIELDS = ("HOST", "PORT", "DBNAME", "USER", "PASSWORD")
DEFAULT_WAIT_SECONDS = 5.0


def replica_env(env: Mapping[str, str]) -> dict[str, str] | None:
    """The primary's settings with the replica's connection in place of the primary's, and
    nothing created on it (a standby is read only); None when no replica is configured."""
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        return None
    if not env.get(f"{READ_PREFIX}HOST"):
        return None
    replica = {k: v for k, v in env.items() if not k.startswith(READ_PREFIX)}
    for name in FIELDS:
        value = env.get(f"{READ_PREFIX}{name}")
        if value:
            replica[f"POSTGRES_{name}"] = value
    replica["CREATE_TABLE"] = "no"
    replica["GROUP_COMMIT"] = "no"
    return replica


def wait_seconds(env: Mapping[str, str]) -> float:
    raw = env.get(f"{READ_PREFIX}WAIT_SECONDS")
    return float(raw) if raw else DEFAULT_WAIT_SECONDS


class ReplicaReads:
    """The read side on a replica: a ledger whose queries read the standby, and the views
    there. Build the ledger with `make_ledger(env)` (the application's class)."""

    def __init__(self, env: Mapping[str, str], make_ledger: Callable[[Mapping[str, str]], Any],
                 ) -> None:
        replica = replica_env(env)
        if replica is None:
            raise ValueError("no replica configured (POSTGRES_READ_HOST)")
        self.env = replica
        self.timeout = wait_seconds(env)
        self._make = make_ledger
        self._ledger: Any = None
        self._lock = threading.Lock()

    @property
    def ledger(self) -> Any:
        """A ledger on the replica, for queries only (a command on it fails: read only)."""
        if self._ledger is None:
            with self._lock:
                if self._ledger is None:
                    self._ledger = self._make(self.env)
        return self._ledger

    def replayed_position(self) -> int:
        """The last notification id the replica has replayed."""
        return int(self.ledger.recorder.max_notification_id() or 0)

    def wait_for(self, position: int | None, timeout: float | None = None) -> bool:
        """Wait until the replica has replayed `position`; False when it had not in time."""
        if position is None or position <= 0:
            return True
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        pause = 0.002
        while self.replayed_position() < position:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        return True

    def lag_seconds(self) -> float | None:
        """How far behind the primary the replica's replay is, by the primary's commit
        times (None when it has replayed nothing or is not a standby)."""
        with self.ledger.recorder.datastore.get_connection() as conn:
            row = conn.execute("SELECT CASE WHEN pg_is_in_recovery() THEN EXTRACT(EPOCH FROM "
                               "now() - pg_last_xact_replay_timestamp()) END AS lag"
                               ).fetchone()
        value = row["lag"] if isinstance(row, dict) else row[0]
        return float(value) if value is not None else None

    def close(self) -> None:
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None

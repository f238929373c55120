"""Configuration from environment variables, with the embedded SQLite default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_SQLITE_PATH = "var/ledger.sqlite3"


def ledger_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The eventsourcing settings: SQLite under var/ unless PERSISTENCE_MODULE says otherwise."""
    env = dict(os.environ)
    if overrides:
        env.update({k: str(v) for k, v in overrides.items()})
    env.setdefault("PERSISTENCE_MODULE", "eventsourcing.sqlite")
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        env.setdefault("SQLITE_DBNAME", DEFAULT_SQLITE_PATH)
        db = env["SQLITE_DBNAME"]
        if db != ":memory:" and not db.startswith("file:"):
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        env.setdefault("SQLITE_LOCK_TIMEOUT", "10")
        # Positions never reused after a removed tail (infrastructure/recorders.py).
        env.setdefault("APPLICATION_RECORDER_TOPIC", "infrastructure.recorders:SQLiteLedgerRecorder")
    elif env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        env.setdefault("POSTGRES_HOST", "127.0.0.1")
        env.setdefault("POSTGRES_PORT", "5432")
        env.setdefault("POSTGRES_DBNAME", "returns_ledger")
        env.setdefault("POSTGRES_USER", "postgres")
        env.setdefault("POSTGRES_PASSWORD", "")
    # Aggregates are small; cache them so a command reads only the new events.
    env.setdefault("AGGREGATE_CACHE_MAXSIZE", "10000")
    return env

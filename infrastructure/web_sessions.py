"""The table of open web sessions (interfaces/web/session.py), in the event store's database.

A row is a session that may still be used: the SHA-256 of its random id (the cookie holds
the id, never the table), the API key it was opened with, and until when it is good.
Signing out deletes the row; a revoked key's rows are deleted when it is revoked or next
presented; expired rows are refused, and deleted when the next session opens.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

SESSION_TABLE = "web_sessions"


def session_hash(session_id: str) -> str:
    """The only form in which a session id is stored."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class WebSessionStore:
    """Open web sessions, in the event store's own database (SQLite file or PostgreSQL
    schema); times are whole seconds since the epoch."""

    def __init__(self, datastore: Any, postgres: bool, create_table: bool = True) -> None:
        self.datastore = datastore
        self.postgres = postgres
        self.mark = "%s" if postgres else "?"
        self.table = f'"{datastore.schema}".{SESSION_TABLE}' if postgres else SESSION_TABLE
        if create_table:
            self.create_table()

    @classmethod
    def for_recorder(cls, recorder: Any, create_table: bool = True) -> WebSessionStore:
        """The session table beside the recorder's events."""
        postgres = type(recorder).__module__ == "eventsourcing.postgres"
        return cls(recorder.datastore, postgres, create_table)

    def create_table(self) -> None:
        self._run(f"CREATE TABLE IF NOT EXISTS {self.table} (session_hash TEXT PRIMARY KEY, "
                  "key_id TEXT NOT NULL, opened_at BIGINT NOT NULL, "
                  "expires_at BIGINT NOT NULL)")
        self._run(f"CREATE INDEX IF NOT EXISTS {SESSION_TABLE}_key_id ON {self.table} "
                  "(key_id)")

    def _run(self, statement: str, params: tuple[Any, ...] = (),
             commit: bool = True) -> list[Any]:
        statement = statement.replace("?", self.mark)
        with self.datastore.transaction(commit=commit) as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall()) if statement.startswith("SELECT") else []

    def open(self, session_id: str, key_id: UUID, now: int, expires_at: int) -> None:
        """A new session; sessions expired by `now` are deleted on the way."""
        self._run(f"DELETE FROM {self.table} WHERE expires_at <= ?", (now,))
        self._run(f"INSERT INTO {self.table} (session_hash, key_id, opened_at, expires_at) "
                  "VALUES (?, ?, ?, ?)", (session_hash(session_id), str(key_id), now,
                                          expires_at))

    def key_of(self, session_id: str, now: int) -> UUID | None:
        """The key of an open session that has not expired by `now`, else None."""
        rows = self._run(f"SELECT key_id FROM {self.table} WHERE session_hash = ? AND "
                         "expires_at > ?", (session_hash(session_id), now), commit=False)
        return UUID(rows[0]["key_id"]) if rows else None

    def close(self, session_id: str) -> None:
        """Sign-out: the session opens nothing any more."""
        self._run(f"DELETE FROM {self.table} WHERE session_hash = ?",
                  (session_hash(session_id),))

    def close_all_of(self, key_id: UUID) -> int:
        """Every session of a key (it was revoked); how many were open."""
        open_ones = self._run(f"SELECT session_hash FROM {self.table} WHERE key_id = ?",
                              (str(key_id),), commit=False)
        self._run(f"DELETE FROM {self.table} WHERE key_id = ?", (str(key_id),))
        return len(open_ones)

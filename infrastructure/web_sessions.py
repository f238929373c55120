"""The table of open web sessions (interfaces/web/session.py), in the event store's database.

A row is a session that may still be used: the SHA-256 of its random id (the cookie holds
the id, never the table), the API key it was opened with, and until when it is good.
Signing out deletes the row; a revoked key's rows are deleted when it is revoked or next
presented; expired rows are refused, and deleted when the next session opens.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any
from uuid import UUID

SESSION_TABLE = "web_sessions"


def session_hash(session_id: str) -> str:
    """The only form in which a session id is stored."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def _columns(text: str) -> str:
    """The columns (key_id is the API key's UUID, as text)."""
    return (f"(session_hash {text} PRIMARY KEY, key_id {text} NOT NULL, "
            "opened_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)")


def sqlite_create_statements() -> list[str]:
    """The session table's DDL on SQLite, made by the application recorder with its own
    tables (infrastructure/persistence.py)."""
    return [f"CREATE TABLE IF NOT EXISTS {SESSION_TABLE} {_columns('TEXT')}",
            f"CREATE INDEX IF NOT EXISTS {SESSION_TABLE}_key_id ON {SESSION_TABLE} (key_id)"]


# The same on PostgreSQL, as psycopg.sql templates: {schema}, {table} and {index} are
# Identifiers the recorder fills in (infrastructure/persistence.py).
POSTGRES_CREATE_TEMPLATES = [
    "CREATE TABLE IF NOT EXISTS {schema}.{table} " + _columns("TEXT"),
    "CREATE INDEX IF NOT EXISTS {index} ON {schema}.{table} (key_id)",
]


class WebSessionStore:
    """Open web sessions, in the event store's own database (SQLite file or PostgreSQL
    schema); times are whole seconds since the epoch."""

    def __init__(self, datastore: Any, postgres: bool) -> None:
        self.datastore = datastore
        self.postgres = postgres
        self.mark = "%s" if postgres else "?"
        self.table = f'"{datastore.schema}".{SESSION_TABLE}' if postgres else SESSION_TABLE

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


class MemoryWebSessions:
    """The session table of the in-memory store: the same answers, kept in a dict."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[UUID, int]] = {}
        self._lock = threading.Lock()

    def open(self, session_id: str, key_id: UUID, now: int, expires_at: int) -> None:
        with self._lock:
            self._rows = {h: row for h, row in self._rows.items() if row[1] > now}
            self._rows[session_hash(session_id)] = (key_id, expires_at)

    def key_of(self, session_id: str, now: int) -> UUID | None:
        row = self._rows.get(session_hash(session_id))
        return row[0] if row and row[1] > now else None

    def close(self, session_id: str) -> None:
        with self._lock:
            self._rows.pop(session_hash(session_id), None)

    def close_all_of(self, key_id: UUID) -> int:
        with self._lock:
            gone = [h for h, row in self._rows.items() if row[0] == key_id]
            for found in gone:
                del self._rows[found]
        return len(gone)

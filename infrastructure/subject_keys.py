"""The table of wrapped per-subject keys (application/privacy.py), in the event store's database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

KEY_TABLE = "personal_data_keys"


def sqlite_create_statement() -> str:
    """The key table's DDL on SQLite; the application recorder creates it with its own
    tables (infrastructure/persistence.py, which also holds the PostgreSQL form)."""
    return (f"CREATE TABLE IF NOT EXISTS {KEY_TABLE} (subject_id TEXT PRIMARY KEY, "
            "wrapped_key BLOB, created_at TEXT NOT NULL, erased_at TEXT)")


class SubjectKeyStore:
    """The table of wrapped subject keys, in the event store's own database."""

    def __init__(self, datastore: Any, postgres: bool) -> None:
        self.datastore = datastore
        self.postgres = postgres
        self.mark = "%s" if postgres else "?"
        self.table = f'"{datastore.schema}".{KEY_TABLE}' if postgres else KEY_TABLE

    def _run(self, statement: str, params: tuple[Any, ...] = (),
             commit: bool = True) -> list[Any]:
        statement = statement.replace("?", self.mark)
        with self.datastore.transaction(commit=commit) as cursor:
            if not self.postgres and commit:
                cursor.execute("PRAGMA secure_delete = ON")  # overwrite freed key bytes
            cursor.execute(statement, params)
            reads = statement.startswith("SELECT") or " RETURNING " in statement
            return list(cursor.fetchall()) if reads else []

    def get(self, subject_id: str) -> bytes | None:
        rows = self._run(f"SELECT wrapped_key FROM {self.table} WHERE subject_id = ?",
                         (subject_id,), commit=False)
        return bytes(rows[0]["wrapped_key"]) if rows and rows[0]["wrapped_key"] else None

    def put(self, subject_id: str, wrapped_key: bytes) -> None:
        """Store a new key (also for a subject erased before: new data, new key)."""
        now = datetime.now(UTC).isoformat()
        self._run(f"INSERT INTO {self.table} (subject_id, wrapped_key, created_at) "
                  "VALUES (?, ?, ?) ON CONFLICT (subject_id) DO UPDATE SET "
                  "wrapped_key = excluded.wrapped_key, created_at = excluded.created_at, "
                  "erased_at = NULL", (subject_id, wrapped_key, now))

    def destroy(self, subject_id: str) -> bool:
        """Overwrite and drop the subject's key; True when there was one."""
        if self.get(subject_id) is None:
            return False
        self._run(f"UPDATE {self.table} SET wrapped_key = NULL, erased_at = ? "
                  "WHERE subject_id = ?", (datetime.now(UTC).isoformat(), subject_id))
        self.purge()
        return True

    def erased_at(self, subject_id: str) -> str | None:
        rows = self._run(f"SELECT erased_at FROM {self.table} WHERE subject_id = ?",
                         (subject_id,), commit=False)
        return rows[0]["erased_at"] if rows else None

    def wrapped_keys(self) -> list[tuple[str, bytes]]:
        """Every (subject id, wrapped key) not erased: what a master-key rotation re-wraps."""
        rows = self._run(f"SELECT subject_id, wrapped_key FROM {self.table} "
                         "WHERE wrapped_key IS NOT NULL ORDER BY subject_id", commit=False)
        return [(row["subject_id"], bytes(row["wrapped_key"])) for row in rows]

    def rewrap(self, subject_id: str, old: bytes, new: bytes) -> bool:
        """Replace a wrapped key, only if it is still `old` (not erased or rotated meanwhile)."""
        rows = self._run(f"UPDATE {self.table} SET wrapped_key = ? WHERE subject_id = ? "
                         "AND wrapped_key = ? RETURNING subject_id", (new, subject_id, old))
        return bool(rows)

    def purge(self) -> None:
        """Push old key bytes out of the write-ahead log (SQLite), or rewrite the key table
        without dead row versions (PostgreSQL: only those no running transaction of the
        server may still see; purge again once older transactions ended)."""
        if self.postgres:
            with self.datastore.get_connection() as conn:
                autocommit, conn.autocommit = conn.autocommit, True  # VACUUM needs it
                try:
                    conn.execute(f"VACUUM FULL {self.table}")  # a new file, without the row
                finally:
                    conn.autocommit = autocommit
            return
        with self.datastore.get_connection(commit=True) as conn:
            conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")


class MemorySubjectKeys:
    """The key table of the in-memory store: the same answers, kept in a dict."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[bytes | None, str | None]] = {}

    def get(self, subject_id: str) -> bytes | None:
        return self._keys.get(subject_id, (None, None))[0]

    def put(self, subject_id: str, wrapped_key: bytes) -> None:
        self._keys[subject_id] = (wrapped_key, None)

    def destroy(self, subject_id: str) -> bool:
        if self.get(subject_id) is None:
            return False
        self._keys[subject_id] = (None, datetime.now(UTC).isoformat())
        return True

    def erased_at(self, subject_id: str) -> str | None:
        return self._keys.get(subject_id, (None, None))[1]

    def wrapped_keys(self) -> list[tuple[str, bytes]]:
        return sorted((k, v[0]) for k, v in self._keys.items() if v[0] is not None)

    def rewrap(self, subject_id: str, old: bytes, new: bytes) -> bool:
        if self.get(subject_id) != old:
            return False
        self._keys[subject_id] = (new, None)
        return True

    def purge(self) -> None:
        """Nothing outlives the process in memory."""

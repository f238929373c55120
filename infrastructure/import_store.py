"""The tables of bulk imports (application/imports/), in the event store's own database.

`ledger_imports`: one row per import (a file or one pushed delivery): its format, seller
scope, content digest, status and how far it got. `ledger_import_lines`: one row per
command a source record maps to (part 0..n-1; a record that maps to none, or cannot be
read, has one row, part 0), numbered by the record's place in the file (`record_no`: a
JSON document of several checkpoints is one line and several records): the raw record's
SHA-256, the raw record itself (sealed) in the first row of its bytes on its line (the
line's other rows say `same:`), the command, its target and body as staged, and once
applied its outcome. The pending rows are read in business-time
order per parcel through `ledger_import_lines_pending`. `ledger_intake_secrets`: the
per-source secrets of the push intake. The recorders create these with their own tables
(infrastructure/persistence.py), so `returns-ledger db init` and CREATE_TABLE=no cover them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError

IMPORTS, LINES, SECRETS = "ledger_imports", "ledger_import_lines", "ledger_intake_secrets"
TARGETS = "ledger_import_targets"
CURSORS = "ledger_import_cursors"
IMPORT_COLUMNS = ("import_id", "format", "scope", "digest", "size", "file_name", "origin",
                  "status", "started_at", "started_by", "key_id", "staged_lines",
                  "finished_at", "failure")
LINE_COLUMNS = ("import_id", "record_no", "line_no", "part", "outcome", "group_key", "phase",
                "occurred_at", "source_key", "rule", "command", "target", "body", "raw",
                "raw_sha256", "parcel_id", "version", "problem_type", "problem_rule",
                "detail")
# A row as the applier reads it (every column but the raw record, which it never needs).
APPLY_COLUMNS = tuple(c for c in LINE_COLUMNS if c != "raw")
OUTCOME_COLUMNS = ("outcome", "parcel_id", "version", "problem_type", "problem_rule",
                   "detail")


def create_statements(prefix: str = "") -> list[str]:
    """The tables' DDL (SQLite and PostgreSQL alike); `prefix` qualifies the names
    (PostgreSQL: the ledger's schema)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}{IMPORTS} (import_id TEXT PRIMARY KEY, "
        "format TEXT NOT NULL, scope TEXT NOT NULL, digest TEXT NOT NULL, size BIGINT NOT NULL, "
        "file_name TEXT NOT NULL, origin TEXT NOT NULL, status TEXT NOT NULL, "
        "started_at TEXT NOT NULL, started_by TEXT NOT NULL, key_id TEXT NOT NULL, "
        "staged_lines BIGINT NOT NULL DEFAULT 0, finished_at TEXT, failure TEXT)",
        f"CREATE INDEX IF NOT EXISTS {IMPORTS}_by_scope ON {prefix}{IMPORTS} "
        "(scope, started_at)",
        f"CREATE TABLE IF NOT EXISTS {prefix}{LINES} (import_id TEXT NOT NULL, "
        "record_no BIGINT NOT NULL, line_no BIGINT NOT NULL, part INTEGER NOT NULL, "
        "outcome TEXT NOT NULL, "
        "group_key TEXT NOT NULL, phase INTEGER NOT NULL, occurred_at TEXT NOT NULL, "
        "source_key TEXT NOT NULL, rule TEXT NOT NULL, command TEXT NOT NULL, "
        "target TEXT NOT NULL, body TEXT NOT NULL, raw TEXT NOT NULL, "
        "raw_sha256 TEXT NOT NULL, parcel_id TEXT, version INTEGER, problem_type TEXT, "
        "problem_rule TEXT, detail TEXT, PRIMARY KEY (import_id, record_no, part))",
        f"CREATE INDEX IF NOT EXISTS {LINES}_pending ON {prefix}{LINES} "
        "(import_id, outcome, group_key, phase, occurred_at, record_no, part)",
        # Waiting lines (any import's) by the parcel they wait for: as named, and once
        # found, by its id.
        f"CREATE INDEX IF NOT EXISTS {LINES}_waiting_group ON {prefix}{LINES} "
        "(outcome, group_key)",
        f"CREATE INDEX IF NOT EXISTS {LINES}_waiting_parcel ON {prefix}{LINES} "
        "(outcome, parcel_id)",
        # How far the event log was read for waiting lines (name 'waiting').
        f"CREATE TABLE IF NOT EXISTS {prefix}{CURSORS} (name TEXT PRIMARY KEY, "
        "position BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {prefix}{SECRETS} (secret_id TEXT PRIMARY KEY, "
        "source TEXT NOT NULL, seller_id TEXT NOT NULL, sealed TEXT NOT NULL, "
        "created_at TEXT NOT NULL, revoked_at TEXT)",
        # Return labels' tracking numbers and platform orders -> parcels, caught up from
        # the event log (position: the row with kind 'position').
        f"CREATE TABLE IF NOT EXISTS {prefix}{TARGETS} (kind TEXT NOT NULL, "
        "platform TEXT NOT NULL, lookup TEXT NOT NULL, parcel_id TEXT NOT NULL, "
        "seller_id TEXT NOT NULL, PRIMARY KEY (kind, platform, lookup, parcel_id))",
    ]


class ImportStore:
    """Reads and writes the import tables, one short transaction each."""

    def __init__(self, transaction: Any, postgres: bool, prefix: str = "") -> None:
        self._transaction = transaction
        self.postgres = postgres
        self.prefix = prefix

    def _sql(self, statement: str) -> str:
        statement = statement.replace("{p}", self.prefix)
        return statement.replace("?", "%s") if self.postgres else statement

    def _rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._transaction(commit=False) as cursor:
            cursor.execute(self._sql(statement), tuple(params))
            return [dict(row) for row in cursor.fetchall()]

    def _write(self, statement: str, many: Sequence[Sequence[Any]]) -> None:
        if not many:
            return
        with self._transaction(commit=True) as cursor:
            cursor.executemany(self._sql(statement), [tuple(p) for p in many])

    # -- imports --------------------------------------------------------------------
    def add_import(self, row: Mapping[str, Any]) -> bool:
        """Record a new import; False when one with its id exists (the same file again)."""
        marks = ", ".join("?" for _ in IMPORT_COLUMNS)
        statement = self._sql(f"INSERT INTO {{p}}{IMPORTS} ({', '.join(IMPORT_COLUMNS)}) "
                              f"VALUES ({marks})")
        try:
            with self._transaction(commit=True) as cursor:
                cursor.execute(statement, tuple(row.get(c) for c in IMPORT_COLUMNS))
        except (IntegrityError, sqlite3.IntegrityError):
            return False
        return True

    def get_import(self, import_id: str) -> dict[str, Any] | None:
        rows = self._rows(f"SELECT * FROM {{p}}{IMPORTS} WHERE import_id = ?", [import_id])
        return rows[0] if rows else None

    def list_imports(self, scope: str | None, offset: int, limit: int) -> list[dict[str, Any]]:
        where, params = ("WHERE scope = ?", [scope]) if scope is not None else ("", [])
        return self._rows(f"SELECT * FROM {{p}}{IMPORTS} {where} ORDER BY started_at DESC, "
                          f"import_id LIMIT {int(limit)} OFFSET {int(offset)}", params)

    def unfinished(self) -> list[str]:
        rows = self._rows(f"SELECT import_id FROM {{p}}{IMPORTS} WHERE status NOT IN "
                          "('done', 'failed') ORDER BY started_at")
        return [r["import_id"] for r in rows]

    def set_status(self, import_id: str, status: str, **columns: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in ("status", *columns))
        self._write(f"UPDATE {{p}}{IMPORTS} SET {sets} WHERE import_id = ?",
                    [(status, *columns.values(), import_id)])

    # -- lines ----------------------------------------------------------------------
    def stage(self, import_id: str, rows: Sequence[Mapping[str, Any]], staged: int) -> None:
        """Insert staged lines (a line staged before a crash is kept as it was) and how
        far the file was read, in one transaction."""
        marks = ", ".join("?" for _ in LINE_COLUMNS)
        insert = self._sql(f"INSERT INTO {{p}}{LINES} ({', '.join(LINE_COLUMNS)}) "
                           f"VALUES ({marks}) ON CONFLICT (import_id, record_no, part) DO NOTHING")
        with self._transaction(commit=True) as cursor:
            if rows:
                cursor.executemany(insert, [tuple({**r, "import_id": import_id}.get(c)
                                                  for c in LINE_COLUMNS)
                                            for r in rows])
            cursor.execute(self._sql(f"UPDATE {{p}}{IMPORTS} SET staged_lines = ? "
                                     "WHERE import_id = ?"), (staged, import_id))

    def pending(self, import_id: str, limit: int) -> list[dict[str, Any]]:
        """The next staged commands, per parcel in business-time order."""
        return self._rows(
            f"SELECT * FROM {{p}}{LINES} WHERE import_id = ? AND outcome = 'pending' "
            "ORDER BY group_key, phase, occurred_at, record_no, part "
            f"LIMIT {int(limit)}", [import_id])

    def with_outcome(self, import_id: str, outcomes: Sequence[str],
                     after: tuple[str, int, int] | None, limit: int) -> list[dict[str, Any]]:
        """A page of the rows with these outcomes in business-time order, after a row's
        (occurred_at, record_no, part)."""
        marks = ", ".join("?" for _ in outcomes)
        where = f"import_id = ? AND outcome IN ({marks})"
        params: list[Any] = [import_id, *outcomes]
        if after is not None:
            where += (" AND (occurred_at > ? OR (occurred_at = ? AND (record_no > ? OR "
                      "(record_no = ? AND part > ?))))")
            params += [after[0], after[0], after[1], after[1], after[2]]
        return self._rows(f"SELECT * FROM {{p}}{LINES} WHERE {where} ORDER BY occurred_at, "
                          f"record_no, part LIMIT {int(limit)}", params)

    def finish_held(self, import_id: str) -> None:
        """The lines still held after the last pass: late, or waiting (for an earlier
        step of their parcel, or the parcel itself, to arrive)."""
        self._write(f"UPDATE {{p}}{LINES} SET outcome = CASE outcome WHEN 'held_late' "
                    "THEN 'late' ELSE 'waiting' END WHERE import_id = ? AND outcome IN "
                    "('held', 'held_late')", [(import_id,)])

    def any_waiting(self) -> bool:
        return bool(self._rows(f"SELECT 1 AS one FROM {{p}}{LINES} WHERE outcome = 'waiting' "
                               "LIMIT 1"))

    def waiting_for(self, keys: Sequence[str], chunk: int = 400) -> list[dict[str, Any]]:
        """The waiting rows of any import whose parcel is one of these keys (a group key,
        as the line named its parcel, or a parcel id once found), without the raw record,
        in business-time order."""
        found: dict[tuple[str, int, int], dict[str, Any]] = {}
        keys = sorted(set(keys))
        for start in range(0, len(keys), chunk):
            part = keys[start:start + chunk]
            marks = ", ".join("?" for _ in part)
            for row in self._rows(
                    f"SELECT {', '.join(APPLY_COLUMNS)} FROM {{p}}{LINES} WHERE outcome = "
                    f"'waiting' AND group_key IN ({marks}) UNION SELECT "
                    f"{', '.join(APPLY_COLUMNS)} FROM {{p}}{LINES} WHERE outcome = 'waiting' "
                    f"AND parcel_id IN ({marks})", [*part, *part]):
                found[(row["import_id"], row["record_no"], row["part"])] = row
        return sorted(found.values(), key=lambda r: (r["occurred_at"], r["import_id"],
                                                     r["record_no"], r["part"]))

    def cursor(self, name: str) -> int | None:
        rows = self._rows(f"SELECT position FROM {{p}}{CURSORS} WHERE name = ?", [name])
        return int(rows[0]["position"]) if rows else None

    def set_cursor(self, name: str, position: int) -> None:
        self._write(f"INSERT INTO {{p}}{CURSORS} (name, position) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    [(name, position)])

    def reopen(self, import_id: str, problem_types: Sequence[str]) -> int:
        """Refused or waiting rows with these problem types back to pending, and the
        import to applying, in one transaction; how many rows."""
        marks = ", ".join("?" for _ in problem_types)
        with self._transaction(commit=True) as cursor:
            cursor.execute(self._sql(f"SELECT COUNT(*) AS n FROM {{p}}{LINES} WHERE "
                                     f"import_id = ? AND outcome IN ('refused', 'waiting') "
                                     f"AND problem_type IN ({marks})"),
                           (import_id, *problem_types))
            count = int(dict(cursor.fetchone())["n"])
            if count:
                cursor.execute(self._sql(
                    f"UPDATE {{p}}{LINES} SET outcome = 'pending', problem_type = NULL, "
                    "problem_rule = NULL, detail = NULL WHERE import_id = ? AND "
                    f"outcome IN ('refused', 'waiting') AND problem_type IN ({marks})"),
                    (import_id, *problem_types))
                cursor.execute(self._sql(f"UPDATE {{p}}{IMPORTS} SET status = 'applying', "
                                         "finished_at = NULL WHERE import_id = ?"),
                               (import_id,))
        return count

    def get_line(self, import_id: str, line_no: int) -> list[dict[str, Any]]:
        return self._rows(f"SELECT * FROM {{p}}{LINES} WHERE import_id = ? AND line_no = ? "
                          "ORDER BY record_no, part", [import_id, line_no])

    def settle(self, import_id: str, outcomes: Sequence[Mapping[str, Any]]) -> None:
        """Write applied lines' outcomes (one transaction for many lines)."""
        sets = ", ".join(f"{c} = ?" for c in OUTCOME_COLUMNS)
        self._write(f"UPDATE {{p}}{LINES} SET {sets} WHERE import_id = ? AND record_no = ? "
                    "AND part = ?", [(*(o.get(c) for c in OUTCOME_COLUMNS), import_id,
                                      o["record_no"], o["part"]) for o in outcomes])

    def counts(self, import_id: str) -> dict[str, int]:
        rows = self._rows(f"SELECT outcome, COUNT(*) AS n FROM {{p}}{LINES} "
                          "WHERE import_id = ? GROUP BY outcome", [import_id])
        return {r["outcome"]: int(r["n"]) for r in rows}

    def lines(self, import_id: str, page: int = 2000, after: tuple[int, int] = (-1, -1)
              ) -> Iterator[dict[str, Any]]:
        """Every record's rows in file order after (record_no, part), a page at a time."""
        while True:
            rows = self._rows(
                f"SELECT * FROM {{p}}{LINES} WHERE import_id = ? AND (record_no > ? OR "
                "(record_no = ? AND part > ?)) ORDER BY record_no, part "
                f"LIMIT {int(page)}", [import_id, after[0], after[0], after[1]])
            yield from rows
            if len(rows) < page:
                return
            after = (rows[-1]["record_no"], rows[-1]["part"])

    # -- targets ----------------------------------------------------------------------
    def targets_position(self) -> int:
        rows = self._rows(f"SELECT lookup FROM {{p}}{TARGETS} WHERE kind = 'position'")
        return int(rows[0]["lookup"]) if rows else 0

    def add_targets(self, rows: Sequence[tuple[str, str, str, str, str]],
                    position: int) -> None:
        """Index rows (kind, platform, lookup, parcel id, seller) and the log position they
        were read up to, in one transaction."""
        with self._transaction(commit=True) as cursor:
            if rows:
                cursor.executemany(self._sql(
                    f"INSERT INTO {{p}}{TARGETS} (kind, platform, lookup, parcel_id, seller_id) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"), list(rows))
            cursor.execute(self._sql(f"DELETE FROM {{p}}{TARGETS} WHERE kind = 'position'"))
            cursor.execute(self._sql(
                f"INSERT INTO {{p}}{TARGETS} (kind, platform, lookup, parcel_id, seller_id) "
                "VALUES ('position', '', ?, '', '')"), (str(position),))

    def find_targets(self, kind: str, lookup: str, platform: str | None) -> list[dict[str, Any]]:
        where, params = "kind = ? AND lookup = ?", [kind, lookup]
        if platform:
            where += " AND platform = ?"
            params.append(platform)
        return self._rows(f"SELECT * FROM {{p}}{TARGETS} WHERE {where}", params)

    # -- intake secrets ---------------------------------------------------------------
    def put_secret(self, secret_id: str, source: str, seller_id: str, sealed: str,
                   now: str) -> None:
        self._write(f"INSERT INTO {{p}}{SECRETS} (secret_id, source, seller_id, sealed, "
                    "created_at) VALUES (?, ?, ?, ?, ?)",
                    [(secret_id, source, seller_id, sealed, now)])

    def revoke_secrets(self, source: str, seller_id: str, now: str,
                       keep: str | None = None) -> int:
        rows = self.secrets(source, seller_id)
        self._write(f"UPDATE {{p}}{SECRETS} SET revoked_at = ? WHERE secret_id = ?",
                    [(now, r["secret_id"]) for r in rows if r["secret_id"] != keep])
        return len([r for r in rows if r["secret_id"] != keep])

    def secrets(self, source: str, seller_id: str | None = None) -> list[dict[str, Any]]:
        where = "source = ? AND revoked_at IS NULL"
        params: list[Any] = [source]
        if seller_id is not None:
            where += " AND seller_id = ?"
            params.append(seller_id)
        return self._rows(f"SELECT * FROM {{p}}{SECRETS} WHERE {where} ORDER BY created_at",
                          params)


class _MemoryCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def memory_import_store() -> ImportStore:
    """The import tables in memory, for the in-memory event store (lives with its process)."""
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.row_factory = sqlite3.Row
    lock = threading.Lock()
    with connection:
        for statement in create_statements():
            connection.execute(statement)

    @contextmanager
    def transaction(commit: bool) -> Iterator[Any]:
        with lock:
            cursor = connection.cursor()
            try:
                yield _MemoryCursor(cursor)
                if commit:
                    connection.commit()
            except BaseException:
                connection.rollback()
                raise
            finally:
                cursor.close()

    return ImportStore(transaction, postgres=False)

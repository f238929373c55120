"""The idempotency keys' table: the first answer to each key, a row written with the events.

A command sent with an Idempotency-Key saves one row here in the transaction that
inserts its events (the recorders in infrastructure/persistence.py), instead of a
second aggregate and event: the row's primary key is the key's record id, so a key used
before makes the whole transaction fail (nothing of the retry is recorded) and the first
answer is read back. Stores written before the table existed hold their keys as
`IdempotencyRecord` events (domain/idempotency.py): the insert refuses a key that has
one (the event's version 1 exists), and reads fall back to it, so an upgraded store
honours every key it answered before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

IDEMPOTENCY_TABLE = "idempotency_keys"
COLUMNS = "record_id, scope, key, fingerprint, result, after_position, recorded_at"


@dataclass(frozen=True)
class IdempotencyRow:
    """One key's first answer: who (scope) sent which key, the request's fingerprint, the
    answer as JSON text, and the log position before the command (its events follow)."""

    record_id: UUID
    scope: str
    key: str
    fingerprint: str
    result: str
    after_position: int


def sqlite_create_statement() -> str:
    return (f"CREATE TABLE IF NOT EXISTS {IDEMPOTENCY_TABLE} (record_id TEXT PRIMARY KEY, "
            "scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
            "result TEXT NOT NULL, after_position INTEGER NOT NULL, recorded_at TEXT NOT NULL)")


def postgres_create_statements(schema: str, events_table: str, event_type: str,
                               id_type: str, insert_function: str) -> list[str]:
    """The table; a function that inserts rows (refusing a key recorded as an event, as
    a store written before the table holds it); and the one-call insert of events with
    their keys' rows: one round trip, the rows checked before the table lock is taken."""
    s, t = f'"{schema}"', f'"{schema}"."{events_table}"'
    keys, keyed = keys_function(schema, id_type), keyed_function(schema, id_type)
    args = (f"ids {id_type}[], scopes text[], keys text[], fingerprints text[], "
            "results text[], afters bigint[]")
    return [
        f"CREATE TABLE IF NOT EXISTS {s}.{IDEMPOTENCY_TABLE} (record_id {id_type} PRIMARY KEY, "
        "scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
        "result TEXT NOT NULL, after_position BIGINT NOT NULL, recorded_at TEXT NOT NULL)",
        f"CREATE OR REPLACE FUNCTION {keys}({args}) RETURNS void LANGUAGE plpgsql AS $BODY$ "
        "BEGIN"
        f"    IF EXISTS (SELECT 1 FROM {t} WHERE originator_id = ANY(ids) "
        "               AND originator_version = 1) THEN"
        "        RAISE unique_violation USING MESSAGE = "
        "            'idempotency key already recorded (as an event)';"
        "    END IF;"
        f"    INSERT INTO {s}.{IDEMPOTENCY_TABLE} ({COLUMNS})"
        "    SELECT i, sc, k, f, r, a, to_char(now() AT TIME ZONE 'UTC', "
        "           'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
        "    FROM unnest(ids, scopes, keys, fingerprints, results, afters) "
        "         AS u(i, sc, k, f, r, a);"
        " END; $BODY$",
        f"CREATE OR REPLACE FUNCTION {keyed}(events {s}.\"{event_type}\"[], {args}) "
        "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ BEGIN"
        f"    PERFORM {keys}(ids, scopes, keys, fingerprints, results, afters);"
        f"    RETURN QUERY SELECT * FROM {s}.\"{insert_function}\"(events);"
        " END; $BODY$",
    ]


def keys_function(schema: str, id_type: str) -> str:
    return f'"{schema}"."returns_ledger_insert_idempotency_keys_{id_type}"'


def keyed_function(schema: str, id_type: str) -> str:
    return f'"{schema}"."returns_ledger_insert_keyed_events_{id_type}"'


def postgres_arrays(rows: list[IdempotencyRow], id_type: str) -> tuple[list[Any], ...]:
    """The rows as the functions' parallel arrays."""
    ids = [r.record_id if id_type == "uuid" else str(r.record_id) for r in rows]
    return (ids, [r.scope for r in rows], [r.key for r in rows],
            [r.fingerprint for r in rows], [r.result for r in rows],
            [r.after_position for r in rows])


def sqlite_insert(cursor: Any, events_table: str, rows: list[IdempotencyRow]) -> None:
    """Insert the rows on the cursor of the events' transaction; a key used before (a row,
    or an event of a store written before the table) fails it with an IntegrityError.

    One INSERT per row, its check inside: the transaction's first statement must be a
    write. A read first would start it as a reader, and in WAL mode a reader whose
    snapshot another process's commit has passed cannot become the writer (SQLITE_BUSY
    at once, without the busy timeout's wait)."""
    now = datetime.now(UTC).isoformat()
    for row in rows:
        cursor.execute(
            f"INSERT INTO {IDEMPOTENCY_TABLE} ({COLUMNS}) SELECT ?,?,?,?,?,?,? WHERE NOT EXISTS "
            f"(SELECT 1 FROM {events_table} WHERE originator_id = ? AND originator_version = 1)",
            (row.record_id.hex, row.scope, row.key, row.fingerprint, row.result,
             row.after_position, now, row.record_id.hex))
        if _rowcount(cursor) == 0:
            raise IntegrityError("idempotency key already recorded (as an event)")


def _rowcount(cursor: Any) -> int:
    return int(getattr(cursor, "sqlite_cursor", cursor).rowcount)


def select_row(datastore: Any, record_id: UUID, postgres: bool) -> IdempotencyRow | None:
    """The row of a key, or None."""
    if postgres:
        table, mark, param = f'"{datastore.schema}".{IDEMPOTENCY_TABLE}', "%s", str(record_id)
    else:
        table, mark, param = IDEMPOTENCY_TABLE, "?", record_id.hex
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(f"SELECT scope, key, fingerprint, result, after_position FROM {table} "
                       f"WHERE record_id = {mark}", (param,))
        found = cursor.fetchone()
    if found is None:
        return None
    return IdempotencyRow(record_id, found["scope"], found["key"], found["fingerprint"],
                          found["result"], int(found["after_position"]))


def known_rows(datastore: Any, record_ids: Sequence[UUID], postgres: bool,
               chunk: int = 400) -> set[UUID]:
    """Which of these keys have a row, a few hundred per query (a batch's look-up)."""
    if postgres:
        table, mark = f'"{datastore.schema}".{IDEMPOTENCY_TABLE}', "%s"
    else:
        table, mark = IDEMPOTENCY_TABLE, "?"
    wanted = {(str(r) if postgres else r.hex): r for r in record_ids}
    keys = list(wanted)
    found: set[UUID] = set()
    with datastore.transaction(commit=False) as cursor:
        for start in range(0, len(keys), chunk):
            part = keys[start:start + chunk]
            cursor.execute(f"SELECT record_id FROM {table} WHERE record_id IN "
                           f"({', '.join(mark for _ in part)})", tuple(part))
            for row in cursor.fetchall():
                value = row["record_id"]
                found.add(wanted.get(str(value) if postgres else value) or UUID(str(value)))
    return found


def table_exists(datastore: Any, postgres: bool) -> bool:
    """Whether the store has the table (a store initialised by an earlier version does
    not, until `returns-ledger db init` runs again)."""
    with datastore.transaction(commit=False) as cursor:
        if postgres:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS found",
                           (f'"{datastore.schema}".{IDEMPOTENCY_TABLE}',))
            return bool(cursor.fetchone()["found"])
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (IDEMPOTENCY_TABLE,))
        return cursor.fetchone() is not None


class MemoryIdempotencyRows:
    """The table of the in-memory store, checked and written under the recorder's lock."""

    def __init__(self) -> None:
        self.rows: dict[UUID, IdempotencyRow] = {}

    def check(self, rows: list[IdempotencyRow], has_event: Any) -> None:
        ids = [r.record_id for r in rows]
        if len(set(ids)) < len(ids) or any(i in self.rows or has_event(i) for i in ids):
            raise IntegrityError("idempotency key already recorded")

    def add(self, rows: list[IdempotencyRow]) -> None:
        for row in rows:
            self.rows[row.record_id] = row

"""Direct SQL on the event store, the way an intruder with database access would alter it."""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from uuid import UUID

from infrastructure.hash_chain import PREV_HASH, event_hash
from tests.conftest import PG


class StoreTamperer:
    """UPDATE and DELETE stored events behind the ledger's back (SQLite or PostgreSQL)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.postgres = env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"
        self.env = env
        self.mark = "%s" if self.postgres else "?"
        self.table = (f'"{env["POSTGRES_SCHEMA"]}".returnsledger_events' if self.postgres
                      else "stored_events")
        self.id_column = "notification_id" if self.postgres else "rowid"

    def _connect(self) -> Any:
        if self.postgres:
            import psycopg

            return psycopg.connect(host=PG["POSTGRES_HOST"], port=PG["POSTGRES_PORT"],
                                   dbname=PG["POSTGRES_DBNAME"], user=PG["POSTGRES_USER"],
                                   password=PG["POSTGRES_PASSWORD"] or None)
        return sqlite3.connect(self.env["SQLITE_DBNAME"])

    def _key(self, aggregate_id: UUID) -> Any:
        return aggregate_id if self.postgres else aggregate_id.hex

    def run(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        conn = self._connect()
        try:
            cursor = conn.execute(statement.replace("?", self.mark), params)
            rows = cursor.fetchall() if statement.lstrip().startswith("SELECT") else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def state(self, aggregate_id: UUID, version: int) -> bytes:
        rows = self.run(f"SELECT state FROM {self.table} WHERE originator_id = ? AND "
                        "originator_version = ?", (self._key(aggregate_id), version))
        return bytes(rows[0][0])

    def rows(self, aggregate_id: UUID) -> list[tuple[int, str, bytes]]:
        return [(v, t, bytes(s)) for v, t, s in self.run(
            f"SELECT originator_version, topic, state FROM {self.table} WHERE "
            "originator_id = ? ORDER BY originator_version", (self._key(aggregate_id),))]

    def update_state(self, aggregate_id: UUID, version: int, state: bytes) -> None:
        self.run(f"UPDATE {self.table} SET state = ? WHERE originator_id = ? AND "
                 "originator_version = ?", (state, self._key(aggregate_id), version))

    def delete(self, aggregate_id: UUID, version: int) -> None:
        self.run(f"DELETE FROM {self.table} WHERE originator_id = ? AND originator_version = ?",
                 (self._key(aggregate_id), version))

    def swap_versions(self, aggregate_id: UUID, a: int, b: int) -> None:
        key = self._key(aggregate_id)
        for old, new in ((a, -1), (b, a), (-1, b)):
            self.run(f"UPDATE {self.table} SET originator_version = ? WHERE originator_id = ? "
                     "AND originator_version = ?", (new, key, old))

    def delete_last(self) -> None:
        self.run(f"DELETE FROM {self.table} WHERE {self.id_column} = "
                 f"(SELECT MAX({self.id_column}) FROM {self.table})")

    def rewrite_from(self, aggregate_id: UUID, version: int, edit: dict[str, Any]) -> None:
        """Edit one event and re-link every successor, so the aggregate's chain is consistent."""
        rows = self.rows(aggregate_id)
        prev = None
        for v, topic, state in rows:
            if v < version:
                prev = event_hash(aggregate_id, v, topic, state)
                continue
            data = json.loads(state)
            if v == version:
                data.update(edit)
            data[PREV_HASH] = prev
            state = json.dumps(data, separators=(",", ":")).encode()
            self.update_state(aggregate_id, v, state)
            prev = event_hash(aggregate_id, v, topic, state)


    # -- the stored form: spellings, types, NULLs ------------------------------------
    SPELLINGS = ("upper", "hyphens", "braces", "urn")

    def respell(self, aggregate_id: UUID, versions: tuple[int, ...], form: str) -> None:
        """Store the id in another spelling of the same UUID (SQLite keeps it as text;
        PostgreSQL's uuid column turns every spelling back into its one form)."""
        spelled = {"upper": aggregate_id.hex.upper(), "hyphens": str(aggregate_id),
                   "braces": "{" + str(aggregate_id) + "}",
                   "urn": f"urn:uuid:{aggregate_id}"}[form]
        for version in versions:
            self.run(f"UPDATE {self.table} SET originator_id = ? WHERE originator_id = ? AND "
                     "originator_version = ?", (spelled, self._key(aggregate_id), version))

    def stored_ids(self, aggregate_id: UUID) -> list[Any]:
        if self.postgres:
            return [r[0] for r in self.run(f"SELECT originator_id FROM {self.table} WHERE "
                                           "originator_id = ?", (aggregate_id,))]
        return [r[0] for r in self.run(f"SELECT originator_id FROM {self.table} WHERE "
                                       "lower(originator_id) LIKE ?",
                                       (f"%{aggregate_id.hex[:8]}%",))]

    def state_as_text(self, aggregate_id: UUID, version: int) -> None:
        """SQLite: the state as TEXT, as a hand edit in the sqlite3 shell stores it."""
        self.run(f"UPDATE {self.table} SET state = CAST(state AS TEXT) WHERE originator_id = ? "
                 "AND originator_version = ?", (self._key(aggregate_id), version))

    def state_null(self, aggregate_id: UUID, version: int) -> None:
        self.run(f"UPDATE {self.table} SET state = NULL WHERE originator_id = ? AND "
                 "originator_version = ?", (self._key(aggregate_id), version))

    def insert(self, aggregate_id: UUID, version: int, topic: str, state: bytes) -> int:
        """A row added behind the ledger's back; its position."""
        self.run(f"INSERT INTO {self.table} (originator_id, originator_version, topic, state) "
                 "VALUES (?, ?, ?, ?)", (self._key(aggregate_id), version, topic, state))
        return self.run(f"SELECT MAX({self.id_column}) FROM {self.table}")[0][0]

    def forge_next(self, aggregate_id: UUID, copy_of: int, **changes: Any) -> int:
        """A copy of one of the aggregate's events appended as its next version, correctly
        chained to the head as stored (what an intruder who read the format would write)."""
        rows = self.rows(aggregate_id)
        head_version, head_topic, head_state = rows[-1]
        topic, state = next((t, s) for v, t, s in rows if v == copy_of)
        data = json.loads(state)
        data.update(changes)
        data[PREV_HASH] = event_hash(aggregate_id, head_version, head_topic, head_state)
        return self.insert(aggregate_id, head_version + 1, topic,
                           json.dumps(data, separators=(",", ":")).encode())

    def positions(self, aggregate_id: UUID) -> list[int]:
        return [r[0] for r in self.run(f"SELECT {self.id_column} FROM {self.table} WHERE "
                                       "originator_id = ? ORDER BY originator_version",
                                       (self._key(aggregate_id),))]

    def max_position(self) -> int:
        return self.run(f"SELECT MAX({self.id_column}) FROM {self.table}")[0][0]


def edited(state: bytes, **changes: Any) -> bytes:
    """The same stored JSON with some members changed (prev_hash left as it was)."""
    data = json.loads(state)
    data.update(changes)
    return json.dumps(data, separators=(",", ":")).encode()

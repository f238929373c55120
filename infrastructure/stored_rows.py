"""The event table's rows exactly as stored, for the audit: no parsing, no normalising.

The library's reads convert what they find: the notification log parses every stored id
with `UUID()` (so `ABCD...`, `{abcd-...}` and `urn:uuid:abcd...` all read as the same id),
while a parcel's read asks for the id in the one spelling the library writes. A row stored
under another spelling is therefore in the log and invisible to the parcel, and a state
stored as TEXT or NULL breaks the library's reads with an exception. The audit reads the
rows here instead, column by column as the database holds them, and decides itself.

The form the ledger writes: SQLite `originator_id` TEXT of 32 lowercase hex digits,
`originator_version` INTEGER, `topic` TEXT, `state` BLOB; PostgreSQL `uuid`, `integer`,
`text` and `bytea`, none NULL. Rows in any other form are "anomalies": an index that holds
only those (a partial index; SQLite also types each column) finds them without a scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.sqlite import SQLiteDatastore

_HEX32 = re.compile(r"[0-9a-f]{32}")
PAGE_SIZE = 2000

_SQLITE_ANOMALY = ("(typeof(originator_id) != 'text' OR length(originator_id) != 32 "
                   "OR originator_id GLOB '*[^0-9a-f]*' "
                   "OR typeof(originator_version) != 'integer' OR typeof(topic) != 'text' "
                   "OR typeof(state) != 'blob')")
_POSTGRES_ANOMALY = ("(originator_id IS NULL OR originator_version IS NULL OR topic IS NULL "
                     "OR state IS NULL)")


def anomaly_index_statement(events_table: str, qualified_table: str, sqlite: bool) -> str:
    """The partial index that finds rows not in the library's form without a full scan;
    the ledger's recorders create it with the event table."""
    anomaly = _SQLITE_ANOMALY if sqlite else _POSTGRES_ANOMALY
    return (f"CREATE INDEX IF NOT EXISTS {events_table}_audit_anomalies ON {qualified_table} "
            f"(originator_version) WHERE {anomaly}")


class StoredRow(NamedTuple):
    """One row of the event table: its position and each column as the database gave it."""

    position: int
    stored_id: Any
    version: Any
    topic: Any
    state: Any


class StoredRows:
    """Reads the ledger's event table as stored (SQLite file or PostgreSQL schema)."""

    def __init__(self, recorder: Any, create_index: bool = False) -> None:
        if not hasattr(recorder, "datastore"):
            raise TypeError("the audit reads a SQLite or PostgreSQL event table; the "
                            "in-memory store has none")
        self.datastore = recorder.datastore
        self.sqlite = isinstance(self.datastore, SQLiteDatastore)
        name = recorder.events_table_name
        if self.sqlite:
            self.table, self.position, self.mark = name, "rowid", "?"
            self.anomaly = _SQLITE_ANOMALY
        else:
            self.table = f'"{self.datastore.schema}"."{name}"'
            self.position, self.mark = "notification_id", "%s"
            self.anomaly = _POSTGRES_ANOMALY
        self.index_name = f"{name}_audit_anomalies"
        if create_index:
            self._create_index()

    def _create_index(self) -> None:
        statement = anomaly_index_statement(self.index_name.removesuffix("_audit_anomalies"),
                                            self.table, self.sqlite)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(statement)

    def _select(self, where: str, params: list[Any], order: str) -> list[StoredRow]:
        statement = (f"SELECT {self.position} AS position, originator_id AS stored_id, "
                     f"originator_version AS version, topic, state FROM {self.table} "
                     f"WHERE {where} ORDER BY {order}")
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement.replace("?", self.mark), params)
            rows = cursor.fetchall()
        if self.sqlite:  # sqlite3.Row: the columns in the order selected
            return [StoredRow(*r) for r in rows]
        return [StoredRow(**r) for r in rows]  # psycopg's dict rows

    def in_order(self, after: int | None = None, stop: int | None = None,
                 page_size: int = PAGE_SIZE) -> Iterator[StoredRow]:
        """Every row in position order (after `after`, default from the very first, whatever
        its number, up to `stop` inclusive), a page at a time."""
        while True:
            conditions, params = ["1 = 1"], []
            if after is not None:
                conditions.append(f"{self.position} > ?")
                params.append(after)
            if stop is not None:
                conditions.append(f"{self.position} <= ?")
                params.append(stop)
            page = self._select(" AND ".join(conditions), params,
                                f"{self.position} LIMIT {int(page_size)}")
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].position

    def of_aggregate(self, aggregate_id: UUID) -> list[StoredRow]:
        """The rows a parcel's read finds: stored under the id as the ledger writes it."""
        key = aggregate_id.hex if self.sqlite else aggregate_id
        return self._select("originator_id = ?", [key], "originator_version, "
                            f"{self.position}")

    def anomalies(self) -> list[StoredRow]:
        """Rows not in the form the ledger writes (another id spelling, a wrong type, NULL)."""
        return self._select(self.anomaly, [], self.position)

    def canonical_id(self, stored_id: Any) -> UUID | None:
        """The id of a row whose id is stored exactly as the ledger writes it, else None."""
        text = self.canonical_text(stored_id)
        return None if text is None else UUID(text)

    def canonical_text(self, stored_id: Any) -> str | None:
        """The id as hashed (lowercase, hyphenated) of a row whose id is stored exactly as
        the ledger writes it, else None."""
        if self.sqlite:
            if type(stored_id) is not str or not _HEX32.fullmatch(stored_id):
                return None
            s = stored_id
            return f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}"
        return str(stored_id) if isinstance(stored_id, UUID) else None

    def well_typed(self, row: StoredRow) -> bool:
        """Version an int, topic text, state bytes: what the ledger writes."""
        return (type(row.version) is int and type(row.topic) is str
                and isinstance(row.state, bytes | memoryview))


def loose_id(stored_id: Any) -> UUID | None:
    """The id another spelling stands for (`UUID()` reads it as the library's log does)."""
    if isinstance(stored_id, UUID):
        return stored_id
    try:
        return UUID(str(stored_id))
    except ValueError:
        return None

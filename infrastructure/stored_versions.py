"""The last stored version of several aggregates, in one query.

A copy this process holds whose version is the last one stored is the aggregate as
stored now: routing checks the seller's directory and return addresses this way, with
one query, instead of reading each one's newer events (application/ledger.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID


class StoredVersions:
    """`versions(ids)`: {id: last stored version} for those of `ids` that have events."""

    def __init__(self, recorder: Any) -> None:
        self.datastore = recorder.datastore
        self.postgres = type(recorder).__module__ == "eventsourcing.postgres"
        table = recorder.events_table_name
        self.table = f'"{self.datastore.schema}"."{table}"' if self.postgres else table
        self.mark = "%s" if self.postgres else "?"

    def __call__(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        if not ids:
            return {}
        marks = ", ".join([self.mark] * len(ids))
        statement = (f"SELECT originator_id, MAX(originator_version) AS version "
                     f"FROM {self.table} WHERE originator_id IN ({marks}) "
                     "GROUP BY originator_id")
        # SQLite stores ids as hex text (as the library writes them); PostgreSQL as uuid.
        params = list(ids) if self.postgres else [i.hex for i in ids]
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        return {UUID(str(row["originator_id"])): row["version"] for row in rows}

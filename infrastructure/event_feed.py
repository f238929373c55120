"""One aggregate's notifications after a position, read by its key (the events feed's
`parcel_id=` filter), where the library only reads the whole log in order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

# No notification id is larger (SQLite's INTEGER, PostgreSQL's bigint).
LARGEST_ID = 2**63 - 1


def select_aggregate_notifications(recorder: Any, originator_id: UUID, after: int,
                                   limit: int) -> list[Notification]:
    """The aggregate's notifications with an id above `after`, in log order (at most
    `limit`); on the in-memory store, a scan of its log."""
    if after >= LARGEST_ID:  # nothing can be after it (and SQLite refuses a larger int)
        return []
    if isinstance(recorder, SQLiteApplicationRecorder):
        # The library's SQLite notification id is the events table's rowid; ids are hex.
        statement = (f"SELECT rowid AS id, originator_id, originator_version, topic, state "
                     f"FROM {recorder.events_table_name} WHERE originator_id = ? "
                     "AND rowid > ? ORDER BY originator_version LIMIT ?")
        params: tuple[Any, ...] = (originator_id.hex, after, limit)
    elif isinstance(recorder, PostgresApplicationRecorder):
        statement = (f'SELECT notification_id AS id, originator_id, originator_version, '
                     f'topic, state FROM "{recorder.datastore.schema}".'
                     f'"{recorder.events_table_name}" WHERE originator_id = %s '
                     "AND notification_id > %s ORDER BY originator_version LIMIT %s")
        params = (originator_id, after, limit)
    else:
        found = []
        for notification in recorder.select_notifications(after + 1, limit=2**62):
            if notification.originator_id == originator_id:
                found.append(notification)
        return found[:limit]
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    return [Notification(id=row["id"], originator_id=UUID(str(row["originator_id"])),
                         originator_version=row["originator_version"], topic=row["topic"],
                         state=bytes(row["state"])) for row in rows]

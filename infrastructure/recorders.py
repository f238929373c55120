"""The ledger's application recorders: the library's, with the event table the audit needs.

SQLite: the library's event table numbers rows with a plain rowid, and SQLite hands the
rowid of a deleted last row to the next insert, so after a removed tail a new event would
take a position an auditor's checkpoint already names. Here the rowid is an explicit
`INTEGER PRIMARY KEY AUTOINCREMENT` column (still called `rowid`, so the library's
notification queries read it unchanged): SQLite keeps the highest position ever given out
in `sqlite_sequence` and never gives it out again. A store made with the library's table
is rebuilt into this one, positions kept, when the ledger creates its tables.

PostgreSQL numbers rows from a sequence (`bigserial`), which never goes back: the library's
recorder is used as it is.
"""

from __future__ import annotations

from typing import Any

from infrastructure.subscriptions import PollingSQLiteApplicationRecorder


class SQLiteLedgerRecorder(PollingSQLiteApplicationRecorder):
    """The library's SQLite recorder (with the polling subscription), positions never reused."""

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self.insert_events_statement = (
            f"INSERT INTO {self.events_table_name} "
            "(originator_id, originator_version, topic, state) VALUES (?,?,?,?)")

    def construct_create_table_statements(self) -> list[str]:
        return [self._table_statement(self.events_table_name)]

    @staticmethod
    def _table_statement(name: str) -> str:
        return (f"CREATE TABLE IF NOT EXISTS {name} ("
                "originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
                "rowid INTEGER PRIMARY KEY AUTOINCREMENT, "
                "UNIQUE (originator_id, originator_version))")

    def _create_table(self, c: Any) -> None:
        c.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                  (self.events_table_name,))
        row = c.fetchone()
        if row is not None and "AUTOINCREMENT" not in (row["sql"] or "").upper():
            self._rebuild(c)
        super()._create_table(c)

    def _rebuild(self, c: Any) -> None:
        """The library's table into this one, every row at its position (one transaction)."""
        table, new = self.events_table_name, f"{self.events_table_name}_autoincrement"
        c.execute(f"DROP TABLE IF EXISTS {new}")
        c.execute(self._table_statement(new))
        c.execute(f"INSERT INTO {new} (rowid, originator_id, originator_version, topic, state) "
                  f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
                  "ORDER BY rowid")
        c.execute(f"DROP TABLE {table}")
        c.execute(f"ALTER TABLE {new} RENAME TO {table}")

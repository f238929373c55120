"""The view store: one code path on SQLite and PostgreSQL; per-database SQL only where it differs.

Every view is a tracking recorder: its rows and its tracking record are written in the same
transaction, so each event is applied exactly once, also after a crash. Each view has its own
tracking table (`<projection name>_tracking`), so views advance and rebuild independently.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar

from eventsourcing.persistence import IntegrityError, OperationalError, ProgrammingError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from infrastructure.seam import ViewTablesHook

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, UTC: text order is time order
_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")

Batch = Sequence[tuple[Any, Tracking]]
Apply = Callable[[Any, "Tx", Tracking], None]


def ts(value: datetime | None) -> str | None:
    """A business or recorded time as fixed-width UTC text."""
    if value is None:
        return None
    # isoformat is several times faster than strftime; same text as TS_FORMAT.
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(value: str | None) -> datetime | None:
    """Back from fixed-width UTC text to an aware datetime."""
    return datetime.strptime(value, TS_FORMAT).replace(tzinfo=UTC) if value else None


@lru_cache(maxsize=512)
def _translate(statement: str, prefix: str, pyformat: bool) -> str:
    statement = statement.replace("{p}", prefix)
    return _NAMED.sub(r"%(\1)s", statement) if pyformat else statement


class Tx:
    """One transaction on the view store: `:name` parameters, `{p}` before each table name."""

    def __init__(self, cursor: Any, prefix: str, pyformat: bool) -> None:
        self.cursor = cursor
        self.prefix = prefix
        self.pyformat = pyformat
        # Writes held until the end of the batch: statement -> key -> parameters.
        self._later: dict[str, dict[Any, dict[str, Any]]] = {}

    def execute(self, statement: str, **params: Any) -> None:
        self.cursor.execute(_translate(statement, self.prefix, self.pyformat), params)

    def later(self, statement: str, key: Any, **params: Any) -> None:
        """Run this write at the end of the batch, with the others of the same statement in
        one `executemany`; a later write with the same key replaces this one (the caller
        merges what it must keep, see `pending`). Only for writes that nothing in the batch
        reads back except through `pending`, and that touch rows or columns no immediate
        write of the batch touches."""
        self._later.setdefault(statement, {})[key] = params

    def pending(self, statement: str, key: Any) -> dict[str, Any] | None:
        """The parameters of a write held for the end of the batch, if any (the caller may
        change them in place: the write runs with what they are at the end)."""
        return self._later.get(statement, {}).get(key)

    def merge(self, statement: str, key: Any, **columns: Any) -> bool:
        """Merge these values into a write held for the end of the batch; False when none
        is held (the row is already stored: the caller updates it there)."""
        held = self.pending(statement, key)
        if held is None:
            return False
        held.update(columns)
        return True

    def discard(self, statement: str, key: Any) -> None:
        """Forget a held write: a later write of another statement with the same key
        decides instead (an upsert after a delete of the same row, or the other way)."""
        self._later.get(statement, {}).pop(key, None)

    def flush(self) -> None:
        """Run the held writes, statement by statement, in the order they were first held."""
        for statement, rows in self._later.items():
            self.cursor.executemany(_translate(statement, self.prefix, self.pyformat),
                                    list(rows.values()))
        self._later.clear()

    def all(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        self.execute(statement, **params)
        return [dict(row) for row in self.cursor.fetchall()]

    def one(self, statement: str, **params: Any) -> dict[str, Any] | None:
        rows = self.all(statement, **params)
        return rows[0] if rows else None


def insert_statement(table: str, columns: Sequence[str]) -> str:
    """`INSERT INTO {p}table (columns) VALUES (:columns)`: parameters named as the columns."""
    return (f"INSERT INTO {{p}}{table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + column for column in columns)})")


def in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`:name0, :name1, ...` and their parameters, for an IN (...) clause."""
    params = {f"{name}{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{key}" for key in params), params


class ViewRecorder(ViewTablesHook):
    """A materialised view: DDL, batched writes with one tracking record, read transactions."""

    view_name: ClassVar[str]
    ddl: ClassVar[tuple[str, ...]] = ()
    tables: ClassVar[tuple[str, ...]] = ()

    datastore: Any

    @classmethod
    def tracking_table(cls) -> str:
        return f"{cls.view_name}_view_tracking"

    pyformat: ClassVar[bool] = False  # the driver's parameter style: `%(name)s`, else `:name`

    def _table_prefix(self) -> str:
        """What stands before each table name (PostgreSQL: the view schema)."""
        return ""

    def _tx(self, cursor: Any) -> Tx:
        """The transaction wrapper of this view's database (SQLite or PostgreSQL)."""
        return Tx(cursor, self._table_prefix(), pyformat=self.pyformat)

    def _pipeline(self, cursor: Any) -> contextlib.AbstractContextManager[Any]:
        """Send a batch's statements without waiting for each answer, where the driver can."""
        return contextlib.nullcontext()

    # What the view was built from: the event store's identity, and the position and hash
    # of the last event applied (written with each batch, in the same transaction).
    bind_to: Callable[[int], tuple[str | None, str]] | None = None

    @classmethod
    def binding_table(cls) -> str:
        return f"{cls.view_name}_view_binding"

    def create_view_tables(self, cursor: Any) -> None:
        tx = self._tx(cursor)
        for statement in self.ddl:
            tx.execute(statement)
        tx.execute(f"CREATE TABLE IF NOT EXISTS {{p}}{self.binding_table()} (singleton INTEGER "
                   "PRIMARY KEY CHECK (singleton = 1), store_id TEXT, position BIGINT NOT NULL, "
                   "event_hash TEXT NOT NULL)")

    def record(self, batch: Batch, apply: Apply) -> None:
        """Apply a batch of events and track the last one, all in one transaction."""
        last = batch[-1][1].notification_id
        binding = self.bind_to(last) if self.bind_to is not None else None
        with self.datastore.transaction(commit=True) as c:
            # Tracking first: it takes SQLite's write lock at once (no stale-read upgrade),
            # and a batch already applied fails here, before any row is touched.
            self.insert_tracking_on(c, batch[-1][1])
            tx = self._tx(c)
            with self._pipeline(c):
                for domain_event, tracking in batch:
                    apply(domain_event, tx, tracking)
                tx.flush()
                if binding is not None:
                    tx.execute(f"INSERT INTO {{p}}{self.binding_table()} (singleton, store_id, "
                               "position, event_hash) VALUES (1, :store_id, :position, :hash) "
                               "ON CONFLICT (singleton) DO UPDATE SET store_id = "
                               "excluded.store_id, position = excluded.position, "
                               "event_hash = excluded.event_hash",
                               store_id=binding[0], position=last, hash=binding[1])

    def binding(self) -> dict[str, Any] | None:
        """The store identity, position and event hash the view last recorded, if any."""
        with self.reading() as tx:
            try:
                return tx.one(f"SELECT store_id, position, event_hash FROM "
                              f"{{p}}{self.binding_table()} WHERE singleton = 1")
            except (sqlite3.OperationalError, ProgrammingError, OperationalError):
                return None  # a view made before bindings existed

    @contextlib.contextmanager
    def reading(self) -> Iterator[Tx]:
        """A read-only transaction on the view."""
        with self.datastore.transaction(commit=False) as c:
            yield self._tx(c)

    def drop(self) -> None:
        """Drop the view's tables and its tracking table (before a rebuild)."""
        with self.datastore.transaction(commit=True) as c:
            tx = self._tx(c)
            for table in (*self.tables, self.tracking_table(), self.binding_table()):
                tx.execute(f"DROP TABLE IF EXISTS {{p}}{table}")


class SQLiteView(ViewRecorder, SQLiteTrackingRecorder):
    """A view in the SQLite view store file."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore)
        self.insert_tracking_statement = self._rename(self.insert_tracking_statement)
        self.select_max_tracking_id_statement = self._rename(
            self.select_max_tracking_id_statement)

    def _rename(self, statement: str) -> str:
        return re.sub(r"\btracking\b", self.tracking_table(), statement)

    def construct_create_table_statements(self) -> list[str]:
        return [self._rename(s) for s in super().construct_create_table_statements()]


class PostgresView(ViewRecorder, PostgresTrackingRecorder):
    """A view in the PostgreSQL view schema."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=self.tracking_table())

    def create_table(self) -> None:
        with contextlib.suppress(IntegrityError), \
                self.datastore.transaction(commit=True) as curs:
            curs.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.datastore.schema}"')
        super().create_table()

    pyformat = True

    def _table_prefix(self) -> str:
        return f'"{self.datastore.schema}".'

    def _pipeline(self, cursor: Any) -> contextlib.AbstractContextManager[Any]:
        return cursor.connection.pipeline()  # psycopg pipeline mode: one round trip per sync


_CONCRETE: dict[tuple[type[ViewRecorder], str], type[ViewRecorder]] = {}


def concrete(view: type[ViewRecorder], persistence_module: str) -> type[ViewRecorder]:
    """The view's class for the configured database (made once per view and database)."""
    key = (view, persistence_module)
    if key not in _CONCRETE:
        _CONCRETE[key] = _concrete(view, persistence_module)
    return _CONCRETE[key]


def _concrete(view: type[ViewRecorder], persistence_module: str) -> type[ViewRecorder]:
    if persistence_module == "eventsourcing.sqlite":
        base: type[ViewRecorder] = SQLiteView
    elif persistence_module == "eventsourcing.postgres":
        base = PostgresView
    else:
        raise ValueError(f"views support eventsourcing.sqlite and eventsourcing.postgres, "
                         f"not {persistence_module!r}")
    return type(f"{base.__name__[:-4]}{view.__name__}", (view, base), {})

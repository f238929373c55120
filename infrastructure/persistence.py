"""The ledger's recorders and infrastructure factories, one per supported store.

Extended the way the library's own examples extend persistence (searchabletimestamps):
recorder subclasses whose extra tables come with the library's own create-table
statements, so `returns-ledger db init` and `CREATE_TABLE=no` cover them, and factory
subclasses that construct those recorders. `PERSISTENCE_MODULE` keeps naming the
library's modules; `factory_for` picks the ledger's factory for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4

from eventsourcing.persistence import (
    InfrastructureFactory,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment, retry
from psycopg.errors import UndefinedFunction
from psycopg.sql import SQL, Identifier

from infrastructure import idempotency_store
from infrastructure.idempotency_store import IdempotencyRow, MemoryIdempotencyRows
from infrastructure.import_store import ImportStore, memory_import_store
from infrastructure.import_store import create_statements as import_create_statements
from infrastructure.seam import MemoryRowsInInsert, RowsInInsert, adds_rows_in_insert
from infrastructure.stored_rows import anomaly_index_statement
from infrastructure.subject_keys import (
    KEY_TABLE,
    MemorySubjectKeys,
    SubjectKeyStore,
    sqlite_create_statement,
)
from infrastructure.subscriptions import PollingSQLiteApplicationRecorder
from infrastructure.tree_store import TABLES as AUDIT_TABLES
from infrastructure.tree_store import create_statements as audit_create_statements
from infrastructure.web_sessions import (
    POSTGRES_CREATE_TEMPLATES,
    SESSION_TABLE,
    MemoryWebSessions,
    WebSessionStore,
    sqlite_create_statements,
)

SQLITE = "eventsourcing.sqlite"
POSTGRES = "eventsourcing.postgres"
POPO = "eventsourcing.popo"
MODULES = (SQLITE, POSTGRES, POPO)


class SubjectKeys(Protocol):
    """The wrapped per-subject keys of the personal-data vault."""

    def get(self, subject_id: str) -> bytes | None: ...
    def put(self, subject_id: str, wrapped_key: bytes) -> None: ...
    def destroy(self, subject_id: str) -> bool: ...
    def erased_at(self, subject_id: str) -> str | None: ...
    def purge(self) -> None: ...
    def wrapped_keys(self) -> list[tuple[str, bytes]]: ...
    def rewrap(self, subject_id: str, old: bytes, new: bytes) -> bool: ...


class WebSessions(Protocol):
    """The web pages' server-side sessions (infrastructure/web_sessions.py)."""

    def open(self, session_id: str, key_id: UUID, now: int, expires_at: int) -> None: ...
    def key_of(self, session_id: str, now: int) -> UUID | None: ...
    def close(self, session_id: str) -> None: ...
    def close_all_of(self, key_id: UUID) -> int: ...


class LedgerRecorder(Protocol):
    """What the ledger needs of its application recorder beyond the library's."""

    subject_keys: SubjectKeys
    web_sessions: WebSessions
    imports: ImportStore

    def max_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]: ...
    def store_identity(self, create: bool = False) -> str | None: ...
    def has_idempotency_table(self) -> bool: ...
    def idempotency_row(self, record_id: UUID) -> IdempotencyRow | None: ...
    def known_idempotency_rows(self, record_ids: Sequence[UUID]) -> set[UUID]: ...
    def max_notification_id(self) -> int | None: ...
    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> Sequence[Any]: ...


STORE_TABLE = "ledger_store"  # one row: the store's identity, made when its tables are


def _sql_identity(recorder: Any, postgres: bool, create: bool) -> str | None:
    """The store's identity; with `create`, made first if the store has none yet."""
    table = f'"{recorder.datastore.schema}".{STORE_TABLE}' if postgres else STORE_TABLE
    mark = "%s" if postgres else "?"
    try:
        with recorder.datastore.transaction(commit=create) as cursor:
            if create:
                cursor.execute(f"INSERT INTO {table} (singleton, store_id, created_at) "
                               f"VALUES (1, {mark}, {mark}) ON CONFLICT (singleton) DO NOTHING",
                               (str(uuid4()), datetime.now(UTC).isoformat()))
            cursor.execute(f"SELECT store_id FROM {table} WHERE singleton = 1")
            rows = cursor.fetchall()
    except (OperationalError, ProgrammingError):  # a store made before identities existed
        return None
    return str(rows[0]["store_id"]) if rows else None


def audit_tables(sqlite: bool, prefix: str) -> list[str]:
    """The audit log's tables (infrastructure/tree_store.py), made with the event table."""
    return audit_create_statements(sqlite, {name: prefix + name for name in AUDIT_TABLES})


def _max_versions_sql(recorder: Any, ids: Sequence[UUID], postgres: bool) -> dict[UUID, int]:
    """{id: last stored version} for those of `ids` that have events, in one query."""
    if not ids:
        return {}
    mark = "%s" if postgres else "?"
    table = (f'"{recorder.datastore.schema}"."{recorder.events_table_name}"' if postgres
             else recorder.events_table_name)
    statement = (f"SELECT originator_id, MAX(originator_version) AS version FROM {table} "
                 f"WHERE originator_id IN ({', '.join([mark] * len(ids))}) "
                 "GROUP BY originator_id")
    # SQLite stores ids as hex text (as the library writes them); PostgreSQL as uuid.
    params = list(ids) if postgres else [i.hex for i in ids]
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    return {UUID(str(row["originator_id"])): row["version"] for row in rows}


def _sqlite_events_statement(name: str) -> str:
    """The library's SQLite event table, numbered with AUTOINCREMENT: SQLite hands the
    rowid of a deleted last row to the next insert, and a removed tail's position must
    never name another event (an auditor's checkpoint names it). The column keeps the
    name `rowid`, so the library's notification queries read it unchanged."""
    return (f"CREATE TABLE IF NOT EXISTS {name} ("
            "originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
            "rowid INTEGER PRIMARY KEY AUTOINCREMENT, "
            "UNIQUE (originator_id, originator_version))")


class LedgerSQLiteApplicationRecorder(RowsInInsert, PollingSQLiteApplicationRecorder):
    """The library's SQLite recorder (polled for projections) with the personal-data key
    table and the idempotency keys' table (its rows inserted in the events' transaction),
    its event positions never given out twice."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.subject_keys: SubjectKeys = SubjectKeyStore(datastore, postgres=False)
        self.web_sessions: WebSessions = WebSessionStore(datastore, postgres=False)
        self.imports = ImportStore(datastore.transaction, postgres=False)
        self.insert_events_statement = (
            f"INSERT INTO {self.events_table_name} "
            "(originator_id, originator_version, topic, state) VALUES (?,?,?,?)")

    def construct_create_table_statements(self) -> list[str]:
        return [_sqlite_events_statement(self.events_table_name), sqlite_create_statement(),
                idempotency_store.sqlite_create_statement(), *sqlite_create_statements(),
                *audit_tables(sqlite=True, prefix=""), *import_create_statements(),
                anomaly_index_statement(self.events_table_name, self.events_table_name, True),
                f"CREATE TABLE IF NOT EXISTS {STORE_TABLE} (singleton INTEGER PRIMARY KEY "
                "CHECK (singleton = 1), store_id TEXT NOT NULL, created_at TEXT NOT NULL)"]

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (self.events_table_name,))
            row = c.fetchone()
            if row is not None and "AUTOINCREMENT" not in (row["sql"] or "").upper():
                self._rebuild_events_table(c)
        super().create_table()

    def _rebuild_events_table(self, c: Any) -> None:
        """A store made with the library's table, into this one, every row at its position."""
        table, new = self.events_table_name, f"{self.events_table_name}_autoincrement"
        c.execute(f"DROP TABLE IF EXISTS {new}")
        c.execute(_sqlite_events_statement(new))
        c.execute(f"INSERT INTO {new} (rowid, originator_id, originator_version, topic, state) "
                  f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
                  "ORDER BY rowid")
        c.execute(f"DROP TABLE {table}")
        c.execute(f"ALTER TABLE {new} RENAME TO {table}")

    def insert_rows(self, cursor: Any, idempotency: list[IdempotencyRow] | None = None,
                    **_: Any) -> None:
        if idempotency:  # in the events' own transaction: both or neither
            idempotency_store.sqlite_insert(cursor, self.events_table_name, idempotency)

    def max_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        return _max_versions_sql(self, ids, postgres=False)

    def store_identity(self, create: bool = False) -> str | None:
        return _sql_identity(self, postgres=False, create=create)

    def has_idempotency_table(self) -> bool:
        return idempotency_store.table_exists(self.datastore, postgres=False)

    def idempotency_row(self, record_id: UUID) -> IdempotencyRow | None:
        return idempotency_store.select_row(self.datastore, record_id, postgres=False)

    def known_idempotency_rows(self, record_ids: Sequence[UUID]) -> set[UUID]:
        return idempotency_store.known_rows(self.datastore, record_ids, postgres=False)


LOCKED_INSERT_FUNCTION = "returns_ledger_insert_events_{id_type}"


class LedgerPostgresApplicationRecorder(RowsInInsert, PostgresApplicationRecorder):  # type: ignore[misc]
    """The library's PostgreSQL recorder with the personal-data key table, whose inserts
    go to the server as one call of a database function.

    The library's own insert sends five statements in a pipeline (lock timeout, LOCK
    TABLE ... IN EXCLUSIVE MODE, NOTIFY, INSERT ... RETURNING, then the commit); the
    client's CPU for that pipeline is a third of a command's on PostgreSQL. The function
    does the same in the server, in one round trip: it takes the same exclusive lock
    (insert order = commit order, so readers of the notification log never pass over an
    event committed later), notifies, inserts, returns the notification ids. The
    library's optional function (POSTGRES_ENABLE_DB_FUNCTIONS) does not lock the table,
    so it is not used, except for inserts without idempotency keys when it is enabled (a
    keyed insert always takes this recorder's function, which inserts the keys' rows
    first). Inserts with extra arguments (tracking), subclasses that add rows in the
    insert's transaction (infrastructure/seam.py), and databases initialised before the
    function existed (until `returns-ledger db init` runs again) go the library's way.
    """

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} (subject_id TEXT PRIMARY KEY, "
            "wrapped_key bytea, created_at TEXT NOT NULL, erased_at TEXT)").format(
            schema=Identifier(datastore.schema), table=Identifier(KEY_TABLE)))
        qualified = f'"{datastore.schema}".'
        for statement in (*audit_tables(sqlite=False, prefix=qualified),
                          *import_create_statements(qualified),
                          anomaly_index_statement(self.events_table_name,
                                                  qualified + f'"{self.events_table_name}"',
                                                  False)):
            self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} (singleton INTEGER PRIMARY KEY "
            "CHECK (singleton = 1), store_id TEXT NOT NULL, created_at TEXT NOT NULL)").format(
            schema=Identifier(datastore.schema), table=Identifier(STORE_TABLE)))
        self.sql_create_statements.extend(SQL(template).format(
            schema=Identifier(datastore.schema), table=Identifier(SESSION_TABLE),
            index=Identifier(f"{SESSION_TABLE}_key_id")) for template in POSTGRES_CREATE_TEMPLATES)
        self.subject_keys: SubjectKeys = SubjectKeyStore(datastore, postgres=True)
        self.web_sessions: WebSessions = WebSessionStore(datastore, postgres=True)
        self.imports = ImportStore(datastore.transaction, postgres=True, prefix=qualified)
        function = Identifier(LOCKED_INSERT_FUNCTION.format(
            id_type=datastore.originator_id_type))
        schema, table = Identifier(datastore.schema), Identifier(self.events_table_name)
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}(events {schema}.{event}[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ BEGIN"
            "    SET LOCAL lock_timeout = '{lock_timeout}s';"
            "    LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
            "    NOTIFY {channel};"
            "    RETURN QUERY"
            "    INSERT INTO {schema}.{table} AS t ("
            "    originator_id, originator_version, topic, state)"
            "    SELECT originator_id, originator_version, topic, state"
            "    FROM unnest(events)"
            "    RETURNING notification_id;"
            " END; $BODY$").format(
            schema=schema, function=function, table=table,
            event=Identifier(self.stored_event_type_name),
            lock_timeout=datastore.lock_timeout, channel=Identifier(self.channel_name)))
        self._locked_insert = SQL("SELECT * FROM {schema}.{function}((%s))").format(
            schema=schema, function=function)
        self._function_column = LOCKED_INSERT_FUNCTION.format(
            id_type=datastore.originator_id_type)
        # The idempotency keys' table and its functions (infrastructure/idempotency_store.py).
        id_type = datastore.originator_id_type
        for statement in idempotency_store.postgres_create_statements(
                datastore.schema, self.events_table_name, self.stored_event_type_name,
                id_type, self._function_column):
            self.sql_create_statements.append(SQL(statement))  # type: ignore[arg-type]
        keyed = idempotency_store.keyed_function(datastore.schema, id_type)
        self._keyed_insert = SQL(
            f"SELECT * FROM {keyed}(%s, %s, %s, %s, %s, %s, %s) AS ids(notification_id)")
        self._insert_keys = SQL(
            f"SELECT {idempotency_store.keys_function(datastore.schema, id_type)}"
            "(%s, %s, %s, %s, %s, %s)")
        # Only when no subclass adds rows in the insert's transaction (the function
        # would skip them); this class's own rows (idempotency keys) it inserts itself.
        self.use_insert_function = not adds_rows_in_insert(
            type(self), LedgerPostgresApplicationRecorder)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                      ) -> Sequence[int] | None:
        # Each way retries a lost connection once, as the library does: never nested, so an
        # outage is a 503 after the library's ten attempts, not a request that hangs on.
        extra = {k: v for k, v in kwargs.items() if v is not None}  # the library passes
        keys = extra.pop("idempotency", None)                           # tracking=None
        if keys and self.datastore.enable_db_functions and (extra or not self.use_insert_function):
            # The library's own insert function would skip the keys' rows: a retry would
            # then run its command again. Refused rather than lost.
            raise ProgrammingError("idempotency keys' rows need the ledger's insert function "
                                   "when POSTGRES_ENABLE_DB_FUNCTIONS is set")
        if extra or not stored_events or not self.use_insert_function \
                or (self.datastore.enable_db_functions and not keys):
            return super().insert_events(stored_events, **kwargs)
        try:
            return self._insert_by_function(stored_events, keys)
        except ProgrammingError as error:
            # The function (or its composite type) is not in this database yet: it was
            # initialised by an earlier version. Nothing was inserted; the library's way.
            if not isinstance(error.__cause__, UndefinedFunction) \
                    and "not found" not in str(error):
                raise
            self.use_insert_function = False
            return super().insert_events(stored_events, **kwargs)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_by_function(self, stored_events: Sequence[StoredEvent],
                            keys: list[IdempotencyRow] | None = None) -> Sequence[int]:
        events = [self.construct_pg_stored_event(e.originator_id, e.originator_version,
                                                 e.topic, e.state)
                  for e in stored_events]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if keys:  # the keys' rows first, then the events, in the function's transaction
                curs.execute(self._keyed_insert, (events, *idempotency_store.postgres_arrays(
                    keys, self.datastore.originator_id_type)), prepare=True)
                return [row["notification_id"] for row in curs.fetchall()]
            curs.execute(self._locked_insert, (events,), prepare=True)
            return [row[self._function_column] for row in curs.fetchall()]

    def insert_rows(self, cursor: Any, idempotency: list[IdempotencyRow] | None = None,
                    **_: Any) -> None:
        """The library's way (its pipeline): the keys' rows in the same transaction."""
        if idempotency:
            cursor.execute(self._insert_keys, idempotency_store.postgres_arrays(
                idempotency, self.datastore.originator_id_type))

    def has_idempotency_table(self) -> bool:
        return idempotency_store.table_exists(self.datastore, postgres=True)

    def idempotency_row(self, record_id: UUID) -> IdempotencyRow | None:
        return idempotency_store.select_row(self.datastore, record_id, postgres=True)

    def known_idempotency_rows(self, record_ids: Sequence[UUID]) -> set[UUID]:
        return idempotency_store.known_rows(self.datastore, record_ids, postgres=True)

    def max_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        return _max_versions_sql(self, ids, postgres=True)

    def store_identity(self, create: bool = False) -> str | None:
        return _sql_identity(self, postgres=True, create=create)


class LedgerPOPOApplicationRecorder(MemoryRowsInInsert, POPOApplicationRecorder):
    """The library's in-memory recorder with an in-memory key table."""

    def __init__(self) -> None:
        super().__init__()
        self.subject_keys: SubjectKeys = MemorySubjectKeys()
        self.web_sessions: WebSessions = MemoryWebSessions()
        self.imports = memory_import_store()
        self._identity = str(uuid4())  # a store in memory lives and dies with its process
        self._keys = MemoryIdempotencyRows()

    def store_identity(self, create: bool = False) -> str | None:
        return self._identity

    def check_rows(self, idempotency: list[IdempotencyRow] | None = None, **_: Any) -> None:
        if idempotency:  # under the recorder's lock, before anything is written
            self._keys.check(idempotency, lambda i: bool(self.select_events(i, lte=1)))

    def add_rows(self, idempotency: list[IdempotencyRow] | None = None, **_: Any) -> None:
        self._keys.add(idempotency or [])

    def has_idempotency_table(self) -> bool:
        return True

    def idempotency_row(self, record_id: UUID) -> IdempotencyRow | None:
        with self.recorder_lock():
            return self._keys.rows.get(record_id)

    def known_idempotency_rows(self, record_ids: Sequence[UUID]) -> set[UUID]:
        with self.recorder_lock():
            return {r for r in record_ids if r in self._keys.rows}

    def max_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        wanted = {str(i): i for i in ids}
        found: dict[UUID, int] = {}
        for stored in self.select_notifications(None, limit=2**62):
            key = str(stored.originator_id)
            if key in wanted:
                found[wanted[key]] = max(found.get(wanted[key], 0), stored.originator_version)
        return found


class LedgerSQLiteFactory(SQLiteFactory):
    application_recorder_class: type[LedgerSQLiteApplicationRecorder] = (
        LedgerSQLiteApplicationRecorder)

    def __init__(self, env: Environment) -> None:
        path = env.get("SQLITE_DBNAME") or ""
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(env)

    def application_recorder(self) -> LedgerSQLiteApplicationRecorder:
        recorder = super().application_recorder()
        assert isinstance(recorder, LedgerSQLiteApplicationRecorder)  # our class, above
        interval = self.env.get("PROJECTION_POLL_INTERVAL")
        if interval:
            recorder.poll_interval = float(interval)
        return recorder


class LedgerPostgresFactory(PostgresFactory):
    application_recorder_class = LedgerPostgresApplicationRecorder


class LedgerPOPOFactory(POPOFactory):
    def application_recorder(self) -> LedgerPOPOApplicationRecorder:
        return LedgerPOPOApplicationRecorder()


FACTORIES: dict[str, type[InfrastructureFactory[Any]]] = {
    SQLITE: LedgerSQLiteFactory, POSTGRES: LedgerPostgresFactory, POPO: LedgerPOPOFactory}


def store_file(env: Mapping[str, str]) -> tuple[int, int] | None:
    """The (device, inode) of the SQLite store's file; None for a missing file or a store
    that is no file (PostgreSQL, memory): a running service notices a replaced file."""
    if env.get("PERSISTENCE_MODULE") != SQLITE:
        return None
    path = env.get("SQLITE_DBNAME") or ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def factory_for(env: Environment) -> InfrastructureFactory[Any]:
    """The ledger's infrastructure factory for the configured PERSISTENCE_MODULE."""
    module = env.get("PERSISTENCE_MODULE") or SQLITE
    return FACTORIES[module](env)

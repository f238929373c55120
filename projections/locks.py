"""One process at a time runs or rebuilds a view: a lock per view that names its holder.

SQLite: an flock on `<views file>.<view>.lock`, whose content names the holder.
PostgreSQL: a session advisory lock on a connection of its own, whose `application_name`
names the holder (so `pg_stat_activity` shows it too). Either is released when the process
stops or dies (the file is closed, the session ends), so a crash never leaves a view locked.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from projections.runners import DEFAULT_VIEWS_SCHEMA, views_sqlite_path

LOCK_CLASS = 0x524C4544  # "RLED": the namespace of the ledger's advisory locks
APP_PREFIX = "returns-ledger"


@dataclass(frozen=True)
class Holder:
    """The process holding a view's lock: its pid and host, and what it does there."""

    pid: int | None
    host: str
    role: str

    def __str__(self) -> str:
        pid = self.pid if self.pid is not None else "(pid unknown)"
        return f"process {pid} on {self.host or 'an unknown host'} ({self.role})"


class ViewBusyError(RuntimeError):
    """Another process runs or rebuilds this view."""

    def __init__(self, view: str, holder: Holder | None) -> None:
        who = str(holder) if holder else "another process"
        super().__init__(f"view {view} is held by {who}")
        self.view = view
        self.holder = holder


def _me(role: str) -> Holder:
    return Holder(os.getpid(), socket.gethostname(), role)


class ViewLock:
    """The lock of one view (`role`: what the holder does, e.g. "runner" or "rebuild")."""

    def __init__(self, view: str, env: Mapping[str, str], role: str = "runner") -> None:
        self.view = view
        self.env = env
        self.role = role
        self._postgres = env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
        self._file: IO[str] | None = None
        self._conn: Any = None

    @property
    def held(self) -> bool:
        return self._file is not None or self._conn is not None

    def acquire(self) -> bool:
        """Take the lock if free (never waits); True when this process now holds it."""
        if self.held:
            return True
        return self._acquire_pg() if self._postgres else self._acquire_file()

    def holder(self) -> Holder | None:
        """Who holds the lock now (None: nobody, or it could not be told)."""
        return self._holder_pg() if self._postgres else self._holder_file()

    def alive(self) -> bool:
        """Still held? (PostgreSQL: the lock's session answers; a broken one lost it.)"""
        if not self.held:
            return False
        if not self._postgres:
            return True
        try:
            self._conn.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure: the session and its lock are gone
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._conn is not None:
            try:  # unlock first: a closed session's locks go only when its backend exits
                self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", self._key())
            except Exception:  # noqa: BLE001 - already broken: the lock goes with it
                pass
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - as above
                pass
            self._conn = None

    # -- SQLite: a lock file ----------------------------------------------------------
    def _path(self) -> str:
        return f"{views_sqlite_path(self.env)}.{self.view}.lock"

    def _acquire_file(self) -> bool:
        handle = open(self._path(), "a+")  # noqa: SIM115 - held open for as long as the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        me = _me(self.role)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": me.pid, "host": me.host, "role": me.role}))
        handle.flush()
        self._file = handle
        return True

    def _holder_file(self) -> Holder | None:
        if self._file is not None:
            return _me(self.role)
        try:
            with open(self._path()) as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # held: read who holds it
                else:
                    return None  # nobody holds it (what it says is a past holder's)
                text = handle.read()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            return Holder(int(data["pid"]), str(data["host"]), str(data["role"]))
        except (ValueError, KeyError, TypeError):
            return Holder(None, "", "starting")  # taken a moment ago, not yet written

    # -- PostgreSQL: an advisory lock -------------------------------------------------------
    def _key(self) -> tuple[int, int]:
        where = "/".join((self.env.get("POSTGRES_DBNAME", ""),
                          self.env.get("POSTGRES_SCHEMA", "public"),
                          self.env.get("VIEWS_POSTGRES_SCHEMA", DEFAULT_VIEWS_SCHEMA),
                          self.view))
        return LOCK_CLASS & 0x7FFFFFFF, zlib.crc32(where.encode()) & 0x7FFFFFFF

    def _connect(self, application_name: str) -> Any:
        import psycopg

        env = self.env
        return psycopg.connect(
            host=env.get("POSTGRES_HOST", "127.0.0.1"), port=env.get("POSTGRES_PORT", "5432"),
            dbname=env.get("POSTGRES_DBNAME"), user=env.get("POSTGRES_USER"),
            password=env.get("POSTGRES_PASSWORD") or None, autocommit=True,
            connect_timeout=int(float(env.get("POSTGRES_CONNECT_TIMEOUT") or 10)),
            application_name=application_name[:63])

    def _acquire_pg(self) -> bool:
        me = _me(self.role)
        conn = self._connect(f"{APP_PREFIX} {me.role} {me.pid}@{me.host}")
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", self._key()).fetchone()
        except BaseException:
            conn.close()
            raise
        if not row or not row[0]:
            conn.close()
            return False
        self._conn = conn
        return True

    def _holder_pg(self) -> Holder | None:
        if self._conn is not None:
            return _me(self.role)
        with self._connect(f"{APP_PREFIX} lock check") as conn:
            row = conn.execute(
                "SELECT a.application_name, a.client_addr::text FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 2 "
                "AND l.database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())", self._key()).fetchone()
        if row is None:
            return None
        return parse_application_name(row[0] or "", row[1] or "")


def parse_application_name(name: str, client: str = "") -> Holder:
    """`returns-ledger <role> <pid>@<host>` back into a Holder."""
    parts = name.split(" ")
    if len(parts) == 3 and parts[0] == APP_PREFIX and "@" in parts[2]:
        pid, _, host = parts[2].partition("@")
        if pid.isdigit():
            return Holder(int(pid), host, parts[1])
    return Holder(None, client, name or "unknown")

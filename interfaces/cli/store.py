"""Which event store a command uses: only `db init` creates one; every other command
refuses a store that is not there, naming where it looked and how to point elsewhere."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import click

from application.ledger import ReturnsLedger
from application.settings import POPO, POSTGRES, SQLITE, Settings, SettingsError, load


class StoreMissingError(click.ClickException):
    """No event store where the settings point (exit code 2)."""

    exit_code = 2


class StoreUnreachableError(StoreMissingError):
    """The store's PostgreSQL server does not answer: it may be restarting."""


def settings_for_command(overrides: Mapping[str, Any] | None = None) -> Settings:
    """The process's settings, as one clear line when they are wrong."""
    try:
        return load(overrides)
    except SettingsError as error:
        raise click.ClickException(f"configuration: {error}") from None


def _postgres_connect(env: Mapping[str, str], dbname: str | None = None) -> Any:
    import psycopg

    return psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                           dbname=dbname or env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                           password=env.get("POSTGRES_PASSWORD") or None, autocommit=True,
                           connect_timeout=5)


def postgres_problem(env: Mapping[str, str]) -> tuple[str, str | None]:
    """('', None) when the database answers; else what is wrong and its kind
    ('missing-database' or 'unreachable')."""
    import psycopg

    try:
        _postgres_connect(env).close()
    except psycopg.OperationalError as error:
        text = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        if "does not exist" in text and "database" in text:
            return text, "missing-database"
        return text, "unreachable"
    return "", None


def find_store(settings: Settings) -> str | None:
    """None when an event store exists where the settings point; else why not, in words.
    A PostgreSQL server that does not answer raises StoreUnreachableError instead: the
    store may well be there."""
    env = settings.env
    where = settings.describe_store()
    if settings.persistence_module == POPO:
        return None
    if settings.persistence_module == SQLITE:
        path = Path(env["SQLITE_DBNAME"])
        if not path.exists():
            return (f"no event store at {where}: {path.resolve()} does not exist. "
                    "Create one with `returns-ledger db init`, or set SQLITE_DBNAME to "
                    "your store's file.")
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                     "AND name = 'stored_events'").fetchone()
        except sqlite3.DatabaseError as error:
            return f"{where} is not a readable SQLite event store: {error}"
        if found is None:
            return (f"{where} holds no event store. Create one with "
                    "`returns-ledger db init`.")
        return None
    problem, kind = postgres_problem(env)
    if kind == "missing-database":
        return (f"the database {env['POSTGRES_DBNAME']!r} does not exist on "
                f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']} (POSTGRES_DBNAME). Create it "
                "with `returns-ledger db init --create-database`, or `createdb`.")
    if kind is not None:
        raise StoreUnreachableError(f"cannot reach {where}: {problem}")
    schema = env.get("POSTGRES_SCHEMA") or "public"
    with _postgres_connect(env) as conn:
        # The library names the table after the application: returnsledger_events.
        row = conn.execute("SELECT to_regclass(%s)",
                           (f'"{schema}".returnsledger_events',)).fetchone()
    if row is None or row[0] is None:
        return f"{where} holds no event store. Create one with `returns-ledger db init`."
    return None


def require_store(overrides: Mapping[str, Any] | None = None) -> Settings:
    """The settings of an event store that exists (StoreMissingError, naming where it
    looked, otherwise): checked by every command but `db init` before it opens anything,
    so that no command makes a new empty store, view store or key beside a missing one."""
    settings = settings_for_command({**(overrides or {}), "CREATE_TABLE": "no"})
    missing = find_store(settings)
    if missing is not None:
        raise StoreMissingError(missing)
    return settings


def wait_for_store(say: Callable[[str], None], stopping: Callable[[], bool] = lambda: False,
                   every: float = 1.0) -> Settings | None:
    """`require_store` for the long-running processes (`serve`, `project`, `webhooks run`,
    the workers): a PostgreSQL server that does not answer yet (restarting, or started
    after them) is waited for, said once, as a supervisor would want; a missing store is
    still an error at once. None when `stopping` says so before the server answers."""
    said = False
    while True:
        try:
            return require_store()
        except StoreUnreachableError as error:
            if not said:
                say(f"{error.message}; waiting for it")
                said = True
        if stopping():
            return None
        time.sleep(every)


def open_ledger(overrides: Mapping[str, Any] | None = None) -> ReturnsLedger:
    """The ledger on the existing store (never creating one): what every command but
    `db init` uses."""
    return ReturnsLedger(require_store(overrides))


def initialise(settings: Settings) -> list[str]:
    """Every table the service uses, made where the settings point (`db init`): the event
    store's (with the personal-data keys, the web sessions and the store's identity), the
    audit log's, every view's and the webhook deliveries'. What was made, in words."""
    settings = settings.with_env({"CREATE_TABLE": "yes"})
    ledger = ReturnsLedger(settings)
    done = [f"event store ready: {settings.describe_store()}, identity {ledger.store_id}"]
    try:
        if settings.persistence_module == POPO:
            return done
        from application.audit.log import AuditLog

        AuditLog(ledger)  # the audit log's tables and the stored-form index
    finally:
        ledger.close()
    from infrastructure.webhook_store import open_store
    from projections.runners import create_view_tables, projection_env

    done.append(f"views ready: {', '.join(create_view_tables(settings.env))}")
    open_store(projection_env(settings.env)).datastore.close()
    done.append("webhook delivery tables ready")
    return done


def create_database(settings: Settings) -> bool:
    """CREATE DATABASE for `db init --create-database`; False when it existed."""
    if settings.persistence_module != POSTGRES:
        raise click.ClickException("--create-database is for PostgreSQL "
                                   "(PERSISTENCE_MODULE=eventsourcing.postgres)")
    env = settings.env
    _, kind = postgres_problem(env)
    if kind != "missing-database":
        return False
    from psycopg import sql

    with _postgres_connect(env, dbname="postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(env["POSTGRES_DBNAME"])))
    return True


class Background(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...


def run_until_interrupted(background: Background) -> None:
    """Start a background worker and keep this process up until Ctrl-C, then stop it."""
    background.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        background.stop()



def run_worker(once: bool, make: Callable[[ReturnsLedger], tuple[Any, Background]],
               resumed: Callable[[Any], list[str]]) -> None:
    """A worker command: `make(ledger)` gives its desk and its background worker.
    `--once` finishes what is unfinished now and prints a line per item (`resumed(desk)`);
    otherwise the worker runs until Ctrl-C or SIGTERM, having first waited for a
    PostgreSQL server that is restarting, as a supervisor wants."""
    if not once:
        wait_for_store(lambda line: click.echo(line, err=True))
    ledger = open_ledger()
    try:
        desk, background = make(ledger)
        if once:
            for line in resumed(desk):
                click.echo(line)
            return
        run_until_interrupted(background)
    finally:
        ledger.close()

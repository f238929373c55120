"""Fresh event stores for one measurement: a SQLite file, or a PostgreSQL schema dropped after."""

from __future__ import annotations

import base64
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# A fixed key: personal data is sealed as in production, without writing var/.
BENCH_PERSONAL_DATA_KEY = base64.urlsafe_b64encode(b"b" * 32).decode()


def pg_settings() -> dict[str, str]:
    """The PostgreSQL server the bench uses (same defaults as the test suite)."""
    def get(name: str, default: str) -> str:
        return os.environ.get(f"BENCH_POSTGRES_{name}",
                              os.environ.get(f"TEST_POSTGRES_{name}", default))
    return {"POSTGRES_HOST": get("HOST", "127.0.0.1"), "POSTGRES_PORT": get("PORT", "5432"),
            "POSTGRES_DBNAME": get("DBNAME", "test"), "POSTGRES_USER": get("USER", "postgres"),
            "POSTGRES_PASSWORD": get("PASSWORD", "")}


def pg_connect(attempts: int = 5):
    """A connection, retried a few times: a busy shared server may refuse for a moment."""
    import time

    import psycopg

    pg = pg_settings()
    for attempt in range(attempts):
        try:
            return psycopg.connect(host=pg["POSTGRES_HOST"], port=pg["POSTGRES_PORT"],
                                   dbname=pg["POSTGRES_DBNAME"], user=pg["POSTGRES_USER"],
                                   password=pg["POSTGRES_PASSWORD"] or None, autocommit=True,
                                   connect_timeout=3)
        except psycopg.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def postgres_missing() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        pg_connect(attempts=1).close()
    except Exception as error:  # noqa: BLE001 - any failure means the server is missing
        return f"PostgreSQL not reachable: {error}"
    return None


# A fixed session secret: on PostgreSQL every worker must sign web sessions alike.
BENCH_SECRET_KEY = "bench-" + "s" * 48


def base_env() -> dict[str, str]:
    return {"PERSONAL_DATA_KEY": BENCH_PERSONAL_DATA_KEY, "AGGREGATE_CACHE_MAXSIZE": "10000",
            "SECRET_KEY": BENCH_SECRET_KEY}


@contextmanager
def fresh_store(kind: str, workdir: Path | None = None) -> Iterator[dict[str, str]]:
    """The env of a new, empty event store of this kind (sqlite or postgres)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            yield {**base_env(), "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                   "SQLITE_DBNAME": str(Path(tmp) / "store.sqlite3")}
        return
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    views = f"{schema}_views"  # the views' own schema, never the shared default
    with pg_connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE SCHEMA "{views}"')
    try:
        yield {**base_env(), "PERSISTENCE_MODULE": "eventsourcing.postgres", **pg_settings(),
               "POSTGRES_SCHEMA": schema, "VIEWS_POSTGRES_SCHEMA": views}
    finally:
        with pg_connect() as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            conn.execute(f'DROP SCHEMA "{views}" CASCADE')

"""The dispatcher's tables, in the view store: endpoints as last seen, deliveries, attempts.

The dispatcher's fan-out is a projection: the deliveries an event causes and the tracking
record of that event are written in one transaction (`record`), so a crash loses none and
makes none twice. Each delivery row is then one endpoint's copy of one event: pending until
an answer settles it (delivered, or failed for good); every attempt is a row of its own.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, cast

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import Environment

from infrastructure.view_store import Tx, ViewRecorder, concrete, in_list, parse_ts, ts

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DUE_AT_ONCE = "1970-01-01T00:00:00.000000Z"  # before any clock's now: sent at the next look
STORE_NAME = "webhooks"  # WEBHOOKS_* variables configure its datastore (set by store_env)

DDL = (
    "CREATE TABLE IF NOT EXISTS {p}webhook_endpoints (endpoint_id TEXT PRIMARY KEY, "
    "seller_id TEXT, url TEXT NOT NULL, event_types TEXT NOT NULL, enabled INTEGER NOT NULL, "
    "failing_since TEXT, last_success_at TEXT, last_error TEXT)",
    "CREATE TABLE IF NOT EXISTS {p}webhook_deliveries (endpoint_id TEXT NOT NULL, "
    "webhook_id TEXT NOT NULL, seq BIGINT NOT NULL, position BIGINT, "
    "ordering_key TEXT NOT NULL, event_type TEXT NOT NULL, body TEXT NOT NULL, "
    "status TEXT NOT NULL, attempts INTEGER NOT NULL, created_at TEXT NOT NULL, "
    "next_attempt_at TEXT NOT NULL, last_attempt_at TEXT, last_status INTEGER, "
    "last_error TEXT, delivered_at TEXT, generation INTEGER NOT NULL DEFAULT 0, "
    "PRIMARY KEY (endpoint_id, webhook_id))",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON {p}webhook_deliveries "
    "(status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_order ON {p}webhook_deliveries "
    "(endpoint_id, ordering_key, status, seq)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_log ON {p}webhook_deliveries "
    "(endpoint_id, seq)",
    "CREATE TABLE IF NOT EXISTS {p}webhook_attempts (endpoint_id TEXT NOT NULL, "
    "webhook_id TEXT NOT NULL, generation INTEGER NOT NULL, attempt INTEGER NOT NULL, "
    "started_at TEXT NOT NULL, duration_ms REAL NOT NULL, status_code INTEGER, error TEXT, "
    "outcome TEXT NOT NULL, PRIMARY KEY (endpoint_id, webhook_id, generation, attempt))",
)
DELIVERY_COLUMNS = ("endpoint_id", "webhook_id", "seq", "position", "ordering_key",
                    "event_type", "body", "status", "attempts", "created_at",
                    "next_attempt_at")
INSERT_DELIVERY = (f"INSERT INTO {{p}}webhook_deliveries ({', '.join(DELIVERY_COLUMNS)}) "
                   f"VALUES ({', '.join(':' + c for c in DELIVERY_COLUMNS)}) "
                   "ON CONFLICT (endpoint_id, webhook_id) DO NOTHING")
UPSERT_ENDPOINT = (
    "INSERT INTO {p}webhook_endpoints (endpoint_id, seller_id, url, event_types, enabled) "
    "VALUES (:endpoint_id, :seller_id, :url, :event_types, :enabled) "
    "ON CONFLICT (endpoint_id) DO UPDATE SET url = excluded.url, "
    "event_types = excluded.event_types, enabled = excluded.enabled, "
    # Enabled again: its failures so far no longer count towards WH-1.
    "failing_since = CASE WHEN excluded.enabled = 1 AND webhook_endpoints.enabled = 0 "
    "THEN NULL ELSE webhook_endpoints.failing_since END")
INSERT_ATTEMPT = (
    "INSERT INTO {p}webhook_attempts (endpoint_id, webhook_id, generation, attempt, "
    "started_at, duration_ms, status_code, error, outcome) VALUES (:endpoint_id, "
    ":webhook_id, :generation, :attempt, :started_at, :duration_ms, :status_code, :error, "
    ":outcome) ON CONFLICT DO NOTHING")
# Only the pending delivery that was sent is settled: one a replay made pending again since
# (a new generation) is sent again.
SETTLE_DELIVERY = (
    "UPDATE {p}webhook_deliveries SET status = :status, attempts = :attempt, "
    "next_attempt_at = :next_attempt_at, last_attempt_at = :started_at, "
    "last_status = :status_code, last_error = :error, delivered_at = :delivered_at "
    "WHERE endpoint_id = :endpoint_id AND webhook_id = :webhook_id AND status = 'pending' "
    "AND generation = :generation")
RECOVERED = ("UPDATE {p}webhook_endpoints SET last_success_at = :at, "
             "failing_since = :failing, last_error = :error WHERE endpoint_id = :id")
FAILING = ("UPDATE {p}webhook_endpoints SET failing_since = COALESCE(failing_since, :at), "
           "last_error = :error WHERE endpoint_id = :id")
# The oldest pending delivery of each (endpoint, ordering key) that is due: a parcel's
# later events wait for its earlier ones, other parcels' do not.
DUE = (
    "SELECT d.endpoint_id, d.webhook_id, d.ordering_key, d.body, d.attempts, d.seq, "
    "d.next_attempt_at, d.generation, "
    "d.created_at, e.url FROM {p}webhook_deliveries d JOIN {p}webhook_endpoints e "
    "ON e.endpoint_id = d.endpoint_id WHERE d.status = 'pending' AND e.enabled = 1 "
    "AND d.next_attempt_at <= :now AND NOT EXISTS (SELECT 1 FROM {p}webhook_deliveries o "
    "WHERE o.endpoint_id = d.endpoint_id AND o.ordering_key = d.ordering_key "
    "AND o.status = 'pending' AND o.seq < d.seq) ORDER BY d.next_attempt_at, d.seq "
    "LIMIT :limit")


class WebhookStore(ViewRecorder):
    """The dispatcher's tables and its tracking record (`webhooks_view_tracking`)."""

    view_name: ClassVar[str] = STORE_NAME
    ddl = DDL
    tables = ("webhook_endpoints", "webhook_deliveries", "webhook_attempts")

    # -- the fan-out's writes (inside `record`) ----------------------------------------
    @staticmethod
    def put_endpoint(tx: Tx, endpoint: Mapping[str, Any]) -> None:
        tx.execute(UPSERT_ENDPOINT, endpoint_id=endpoint["endpoint_id"],
                   seller_id=endpoint["seller_id"], url=endpoint["url"],
                   event_types=json.dumps(endpoint["event_types"]),
                   enabled=1 if endpoint["enabled"] else 0)

    @staticmethod
    def add_delivery(tx: Tx, **row: Any) -> None:
        tx.later(INSERT_DELIVERY, (row["endpoint_id"], row["webhook_id"]), **row)

    def endpoints(self) -> list[dict[str, Any]]:
        with self.reading() as tx:
            rows = tx.all("SELECT * FROM {p}webhook_endpoints")
        for row in rows:
            row["event_types"] = json.loads(row["event_types"])
            row["enabled"] = bool(row["enabled"])
        return rows

    # -- the sender's reads and writes -------------------------------------------------
    def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        with self.reading() as tx:
            return tx.all(DUE, now=ts(now), limit=limit)

    def next_due_at(self) -> datetime | None:
        with self.reading() as tx:
            row = tx.one("SELECT MIN(d.next_attempt_at) AS at FROM {p}webhook_deliveries d "
                         "JOIN {p}webhook_endpoints e ON e.endpoint_id = d.endpoint_id "
                         "WHERE d.status = 'pending' AND e.enabled = 1")
        return parse_ts(row["at"]) if row and row["at"] else None

    def settle(self, outcomes: Sequence[Mapping[str, Any]]) -> None:
        """Write a batch of attempts' outcomes in one transaction: attempt rows, delivery
        rows, and each endpoint's health once (failing since its first failure after its
        last success)."""
        health: dict[str, tuple[str | None, str | None, str | None]] = {}
        for o in sorted(outcomes, key=lambda o: o["started_at"]):
            success, failing, error = health.get(o["endpoint_id"], (None, None, None))
            if o["outcome"] == DELIVERED:
                health[o["endpoint_id"]] = (o["started_at"], None, None)
            else:
                health[o["endpoint_id"]] = (success, failing or o["started_at"], o["error"])
        with self._settling() as cursor:
            tx = self._tx(cursor)
            for o in outcomes:
                key = (o["endpoint_id"], o["webhook_id"])
                tx.later(INSERT_ATTEMPT, (*key, o["generation"], o["attempt"]), **{
                    k: o[k] for k in ("endpoint_id", "webhook_id", "generation", "attempt",
                                      "started_at", "duration_ms", "status_code", "error",
                                      "outcome")})
                tx.later(SETTLE_DELIVERY, key, **{
                    k: o[k] for k in ("status", "attempt", "next_attempt_at", "started_at",
                                      "status_code", "error", "delivered_at", "endpoint_id",
                                      "webhook_id", "generation")})
            for endpoint_id, (success, failing, error) in health.items():
                if success is not None:
                    tx.later(RECOVERED, endpoint_id, id=endpoint_id, at=success,
                             failing=failing, error=error)
                else:
                    tx.later(FAILING, endpoint_id, id=endpoint_id, at=failing, error=error)
            tx.flush()

    @contextlib.contextmanager
    def _settling(self) -> Iterator[Any]:
        """The settle's transaction. SQLite: without an fsync of its own. A power cut may
        then forget the last settles (WAL keeps the file consistent; the events and their
        fan-out are not at stake): those deliveries are sent again, with their ids, as
        after any crash."""
        if not isinstance(self.datastore, SQLiteDatastore):
            with self.datastore.transaction(commit=True) as cursor:
                yield cursor
            return
        with self.datastore.get_connection(commit=True) as conn:
            conn.cursor().execute("PRAGMA synchronous = NORMAL")  # this connection's
            with conn.transaction(commit=True) as cursor:
                yield cursor

    def failing_endpoints(self, since_before: datetime) -> list[dict[str, Any]]:
        """Enabled endpoints failing without a success since before `since_before`."""
        with self.reading() as tx:
            return tx.all("SELECT endpoint_id, failing_since, last_error "
                          "FROM {p}webhook_endpoints WHERE enabled = 1 "
                          "AND failing_since IS NOT NULL AND failing_since <= :at",
                          at=ts(since_before))

    # -- operations ----------------------------------------------------------------------
    def deliveries(self, endpoint_id: str, after_seq: int | None, limit: int,
                   with_attempts: bool = True) -> list[dict[str, Any]]:
        """An endpoint's deliveries, newest first, each with its attempts."""
        with self.reading() as tx:
            before = "" if after_seq is None else "AND seq < :before "
            rows = tx.all("SELECT endpoint_id, webhook_id, seq, position, event_type, status, "
                          "attempts, created_at, next_attempt_at, last_attempt_at, "
                          "last_status, last_error, delivered_at "
                          "FROM {p}webhook_deliveries WHERE endpoint_id = :id "
                          f"{before}ORDER BY seq DESC, created_at DESC LIMIT :limit",
                          id=endpoint_id, before=after_seq, limit=limit)
            if with_attempts and rows:
                marks, params = in_list("w", [r["webhook_id"] for r in rows])
                attempts = tx.all("SELECT webhook_id, attempt, started_at, duration_ms, "
                                  "status_code, error, outcome FROM {p}webhook_attempts "
                                  f"WHERE endpoint_id = :id AND webhook_id IN ({marks}) "
                                  "ORDER BY started_at, generation, attempt",
                                  id=endpoint_id, **params)
                by_id: dict[str, list[dict[str, Any]]] = {}
                for attempt in attempts:
                    by_id.setdefault(attempt.pop("webhook_id"), []).append(attempt)
                for row in rows:
                    row["attempt_log"] = by_id.get(row["webhook_id"], [])
        return rows

    def replay(self, endpoint_id: str, after_position: int) -> int:
        """Send again every event delivery of the endpoint after the position: pending,
        due now, attempts kept in the log. Answers how many."""
        with self.datastore.transaction(commit=True) as cursor:
            tx = self._tx(cursor)
            found = tx.one("SELECT COUNT(*) AS n FROM {p}webhook_deliveries "
                           "WHERE endpoint_id = :id AND position > :after",
                           id=endpoint_id, after=after_position)
            tx.execute("UPDATE {p}webhook_deliveries SET status = 'pending', "
                       "next_attempt_at = :due, delivered_at = NULL, "
                       "generation = generation + 1 "
                       "WHERE endpoint_id = :id AND position > :after",
                       due=DUE_AT_ONCE, id=endpoint_id, after=after_position)
        return int(found["n"]) if found else 0

    def add_test(self, endpoint_id: str, webhook_id: str, body: str, now: datetime) -> None:
        """A test delivery: ordered on its own, sent at the next look."""
        with self.datastore.transaction(commit=True) as cursor:
            self._tx(cursor).execute(INSERT_DELIVERY, endpoint_id=endpoint_id,
                                     webhook_id=webhook_id, seq=0, position=None,
                                     ordering_key=webhook_id, event_type="WebhookTest",
                                     body=body, status=PENDING, attempts=0, created_at=ts(now),
                                     next_attempt_at=DUE_AT_ONCE)

    def queue_stats(self) -> list[dict[str, Any]]:
        """Per endpoint: pending deliveries and the oldest pending one's creation time."""
        with self.reading() as tx:
            return tx.all("SELECT endpoint_id, COUNT(*) AS pending, "
                          "MIN(created_at) AS oldest FROM {p}webhook_deliveries "
                          "WHERE status = 'pending' GROUP BY endpoint_id")

    def counts(self) -> list[dict[str, Any]]:
        """Per endpoint and outcome: how many attempts."""
        with self.reading() as tx:
            return tx.all("SELECT endpoint_id, outcome, COUNT(*) AS n "
                          "FROM {p}webhook_attempts GROUP BY endpoint_id, outcome")


def store_env(env: Mapping[str, str]) -> dict[str, str]:
    """Where the dispatcher's tables live: on SQLite `webhooks.sqlite3` beside the ledger's
    file (a writer of its own, not the views'), on PostgreSQL the views' schema."""
    full = dict(env)
    prefix = STORE_NAME.upper()
    # Created as the event store's tables are: unless CREATE_TABLE=no (`db init` made them).
    full.setdefault(f"{prefix}_CREATE_TABLE", full.get("CREATE_TABLE") or "yes")
    if full.get("PERSISTENCE_MODULE", "eventsourcing.sqlite") == "eventsourcing.sqlite":
        ledger_file = Path(full.get("SQLITE_DBNAME") or "var/ledger.sqlite3")
        full.setdefault(f"{prefix}_SQLITE_DBNAME", str(ledger_file.with_name(
            "webhooks.sqlite3")))
        full.setdefault(f"{prefix}_SQLITE_LOCK_TIMEOUT", "10")
    else:
        full[f"{prefix}_POSTGRES_SCHEMA"] = full.get("VIEWS_POSTGRES_SCHEMA", "views")
        full.setdefault(f"{prefix}_POSTGRES_POOL_SIZE", "2")
    return full


def open_store(env: Mapping[str, str]) -> WebhookStore:
    """The dispatcher's tables on their own connection pool (created when missing)."""
    full = store_env(env)
    factory = InfrastructureFactory.construct(env=Environment(STORE_NAME, full))
    store_class: Any = concrete(cast(Any, WebhookStore), full["PERSISTENCE_MODULE"])
    return cast(WebhookStore, factory.tracking_recorder(store_class))

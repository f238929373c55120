"""The webhook dispatcher: a fan-out projection of the log, and a sender of what it queued.

Fan-out: the library's ProjectionRunner feeds the log's events to `WebhookFanout`, which
writes, per event and per matching endpoint, a pending delivery (its body the event's feed
entry) and the event's tracking record in one transaction. The endpoints it matches are
those the log says existed at that event (their events pass through the same projection).

Sending: the oldest due pending delivery of each (endpoint, parcel) is sent, signed per
Standard Webhooks, by a pool of threads; a batch of answers is written in one transaction
(attempt rows, the delivery's new state, the endpoint's health). A delivery is settled only
after its answer is written: a crash re-sends at most what was in flight, with the same
`webhook-id`. Retries: attempt n failing waits a random 50-100 % of
min(WEBHOOK_RETRY_MAX_SECONDS, WEBHOOK_RETRY_BASE_SECONDS x 2^(n-1)), or what a 429/503's
Retry-After asks. WH-1: an endpoint failing for WEBHOOK_DISABLE_AFTER_HOURS is disabled.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import IO, Any, ClassVar, cast
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from application.events_feed import KIND_OF_TOPIC, TOPICS, EventFeed
from application.ledger import ReturnsLedger
from application.settings import Settings, WebhookSettings
from application.webhooks import WebhookEndpoints, event_body
from domain.webhooks import WebhookEndpoint
from infrastructure.view_store import Batch, Tx, concrete, parse_ts, ts
from infrastructure.webhook_http import Answer, DestinationPolicy, WebhookClient, describe
from infrastructure.webhook_http import signature_header as sign_all
from infrastructure.webhook_store import (
    DELIVERED,
    FAILED,
    PENDING,
    STORE_NAME,
    WebhookStore,
    open_store,
    store_env,
)
from projections.runners import BatchingProjectionRunner, close_runner, projection_env

log = logging.getLogger("returns_ledger.webhooks")
Clock = Callable[[], datetime]
SECRET_CACHE_SECONDS = 2.0  # a rotation reaches the signatures within this
IDLE_POLL_SECONDS = 0.2  # the longest the sender sleeps when nothing is due
RETRY_AFTER_CEILING = 24 * 3600.0
DISABLED_HOLD_SECONDS = 30.0
RESTART_SECONDS = 3.0
SETTLE_GATHER_SECONDS = 0.01
SEND_CHUNK = 8  # deliveries of one endpoint one sender task sends in a row
SENT, UNSENT, TASK_DONE = "sent", "unsent", "task-done"


def utc_now() -> datetime:
    return datetime.now(UTC)


def retry_delay(attempt: int, settings: WebhookSettings, rng: random.Random,
                retry_after: float | None = None) -> float:
    """Seconds before the next try after attempt `attempt` (1, 2, ...) failed."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), RETRY_AFTER_CEILING)
    ceiling = min(settings.retry_max_seconds,
                  settings.retry_base_seconds * 2 ** min(attempt - 1, 40))
    return ceiling * rng.uniform(0.5, 1.0)


class WebhookFanout(Projection[Any]):
    """Turns each event into one pending delivery per endpoint that wants it."""

    name = STORE_NAME
    topics = tuple(sorted(TOPICS.values()))
    batch_size: ClassVar[int] = 500
    # Set on the subclass a Dispatcher makes (the runner constructs the projection).
    feed: ClassVar[EventFeed]
    clock: ClassVar[Clock]
    committed: ClassVar[Callable[[], None]]

    view: WebhookStore

    def __init__(self, view: WebhookStore) -> None:
        super().__init__(view)
        self.endpoints = {row["endpoint_id"]: row for row in view.endpoints()}
        self._kinds: dict[type, str | None] = {}

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([(domain_event, tracking)])

    def process_batch(self, batch: Batch) -> None:
        try:
            self.view.record(batch, self.apply)
        except Exception:
            # Rolled back: forget what this batch changed, as the store did.
            self.endpoints = {row["endpoint_id"]: row for row in self.view.endpoints()}
            raise
        type(self).committed()

    def _kind(self, domain_event: Any) -> str | None:
        cls = type(domain_event)
        if cls not in self._kinds:
            self._kinds[cls] = KIND_OF_TOPIC.get(get_topic(cls))
        return self._kinds[cls]

    def apply(self, domain_event: Any, tx: Tx, tracking: Tracking) -> None:
        kind = self._kind(domain_event)
        if kind is None:
            return
        if isinstance(domain_event, WebhookEndpoint.Event):
            self._endpoint_changed(domain_event, tx)
        seller = self.feed.owner(domain_event.originator_id,
                                 domain_event if domain_event.originator_version == 1
                                 else None)
        entry: dict[str, Any] | None = None
        body = ""
        now = ts(type(self).clock())
        for endpoint in self.endpoints.values():
            if not endpoint["enabled"] or (endpoint["seller_id"] is not None
                                           and endpoint["seller_id"] != seller):
                continue
            if entry is None:
                entry = self.feed.entry(domain_event, tracking.notification_id, kind, seller)
                body = event_body(entry)
            if endpoint["event_types"] and entry["type"] not in endpoint["event_types"]:
                continue
            position = tracking.notification_id
            self.view.add_delivery(
                tx, endpoint_id=endpoint["endpoint_id"], webhook_id=f"msg_{position}",
                seq=position, position=position,
                ordering_key=str(domain_event.originator_id), event_type=entry["type"],
                body=body, status=PENDING, attempts=0, created_at=now, next_attempt_at=now)

    def _endpoint_changed(self, event: Any, tx: Tx) -> None:
        endpoint_id = str(event.originator_id)
        if isinstance(event, WebhookEndpoint.WebhookEndpointCreated):
            row = {"endpoint_id": endpoint_id, "seller_id": event.seller_id, "url": event.url,
                   "event_types": list(event.event_types), "enabled": event.enabled}
        elif endpoint_id not in self.endpoints:
            return
        else:
            row = dict(self.endpoints[endpoint_id])
            if isinstance(event, WebhookEndpoint.WebhookEndpointChanged):
                row.update({k: v for k, v in event.changes.items()
                            if k in ("url", "event_types", "enabled")})
            elif isinstance(event, (WebhookEndpoint.WebhookEndpointDisabled,
                                    WebhookEndpoint.WebhookEndpointDeleted)):
                row["enabled"] = False
        self.view.put_endpoint(tx, row)
        self.endpoints[endpoint_id] = row


class LockLostError(RuntimeError):
    """The lock that makes this dispatcher the only active one is gone."""


class DispatcherLock:
    """One active dispatcher per store: an flock (SQLite) or an advisory lock (PostgreSQL),
    released when the holder stops or dies."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self._handle: IO[str] | None = None
        self._conn: Any = None

    def try_acquire(self) -> bool:
        if self.env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            import psycopg

            if self._conn is None:
                self._conn = psycopg.connect(
                    host=self.env.get("POSTGRES_HOST"), port=self.env.get("POSTGRES_PORT"),
                    dbname=self.env.get("POSTGRES_DBNAME"), user=self.env.get("POSTGRES_USER"),
                    password=self.env.get("POSTGRES_PASSWORD") or None, autocommit=True)
            scope = self.env.get(f"{STORE_NAME.upper()}_POSTGRES_SCHEMA", "views")
            key = int.from_bytes(hashlib.sha256(
                f"returns-ledger-webhooks:{scope}".encode()).digest()[:8], "big", signed=True)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            return bool(row and row[0])
        handle = open(self.env[f"{STORE_NAME.upper()}_SQLITE_DBNAME"] + ".lock", "a+")  # noqa: SIM115 - held open while the lock is
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def still_held(self) -> bool:
        """False when the lock's PostgreSQL session is gone (the server let the lock go)."""
        if self._conn is None:
            return self._handle is not None
        try:
            self._conn.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure means the session is gone
            return False
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Dispatcher:
    """The fan-out runner and the sender; `run()` in the foreground, `start()` in a thread."""

    endpoints: WebhookEndpoints  # built with the dispatcher's own ledger, once it is active

    def __init__(self, settings: Settings, clock: Clock = utc_now,
                 rng: random.Random | None = None, client: WebhookClient | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.config = settings.webhooks
        self.env = store_env(projection_env(settings.env))
        self.clock = clock
        self.rng = rng or random.Random()
        self.client = client or WebhookClient(
            DestinationPolicy(self.config.allow_loopback, self.config.allow_private_networks),
            self.config.timeout_seconds)
        self.say = say or log.info
        self.stopping = threading.Event()
        self.active = threading.Event()
        self._wake = threading.Event()
        self._results: queue.Queue[tuple[str, Any, Any, Any]] = queue.Queue()
        self._tasks = 0  # sender tasks submitted and not yet ended
        self._in_flight: set[tuple[str, str]] = set()
        self._disabled: dict[str, float] = {}
        self._secrets: dict[str, tuple[float, list[str]]] = {}
        self._lock = DispatcherLock(self.env)
        self._thread: threading.Thread | None = None
        self.ledger: ReturnsLedger | None = None
        self.store: WebhookStore | None = None
        self.runner: Any = None

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> Dispatcher:
        """Run in a daemon thread (the embedded default)."""
        self._thread = threading.Thread(target=self.run, name="webhook-dispatcher",
                                        daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Wait for the lock, then fan out and send until stop(); after a failure (the
        database away, say) start again in a few seconds."""
        while not self.stopping.is_set():
            try:
                if self._acquire():
                    self._run_active()
            except Exception as error:  # noqa: BLE001 - the dispatcher outlives an outage
                log.error("webhook dispatcher stopped (%r); starting again in %.0fs", error,
                          RESTART_SECONDS)
                self._shutdown()
                self.stopping.wait(RESTART_SECONDS)

    def _acquire(self) -> bool:
        waited = False
        while not self._lock.try_acquire():
            if not waited:
                self.say("another webhook dispatcher is active on this store; waiting")
                waited = True
            if self.stopping.wait(1.0):
                return False
        return True

    def _run_active(self) -> None:
        # What a previous session left unsettled is pending in the store: sent again.
        self._in_flight.clear()
        self._tasks = 0
        while not self._results.empty():
            self._results.get_nowait()
        try:
            self.say("webhook dispatcher active")
            self.ledger = ReturnsLedger(self.settings)
            self.endpoints = WebhookEndpoints(self.ledger)
            self.store = open_store(self.env)
            self._start_runner()
            self.active.set()
            with ThreadPoolExecutor(self.config.concurrency,
                                    thread_name_prefix="webhook-send") as pool:
                self._loop(pool)
                self._settle(wait_for_tasks=True)
        finally:
            self._shutdown()

    def stop(self, timeout: float | None = 30.0) -> None:
        self.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _start_runner(self) -> None:
        fanout = type("WebhookFanout", (WebhookFanout,), {
            "name": STORE_NAME, "feed": EventFeed(self.ledger), "clock": staticmethod(
                self.clock), "committed": staticmethod(self._wake.set)})
        self.runner = BatchingProjectionRunner(
            application_class=ReturnsLedger, projection_class=fanout,
            view_class=concrete(cast(Any, WebhookStore), self.env["PERSISTENCE_MODULE"]),
            env=self.env)
        self.runner.__enter__()

    def _shutdown(self) -> None:
        self.active.clear()
        if self.runner is not None:
            error = close_runner(self.runner)
            if error is not None:
                log.warning("webhook fan-out stopped with %r", error)
            self.runner = None
        if self.store is not None:
            self.store.datastore.close()
            self.store = None
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
        self.client.close()
        self._lock.release()

    # -- the sender ----------------------------------------------------------------------
    def _loop(self, pool: ThreadPoolExecutor) -> None:
        last_health = 0.0
        while not self.stopping.is_set():
            try:
                if self.runner.is_interrupted.is_set():
                    self._restart_runner()
                self._settle()
                if time.monotonic() - last_health > 1.0:
                    if not self._lock.still_held():
                        raise LockLostError("the dispatcher's lock was lost")
                    self._disable_failing()
                    last_health = time.monotonic()
                self._send_due(pool)
            except LockLostError:
                raise  # another dispatcher may be active now: stop, and wait for the lock
            except Exception as error:  # noqa: BLE001 - the dispatcher outlives an outage
                log.error("webhook dispatcher: %r; trying again in 2s", error)
                self.stopping.wait(2.0)
                continue
            self._wake.wait(IDLE_POLL_SECONDS)
            self._wake.clear()
            if self._in_flight:
                # Let a few more answers come back: one transaction settles them all.
                self.stopping.wait(SETTLE_GATHER_SECONDS)

    def _restart_runner(self) -> None:
        error = close_runner(self.runner)
        log.error("webhook fan-out stopped (%r); restarting", error)
        self.stopping.wait(1.0)
        self._start_runner()

    def _send_due(self, pool: ThreadPoolExecutor) -> None:
        """Hand the due deliveries to the senders, a few of one endpoint per task (one
        kept-alive connection, fewer hand-overs), up to WEBHOOK_CONCURRENCY tasks."""
        assert self.store is not None
        free = self.config.concurrency - self._tasks
        if free <= 0:
            return
        now = time.monotonic()
        by_endpoint: dict[str, list[dict[str, Any]]] = {}
        for row in self.store.due(self.clock(), free * SEND_CHUNK + len(self._in_flight)):
            key = (row["endpoint_id"], row["ordering_key"])
            if key not in self._in_flight and self._disabled.get(key[0], 0.0) <= now:
                by_endpoint.setdefault(key[0], []).append(row)
        chunks = [rows[i:i + SEND_CHUNK] for rows in by_endpoint.values()
                  for i in range(0, len(rows), SEND_CHUNK)]
        chunks.sort(key=lambda chunk: chunk[0]["next_attempt_at"])  # the longest waiting first
        for chunk in chunks[:free]:
            self._in_flight.update((r["endpoint_id"], r["ordering_key"]) for r in chunk)
            self._tasks += 1
            pool.submit(self._send_chunk, chunk)

    def _signing_secrets(self, endpoint_id: str, now: datetime) -> list[str]:
        cached = self._secrets.get(endpoint_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        endpoint = self.endpoints.get(UUID(endpoint_id))
        opened = self.endpoints.signing_secrets(endpoint, now)
        self._secrets[endpoint_id] = (time.monotonic() + SECRET_CACHE_SECONDS, opened)
        return opened

    def _send_chunk(self, rows: list[dict[str, Any]]) -> None:
        """Send one after the other; after a network error or a timeout the rest go back
        unsent (other senders take them: no parcel waits behind another's timeout)."""
        try:
            for n, row in enumerate(rows):
                if self.stopping.is_set():
                    self._results.put((UNSENT, row, None, None))
                    continue
                started = self.clock()
                answer = self._attempt(row, started)
                self._results.put((SENT, row, answer, started))
                self._wake.set()
                if answer.status is None and not answer.refused:
                    for rest in rows[n + 1:]:
                        self._results.put((UNSENT, rest, None, None))
                    break
        finally:
            self._results.put((TASK_DONE, None, None, None))
            self._wake.set()

    def _attempt(self, row: dict[str, Any], started: datetime) -> Answer:
        try:
            secrets_ = self._signing_secrets(row["endpoint_id"], started)
            body = row["body"].encode()
            stamp = int(started.timestamp())
            return self.client.post(row["url"], body, {
                "webhook-id": row["webhook_id"], "webhook-timestamp": str(stamp),
                "webhook-signature": sign_all(secrets_, row["webhook_id"], stamp, body)})
        except Exception as error:  # noqa: BLE001 - e.g. the endpoint was deleted meanwhile
            return Answer(None, 0.0, f"{type(error).__name__}: {error}"[:500])

    def _settle(self, wait_for_tasks: bool = False) -> None:
        """Write the answers that came back in one transaction (at shutdown: after the
        senders' tasks have ended, or the request timeout twice over)."""
        assert self.store is not None
        done: list[tuple[dict[str, Any], Answer, datetime]] = []
        released: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.config.timeout_seconds * 2
        while True:
            block = wait_for_tasks and self._tasks > 0
            try:
                kind, row, answer, started = self._results.get(
                    block=block, timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                break
            if kind == TASK_DONE:
                self._tasks -= 1
            elif kind == UNSENT:
                released.append(row)
            else:
                done.append((row, answer, started))
        for row in released:
            self._in_flight.discard((row["endpoint_id"], row["ordering_key"]))
        if not done:
            return
        now = self.clock()
        outcomes = [self._outcome(row, answer, started, now) for row, answer, started in done]
        try:
            self.store.settle(outcomes)
        except Exception:
            for row, answer, started in done:  # written next time; in flight meanwhile
                self._results.put((SENT, row, answer, started))
            raise
        for row, _, _ in done:
            self._in_flight.discard((row["endpoint_id"], row["ordering_key"]))

    def _outcome(self, row: dict[str, Any], answer: Answer, started: datetime,
                 now: datetime) -> dict[str, Any]:
        attempt = row["attempts"] + 1
        if answer.delivered:
            status, outcome, next_at = DELIVERED, DELIVERED, started
        elif answer.retryable:
            delay = retry_delay(attempt, self.config, self.rng, answer.retry_after
                                if answer.status in (429, 503) else None)
            status, outcome, next_at = PENDING, "retry", now + timedelta(seconds=delay)
        else:
            status, outcome, next_at = FAILED, FAILED, started
        return {"endpoint_id": row["endpoint_id"], "webhook_id": row["webhook_id"],
                "generation": row["generation"], "attempt": attempt, "started_at": ts(started),
                "duration_ms": answer.duration_ms, "status_code": answer.status,
                "error": None if answer.delivered else describe(answer)[:500],
                "outcome": outcome, "status": status, "next_attempt_at": ts(next_at),
                "delivered_at": ts(now) if answer.delivered else None}

    def _disable_failing(self) -> None:
        """WH-1: disable, with an event, each endpoint failing for too long."""
        assert self.store is not None
        now = self.clock()
        horizon = now - timedelta(hours=self.config.disable_after_hours)
        for row in self.store.failing_endpoints(horizon):
            if self._disabled.get(row["endpoint_id"], 0.0) > time.monotonic():
                continue
            since = parse_ts(row["failing_since"])
            assert since is not None
            if self.endpoints.disable_for_failures(UUID(row["endpoint_id"]), since,
                                                   row["last_error"] or "", now):
                log.warning("webhook endpoint %s disabled (WH-1): failing since %s",
                            row["endpoint_id"], row["failing_since"])
            # Not sent to until the fan-out has applied the event (then the store says so).
            self._disabled[row["endpoint_id"]] = time.monotonic() + DISABLED_HOLD_SECONDS


def at_shutdown(stop: Callable[[], None]) -> None:
    """Stop the dispatcher before the interpreter joins the library's runner threads
    (non-daemon), as the embedded views do (projections/embedded.py says why)."""
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(stop)
        else:
            import atexit

            atexit.register(stop)
    except RuntimeError:  # already shutting down
        stop()

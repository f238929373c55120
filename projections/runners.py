"""Running the views: the library's ProjectionRunner, batched; settings; opening the view store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from threading import Thread
from typing import Any, cast

from eventsourcing.persistence import InfrastructureFactory, TrackingRecorder
from eventsourcing.projection import ProjectionRunner
from eventsourcing.utils import Environment

from application.ledger import ReturnsLedger
from application.settings import load
from infrastructure.seam import BatchLoopRunner, has_buffered, runner_subscription, wake
from infrastructure.subscriptions import POSTGRES_WATCHDOG_INTERVAL
from infrastructure.view_store import ViewRecorder, concrete
from projections.base import ViewProjection
from projections.binding import binder, check
from projections.deadlines import DeadlinesProjection, DeadlinesView
from projections.free_return import FreeReturnProjection, FreeReturnView
from projections.liabilities import LiabilitiesProjection, LiabilitiesView
from projections.refunds import RefundsProjection, RefundsView
from projections.tracking import TrackingProjection, TrackingView


@dataclass(frozen=True)
class ViewSpec:
    """A view: its projection and its recorder (store tables + tracking)."""

    name: str
    projection: type[ViewProjection]
    view: type[ViewRecorder]


VIEWS: dict[str, ViewSpec] = {spec.name: spec for spec in (
    ViewSpec("tracking", TrackingProjection, TrackingView),
    ViewSpec("free_return", FreeReturnProjection, FreeReturnView),
    ViewSpec("deadlines", DeadlinesProjection, DeadlinesView),
    ViewSpec("liabilities", LiabilitiesProjection, LiabilitiesView),
    ViewSpec("refunds", RefundsProjection, RefundsView),
)}
DEFAULT_VIEWS_SCHEMA = "views"


def projection_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ledger's settings, plus where the views live and a recorder that can subscribe.

    SQLite: VIEWS_SQLITE_DBNAME (default: views.sqlite3 beside the ledger's file).
    PostgreSQL: VIEWS_POSTGRES_SCHEMA (default: `views`) in the ledger's database.
    """
    env = dict(load(overrides).env)
    module = env["PERSISTENCE_MODULE"]
    if module not in ("eventsourcing.sqlite", "eventsourcing.postgres"):
        raise ValueError(f"views need eventsourcing.sqlite or eventsourcing.postgres, "
                         f"not {module!r}")
    for spec in VIEWS.values():
        prefix = spec.projection.name.upper()
        # Views create their tables as the event store does: unless CREATE_TABLE=no (once
        # `db init` created them, see create_view_tables).
        env.setdefault(f"{prefix}_CREATE_TABLE", env.get("CREATE_TABLE") or "yes")
        if module == "eventsourcing.sqlite":
            env[f"{prefix}_SQLITE_DBNAME"] = views_sqlite_path(env)
        else:
            env[f"{prefix}_POSTGRES_SCHEMA"] = env.get("VIEWS_POSTGRES_SCHEMA",
                                                       DEFAULT_VIEWS_SCHEMA)
            # One writer per view; the pool grows on demand (overflow) for concurrent reads.
            env.setdefault(f"{prefix}_POSTGRES_POOL_SIZE", "1")
    if module == "eventsourcing.postgres":
        # A runner's ledger holds one connection to LISTEN and one to pull notifications.
        env.setdefault("RETURNSLEDGER_POSTGRES_POOL_SIZE", "2")
    return env


def create_view_tables(overrides: Mapping[str, str] | None = None) -> list[str]:
    """Every view's tables, created where the settings point (`db init`); their names."""
    env = projection_env({**(overrides or {}), "CREATE_TABLE": "yes"})
    for name in VIEWS:
        open_view(name, env).datastore.close()
    return list(VIEWS)


def views_sqlite_path(env: Mapping[str, str]) -> str:
    explicit = env.get("VIEWS_SQLITE_DBNAME")
    if explicit:
        return explicit
    return str(Path(env["SQLITE_DBNAME"]).with_name("views.sqlite3"))


def open_view(name: str, env: Mapping[str, str]) -> ViewRecorder:
    """A view's recorder on its own connection pool (creates its tables when missing)."""
    spec = VIEWS[name]
    factory = InfrastructureFactory.construct(env=Environment(spec.projection.name, env))
    view_class = concrete(spec.view, env["PERSISTENCE_MODULE"])
    return cast(ViewRecorder, factory.tracking_recorder(
        cast(type[TrackingRecorder], view_class)))


class BatchingProjectionRunner(BatchLoopRunner):
    """The library's runner, applying what the subscription has already read in one transaction.

    A batch ends when the subscription would have to wait (after PROJECTION_LINGER_MS for
    more, when set), or at the projection's batch size.
    A watchdog pokes the subscription's pull loop every interval, so a lost PostgreSQL
    notification delays a view by one interval at most.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        env = kwargs.get("env") or {}
        batch_size = env.get("PROJECTION_BATCH_SIZE")
        if batch_size:
            self.projection.batch_size = int(batch_size)  # type: ignore[attr-defined]
        # How long a batch that has run dry waits for more events before it is applied.
        self.projection.linger = (  # type: ignore[attr-defined]
            float(env.get("PROJECTION_LINGER_MS") or 0) / 1000)
        interval = float(env.get("PROJECTION_POLL_INTERVAL") or POSTGRES_WATCHDOG_INTERVAL)
        self._watchdog = Thread(target=self._poke, args=(interval,), daemon=True,
                                name=f"{self.projection.name}-watchdog")
        self._watchdog.start()

    def _poke(self, interval: float) -> None:
        while not self.is_interrupted.wait(interval):
            wake(runner_subscription(self))

    @staticmethod
    def prepare(runner: Any) -> None:
        """Refuse to follow a store the view does not belong to; then bind each batch to it."""
        view, app = runner.projection.view, runner.app
        check(runner.projection.name, view, app.recorder, app.store_id)
        view.bind_to = binder(app.store_id, app.recorder)

    @staticmethod
    def process_events(subscription: Any, projection: Any, is_stopping: Any) -> None:
        batch: list[Any] = []
        for pair in subscription:
            batch.append(pair)
            if len(batch) < projection.batch_size and not has_buffered(subscription):
                # PROJECTION_LINGER_MS: under a steady load the next events are a few
                # milliseconds away; waiting for them makes one transaction of several.
                # (Read here: the runner sets it after this thread has started.)
                linger = getattr(projection, "linger", 0.0)
                if linger and not is_stopping.wait(linger) and has_buffered(subscription):
                    continue
            elif len(batch) < projection.batch_size:
                continue
            projection.process_batch(batch)
            batch = []


def start_runner(name: str, env: Mapping[str, str],
                 runner_class: type[ProjectionRunner[Any, Any]] = BatchingProjectionRunner,
                 ) -> ProjectionRunner[Any, Any]:
    """Start following the notification log into one view (env from projection_env())."""
    spec = VIEWS[name]
    runner = runner_class(application_class=ReturnsLedger, projection_class=spec.projection,
                          view_class=concrete(spec.view, env["PERSISTENCE_MODULE"]), env=env)
    runner.__enter__()
    return runner


def close_runner(runner: ProjectionRunner[Any, Any]) -> BaseException | None:
    """Stop a runner, wait for its threads, close its connections; answer its error if any."""
    try:
        runner.__exit__(None, None, None)
    except Exception as error:  # noqa: BLE001 - the caller decides what to do with it
        return error
    finally:
        runner.view.datastore.close()
    return None

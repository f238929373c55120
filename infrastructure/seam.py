"""The one place that touches the eventsourcing library's private names.

The rest of the project uses the library's public API, and these few hooks where the
public API has none. `check_library()` lists what is missing or changed, and the
contract test (tests/integration/test_library_seam.py) fails naming the symbol when an
upgrade of the library changes one; `pyproject.toml` pins the library below 9.6 too.

Each use, and the public hook that would let it go:
- `Repository._use_fastforward_lock` / `_disuse_fastforward_lock`: copying a cached
  aggregate while no other thread fast-forwards it (a public "copy from cache under its
  lock" on the repository would replace it).
- `ListenNotifySubscription._has_been_notified`, `_notifications`,
  `_notifications_index`, `_notifications_queue`: poking the pull loop on a timer and
  asking whether a page is buffered (a public `wake()` and `has_buffered()`).
- `ProjectionRunner._process_events_loop`, `_subscription`, `_thread_error`: applying
  what the subscription already read as one batch (a batch hook on Projection).
- `TrackingRecorder._create_table`, `_insert_tracking` (SQLite and PostgreSQL): a
  view's tables created with the library's tracking table, and its tracking record
  written in the view's own transaction (a public "extra DDL" and "insert tracking on
  this cursor").
- `PostgresApplicationRecorder._insert_events`: whether a recorder subclass adds rows
  in the insert's transaction, so the one-call insert (infrastructure/persistence.py)
  is not used for it (a public "extra statements in the insert" flag would replace it).
- `SQLiteApplicationRecorder._insert_events`, `POPOAggregateRecorder._assert_uniqueness`
  and `_update_table`: rows of the ledger's own (idempotency keys) written in the
  transaction that inserts events, on every store (`RowsInInsert`, `MemoryRowsInInsert`;
  a public "extra statements in the insert" hook would replace them).
- `POPORecorder._database_lock`: the in-memory recorder's lock, under which the ledger's
  own rows (idempotency keys) are read as its events are (`MemoryRowsInInsert.
  recorder_lock`; a public lock or "read under the store's lock" would replace it).
- `Application._record`, `_take_snapshots`, `_notify`: saving aggregates the ledger knows
  are aggregates without the library's runtime `Protocol` checks per object, which cost
  tens of microseconds each on Python 3.11 (`save_collected`; a public "save these
  events" on Application would replace it).
- `Aggregate._create` is the library's documented way for a class method to create an
  aggregate; the domain uses it as documented, and it is checked here all the same.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ListenNotifySubscription, Recording, Tracking
from eventsourcing.popo import POPOAggregateRecorder, POPORecorder
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresTrackingRecorder
from eventsourcing.projection import ProjectionRunner
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteTrackingRecorder

# (owner, name, parameters the project relies on: None for an attribute set in __init__)
CALLABLES: tuple[tuple[type, str, tuple[str, ...]], ...] = (
    (Repository, "_use_fastforward_lock", ("aggregate_id",)),
    (Repository, "_disuse_fastforward_lock", ("aggregate_id",)),
    (ProjectionRunner, "_process_events_loop",
     ("subscription", "projection", "is_stopping", "runner")),
    (SQLiteTrackingRecorder, "_create_table", ("c",)),
    (SQLiteTrackingRecorder, "_insert_tracking", ("c", "tracking")),
    (PostgresTrackingRecorder, "_create_table", ("curs",)),
    (PostgresTrackingRecorder, "_insert_tracking", ("curs", "tracking")),
    (PostgresApplicationRecorder, "_insert_events", ("curs", "stored_events")),
    (SQLiteApplicationRecorder, "_insert_events", ("c", "stored_events")),
    (POPOAggregateRecorder, "_assert_uniqueness", ("stored_events",)),
    (POPOAggregateRecorder, "_update_table", ("stored_events",)),
    (Application, "_record", ("processing_event",)),
    (Application, "_take_snapshots", ("processing_event",)),
    (Application, "_notify", ("recordings",)),
    (Aggregate, "_create", ("event_class",)),
)
# Instance attributes set by the library's constructors (read from their source).
ATTRIBUTES: tuple[tuple[type, str], ...] = (
    (ListenNotifySubscription, "_has_been_notified"),
    (ListenNotifySubscription, "_notifications"),
    (ListenNotifySubscription, "_notifications_index"),
    (ListenNotifySubscription, "_notifications_queue"),
    (ProjectionRunner, "_subscription"),
    (ProjectionRunner, "_thread_error"),
    (POPORecorder, "_database_lock"),
)


def check_library() -> list[str]:
    """What the project relies on that the installed library no longer has, by name."""
    missing = []
    for owner, name, parameters in CALLABLES:
        member = getattr(owner, name, None)
        if member is None:
            missing.append(f"{owner.__qualname__}.{name} is gone")
            continue
        signature = inspect.signature(member)
        absent = [p for p in parameters if p not in signature.parameters]
        if absent:
            missing.append(f"{owner.__qualname__}.{name} lost parameter(s) {absent}")
    for owner, name in ATTRIBUTES:
        source = "".join(inspect.getsource(cls) for cls in owner.__mro__
                         if cls.__module__.startswith("eventsourcing."))
        if f"self.{name}" not in source:
            missing.append(f"{owner.__qualname__}.{name} is no longer set")
    return missing


def adds_rows_in_insert(recorder_class: type,
                        base: type = PostgresApplicationRecorder) -> bool:
    """Whether a PostgreSQL recorder class overrides the hook of `base` (by default the
    library's) for statements in the transaction that inserts events."""
    hook = base._insert_events  # type: ignore[attr-defined]  # noqa: SLF001
    return getattr(recorder_class, "_insert_events", hook) is not hook


@contextmanager
def fastforward_lock(repository: Repository[Any], aggregate_id: Any) -> Iterator[None]:
    """The lock the repository holds while it fast-forwards a cached aggregate."""
    lock = repository._use_fastforward_lock(aggregate_id)  # noqa: SLF001
    try:
        with lock:
            yield
    finally:
        repository._disuse_fastforward_lock(aggregate_id)  # noqa: SLF001


def _inner(subscription: Any) -> Any:
    return getattr(subscription, "subscription", subscription)


def wake(subscription: Any) -> None:
    """Make the library's pull loop look at the notification log now."""
    _inner(subscription)._has_been_notified.set()  # noqa: SLF001


def has_buffered(subscription: Any) -> bool:
    """Whether the subscription can yield another notification without waiting: the page
    being iterated, or the queue of pages its pull thread already selected."""
    inner = _inner(subscription)
    if inner._notifications_index < len(inner._notifications):  # noqa: SLF001
        return True
    return not inner._notifications_queue.empty()  # noqa: SLF001


def runner_subscription(runner: ProjectionRunner[Any, Any]) -> Any:
    """The subscription a projection runner follows."""
    return runner._subscription  # noqa: SLF001


class BatchLoopRunner(ProjectionRunner[Any, Any]):
    """A runner whose event loop is `process_events` (a static method, as the library's)."""

    @staticmethod
    def process_events(subscription: Any, projection: Any, is_stopping: Any) -> None:
        """One event at a time, as the library's own loop; subclasses batch."""
        for domain_event, tracking in subscription:
            projection.process_event(domain_event, tracking)

    @staticmethod
    def prepare(runner: Any) -> None:
        """Run in the processing thread before the first event (may refuse to start)."""

    @classmethod
    def _process_events_loop(cls, subscription: Any, projection: Any, is_stopping: Any,
                             runner: Any) -> None:
        try:
            owner = runner()
            if owner is not None:
                cls.prepare(owner)
            del owner
            cls.process_events(subscription, projection, is_stopping)
        except BaseException as error:  # noqa: BLE001 - handed to run_forever(), as the library does
            owner = runner()
            if owner is not None:
                owner._thread_error = error  # noqa: SLF001
        finally:
            is_stopping.set()


class ViewTablesHook:
    """Mixed into a view's tracking recorder: its own tables are created with the library's
    tracking table, and its tracking record is written on the view's own cursor."""

    def create_view_tables(self, cursor: Any) -> None:
        """Create the view's own tables (after the library's tracking table)."""

    def _create_table(self, c: Any) -> None:
        super()._create_table(c)  # type: ignore[misc]  # the library's tracking table
        self.create_view_tables(c)

    def insert_tracking_on(self, cursor: Any, tracking: Tracking) -> None:
        """Write the tracking record in the transaction of this cursor."""
        self._insert_tracking(cursor, tracking)  # type: ignore[attr-defined]


class RowsInInsert:
    """Mixed into a SQLite or PostgreSQL application recorder: `insert_rows` runs on the
    cursor of the transaction that inserts the events, before them (SQLite's insert, the
    library's PostgreSQL pipeline), with the keyword arguments of the insert."""

    def insert_rows(self, cursor: Any, **kwargs: Any) -> None:
        """Write this recorder's own rows in the events' transaction."""

    def _insert_events(self, c: Any, stored_events: Any, **kwargs: Any) -> Any:
        self.insert_rows(c, **kwargs)
        return super()._insert_events(c, stored_events, **kwargs)  # type: ignore[misc]


class MemoryRowsInInsert:
    """Mixed into the in-memory application recorder: `check_rows` and `add_rows` run
    under the recorder's lock, beside its uniqueness check and its table update."""

    def check_rows(self, **kwargs: Any) -> None:
        """Refuse the insert (IntegrityError) before anything is written."""

    def add_rows(self, **kwargs: Any) -> None:
        """Write this recorder's own rows, once the events are."""

    def recorder_lock(self) -> Any:
        """The lock the recorder inserts under: reads of its own rows take it too."""
        return self._database_lock  # type: ignore[attr-defined]

    def _assert_uniqueness(self, stored_events: Any, **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)  # type: ignore[misc]
        self.check_rows(**kwargs)

    def _update_table(self, stored_events: Any, **kwargs: Any) -> Any:
        ids = super()._update_table(stored_events, **kwargs)  # type: ignore[misc]
        self.add_rows(**kwargs)
        return ids


def save_collected(app: Application[Any], events: list[Any], aggregates: list[Any],
                   **kwargs: Any) -> list[Recording[Any]]:
    """What `Application.save` does with its objects, for events already collected and
    objects known to be aggregates: record, snapshot, notify."""
    processing_event: ProcessingEvent[Any] = ProcessingEvent()
    processing_event.events.extend(events)
    processing_event.aggregates.update((a.id, a) for a in aggregates)
    processing_event.saved_kwargs.update(kwargs)
    recordings = app._record(processing_event)  # noqa: SLF001
    app._take_snapshots(processing_event)  # noqa: SLF001
    app._notify(recordings)  # noqa: SLF001
    app.notify(processing_event.events)  # the library's deprecated hook, as its save calls
    return recordings

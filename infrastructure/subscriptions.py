"""Subscriptions to the ledger's notification log, so one ProjectionRunner serves both databases.

SQLite has no LISTEN/NOTIFY: the library's ListenNotifySubscription pull loop is woken on a
timer instead. PostgreSQL keeps the library's recorder and LISTEN/NOTIFY subscription; the
batching runner pokes its pull loop on a timer as a watchdog (`wake`), so a lost notification
cannot stall a view for longer than one interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from threading import Event, Thread

from eventsourcing.persistence import ApplicationRecorder, ListenNotifySubscription, Subscription
from eventsourcing.sqlite import SQLiteApplicationRecorder

from infrastructure.seam import wake

SQLITE_POLL_INTERVAL = 0.2  # seconds between two looks at the SQLite notification log
POSTGRES_WATCHDOG_INTERVAL = 2.0  # seconds: the longest a lost NOTIFY can delay a view


class TimerWakeups:
    """Wake the pull loop of a ListenNotifySubscription every `interval` seconds."""

    _timer_stopped: Event

    _has_been_stopped: bool

    def _start_timer(self, interval: float) -> None:
        self._timer_thread = Thread(target=self._wake_on_timer, args=(interval,),
                                    name="projection-poll", daemon=True)
        self._timer_thread.start()

    def _wake_on_timer(self, interval: float) -> None:
        while not self._timer_stopped.wait(interval):
            wake(self)

    def _stop_timer(self) -> None:
        self._timer_stopped.set()


class PollingSubscription(TimerWakeups, ListenNotifySubscription[SQLiteApplicationRecorder]):
    """The library's pull loop over the SQLite notification log, woken on a timer."""

    def __init__(self, recorder: SQLiteApplicationRecorder, gt: int | None = None,
                 topics: Sequence[str] = (), interval: float = SQLITE_POLL_INTERVAL) -> None:
        self._timer_stopped = Event()
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._start_timer(interval)

    def stop(self) -> None:
        self._stop_timer()
        super().stop()


class PollingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, with a polling subscription."""

    poll_interval = SQLITE_POLL_INTERVAL  # PROJECTION_POLL_INTERVAL, set by the factory

    def subscribe(self, gt: int | None = None,
                  topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics, interval=self.poll_interval)

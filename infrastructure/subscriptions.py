"""Subscriptions to the ledger's notification log, so one ProjectionRunner serves both databases.

SQLite has no LISTEN/NOTIFY: the library's ListenNotifySubscription pull loop is woken on a
timer instead. PostgreSQL keeps the library's recorder and LISTEN/NOTIFY subscription; the
batching runner pokes its pull loop on a timer as a watchdog (`wake`), so a lost notification
cannot stall a view for longer than one interval.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from threading import Event, Thread
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, ListenNotifySubscription, Subscription
from eventsourcing.sqlite import SQLiteApplicationRecorder

SQLITE_POLL_INTERVAL = 0.2  # seconds between two looks at the SQLite notification log
POSTGRES_WATCHDOG_INTERVAL = 2.0  # seconds: the longest a lost NOTIFY can delay a view


def interval_from_env(default: float) -> float:
    """PROJECTION_POLL_INTERVAL overrides the default polling interval (seconds)."""
    raw = os.environ.get("PROJECTION_POLL_INTERVAL", "").strip()
    return float(raw) if raw else default


class TimerWakeups:
    """Wake the pull loop of a ListenNotifySubscription every `interval` seconds."""

    _has_been_notified: Event
    _has_been_stopped: bool

    def _start_timer(self, interval: float) -> None:
        self._timer_thread = Thread(target=self._wake_on_timer, args=(interval,),
                                    name="projection-poll", daemon=True)
        self._timer_thread.start()

    def _wake_on_timer(self, interval: float) -> None:
        while not self._timer_stopped.wait(interval):
            self._has_been_notified.set()

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

    def subscribe(self, gt: int | None = None,
                  topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics,
                                   interval=interval_from_env(SQLITE_POLL_INTERVAL))


RECORDER_TOPICS: dict[str, str] = {
    "eventsourcing.sqlite": "infrastructure.subscriptions:PollingSQLiteApplicationRecorder",
}


def wake(subscription: Any) -> None:
    """Make the library's pull loop look at the notification log now (the watchdog's poke)."""
    inner = getattr(subscription, "subscription", subscription)
    inner._has_been_notified.set()  # noqa: SLF001


def has_buffered(subscription: Any) -> bool:
    """Whether the subscription can yield another notification without waiting.

    Reads the library's ListenNotifySubscription buffers: the page being iterated and the
    queue of pages already selected by its pull thread.
    """
    inner = getattr(subscription, "subscription", subscription)
    if inner._notifications_index < len(inner._notifications):  # noqa: SLF001
        return True
    return not inner._notifications_queue.empty()  # noqa: SLF001

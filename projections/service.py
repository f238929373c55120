"""Views at work: supervised runners, reads that wait for a position, lag, rebuilds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from threading import Event, Lock, Thread
from typing import Any

from eventsourcing.projection import ProjectionRunner
from eventsourcing.utils import Environment

from infrastructure.persistence import factory_for
from infrastructure.view_store import ViewRecorder
from projections.base import APPLICATION_NAME
from projections.binding import ViewMismatchError, mismatch
from projections.locks import Holder, ViewBusyError, ViewLock
from projections.runners import (
    VIEWS,
    BatchingProjectionRunner,
    close_runner,
    open_view,
    projection_env,
    start_runner,
)

log = logging.getLogger(__name__)
READ_YOUR_WRITES_TIMEOUT = 5.0  # seconds a query waits for its view to reach min_position


def head_position(env: Mapping[str, str]) -> Any:
    """The ledger's notification log recorder, to read its last position and identity."""
    return factory_for(Environment(APPLICATION_NAME, env)).application_recorder()


CHECK_SECONDS = 2.0  # how long a view's "belongs to this store" answer is reused


class Runners:
    """Projection runners in this process; one that fails is restarted after a pause.

    Each view runs only while this process holds its lock (projections/locks.py): a view
    another process runs (or rebuilds) waits, says so once, and starts when that one stops.
    """

    def __init__(self, env: Mapping[str, str] | None = None,
                 names: Iterable[str] | None = None, restart_delay: float = 2.0) -> None:
        self.env = projection_env(env)
        self.names = list(names or VIEWS)
        unknown = [n for n in self.names if n not in VIEWS]
        if unknown:
            raise ValueError(f"unknown views {unknown}; known: {', '.join(VIEWS)}")
        self.restart_delay = restart_delay
        self.runners: dict[str, ProjectionRunner[Any, Any]] = {}
        self.locks: dict[str, ViewLock] = {}
        self._waiting: dict[str, Holder | None] = {}
        self._stopping = Event()
        self._lock = Lock()
        self._supervisor: Thread | None = None

    def start(self) -> Runners:
        for name in self.names:
            self._restart(name)  # a view that cannot start now is retried by the supervisor
        self._supervisor = Thread(target=self._supervise, name="projection-supervisor",
                                  daemon=True)
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        while not self._stopping.wait(1.0):
            for name in self.names:
                with self._lock:
                    runner = self.runners.get(name)
                    lock = self.locks.get(name)
                    if runner is not None and lock is not None and not lock.alive():
                        log.error("view %s lost its lock (the database session ended); "
                                  "stopping its runner", name)
                        close_runner(runner)
                        del self.runners[name], self.locks[name]
                        runner = None
                    elif self._stopping.is_set() or (
                            runner is not None and not runner.is_interrupted.is_set()):
                        continue
                    if runner is not None:
                        error = close_runner(runner)
                        del self.runners[name]
                        log.error("view %s stopped (%r); restarting in %.0fs", name, error,
                                  self.restart_delay)
                    if name not in self.runners and name in self._waiting:
                        self._restart(name)  # look at the other's lock again now
                        continue
                if self._stopping.wait(self.restart_delay):
                    return
                with self._lock:
                    if not self._stopping.is_set():
                        self._restart(name)

    def _restart(self, name: str) -> None:
        """(Re)start the view's runner once this process holds the view's lock; while the
        database is away, or another process holds the lock, try again later."""
        try:
            if not self._take_lock(name):
                return
            self.runners[name] = start_runner(name, self.env)
        except Exception as error:  # noqa: BLE001 - the supervisor must outlive an outage
            log.error("view %s could not start (%r); trying again in %.0fs", name, error,
                      self.restart_delay)

    def _take_lock(self, name: str) -> bool:
        lock = self.locks.get(name) or ViewLock(name, self.env)
        if lock.acquire():
            self.locks[name] = lock
            if self._waiting.pop(name, False) is not False:
                log.warning("view %s: the other process let it go; running it here", name)
            return True
        holder = lock.holder()
        if name not in self._waiting or self._waiting[name] != holder:
            log.warning("view %s waits: %s holds its lock", name, holder or "another process")
        self._waiting[name] = holder
        return False

    def waiting(self) -> dict[str, Holder | None]:
        """{view: the process whose lock it waits for} for the views not running here."""
        with self._lock:
            return dict(self._waiting)

    def stop(self) -> None:
        """Stop every runner cleanly: a batch in flight is committed or rolled back whole."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
        with self._lock:
            for name, runner in self.runners.items():
                error = close_runner(runner)
                if error is not None:
                    log.warning("view %s stopped with %r", name, error)
            self.runners.clear()
            for lock in self.locks.values():
                lock.release()
            self.locks.clear()

    def positions(self) -> dict[str, tuple[int, int]]:
        """{view: (position, lag)} of the runners in this process."""
        with self._lock:
            runner = next(iter(self.runners.values()), None)
            head = (runner.app.recorder.max_notification_id() or 0) if runner else 0
            return {name: _position_lag(r.view, head) for name, r in self.runners.items()}


def _position_lag(view: ViewRecorder, head: int) -> tuple[int, int]:
    position = view.max_tracking_id(APPLICATION_NAME) or 0  # type: ignore[attr-defined]
    return position, max(head - position, 0)


class ViewStores:
    """The views, opened for reading: queries, read-your-writes waits, positions and lag."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = projection_env(env)
        self._views: dict[str, ViewRecorder] = {}
        self._log: Any = None
        self._lock = Lock()
        self._checked: dict[str, tuple[float, str | None]] = {}

    def view(self, name: str) -> Any:
        with self._lock:
            if name not in self._views:
                self._views[name] = open_view(name, self.env)
            return self._views[name]

    def mismatch(self, name: str) -> str | None:
        """Why the view does not belong to the event store (None: it does), re-checked at
        most every CHECK_SECONDS."""
        now = time.monotonic()
        cached = self._checked.get(name)
        if cached is not None and now - cached[0] < CHECK_SECONDS:
            return cached[1]
        view = self.view(name)
        with self._lock:
            if self._log is None:
                self._log = head_position(self.env)
        problem = mismatch(view, self._log, self._log.store_identity())
        if problem is not None:
            log.error("view %s does not belong to the event store: %s; run "
                      "`returns-ledger project rebuild %s`", name, problem, name)
        self._checked[name] = (now, problem)
        return problem

    def checked_view(self, name: str) -> Any:
        """The view, when it belongs to the event store; else ViewMismatchError."""
        problem = self.mismatch(name)
        if problem is not None:
            raise ViewMismatchError(name, problem)
        return self.view(name)

    def caught_up(self, name: str, min_position: int | None,
                  timeout: float = READ_YOUR_WRITES_TIMEOUT) -> bool:
        """Wait until the view has applied `min_position`; False when it did not in time."""
        if min_position is None or min_position <= 0:
            return True  # position 0: nothing recorded yet, every view has "applied" it
        try:
            self.view(name).wait(APPLICATION_NAME, min_position, timeout=timeout)
        except TimeoutError:
            return False
        return True

    def head(self) -> int:
        with self._lock:
            if self._log is None:
                self._log = head_position(self.env)
        return self._log.max_notification_id() or 0

    def positions(self) -> dict[str, tuple[int, int]]:
        """{view: (position, lag)}: how far each view has applied the notification log."""
        head = self.head()
        return {name: _position_lag(self.view(name), head) for name in VIEWS}

    def close(self) -> None:
        with self._lock:
            for view in self._views.values():
                view.datastore.close()
            self._views.clear()
            if self._log is not None:
                self._log.datastore.close()
                self._log = None


def view_positions(stores: ViewStores) -> dict[str, tuple[int, int]]:
    """For /metrics: {view: (position, lag)}."""
    return stores.positions()


def rebuild(name: str, env: Mapping[str, str] | None = None,
            progress: Callable[[int, int], None] | None = None, poll: float = 0.2) -> int:
    """Drop a view and replay the whole notification log into it; answer the final position.

    Refused with ViewBusyError while another process runs or rebuilds the view (its lock);
    a runner started meanwhile waits for the rebuild to end.
    """
    full_env = projection_env(env)
    prefix = VIEWS[name].projection.name.upper()
    full_env[f"{prefix}_CREATE_TABLE"] = "yes"  # dropped here, so made again here
    lock = ViewLock(name, full_env, role="rebuild")
    if not lock.acquire():
        raise ViewBusyError(name, lock.holder())
    try:
        view = open_view(name, full_env)
        view.drop()
        view.datastore.close()
        log_recorder = head_position(full_env)
        target = log_recorder.max_notification_id() or 0
        log_recorder.datastore.close()
        return _run_to(name, full_env, BatchingProjectionRunner, target, poll, progress)
    finally:
        lock.release()


def _run_to(name: str, env: Mapping[str, str], runner_class: type[Any], target: int,
            poll: float, progress: Callable[[int, int], None] | None = None) -> int:
    """Run a view's runner until the view reaches `target`, checking every `poll` seconds;
    answer the position reached, or raise the runner's error."""
    runner = start_runner(name, env, runner_class)
    try:
        position = 0
        while position < target:
            if runner.is_interrupted.wait(poll):
                runner.run_forever(0)  # re-raises the runner's error
            position = runner.view.max_tracking_id(APPLICATION_NAME) or 0
            if progress is not None:
                progress(position, target)
    finally:
        error = close_runner(runner)
    if error is not None:
        raise error
    return position


def catch_up_seconds(name: str, env: Mapping[str, str], runner_class: type[Any],
                     target: int) -> float:
    """Time a runner of `runner_class` to bring an empty view up to `target` (benchmarks)."""
    started = time.perf_counter()
    # Checked every 5 ms: the library's wait() backs off to 0.8 s between checks, which
    # would round each time up by as much.
    _run_to(name, env, runner_class, target, poll=0.005)
    return time.perf_counter() - started

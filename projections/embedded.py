"""The embedded default: runners, view reads and hold expiry inside the API process."""

from __future__ import annotations

import atexit
import fcntl
import os
import threading
from collections.abc import Mapping
from typing import IO, Any

from eventsourcing.utils import strtobool

from projections.hold_expiry import HoldExpiryTimer
from projections.runners import projection_env, views_sqlite_path
from projections.service import Runners, ViewStores


def runs_in_process(env: Mapping[str, str] | None = None) -> bool:
    """PROJECTIONS_IN_PROCESS: default yes on SQLite, no on PostgreSQL (run `project`)."""
    full = projection_env(env)
    default = "yes" if full["PERSISTENCE_MODULE"] == "eventsourcing.sqlite" else "no"
    return bool(strtobool(full.get("PROJECTIONS_IN_PROCESS", default) or default))


class EmbeddedProjections:
    """Every view's runner and the TT-2 hold-expiry timer, in a background thread each."""

    def __init__(self, ledger: Any, env: Mapping[str, str] | None = None,
                 stores: ViewStores | None = None) -> None:
        full = projection_env(env)
        self.runners = Runners(full)
        self._own_stores = stores is None
        self.stores = stores or ViewStores(full)
        interval = float(full.get("HOLD_EXPIRY_INTERVAL", "60"))
        self.timer = HoldExpiryTimer(ledger, self.stores.view("deadlines"), interval)
        self.env = full
        self.active = False
        self._lock: IO[str] | None = None
        self._stopped = False

    def start(self) -> EmbeddedProjections:
        """Run the views here, unless another process on this view store already does."""
        self._lock = _runner_lock(self.env)
        if self._lock is None:
            return self  # another gunicorn worker runs them; this one only reads
        self.active = True
        self.runners.start()
        self.timer.start()  # a daemon thread
        # Only the runners (non-daemon threads) must stop before exit; a stopped Runners
        # holds no runner, so registering it keeps no connection open until then.
        _at_shutdown(self.runners.stop)
        return self

    def stop(self) -> None:
        """Stop the timer and the runners (idempotent; also runs at interpreter exit)."""
        if self._stopped:
            return
        self._stopped = True
        if self.active:
            self.timer.stop()
            self.runners.stop()
        if self._lock is not None:
            self._lock.close()  # releases the lock for another process
        if self._own_stores:
            self.stores.close()


def _runner_lock(env: Mapping[str, str]) -> IO[str] | None:
    """SQLite: one process per view store runs the views (gunicorn starts several workers).

    An flock on `<views file>.runners.lock`, released when this process stops or dies.
    """
    if env["PERSISTENCE_MODULE"] != "eventsourcing.sqlite":
        return open(os.devnull)
    handle = open(f"{views_sqlite_path(env)}.runners.lock", "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _at_shutdown(stop: Any) -> None:
    """Stop before the interpreter joins non-daemon threads (the library's runner threads).

    atexit runs only after that join, so it would wait forever; threading's own hook runs
    first (concurrent.futures uses it the same way).
    """
    register = getattr(threading, "_register_atexit", None)
    try:
        register(stop) if register else atexit.register(stop)
    except RuntimeError:  # already shutting down
        stop()


def start_embedded(ledger: Any, env: Mapping[str, str] | None = None,
                   stores: ViewStores | None = None) -> EmbeddedProjections:
    """Start the views and the hold-expiry timer for an API app; call .stop() on shutdown."""
    return EmbeddedProjections(ledger, env, stores).start()

"""The embedded default: runners, view reads and hold expiry inside the API process."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from typing import Any

from eventsourcing.utils import strtobool

from projections.hold_expiry import HoldExpiryTimer
from projections.runners import projection_env
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
        self.stores = stores or ViewStores(full)
        interval = float(full.get("HOLD_EXPIRY_INTERVAL", "60"))
        self.timer = HoldExpiryTimer(ledger, self.stores.view("deadlines"), interval)
        self._stopped = False

    def start(self) -> EmbeddedProjections:
        self.runners.start()
        self.timer.start()
        _at_shutdown(self.stop)
        return self

    def stop(self) -> None:
        """Stop the timer and the runners (idempotent; also runs at interpreter exit)."""
        if self._stopped:
            return
        self._stopped = True
        self.timer.stop()
        self.runners.stop()


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

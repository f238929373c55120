"""Work that runs in the background: a thread of the web process, or a worker process.

The embedded default runs accepted work (imports, reconciliations) in one background
thread of the process that accepted it; in production the web processes only accept and
a worker command runs it, looking for work accepted elsewhere every `poll` seconds. The
work itself is always "finish everything left unfinished", so a crash, a stop, or work
accepted by another process is picked up the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from eventsourcing.utils import strtobool

log = logging.getLogger("returns_ledger")


def runs_in_process(env: Mapping[str, str], variable: str) -> bool:
    """`variable` (yes/no) says whether the process that accepts work also runs it;
    unset, it does unless the ledger is on PostgreSQL."""
    configured = env.get(variable)
    if configured:
        return bool(strtobool(configured))
    return "postgres" not in env.get("PERSISTENCE_MODULE", "")


class ResumingWorker:
    """One thread that runs `work(stopping)` when started, whenever woken (work was
    accepted here) and every `poll` seconds (None: only when woken).

    `idle` is set once a pass has found nothing more to do and nobody woke the thread
    since; a failing pass is logged and the thread lives on (the work stays resumable).
    """

    name = "background"

    def __init__(self, poll: float | None = None) -> None:
        self.poll = poll
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.idle = threading.Event()

    def work(self, stopping: Callable[[], bool]) -> None:
        raise NotImplementedError

    def next_wait(self) -> float | None:
        """Seconds until the next pass unless woken (None: only when woken)."""
        return self.poll

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._stopping.clear()
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name=self.name)
                self._thread.start()

    def wake(self) -> None:
        """Work was accepted: run a pass soon."""
        with self._lock:
            self.idle.clear()
            self._wake.set()
        self.start()

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.work(self._stopping.is_set)
            except Exception:
                log.exception("%s: a pass failed; it is tried again", self.name)
            with self._lock:
                if not self._wake.is_set():
                    self.idle.set()
            self._wake.wait(self.next_wait())

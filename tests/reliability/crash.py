"""Crash and restart under load: kill a worker, kill the projector, take the database away.

`crash_run()` is shared by the reduced test and the full-size soak (bench/soak.py).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from application.ledger import ReturnsLedger
from tests.reliability import checks
from tests.reliability.live import SELLER, Live
from tests.reliability.load import Answer, LoadClient


@dataclass
class CrashReport:
    """What the run did and what the checks found."""

    commands: int = 0
    acknowledged: int = 0
    gave_up: int = 0
    events_found: int = 0
    duplicates: int = 0
    problems: list[Any] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bad_5xx: list[Answer] = field(default_factory=list)  # a 5xx that is not a proper 503
    during_outage: list[int] = field(default_factory=list)  # requests in flight while down
    acked_after_restore: int = 0
    workers_replaced_after_kill: bool = False
    workers_unchanged_since: bool = False
    projector_exit: int | None = None
    views_equal_rebuild: bool = False
    view_positions: dict[str, int] = field(default_factory=dict)
    head: int = 0
    seconds: float = 0.0
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {"commands acknowledged": self.acknowledged, "events found": self.events_found,
                "duplicates": self.duplicates, "5xx seen": sum(
                    n for s, n in self.statuses.items() if s >= 500),
                "500 seen": self.statuses.get(500, 0),
                "503 while the database was down": self.during_outage.count(503),
                "dropped connections": self.statuses.get(0, 0),
                "gave up": self.gave_up, "seconds": round(self.seconds, 1)}


def _wait_for(load: LoadClient, fraction: float, total: int) -> None:
    while load.acked < fraction * total and any(
            w.gave_up is None and len(w.acks) < 8 for w in load.walks):
        time.sleep(0.05)


def crash_run(live: Live, parcels: int, threads: int = 6, outage: float = 8.0,
              deadline: float = 600) -> CrashReport:
    """Drive the load, inject the three faults, then check the store and the views."""
    report = CrashReport()
    started = time.monotonic()
    mark = lambda what: report.timeline.append((round(time.monotonic() - started, 2), what))  # noqa: E731
    service = live.service
    service.start_projector()
    load = LoadClient(live.port, live.client, SELLER, parcels, threads,
                      run_id=uuid.uuid4().hex[:6], deadline=deadline)
    total = parcels * 8
    report.commands = total
    runner = load.start()

    _wait_for(load, 0.15, total)
    victim, replacement = service.kill_worker()
    mark(f"SIGKILL gunicorn worker {victim}; gunicorn started {replacement}")
    report.workers_replaced_after_kill = True
    workers = service.worker_pids()

    _wait_for(load, 0.30, total)
    service.kill_projector()
    mark("SIGKILL the projector")
    time.sleep(0.5)
    service.start_projector()
    mark("projector restarted")

    _wait_for(load, 0.45, total)
    live.proxy.cut()
    down_at = time.monotonic()
    mark("database cut")
    time.sleep(outage)
    live.proxy.restore()
    up_at = time.monotonic()
    mark("database restored")

    runner.join(deadline + 60)
    mark("load finished")
    report.seconds = time.monotonic() - started
    report.statuses = dict(load.statuses())
    report.acknowledged = load.acked
    report.gave_up = sum(1 for w in load.walks if w.gave_up)
    report.bad_5xx = load.answers_where(lambda a: a.status >= 500 and not _proper_503(a))
    report.during_outage = [a.status for a in load.answers
                            if a.sent <= up_at and a.at >= down_at]
    report.acked_after_restore = len(load.answers_where(
        lambda a: a.sent > up_at and 200 <= a.status < 300))
    report.workers_unchanged_since = (service.gunicorn is not None
                                      and service.gunicorn.poll() is None
                                      and service.worker_pids() == workers)

    ledger = ReturnsLedger(live.direct_env)
    try:
        found = checks.exactly_once(ledger, load.walks, SELLER)
        report.head = ledger.recorder.max_notification_id() or 0
    finally:
        ledger.close()
    report.events_found, report.duplicates = found["events_found"], found["duplicates"]
    report.problems = found["problems"]

    report.view_positions = checks.wait_caught_up(live.direct_env, report.head, timeout=120)
    report.projector_exit = service.stop_projector()
    mark("views caught up; projector stopped")
    caught_up = checks.dump_views(live.direct_env)
    fresh = checks.rebuilt_views(live.direct_env, report.head,
                                 f"{live.direct_env['POSTGRES_SCHEMA']}_fresh")
    report.views_equal_rebuild = caught_up == fresh
    mark("views compared with a rebuild")
    return report


def _proper_503(answer: Answer) -> bool:
    """503, as problem+json, with a Retry-After."""
    return (answer.status == 503 and answer.content_type.startswith("application/problem+json")
            and bool(answer.retry_after))

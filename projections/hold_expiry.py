"""TT-2 deadlines: a warehouse hold that expired without redelivery ends in a disposal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from threading import Event, Thread
from typing import Any
from uuid import UUID

from domain.errors import DomainError, VersionConflictError
from projections.order_deadlines import settle_order_deadlines

log = logging.getLogger(__name__)
ACTOR = "deadlines"


@dataclass
class ExpiryReport:
    """What one run did (or, in a dry run, would do): parcels disposed with the hold's end,
    and parcels skipped with the reason."""

    disposed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    hold_ends: dict[str, datetime] = field(default_factory=dict)
    dry_run: bool = False


def dispose_expired_holds(ledger: Any, deadlines: Any, now: datetime, kind: str = "destroyed",
                          attempts: int = 3, dry_run: bool = False) -> ExpiryReport:
    """Dispose of every parcel whose hold ended at or before `now` (TT-2), once.

    The view says which holds look expired; the aggregate decides: a parcel already disposed,
    redelivering or under investigation is refused by its own rules and skipped, so running
    this every minute, or twice at once, disposes of each parcel once. The disposal happens
    in business time when the hold ended (`hold_until`), not when this run happens to start:
    a run late by a day, or a timer catching up on a store of old parcels, records the same
    history as one on time. A dry run asks each parcel the same question and records nothing.
    """
    report = ExpiryReport(dry_run=dry_run)
    for row in deadlines.holds(expired_at=now):
        parcel_id = row["parcel_id"]
        hold_end = datetime.fromisoformat(row["hold_until"])
        report.hold_ends[parcel_id] = hold_end
        act = ledger.check_disposal if dry_run else ledger.dispose
        for attempt in range(1, attempts + 1):
            try:
                act(UUID(parcel_id), kind, occurred_at=hold_end, actor=ACTOR)
            except VersionConflictError:
                if attempt == attempts:
                    report.skipped[parcel_id] = "version conflict (retry next run)"
                continue  # another writer got there first: reload and decide again
            except DomainError as error:
                report.skipped[parcel_id] = f"{type(error).__name__}: {error}"
            else:
                report.disposed.append(parcel_id)
            break
    return report


def _settle_orders(ledger: Any, deadlines: Any, now: datetime) -> None:
    """The order-stage deadlines (LZ-3, CD-1, CD-3) of the same run."""
    report = settle_order_deadlines(ledger, deadlines, now)
    if report.cancelled or report.escalated:
        log.info("order deadlines: cancelled %d orders, escalated %d questions",
                 len(report.cancelled), len(report.escalated))


class HoldExpiryTimer:
    """Runs dispose_expired_holds every `interval` seconds in this process (embedded default):
    a parcel whose hold has ended is destroyed within a minute, in business time at its
    hold's end."""

    def __init__(self, ledger: Any, deadlines: Any, interval: float = 60.0,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.ledger = ledger
        self.deadlines = deadlines
        self.interval = interval
        self.clock = clock or (lambda: datetime.now(UTC))
        self._stopping = Event()
        self._thread = Thread(target=self._loop, name="hold-expiry", daemon=True)

    def start(self) -> HoldExpiryTimer:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                now = self.clock()
                report = dispose_expired_holds(self.ledger, self.deadlines, now)
                _settle_orders(self.ledger, self.deadlines, now)
            except Exception:
                log.exception("hold expiry run failed")
                continue
            for parcel_id in report.disposed:
                log.info("hold expiry: %s destroyed at its hold's end %s", parcel_id,
                         report.hold_ends[parcel_id].isoformat())

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

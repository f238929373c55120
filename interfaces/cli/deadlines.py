"""`returns-ledger deadlines run`: dispose of parcels whose warehouse hold expired (TT-2).

Irreversible, so guarded: `--dry-run` says what a run would do and records nothing; a
`--now` more than FUTURE_TOLERANCE ahead of the clock is refused unless `--force-future`
(a typo in a date would destroy parcels whose holds have not ended); each disposal is
recorded at its hold's end; a deadlines view behind the ledger exits with STALE_EXIT so
cron or the timer's supervisor sees it.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from interfaces.cli.store import open_ledger, require_store
from projections.base import APPLICATION_NAME
from projections.hold_expiry import dispose_expired_holds
from projections.order_deadlines import settle_order_deadlines
from projections.runners import close_runner, start_runner
from projections.service import ViewStores

FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between hosts, a slow cron start
STALE_EXIT = 3


def _aware(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time",
                                 param_hint="--now") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-03-20T09:00:00+00:00",
                                 param_hint="--now")
    return moment


def business_time(value: str | None, force_future: bool,
                  clock: datetime | None = None) -> datetime:
    """The run's `now`: the clock by default; a given time at most FUTURE_TOLERANCE ahead of
    the clock unless forced (a past time is fine: it disposes of fewer parcels)."""
    current = clock or datetime.now(UTC)
    moment = _aware(value)
    if moment is None:
        return current
    ahead = moment - current
    if ahead > FUTURE_TOLERANCE and not force_future:
        raise click.BadParameter(
            f"{moment.isoformat()} is {_span(ahead)} ahead of the clock "
            f"({current.isoformat(timespec='seconds')}): it would dispose of parcels whose "
            f"hold has not ended yet; try --dry-run, or give --force-future if you mean it",
            param_hint="--now")
    return moment


def _span(delta: timedelta) -> str:
    if delta >= timedelta(days=2):
        return f"{delta.days} days"
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} hours" if hours >= 1 else f"{delta.total_seconds() / 60:.0f} minutes"


@click.group()
def deadlines() -> None:
    """Deadlines: expired holds (TT-2), order stages (LZ-3, CD-1), buyer questions (CD-3)."""


@deadlines.command("run")
@click.option("--now", "now_text", help="Business time of the run (ISO 8601 with a zone); "
              "default: the current time. At most 5 minutes ahead of the clock, unless "
              "--force-future or --dry-run.")
@click.option("--force-future", is_flag=True, help="Accept a --now further ahead of the clock "
              "(disposes of holds that have not ended yet: irreversible).")
@click.option("--dry-run", is_flag=True, help="Print what the run would dispose of and why "
              "each other parcel would be skipped; record nothing.")
@click.option("--kind", type=click.Choice(["destroyed", "abandoned"]), default="destroyed",
              show_default=True, help="How an expired hold ends.")
@click.option("--wait", "wait_seconds", type=float, default=10.0, show_default=True,
              help="Seconds to wait for the deadlines view to reach the ledger's last event.")
@click.option("--catch-up", is_flag=True, help="Apply pending events to the deadlines view "
              "first; only when no `project` runner serves that view.")
@click.option("--every", "every_seconds", type=click.FloatRange(min=1), default=None,
              help="Run again every this many seconds, on the clock, until SIGTERM or "
              "SIGINT (a timer process, e.g. under a supervisor); not with --now.")
def deadlines_run(now_text: str | None, force_future: bool, dry_run: bool, kind: str,
                  wait_seconds: float, catch_up: bool, every_seconds: float | None) -> None:
    """Dispose of every parcel whose hold ended at or before NOW; safe to run every minute.

    Each disposal is recorded at its hold's end (business time). Exit status 0: done;
    2: refused (bad --now); 3: the deadlines view is behind the ledger (what it showed was
    disposed of; a hold it has not seen yet waits for the next run).
    """
    if every_seconds is not None:
        if now_text is not None:
            raise click.BadParameter("--every runs on the clock: leave out --now",
                                     param_hint="--every")
        _repeat(every_seconds, kind, dry_run, wait_seconds, catch_up)
        return
    now = business_time(now_text, force_future or dry_run)  # a dry run records nothing
    require_store()
    stores = ViewStores()
    ledger = open_ledger()
    try:
        stale = _run_once(ledger, stores, now, kind, dry_run, wait_seconds, catch_up,
                          quiet=False)
    finally:
        ledger.close()
        stores.close()
    if stale:
        click.echo(f"error: {stale}", err=True)
        sys.exit(STALE_EXIT)


def _run_once(ledger: Any, stores: ViewStores, now: datetime, kind: str, dry_run: bool,
              wait_seconds: float, catch_up: bool, quiet: bool) -> str | None:
    """One run; answers what made it stale, if anything. Quiet: say only what happened."""
    head = stores.head()
    if head == 0:
        if not quiet:
            click.echo("nothing to do: the event store has no events")
        return None
    if catch_up:
        runner = start_runner("deadlines", stores.env)
        try:
            runner.wait(head, timeout=max(wait_seconds, 1.0))
        except TimeoutError:
            pass  # said below, as stale
        error = close_runner(runner)
        if error is not None:
            raise click.ClickException(f"catching up the deadlines view failed: {error}")
    stale = None
    if not stores.caught_up("deadlines", head, timeout=0 if catch_up else wait_seconds):
        position = stores.view("deadlines").max_tracking_id(APPLICATION_NAME) or 0
        stale = (f"stale: the deadlines view is at {position} of {head} after "
                 f"{wait_seconds:g} s; is `returns-ledger project` running for it?")
    report = dispose_expired_holds(ledger, stores.view("deadlines"), now, kind,
                                   dry_run=dry_run)
    verb = f"would {kind.removesuffix('ed')}" if dry_run else kind
    for parcel_id in report.disposed:
        click.echo(f"{verb} {parcel_id} (hold ended {report.hold_ends[parcel_id].isoformat()})")
    for parcel_id, reason in report.skipped.items():
        click.echo(f"{'would skip' if dry_run else 'skipped'} {parcel_id}: {reason}")
    _order_deadlines(ledger, stores, now, dry_run, quiet)
    if quiet and not (report.disposed or report.skipped):
        return stale
    if dry_run:
        click.echo(f"dry run: {len(report.disposed)} would be disposed, "
                   f"{len(report.skipped)} skipped at {now.isoformat()}; nothing recorded")
    else:
        click.echo(f"{len(report.disposed)} disposed, {len(report.skipped)} skipped at "
                   f"{now.isoformat()}")
    return stale


def _order_deadlines(ledger: Any, stores: ViewStores, now: datetime, dry_run: bool,
                     quiet: bool) -> None:
    """The same run's order stages: LZ-3 / CD-1 cancellations, CD-3 escalations."""
    view = stores.view("deadlines")
    if dry_run:
        for row in view.order_deadlines(now, due_only=True):
            what = "cancel order" if row["kind"] == "order" else "escalate question"
            click.echo(f"would {what} {row['aggregate_id']} ({row['rule']}, due "
                       f"{row['due_at']})")
        return
    orders = settle_order_deadlines(ledger, view, now)
    for aggregate_id in orders.cancelled:
        click.echo(f"cancelled order {aggregate_id}")
    for aggregate_id in orders.escalated:
        click.echo(f"escalated question {aggregate_id}")
    for aggregate_id, reason in orders.skipped.items():
        click.echo(f"skipped {aggregate_id}: {reason}")
    if orders.cancelled or orders.escalated or orders.skipped or not quiet:
        click.echo(f"{len(orders.cancelled)} orders cancelled, {len(orders.escalated)} "
                   f"questions escalated, {len(orders.skipped)} skipped at {now.isoformat()}")


def _repeat(every: float, kind: str, dry_run: bool, wait_seconds: float,
            catch_up: bool) -> None:
    """The timer process: a run every `every` seconds; a failed run (the database away, a
    stale view) is said on stderr and the next one tries again."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopping.set())
    require_store()
    click.echo(f"deadlines: a run every {every:g} s (stop with SIGTERM or Ctrl-C)")
    stores = ViewStores()
    ledger = open_ledger()
    try:
        while not stopping.is_set():
            started = time.monotonic()
            try:
                stale = _run_once(ledger, stores, datetime.now(UTC), kind, dry_run,
                                  wait_seconds, catch_up, quiet=True)
            except Exception as error:  # noqa: BLE001 - the timer outlives a failed run
                click.echo(f"error: the run failed: {error!r}; trying again", err=True)
            else:
                if stale:
                    click.echo(f"error: {stale}", err=True)
            stopping.wait(max(every - (time.monotonic() - started), 0.0))
    finally:
        ledger.close()
        stores.close()
    click.echo("stopped")

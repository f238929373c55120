"""`returns-ledger deadlines run`: dispose of parcels whose warehouse hold expired (TT-2)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from interfaces.cli.store import open_ledger
from projections.base import APPLICATION_NAME
from projections.hold_expiry import dispose_expired_holds
from projections.order_deadlines import settle_order_deadlines
from projections.runners import close_runner, start_runner
from projections.service import ViewStores


def _aware(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-03-20T09:00:00+00:00")
    return moment


@click.group()
def deadlines() -> None:
    """Deadlines: expired holds (TT-2), order stages (LZ-3, CD-1), buyer questions (CD-3)."""


@deadlines.command("run")
@click.option("--now", "now_text", help="Business time of the run (ISO 8601 with a zone); "
              "default: the current time.")
@click.option("--kind", type=click.Choice(["destroyed", "abandoned"]), default="destroyed",
              show_default=True, help="How an expired hold ends.")
@click.option("--wait", "wait_seconds", type=float, default=10.0, show_default=True,
              help="Seconds to wait for the deadlines view to reach the ledger's last event.")
@click.option("--catch-up", is_flag=True, help="Apply pending events to the deadlines view "
              "first; only when no `project` runner serves that view.")
def deadlines_run(now_text: str | None, kind: str, wait_seconds: float,
                  catch_up: bool) -> None:
    """Dispose of every parcel whose hold ended at or before NOW, cancel orders past their
    LZ-3 / CD-1 deadline and escalate CD-3 questions past theirs; safe to run every minute."""
    now = _aware(now_text)
    stores = ViewStores()
    ledger = open_ledger()
    try:
        head = stores.head()
        if catch_up:
            runner = start_runner("deadlines", stores.env)
            runner.wait(head, timeout=max(wait_seconds, 1.0))
            error = close_runner(runner)
            if error is not None:
                raise click.ClickException(f"catching up the deadlines view failed: {error}")
        elif not stores.caught_up("deadlines", head, timeout=wait_seconds):
            position = stores.view("deadlines").max_tracking_id(APPLICATION_NAME) or 0
            click.echo(f"warning: the deadlines view is at {position} of {head}; is "
                       "`returns-ledger project` running?", err=True)
        report = dispose_expired_holds(ledger, stores.view("deadlines"), now, kind)
        orders = settle_order_deadlines(ledger, stores.view("deadlines"), now)
    finally:
        ledger.close()
        stores.close()
    for parcel_id in report.disposed:
        click.echo(f"{kind} {parcel_id}")
    for parcel_id, reason in report.skipped.items():
        click.echo(f"skipped {parcel_id}: {reason}")
    for aggregate_id in orders.cancelled:
        click.echo(f"cancelled order {aggregate_id}")
    for aggregate_id in orders.escalated:
        click.echo(f"escalated question {aggregate_id}")
    for aggregate_id, reason in orders.skipped.items():
        click.echo(f"skipped {aggregate_id}: {reason}")
    click.echo(f"{len(report.disposed)} disposed, {len(orders.cancelled)} orders cancelled, "
               f"{len(orders.escalated)} questions escalated, "
               f"{len(report.skipped) + len(orders.skipped)} skipped at {now.isoformat()}")

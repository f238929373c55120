"""`returns-ledger finance ...`: the refunds ledger export and settlement reconciliation."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import click

from application.finance.exports import (
    REFUND_COLUMNS,
    TOTAL_COLUMNS,
    csv_lines,
    refund_line,
    total_line,
)
from application.finance.reconciliations import FinanceDesk
from application.finance.worker import ReconciliationWorker
from domain.errors import DomainError
from interfaces.cli.store import open_ledger, require_store, run_worker


def caught_up_refunds(env: dict[str, str] | None = None) -> Any:
    """The refunds view, after applying every event the ledger has recorded so far."""
    from projections.runners import close_runner, open_view, projection_env, start_runner
    from projections.service import head_position

    full = projection_env(env)
    log = head_position(full)
    target = log.max_notification_id() or 0
    log.datastore.close()
    runner = start_runner("refunds", full)
    try:
        if target:
            runner.wait(target, timeout=600)
    finally:
        error = close_runner(runner)
    if error is not None:
        raise error
    return open_view("refunds", full)


@click.group()
def finance() -> None:
    """Refunds ledger and reconciliation against platform settlements."""


@finance.command("refunds")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (RFC 4180) instead of JSON.")
@click.option("--totals", is_flag=True, help="Issued totals per seller, platform, currency, day.")
@click.option("--seller", help="Only this seller's refunds.")
@click.option("--status", help="requested, approved, issued, rejected, failed or reversed.")
def refunds(as_csv: bool, totals: bool, seller: str | None, status: str | None) -> None:
    """Export every refund line (or the totals) of the ledger."""
    require_store()  # before the view is opened: no view store beside a missing ledger
    view = caught_up_refunds()
    ledger = open_ledger()
    names = ledger.actor_names()
    filters = {"seller_id": seller, "status": status}
    try:
        lines: Iterable[dict[str, Any]]
        columns: tuple[str, ...]
        if totals:
            lines, columns = [total_line(r) for r in view.totals(filters)], TOTAL_COLUMNS
        else:
            lines, columns = (refund_line(r, names) for r in view.rows(filters)), REFUND_COLUMNS
        if as_csv:
            for chunk in csv_lines(lines, columns):
                sys.stdout.write(chunk)
        else:
            click.echo(json.dumps({"totals" if totals else "refunds": list(lines)}, indent=2))
    finally:
        view.datastore.close()
        ledger.close()


@finance.command("reconcile")
@click.argument("settlement", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the report CSV (default: reconciliation-<id>.csv).")
@click.option("--currency", help="Currency of a settlement file that has no currency column.")
@click.option("--actor", default="finance", show_default=True, help="Who runs it.")
def reconcile(settlement: Path, report_path: Path | None, currency: str | None,
              actor: str) -> None:
    """Reconcile a settlement file against the ledger's issued refunds."""
    require_store()  # not a new empty store whose ledger has none of the file's refunds
    view = caught_up_refunds()
    ledger = open_ledger()
    desk = FinanceDesk(ledger, view.ledger_refunds,
                       ledger_position=lambda: view.max_tracking_id("ReturnsLedger") or 0)
    with settlement.open("rb") as stream:
        run = desk.reconcile(stream, settlement.name, datetime.now(UTC), actor,
                             currency)
    if run.status != "done":
        view.datastore.close()
        ledger.close()
        raise click.ClickException(f"reconciliation {run.id} failed: {run.failure}")
    report_path = report_path or Path(f"reconciliation-{run.id}.csv")
    with report_path.open("w", encoding="utf-8", newline="") as out:
        desk.write_report(run.id, out)
    _summary(run)
    click.echo(f"report: {report_path}")
    view.datastore.close()
    ledger.close()


@finance.command("report")
@click.argument("reconciliation_id", type=click.UUID)
def report(reconciliation_id: UUID) -> None:
    """Print a recorded reconciliation's report as CSV, after checking its digest."""
    ledger = open_ledger()
    try:
        desk = FinanceDesk(ledger, lambda: [])
        if not desk.verify(reconciliation_id):
            raise click.ClickException("the stored report does not match its recorded digest")
        desk.write_report(reconciliation_id, sys.stdout)
    except DomainError as error:
        raise click.ClickException(error.detail) from None
    finally:
        ledger.close()


@finance.command("worker")
@click.option("--once", is_flag=True, help="Finish the runs waiting now, then exit.")
@click.option("--poll", type=float, default=2.0, show_default=True,
              help="Seconds between looks for newly accepted runs.")
def worker(once: bool, poll: float) -> None:
    """Run accepted reconciliations (when the web processes do not: production).

    First finishes the runs a crash left running (or marks them failed when their spooled
    file is gone), then keeps running newly accepted ones until stopped.
    """
    def make(ledger: Any) -> tuple[FinanceDesk, ReconciliationWorker]:
        desk = FinanceDesk(ledger)
        return desk, ReconciliationWorker(lambda: desk, poll=poll)

    run_worker(once, make, lambda desk: [f"{r} {desk.get_reconciliation(r).status}"
                                         for r in desk.resume()])


def _summary(run: Any) -> None:
    again = (" (already recorded: same file against the same ledger refunds)"
             if run.already_recorded else "")
    click.secho(f"reconciliation {run.id}{again}", bold=True)
    click.echo(f"  file {run.file_name} ({run.source_format}), sha256 {run.fingerprint}")
    click.echo(f"  {run.lines_read} lines read, {run.lines_ignored} not refund lines, "
               f"{run.ledger_refunds} issued refunds in the ledger")
    for outcome, count in run.counts.items():
        click.echo(f"  {outcome:<24} {count:>8}")
    for currency, sums in run.totals.items():
        click.echo(f"  {currency}: ledger {sums['ledger']}, settled {sums['settled']}, "
                   f"matched {sums['matched']}, settled - ledger {sums['difference']}")
    click.echo(f"  ledger refunds compared: state {run.ledger_state}")
    click.echo(f"  report digest {run.digest}")

"""The refunds dashboard: totals per currency and day, CSV exports, reconciliation reports."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from typing import Any
from uuid import UUID

from flask import Response, abort, g, redirect, render_template, request, session, url_for

from application.finance.exports import (
    REFUND_COLUMNS,
    TOTAL_COLUMNS,
    csv_lines,
    refund_line,
    total_line,
)
from application.finance.reconciliations import FinanceDesk, ReconciliationNotFoundError
from domain.errors import DomainError
from domain.reconciliation import REPORT_COLUMNS
from interfaces.api.auth import actor, caller, sees_all
from interfaces.api.ledger import ledger
from interfaces.web import bp, page_error
from interfaces.web.chart import charts
from interfaces.web.reads import (
    FINANCE_READ,
    FINANCE_WRITE,
    parse_day,
    requires,
    role,
    scope,
    view,
)

FILTER_FIELDS = ("seller_id", "platform", "currency", "from", "to")
REPORT_LINES_SHOWN = 200
RECENT = "reconciliations"  # this session's runs, newest first


@bp.app_template_filter("actor")
def actor_name(actor: str | None) -> str:
    """An actor as people read it: the person, or an unowned key's label beside its id."""
    if "actor_names" not in g:
        g.actor_names = ledger().actor_names()
    return str(g.actor_names(actor)) if actor else ""


def _filters() -> tuple[dict[str, str], dict[str, Any]]:
    """The form as typed, and as the refunds view's filters (dates bound the request time)."""
    form = {name: request.args.get(name, "").strip() for name in FILTER_FIELDS}
    filters: dict[str, Any] = {k: form[k] or None for k in ("seller_id", "platform")}
    filters["currency"] = form["currency"].upper() or None
    filters["from"] = parse_day(form["from"], "from")
    filters["to"] = parse_day(form["to"], "to", end=True)
    return form, filters


@bp.get("/finance")
@requires(FINANCE_READ)
def finance() -> Any:
    """Issued refunds per currency and day, charted; exports; reconciliations."""
    form, filters = _filters()
    totals = [total_line(r) for r in view("refunds").totals(filters, scope())]
    links = {k: v for k, v in form.items() if v}
    return render_template(
        "finance.html", form=form, totals=totals, charts=charts(totals), links=links,
        pending=view("deadlines").pending_refunds(scope()), sees_all=sees_all(),
        can_reconcile=role() in FINANCE_WRITE, recent=session.get(RECENT, []))


@bp.get("/finance/refunds.csv")
@requires(FINANCE_READ)
def refunds_csv() -> Response:
    _, filters = _filters()
    names = ledger().actor_names()
    rows = (refund_line(r, names) for r in view("refunds").rows(filters, scope()))
    return _csv(csv_lines(rows, REFUND_COLUMNS), "refunds")


@bp.get("/finance/refund-totals.csv")
@requires(FINANCE_READ)
def refund_totals_csv() -> Response:
    _, filters = _filters()
    rows = [total_line(r) for r in view("refunds").totals(filters, scope())]
    return _csv(csv_lines(rows, TOTAL_COLUMNS), "refund-totals")


def _csv(lines: Any, name: str) -> Response:
    return Response(lines, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}.csv"'})


@bp.post("/finance/reconciliations")
@requires(FINANCE_WRITE)
def reconcile() -> Any:
    """Upload a platform's settlement file and reconcile it against the issued refunds."""
    upload = request.files.get("settlement")
    if upload is None or not upload.filename:
        abort(400, "Choose a settlement file (CSV) to upload.")
    sellers = scope()
    refunds = view("refunds")
    desk = FinanceDesk(ledger(), lambda: refunds.ledger_refunds(sellers))
    try:
        run = desk.reconcile(upload.stream, upload.filename, datetime.now(UTC),
                             actor(), request.form.get("currency", "").strip().upper() or None,
                             ",".join(sellers or ()))
    except DomainError as error:
        return page_error(422, f"The settlement file was not reconciled: {error}")
    session[RECENT] = [str(run.id)] + [r for r in session.get(RECENT, [])
                                       if r != str(run.id)][:9]
    return redirect(url_for("web.reconciliation", reconciliation_id=run.id), 303)


@bp.get("/finance/reconciliations")
@requires(FINANCE_READ)
def open_reconciliation() -> Any:
    """Open a reconciliation report by its id."""
    try:
        reconciliation_id = UUID(request.args.get("id", "").strip())
    except ValueError:
        abort(400, "A reconciliation id looks like 0b7e…-…: copy it from the run's report.")
    return redirect(url_for("web.reconciliation", reconciliation_id=reconciliation_id), 303)


def _run(reconciliation_id: UUID) -> tuple[FinanceDesk, Any]:
    desk = FinanceDesk(ledger(), lambda: [])
    run = desk.get_reconciliation(reconciliation_id)
    if not sees_all() and run.scope != caller().seller_id:
        raise ReconciliationNotFoundError(reconciliation_id)
    return desk, run


@bp.get("/finance/reconciliations/<uuid:reconciliation_id>")
@requires(FINANCE_READ)
def reconciliation(reconciliation_id: UUID) -> Any:
    """A run's summary per currency, its first lines, and whether they still add up."""
    desk, run = _run(reconciliation_id)
    lines = list(islice(desk.report_lines(reconciliation_id), REPORT_LINES_SHOWN + 1))
    return render_template("reconciliation.html", run=run, columns=REPORT_COLUMNS,
                           lines=lines[:REPORT_LINES_SHOWN],
                           more=len(lines) > REPORT_LINES_SHOWN,
                           intact=desk.verify(reconciliation_id))


@bp.get("/finance/reconciliations/<uuid:reconciliation_id>.csv")
@requires(FINANCE_READ)
def reconciliation_csv(reconciliation_id: UUID) -> Response:
    desk, run = _run(reconciliation_id)
    return _csv(csv_lines(desk.report_lines(reconciliation_id), REPORT_COLUMNS),
                f"reconciliation-{run.id}")

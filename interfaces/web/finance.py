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
from domain.refunds import same_person
from interfaces.api import views as api_views
from interfaces.api.auth import actor, caller, check_parcel, sees_all
from interfaces.api.finance import submit
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
REFUNDS_PAGE = 25  # refunds per page of the table
RUNS_PAGE = 10  # reconciliation runs per page of the list
STATUSES = ("requested", "approved", "issued", "rejected", "failed", "reversed")
NOTICE = "finance_notice"  # what the last approve or reject did, shown once


@bp.app_template_filter("actor")
def actor_name(actor: str | None) -> str:
    """An actor as people read it: the person, or an unowned key's label beside its id."""
    return str(_names()(actor)) if actor else ""


def _filters() -> tuple[dict[str, str], dict[str, Any]]:
    """The form as typed, and as the refunds view's filters (dates bound the request time)."""
    form = {name: request.args.get(name, "").strip() for name in (*FILTER_FIELDS, "status")}
    if form["status"] and form["status"] not in STATUSES:
        abort(400, f"A refund's status is one of {', '.join(STATUSES)}.")
    filters: dict[str, Any] = {k: form[k] or None for k in ("seller_id", "platform")}
    if not sees_all():
        filters["seller_id"] = None  # the key's own seller: scope() below
    filters["currency"] = form["currency"].upper() or None
    filters["from"] = parse_day(form["from"], "from")
    filters["to"] = parse_day(form["to"], "to", end=True)
    filters["status"] = form["status"] or None
    return form, filters


@bp.app_template_global()
def approval_of(requested_by: str | None) -> tuple[bool, str]:
    """Whether the signed-in key may approve a refund this actor asked for, and why not."""
    key = caller()
    if role() not in FINANCE_WRITE:
        return False, "Only a finance key approves a refund (AM-4)."
    if key.owner is None:
        return False, ("This key has no owner, so no person can be held to the approval "
                       "(AM-4): ask for a key issued to you.")
    if same_person(key.actor, requested_by):  # any key of the same owner is that person
        return False, "You asked for this refund: a second person approves it (AM-4)."
    return True, ""


def _waiting() -> list[dict[str, Any]]:
    """Refunds waiting for a second approval (AM-4), oldest first."""
    return [refund_line(r, _names()) for r in view("refunds").rows(
        {"status": "requested"}, scope()) if r["needs_approval"]]


def _names() -> Any:
    if "actor_names" not in g:
        g.actor_names = ledger().actor_names()
    return g.actor_names


@bp.get("/finance")
@requires(FINANCE_READ)
def finance() -> Any:
    """Issued refunds per currency and day, charted; exports; reconciliations."""
    form, filters = _filters()
    filters.pop("status")
    totals = [total_line(r) for r in view("refunds").totals(filters, scope())]
    links = {k: v for k, v in form.items() if v and k != "status"}
    runs, more_runs = _desk().list_reconciliations(_run_scope(), 0, RUNS_PAGE)
    return render_template(
        "finance.html", form=form, totals=totals, links=links,
        charts=charts(totals, filters["from"], filters["to"]),
        pending=_waiting(), sees_all=sees_all(), notice=session.pop(NOTICE, None),
        can_reconcile=role() in FINANCE_WRITE, runs=runs, more_runs=more_runs)


@bp.get("/finance/refunds")
@requires(FINANCE_READ)
def finance_refunds() -> Any:
    """Every refund line, filtered by status and the rest, a page at a time."""
    form, filters = _filters()
    page = _page()
    rows = view("refunds").rows(filters, scope())
    shown = list(islice(rows, (page - 1) * REFUNDS_PAGE, page * REFUNDS_PAGE + 1))
    rows.close()  # the rest of the stream is not read
    names = _names()
    links = {k: v for k, v in form.items() if v}
    return render_template(
        "refunds.html", form=form, links=links, sees_all=sees_all(), statuses=STATUSES,
        refunds=[refund_line(r, names) for r in shown[:REFUNDS_PAGE]], page=page,
        more=len(shown) > REFUNDS_PAGE, notice=session.pop(NOTICE, None))


@bp.post("/finance/refund-decisions")
@requires(FINANCE_WRITE)
def decide_refund() -> Any:
    """Approve (a second person, AM-4) or reject (with a reason) a waiting refund."""
    try:
        parcel_id = UUID(request.form.get("parcel_id", ""))
    except ValueError:
        abort(400, "Choose a refund from the list.")
    reference = request.form.get("reference", "")
    decision = request.form.get("decision")
    reason = request.form.get("reason", "").strip()
    back = request.form.get("next", "")
    back = back if back.startswith("/web/") and "//" not in back else url_for("web.finance")
    check_parcel(parcel_id)  # another seller's parcel is a 404
    now = datetime.now(UTC)
    try:
        if decision == "approve":
            result = ledger().approve_refund(parcel_id, reference, now,
                                             actor=caller().person())
        elif decision == "reject":
            if not reason:
                return page_error(400, "Say why the refund is rejected.")
            result = ledger().reject_refund(parcel_id, reference, reason, now,
                                            actor=caller().actor)
        else:
            abort(400, "Approve or reject.")
    except DomainError as error:
        return page_error(409, f"The refund {reference} was not {decision}d: {error}")
    _caught_up(result.position)
    session[NOTICE] = f"Refund {reference}: {result.extra['refund'].status}."
    return redirect(back, 303)


def _caught_up(position: int | None) -> None:
    """Read-your-writes: wait (briefly) until the refunds view has applied this event."""
    if position:
        api_views.freshness("refunds", position)


def _page() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        abort(400, "A page is a number from 1.")
    return int(raw)


def _desk(refunds: Any = lambda: []) -> FinanceDesk:
    return FinanceDesk(ledger(), refunds, ledger_position=lambda: view(
        "refunds").max_tracking_id("ReturnsLedger") or 0)


def _run_scope() -> str | None:
    return None if sees_all() else caller().seller_id


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
    desk = _desk(lambda: refunds.ledger_refunds(sellers))
    try:
        run = desk.accept(upload.stream, upload.filename, datetime.now(UTC),
                          actor(), request.form.get("currency", "").strip().upper() or None,
                          ",".join(sellers or ()), str(caller().id))
    except DomainError as error:
        return page_error(422, f"The settlement file was not reconciled: {error}")
    if run.status == "running":
        submit(run.id)
    return redirect(url_for("web.reconciliation", reconciliation_id=run.id), 303)


@bp.get("/finance/reconciliations")
@requires(FINANCE_READ)
def open_reconciliation() -> Any:
    """The runs, newest first, a page at a time; or open one by its id."""
    if "id" not in request.args:
        page = _page()
        runs, more = _desk().list_reconciliations(_run_scope(), (page - 1) * RUNS_PAGE,
                                                  RUNS_PAGE)
        return render_template("reconciliations.html", runs=runs, more=more, page=page)
    try:
        reconciliation_id = UUID(request.args.get("id", "").strip())
    except ValueError:
        abort(400, "A reconciliation id looks like 0b7e…-…: copy it from the run's report.")
    return redirect(url_for("web.reconciliation", reconciliation_id=reconciliation_id), 303)


def _run(reconciliation_id: UUID) -> tuple[FinanceDesk, Any]:
    desk = _desk()
    run = desk.get_reconciliation(reconciliation_id)
    if not sees_all() and run.scope != caller().seller_id:
        raise ReconciliationNotFoundError(reconciliation_id)
    return desk, run


@bp.get("/finance/reconciliations/<uuid:reconciliation_id>")
@requires(FINANCE_READ)
def reconciliation(reconciliation_id: UUID) -> Any:
    """A run's summary per currency, its first lines, and whether they still add up."""
    desk, run = _run(reconciliation_id)
    if not run.done:
        return render_template("reconciliation.html", run=run, lines=[], more=False,
                               intact=None)
    lines = list(islice(desk.report_lines(reconciliation_id), REPORT_LINES_SHOWN + 1))
    return render_template("reconciliation.html", run=run, lines=lines[:REPORT_LINES_SHOWN],
                           more=len(lines) > REPORT_LINES_SHOWN,
                           intact=desk.verify(reconciliation_id))


@bp.get("/finance/reconciliations/<uuid:reconciliation_id>.csv")
@requires(FINANCE_READ)
def reconciliation_csv(reconciliation_id: UUID) -> Any:
    desk, run = _run(reconciliation_id)
    if not run.done:
        return page_error(409, f"The run is {run.status}: its report is there once it is done.")
    return _csv(csv_lines(desk.report_lines(reconciliation_id), REPORT_COLUMNS),
                f"reconciliation-{run.id}")

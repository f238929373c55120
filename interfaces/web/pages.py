"""Sign-in, parcel search (tracking view) and a parcel's timeline as recorded at any moment."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from flask import abort, redirect, render_template, request, url_for

from application.audit.log import AuditLog
from domain.errors import DomainError, ParcelNotFoundError
from domain.values import Status
from interfaces.api.auth import check_parcel, sees_all
from interfaces.api.ledger import ledger
from interfaces.web import bp
from interfaces.web import session as web_session
from interfaces.web.format import details
from interfaces.web.reads import parse_day, parse_time, scope, view
from projections.tracking import ParcelQuery

log = logging.getLogger("returns_ledger.web")
SEARCH_FIELDS = ("tracking_number", "order_id", "seller_id", "status", "from", "to")
PAGE_SIZE = 25


@bp.get("/")
def home() -> Any:
    return redirect(url_for("web.parcels"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    """Sign in with an API key; the key is checked like the API's bearer key."""
    if request.method == "GET":
        return render_template("sign_in.html", next=_safe_next(request.args.get("next")))
    token = request.form.get("api_key", "").strip()
    key = ledger().authenticate(token) if token else None
    if key is None:
        return render_template("sign_in.html", next=_safe_next(request.form.get("next")),
                               error="That API key was not accepted."), 401
    web_session.sign_in(token, key)
    return redirect(_safe_next(request.form.get("next")) or url_for("web.parcels"), 303)


@bp.post("/sign-out")
def sign_out() -> Any:
    """Ends the session on the server: the cookie, or any copy of it, opens nothing now."""
    web_session.sign_out()
    return redirect(url_for("web.sign_in"), 303)


def _safe_next(target: str | None) -> str | None:
    """Only a page of this site (no open redirect)."""
    if target and target.startswith("/web/") and "//" not in target and "\\" not in target:
        return target
    return None


@bp.get("/parcels")
def parcels() -> Any:
    """Find parcels by tracking number, order, seller, status and registration dates."""
    form = {name: request.args.get(name, "").strip() for name in SEARCH_FIELDS}
    if form["status"] and form["status"] not in {s.value for s in Status}:
        abort(400, f"status: unknown status {form['status']!r}")
    query = ParcelQuery(
        seller_id=form["seller_id"] or None, status=form["status"] or None,
        order_id=form["order_id"] or None,
        tracking_numbers=(form["tracking_number"],) if form["tracking_number"] else (),
        registered_from=parse_day(form["from"], "from"),
        registered_to=parse_day(form["to"], "to", end=True),
        cursor=request.args.get("cursor") or None, limit=PAGE_SIZE, sellers=scope())
    try:
        rows, cursor = view("tracking").find(query)
    except ValueError:
        abort(400, "This page link is not valid any more: search again.")
    return render_template("parcels.html", form=form, rows=rows, cursor=cursor,
                           statuses=[s.value for s in Status], sees_all=sees_all(),
                           searched=any(form.values()))


@bp.get("/parcels/<uuid:parcel_id>")
def parcel(parcel_id: UUID) -> Any:
    """The parcel's timeline and state, as recorded now or at `as_of`, and its chain check."""
    as_of = parse_time(request.args.get("as_of"), "as recorded at")
    if not sees_all():
        check_parcel(parcel_id)  # another seller's parcel is a 404
    try:
        current = ledger().get_parcel(parcel_id)
        history = ledger().get_parcel_history(parcel_id, recorded_before=as_of)
    except DomainError:
        raise
    except Exception:
        log.exception("parcel %s does not replay", parcel_id)
        return render_template("unreadable.html", parcel_id=parcel_id,
                               chain=chain_check(parcel_id, None)), 500
    if history.damaged:  # versions missing, or an event that does not apply
        return render_template("unreadable.html", parcel_id=parcel_id, damage=history.damage,
                               chain=chain_check(parcel_id, None)), 500
    events = [{"entry": e, "details": details(e.data), "rule": e.data.get("rule"),
               "rules": e.data.get("rules") or ([e.data["rule"]] if e.data.get("rule") else []),
               "facts": e.data.get("facts") or {}} for e in history]
    return render_template("parcel.html", parcel=current, state=history.state, events=events,
                           as_of=as_of, chain=chain_check(parcel_id, len(history)),
                           as_of_text=request.args.get("as_of", ""))


def chain_check(parcel_id: UUID, versions: int | None) -> dict[str, Any]:
    """The hash chain of the stored events shown (versions 1..n), and every stored row of
    the parcel in another form: intact, or where it breaks."""
    try:
        result = AuditLog(ledger()).verify_parcel(parcel_id, versions)
    except ParcelNotFoundError:
        return {"ok": True, "events": 0, "head": None, "breach": None}
    return {"ok": result.ok, "events": result.events, "breach": result.breach,
            "head": result.head}

"""Lists from the views: free returns (TT-3/TT-5), holds and deadlines, liabilities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import render_template

from interfaces.web import bp
from interfaces.web.reads import scope, view


@bp.get("/free-returns")
def free_returns() -> Any:
    """TT-3: the one return each platform paid for, and how it ended (TT-5)."""
    free = view("free_return")
    return render_template("free_returns.html", rows=free.list(sellers=scope()),
                           totals=free.totals(scope()))


@bp.get("/holds")
def holds() -> Any:
    """What waits on a date or a person: holds (TT-2), returns due (TT-7), AM-4, tickets."""
    deadlines = view("deadlines")
    sellers = scope()
    now = datetime.now(UTC)
    overdue = {r["parcel_id"] for r in deadlines.overdue_returns(now, sellers)}
    return render_template(
        "holds.html", now=now, holds=deadlines.holds(sellers=sellers),
        expired={r["parcel_id"] for r in deadlines.holds(expired_at=now, sellers=sellers)},
        returns=deadlines.returns_in_transit(sellers), overdue=overdue,
        refunds=deadlines.pending_refunds(sellers),
        investigations=deadlines.open_investigations(sellers),
        orders=deadlines.order_deadlines(now, sellers))


@bp.get("/liabilities")
def liabilities() -> Any:
    """Who bears the loss of each parcel: seller, platform or provider, and how much."""
    liable = view("liabilities")
    return render_template("liabilities.html", rows=liable.list(sellers=scope()),
                           totals=liable.totals(scope()))

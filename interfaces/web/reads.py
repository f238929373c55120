"""What the pages read: the projections' views (opened once per app) and the key's scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import abort

from domain.api_key import Role
from interfaces.api import views as api_views
from interfaces.api.auth import caller, sees_all

FINANCE_READ = frozenset({Role.FINANCE, Role.AUDITOR, Role.ADMIN})
FINANCE_WRITE = frozenset({Role.FINANCE})


def view(name: str) -> Any:
    """One of the projections' views (tracking, free_return, deadlines, liabilities, refunds),
    from the same view stores as the API (whose in-process runners keep them current)."""
    return api_views.view(name)


def scope() -> tuple[str, ...] | None:
    """None for keys that see every seller; the key's own seller otherwise."""
    return None if sees_all() else (caller().seller_id or "",)  # no seller: sees nothing


def role() -> Role:
    return Role(caller().role)


def requires(roles: frozenset[Role]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A page for these roles only (403 otherwise)."""

    def decorate(page: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(page)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if role() not in roles:
                abort(403, f"A {role().value} key cannot open this page.")
            return page(*args, **kwargs)

        return wrapper

    return decorate


def parse_time(text: str | None, field: str) -> datetime | None:
    """ISO 8601 from a form field; without a zone it is UTC. 400 when it does not parse."""
    if not text or not text.strip():
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        abort(400, f"{field}: write a date and time like 2026-03-12T09:00:00Z")
    if not 2000 <= at.year <= 2099:  # the same business-time range as the API
        abort(400, f"{field}: a date between 2000 and 2099")
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def parse_day(text: str | None, field: str, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD day as its first instant in UTC (the next day's, for an inclusive end)."""
    at = parse_time(text, field)
    if at is None:
        return None
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1) if end else day


def close_views(app: Any) -> None:
    """Close the app's view stores (and in-process runners, if any): tests, shutdown."""
    holder = app.extensions.get(api_views.EXTENSION)
    if holder is not None:
        holder.close()

"""How values read on the pages: money with its currency, times in UTC, events' details."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.money import Money

# Shown in their own place on a timeline entry, not among the details.
DECISION_KEYS = ("rule", "rules", "facts")


def is_money(value: Any) -> bool:
    return isinstance(value, Money) or (
        isinstance(value, dict) and set(value) == {"amount", "currency"})


def money(value: Any) -> str:
    """`906.50 EUR`: the exact decimal and its currency (never a float)."""
    if value is None:
        return ""
    if isinstance(value, Money):
        return f"{value.amount} {value.currency}"
    return f"{Decimal(str(value['amount']))} {value['currency']}"


def as_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.astimezone(UTC)


def when(value: Any) -> str:
    """A time as people read it, in UTC to the second."""
    at = as_time(value)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


def iso(value: Any) -> str:
    """A time exactly, in ISO 8601 UTC (for <time datetime> and the as-recorded-at field)."""
    at = as_time(value)
    return at.isoformat() if at else ""


def words(value: Any) -> str:
    """`seller_overseas_address` as `seller overseas address`."""
    return "" if value is None else str(value).replace("_", " ")


def detail(value: Any) -> str:
    """One event value as text: money, lines, components, yes/no."""
    if is_money(value):
        return money(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(detail(v) for v in value)
    if isinstance(value, dict):
        if {"sku", "quantity", "unit_price"} <= set(value):
            return f"{value['sku']} × {value['quantity']} at {money(value['unit_price'])}"
        if {"kind", "amount"} <= set(value):
            return f"{words(value['kind'])} {money(value['amount'])}"
        return ", ".join(f"{words(k)}: {detail(v)}" for k, v in value.items())
    return str(value)


def details(data: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """An event's data as (label, text, is_money), decision keys and empty values left out."""
    return [(words(k), detail(v), is_money(v)) for k, v in data.items()
            if k not in DECISION_KEYS and v not in (None, "", [], {})]


FILTERS: dict[str, Callable[[Any], Any]] = {
    "money": money, "when": when, "iso": iso, "words": words,
}

"""Issued refunds per currency and day as bar charts, laid out here and drawn as inline SVG.

Every day of the range has its slot, a day without refunds too (a zero bar), and the
month and year are written under the first day and under each first of a month.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

PLOT_HEIGHT = 120  # px of the tallest bar
TOP = 24  # room for the amount above a bar
BOTTOM = 40  # room for the day and the month under a bar
LEFT = 8
BAR, GAP = 36, 16  # up to a month of days
NARROW_BAR, NARROW_GAP = 10, 4  # longer ranges: thinner bars, a label per month
MONTH_DAYS = 31


@dataclass(frozen=True)
class Bar:
    day: str
    amount: Decimal
    refunds: int
    x: int
    y: int
    height: int
    width: int = BAR
    day_label: str = ""  # the day of the month, when there is room for it
    month_label: str = ""  # "Mar 2026" under the first day and each first of a month

    @property
    def label_x(self) -> int:
        return self.x + self.width // 2


@dataclass(frozen=True)
class Chart:
    """One currency's bars (amounts never mix across currencies)."""

    currency: str
    bars: tuple[Bar, ...]
    total: Decimal
    refunds: int

    @property
    def width(self) -> int:
        step = (self.bars[0].width + (GAP if self.bars[0].width == BAR else NARROW_GAP)
                if self.bars else BAR + GAP)
        return LEFT * 2 + len(self.bars) * step + 40  # room for the last month label

    @property
    def height(self) -> int:
        return TOP + PLOT_HEIGHT + BOTTOM

    @property
    def baseline(self) -> int:
        return TOP + PLOT_HEIGHT

    @property
    def bar_width(self) -> int:
        return self.bars[0].width if self.bars else BAR

    @property
    def first_day(self) -> str:
        return self.bars[0].day if self.bars else ""

    @property
    def last_day(self) -> str:
        return self.bars[-1].day if self.bars else ""


def per_currency_day(totals: list[dict[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """{currency: {day: [amount, refunds]}} summed over sellers and platforms, exactly."""
    sums: dict[str, dict[str, list[Any]]] = defaultdict(
        lambda: defaultdict(lambda: [Decimal(0), 0]))
    for row in totals:
        cell = sums[row["currency"]][row["day"]]
        cell[0] += Decimal(str(row["amount"]))
        cell[1] += int(row["refunds"])
    return sums


def days_between(first: date, last: date) -> list[date]:
    """Every day from first to last, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def charts(totals: list[dict[str, Any]], start: datetime | None = None,
           end: datetime | None = None) -> list[Chart]:
    """One chart per currency, a bar per day of the range (zero days included), heights
    proportional to the day's amount. The range is the filter's (`end` exclusive), widened
    to the days that have refunds."""
    drawn = []
    for currency, days in sorted(per_currency_day(totals).items()):
        known = sorted(date.fromisoformat(d) for d in days)
        first = min([known[0]] + ([start.date()] if start else []))
        last = max([known[-1]] + ([(end - timedelta(days=1)).date()] if end else []))
        slots = days_between(first, last)
        width, gap = (BAR, GAP) if len(slots) <= MONTH_DAYS else (NARROW_BAR, NARROW_GAP)
        peak = max(amount for amount, _ in days.values()) or Decimal(1)
        bars = []
        for i, day in enumerate(slots):
            amount, refunds = days.get(day.isoformat(), (Decimal(0), 0))
            height = int((amount / peak * PLOT_HEIGHT).quantize(Decimal(1), ROUND_HALF_UP))
            height = max(height, 1) if amount > 0 else 0
            month = day.strftime("%b %Y") if i == 0 or day.day == 1 else ""
            bars.append(Bar(day.isoformat(), amount, refunds, LEFT + i * (width + gap) + gap // 2,
                            TOP + PLOT_HEIGHT - height, height, width,
                            day.strftime("%d") if width == BAR else "", month))
        drawn.append(Chart(currency, tuple(bars), sum((b.amount for b in bars), Decimal(0)),
                           sum(b.refunds for b in bars)))
    return drawn

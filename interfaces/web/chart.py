"""Issued refunds per currency and day as bar charts, laid out here and drawn as inline SVG."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

PLOT_HEIGHT = 120  # px of the tallest bar
TOP = 24  # room for the amount above a bar
BOTTOM = 36  # room for the day under a bar
LEFT = 8
BAR = 36
GAP = 16


@dataclass(frozen=True)
class Bar:
    day: str
    amount: Decimal
    refunds: int
    x: int
    y: int
    height: int

    @property
    def label_x(self) -> int:
        return self.x + BAR // 2


@dataclass(frozen=True)
class Chart:
    """One currency's bars (amounts never mix across currencies)."""

    currency: str
    bars: tuple[Bar, ...]
    total: Decimal
    refunds: int

    @property
    def width(self) -> int:
        return LEFT * 2 + len(self.bars) * (BAR + GAP)

    @property
    def height(self) -> int:
        return TOP + PLOT_HEIGHT + BOTTOM

    @property
    def baseline(self) -> int:
        return TOP + PLOT_HEIGHT

    @property
    def bar_width(self) -> int:
        return BAR


def per_currency_day(totals: list[dict[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """{currency: {day: [amount, refunds]}} summed over sellers and platforms, exactly."""
    sums: dict[str, dict[str, list[Any]]] = defaultdict(
        lambda: defaultdict(lambda: [Decimal(0), 0]))
    for row in totals:
        cell = sums[row["currency"]][row["day"]]
        cell[0] += Decimal(str(row["amount"]))
        cell[1] += int(row["refunds"])
    return sums


def charts(totals: list[dict[str, Any]]) -> list[Chart]:
    """One chart per currency, a bar per day, heights proportional to the day's amount."""
    drawn = []
    for currency, days in sorted(per_currency_day(totals).items()):
        peak = max(amount for amount, _ in days.values()) or Decimal(1)
        bars = []
        for i, (day, (amount, refunds)) in enumerate(sorted(days.items())):
            height = int((amount / peak * PLOT_HEIGHT).quantize(Decimal(1), ROUND_HALF_UP))
            height = max(height, 1) if amount > 0 else 0
            bars.append(Bar(day, amount, refunds, LEFT + i * (BAR + GAP) + GAP // 2,
                            TOP + PLOT_HEIGHT - height, height))
        drawn.append(Chart(currency, tuple(bars), sum((b.amount for b in bars), Decimal(0)),
                           sum(b.refunds for b in bars)))
    return drawn

"""Money properties: exact sums, no float path, one currency, minor units, exact round-trips."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.finance.exports import csv_lines
from domain.errors import CurrencyMismatchError, InvalidValueError
from domain.money import MINOR_UNITS, Money, total
from domain.reconciliation import major, minor

CURRENCIES = sorted(MINOR_UNITS)


@st.composite
def money(draw, currency: str | None = None) -> Money:
    code = currency or draw(st.sampled_from(CURRENCIES))
    units = draw(st.integers(min_value=-10**12, max_value=10**12))
    return Money(Decimal(units).scaleb(-MINOR_UNITS[code]), code)


@given(st.sampled_from(CURRENCIES).flatmap(
    lambda c: st.lists(money(c), max_size=30).map(lambda xs: (c, xs))))
def test_sums_are_exact_in_minor_units(case) -> None:
    currency, amounts = case
    assert minor(total(amounts, currency).amount, currency) == sum(
        minor(m.amount, currency) for m in amounts)


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(CURRENCIES))
def test_no_float_path(value, currency) -> None:
    with pytest.raises(InvalidValueError):
        Money.of(value, currency)


@given(money(), money())
def test_mixed_currencies_are_refused(a, b) -> None:
    if a.currency == b.currency:
        assert (a + b).currency == a.currency
    else:
        with pytest.raises(CurrencyMismatchError):
            a + b


@given(st.sampled_from(CURRENCIES), st.integers(min_value=1, max_value=10**9))
def test_more_decimals_than_minor_units_are_refused(currency, units) -> None:
    too_fine = Decimal(units).scaleb(-(MINOR_UNITS[currency] + 1))
    if too_fine == too_fine.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency])):
        return  # e.g. 10 * 10^-3 is exactly 0.01
    with pytest.raises(InvalidValueError):
        Money(too_fine, currency)


@given(money())
def test_amount_string_shows_exactly_the_minor_units(m) -> None:
    text = str(m.amount)
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert decimals == MINOR_UNITS[m.currency]
    assert major(minor(m.amount, m.currency), m.currency) == text


@settings(max_examples=50)
@given(st.lists(money(), min_size=1, max_size=20))
def test_round_trip_through_json_and_csv_is_exact(amounts) -> None:
    via_json = [Money.from_dict(d) for d in json.loads(json.dumps([m.as_dict() for m in amounts]))]
    assert via_json == amounts
    rows = [{"amount": str(m.amount), "currency": m.currency} for m in amounts]
    text = "".join(csv_lines(rows, ("amount", "currency")))
    via_csv = [Money.of(r["amount"], r["currency"])
               for r in csv.DictReader(io.StringIO(text, newline=""))]
    assert via_csv == amounts


@given(st.sampled_from(CURRENCIES).flatmap(
    lambda c: st.tuples(money(c), money(c), st.integers(min_value=-1000, max_value=1000))))
def test_arithmetic_gives_what_the_validating_constructor_gives(case) -> None:
    """Sums, differences and multiples skip the constructor's checks (their amounts keep
    the currency's minor units): they must equal, digit for digit and sign of zero too,
    the Money the constructor makes of the same Decimal."""
    a, b, factor = case
    for result, raw in ((a + b, a.amount + b.amount), (a - b, a.amount - b.amount),
                        (a * factor, a.amount * factor), (a - a, a.amount - a.amount),
                        (a * 0, a.amount * 0)):
        checked = Money(raw, a.currency)
        assert result == checked
        assert result.amount.as_tuple() == checked.amount.as_tuple()


def test_arithmetic_past_the_size_bound_is_refused() -> None:
    big = Money(Decimal("999999999999999"), "JPY")
    with pytest.raises(InvalidValueError):
        big + Money(Decimal(1), "JPY")
    with pytest.raises(InvalidValueError):
        big * 2
    with pytest.raises(InvalidValueError):
        Money(Decimal("-999999999999999"), "JPY") - Money(Decimal(1), "JPY")

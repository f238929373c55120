"""Money: exact Decimal amounts in a currency's minor units, never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import CurrencyMismatchError, InvalidValueError
from domain.money import Money, total


@pytest.mark.parametrize(("currency", "digits"), [("EUR", 2), ("MYR", 2), ("JPY", 0),
                                                 ("KRW", 0), ("VND", 0)])
def test_money_keeps_the_currency_minor_units(currency: str, digits: int) -> None:
    money = Money.of("12", currency)
    assert money.amount.as_tuple().exponent == -digits
    assert money.as_dict() == {"amount": "12" if digits == 0 else "12.00", "currency": currency}


@pytest.mark.parametrize("currency", ["JPY", "KRW", "VND"])
def test_money_refuses_decimals_for_zero_decimal_currencies(currency: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        Money.of("100.5", currency)
    assert err.value.field == "amount"


def test_money_refuses_more_decimals_than_the_currency_has() -> None:
    with pytest.raises(InvalidValueError):
        Money.of("1.005", "EUR")
    assert Money.of("1.1", "EUR") == Money.of("1.10", "EUR")
    assert str(Money.of("1.1", "EUR")) == "1.10 EUR"


@pytest.mark.parametrize("value", [1.5, 0.1, float("nan"), True])
def test_money_refuses_floats_and_booleans(value: object) -> None:
    with pytest.raises(InvalidValueError):
        Money.of(value, "EUR")
    with pytest.raises(InvalidValueError):
        Money(value, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity", Decimal("NaN"),
                                   Decimal("Infinity"), "1e18", "twelve", ""])
def test_money_refuses_non_finite_huge_or_malformed_amounts(value: object) -> None:
    with pytest.raises(InvalidValueError):
        Money.of(value, "EUR")


@pytest.mark.parametrize("currency", ["eur", "XXX", "", None, "EURO"])
def test_money_refuses_unknown_currencies(currency: object) -> None:
    with pytest.raises(InvalidValueError) as err:
        Money.of("1", currency)  # type: ignore[arg-type]
    assert err.value.field == "currency"


def test_money_refuses_mixing_currencies() -> None:
    eur, usd = Money.of("1.00", "EUR"), Money.of("1.00", "USD")
    for combine in (lambda: eur + usd, lambda: eur - usd, lambda: eur < usd,
                    lambda: eur <= usd, lambda: eur > usd, lambda: eur >= usd,
                    lambda: total([eur, usd], "EUR")):
        with pytest.raises(CurrencyMismatchError):
            combine()


def test_money_adds_and_compares_exactly() -> None:
    assert Money.of("0.10", "EUR") + Money.of("0.20", "EUR") == Money.of("0.30", "EUR")
    assert Money.of("19.90", "MYR") * 3 == Money.of("59.70", "MYR")
    assert total([], "JPY") == Money.zero("JPY")
    assert Money.of("5", "KRW") < Money.of("6", "KRW")
    with pytest.raises(TypeError):
        Money.of("1", "EUR") * Decimal("1.5")  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money.of("1", "EUR") * True


def test_money_round_trips_its_wire_form() -> None:
    for money in (Money.of("12.30", "MYR"), Money.of("1500", "JPY"), Money.of("-3", "VND")):
        assert Money.from_dict(money.as_dict()) == money


def test_largest_amount_fits_a_64_bit_count_of_minor_units() -> None:
    largest = Money.of("999999999999999.99", "MYR")
    assert int(largest.amount * 100) < 2 ** 63
    with pytest.raises(InvalidValueError):
        Money.of("1000000000000000", "MYR")


@pytest.mark.parametrize("written", ["\u0661\u0660.\u0660\u0660", "\uff11\uff10.\uff10\uff10",
                                     "\u0967\u0966", "1_000", "1e3", "+10", ".5", "10.",
                                     "1 000", "10,00", "0x10", "\u300010"])
def test_money_reads_only_ascii_digits_in_the_written_form(written: str) -> None:
    """Decimal() reads all of these (as 10, 1000, 0.5...): the ledger reads none of them."""
    with pytest.raises(InvalidValueError) as err:
        Money.of(written, "EUR")
    assert "0-9" in err.value.detail


@pytest.mark.parametrize("zero", ["-0.00", "-0", "-000.0", Decimal("-0.00"), Decimal("-0")])
def test_money_has_no_negative_zero(zero: object) -> None:
    money = Money.of(zero, "EUR")
    assert money.as_dict() == {"amount": "0.00", "currency": "EUR"}
    assert not money.amount.is_signed()
    assert (Money.of("-1.00", "EUR") * 0).as_dict()["amount"] == "0.00"
    assert (Money.of("-1.00", "EUR") + Money.of("1.00", "EUR")).as_dict()["amount"] == "0.00"


def test_money_still_reads_its_documented_forms() -> None:
    assert Money.of(" 12.30 ", "MYR").as_dict() == {"amount": "12.30", "currency": "MYR"}
    assert Money.of("-3.5", "EUR").as_dict()["amount"] == "-3.50"
    assert Money.of("007", "JPY").as_dict()["amount"] == "7"
    with pytest.raises(InvalidValueError, match="more than 15 digits"):
        Money.of("1" + "0" * 15, "EUR")

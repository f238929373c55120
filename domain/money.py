"""Money: an exact Decimal amount in an ISO 4217 currency, never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import CurrencyMismatchError, InvalidValueError

# ISO 4217 minor units of the currencies our marketplaces settle in.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CNY": 2, "JPY": 0, "KRW": 0,
    "MYR": 2, "THB": 2, "PHP": 2, "SGD": 2, "IDR": 2, "VND": 0,
    "HKD": 2, "TWD": 2, "AUD": 2, "CAD": 2, "CHF": 2, "PLN": 2,
    "SEK": 2, "MXN": 2, "BRL": 2, "AED": 2, "SAR": 2, "INR": 2,
}

# Keep amounts within what a NUMERIC column and a human both handle.
MAX_DIGITS = 15  # minor units of the largest amount still fit a 64-bit integer
_LIMIT = Decimal(10) ** MAX_DIGITS
# The smallest step of each currency (0.01 for two minor units), computed once.
_QUANTUM: dict[str, Decimal] = {code: Decimal(1).scaleb(-units)
                                for code, units in MINOR_UNITS.items()}
# The written form: ASCII digits, an optional fraction, a minus sign for a debit. Python's
# Decimal() also reads "١٠.٠٠", "１０", "1_0", "1e3", "+1" and ".5": none of them is money.
WRITTEN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
ASCII_SPACE = " \t\r\n"


def parse_amount(value: Any, field: str = "amount") -> Decimal:
    """Turn a str, int or Decimal into a finite Decimal; floats are refused.

    A string must be written as WRITTEN says ("12.30", "-5", surrounding spaces ignored).
    Zero is never negative: "-0.00" is 0.00."""
    if isinstance(value, (bool, float)):
        raise InvalidValueError(field, "must be a decimal string, not a float")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        written = value.strip(ASCII_SPACE)
        if not WRITTEN.fullmatch(written):
            raise InvalidValueError(field, f"{value[:40]!r} is not a decimal number written "
                                           "with the digits 0-9, such as \"12.30\"")
        if len(written.lstrip("-").split(".")[0].lstrip("0")) > MAX_DIGITS:
            raise InvalidValueError(field, f"has more than {MAX_DIGITS} digits")
        try:
            amount = Decimal(written)
        except InvalidOperation:  # pragma: no cover - WRITTEN only admits what Decimal reads
            raise InvalidValueError(field, f"{value!r} is not a decimal number") from None
    else:
        raise InvalidValueError(field, f"{type(value).__name__} is not a decimal number")
    if not amount.is_finite():
        raise InvalidValueError(field, "must be a finite number")
    if abs(amount) >= _LIMIT:
        raise InvalidValueError(field, f"has more than {MAX_DIGITS} digits")
    return amount.copy_abs() if amount.is_zero() else amount


def currency_code(value: Any) -> str:
    """Validate an ISO 4217 code the ledger knows the minor units of."""
    if not isinstance(value, str) or value not in MINOR_UNITS:
        known = ", ".join(sorted(MINOR_UNITS))
        raise InvalidValueError("currency", f"{value!r} is not a supported ISO 4217 code ({known})")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency, at most the currency's minor units."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        currency = currency_code(self.currency)
        amount = parse_amount(self.amount)
        exact = amount.quantize(_QUANTUM[currency])
        if exact != amount:
            raise InvalidValueError(
                "amount",
                f"{amount} has more decimals than {currency} allows ({MINOR_UNITS[currency]})",
            )
        # Decimal keeps a sign on zero (Decimal("-1.00") * 0 is -0.00): money does not.
        object.__setattr__(self, "amount", exact.copy_abs() if exact.is_zero() else exact)

    @classmethod
    def of(cls, amount: Any, currency: str) -> Money:
        """Build Money from a decimal string, int or Decimal."""
        return cls(parse_amount(amount), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Nothing, in the given currency (one shared value per currency: Money is frozen)."""
        zero = _ZEROS.get(currency) if cls is Money else None
        if zero is None:
            zero = cls(Decimal(0), currency)
            if cls is Money:
                _ZEROS[currency] = zero
        return zero

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency)

    @classmethod
    def _exact(cls, amount: Decimal, currency: str) -> Money:
        """Money from a sum, difference or whole multiple of valid amounts of one currency:
        such a result keeps the currency's minor units exactly (Decimal arithmetic keeps
        the exponent), so only the size bound and zero's sign are checked again."""
        if abs(amount) >= _LIMIT:
            raise InvalidValueError("amount", f"has more than {MAX_DIGITS} digits")
        money = object.__new__(cls)
        object.__setattr__(money, "amount", amount.copy_abs() if amount.is_zero() else amount)
        object.__setattr__(money, "currency", currency)
        return money

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money._exact(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money._exact(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by a whole number")
        return Money._exact(self.amount * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    @property
    def is_positive(self) -> bool:
        """More than nothing."""
        return self.amount > 0

    @property
    def is_negative(self) -> bool:
        """Less than nothing."""
        return self.amount < 0

    def as_dict(self) -> dict[str, str]:
        """The wire form: amount as an exact string with the currency's minor units."""
        return {"amount": str(self.amount), "currency": self.currency}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Money:
        """Read the wire form back."""
        return cls.of(data["amount"], data["currency"])

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


_ZEROS: dict[str, Money] = {}


def total(amounts: list[Money] | tuple[Money, ...], currency: str) -> Money:
    """Sum money of one currency; an empty list sums to zero."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result

"""Wire fields: money as {"amount": "12.30", "currency": "MYR"}, times with a zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, cast

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from domain.errors import InvalidValueError
from domain.money import MINOR_UNITS, Money


def now() -> datetime:
    """Business time defaults to the moment the request arrives."""
    return datetime.now(UTC)


# Business times outside the years 2000-2099 are typing errors or probes, never parcels.
# The published pattern is the rule: RFC 3339 with seconds and a zone, the year as written
# 2000-2099. (JSON Schema has no bounds for dates, so a pattern says it.)
TIME_PATTERN = (r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
                r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
# Something visible, and no control characters (tab and line breaks allowed).
PRINTABLE = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# A decimal string in ASCII digits: never negative (a refund, a price, a cost), no sign;
# at most the decimals of its currency (two, or none: see MoneyRequest.SPEC_EXTRA).
# Positions, versions and offsets in queries: what a signed 64-bit column holds (the
# databases compare them in SQL, where a bigger integer overflows).
MAX_INT = 2**62
AMOUNT = r"^[0-9]{1,15}(\.[0-9]{1,2})?$"
POSITIVE_AMOUNT = r"^(?=[0-9.]*[1-9])[0-9]{1,15}(\.[0-9]{1,2})?$"
DECIMALS = {digits: sorted(c for c, d in MINOR_UNITS.items() if d == digits)
            for digits in sorted(set(MINOR_UNITS.values()))}


class Pattern(validate.Regexp):
    """A regular expression the whole value must match: `$` does not let a trailing line
    break through (Python's `re.match` would). The pattern is published as written."""

    def __call__(self, value: Any) -> Any:
        regex = cast("re.Pattern[str]", self.regex)
        if not isinstance(value, str) or regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


COUNTRY = Pattern(r"^[A-Z]{2}$", error="must be an ISO 3166-1 alpha-2 code")


class BusinessTime(fields.AwareDateTime):
    """An aware timestamp written as TIME_PATTERN says; Feb 30 and the like are refused too."""

    _PATTERN = re.compile(TIME_PATTERN)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or self._PATTERN.fullmatch(value) is None:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        return super()._deserialize(value, attr, data, **kwargs)


def When(**kwargs: Any) -> fields.AwareDateTime:  # noqa: N802 - a field factory
    """An RFC 3339 timestamp with its zone (a naive one is a 422), years 2000-2099."""
    metadata = kwargs.setdefault("metadata", {})
    metadata.setdefault("description", "RFC 3339 with seconds and a time zone, "
                                       "years 2000-2099 as written")
    metadata.setdefault("pattern", TIME_PATTERN)
    return BusinessTime(format="iso", **kwargs)


def Text(max_length: int = 200, **kwargs: Any) -> fields.String:  # noqa: N802
    """A non-blank string of bounded length, without control characters."""
    return fields.String(validate=[validate.Length(min=1, max=max_length),
                                   Pattern(PRINTABLE, error="must not be blank "
                                           "nor contain control characters")],
                         **kwargs)


class JsonBoolean(fields.Boolean):
    """A JSON true or false, nothing else (marshmallow's Boolean also reads "yes", "on",
    1 and 0; and 1 == True in Python, so a truthy set cannot tell them apart)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def Flag(**kwargs: Any) -> fields.Boolean:  # noqa: N802
    return JsonBoolean(**kwargs)


def Choice(values: Any, **kwargs: Any) -> fields.String:  # noqa: N802
    """One of an enum's values."""
    return fields.String(validate=validate.OneOf([getattr(v, "value", v) for v in values]),
                         **kwargs)


class MoneyRequest(Schema):
    """Money on the wire: the amount is a decimal string, never a JSON number, with at most
    the decimals of its currency ("12.30" MYR, "1500" JPY)."""

    AMOUNT_PATTERN = AMOUNT
    amount = fields.String(required=True, validate=Pattern(
        AMOUNT, error="must be a decimal string in the digits 0-9 such as \"12.30\""),
        metadata={"example": "12.30"})
    currency = fields.String(required=True, validate=validate.OneOf(sorted(MINOR_UNITS)),
                             metadata={"example": "MYR"})
    # What the document adds to the generated schema (interfaces/api/contract.py): the
    # decimals allowed per currency, one branch per number of minor units.
    SPEC_EXTRA = {"oneOf": [
        {"properties": {"currency": {"enum": currencies},
                        "amount": {"pattern": (rf"^[0-9]{{1,15}}(\.[0-9]{{1,{digits}}})?$"
                                               if digits else r"^[0-9]{1,15}$")}}}
        for digits, currencies in DECIMALS.items()]}

    @validates_schema
    def currency_decimals(self, data: dict[str, str], **_: Any) -> None:
        written = data["amount"].partition(".")[2]
        allowed = MINOR_UNITS[data["currency"]]
        if len(written) > allowed:
            raise ValidationError(f"{data['currency']} has {allowed} decimals: write at most "
                                  f"{allowed} after the point", field_name="amount")

    @post_load
    def to_money(self, data: dict[str, str], **_: Any) -> Money:
        try:
            return Money.of(data["amount"], data["currency"])
        except InvalidValueError as error:
            raise ValidationError({"amount": [error.detail]}) from None


class PositiveMoneyRequest(MoneyRequest):
    """Money that must be more than nothing (a refund component, a declared value)."""

    amount = fields.String(required=True, validate=Pattern(
        POSITIVE_AMOUNT, error="must be more than zero, a decimal string in the digits 0-9 "
                               "such as \"12.30\""), metadata={"example": "12.30"})


class MoneyResponse(Schema):
    amount = fields.String(required=True, metadata={"example": "12.30"})
    currency = fields.String(required=True, metadata={"example": "MYR"})


def MoneyField(positive: bool = False, **kwargs: Any) -> fields.Nested:  # noqa: N802
    return fields.Nested(PositiveMoneyRequest if positive else MoneyRequest, **kwargs)


def Timestamp(**kwargs: Any) -> fields.String:  # noqa: N802
    """A timestamp in an answer, already ISO 8601."""
    return fields.String(metadata={"format": "date-time"}, **kwargs)

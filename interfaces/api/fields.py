"""Wire fields: money as {"amount": "12.30", "currency": "MYR"}, times with a zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from domain.errors import InvalidValueError
from domain.money import MINOR_UNITS, Money


def now() -> datetime:
    """Business time defaults to the moment the request arrives."""
    return datetime.now(UTC)


# Business times outside these years are typing errors or probes, never parcels.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# Something visible, and no control characters (tab and line breaks allowed).
PRINTABLE = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def When(**kwargs: Any) -> fields.AwareDateTime:  # noqa: N802 - a field factory
    """An ISO 8601 timestamp that must carry its zone (a naive one is a 422), 2000-2099."""
    kwargs.setdefault("metadata", {})
    kwargs["metadata"].setdefault("description", "ISO 8601 with a time zone, years 2000-2099")
    kwargs.setdefault("validate", validate.Range(min=EARLIEST, max=LATEST, max_inclusive=False))
    return fields.AwareDateTime(format="iso", **kwargs)


def Text(max_length: int = 200, **kwargs: Any) -> fields.String:  # noqa: N802
    """A non-blank string of bounded length, without control characters."""
    return fields.String(validate=[validate.Length(min=1, max=max_length),
                                   validate.Regexp(PRINTABLE, error="must not be blank "
                                                   "nor contain control characters")],
                         **kwargs)


def Choice(values: Any, **kwargs: Any) -> fields.String:  # noqa: N802
    """One of an enum's values."""
    return fields.String(validate=validate.OneOf([getattr(v, "value", v) for v in values]),
                         **kwargs)


class MoneyRequest(Schema):
    """Money on the wire: the amount is a decimal string, never a JSON number."""

    amount = fields.String(required=True, validate=validate.Regexp(
        r"^-?\d{1,15}(\.\d{1,4})?$", error="must be a decimal string such as \"12.30\""),
        metadata={"example": "12.30"})
    currency = fields.String(required=True, validate=validate.OneOf(sorted(MINOR_UNITS)),
                             metadata={"example": "MYR"})

    @post_load
    def to_money(self, data: dict[str, str], **_: Any) -> Money:
        try:
            return Money.of(data["amount"], data["currency"])
        except InvalidValueError as error:
            raise ValidationError({"amount": [error.detail]}) from None


class MoneyResponse(Schema):
    amount = fields.String(required=True, metadata={"example": "12.30"})
    currency = fields.String(required=True, metadata={"example": "MYR"})


def MoneyField(**kwargs: Any) -> fields.Nested:  # noqa: N802
    return fields.Nested(MoneyRequest, **kwargs)


def Timestamp(**kwargs: Any) -> fields.String:  # noqa: N802
    """A timestamp in an answer, already ISO 8601."""
    return fields.String(metadata={"format": "date-time"}, **kwargs)

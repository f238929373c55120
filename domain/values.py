"""Small value objects and vocabularies shared by the aggregates and the policies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from domain.errors import InvalidValueError
from domain.money import Money, total


class Platform(StrEnum):
    TIKTOK_SHOP = "tiktok_shop"
    LAZADA = "lazada"
    AMAZON = "amazon"
    CDISCOUNT = "cdiscount"


class Status(StrEnum):
    REGISTERED = "registered"
    DELIVERY_FAILED = "delivery_failed"
    RETURN_REQUESTED = "return_requested"
    RETURNING = "returning_to_seller"
    HELD = "held_at_warehouse"
    REDELIVERING = "redelivering"
    DELIVERED = "delivered"
    RETURN_FAILED = "return_failed"
    RECEIVED = "received"
    AWAITING_REFUND = "awaiting_refund"
    DESTROYED = "destroyed"
    ABANDONED = "abandoned"
    CLOSED = "closed"
    VOIDED = "voided"  # registered by mistake (RL-2)


TERMINAL = frozenset({Status.DESTROYED, Status.ABANDONED, Status.CLOSED, Status.VOIDED})


class Destination(StrEnum):
    SELLER_OVERSEAS = "seller_overseas_address"
    PROVIDER_WAREHOUSE = "provider_warehouse"
    SELLER_DOMESTIC = "seller_domestic_address"
    BUYER_KEEPS = "buyer_keeps"


class Party(StrEnum):
    SELLER = "seller"
    PLATFORM = "platform"
    PROVIDER = "provider"
    BUYER = "buyer"
    NOBODY = "nobody"


class FailureReason(StrEnum):
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    BAD_ADDRESS = "bad_address"
    OTHER = "other"


class ReturnFailureCause(StrEnum):
    SELLER_UNREACHABLE = "seller_unreachable"
    WRONG_ADDRESS = "wrong_address"
    CARRIER = "carrier"
    OTHER = "other"


class Condition(StrEnum):
    RESELLABLE = "resellable"
    DAMAGED = "damaged"
    NOT_AS_ORDERED = "not_as_ordered"


class DisposalKind(StrEnum):
    DESTROYED = "destroyed"
    ABANDONED = "abandoned"


class RefundComponentKind(StrEnum):
    ITEM = "item"
    SHIPPING = "shipping"
    RETURN_SHIPPING = "return_shipping"


class InvestigationKind(StrEnum):
    FALSE_RETURN = "false_return"  # TT-6
    FAILED_RETURN = "failed_return"  # TT-5


# The rule each kind of investigation settles.
INVESTIGATION_RULE: dict[str, str] = {InvestigationKind.FALSE_RETURN: "TT-6",
                                      InvestigationKind.FAILED_RETURN: "TT-5"}


class Remedy(StrEnum):
    """CD-4: what a Cdiscount seller offers when the return is not the buyer's fault."""

    RETURN_ADDRESS_FR = "return_address_fr"
    PREPAID_LABEL = "prepaid_label"
    REFUND_WITHOUT_RETURN = "refund_without_return"


E = TypeVar("E", bound=StrEnum)


def choice(enum: type[E], value: Any, field: str) -> E:
    """Read an enum member from its value, with a clear error."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidValueError(field, f"{value!r} is not one of: {allowed}") from None


def aware(value: Any, field: str) -> datetime:
    """A timestamp must carry its zone: business times come from many countries."""
    if not isinstance(value, datetime):
        raise InvalidValueError(field, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValueError(field, "must carry a time zone")
    return value


def latest(known: datetime | None, moment: datetime) -> datetime:
    """The later of two business times: the last failed attempt is the latest one seen,
    whatever order the carrier's scans were recorded in (TT-7)."""
    return moment if known is None or moment > known else known


def text(value: Any, field: str, max_length: int = 200) -> str:
    """A non-empty, trimmed, bounded string."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValueError(field, "must be a non-empty string")
    value = value.strip()
    if len(value) > max_length:
        raise InvalidValueError(field, f"must be at most {max_length} characters")
    return value


_COUNTRY = re.compile(r"^[A-Z]{2}$")


def country(value: Any, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code in capitals."""
    if not isinstance(value, str) or not _COUNTRY.match(value):
        raise InvalidValueError(field, f"{value!r} is not an ISO 3166-1 alpha-2 code")
    return value


@dataclass(frozen=True, slots=True)
class Line:
    """One order line of a parcel: a SKU, how many, at what unit price."""

    sku: str
    quantity: int
    unit_price: Money

    def __post_init__(self) -> None:
        object.__setattr__(self, "sku", text(self.sku, "sku", 64))
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise InvalidValueError("quantity", "must be a whole number")
        if not 1 <= self.quantity <= 100_000:
            raise InvalidValueError("quantity", "must be between 1 and 100000")
        if not isinstance(self.unit_price, Money) or self.unit_price.is_negative:
            raise InvalidValueError("unit_price", "must be non-negative money")

    @property
    def value(self) -> Money:
        """Quantity times unit price."""
        return self.unit_price * self.quantity

    def as_dict(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity, "unit_price": self.unit_price}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Line:
        return cls(data["sku"], data["quantity"], data["unit_price"])


def goods_value(lines: list[Line], currency: str) -> Money:
    """What the goods of a parcel are worth at their order prices: the loss when it is
    gone, the amount at stake before (TT-2, TT-5)."""
    return total([line.value for line in lines], currency)


@dataclass(frozen=True, slots=True)
class RefundComponent:
    """One part of a refund: item price, shipping or return shipping."""

    kind: RefundComponentKind
    amount: Money

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", choice(RefundComponentKind, self.kind, "kind"))
        if not isinstance(self.amount, Money) or not self.amount.is_positive:
            raise InvalidValueError("amount", "a refund component must be more than zero")

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "amount": self.amount}

"""How value objects are stored inside events."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Transcoding

from domain.money import Money


class MoneyAsDict(Transcoding):
    """Money as {"amount": "12.30", "currency": "MYR"}: exact, never a float."""

    type = Money
    name = "money"

    def encode(self, obj: Money) -> dict[str, str]:
        return {"amount": str(obj.amount), "currency": obj.currency}

    def decode(self, data: dict[str, Any]) -> Money:
        return Money.of(data["amount"], data["currency"])

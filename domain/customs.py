"""SkuCustomsProfile: a SKU's customs data, entered once and reused (LZ-2)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValueError
from domain.money import Money
from domain.values import aware, text

# ASCII digits only, matched in full: \d would take other scripts' digits and $ a newline.
HS_CODE = re.compile(r"[0-9]{6,10}")
CUSTOMS_NAMESPACE = UUID("0b8f3c55-2f55-4a3c-8a0e-8f7f2b0e9d41")


def customs_profile_id(seller_id: str, sku: str) -> UUID:
    """One profile per seller and SKU."""
    return uuid5(CUSTOMS_NAMESPACE, f"{seller_id}:{sku}")


def check_profile(hs_code: str, declared_name_local: str, declared_name_en: str,
                  declared_value: Money, material: str, use: str, brand: str) -> dict[str, Any]:
    """LZ-2: an HS code of 6 to 10 digits, names, a positive value, material, use, brand."""
    if not isinstance(hs_code, str) or not HS_CODE.fullmatch(hs_code):
        raise InvalidValueError("hs_code", "must be 6 to 10 digits")
    if not isinstance(declared_value, Money) or not declared_value.is_positive:
        raise InvalidValueError("declared_value", "must be more than zero")
    return {"hs_code": hs_code,
            "declared_name_local": text(declared_name_local, "declared_name_local"),
            "declared_name_en": text(declared_name_en, "declared_name_en"),
            "declared_value": declared_value, "material": text(material, "material"),
            "use": text(use, "use"), "brand": text(brand, "brand", 100)}


class SkuCustomsProfile(Aggregate):
    """Customs clearance information for one SKU of one seller."""

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str

    class CustomsProfileSet(Event, Aggregate.Created):
        seller_id: str
        sku: str
        profile: dict[str, Any]
        similar_product: bool

    class CustomsProfileUpdated(Event):
        profile: dict[str, Any]
        similar_product: bool

    @staticmethod
    def create_id(seller_id: str, sku: str) -> UUID:
        return customs_profile_id(seller_id, sku)

    @event(CustomsProfileSet)
    def __init__(self, *, seller_id: str, sku: str, profile: dict[str, Any],
                 similar_product: bool, occurred_at: datetime, actor: str) -> None:
        self.seller_id = seller_id
        self.sku = sku
        self.profile = profile
        self.similar_product = similar_product

    @classmethod
    def create(cls, seller_id: str, sku: str, profile: dict[str, Any], similar_product: bool,
               occurred_at: datetime, actor: str = "system") -> SkuCustomsProfile:
        """Set a SKU's customs data for the first time."""
        return cls(seller_id=text(seller_id, "seller_id"), sku=text(sku, "sku", 64),
                   profile=profile, similar_product=bool(similar_product),
                   occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    def update(self, profile: dict[str, Any], similar_product: bool, occurred_at: datetime,
               actor: str = "system") -> None:
        """Correct the SKU's customs data; later returns use the new one."""
        self._updated(profile=profile, similar_product=bool(similar_product),
                      occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(CustomsProfileUpdated)
    def _updated(self, profile: dict[str, Any], similar_product: bool,
                 occurred_at: datetime, actor: str) -> None:
        self.profile = profile
        self.similar_product = similar_product

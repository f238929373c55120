"""SKU customs profiles (LZ-2): entered once per seller and SKU, reused by later returns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

from application.dto import CustomsProfileView
from domain.customs import SkuCustomsProfile, check_profile, customs_profile_id
from domain.errors import CustomsProfileNotFoundError
from domain.money import Money
from domain.parcel import ReturnParcel
from domain.values import Line


class CustomsProfiles:
    """Mixed into the ledger: the customs data of a seller's SKUs."""

    repository: Repository[UUID]
    save: Callable[..., Any]
    _policy: Callable[[ReturnParcel], Any]

    def set_customs_profile(self, *, seller_id: str, sku: str, hs_code: str,
                            declared_name_local: str, declared_name_en: str,
                            declared_value: Money, material: str, use: str, brand: str,
                            occurred_at: datetime, similar_product: bool = False,
                            actor: str = "system") -> CustomsProfileView:
        """Enter (or correct) a SKU's customs data once; later returns reuse it."""
        profile = check_profile(hs_code, declared_name_local, declared_name_en,
                                declared_value, material, use, brand)
        try:
            existing: SkuCustomsProfile = self.repository.get(customs_profile_id(seller_id, sku))
        except AggregateNotFoundError:
            existing = SkuCustomsProfile.create(seller_id, sku, profile, similar_product,
                                                occurred_at, actor)
        else:
            existing.update(profile, similar_product, occurred_at, actor)
        self.save(existing)
        return self._customs_view(existing)

    def get_customs_profile(self, seller_id: str, sku: str) -> CustomsProfileView:
        try:
            profile: SkuCustomsProfile = self.repository.get(customs_profile_id(seller_id, sku))
        except AggregateNotFoundError:
            raise CustomsProfileNotFoundError(f"{seller_id}/{sku}") from None
        return self._customs_view(profile)

    def _customs_skus(self, parcel: ReturnParcel,
                      lines: list[Line] | None = None) -> frozenset[str]:
        """The SKUs of the parcel's lines (or of `lines`, corrected ones) with customs data."""
        if not self._policy(parcel).uses_customs_facts:
            return frozenset()  # one read per SKU saved where no rule looks at them
        known = set()
        for line in parcel.lines if lines is None else lines:
            if customs_profile_id(parcel.seller_id, line.sku) in self.repository:
                known.add(line.sku)
        return frozenset(known)

    @staticmethod
    def _customs_view(p: SkuCustomsProfile) -> CustomsProfileView:
        return CustomsProfileView(p.seller_id, p.sku, dict(p.profile), p.similar_product,
                                  p.version)

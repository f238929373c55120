"""Platform rules, one module per platform; the application asks them for decisions."""

from __future__ import annotations

from domain.policies.amazon import AmazonPolicy
from domain.policies.base import (
    AddressFacts,
    PlatformPolicy,
    PolicySettings,
    RouteDecision,
    Ruling,
)
from domain.policies.cdiscount import CdiscountPolicy
from domain.policies.lazada import LazadaPolicy
from domain.policies.tiktok_shop import TikTokShopPolicy
from domain.values import Platform

POLICY_CLASSES: dict[Platform, type[PlatformPolicy]] = {
    Platform.TIKTOK_SHOP: TikTokShopPolicy,
    Platform.LAZADA: LazadaPolicy,
    Platform.AMAZON: AmazonPolicy,
    Platform.CDISCOUNT: CdiscountPolicy,
}


class Policies:
    """One policy object per platform, sharing the same settings."""

    def __init__(self, settings: PolicySettings | None = None) -> None:
        self.settings = settings or PolicySettings()
        self._by_platform = {p: cls(self.settings) for p, cls in POLICY_CLASSES.items()}

    def for_platform(self, platform: str) -> PlatformPolicy:
        """The rules of one marketplace."""
        return self._by_platform[Platform(platform)]


__all__ = ["AddressFacts", "PlatformPolicy", "Policies", "PolicySettings", "RouteDecision",
           "Ruling"]

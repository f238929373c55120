"""ReturnAddress: where a seller takes parcels back, and since when (TT-1, LZ-1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from domain.copying import CheapCopy
from domain.errors import InvalidValueError, RuleViolationError, TransitionError
from domain.policies.base import AddressFacts
from domain.policies.lazada import real_name_required
from domain.values import Platform, aware, choice, country, text

REAL_NAME_NOT_REQUIRED = "not_required"
REAL_NAME_UNVERIFIED = "unverified"
REAL_NAME_VERIFIED = "verified"


def clean_address(address: dict[str, Any]) -> dict[str, Any]:
    """Address lines, city and postcode, trimmed and bounded."""
    if not isinstance(address, dict):
        raise InvalidValueError("address", "must be an object with lines, city and postcode")
    lines = address.get("lines")
    if not isinstance(lines, list) or not 1 <= len(lines) <= 5:
        raise InvalidValueError("address.lines", "must be a list of 1 to 5 lines")
    return {"lines": [text(line, "address.lines", 200) for line in lines],
            "city": text(address.get("city"), "address.city", 100),
            "postcode": text(address.get("postcode"), "address.postcode", 20)}


class ReturnAddress(CheapCopy, Aggregate):
    """A seller's return address on one platform, in one country."""

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str

    class ReturnAddressRegistered(Event, Aggregate.Created):
        seller_id: str
        platform: str
        country: str
        address: dict[str, Any]
        effective_from: datetime
        seller_country: str | None
        real_name_status: str

    class RealNameVerified(Event):
        subject_id: str
        sealed_identity: dict[str, str]
        reused_from: str | None

    class ReturnAddressDeactivated(Event):
        reason: str

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return uuid4()

    @event(ReturnAddressRegistered)
    def __init__(self, *, seller_id: str, platform: str, country: str,
                 address: dict[str, Any], effective_from: datetime, seller_country: str | None,
                 real_name_status: str, occurred_at: datetime, actor: str) -> None:
        self.seller_id = seller_id
        self.platform = platform
        self.country = country
        self.address = address
        self.effective_from = effective_from
        self.seller_country = seller_country
        self.real_name_status = real_name_status
        self.registered_at = occurred_at
        self.deactivated_at: datetime | None = None
        self.subject_id: str | None = None
        self.sealed_identity: dict[str, str] | None = None

    @classmethod
    def register(cls, *, seller_id: str, platform: str, country_code: str,
                 address: dict[str, Any], effective_from: datetime, occurred_at: datetime,
                 seller_country: str | None = None, actor: str = "system") -> ReturnAddress:
        """Record an address the seller registered on the platform at `occurred_at`."""
        code = country(country_code)
        seller_code = country(seller_country, "seller_country") if seller_country else None
        status = (REAL_NAME_UNVERIFIED if real_name_required(code, seller_code)
                  else REAL_NAME_NOT_REQUIRED)
        return cls(seller_id=text(seller_id, "seller_id"),
                   platform=choice(Platform, platform, "platform").value, country=code,
                   address=clean_address(address),
                   effective_from=aware(effective_from, "effective_from"),
                   seller_country=seller_code, real_name_status=status,
                   occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    def verify_real_name(self, subject_id: str, sealed_identity: dict[str, str],
                         occurred_at: datetime, reused_from: str | None = None,
                         actor: str = "system") -> None:
        """LZ-1: unverified -> verified, with the identity kept sealed."""
        if self.deactivated_at is not None:
            raise RuleViolationError("LZ-1", "the address is deactivated")
        if self.real_name_status != REAL_NAME_UNVERIFIED:
            raise RuleViolationError("LZ-1", "this address needs no (further) real-name "
                                     "verification", real_name_status=self.real_name_status)
        self._verified(subject_id=subject_id, sealed_identity=dict(sealed_identity),
                       reused_from=reused_from, occurred_at=aware(occurred_at, "occurred_at"),
                       actor=actor)

    @event(RealNameVerified)
    def _verified(self, subject_id: str, sealed_identity: dict[str, str],
                  reused_from: str | None, occurred_at: datetime, actor: str) -> None:
        self.real_name_status = REAL_NAME_VERIFIED
        self.subject_id = subject_id
        self.sealed_identity = sealed_identity

    def deactivate(self, reason: str, occurred_at: datetime, actor: str = "system") -> None:
        """The seller stops using this address from `occurred_at` on."""
        if self.deactivated_at is not None:
            raise TransitionError("deactivated", "deactivate", subject="return address")
        self._deactivated(reason=text(reason, "reason"),
                          occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(ReturnAddressDeactivated)
    def _deactivated(self, reason: str, occurred_at: datetime, actor: str) -> None:
        self.deactivated_at = occurred_at

    def facts(self) -> AddressFacts:
        """The address as the routing rules see it."""
        return AddressFacts(address_id=str(self.id), platform=self.platform,
                            country=self.country, registered_at=self.registered_at,
                            effective_from=self.effective_from,
                            deactivated_at=self.deactivated_at,
                            real_name_status=self.real_name_status,
                            seller_country=self.seller_country)


class SellerDirectory(CheapCopy, Aggregate):
    """The index of a seller's return addresses, saved with each new address."""

    class AddressListed(Aggregate.Event):
        address_id: UUID

    @staticmethod
    def create_id(seller_id: str) -> UUID:
        return seller_directory_id(seller_id)

    @event("Created")
    def __init__(self, seller_id: str) -> None:
        self.seller_id = seller_id
        self.address_ids: list[UUID] = []

    @event(AddressListed)
    def list_address(self, address_id: UUID) -> None:
        """Remember one more address of this seller."""
        self.address_ids.append(address_id)


def seller_directory_id(seller_id: str) -> UUID:
    """One directory per seller."""
    return uuid5(UUID("6f1f0f2e-4d0b-4b8a-9a53-6c0e1d3b7a10"), f"seller:{seller_id}")

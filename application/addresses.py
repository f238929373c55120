"""Return addresses (TT-1, LZ-1): registered, verified, reused and deactivated by sellers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from application.dto import ReturnAddressView
from application.privacy import PersonalDataVault
from domain.address import ReturnAddress, SellerDirectory, seller_directory_id
from domain.errors import ReturnAddressNotFoundError, RuleViolationError

if TYPE_CHECKING:
    from infrastructure.persistence import LedgerRecorder


class ReturnAddresses:
    """Mixed into the ledger: a seller's return addresses and their real-name status."""

    recorder: LedgerRecorder
    vault: PersonalDataVault
    # The ledger's own (application/ledger.py, application/command_cache.py):
    save: Callable[..., Any]
    _get_copy: Callable[[UUID], Any]
    _read_held: Callable[..., Any]

    def register_return_address(self, *, seller_id: str, platform: str, country: str,
                                address: dict[str, Any], effective_from: datetime,
                                occurred_at: datetime, seller_country: str | None = None,
                                actor: str = "system") -> ReturnAddressView:
        """The seller registered a return address on the platform at `occurred_at`."""
        return_address = ReturnAddress.register(
            seller_id=seller_id, platform=platform, country_code=country, address=address,
            effective_from=effective_from, occurred_at=occurred_at,
            seller_country=seller_country, actor=actor)
        directory = self._directory(return_address.seller_id)
        directory.list_address(return_address.id)
        self.save(directory, return_address)
        return self._address_view(return_address)

    def verify_real_name(self, address_id: UUID, identity: Mapping[str, str],
                         occurred_at: datetime, actor: str = "system") -> ReturnAddressView:
        """LZ-1: record the recipient's real-name verification, sealed."""
        address = self._get_address(address_id)
        # The subject id is stored in the event: a pseudonym, never the id number (LZ-1).
        subject_id = (f"{address.seller_id}:"
                      f"{self.vault.pseudonym(address.seller_id, identity.get('id_number', ''))}")
        sealed = self.vault.seal(subject_id, dict(identity))
        address.verify_real_name(subject_id, sealed, occurred_at, actor=actor)
        self.save(address)
        return self._address_view(address)

    def reuse_real_name(self, address_id: UUID, verified_address_id: UUID,
                        occurred_at: datetime, actor: str = "system") -> ReturnAddressView:
        """LZ-1: reuse a verified identity for another address of the same seller."""
        address = self._get_address(address_id)
        source = self._get_address(verified_address_id)
        if (source.seller_id != address.seller_id or source.sealed_identity is None
                or source.subject_id is None):
            raise RuleViolationError("LZ-1", "only a verified identity of the same seller "
                                     "can be reused", source=str(verified_address_id))
        address.verify_real_name(source.subject_id, source.sealed_identity, occurred_at,
                                 reused_from=str(source.id), actor=actor)
        self.save(address)
        return self._address_view(address)

    def deactivate_return_address(self, address_id: UUID, reason: str, occurred_at: datetime,
                                  actor: str = "system") -> ReturnAddressView:
        """The seller stops using an address."""
        address = self._get_address(address_id)
        address.deactivate(reason, occurred_at, actor)
        self.save(address)
        return self._address_view(address)

    def list_return_addresses(self, seller_id: str) -> list[ReturnAddressView]:
        """Every return address the seller ever registered."""
        return [self._address_view(a) for a in self._addresses_of(seller_id)]

    def get_return_address(self, address_id: UUID) -> ReturnAddressView:
        return self._address_view(self._get_address(address_id))

    def _directory(self, seller_id: str) -> SellerDirectory:
        try:
            return self._get_copy(seller_directory_id(seller_id))
        except AggregateNotFoundError:
            return SellerDirectory(seller_id)

    def _addresses_of(self, seller_id: str) -> list[ReturnAddress]:
        return [self._get_address(a) for a in self._directory(seller_id).address_ids]

    def _address_facts(self, seller_id: str) -> list[Any]:
        """What routing needs of the seller's return addresses, as stored now (a stale
        address must never be chosen): from the copies this process holds when one query
        shows they are the last stored versions, else from each one read afresh."""
        held = self._held_address_facts(seller_directory_id(seller_id))
        if held is not None:
            return held
        return [a.facts() for a in self._addresses_of(seller_id)]

    def _held_address_facts(self, directory_id: UUID) -> list[Any] | None:
        held = self._read_held(directory_id, SellerDirectory,
                               lambda d: (d.version, list(d.address_ids)))
        if held is None:
            return None
        version, ids = held
        stored = self.recorder.max_versions([directory_id, *ids])
        if stored.get(directory_id) != version:
            return None
        facts = []
        for address_id in ids:
            read = self._read_held(address_id, ReturnAddress, lambda a: (a.version, a.facts()))
            if read is None or read[0] != stored.get(address_id):
                return None
            facts.append(read[1])
        return facts

    def _get_address(self, address_id: UUID) -> ReturnAddress:
        try:
            address = self._get_copy(address_id)
        except AggregateNotFoundError:
            raise ReturnAddressNotFoundError(address_id) from None
        if not isinstance(address, ReturnAddress):
            raise ReturnAddressNotFoundError(address_id)
        return address

    @staticmethod
    def _address_view(a: ReturnAddress) -> ReturnAddressView:
        return ReturnAddressView(a.id, a.seller_id, a.platform, a.country, dict(a.address),
                                 a.effective_from, a.registered_at, a.deactivated_at,
                                 a.real_name_status, a.seller_country, a.version)

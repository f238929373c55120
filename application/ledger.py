"""ReturnsLedger: one method per command and per query; load, act, save."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording
from eventsourcing.utils import strtobool

from application.access import ApiKeys
from application.audit.history import ParcelHistory, build_history
from application.config import ledger_env
from application.dto import (
    CommandResult,
    CustomsProfileView,
    ParcelView,
    ReturnAddressView,
)
from application.idempotency import IdempotentCommands
from application.preload import PreloadedParcels
from application.privacy import PersonalDataVault, load_master_key
from domain.address import ReturnAddress, SellerDirectory, seller_directory_id
from domain.customs import SkuCustomsProfile, check_profile, customs_profile_id
from domain.errors import (
    CustomsProfileNotFoundError,
    DomainError,
    DuplicateParcelError,
    ParcelNotFoundError,
    ReturnAddressNotFoundError,
    RuleViolationError,
    VersionConflictError,
)
from domain.idempotency import IdempotencyRecord
from domain.money import Money
from domain.parcel import ReturnParcel, parcel_id
from domain.policies import Policies, PolicySettings
from domain.values import Line, Platform, RefundComponent, Remedy, choice
from infrastructure.group_commit import GroupCommitter
from infrastructure.hash_chain import ChainedEventStore, ChainedMapper
from infrastructure.stored_versions import StoredVersions
from infrastructure.subject_keys import SubjectKeyStore
from infrastructure.transcodings import MoneyAsDict

ParcelCommand = Callable[[ReturnParcel], Any]

T = TypeVar("T")


class ReturnsLedger(ApiKeys, IdempotentCommands, PreloadedParcels, Application[UUID]):
    """The returns ledger: parcels, return addresses and SKU customs profiles."""

    name = "ReturnsLedger"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        full_env = ledger_env(env)
        super().__init__(full_env)
        self.policies = Policies(PolicySettings.from_env(full_env))
        self._stored_versions = StoredVersions(self.recorder)
        self.vault = PersonalDataVault(load_master_key(full_env), SubjectKeyStore.for_recorder(
            self.recorder, self.factory.env_create_table()))
        # GROUP_COMMIT=yes: concurrent commands share transactions (infrastructure/group_commit.py).
        self.group_commit = (GroupCommitter(self._record_processing)
                             if strtobool(full_env.get("GROUP_COMMIT", "no")) else None)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MoneyAsDict())

    # Every stored event carries the hash of its predecessor (see infrastructure/hash_chain.py).
    def construct_mapper(self) -> ChainedMapper:
        return ChainedMapper.wrap(super().construct_mapper())

    def construct_event_store(self) -> ChainedEventStore:
        size = int(self.env.get("AUDIT_CHAIN_CACHE_MAXSIZE") or 10000)
        return ChainedEventStore(self.mapper, self.recorder, size)  # type: ignore[arg-type]

    def _record(self, processing_event: Any) -> list[Recording[UUID]]:
        """Record, then cache a copy of what was saved: the next command on it reads only
        newer events instead of all of them (the library caches on save only without
        fast-forward, which several workers need)."""
        recordings = super()._record(processing_event)
        if self.repository.cache is not None:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                if not isinstance(aggregate, IdempotencyRecord):  # read back only on a retry
                    self.repository.cache.put(aggregate_id, deepcopy(aggregate))
        return recordings

    def _record_processing(self, processing_event: ProcessingEvent) -> list[Recording[UUID]]:
        """What Application.save does once the events are collected: one transaction."""
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _commit(self, *aggregates: Any) -> list[Recording[UUID]]:
        """Save in one transaction: alone, or grouped with concurrent commands' saves."""
        if self.group_commit is None:
            return self.save(*aggregates)
        return self.group_commit.save(aggregates)

    # -- plumbing ---------------------------------------------------------------
    def _save(self, *aggregates: Any) -> list[Recording[UUID]]:
        try:
            return self._commit_recorded(*aggregates)
        except IntegrityError:
            raise VersionConflictError(aggregates[0].id) from None

    def _get_parcel(self, parcel_id: UUID, version: int | None = None) -> ReturnParcel:
        try:
            parcel = (self._get_copy(parcel_id) if version is None
                      else self.repository.get(parcel_id, version=version))
        except AggregateNotFoundError:
            raise ParcelNotFoundError(parcel_id) from None
        if not isinstance(parcel, ReturnParcel):  # an address's or a key's id, say
            raise ParcelNotFoundError(parcel_id)
        return parcel

    def _parcel_for_command(self, parcel_id: UUID) -> tuple[ReturnParcel, bool]:
        """The parcel a command acts on, and whether it was just read from the store.

        A parcel this process holds in its cache is taken as held, without a read. If
        another process changed it since, the command's save conflicts (a version is
        stored once) or the command decides on an older state: _act then decides again
        on the parcel as stored, so a stale cache costs a retry, never a wrong answer.
        """
        held = self._held_copy(parcel_id)
        if held is not None:
            return held, False
        return self._get_parcel(parcel_id), True

    def _held_copy(self, parcel_id: UUID) -> ReturnParcel | None:
        """A copy of the parcel this process holds in its cache, if it holds it."""
        return self._read_held(parcel_id, ReturnParcel, deepcopy)

    def _read_held(self, aggregate_id: UUID, kind: type, read: Callable[[Any], T]) -> T | None:
        """`read` of the aggregate of this kind this process holds in its cache, if any,
        under the lock the repository fast-forwards it under."""
        cache = self.repository.cache
        if cache is None:
            return None
        with self._fastforward_lock(aggregate_id):
            try:
                held = cache.get(aggregate_id)
            except KeyError:
                return None
            return read(held) if isinstance(held, kind) else None

    def _get_copy(self, aggregate_id: UUID) -> Any:
        """The aggregate as stored now, as a copy of its own.

        The repository fast-forwards a cached aggregate in place and copies it after
        releasing its lock; a reader in another thread (deadlines timer, threaded
        server) must never copy one half-updated, so the copy is taken under that lock.
        The copy is cheap (domain/copying.py).
        """
        aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=False)
        if self.repository.cache is None:
            return aggregate  # rebuilt for this call alone: no one else holds it
        with self._fastforward_lock(aggregate_id):
            return deepcopy(aggregate)

    @contextmanager
    def _fastforward_lock(self, aggregate_id: UUID) -> Iterator[None]:
        """The lock the repository holds while it fast-forwards a cached aggregate."""
        repository = self.repository
        lock = repository._use_fastforward_lock(aggregate_id)  # noqa: SLF001
        try:
            with lock:
                yield
        finally:
            repository._disuse_fastforward_lock(aggregate_id)  # noqa: SLF001

    def _act(self, parcel_id: UUID, command: ParcelCommand,
             expected_version: int | None = None) -> CommandResult:
        """Load the parcel, check If-Match, run the command, save, answer; a parcel
        taken from the cache that did not lead to a save is decided again, read afresh."""
        loaded = self._take_loaded(parcel_id)
        parcel, fresh = loaded if loaded is not None else self._parcel_for_command(parcel_id)
        if not fresh:
            try:
                result = self._act_on(parcel, command, expected_version)
            except DomainError:
                result = None
            if result is not None and result.position is not None:
                return result
            parcel = self._get_parcel(parcel_id)
        return self._act_on(parcel, command, expected_version)

    def _act_on(self, parcel: ReturnParcel, command: ParcelCommand,
                expected_version: int | None) -> CommandResult:
        parcel_id = parcel.id
        if expected_version is not None and parcel.version != expected_version:
            raise VersionConflictError(parcel_id, expected_version, parcel.version)
        extra = command(parcel) or {}
        self._note_extra(extra)
        recordings = self._save(parcel) if parcel.pending_events else []
        return self._result(parcel, recordings, extra)

    @staticmethod
    def _result(parcel: ReturnParcel, recordings: list[Recording[UUID]],
                extra: dict[str, Any] | None = None) -> CommandResult:
        position = recordings[-1].notification.id if recordings else None
        return CommandResult(parcel.id, parcel.version, parcel.status.value, position,
                             extra or {})

    def _policy(self, parcel: ReturnParcel) -> Any:
        return self.policies.for_platform(parcel.platform)

    # -- parcel commands ----------------------------------------------------------
    def register_parcel(self, *, platform: str, site: str, seller_id: str, order_id: str,
                        order_created_at: datetime, tracking_number: str | None,
                        lines: list[Line], amount_paid: Money,
                        occurred_at: datetime, shipping_paid: Money | None = None,
                        store_id: str | None = None, tracked_shipping: bool = False,
                        tracking_url: str | None = None,
                        ready_to_ship_at: datetime | None = None,
                        actor: str = "system") -> CommandResult:
        """Record a parcel that shipped; the same platform + tracking number is refused."""
        platform = choice(Platform, platform, "platform").value
        parcel = ReturnParcel.register(
            platform=platform, site=site, seller_id=seller_id, order_id=order_id,
            order_created_at=order_created_at, tracking_number=tracking_number, lines=lines,
            amount_paid=amount_paid, shipping_paid=shipping_paid, store_id=store_id,
            tracked_shipping=tracked_shipping, tracking_url=tracking_url,
            ready_to_ship_at=ready_to_ship_at, policy=self.policies.for_platform(platform),
            occurred_at=occurred_at, actor=actor)
        try:
            recordings = self._commit_recorded(parcel)
        except IntegrityError:
            raise DuplicateParcelError(parcel.id) from None
        return self._result(parcel, recordings)

    def record_delivery_attempt(self, parcel_id: UUID, reason: str, occurred_at: datetime,
                                actor: str = "system",
                                expected_version: int | None = None) -> CommandResult:
        """One failed delivery attempt of the last-mile carrier (TT-7)."""
        return self._act(parcel_id, lambda p: p.record_delivery_attempt(
            reason, self._policy(p), occurred_at, actor), expected_version)

    def record_failed_delivery(self, parcel_id: UUID, reason: str, occurred_at: datetime,
                               reported_by: str = "carrier", actor: str = "system",
                               expected_version: int | None = None) -> CommandResult:
        """The carrier gave up (refused, unreachable, bad address, other)."""
        return self._act(parcel_id, lambda p: p.record_delivery_failure(
            reason, self._policy(p), occurred_at, reported_by, actor), expected_version)

    def record_delivery(self, parcel_id: UUID, occurred_at: datetime, actor: str = "system",
                        expected_version: int | None = None) -> CommandResult:
        """The buyer has the parcel."""
        return self._act(parcel_id, lambda p: p.record_delivery(occurred_at, actor),
                         expected_version)

    def request_return(self, parcel_id: UUID, reason: str, seller_fault: bool,
                       occurred_at: datetime, unconditional: bool = False,
                       return_shipping_cost: Money | None = None, actor: str = "system",
                       expected_version: int | None = None) -> CommandResult:
        """The buyer asks to send the item back (AM-1, CD-4)."""
        return self._act(parcel_id, lambda p: p.request_return(
            reason, seller_fault, occurred_at, unconditional, return_shipping_cost, actor),
            expected_version)

    def route_return(self, parcel_id: UUID, occurred_at: datetime,
                     remedy: str | None = None, actor: str = "system",
                     expected_version: int | None = None) -> CommandResult:
        """The ledger decides where the parcel goes back to and who pays."""
        chosen = choice(Remedy, remedy, "remedy") if remedy else None

        def route(parcel: ReturnParcel) -> dict[str, Any]:
            parcel.check_allowed("route_return")  # the state first, then the platform's rules
            addresses = self._address_facts(parcel.seller_id)
            facts = parcel.facts(customs_skus=self._customs_skus(parcel))
            decision = self._policy(parcel).route(facts, addresses, occurred_at, chosen)
            parcel.route_return(decision, occurred_at, actor)
            return {"decision": decision}

        return self._act(parcel_id, route, expected_version)

    def request_redelivery(self, parcel_id: UUID, occurred_at: datetime,
                           actor: str = "system",
                           expected_version: int | None = None) -> CommandResult:
        """The buyer asks for another delivery from the warehouse (TT-2, TT-4)."""
        return self._act(parcel_id, lambda p: p.request_redelivery(
            self._policy(p), occurred_at, actor), expected_version)

    def issue_return_label(self, parcel_id: UUID, carrier: str, tracking_number: str,
                           occurred_at: datetime, tracking_url: str | None = None,
                           actor: str = "system",
                           expected_version: int | None = None) -> CommandResult:
        """The seller's return label (AM-1, CD-4; CD-2 keeps it unchanged)."""
        return self._act(parcel_id, lambda p: p.issue_return_label(
            carrier, tracking_number, self._policy(p), occurred_at, tracking_url, actor),
            expected_version)

    def record_return_failure(self, parcel_id: UUID, cause: str, occurred_at: datetime,
                              actor: str = "system",
                              expected_version: int | None = None) -> CommandResult:
        """The return to the seller failed (TT-5)."""
        return self._act(parcel_id, lambda p: p.record_return_failure(
            cause, self._policy(p), occurred_at, actor), expected_version)

    def receive(self, parcel_id: UUID, occurred_at: datetime, location: str = "seller",
                received_by: str = "seller", actor: str = "system",
                expected_version: int | None = None) -> CommandResult:
        """The seller has the parcel back."""
        return self._act(parcel_id, lambda p: p.receive(
            self._policy(p), occurred_at, location, received_by, actor), expected_version)

    def inspect(self, parcel_id: UUID, condition: str, occurred_at: datetime,
                restock: bool | None = None, actor: str = "system",
                expected_version: int | None = None) -> CommandResult:
        """Record the item's condition and the restock decision (AM-1)."""
        return self._act(parcel_id, lambda p: p.inspect(condition, occurred_at, restock, actor),
                         expected_version)

    def request_refund(self, parcel_id: UUID, reference: str,
                       components: list[RefundComponent], occurred_at: datetime,
                       actor: str = "system",
                       expected_version: int | None = None) -> CommandResult:
        """A refund: issued at once below the AM-4 threshold, else it waits for approval."""
        return self._act(parcel_id, lambda p: {"refund": p.request_refund(
            reference, components, self._policy(p), occurred_at, actor)}, expected_version)

    def approve_refund(self, parcel_id: UUID, reference: str, occurred_at: datetime,
                       actor: str = "system",
                       expected_version: int | None = None) -> CommandResult:
        """A second person approves a large refund (AM-4); it is then issued."""
        return self._act(parcel_id, lambda p: {"refund": p.approve_refund(
            reference, occurred_at, actor)}, expected_version)

    def reject_refund(self, parcel_id: UUID, reference: str, reason: str,
                      occurred_at: datetime, actor: str = "system",
                      expected_version: int | None = None) -> CommandResult:
        """Finance refuses a refund waiting for approval (AM-4); its amount is released."""
        return self._act(parcel_id, lambda p: {"refund": p.reject_refund(
            reference, reason, occurred_at, actor)}, expected_version)

    def record_refund_failure(self, parcel_id: UUID, reference: str, reason: str,
                              occurred_at: datetime, actor: str = "system",
                              expected_version: int | None = None) -> CommandResult:
        """The payment of an issued refund failed (AM-3: no longer committed)."""
        return self._act(parcel_id, lambda p: {"refund": p.record_refund_failure(
            reference, reason, occurred_at, actor)}, expected_version)

    def reverse_refund(self, parcel_id: UUID, reference: str, reason: str,
                       occurred_at: datetime, actor: str = "system",
                       expected_version: int | None = None) -> CommandResult:
        """An issued refund came back, e.g. charged back (AM-3: available again)."""
        return self._act(parcel_id, lambda p: {"refund": p.reverse_refund(
            reference, reason, occurred_at, actor)}, expected_version)

    def dispose(self, parcel_id: UUID, kind: str, occurred_at: datetime,
                actor: str = "system", expected_version: int | None = None) -> CommandResult:
        """Destroy or abandon the parcel (TT-2 after the hold, TT-5 after a failed return)."""
        return self._act(parcel_id, lambda p: p.dispose(kind, self._policy(p), occurred_at,
                                                        actor), expected_version)

    def close_parcel(self, parcel_id: UUID, occurred_at: datetime, actor: str = "system",
                     expected_version: int | None = None) -> CommandResult:
        """Nothing more will happen to this parcel."""
        return self._act(parcel_id, lambda p: p.close(occurred_at, actor), expected_version)

    def open_investigation(self, parcel_id: UUID, kind: str, occurred_at: datetime,
                           actor: str = "system",
                           expected_version: int | None = None) -> CommandResult:
        """A ticket: false return (TT-6) or failed return not the seller's fault (TT-5)."""
        return self._act(parcel_id, lambda p: {"investigation_id": p.open_investigation(
            kind, occurred_at, actor)}, expected_version)

    def resolve_investigation(self, parcel_id: UUID, investigation_id: str, outcome: str,
                              liability: str, occurred_at: datetime, actor: str = "system",
                              expected_version: int | None = None) -> CommandResult:
        """The platform's finding, and who bears the loss."""
        return self._act(parcel_id, lambda p: p.resolve_investigation(
            investigation_id, outcome, liability, occurred_at, actor), expected_version)

    # -- parcel queries -----------------------------------------------------------
    def get_parcel(self, parcel_id: UUID, version: int | None = None) -> ParcelView:
        """A parcel's state now (or at a version)."""
        return ParcelView.of(self._get_parcel(parcel_id, version))

    def find_parcel(self, tracking_number: str, platform: str | None = None) -> ParcelView:
        """Look a parcel up by its tracking number (on one platform or any)."""
        platforms = [choice(Platform, platform, "platform")] if platform else list(Platform)
        for candidate in platforms:
            try:
                return self.get_parcel(parcel_id(candidate.value, tracking_number))
            except ParcelNotFoundError:
                continue
        raise ParcelNotFoundError(tracking_number)

    def get_parcel_history(self, parcel_id: UUID, recorded_before: datetime | None = None,
                           version: int | None = None,
                           occurred_before: datetime | None = None) -> ParcelHistory:
        """The parcel's events and state as the ledger knew them (recorded <= T, version <= N),
        optionally cut and ordered by business time (occurred_at <= T)."""
        events = list(self.events.get(parcel_id))
        if not events:  # any aggregate's history: auditors also replay return addresses
            raise ParcelNotFoundError(parcel_id)
        return build_history(parcel_id, events, recorded_before=recorded_before,
                             version=version, occurred_before=occurred_before,
                             state_of=self._state_view, vault=self.vault)

    def _state_view(self, aggregate: Any) -> Any:
        if isinstance(aggregate, ReturnParcel):
            return ParcelView.of(aggregate)
        return self._address_view(aggregate) if isinstance(aggregate, ReturnAddress) else None

    # -- return addresses -----------------------------------------------------------
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
        self._save(directory, return_address)
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
        self._save(address)
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
        self._save(address)
        return self._address_view(address)

    def deactivate_return_address(self, address_id: UUID, reason: str, occurred_at: datetime,
                                  actor: str = "system") -> ReturnAddressView:
        """The seller stops using an address."""
        address = self._get_address(address_id)
        address.deactivate(reason, occurred_at, actor)
        self._save(address)
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
        stored = self._stored_versions([directory_id, *ids])
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

    # -- SKU customs profiles (LZ-2) ------------------------------------------------------
    def set_customs_profile(self, *, seller_id: str, sku: str, hs_code: str,
                            declared_name_local: str, declared_name_en: str,
                            declared_value: Money, material: str, use: str, brand: str,
                            occurred_at: datetime, similar_product: bool = False,
                            actor: str = "system") -> CustomsProfileView:
        """Enter (or correct) a SKU's customs data once; later returns reuse it."""
        profile = check_profile(hs_code, declared_name_local, declared_name_en,
                                declared_value, material, use, brand)
        try:
            existing = self.repository.get(customs_profile_id(seller_id, sku))
        except AggregateNotFoundError:
            existing = SkuCustomsProfile.create(seller_id, sku, profile, similar_product,
                                                occurred_at, actor)
        else:
            existing.update(profile, similar_product, occurred_at, actor)
        self._save(existing)
        return self._customs_view(existing)

    def get_customs_profile(self, seller_id: str, sku: str) -> CustomsProfileView:
        try:
            profile = self.repository.get(customs_profile_id(seller_id, sku))
        except AggregateNotFoundError:
            raise CustomsProfileNotFoundError(f"{seller_id}/{sku}") from None
        return self._customs_view(profile)

    def _customs_skus(self, parcel: ReturnParcel) -> frozenset[str]:
        if not self._policy(parcel).uses_customs_facts:
            return frozenset()  # one read per SKU saved where no rule looks at them
        known = set()
        for line in parcel.lines:
            if customs_profile_id(parcel.seller_id, line.sku) in self.repository:
                known.add(line.sku)
        return frozenset(known)

    @staticmethod
    def _customs_view(p: SkuCustomsProfile) -> CustomsProfileView:
        return CustomsProfileView(p.seller_id, p.sku, dict(p.profile), p.similar_product,
                                  p.version)

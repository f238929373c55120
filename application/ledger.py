"""ReturnsLedger: one method per command and per query; load, act, save.

Everything is saved through `save()`, the one save path: the idempotency row of a
pending key, group commit and the mapping of a version stored twice to a conflict
apply to every aggregate, parcels, addresses, reconciliations and API keys alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    JSONTranscoder,
    Recording,
)
from eventsourcing.utils import Environment

from application.access import ApiKeys
from application.addresses import ReturnAddresses
from application.audit.history import ParcelHistory, build_history
from application.command_cache import CommandCache, ParcelCommand
from application.corrections import ParcelCorrectionCommands
from application.customs import CustomsProfiles
from application.dto import CommandResult, ParcelView
from application.idempotency import IdempotentCommands
from application.imports.provenance import saved as saved_source
from application.imports.provenance import stamp_events
from application.orders import OrderStages
from application.privacy import PersonalDataVault, load_master_key, previous_master_keys
from application.remedies import ParcelRemedyCommands
from application.save_batch import BatchedSaves, current_batch
from application.settings import Settings, settings_of
from domain.address import ReturnAddress
from domain.errors import (
    DomainError,
    DuplicateAggregateError,
    DuplicateParcelError,
    ParcelNotFoundError,
    VersionConflictError,
)
from domain.messages import BuyerQuestion
from domain.money import Money
from domain.order import Order
from domain.parcel import ReturnParcel, parcel_id
from domain.plausibility import check_not_in_future
from domain.policies import Policies
from domain.values import Line, Platform, RefundComponent, Remedy, choice
from infrastructure.group_commit import GroupCommitter
from infrastructure.hash_chain import ChainedEventStore, ChainedMapper
from infrastructure.persistence import LedgerRecorder, factory_for
from infrastructure.seam import save_collected
from infrastructure.transcodings import MoneyAsDict

SaveListener = Callable[[list[Recording[UUID]]], None]
# Aggregates whose events carry business times that RL-3 holds to the ledger's clock.
BUSINESS_AGGREGATES = (ReturnParcel, Order, BuyerQuestion)


class ReturnsLedger(BatchedSaves, ApiKeys, IdempotentCommands, ReturnAddresses, CustomsProfiles,
                    OrderStages, ParcelCorrectionCommands, ParcelRemedyCommands, CommandCache,
                    Application[UUID]):
    """The returns ledger: parcels, return addresses and SKU customs profiles."""

    name = "ReturnsLedger"
    recorder: LedgerRecorder  # type: ignore[assignment]  # the library's, with our extras

    def __init__(self, env: Settings | Mapping[str, Any] | None = None) -> None:
        self.settings = settings_of(env)
        super().__init__(self.settings.env)
        self.policies = Policies(self.settings.policies)
        self.command_cache = self.settings.command_cache
        self.vault = PersonalDataVault(load_master_key(self.settings.env),
                                       self.recorder.subject_keys,
                                       previous_master_keys(self.settings.env))
        # GROUP_COMMIT=yes: concurrent commands share transactions (infrastructure/group_commit.py).
        self.group_commit = (GroupCommitter(self._store_group) if self.settings.group_commit
                             else None)
        self.save_listeners: list[SaveListener] = []
        # The store's identity, made with its tables (db init); views are bound to it.
        self.store_id = self.recorder.store_identity(create=self.settings.creates_tables)
        # Keys' rows need the table of this version's `db init` (else records, as before).
        self.idempotency_rows = self.recorder.has_idempotency_table()

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        return factory_for(env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MoneyAsDict())

    # Every stored event carries the hash of its predecessor (see infrastructure/hash_chain.py).
    def construct_mapper(self) -> ChainedMapper:
        return ChainedMapper.wrap(super().construct_mapper())

    def construct_event_store(self) -> ChainedEventStore:
        assert isinstance(self.mapper, ChainedMapper)  # construct_mapper's, above
        return ChainedEventStore(self.mapper, self.recorder, self.settings.chain_cache_size)

    # -- the one save path ---------------------------------------------------------------
    def save(self, *objs: Any, handed_over: bool = False, keys_too: Sequence[Any] = (),
             **kwargs: Any) -> list[Recording[UUID]]:
        """Save the aggregates' new events in one transaction, with the idempotency row
        of the request's key when one is pending (grouped with concurrent commands' saves
        when GROUP_COMMIT=yes). A version already stored (a concurrent change, or a new
        aggregate that exists) raises VersionConflictError or DuplicateAggregateError.
        `handed_over`: the caller neither reads nor changes the aggregates after the save,
        so the command cache keeps them as they are instead of a copy. `keys_too`: the
        idempotency rows of commands saved together (a save batch, application/save_batch.py)."""
        aggregates, keys = self._with_record(*[o for o in objs if o is not None])
        keys = [*keys, *keys_too]
        if not any(a.pending_events for a in aggregates):
            return []
        # RL-3: no business time of a parcel, an order or a question in the future (the one
        # clock read of a command; the ledger's own records keep their own clocks).
        check_not_in_future((e for a in aggregates if isinstance(a, BUSINESS_AGGREGATES)
                             for e in a.pending_events), datetime.now(UTC))
        # An import's line: its events carry the raw record's reference (application/imports/).
        stamped = stamp_events(e for a in aggregates if isinstance(a, ReturnParcel)
                               for e in a.pending_events)
        batch = current_batch(self)
        if batch is not None:  # recorded with the others by flush() (application/save_batch.py)
            batch.add(aggregates, keys)
            self._saved([])
            saved_source(stamped)
            return []
        first = {a.id: a.pending_events[0].originator_version
                 for a in aggregates if a.pending_events}
        try:
            if self.group_commit is None:
                events = [e for a in aggregates for e in a.collect_events()]
                recordings = self._store_group(events, list(aggregates), keys, **kwargs)
            else:
                recordings = self.group_commit.save(aggregates, keys)
        except IntegrityError:
            raise self._conflict(first) from None
        self._remember_saved(aggregates, handed_over)
        self._saved(recordings)
        saved_source(stamped)
        for listener in self.save_listeners:
            listener(recordings)
        return recordings

    def _conflict(self, first: dict[UUID, int]) -> DomainError:
        """Which aggregate's version was stored first by someone else: a new one that exists
        already, or a concurrent change of an existing one (asked only after a failure)."""
        stored = self.recorder.max_versions(list(first))
        for aggregate_id, version in first.items():
            if stored.get(aggregate_id, 0) >= version:
                return (DuplicateAggregateError(aggregate_id) if version == 1
                        else VersionConflictError(aggregate_id))
        return VersionConflictError(next(reversed(first)))

    def _store_group(self, events: list[Any], aggregates: list[Any], keys: list[Any],
                     **kwargs: Any) -> list[Recording[UUID]]:
        """Record one or several commands' (collected) events and their keys' rows in one
        transaction: the library's save, without its per-object Protocol checks (the
        objects here are aggregates)."""
        if keys:
            kwargs["idempotency"] = keys
        return save_collected(self, events, aggregates, **kwargs)

    # -- loading and acting -----------------------------------------------------------------
    def _get_parcel(self, parcel_id: UUID, version: int | None = None) -> ReturnParcel:
        try:
            parcel = (self._get_copy(parcel_id) if version is None
                      else self.repository.get(parcel_id, version=version))
        except AggregateNotFoundError:
            raise ParcelNotFoundError(parcel_id) from None
        if not isinstance(parcel, ReturnParcel):  # an address's or a key's id, say
            raise ParcelNotFoundError(parcel_id)
        return parcel

    def _act_on(self, parcel: ReturnParcel, command: ParcelCommand,
                expected_version: int | None) -> CommandResult:
        parcel_id = parcel.id
        if expected_version is not None and parcel.version != expected_version:
            raise VersionConflictError(parcel_id, expected_version, parcel.version)
        extra = command(parcel) or {}
        self._note_extra(extra)
        return self._save_parcel(parcel, extra)

    def _save_parcel(self, parcel: ReturnParcel,
                     extra: dict[str, Any] | None = None) -> CommandResult:
        """Save the parcel's new events, if any, and answer. The answer is read before the
        save: the parcel is handed over to the cache (no copy), where another thread's
        read may move it on."""
        answer = CommandResult(parcel.id, parcel.version, parcel.status.value, None,
                               extra or {})
        if not parcel.pending_events:
            return answer
        recordings = self.save(parcel, handed_over=True)
        if not recordings:
            return answer
        return dataclasses.replace(answer, position=recordings[-1].notification.id)

    def _policy(self, parcel: ReturnParcel) -> Any:
        return self.policies.for_platform(parcel.platform)

    # Commands decide on the aggregate and record events; they must have NO effect outside
    # the transaction that saves those events (no e-mail, no HTTP call, no file, no other
    # table): a command may run twice, once on the cached copy and again on the parcel as
    # stored (application/command_cache.py), and only the saved run counts.
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
            return self._save_parcel(parcel)
        except DuplicateAggregateError:
            raise DuplicateParcelError(parcel.id) from None

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
                       expected_version: int | None = None,
                       outside_window_accepted: bool = False) -> CommandResult:
        """The buyer asks to send the item back (AM-1, CD-4; AM-5's window)."""
        return self._act(parcel_id, lambda p: p.request_return(
            reason, seller_fault, occurred_at, unconditional, return_shipping_cost, actor,
            self._policy(p), outside_window_accepted), expected_version)

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
                           actor: str = "system", expected_version: int | None = None,
                           requested_by: str = "buyer") -> CommandResult:
        """The buyer asks for another delivery from the warehouse (TT-2, TT-4; TT-8: the
        request records who asked, and the seller may not)."""
        return self._act(parcel_id, lambda p: p.request_redelivery(
            self._policy(p), occurred_at, actor, requested_by), expected_version)

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

    def check_disposal(self, parcel_id: UUID, kind: str, occurred_at: datetime,
                       actor: str = "system") -> None:
        """What `dispose` would decide, recording nothing (a dry run): raises its refusal."""
        parcel = self._get_parcel(parcel_id)  # a copy: the cached parcel stays as it was
        parcel.dispose(kind, self._policy(parcel), occurred_at, actor)

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

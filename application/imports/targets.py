"""Which parcel an import line is for: by id, by tracking number, by platform order.

A parcel's own tracking number names it (domain.parcel.parcel_id, on its platform). A
return label's tracking number and a platform order id do not: they are looked up in an
index of the event log's ParcelRegistered and ReturnLabelIssued events (the import
tables' `ledger_import_targets`), caught up from the log before it is asked, so a label
issued a moment ago, by the API or earlier in the same file, is found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from application.save_batch import current_batch
from domain.errors import DomainError, InvalidValueError, ParcelNotFoundError
from domain.parcel import ReturnParcel, parcel_id
from domain.values import Platform

REGISTERED = "domain.parcel:ReturnParcel.ParcelRegistered"
LABEL_ISSUED = "domain.parcel:ReturnParcel.ReturnLabelIssued"
PAGE = 1000
EXISTS_HELD = 10_000  # parcel ids known to exist, held at most


class AmbiguousTargetError(DomainError):
    """A platform order with more than one parcel: the line must name the parcel."""

    def __init__(self, what: str, count: int) -> None:
        super().__init__(f"{what} names {count} parcels: give the parcel's tracking number "
                         "or id")


@dataclass(frozen=True)
class Resolved:
    """The parcel a command is for, and whether the tracking number was its return label's."""

    parcel_id: UUID
    return_leg: bool = False


class Targets:
    """Resolves a line's target against the ledger and the index."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.store = ledger.recorder.imports
        self._platforms = [p.value for p in Platform]
        self._exists: set[UUID] = set()  # parcels seen stored (a parcel never goes away)
        self._absent: set[UUID] = set()  # parcel ids not stored when the batch began

    def catch_up(self) -> None:
        """Index the registrations and return labels recorded since the last look."""
        position = self.store.targets_position()
        while True:
            page = list(self.ledger.recorder.select_notifications(
                position + 1, PAGE, topics=(REGISTERED, LABEL_ISSUED)))
            if not page:
                return
            rows = []
            for notification in page:
                rows.extend(self._rows_of(notification))
            position = page[-1].id
            self.store.add_targets(rows, position)
            if len(page) < PAGE:
                return

    def _rows_of(self, notification: Any) -> list[tuple[str, str, str, str, str]]:
        try:
            event = self.ledger.mapper.to_domain_event(notification)
        except Exception:  # noqa: BLE001 - a damaged event is the audit's finding, not ours
            return []
        pid = str(event.originator_id)
        if isinstance(event, ReturnParcel.ParcelRegistered):
            return [("order", event.platform, f"{event.seller_id}\n{event.order_id}", pid,
                     event.seller_id)]
        if isinstance(event, ReturnParcel.ReturnLabelIssued):
            parcel = self.ledger.get_parcel(event.originator_id)
            return [("label", parcel.platform, event.tracking_number, pid, parcel.seller_id)]
        return []

    def prefetch(self, targets: list[dict[str, Any]], also: list[UUID]) -> set[UUID]:
        """Which parcels named by their own tracking number exist, asked in one query with
        `also` (the idempotency records of a batch): those of `also` that exist."""
        wanted = set(also)
        for target in targets:
            number, platform = target.get("tracking_number"), target.get("platform") or None
            if number and not target.get("parcel_id") and (
                    platform is None or platform in self._platforms):
                wanted.update(parcel_id(p, str(number))
                              for p in ([platform] if platform else self._platforms))
        found = set(self.ledger.recorder.max_versions(list(wanted)))
        if len(self._exists) >= EXISTS_HELD:
            self._exists.clear()
        self._exists.update(found - set(also))
        self._absent = wanted - found  # as of this batch (it may register some itself)
        return found & set(also)

    def resolve(self, target: dict[str, Any], seller: str | None) -> Resolved:
        """The parcel, or ParcelNotFoundError / AmbiguousTargetError as the API would say."""
        if target.get("parcel_id"):
            try:
                return Resolved(UUID(str(target["parcel_id"])))
            except ValueError:
                raise InvalidValueError("parcel_id", "must be a UUID") from None
        for name in ("tracking_number", "order_id"):  # no parcel can have it: not waited for
            if "\x00" in str(target.get(name) or ""):
                raise InvalidValueError(name, "holds a NUL: no parcel has it")
        platform = target.get("platform") or None
        if platform is not None and platform not in self._platforms:
            raise InvalidValueError("platform", f"must be one of {', '.join(self._platforms)}")
        number = target.get("tracking_number")
        if number:
            return self._by_tracking_number(str(number), platform, seller)
        order = target.get("order_id")
        if order and platform:
            return self._by_order(str(order), platform, target.get("seller_id") or seller)
        raise ParcelNotFoundError("the line names no parcel")

    def _by_tracking_number(self, number: str, platform: str | None,
                            seller: str | None) -> Resolved:
        # Without a platform (a carrier does not know the marketplace) the number is looked
        # for on every platform: two sellers may have it on two (one of them registering
        # another's number), and the line is the scope's seller's; an admin's is ambiguous.
        batch = current_batch(self.ledger)
        found = [pid for pid in (parcel_id(candidate, number) for candidate in (
            [platform] if platform else self._platforms)) if self._stored(pid, batch)]
        if len(found) > 1 and seller is not None:
            found = [pid for pid in found if self._seller_of(pid, batch) == seller] or found
        if len(found) > 1:
            raise AmbiguousTargetError(f"tracking number {number}", len(found))
        if found:
            return Resolved(found[0])
        found_label = self._lookup("label", number, platform, seller)
        if found_label is None:
            raise ParcelNotFoundError(number)
        return Resolved(found_label, return_leg=True)

    def _stored(self, pid: UUID, batch: Any) -> bool:
        if pid in self._exists or (batch is not None and batch.get(pid) is not None):
            return True
        if pid in self._absent and batch is not None:  # asked with the batch's look-ups
            return False
        if self.ledger.recorder.max_versions([pid]):
            if len(self._exists) >= EXISTS_HELD:  # memory stays flat
                self._exists.clear()
            self._exists.add(pid)
            return True
        return False

    def _seller_of(self, pid: UUID, batch: Any) -> str:
        parcel = batch.get(pid) if batch is not None else None
        return str((parcel or self.ledger.get_parcel(pid)).seller_id)

    def _by_order(self, order: str, platform: str, seller: str | None) -> Resolved:
        if seller is None:
            raise ParcelNotFoundError(f"order {order}: the line's seller is not known")
        found = self._lookup("order", f"{seller}\n{order}", platform, seller)
        if found is None:
            raise ParcelNotFoundError(f"order {order}")
        return Resolved(found)

    def _lookup(self, kind: str, key: str, platform: str | None,
                seller: str | None) -> UUID | None:
        rows = self._matching(kind, key, platform, seller)
        if not rows:
            self.catch_up()
            rows = self._matching(kind, key, platform, seller)
        ids = sorted({r["parcel_id"] for r in rows})
        if len(ids) > 1:
            raise AmbiguousTargetError(f"{kind} {key.splitlines()[-1]}", len(ids))
        return UUID(ids[0]) if ids else None

    def _matching(self, kind: str, key: str, platform: str | None,
                  seller: str | None) -> list[dict[str, Any]]:
        if "\x00" in key:  # never indexed (no store keeps it), and PostgreSQL refuses it
            return []
        rows = self.store.find_targets(kind, key, platform)
        return [r for r in rows if seller is None or r["seller_id"] == seller]

"""A parcel's history and state as the ledger knew it at a moment, a version or a business time."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, overload
from uuid import UUID

from application.dto import HistoryEntry
from application.privacy import ERASED, PersonalDataVault

VIEW_RECORDED = "recorded"  # events in the order the ledger recorded them
VIEW_BUSINESS = "business"  # events in the order they happened (occurred_at)


@dataclass(frozen=True)
class ParcelHistory(Sequence[HistoryEntry]):
    """The events an auditor asked for, and the state they add up to."""

    parcel_id: UUID
    events: tuple[HistoryEntry, ...]
    state: Any | None
    view: str = VIEW_RECORDED
    recorded_before: datetime | None = None
    version: int | None = None
    occurred_before: datetime | None = None
    damage: tuple[str, ...] = ()  # what is missing, extra or does not apply, and where

    @property
    def damaged(self) -> bool:
        return bool(self.damage)

    @overload
    def __getitem__(self, index: int) -> HistoryEntry: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[HistoryEntry]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self.events[index]

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.events)

    @property
    def late_recorded(self) -> list[HistoryEntry]:
        """Events recorded after another event that happened later than they did."""
        return [e for e in self.events if e.late is not None]


def build_history(parcel_id: UUID, domain_events: list[Any], *,
                  recorded_before: datetime | None = None, version: int | None = None,
                  occurred_before: datetime | None = None,
                  state_of: Callable[[Any], Any],
                  vault: PersonalDataVault | None = None) -> ParcelHistory:
    """Filter what the ledger knew (recorded time, version), then optionally by business time."""
    known = [e for e in domain_events
             if (recorded_before is None or e.timestamp <= recorded_before)
             and (version is None or e.originator_version <= version)]
    late = _late_records(known)
    view = VIEW_RECORDED
    chosen = known
    if occurred_before is not None:
        view = VIEW_BUSINESS
        chosen = [e for e in known if _occurred(e) <= occurred_before]
    entries = [_entry(e, late.get(e.originator_version), vault) for e in chosen]
    if view == VIEW_BUSINESS:
        entries.sort(key=lambda h: (h.occurred_at or h.recorded_at, h.version))
    damage = _gaps(domain_events)
    aggregate = None
    if not damage:
        aggregate, failure = _fold(chosen, renumber=len(chosen) != len(known))
        damage = (failure,) if failure else ()
    return ParcelHistory(parcel_id, tuple(entries),
                         None if aggregate is None else state_of(aggregate), view,
                         recorded_before, version, occurred_before, damage)


def _gaps(events: list[Any]) -> tuple[str, ...]:
    """Versions missing or stored twice: the stored events are not one unbroken sequence."""
    found: list[str] = []
    expected = 1
    for e in events:
        v = e.originator_version
        if v < expected:
            found.append(f"v{v} {type(e).__name__} is extra: v{v} was already stored")
            continue
        if v > expected:
            missing = f"v{expected}" if v == expected + 1 else f"v{expected}..v{v - 1}"
            found.append(f"{missing} missing: v{expected - 1} is followed by v{v}")
        expected = v + 1
    return tuple(found)


def _occurred(domain_event: Any) -> datetime:
    return getattr(domain_event, "occurred_at", None) or domain_event.timestamp


def _late_records(events: list[Any]) -> dict[int, dict[str, Any]]:
    """A carrier scan can arrive after events that happened later: say where it was recorded."""
    late: dict[int, dict[str, Any]] = {}
    for i, current in enumerate(events):
        happened = _occurred(current)
        earlier = next((e for e in events[:i] if _occurred(e) > happened), None)
        if earlier is not None:
            late[current.originator_version] = {
                "recorded_as_version": current.originator_version,
                "recorded_at": current.timestamp.isoformat(),
                "recorded_after_version": events[i - 1].originator_version,
                "occurred_before_version": earlier.originator_version,
                "occurred_before_type": type(earlier).__name__,
            }
    return late


def history_entry(domain_event: Any, vault: PersonalDataVault | None) -> HistoryEntry:
    """One event as a history shows it (personal data sealed, or erased), without the
    late-record note, which needs the aggregate's other events (the events feed uses it)."""
    return _entry(domain_event, None, vault)


def _entry(domain_event: Any, late: dict[str, Any] | None,
           vault: PersonalDataVault | None) -> HistoryEntry:
    entry = replace(HistoryEntry.of(domain_event), late=late)
    sealed, subject = entry.data.get("sealed_identity"), entry.data.get("subject_id")
    if vault is not None and isinstance(sealed, dict) and subject and vault.is_erased(subject):
        # Crypto-shredded: the ciphertext is still stored (and hashed), but unreadable.
        entry = replace(entry, data={**entry.data,
                                     "sealed_identity": {k: ERASED for k in sealed}})
    return entry


def _fold(events: list[Any], renumber: bool) -> tuple[Any | None, str | None]:
    """Apply the events in recorded order; a business-time subset is renumbered 1..n.

    An event that does not apply (a forged or misplaced one) ends the replay: no state,
    and what failed where.
    """
    aggregate = None
    if not events or events[0].originator_version != 1:
        return None, None  # nothing known yet, or the creation happened after the cut
    for number, domain_event in enumerate(events, start=1):
        original = domain_event
        if renumber:
            copy = object.__new__(type(domain_event))
            object.__setattr__(copy, "__dict__",
                               {**vars(domain_event), "originator_version": number})
            domain_event = copy
        try:
            aggregate = domain_event.mutate(aggregate)
        except Exception as error:  # noqa: BLE001 - any failure to apply is reported as damage
            return None, (f"v{original.originator_version} {type(original).__name__} does not "
                          f"apply to the state before it: {type(error).__name__}: {error}")
    return aggregate, None

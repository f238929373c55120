"""The audit service: the ledger digest, and verification of the stored hash chains."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from application.audit.report import (
    DIGEST_MISMATCH,
    HASH_MISMATCH,
    MISSING_VERSION,
    OUT_OF_ORDER,
    TRUNCATED,
    UNREADABLE,
    Breach,
    LedgerDigest,
    Verification,
)
from domain.errors import ParcelNotFoundError
from infrastructure.hash_chain import GENESIS, PREV_HASH, next_digest, stored_hash

PAGE_SIZE = 500


class LedgerAudit:
    """Reads what is really stored and checks it; changes nothing."""

    def __init__(self, ledger: Any, page_size: int = PAGE_SIZE) -> None:
        self.ledger = ledger
        self.recorder = ledger.recorder
        self.mapper = ledger.mapper
        self.page_size = page_size

    # -- reading ------------------------------------------------------------------
    def notifications(self, stop: int | None = None) -> Iterator[Notification]:
        """Every stored event in notification id order, a page at a time."""
        last = 0
        while True:
            page = self.recorder.select_notifications(last, self.page_size, stop=stop,
                                                      inclusive_of_start=False)
            yield from page
            if len(page) < self.page_size:
                return
            last = page[-1].id

    def prev_hash_of(self, stored: StoredEvent) -> str | None:
        """The prev_hash recorded inside a stored event's state."""
        state = bytes(stored.state)
        try:
            if self.mapper.cipher:
                state = self.mapper.cipher.decrypt(state)
            if self.mapper.compressor:
                state = self.mapper.compressor.decompress(state)
            value = json.loads(state).get(PREV_HASH)
        except Exception:  # noqa: BLE001 - any failure to read is reported as unreadable
            return None
        return value if isinstance(value, str) else None

    # -- the digest -----------------------------------------------------------------
    def digest(self, position: int | None = None) -> LedgerDigest:
        """The running hash over all stored events up to `position` (default: the last)."""
        digest, last, count = GENESIS, 0, 0
        for n in self.notifications(stop=position):
            digest, last, count = next_digest(digest, n.id, stored_hash(n)), n.id, count + 1
        return LedgerDigest(last, digest, count)

    # -- verification -----------------------------------------------------------------
    def verify_parcel(self, aggregate_id: UUID) -> Verification:
        """Recompute one aggregate's chain, version by version."""
        rows = list(self.recorder.select_events(aggregate_id))
        if not rows:
            raise ParcelNotFoundError(aggregate_id)
        breach = self.chain_breach(rows)
        head = None if breach else stored_hash(rows[-1])
        notes = [] if breach else ["a removed or rewritten tail shows only against a digest "
                                   "taken before (audit verify --all --against DIGEST)"]
        return Verification(f"aggregate {aggregate_id}", len(rows), breach, head, notes=notes)

    def chain_breach(self, rows: Sequence[StoredEvent]) -> Breach | None:
        """The first broken link of one aggregate's events (ordered by version)."""
        prev = GENESIS
        for expected, row in enumerate(rows, start=1):
            where = {"originator_id": str(row.originator_id), "version": expected}
            if row.originator_version != expected:
                return Breach(MISSING_VERSION, f"version {expected} is missing: the next "
                              f"stored version is {row.originator_version}", **where)
            recorded = self.prev_hash_of(row)
            if recorded is None:
                return Breach(UNREADABLE, "the stored state has no readable prev_hash", **where)
            if recorded != prev:
                return self._misplaced(rows, row, recorded) or Breach(
                    HASH_MISMATCH, f"v{expected} records prev_hash {recorded[:16]}... but "
                    f"v{expected - 1} as stored hashes to {prev[:16]}...: v{expected - 1} "
                    f"was altered, or v{expected} was", **where)
            prev = stored_hash(row)
        return None

    @staticmethod
    def _misplaced(rows: Sequence[StoredEvent], row: StoredEvent,
                   recorded: str) -> Breach | None:
        """Out of order: the predecessor this event recorded is stored under another version."""
        for other in rows:
            for version in range(1, len(rows) + 1):
                if version == other.originator_version:
                    continue
                probe = StoredEvent(other.originator_id, version, other.topic, other.state)
                if stored_hash(probe) == recorded:
                    return Breach(OUT_OF_ORDER, f"the event stored as v{other.originator_version}"
                                  f" was recorded as v{version}, before v"
                                  f"{row.originator_version}", str(row.originator_id),
                                  row.originator_version)
        return None

    def verify_all(self, against_digest: str | None = None) -> Verification:
        """Every aggregate's chain along the notification log, and the digest if given."""
        anchor = LedgerDigest.parse(against_digest) if against_digest else None
        heads: dict[Any, tuple[int, str]] = {}
        digest, last, count, at_anchor = GENESIS, 0, 0, None
        for n in self.notifications():
            breach = self._link_breach(n, heads.get(n.originator_id))
            if breach is not None:
                return Verification("all", count, breach)
            heads[n.originator_id] = (n.originator_version, stored_hash(n))
            digest, last, count = next_digest(digest, n.id, heads[n.originator_id][1]), n.id, \
                count + 1
            if anchor and n.id <= anchor[0]:
                at_anchor = (n.id, digest)
        result = LedgerDigest(last, digest, count)
        if anchor is None:
            return Verification("all", count, None, digest, result, notes=[
                "not checked against an earlier digest: a removed or rewritten tail would "
                "pass (give --against DIGEST)"])
        return Verification("all", count, self._anchor_breach(anchor, at_anchor, last),
                            digest, result, anchored=True)

    def _link_breach(self, n: Notification, head: tuple[int, str] | None) -> Breach | None:
        expected, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        if n.originator_version == expected and self.prev_hash_of(n) == prev:
            return None
        # Something is wrong with this aggregate: diagnose it along its versions.
        rows = list(self.recorder.select_events(n.originator_id))
        breach = self.chain_breach(rows)
        if breach is not None:
            return breach
        return Breach(OUT_OF_ORDER, f"v{n.originator_version} is stored at notification "
                      f"{n.id}, where v{expected} was expected next",
                      str(n.originator_id), n.originator_version, n.id)

    @staticmethod
    def _anchor_breach(anchor: tuple[int, str], at_anchor: tuple[int, str] | None,
                       last: int) -> Breach | None:
        position, expected = anchor
        if last < position:
            return Breach(TRUNCATED, f"the store ends at position {last}, before the "
                          f"digest's position {position}: events at the tail were removed",
                          position=last)
        found = at_anchor[1] if at_anchor else GENESIS
        if found != expected:
            return Breach(DIGEST_MISMATCH, f"the events up to position {position} no longer "
                          f"add up to the digest taken then ({expected[:16]}...): an event "
                          f"at or before it was altered, removed or rewritten",
                          position=position)
        return None

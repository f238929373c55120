"""The audit service: the ledger digest, and verification of the stored hash chains.

Everything here reads the event table exactly as stored (infrastructure/stored_rows.py),
never through the library's reads, which normalise ids and fail on an unreadable row: a
row in any form other than the one the ledger writes is a breach at its position.
"""

from __future__ import annotations

import hashlib
import json
import re
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from application.audit.report import (
    DIGEST_MISMATCH,
    DUPLICATE_VERSION,
    HASH_MISMATCH,
    MISSING_VERSION,
    MISTYPED,
    NON_CANONICAL_ID,
    OUT_OF_ORDER,
    TRUNCATED,
    UNREADABLE,
    Breach,
    LedgerDigest,
    Verification,
)
from application.audit.transparency import CompactRange
from domain.errors import ParcelNotFoundError
from infrastructure.hash_chain import GENESIS, PREV_HASH, event_hash, next_digest
from infrastructure.stored_rows import PAGE_SIZE, StoredRow, StoredRows, loose_id

_PREV_MARK = b',"prev_hash":"'
_HEX64 = re.compile(rb"[0-9a-f]{64}")
_READERS: weakref.WeakKeyDictionary[Any, StoredRows] = weakref.WeakKeyDictionary()


class DamagedStoreError(Exception):
    """The store holds a row that cannot be hashed as the ledger wrote it: no digest of it."""

    def __init__(self, breach: Breach) -> None:
        super().__init__(breach.detail)
        self.breach = breach


class CheckedEvent(NamedTuple):
    """A stored row that is in the ledger's form: its id (as hashed), version, topic, state
    and hash."""

    position: int
    key: str  # the id, lowercase and hyphenated
    originator_version: int
    topic: str
    state: bytes
    hash: str

    @property
    def originator_id(self) -> UUID:
        return UUID(self.key)


def stored_rows(recorder: Any) -> StoredRows:
    """The raw reader of a recorder's table (made once per recorder: it creates an index)."""
    reader = _READERS.get(recorder)
    if reader is None:
        reader = _READERS[recorder] = StoredRows(recorder)
    return reader


class LedgerAudit:
    """Reads what is really stored and checks it; changes nothing."""

    def __init__(self, ledger: Any, page_size: int = PAGE_SIZE) -> None:
        self.ledger = ledger
        self.recorder = ledger.recorder
        self.mapper = ledger.mapper
        self.page_size = page_size
        self.rows = stored_rows(self.recorder)
        self._opaque = bool(self.mapper.cipher or self.mapper.compressor)

    # -- reading ------------------------------------------------------------------
    def check_row(self, row: StoredRow) -> CheckedEvent | Breach:
        """The row as an event of the ledger, or the breach that it is not one."""
        version = row.version if isinstance(row.version, int) else None
        key = self.rows.canonical_text(row.stored_id)
        if key is None:
            loose = loose_id(row.stored_id)
            return Breach(NON_CANONICAL_ID, f"the id is stored as {row.stored_id!r}, not as "
                          "the ledger writes it: the aggregate's own read does not find this "
                          "event, the notification log does", str(loose) if loose else None,
                          version, row.position)
        if not self.rows.well_typed(row):
            return Breach(MISTYPED, "stored with version "
                          f"{_kind(row.version)}, topic {_kind(row.topic)}, state "
                          f"{_kind(row.state)} (the ledger writes an integer, text and bytes)",
                          key, version, row.position)
        state = bytes(row.state)
        return CheckedEvent(row.position, key, row.version, row.topic, state,
                            event_hash(key, row.version, row.topic, state))

    def events(self, stop: int | None = None, after: int | None = None
               ) -> Iterator[CheckedEvent | Breach]:
        """Every stored row in position order, each checked (after `after`, up to `stop`)."""
        for row in self.rows.in_order(after=after, stop=stop, page_size=self.page_size):
            yield self.check_row(row)

    def prev_hash_of(self, state: bytes) -> str | None:
        """The prev_hash recorded inside a stored event's state.

        The ledger writes it as the state's last member: `...,"prev_hash":"<64 hex>"}`.
        Those closing bytes are JSON tokens whatever precedes them (no backslash in them),
        and JSON's last member wins, so reading them is reading the member; any other state
        is parsed."""
        if not self._opaque and state[-80:-66] == _PREV_MARK and state[-2:] == b'"}' \
                and state[:1] == b"{" and _HEX64.fullmatch(state, len(state) - 66,
                                                          len(state) - 2):
            return state[-66:-2].decode("ascii")
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
        """The running hash over all stored events up to `position` (default: the last).

        Raises DamagedStoreError at the first row not in the ledger's form.
        """
        digest, last, count = GENESIS, 0, 0
        for event in self.events(stop=position):
            if isinstance(event, Breach):
                raise DamagedStoreError(event)
            digest, last, count = next_digest(digest, event.position, event.hash), \
                event.position, count + 1
        return LedgerDigest(last, digest, count)

    # -- verification -----------------------------------------------------------------
    def verify_parcel(self, aggregate_id: UUID, versions: int | None = None) -> Verification:
        """One aggregate's chain version by version (its first `versions` rows, default all),
        and every stored row that is its own under another spelling or in another form."""
        scope = f"aggregate {aggregate_id}"
        rows = self.rows.of_aggregate(aggregate_id)[:versions]
        breach = self._anomaly_of(aggregate_id)
        if breach is None and not rows:
            raise ParcelNotFoundError(aggregate_id)
        if breach is not None:
            return Verification(scope, len(rows), breach)
        checked = [self.check_row(r) for r in rows]
        bad = next((c for c in checked if isinstance(c, Breach)), None)
        if bad is not None:
            return Verification(scope, len(rows), bad)
        events = [c for c in checked if isinstance(c, CheckedEvent)]
        breach = self.chain_breach(events)
        head = None if breach else events[-1].hash
        notes = [] if breach else ["events stored since the log's last leaf are checked by "
                                   "their chain alone; a checkpoint you kept fixes the past"]
        return Verification(scope, len(events), breach, head, notes=notes)

    def _anomaly_of(self, aggregate_id: UUID) -> Breach | None:
        """The first row not in the ledger's form that is, or may be, this aggregate's."""
        for row in self.rows.anomalies():
            loose = loose_id(row.stored_id)
            if loose is None or loose == aggregate_id:
                found = self.check_row(row)
                if isinstance(found, Breach):
                    return found
        return None

    def chain_breach(self, events: Sequence[CheckedEvent]) -> Breach | None:
        """The first broken link of one aggregate's events (ordered by version)."""
        prev = GENESIS
        for expected, event in enumerate(events, start=1):
            where = (str(event.originator_id), expected, event.position)
            if event.originator_version != expected:
                return Breach(MISSING_VERSION, f"version {expected} is missing: the next "
                              f"stored version is {event.originator_version}", *where)
            recorded = self.prev_hash_of(event.state)
            if recorded is None:
                return Breach(UNREADABLE, "the stored state has no readable prev_hash", *where)
            if recorded != prev:
                return self._misplaced(events, event, recorded) or Breach(
                    HASH_MISMATCH, f"v{expected} records prev_hash {recorded[:16]}... but "
                    f"v{expected - 1} as stored hashes to {prev[:16]}...: v{expected - 1} "
                    f"was altered, or v{expected} was", *where)
            prev = event.hash
        return None

    @staticmethod
    def _misplaced(events: Sequence[CheckedEvent], event: CheckedEvent,
                   recorded: str) -> Breach | None:
        """Out of order: the predecessor this event recorded is stored under another version."""
        for other in events:
            for version in range(1, len(events) + 1):
                if version == other.originator_version:
                    continue
                if event_hash(other.originator_id, version, other.topic,
                              other.state) == recorded:
                    return Breach(OUT_OF_ORDER, f"the event stored as v{other.originator_version}"
                                  f" was recorded as v{version}, before v"
                                  f"{event.originator_version}", str(event.originator_id),
                                  event.originator_version, event.position)
        return None

    def verify_all(self, against_digest: str | None = None,
                   tree: CompactRange | None = None, tree_size: int = 0) -> Verification:
        """Every stored row along the log: its form, its aggregate's chain, and the digest.
        Given `tree`, its first `tree_size` leaves are appended to it on the way."""
        anchor = LedgerDigest.parse(against_digest) if against_digest else None
        heads: dict[str, tuple[int, str]] = {}
        chained, last, count, at_anchor = bytes(32), 0, 0, None
        sha256, canonical, typed = hashlib.sha256, self.rows.canonical_text, self.rows.well_typed
        prev_hash_of = self.prev_hash_of
        for row in self.rows.in_order(page_size=self.page_size):
            key = canonical(row.stored_id)
            if key is None or not typed(row):  # not in the ledger's form: say how
                breach = self.check_row(row)
                assert isinstance(breach, Breach)
                return Verification("all", count, breach)
            state = row.state if type(row.state) is bytes else bytes(row.state)
            version, position = row.version, row.position
            hashed = sha256(f"{key}\x00{version}\x00{row.topic}\x00".encode() + state)
            hash_hex = hashed.hexdigest()
            head = heads.get(key)
            expected, prev = (1, GENESIS) if head is None else (head[0] + 1, head[1])
            if version != expected or prev_hash_of(state) != prev:
                event = CheckedEvent(position, key, version, row.topic, state, hash_hex)
                return Verification("all", count, self._link_breach(event, head))
            heads[key] = (version, hash_hex)
            at, raw = position.to_bytes(8, "big"), hashed.digest()
            chained = sha256(chained + at + raw).digest()
            last, count = position, count + 1
            if anchor and position <= anchor[0]:
                at_anchor = (position, chained.hex())
            if tree is not None and tree.size < tree_size:
                tree.append(sha256(b"\x00" + at + raw).digest())
        digest = chained.hex()
        result = LedgerDigest(last, digest, count)
        if anchor is None:
            return Verification("all", count, None, digest, result, notes=[
                "not checked against an earlier checkpoint or digest: a removed or "
                "rewritten tail would pass"])
        return Verification("all", count, self._anchor_breach(anchor, at_anchor, last),
                            digest, result, anchored=True)

    def _link_breach(self, event: CheckedEvent, head: tuple[int, str] | None) -> Breach:
        """Why this event does not follow its aggregate's head."""
        expected = head[0] + 1 if head else 1
        where = (str(event.originator_id), event.originator_version, event.position)
        if head is not None and event.originator_version <= head[0]:
            return Breach(DUPLICATE_VERSION, f"v{event.originator_version} is stored again at "
                          f"position {event.position}, after v{head[0]}", *where)
        # Something is wrong with this aggregate: diagnose it along its versions.
        rows = [self.check_row(r) for r in self.rows.of_aggregate(event.originator_id)]
        bad = next((r for r in rows if isinstance(r, Breach)), None)
        breach = bad or self.chain_breach([r for r in rows if isinstance(r, CheckedEvent)])
        if breach is not None:
            return breach
        if event.originator_version == expected:
            return Breach(HASH_MISMATCH, f"v{expected} does not record the hash of v"
                          f"{expected - 1} stored before it in the log", *where)
        return Breach(OUT_OF_ORDER, f"v{event.originator_version} is stored at position "
                      f"{event.position}, where v{expected} was expected next", *where)

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


def _kind(value: Any) -> str:
    return "NULL" if value is None else type(value).__name__

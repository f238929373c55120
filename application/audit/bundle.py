"""The offline audit bundle: JSON Lines an auditor verifies with no database (AUDIT_BUNDLE.md)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from application.audit.report import (
    BAD_HEADER,
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
from application.audit.verification import CheckedEvent, DamagedStoreError, LedgerAudit
from infrastructure.hash_chain import (
    DIGEST_RULE,
    EVENT_HASH_RULE,
    GENESIS,
    HASH_ALGORITHM,
    embedded_prev_hash,
    event_hash,
    next_digest,
)

FORMAT = "returns-ledger-audit-bundle"
FORMAT_VERSION = 1


def write_bundle(audit: LedgerAudit, out: IO[str], created_at: datetime, *,
                 parcel: UUID | None = None, seller: str | None = None) -> LedgerDigest:
    """Every stored event in scope in full; every other event as a witness (id and hash)."""
    scope: dict[str, Any] = ({"parcel": str(parcel)} if parcel else
                             {"seller": seller} if seller else {"all": True})
    plain = not (audit.mapper.cipher or audit.mapper.compressor)
    _line(out, {"kind": "header", "format": FORMAT, "format_version": FORMAT_VERSION,
                "hash_algorithm": HASH_ALGORITHM, "event_hash": EVENT_HASH_RULE,
                "digest": DIGEST_RULE, "genesis": GENESIS, "scope": scope,
                "state_encoding": "json" if plain else "opaque",
                "created_at": created_at.isoformat()})
    digest, last, count = GENESIS, 0, 0
    in_scope: set[UUID] = set()
    for n in audit.events():
        if not isinstance(n, CheckedEvent):
            raise DamagedStoreError(n)  # no bundle of a store that is not as it was written
        h = n.hash
        digest, last, count = next_digest(digest, n.position, h), n.position, count + 1
        if _wanted(audit, n, parcel, seller, in_scope):
            _line(out, {"kind": "event", "id": n.position, "originator_id": str(n.originator_id),
                        "version": n.originator_version, "topic": n.topic,
                        "state": base64.b64encode(n.state).decode("ascii"),
                        "prev_hash": audit.prev_hash_of(n.state), "hash": h})
        else:
            _line(out, {"kind": "witness", "id": n.position, "hash": h})
    _line(out, {"kind": "trailer", "position": last, "digest": digest, "events": count,
                "digest_rule": DIGEST_RULE})
    return LedgerDigest(last, digest, count)


def _line(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n")


def _wanted(audit: LedgerAudit, n: CheckedEvent, parcel: UUID | None, seller: str | None,
            in_scope: set[Any]) -> bool:
    if parcel is not None:
        return bool(n.originator_id == parcel)
    if seller is None:
        return True
    if n.originator_version == 1:
        stored = StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
        try:
            owner = getattr(audit.mapper.to_domain_event(stored), "seller_id", None)
        except Exception:  # noqa: BLE001 - unreadable: left as a witness, the digest still counts it
            owner = None
        if owner == seller:
            in_scope.add(n.originator_id)
    return n.originator_id in in_scope


class _Checker:
    """Walks a bundle line by line, keeping the chain heads and the running digest."""

    def __init__(self, anchor: tuple[int, str] | None) -> None:
        self.anchor = anchor
        self.heads: dict[str, tuple[int, str]] = {}
        self.digest, self.last, self.count, self.events = GENESIS, 0, 0, 0
        self.at_anchor = GENESIS
        self.json_state = True

    def header(self, record: dict[str, Any]) -> Breach | None:
        wanted = {"kind": "header", "format": FORMAT, "format_version": FORMAT_VERSION,
                  "hash_algorithm": HASH_ALGORITHM, "genesis": GENESIS}
        wrong = [k for k, v in wanted.items() if record.get(k) != v]
        self.json_state = record.get("state_encoding") == "json"
        return Breach(BAD_HEADER, f"not a {FORMAT} v{FORMAT_VERSION} header: {wrong}") \
            if wrong else None

    def step(self, record: dict[str, Any]) -> Breach | None:
        n_id, h = record.get("id"), record.get("hash")
        if not isinstance(n_id, int) or not isinstance(h, str) or len(h) != 64:
            return Breach(UNREADABLE, "a line without an integer id and a 64-digit hash")
        if n_id <= self.last:
            return Breach(OUT_OF_ORDER, f"notification {n_id} comes after {self.last}",
                          position=n_id)
        if record["kind"] == "event":
            breach = self.event(record)
            if breach is not None:
                return breach
        self.digest, self.last, self.count = next_digest(self.digest, n_id, h), n_id, \
            self.count + 1
        if self.anchor and n_id <= self.anchor[0]:
            self.at_anchor = self.digest
        return None

    def event(self, r: dict[str, Any]) -> Breach | None:
        try:
            state = base64.b64decode(r["state"], validate=True)
            where = {"originator_id": str(UUID(r["originator_id"])), "version": r["version"],
                     "position": r["id"]}
            actual = event_hash(where["originator_id"], r["version"], r["topic"], state)
        except (KeyError, TypeError, ValueError, binascii.Error):
            return Breach(UNREADABLE, "an event line that cannot be read", position=r["id"])
        if actual != r["hash"]:
            return Breach(HASH_MISMATCH, "the stored state does not hash to the line's hash: "
                          "the event was edited", **where)
        version, prev = self.heads.get(where["originator_id"], (0, GENESIS))
        if r["version"] != version + 1:
            kind = MISSING_VERSION if r["version"] > version + 1 else OUT_OF_ORDER
            return Breach(kind, f"v{r['version']} follows v{version}", **where)
        recorded = embedded_prev_hash(state) if self.json_state else r.get("prev_hash")
        if r.get("prev_hash") != prev or recorded != prev:
            return Breach(HASH_MISMATCH, f"prev_hash does not match the hash of v{version}",
                          **where)
        self.heads[where["originator_id"]] = (r["version"], actual)
        self.events += 1
        return None

    def trailer(self, record: dict[str, Any]) -> Breach | None:
        if record.get("position") != self.last or record.get("digest") != self.digest:
            return Breach(DIGEST_MISMATCH, f"the lines add up to {self.token()}, the trailer "
                          f"says {record.get('position')}:{record.get('digest')}")
        if self.anchor is None:
            return None
        position, expected = self.anchor
        if self.last < position:
            return Breach(TRUNCATED, f"the bundle ends at {self.last}, before the digest's "
                          f"position {position}", position=self.last)
        if self.at_anchor != expected:
            return Breach(DIGEST_MISMATCH, f"the events up to position {position} do not add "
                          "up to the digest given: altered, removed or rewritten",
                          position=position)
        return None

    def token(self) -> str:
        return f"{self.last}:{self.digest}"


def verify_bundle(lines: Iterable[str], digest: str | None = None) -> Verification:
    """Check a bundle's chains and digest, and, given one, the digest you trust."""
    checker = _Checker(LedgerDigest.parse(digest) if digest else None)
    breach = _walk(checker, iter(lines))
    result = LedgerDigest(checker.last, checker.digest, checker.count)
    notes = [] if digest else ["self-consistent only: without --digest from a source you "
                               "trust, a bundle rewritten as a whole would also pass"]
    return Verification("bundle", checker.events, breach, None if breach else checker.digest,
                        result, anchored=bool(digest) and breach is None, notes=notes)


def _walk(checker: _Checker, lines: Any) -> Breach | None:
    records = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError:
            return Breach(UNREADABLE, f"line {number} is not JSON")
        if not isinstance(record, dict):
            return Breach(UNREADABLE, f"line {number} is not a JSON object")
        records.append(record)
    if not records or records[0].get("kind") != "header":
        return Breach(BAD_HEADER, "the first line is not a bundle header")
    breach = checker.header(records[0])
    if breach is not None:
        return breach
    if len(records) < 2 or records[-1].get("kind") != "trailer":
        return Breach(TRUNCATED, "the bundle has no trailer: it was cut short")
    for record in records[1:-1]:
        if record.get("kind") not in ("event", "witness"):
            return Breach(UNREADABLE, f"unexpected line kind {record.get('kind')!r}")
        breach = checker.step(record)
        if breach is not None:
            return breach
    return checker.trailer(records[-1])

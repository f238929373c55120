"""What an audit answers: the ledger digest, and a verification's verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from infrastructure.hash_chain import DIGEST_RULE, HASH_ALGORITHM

# Why a verification failed, one stable word each (docs/AUDIT_BUNDLE.md explains them).
HASH_MISMATCH = "hash_mismatch"  # a stored event no longer hashes to what its successor recorded
MISSING_VERSION = "missing_version"  # a version of an aggregate is not there
OUT_OF_ORDER = "out_of_order"  # versions or notification ids not in their recorded order
UNREADABLE = "unreadable"  # a stored state or bundle line cannot be read
DIGEST_MISMATCH = "digest_mismatch"  # events up to a digest's position were altered
TRUNCATED = "truncated"  # events up to a digest's position are missing at the tail
BAD_HEADER = "bad_header"  # a bundle that is not (this version of) an audit bundle
NON_CANONICAL_ID = "non_canonical_id"  # an id stored in another spelling: hidden from its parcel
MISTYPED = "mistyped"  # a column of the wrong type or NULL (state as TEXT, say)
DUPLICATE_VERSION = "duplicate_version"  # one (id, version) stored twice
READ_MISMATCH = "read_mismatch"  # the log and the aggregate's read disagree on its events
CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the stored events no longer make a signed tree
BAD_CHECKPOINT = "bad_checkpoint"  # a checkpoint or proof that does not verify
BUNDLE_REFUSED = "bundle_refused"  # a format-2 bundle that does not verify (the detail says why)

_TOKEN = re.compile(r"^(\d+):([0-9a-f]{64})$")


@dataclass(frozen=True)
class LedgerDigest:
    """A running hash over every stored event up to a notification position."""

    position: int
    digest: str
    events: int
    algorithm: str = HASH_ALGORITHM
    rule: str = DIGEST_RULE

    @property
    def token(self) -> str:
        """`POSITION:HEX`, the form `--against` and `--digest` take."""
        return f"{self.position}:{self.digest}"

    @staticmethod
    def parse(token: str) -> tuple[int, str]:
        """Position and hex digest from `POSITION:HEX`."""
        match = _TOKEN.match(token.strip().lower())
        if not match:
            raise ValueError(f"a digest is POSITION:HEX (64 hex digits), not {token!r}")
        return int(match.group(1)), match.group(2)

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "digest": self.digest, "token": self.token,
                "events": self.events, "algorithm": self.algorithm, "rule": self.rule}


@dataclass(frozen=True)
class Breach:
    """The first thing found broken, and why."""

    reason: str
    detail: str
    originator_id: str | None = None
    version: int | None = None
    position: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "detail": self.detail,
                "originator_id": self.originator_id, "version": self.version,
                "position": self.position}


@dataclass(frozen=True)
class Verification:
    """The verdict: ok, or the first breach; with what was checked."""

    scope: str
    events: int
    breach: Breach | None = None
    head: str | None = None  # hash of the last event checked
    digest: LedgerDigest | None = None  # recomputed over what was checked
    anchored: bool = False  # checked against a digest or checkpoint taken independently
    notes: list[str] = field(default_factory=list)
    anchor: str = "the digest given"  # what it was checked against, when anchored

    @property
    def ok(self) -> bool:
        return self.breach is None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "scope": self.scope, "events": self.events,
                "breach": self.breach.as_dict() if self.breach else None,
                "head": self.head, "anchored": self.anchored,
                "digest": self.digest.as_dict() if self.digest else None,
                "notes": list(self.notes)}

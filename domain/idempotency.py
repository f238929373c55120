"""IdempotencyRecord: the first answer to a command sent with an Idempotency-Key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.copying import CheapCopy
from domain.errors import DomainError

IDEMPOTENCY_NAMESPACE = UUID("3d4f9a51-7c1e-4e55-b2a8-0d6e5c9f1a72")


def idempotency_record_id(scope: str, key: str) -> UUID:
    """One record per caller (scope) and key: two callers never share a key."""
    return uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}\x00{key}")


class IdempotencyKeyReusedError(DomainError):
    """The key was already used for a different request."""

    rule = "idempotency"

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request")
        self.key = key


@dataclass(frozen=True)
class FirstAnswer:
    """What the first request with a key got, and the fingerprint of that request."""

    key: str
    fingerprint: str
    result: dict[str, Any]
    after_position: int  # the store's last position before the command: its events follow

    def check(self, fingerprint: str) -> None:
        """The same key must come with the same request."""
        if fingerprint != self.fingerprint:
            raise IdempotencyKeyReusedError(self.key)


class IdempotencyRecord(CheapCopy, Aggregate):
    """Which request a key answered, and what the answer was: how a store kept its keys
    before they became rows of their own (infrastructure/idempotency_store.py); such
    records are still read, and still refuse their key to another request."""

    class Recorded(Aggregate.Created):
        scope: str
        key: str
        fingerprint: str
        result: dict[str, Any]
        after_position: int

    @staticmethod
    def create_id(scope: str, key: str, **_: Any) -> UUID:
        return idempotency_record_id(scope, key)

    @event(Recorded)
    def __init__(self, *, scope: str, key: str, fingerprint: str, result: dict[str, Any],
                 after_position: int) -> None:
        self.scope = scope
        self.key = key
        self.fingerprint = fingerprint
        self.result = result
        # The store's last position before the command: its events come after it.
        self.after_position = after_position

    def first_answer(self) -> FirstAnswer:
        """The record's answer, as a key's row gives it."""
        return FirstAnswer(self.key, self.fingerprint, self.result, self.after_position)

    def check(self, fingerprint: str) -> None:
        """The same key must come with the same request."""
        self.first_answer().check(fingerprint)

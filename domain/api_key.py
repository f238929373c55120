"""ApiKey: who may call the API, in which role, for which seller; issued and revoked."""

from __future__ import annotations

import hmac
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.copying import CheapCopy
from domain.errors import DomainError, InvalidValueError
from domain.values import aware, choice, text


class Role(StrEnum):
    CLIENT = "client"
    FINANCE = "finance"
    AUDITOR = "auditor"
    ADMIN = "admin"


# Admins and auditors see every seller; clients and finance work for one seller.
ALL_SELLERS_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})


class ApiKeyRevokedError(DomainError):
    """The key was revoked and no longer opens anything."""


class ApiKey(CheapCopy, Aggregate):
    """One API key: only the SHA-256 hash of its secret is kept."""

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str

    class ApiKeyIssued(Event, Aggregate.Created):
        role: str
        seller_id: str | None
        secret_hash: str
        label: str | None

    class ApiKeyRevoked(Event):
        pass

    @event(ApiKeyIssued)
    def __init__(self, *, role: str, seller_id: str | None, secret_hash: str,
                 label: str | None, occurred_at: datetime, actor: str) -> None:
        self.role = Role(role)
        self.seller_id = seller_id
        self.secret_hash = secret_hash
        self.label = label
        self.issued_at = occurred_at
        self.revoked_at: datetime | None = None

    @classmethod
    def issue(cls, *, key_id: UUID, role: str, seller_id: str | None, secret_hash: str,
              occurred_at: datetime, label: str | None = None,
              actor: str = "system") -> ApiKey:
        """A new key: admins and auditors span all sellers, the others exactly one."""
        member = choice(Role, role, "role")
        if member in ALL_SELLERS_ROLES and seller_id:
            raise InvalidValueError("seller_id", f"a {member.value} key spans all sellers")
        if member not in ALL_SELLERS_ROLES and not seller_id:
            raise InvalidValueError("seller_id", f"a {member.value} key needs a seller")
        if len(secret_hash) != 64:
            raise InvalidValueError("secret_hash", "must be a SHA-256 hex digest")
        return cls._create(cls.ApiKeyIssued, id=key_id, role=member.value,
                           seller_id=text(seller_id, "seller_id") if seller_id else None,
                           secret_hash=secret_hash,
                           label=text(label, "label", 100) if label else None,
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None

    def matches(self, secret_hash: str) -> bool:
        """Constant-time comparison of the presented key's hash with the stored one."""
        return hmac.compare_digest(self.secret_hash, secret_hash)

    def revoke(self, occurred_at: datetime, actor: str = "system") -> None:
        """From now on the key opens nothing."""
        if self.revoked_at is not None:
            raise ApiKeyRevokedError(f"key {self.id} is already revoked")
        self._revoked(occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(ApiKeyRevoked)
    def _revoked(self, occurred_at: datetime, actor: str) -> None:
        self.revoked_at = occurred_at


class KeyRing(CheapCopy, Aggregate):
    """The index of every key ever issued, saved with each new key."""

    class KeyListed(Aggregate.Event):
        key_id: UUID

    @staticmethod
    def create_id() -> UUID:
        return KEY_RING_ID

    @event("Created")
    def __init__(self) -> None:
        self.key_ids: list[UUID] = []

    @event(KeyListed)
    def list_key(self, key_id: UUID) -> None:
        """Remember one more key."""
        self.key_ids.append(key_id)


KEY_RING_ID = uuid5(UUID("a1c7d3e9-5b2f-4f60-8e14-7c9d0b3a2e58"), "key-ring")

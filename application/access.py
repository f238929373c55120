"""API keys: issued with a role and a seller scope, kept only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain.api_key import ApiKey, KeyRing
from domain.errors import NotFoundError

KEY_PREFIX = "rlk"


class ApiKeyNotFoundError(NotFoundError):
    """No API key has that id."""

    def __init__(self, key_id: object) -> None:
        super().__init__(f"api key {key_id} not found")


def hash_key(token: str) -> str:
    """The only form in which a key is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyView:
    """A key as it may be shown: never its secret."""

    id: UUID
    role: str
    seller_id: str | None
    label: str | None
    issued_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyView:
        return cls(key.id, key.role.value, key.seller_id, key.label, key.issued_at,
                   key.revoked_at)


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its secret token, shown once."""

    key: ApiKeyView
    token: str


class ApiKeys:
    """Mixed into the ledger: issue, revoke, list and check API keys."""

    def issue_api_key(self, role: str, seller_id: str | None, occurred_at: datetime,
                      label: str | None = None, actor: str = "system") -> IssuedKey:
        """A new random key; its token is returned once and stored only hashed."""
        key_id = uuid4()
        token = f"{KEY_PREFIX}_{key_id.hex}_{secrets.token_urlsafe(32)}"
        key = ApiKey.issue(key_id=key_id, role=role, seller_id=seller_id,
                           secret_hash=hash_key(token), occurred_at=occurred_at,
                           label=label, actor=actor)
        ring = self._key_ring()
        ring.list_key(key.id)
        self.save(ring, key)  # type: ignore[attr-defined]
        return IssuedKey(ApiKeyView.of(key), token)

    def revoke_api_key(self, key_id: UUID, occurred_at: datetime,
                       actor: str = "system") -> ApiKeyView:
        """The key opens nothing from now on."""
        key = self._get_key(key_id)
        key.revoke(occurred_at, actor)
        self.save(key)  # type: ignore[attr-defined]
        return ApiKeyView.of(key)

    def list_api_keys(self) -> list[ApiKeyView]:
        """Every key ever issued, revoked ones included."""
        return [ApiKeyView.of(self._get_key(k)) for k in self._key_ring().key_ids]

    def authenticate(self, token: str) -> ApiKeyView | None:
        """The active key this token belongs to, or None."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        try:
            key = self._get_key(UUID(hex=parts[1]))
        except (ValueError, ApiKeyNotFoundError):
            return None
        if not key.matches(hash_key(token)) or not key.active:
            return None
        return ApiKeyView.of(key)

    def _key_ring(self) -> KeyRing:
        try:
            return self.repository.get(KeyRing.create_id())  # type: ignore[attr-defined]
        except AggregateNotFoundError:
            return KeyRing()

    def _get_key(self, key_id: UUID) -> ApiKey:
        try:
            key = self.repository.get(key_id)  # type: ignore[attr-defined]
        except AggregateNotFoundError:
            raise ApiKeyNotFoundError(key_id) from None
        if not isinstance(key, ApiKey):
            raise ApiKeyNotFoundError(key_id)
        return key

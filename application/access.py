"""API keys: issued with a role and a seller scope, kept only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain.api_key import ApiKey, KeyRing, person_actor, person_of, split_actor
from domain.errors import NotFoundError, RuleViolationError

KEY_PREFIX = "rlk"
# Active keys are remembered this long per process (API_KEY_CACHE_SECONDS, at most this):
# a revocation in the same process takes effect at once, in another one within it.
KEY_CACHE_MAX_SECONDS = 2.0
KEY_CACHE_MAXSIZE = 10000


class ApiKeyNotFoundError(NotFoundError):
    """No API key has that id."""

    def __init__(self, key_id: object) -> None:
        super().__init__(f"api key {key_id} not found")


class UnownedKeyError(RuleViolationError):
    """AM-4 compares people: a key that names no person cannot take a four-eyes decision."""

    def __init__(self, key_id: object) -> None:
        super().__init__("AM-4", "this key has no owner, so no person can be held to the "
                         "decision: use a key issued with an owner", key_id=key_id)


UNOWNED = "unowned"


@dataclass(frozen=True)
class ActorName:
    """An actor as people read it: the person, and for a key the key's label and id."""

    actor: str
    owner: str  # the person; "unowned" for a key without one; "" for the system, the CLI
    key_label: str
    key_id: str = ""  # the key that acted; "" for the system and for events recorded
    # before a person's actor named the key (`person:<owner>` alone)

    def columns(self, prefix: str) -> dict[str, str]:
        """What is shown beside an actor field: `<prefix>_owner`, `<prefix>_key_label` and
        `<prefix>_key_id`."""
        return {f"{prefix}_owner": self.owner, f"{prefix}_key_label": self.key_label,
                f"{prefix}_key_id": self.key_id}

    def __str__(self) -> str:
        if self.key_id:
            label = f" '{self.key_label}'" if self.key_label else ""
            return f"{self.owner} key{label} {self.key_id}"
        return self.owner or self.actor


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
    owner: str | None = None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyView:
        return cls(key.id, key.role.value, key.seller_id, key.label, key.issued_at,
                   key.revoked_at, key.owner)

    @property
    def actor(self) -> str:
        """What events record as the actor: the owner as a person with this key
        (`person:<owner>/key:<id>`, compared as the person), else the key id."""
        return person_actor(self.owner, self.id) if self.owner else str(self.id)

    def person(self) -> str:
        """The actor of a four-eyes decision (approve, release): only an owned key has one."""
        if self.owner is None:
            raise UnownedKeyError(self.id)
        return self.actor


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its secret token, shown once."""

    key: ApiKeyView
    token: str


class ApiKeys:
    """Mixed into the ledger: issue, revoke, list and check API keys."""

    _key_lock = threading.Lock()  # one per process is enough: held for a dict update
    _key_generation = 0  # revocations seen by this process

    def issue_api_key(self, role: str, seller_id: str | None, occurred_at: datetime,
                      label: str | None = None, actor: str = "system",
                      owner: str | None = None) -> IssuedKey:
        """A new random key; its token is returned once and stored only hashed."""
        key_id = uuid4()
        token = f"{KEY_PREFIX}_{key_id.hex}_{secrets.token_urlsafe(32)}"
        key = ApiKey.issue(key_id=key_id, role=role, seller_id=seller_id,
                           secret_hash=hash_key(token), occurred_at=occurred_at,
                           label=label, actor=actor, owner=owner)
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
        with self._key_lock:  # a read that began before this save is not remembered
            self._key_generation += 1
            self._known_keys().pop(key.id, None)
        return ApiKeyView.of(key)

    def list_api_keys(self) -> list[ApiKeyView]:
        """Every key ever issued, revoked ones included."""
        return [ApiKeyView.of(self._get_key(k)) for k in self._key_ring().key_ids]

    def actor_names(self) -> Callable[[str | None], ActorName]:
        """A look-up of actors' names, each key read once (for one export or one page)."""
        known: dict[str, ActorName] = {}

        def name(actor: str | None) -> ActorName:
            actor = actor or ""
            if actor not in known:
                known[actor] = self._actor_name(actor)
            return known[actor]

        return name

    def _actor_name(self, actor: str) -> ActorName:
        person = person_of(actor)
        if person is not None:
            key_id = split_actor(actor)[1] or ""
            key = self._find_key(key_id) if key_id else None
            return ActorName(actor, person, key.label or "" if key else "", key_id)
        key = self._find_key(actor)
        if key is None:
            return ActorName(actor, "", "")  # the system, the CLI, a demo name
        return ActorName(actor, key.owner or UNOWNED, key.label or "", actor)

    def _find_key(self, key_id: str) -> ApiKey | None:
        try:
            return self._get_key(UUID(key_id))
        except (ValueError, ApiKeyNotFoundError):
            return None

    def authenticate(self, token: str) -> ApiKeyView | None:
        """The active key this token belongs to, or None."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        secret_hash, now, generation = hash_key(token), time.monotonic(), self._key_generation
        try:
            key_id = UUID(hex=parts[1])
            known = self._known_keys().get(key_id)
            if known is not None and known[0] > now and known[1] == secret_hash:
                return known[2]
            key = self._get_key(key_id)
        except (ValueError, ApiKeyNotFoundError):
            return None
        if not key.matches(secret_hash) or not key.active:
            return None
        view = ApiKeyView.of(key)
        self._remember_key(view, secret_hash, now, generation)
        return view

    def _known_keys(self) -> dict[UUID, tuple[float, str, ApiKeyView]]:
        """Active keys recently read from the store: until when, their hash, their view."""
        if not hasattr(self, "_key_cache"):
            env = self.env  # type: ignore[attr-defined]
            ttl = float(env.get("API_KEY_CACHE_SECONDS") or 1.0)
            self._key_cache_ttl = min(max(ttl, 0.0), KEY_CACHE_MAX_SECONDS)
            self._key_cache: dict[UUID, tuple[float, str, ApiKeyView]] = {}
        return self._key_cache

    def _remember_key(self, view: ApiKeyView, secret_hash: str, now: float,
                      generation: int) -> None:
        cache = self._known_keys()
        with self._key_lock:
            if self._key_cache_ttl <= 0 or generation != self._key_generation:
                return
            if len(cache) >= KEY_CACHE_MAXSIZE:
                cache.clear()
            cache[view.id] = (now + self._key_cache_ttl, secret_hash, view)

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

"""ApiKey: who may call the API, in which role, for which seller; issued and revoked."""

from __future__ import annotations

import hmac
import re
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
# A finance key approves and releases money (AM-4): it must name the person who holds it.
OWNED_ROLES = frozenset({Role.FINANCE})

PERSON_PREFIX = "person:"
# The acting key, appended to a person's actor: `person:<owner>/key:<key id>`. An owner
# never holds a "/", so the mark cannot be part of one.
KEY_MARK = "/key:"
_KEY_MARK = re.compile(re.escape(KEY_MARK), re.IGNORECASE)
_OWNER = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,99}$")


def owner_id(value: str) -> str:
    """A person's id as keys name it: trimmed, lower case (Alice and alice are one person)."""
    owner = str(value).strip().lower()
    if not _OWNER.match(owner):
        raise InvalidValueError(
            "owner", "1 to 100 of a-z, 0-9 and . _ @ + -, starting with a letter or digit")
    return owner


def person_actor(owner: str, key_id: object | None = None) -> str:
    """The actor events record for a person, and which of their keys acted.

    `person:<owner>/key:<key id>`: inside the event, so in its hash chain. The rules that
    compare people (AM-4, the separation of duties, retries) read it through
    `actor_person`, which drops the key: every key of one owner is one person.
    """
    return PERSON_PREFIX + owner + (f"{KEY_MARK}{key_id}" if key_id else "")


def split_actor(actor: str) -> tuple[str, str | None]:
    """An actor as (who, the acting key's id or None): the one reader of the key mark.

    An actor without one (events recorded before the key was, `system`, an unowned key's
    id, a demo name) is returned whole, with no key."""
    parts = _KEY_MARK.split(actor, maxsplit=1)
    return parts[0], (parts[1].strip() or None) if len(parts) == 2 else None


def actor_person(actor: str) -> str:
    """The actor as the rules compare it: without the acting key (`person:<owner>`)."""
    return split_actor(actor)[0]


def actor_key(actor: str | None) -> str | None:
    """The id of the key that acted, when the actor names one after the person."""
    return split_actor(actor)[1] if actor else None


def person_of(actor: str | None) -> str | None:
    """The owner an actor string names, if it names a person (not a key id or 'system')."""
    person = actor_person(actor) if actor else ""
    if person.startswith(PERSON_PREFIX):
        return person[len(PERSON_PREFIX):]
    return None


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
        owner: str | None

    class ApiKeyRevoked(Event):
        pass

    @event(ApiKeyIssued)
    def __init__(self, *, role: str, seller_id: str | None, secret_hash: str,
                 label: str | None, occurred_at: datetime, actor: str,
                 owner: str | None = None) -> None:
        # Keys issued before owners existed have none: they show as unowned.
        self.role = Role(role)
        self.owner = owner
        self.seller_id = seller_id
        self.secret_hash = secret_hash
        self.label = label
        self.issued_at = occurred_at
        self.revoked_at: datetime | None = None

    @classmethod
    def issue(cls, *, key_id: UUID, role: str, seller_id: str | None, secret_hash: str,
              occurred_at: datetime, label: str | None = None,
              actor: str = "system", owner: str | None = None) -> ApiKey:
        """A new key: admins and auditors span all sellers, the others exactly one.

        A finance key names its owner, the person who holds it (AM-4 compares people).
        """
        member = choice(Role, role, "role")
        if member in OWNED_ROLES and not owner:
            raise InvalidValueError("owner", f"a {member.value} key needs an owner (a person)")
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
                           owner=owner_id(owner) if owner else None,
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

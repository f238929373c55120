"""WebhookEndpoint: where a seller's integration wants the ledger's events pushed.

Creating, changing, rotating the secret of, disabling and deleting an endpoint are events
like any other. The signing secret is never in an event in the clear: it arrives sealed
(application/webhooks.py seals it with the personal-data vault) and stays sealed here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidValueError, NotFoundError, RuleViolationError
from domain.values import aware, text

MAX_URL_LENGTH = 2000
MAX_EVENT_TYPES = 100
# WH-1: an endpoint that has failed for longer than the configured time is disabled.
RULE_AUTO_DISABLE = "WH-1"


class WebhookEndpointNotFoundError(NotFoundError):
    """No webhook endpoint has that id (or the key may not see it)."""

    def __init__(self, endpoint_id: object) -> None:
        super().__init__(f"webhook endpoint {endpoint_id} not found")


class WebhookEndpointDeletedError(DomainError):
    """The endpoint was deleted: nothing more can happen to it."""


def check_url(url: Any, allow_http_loopback: bool) -> str:
    """An absolute https URL (http only to a loopback host, when the setting allows it).

    The addresses the host resolves to are checked again before every request
    (infrastructure/webhook_http.py): this is only the shape of the URL.
    """
    url = text(url, "url", MAX_URL_LENGTH)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise InvalidValueError("url", f"is not a URL ({error})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidValueError("url", "must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidValueError("url", "must not carry a user name or password")
    if parts.fragment:
        raise InvalidValueError("url", "must not have a #fragment")
    if port == 0:
        raise InvalidValueError("url", "port 0 is not a port")
    if parts.scheme == "http" and not (allow_http_loopback and is_loopback_host(parts.hostname)):
        raise InvalidValueError("url", "must use https (plain http is allowed only to a "
                                       "loopback address, when WEBHOOK_ALLOW_LOOPBACK=yes)")
    return url


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 as written in a URL."""
    host = host.lower().strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.") and \
        all(part.isdigit() for part in host.split("."))


def event_types(types: Any, known: frozenset[str]) -> list[str]:
    """The event types wanted (empty: every type), each one the feed knows."""
    if types is None:
        return []
    if not isinstance(types, (list, tuple)) or len(types) > MAX_EVENT_TYPES:
        raise InvalidValueError("event_types", f"must be a list of at most "
                                               f"{MAX_EVENT_TYPES} event types")
    unknown = sorted({t for t in types if t not in known})
    if unknown:
        raise InvalidValueError("event_types", f"unknown event types {unknown}")
    return sorted(set(types))


class WebhookEndpoint(Aggregate):
    """One receiving URL of a seller (or of an admin, for every seller)."""

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str

    class WebhookEndpointCreated(Event, Aggregate.Created):
        seller_id: str | None
        url: str
        event_types: list[str]
        description: str | None
        enabled: bool
        sealed_secret: dict[str, str]

    class WebhookEndpointChanged(Event):
        changes: dict[str, Any]

    class WebhookSecretRotated(Event):
        sealed_secret: dict[str, str]
        previous_valid_until: datetime

    class WebhookEndpointDisabled(Event):
        rule: str
        facts: dict[str, str]

    class WebhookEndpointDeleted(Event):
        pass

    @event(WebhookEndpointCreated)
    def __init__(self, *, seller_id: str | None, url: str, event_types: list[str],
                 description: str | None, enabled: bool, sealed_secret: dict[str, str],
                 occurred_at: datetime, actor: str) -> None:
        self.seller_id = seller_id
        self.url = url
        self.event_types = list(event_types)
        self.description = description
        self.enabled = enabled
        self.sealed_secret = dict(sealed_secret)
        self.previous_sealed_secret: dict[str, str] | None = None
        self.previous_valid_until: datetime | None = None
        self.created_at = occurred_at
        self.disabled_reason: dict[str, str] | None = None
        self.deleted_at: datetime | None = None

    @classmethod
    def create(cls, *, endpoint_id: UUID, seller_id: str | None, url: str,
               event_types: list[str], description: str | None, enabled: bool,
               sealed_secret: dict[str, str], occurred_at: datetime,
               actor: str) -> WebhookEndpoint:
        """A new endpoint; its url and types are checked by the caller (check_url)."""
        return cls._create(cls.WebhookEndpointCreated, id=endpoint_id,
                           seller_id=text(seller_id, "seller_id") if seller_id else None,
                           url=url, event_types=event_types,
                           description=text(description, "description", 500)
                           if description else None,
                           enabled=enabled, sealed_secret=sealed_secret,
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    def _check_alive(self) -> None:
        if self.deleted_at is not None:
            raise WebhookEndpointDeletedError(f"webhook endpoint {self.id} was deleted")

    def change(self, changes: dict[str, Any], occurred_at: datetime, actor: str) -> bool:
        """Change url, event types, description or enabled; False when nothing differs."""
        self._check_alive()
        allowed = {"url", "event_types", "description", "enabled"}
        different = {k: v for k, v in changes.items()
                     if k in allowed and getattr(self, k) != v}
        if not different:
            return False
        self._changed(changes=different, occurred_at=aware(occurred_at, "occurred_at"),
                      actor=actor)
        return True

    @event(WebhookEndpointChanged)
    def _changed(self, changes: dict[str, Any], occurred_at: datetime, actor: str) -> None:
        for name, value in changes.items():
            setattr(self, name, list(value) if name == "event_types" else value)
        if changes.get("enabled"):
            self.disabled_reason = None

    def rotate_secret(self, sealed_secret: dict[str, str], previous_valid_until: datetime,
                      occurred_at: datetime, actor: str) -> None:
        """A new signing secret; the old one keeps signing until `previous_valid_until`."""
        self._check_alive()
        self._rotated(sealed_secret=sealed_secret,
                      previous_valid_until=aware(previous_valid_until, "previous_valid_until"),
                      occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(WebhookSecretRotated)
    def _rotated(self, sealed_secret: dict[str, str], previous_valid_until: datetime,
                 occurred_at: datetime, actor: str) -> None:
        self.previous_sealed_secret = self.sealed_secret
        self.previous_valid_until = previous_valid_until
        self.sealed_secret = dict(sealed_secret)

    def secrets_at(self, now: datetime) -> list[dict[str, str]]:
        """The sealed secrets that sign at `now`: the current one, and the previous one
        during its grace period."""
        valid = [self.sealed_secret]
        if (self.previous_sealed_secret is not None and self.previous_valid_until is not None
                and now < self.previous_valid_until):
            valid.append(self.previous_sealed_secret)
        return valid

    def disable_for_failures(self, failing_since: datetime, disable_after_hours: float,
                             last_error: str, occurred_at: datetime) -> None:
        """WH-1: failing for longer than the configured time: no more deliveries."""
        self._check_alive()
        if not self.enabled:
            return
        failing_hours = (occurred_at - failing_since).total_seconds() / 3600
        if failing_hours < disable_after_hours:
            raise RuleViolationError(RULE_AUTO_DISABLE, "the endpoint has not failed long "
                                     "enough to be disabled", failing_hours=failing_hours)
        self._disabled(rule=RULE_AUTO_DISABLE, facts={
            "failing_since": failing_since.isoformat(),
            "failing_hours": f"{failing_hours:.2f}",
            "disable_after_hours": str(disable_after_hours),
            "last_error": last_error[:500]},
            occurred_at=aware(occurred_at, "occurred_at"), actor="webhook-dispatcher")

    @event(WebhookEndpointDisabled)
    def _disabled(self, rule: str, facts: dict[str, str], occurred_at: datetime,
                  actor: str) -> None:
        self.enabled = False
        self.disabled_reason = {"rule": rule, **facts}

    def delete(self, occurred_at: datetime, actor: str) -> None:
        """No more deliveries, ever; the endpoint's history stays."""
        self._check_alive()
        self._deleted(occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(WebhookEndpointDeleted)
    def _deleted(self, occurred_at: datetime, actor: str) -> None:
        self.deleted_at = occurred_at
        self.enabled = False


class WebhookEndpointIndex(Aggregate):
    """The ids of every endpoint ever created, saved with each new endpoint."""

    class EndpointListed(Aggregate.Event):
        endpoint_id: UUID

    @staticmethod
    def create_id() -> UUID:
        return ENDPOINT_INDEX_ID

    @event("Created")
    def __init__(self) -> None:
        self.endpoint_ids: list[UUID] = []

    @event(EndpointListed)
    def list_endpoint(self, endpoint_id: UUID) -> None:
        """Remember one more endpoint."""
        self.endpoint_ids.append(endpoint_id)


ENDPOINT_INDEX_ID = uuid5(UUID("3b0d7c55-2f4e-4a8e-9d61-0c5e2a9f7b14"), "webhook-endpoints")

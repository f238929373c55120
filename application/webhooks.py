"""Webhook endpoints: create, read, change, rotate the secret, delete; and their operations
(delivery log, replay, test), on the dispatcher's store.

The signing secret is shown once (when created or rotated) and kept only sealed, under a
vault key of the endpoint's own (`webhook-endpoint:<id>`): deleting the endpoint destroys
that key, so its secrets can never be opened again.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from application.events_feed import KNOWN_TYPES
from application.privacy import ERASED
from domain.errors import InvalidValueError
from domain.webhooks import (
    WebhookEndpoint,
    WebhookEndpointIndex,
    WebhookEndpointNotFoundError,
    check_url,
    event_types,
)
from infrastructure.webhook_http import DestinationPolicy, UnsafeDestinationError, new_secret

TEST_EVENT_TYPE = "WebhookTest"


@dataclass(frozen=True)
class WebhookEndpointView:
    """An endpoint as it may be shown: never its secret."""

    id: UUID
    seller_id: str | None
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    disabled_reason: dict[str, str] | None
    previous_secret_valid_until: datetime | None
    created_at: datetime
    version: int

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointView:
        return cls(endpoint.id, endpoint.seller_id, endpoint.url, list(endpoint.event_types),
                   endpoint.description, endpoint.enabled, endpoint.disabled_reason,
                   endpoint.previous_valid_until, endpoint.created_at, endpoint.version)


@dataclass(frozen=True)
class EndpointWithSecret:
    """A new endpoint, or a new secret, with the secret in the clear: shown once."""

    endpoint: WebhookEndpointView
    secret: str


def subject_of(endpoint_id: UUID) -> str:
    """The vault subject whose key seals the endpoint's secrets."""
    return f"webhook-endpoint:{endpoint_id}"


class WebhookEndpoints:
    """The use cases of webhook endpoints, on the ledger (one save path, its vault)."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.settings = ledger.settings.webhooks
        self.policy = DestinationPolicy(self.settings.allow_loopback,
                                        self.settings.allow_private_networks)

    def _url(self, url: Any) -> str:
        checked = check_url(url, self.settings.allow_loopback)
        try:
            self.policy.check_url(checked)
        except UnsafeDestinationError as error:
            raise InvalidValueError("url", f"refused: {error}") from None
        except OSError as error:
            raise InvalidValueError("url", str(error)) from None
        return checked

    def _seal(self, endpoint_id: UUID, secret: str) -> dict[str, str]:
        return self.ledger.vault.seal(subject_of(endpoint_id), {"secret": secret})

    def create(self, *, seller_id: str | None, url: str, types: list[str] | None,
               description: str | None, enabled: bool, occurred_at: datetime,
               actor: str) -> EndpointWithSecret:
        """A new endpoint and its signing secret (shown this once)."""
        endpoint_id = uuid.uuid4()
        checked, wanted = self._url(url), event_types(types, KNOWN_TYPES)
        secret = new_secret()
        endpoint = WebhookEndpoint.create(
            endpoint_id=endpoint_id, seller_id=seller_id, url=checked, event_types=wanted,
            description=description, enabled=enabled,
            sealed_secret=self._seal(endpoint_id, secret), occurred_at=occurred_at,
            actor=actor)
        index = self._index()
        index.list_endpoint(endpoint.id)
        self.ledger.save(index, endpoint)
        return EndpointWithSecret(WebhookEndpointView.of(endpoint), secret)

    def get(self, endpoint_id: UUID) -> WebhookEndpoint:
        """The endpoint (a deleted one is not found)."""
        try:
            endpoint = self.ledger.repository.get(endpoint_id)
        except AggregateNotFoundError:
            raise WebhookEndpointNotFoundError(endpoint_id) from None
        if not isinstance(endpoint, WebhookEndpoint) or endpoint.deleted_at is not None:
            raise WebhookEndpointNotFoundError(endpoint_id)
        return endpoint

    def view(self, endpoint_id: UUID) -> WebhookEndpointView:
        return WebhookEndpointView.of(self.get(endpoint_id))

    def list_endpoints(self, sellers: tuple[str, ...] | None) -> list[WebhookEndpointView]:
        """Every live endpoint of these sellers (None: of everyone, admins' ones too)."""
        found = []
        for endpoint_id in self._index().endpoint_ids:
            try:
                endpoint = self.get(endpoint_id)
            except WebhookEndpointNotFoundError:
                continue
            if sellers is None or endpoint.seller_id in sellers:
                found.append(WebhookEndpointView.of(endpoint))
        return found

    def change(self, endpoint_id: UUID, changes: dict[str, Any], occurred_at: datetime,
               actor: str) -> WebhookEndpointView:
        """Change url, event types, description or enabled (one event, when anything differs)."""
        endpoint = self.get(endpoint_id)
        checked = dict(changes)
        if "url" in checked:
            checked["url"] = self._url(checked["url"])
        if "event_types" in checked:
            checked["event_types"] = event_types(checked["event_types"], KNOWN_TYPES)
        if endpoint.change(checked, occurred_at, actor):
            self.ledger.save(endpoint)
        return WebhookEndpointView.of(endpoint)

    def rotate_secret(self, endpoint_id: UUID, occurred_at: datetime,
                      actor: str) -> EndpointWithSecret:
        """A new secret (shown this once); the old one signs too for the grace period."""
        endpoint = self.get(endpoint_id)
        secret = new_secret()
        grace = timedelta(hours=self.settings.secret_grace_hours)
        endpoint.rotate_secret(self._seal(endpoint_id, secret), occurred_at + grace,
                               occurred_at, actor)
        self.ledger.save(endpoint)
        return EndpointWithSecret(WebhookEndpointView.of(endpoint), secret)

    def delete(self, endpoint_id: UUID, occurred_at: datetime, actor: str) -> None:
        """No more deliveries; the secrets' key is destroyed (crypto-shredded)."""
        endpoint = self.get(endpoint_id)
        endpoint.delete(occurred_at, actor)
        self.ledger.save(endpoint)
        self.ledger.vault.erase(subject_of(endpoint_id))

    def disable_for_failures(self, endpoint_id: UUID, failing_since: datetime,
                             last_error: str, now: datetime) -> bool:
        """WH-1, asked by the dispatcher; False when it is already disabled or gone."""
        try:
            endpoint = self.get(endpoint_id)
        except WebhookEndpointNotFoundError:
            return False
        if not endpoint.enabled:
            return False
        endpoint.disable_for_failures(failing_since, self.settings.disable_after_hours,
                                      last_error, now)
        self.ledger.save(endpoint)
        return True

    def signing_secrets(self, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
        """The secrets in the clear that sign at `now` (never logged, never stored open)."""
        opened = [self.ledger.vault.open(subject_of(endpoint.id), sealed).get("secret")
                  for sealed in endpoint.secrets_at(now)]
        return [s for s in opened if s and s != ERASED]

    def _index(self) -> WebhookEndpointIndex:
        try:
            return self.ledger.repository.get(WebhookEndpointIndex.create_id())
        except AggregateNotFoundError:
            return WebhookEndpointIndex()


def test_body(endpoint_id: UUID, webhook_id: str, now: datetime) -> str:
    """The body of a test delivery: the webhook envelope around no ledger event."""
    return json.dumps({"type": TEST_EVENT_TYPE, "timestamp": now.isoformat(),
                       "data": {"id": None, "type": TEST_EVENT_TYPE,
                                "endpoint_id": str(endpoint_id), "webhook_id": webhook_id}},
                      separators=(",", ":"))


def event_body(entry: dict[str, Any]) -> str:
    """The body of an event's delivery: {type, timestamp, data: the feed's entry}."""
    return json.dumps({"type": entry["type"], "timestamp": entry["recorded_at"],
                       "data": entry}, separators=(",", ":"), ensure_ascii=False)

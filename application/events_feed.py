"""The events feed: the ledger's events in log order, from any position, seller by seller.

Each entry is the event as the parcel's history shows it (same `data`, personal data
sealed or erased the same way), with its position in the log as its stable id. The
webhooks are built from the same entries (infrastructure/webhook_delivery.py), so a
webhook's `data` is exactly the feed's entry.

Events of the ledger's internal aggregates (API keys, idempotency records, indexes,
reconciliation runs) are not in the feed; positions are therefore not contiguous.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from application.audit.history import history_entry
from domain.address import ReturnAddress
from domain.customs import SkuCustomsProfile
from domain.errors import InvalidValueError
from domain.parcel import ReturnParcel
from domain.webhooks import WebhookEndpoint
from infrastructure.event_feed import select_aggregate_notifications

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_WAIT_SECONDS = 30.0  # the longest a long poll is held open
SCAN_PAGE = 500  # notifications read per look at the log
# A seller-scoped request reads at most this many notifications before it answers (with
# `next` past them), so one seller's request never scans the whole log of the others.
SCAN_LIMIT = 20_000
OWNER_CACHE_SIZE = 100_000
WITHHELD = "withheld"  # what the feed shows of a webhook endpoint's sealed secret

# The aggregates whose events the feed shows, by the name the feed gives their kind.
PUBLIC_AGGREGATES: dict[str, type[Aggregate]] = {
    "parcel": ReturnParcel,
    "return_address": ReturnAddress,
    "customs_profile": SkuCustomsProfile,
    "webhook_endpoint": WebhookEndpoint,
}


def _event_classes() -> dict[str, tuple[str, type]]:
    """{event type name: (aggregate kind, class)} of every event the feed shows."""
    found: dict[str, tuple[str, type]] = {}
    for kind, aggregate in PUBLIC_AGGREGATES.items():
        for name, member in vars(aggregate).items():
            if (isinstance(member, type) and issubclass(member, Aggregate.Event)
                    and not hasattr(Aggregate, name) and member.__qualname__.startswith(
                        aggregate.__name__ + ".")):
                if name in found:
                    raise RuntimeError(f"event type {name} is defined twice")
                found[name] = (kind, member)
    return found


EVENT_TYPES = _event_classes()
KNOWN_TYPES = frozenset(EVENT_TYPES)
TOPICS = {name: get_topic(cls) for name, (_, cls) in EVENT_TYPES.items()}
KIND_OF_TOPIC = {TOPICS[name]: kind for name, (kind, _) in EVENT_TYPES.items()}


@dataclass(frozen=True)
class FeedPage:
    """Entries in log order; `next` is the `after` of the following request."""

    events: list[dict[str, Any]]
    next: int
    head: int


def topics_for(types: Iterable[str] | None) -> list[str]:
    """The stored topics of the named event types (all public ones when none are named)."""
    wanted = sorted(set(types or ()))
    unknown = [t for t in wanted if t not in TOPICS]
    if unknown:
        raise InvalidValueError("types", f"unknown event types {unknown}; known: "
                                         f"{', '.join(sorted(TOPICS))}")
    return [TOPICS[t] for t in wanted] if wanted else sorted(TOPICS.values())


class EventFeed:
    """Reads the ledger's notification log as feed entries."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self._owners: OrderedDict[UUID, str | None] = OrderedDict()
        self._lock = threading.Lock()
        self._saved = threading.Condition()
        ledger.save_listeners.append(self._on_saved)

    # -- the seller an event belongs to ------------------------------------------------
    def owner(self, originator_id: UUID, created: Any | None = None) -> str | None:
        """The seller of an aggregate (None: an admin's webhook endpoint), remembered."""
        with self._lock:
            if originator_id in self._owners:
                self._owners.move_to_end(originator_id)
                return self._owners[originator_id]
        if created is None:
            first = list(self.ledger.events.get(originator_id, lte=1))
            created = first[0] if first else None
        seller = getattr(created, "seller_id", None)
        with self._lock:
            self._owners[originator_id] = seller
            if len(self._owners) > OWNER_CACHE_SIZE:
                self._owners.popitem(last=False)
        return seller

    def entry(self, domain_event: Any, position: int, kind: str,
              seller: str | None) -> dict[str, Any]:
        """One event as the feed (and every webhook) shows it; an endpoint's signing secret
        is withheld, even sealed (it is shown once, to whoever created or rotated it)."""
        entry = history_entry(domain_event, self.ledger.vault)
        data = entry.data
        if isinstance(data.get("sealed_secret"), dict):
            data = {**data, "sealed_secret": {k: WITHHELD for k in data["sealed_secret"]}}
        return {
            "id": position, "type": entry.type, "aggregate_type": kind,
            "aggregate_id": str(domain_event.originator_id),
            "parcel_id": str(domain_event.originator_id) if kind == "parcel" else None,
            "seller_id": seller, "version": entry.version,
            "recorded_at": entry.recorded_at.isoformat(),
            "occurred_at": entry.occurred_at.isoformat() if entry.occurred_at else None,
            "actor": entry.actor, "data": data,
        }

    def entry_of(self, notification: Any) -> tuple[dict[str, Any], str | None] | None:
        """A stored notification as a feed entry and its seller (None: not in the feed)."""
        kind = KIND_OF_TOPIC.get(notification.topic)
        if kind is None:
            return None
        domain_event = self.ledger.mapper.to_domain_event(notification)
        seller = self.owner(notification.originator_id,
                            domain_event if notification.originator_version == 1 else None)
        return self.entry(domain_event, notification.id, kind, seller), seller

    # -- pages -------------------------------------------------------------------------
    def read(self, after: int = 0, limit: int = DEFAULT_LIMIT,
             types: Iterable[str] | None = None, parcel_id: UUID | None = None,
             sellers: tuple[str, ...] | None = None) -> FeedPage:
        """Entries after position `after`, at most `limit`; `sellers` None: every seller."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidValueError("limit", f"must be between 1 and {MAX_LIMIT}")
        topics = set(topics_for(types))
        recorder = self.ledger.recorder
        head = recorder.max_notification_id() or 0
        if parcel_id is not None:
            return self._read_aggregate(parcel_id, after, limit, topics, sellers, head)
        events: list[dict[str, Any]] = []
        last, scanned = after, 0
        while len(events) < limit and scanned < SCAN_LIMIT and last < head:
            page = recorder.select_notifications(last + 1, SCAN_PAGE, stop=head,
                                                 topics=sorted(topics))
            for notification in page:
                last = notification.id
                found = (self.entry_of(notification)
                         if self._visible(notification, sellers) else None)
                if found is not None:
                    events.append(found[0])
                    if len(events) == limit:
                        break
            scanned += len(page)
            if len(page) < SCAN_PAGE and len(events) < limit:
                last = head  # nothing more of these types up to the head
        return FeedPage(events, max(last, after), head)

    def _visible(self, notification: Any, sellers: tuple[str, ...] | None) -> bool:
        """Whether the key may see it; looks the owner up without decoding when known."""
        if sellers is None:
            return True
        if notification.originator_version == 1:
            with self._lock:
                known = notification.originator_id in self._owners
            if not known:
                self.owner(notification.originator_id,
                           self.ledger.mapper.to_domain_event(notification))
        return self.owner(notification.originator_id) in sellers

    def _read_aggregate(self, aggregate_id: UUID, after: int, limit: int, topics: set[str],
                        sellers: tuple[str, ...] | None, head: int) -> FeedPage:
        notifications = select_aggregate_notifications(self.ledger.recorder, aggregate_id,
                                                       after, limit)
        events = []
        for notification in notifications:
            if notification.topic in topics and self._visible(notification, sellers):
                found = self.entry_of(notification)
                if found is not None:
                    events.append(found[0])
        if len(notifications) == limit:
            return FeedPage(events, notifications[-1].id, head)
        # Nothing more of it up to the head, read before: or up to the last one read, when
        # an event of it was recorded since (else the next page would show it again).
        last = notifications[-1].id if notifications else 0
        return FeedPage(events, max(head, after, last), head)

    # -- long polling ------------------------------------------------------------------
    def _on_saved(self, recordings: list[Any]) -> None:
        with self._saved:
            self._saved.notify_all()

    def wait(self, after: int, limit: int, wait: float, **filters: Any) -> FeedPage:
        """Like read(), but holds an empty answer up to `wait` seconds for new events:
        woken by this process's saves, and looking at the log every quarter second for
        other processes' ones."""
        if not 0 <= wait <= MAX_WAIT_SECONDS:
            raise InvalidValueError("wait", f"must be between 0 and {MAX_WAIT_SECONDS:g}")
        deadline = time.monotonic() + wait
        while True:
            page = self.read(after, limit, **filters)
            remaining = deadline - time.monotonic()
            if page.events or remaining <= 0:
                return page
            after = page.next
            with self._saved:
                self._saved.wait(min(0.25, remaining))

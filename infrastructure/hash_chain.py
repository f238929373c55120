"""The hash chain: each stored event carries the hash of its predecessor in its aggregate."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import EventStore, Mapper, Notification, Recording, StoredEvent

HASH_ALGORITHM = "sha256"
GENESIS = "0" * 64  # the prev_hash of every aggregate's version 1
PREV_HASH = "prev_hash"  # the member of the stored state that carries the link
EVENT_HASH_RULE = ("sha256(originator_id + 0x00 + originator_version + 0x00 + topic + 0x00 "
                   "+ state), originator_id as a lowercase hyphenated UUID, "
                   "originator_version in decimal ASCII, topic in UTF-8, state the stored bytes")
DIGEST_RULE = ("digest_0 = 32 zero bytes; digest_n = sha256(digest_(n-1) + "
               "notification_id as 8-byte big-endian + event_hash_n), over the stored events "
               "in notification id order; ids need not be contiguous")


def event_hash(originator_id: UUID | str, version: int, topic: str, state: bytes) -> str:
    """SHA-256 over what is really stored: id, version, topic and the state bytes."""
    head = f"{originator_id}\x00{version}\x00{topic}\x00".encode()
    return hashlib.sha256(head + bytes(state)).hexdigest()


def stored_hash(stored: StoredEvent) -> str:
    """The hash of one stored event (or notification)."""
    return event_hash(stored.originator_id, stored.originator_version, stored.topic,
                      stored.state)


def next_digest(digest: str, notification_id: int, hash_hex: str) -> str:
    """One step of the ledger digest along the notification log."""
    data = bytes.fromhex(digest) + notification_id.to_bytes(8, "big") + bytes.fromhex(hash_hex)
    return hashlib.sha256(data).hexdigest()


def embedded_prev_hash(state: bytes) -> str | None:
    """The prev_hash written inside a stored JSON state, or None when absent or unreadable."""
    try:
        value = json.loads(bytes(state)).get(PREV_HASH)
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


class ChainedMapper(Mapper[UUID]):
    """A Mapper that writes the predecessor's hash into the stored state, and drops it on read."""

    @classmethod
    def wrap(cls, mapper: Mapper[Any]) -> ChainedMapper:
        return cls(mapper.transcoder, mapper.compressor, mapper.cipher)

    def to_chained_stored_event(self, domain_event: Any, prev_hash: str) -> StoredEvent:
        """The stored form of a domain event, linked to its predecessor."""
        # Mapper.to_stored_event reads vars(event): hand it a shallow copy that carries
        # the link, so the domain event itself stays as the aggregate made it.
        linked = object.__new__(type(domain_event))
        object.__setattr__(linked, "__dict__", {**vars(domain_event), PREV_HASH: prev_hash})
        return self.to_stored_event(linked)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        vars(domain_event).pop(PREV_HASH, None)
        return domain_event


class ChainHeads:
    """LRU of (version, hash) of each aggregate's last stored event, per process."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._heads: OrderedDict[Any, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, originator_id: Any, version: int) -> str | None:
        """The hash of this aggregate's event at `version`, when it is the cached head."""
        with self._lock:
            head = self._heads.get(originator_id)
            if head is None or head[0] != version:
                return None
            self._heads.move_to_end(originator_id)
            return head[1]

    def advance(self, heads: dict[Any, tuple[int, str]]) -> None:
        with self._lock:
            for originator_id, head in heads.items():
                current = self._heads.get(originator_id)
                if current is None or current[0] < head[0]:
                    self._heads[originator_id] = head
                self._heads.move_to_end(originator_id)
            while len(self._heads) > self.maxsize:
                self._heads.popitem(last=False)


class ChainedEventStore(EventStore[UUID]):
    """Puts events with their prev_hash; advances the cached heads only once stored."""

    mapper: ChainedMapper

    def __init__(self, mapper: ChainedMapper, recorder: Any, cache_maxsize: int = 10000) -> None:
        super().__init__(mapper, recorder)
        self.heads = ChainHeads(cache_maxsize)
        self.head_misses = 0

    def put(self, domain_events: Sequence[Any], **kwargs: Any) -> list[Recording[UUID]]:
        pending: dict[Any, tuple[int, str]] = {}
        stored_events = []
        for domain_event in domain_events:
            originator_id, version = domain_event.originator_id, domain_event.originator_version
            prev = self._prev_hash(originator_id, version, pending)
            stored = self.mapper.to_chained_stored_event(domain_event, prev)
            pending[originator_id] = (version, stored_hash(stored))
            stored_events.append(stored)
        recordings = self._insert(domain_events, stored_events, **kwargs)
        self.heads.advance(pending)  # only reached when the insert succeeded
        return recordings

    def _prev_hash(self, originator_id: Any, version: int,
                   pending: dict[Any, tuple[int, str]]) -> str:
        if version == 1:
            return GENESIS
        in_batch = pending.get(originator_id)
        if in_batch is not None and in_batch[0] == version - 1:
            return in_batch[1]
        cached = self.heads.get(originator_id, version - 1)
        if cached is not None:
            return cached
        self.head_misses += 1
        last = self.recorder.select_events(originator_id, lte=version - 1, desc=True, limit=1)
        # A missing predecessor means the insert below will conflict: link to genesis.
        return stored_hash(last[0]) if last else GENESIS

    def _insert(self, domain_events: Sequence[Any], stored_events: list[StoredEvent],
                **kwargs: Any) -> list[Recording[UUID]]:
        notification_ids = self.recorder.insert_events(stored_events, **kwargs)
        if not notification_ids:
            return []
        return [Recording(d, Notification(originator_id=s.originator_id,
                                          originator_version=s.originator_version,
                                          topic=s.topic, state=s.state, id=n_id))
                for d, s, n_id in zip(domain_events, stored_events, notification_ids,
                                      strict=True)]

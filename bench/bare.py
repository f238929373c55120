"""The bare-store baseline: a minimal eventsourcing Application with a one-event aggregate."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Thing(Aggregate):
    """The smallest useful aggregate: created, then touched."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.touches = 0

    @event("Touched")
    def touch(self, note: str) -> None:
        self.touches += 1


class BareStore(Application[UUID]):
    """create+save, and get+trigger+save: what the library does with nothing on top."""

    name = "BareStore"

    def create(self, name: str) -> UUID:
        thing = Thing(name)
        self.save(thing)
        return thing.id

    def touch(self, thing_id: UUID, note: str) -> int:
        thing: Thing = self.repository.get(thing_id)
        thing.touch(note)
        self.save(thing)
        return thing.version

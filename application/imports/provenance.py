"""Where a command came from: the import line whose raw record it was mapped from.

While an import applies a line, the line's reference (the import's id, the line number,
the record's number in the file and the SHA-256 of the raw source record) is current;
the ledger's one save path stamps it on every parcel event the command records, as the
event's optional `source` (events recorded otherwise, and every event stored before
imports existed, read `source` None).
So an auditor goes from an event to the raw record the ledger was told, and the hash in
the event proves the stored record is the one it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass
class SourceStamp:
    """The reference stamped on the events of one line's command, and whether any were."""

    reference: dict[str, Any]
    stamped: bool = False


_CURRENT: ContextVar[SourceStamp | None] = ContextVar("import_source", default=None)


@contextmanager
def stamping(reference: dict[str, Any]) -> Iterator[SourceStamp]:
    """Stamp `reference` on the events saved inside the block."""
    stamp = SourceStamp(reference)
    token = _CURRENT.set(stamp)
    try:
        yield stamp
    finally:
        _CURRENT.reset(token)


def stamp_events(events: Iterable[Any]) -> bool:
    """Called by the ledger's save path with the parcel events about to be recorded;
    whether any was stamped (`saved` is told once they are recorded)."""
    stamp = _CURRENT.get()
    if stamp is None:
        return False
    stamped = False
    for event in events:
        if "source" in vars(event):  # stamped by its own line (a batch saves many lines)
            continue
        object.__setattr__(event, "source", dict(stamp.reference))  # frozen dataclass
        stamped = True
    return stamped


def saved(stamped: bool) -> None:
    """The stamped events were recorded (not refused: a key used before fails the save)."""
    stamp = _CURRENT.get()
    if stamp is not None and stamped:
        stamp.stamped = True

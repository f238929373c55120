"""Group commit: the saves of concurrent commands share one transaction, each keeps its outcome."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from eventsourcing.persistence import IntegrityError, Recording

# How many recent transaction sizes are kept (for tests and metrics): a bounded window,
# so memory does not grow with uptime.
RECENT_GROUPS = 1024


class Group(NamedTuple):
    """The events of one or more commands' saves, their aggregates, and the rows of
    their idempotency keys (infrastructure/idempotency_store.py)."""

    events: list[Any]
    aggregates: list[Any]
    keys: list[Any]


# Records one group in one transaction and answers its recordings.
StoreFn = Callable[[list[Any], list[Any], list[Any]], list[Recording[Any]]]


@dataclass
class _Save:
    """One command's save: its events (already collected), its aggregates, its key's row."""

    events: list[Any]
    aggregates: dict[Any, Any]
    keys: list[Any] = field(default_factory=list)
    done: bool = False
    recordings: list[Recording[Any]] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def ids(self) -> set[Any]:
        return {e.originator_id for e in self.events}

    def outcome(self) -> list[Recording[Any]]:
        if self.error is not None:
            raise self.error
        return self.recordings


def _group(saves: Sequence[_Save]) -> Group:
    group = Group([], [], [])
    for save in saves:
        group.events.extend(save.events)
        group.aggregates.extend(save.aggregates.values())
        group.keys.extend(save.keys)
    return group


class GroupCommitter:
    """While one transaction is in flight, the saves that arrive queue; the next one to
    run takes them all and records them in one transaction (one lock, one flush).

    A group that conflicts is retried save by save, so a conflict fails only its own
    command. Saves touching an aggregate already in the group go alone, after it, in
    arrival order: optimistic concurrency decides them as it would without grouping.
    """

    def __init__(self, store: StoreFn, max_group: int = 64) -> None:
        self._store: Callable[[Group], list[Recording[Any]]] = lambda g: store(*g)
        self.max_group = max_group
        self._queue: list[_Save] = []
        self._busy = False
        self._cond = threading.Condition()
        # Sizes of the last transactions recorded (for tests, metrics), and the totals.
        self.groups: deque[int] = deque(maxlen=RECENT_GROUPS)
        self.transactions = 0
        self.saves = 0

    def save(self, aggregates: Sequence[Any], keys: Sequence[Any] = ()) -> list[Recording[Any]]:
        """Save these aggregates' pending events (and the rows of their idempotency keys),
        atomically, grouped with others'."""
        events = [e for a in aggregates for e in a.collect_events()]
        entry = _Save(events, {a.id: a for a in aggregates}, list(keys))
        with self._cond:
            self._queue.append(entry)
            while not entry.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True
                batch = self._queue[:self.max_group]
                del self._queue[:len(batch)]
                self._cond.release()
                try:
                    self._commit(batch)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        return entry.outcome()

    def _commit(self, batch: list[_Save]) -> None:
        group: list[_Save] = []
        later: list[_Save] = []
        seen: set[Any] = set()
        for save in batch:
            (later if save.ids & seen else group).append(save)
            seen |= save.ids
        self._record_group(group)
        for save in later:
            self._record_alone(save)

    def _record_group(self, group: list[_Save]) -> None:
        if len(group) == 1:
            self._record_alone(group[0])
            return
        try:
            recordings = self._store(_group(group))
        except IntegrityError:
            for save in group:  # someone conflicts: find out who, save by save
                self._record_alone(save)
            return
        except BaseException as error:  # noqa: BLE001 - every waiting command gets it
            for save in group:
                save.error, save.done = error, True
            return
        self._count(len(group))
        for save in group:
            ids = save.ids
            save.recordings = [r for r in recordings if r.domain_event.originator_id in ids]
            save.done = True

    def _record_alone(self, save: _Save) -> None:
        try:
            save.recordings = self._store(_group([save]))
            self._count(1)
        except BaseException as error:  # noqa: BLE001 - raised in the command's own thread
            save.error = error
        save.done = True

    def _count(self, size: int) -> None:
        self.groups.append(size)
        self.transactions += 1
        self.saves += size

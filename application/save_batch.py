"""Many commands, one transaction: the saves of a block collected and recorded together.

Inside `ledger.batched()`, a command decides as always but its save does not write: the
aggregates it changed (and its idempotency record) join the batch, and a later command
on the same aggregate in the block acts on that same object, so it sees what the
earlier ones decided. `ledger.flush(batch)` then records everything through the one save
path, in one transaction: all of it, or (a version or key stored first by someone else)
none of it, and the caller runs the commands again one by one. Used by bulk imports
(application/imports/engine.py), where a transaction per command would cost more than
the commands do. A command that fails inside a block may have changed its aggregate
before failing: the caller must then not flush the batch (the import engine checks the
aggregate's pending events).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID


class SaveBatch:
    """The aggregates a block of commands changed, by id, in the order first changed."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner  # the ledger whose saves it collects (not another one's)
        self.aggregates: dict[UUID, Any] = {}
        self.keys: list[Any] = []  # the commands' idempotency rows

    def add(self, aggregates: Iterable[Any], keys: Iterable[Any] = ()) -> None:
        for aggregate in aggregates:
            self.aggregates.setdefault(aggregate.id, aggregate)
        self.keys.extend(keys)

    def get(self, aggregate_id: UUID) -> Any:
        return self.aggregates.get(aggregate_id)


_CURRENT: ContextVar[SaveBatch | None] = ContextVar("save_batch", default=None)


def current_batch(owner: Any) -> SaveBatch | None:
    """The batch collecting this ledger's saves in this context, if any."""
    batch = _CURRENT.get()
    return batch if batch is not None and batch.owner is owner else None


class BatchedSaves:
    """Mixed into the ledger: `batched()` and `flush()`."""

    save: Any

    @contextmanager
    def batched(self) -> Iterator[SaveBatch]:
        batch = SaveBatch(self)
        token = _CURRENT.set(batch)
        try:
            yield batch
        finally:
            _CURRENT.reset(token)

    def flush(self, batch: SaveBatch) -> list[Any]:
        """Record the batch in one transaction (raises the save path's conflict errors)."""
        if _CURRENT.get() is batch:
            raise RuntimeError("flush the batch after its block")
        changed = [a for a in batch.aggregates.values() if a.pending_events]
        return self.save(*changed, keys_too=batch.keys) if changed else []

"""The command cache: a command acts on the copy of the aggregate this process holds.

With `COMMAND_CACHE=yes` (the default) a command takes the parcel this process holds in
the repository's cache, without reading the store. If another process changed it since,
the command's save conflicts (a version is stored once) or the command decides on an
older state: `_act` then decides again on the parcel as stored. A stale copy so costs a
retry, never a wrong answer; but it means a command may RUN TWICE, which is safe only
because commands have no effect outside their own transaction (see application/ledger.py).

With `COMMAND_CACHE=no` every command reads the aggregate with the library's plain
`repository.get`, once, and nothing here is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from copy import deepcopy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from application.dto import CommandResult
from application.save_batch import current_batch
from domain.errors import DomainError, VersionConflictError
from domain.idempotency import IdempotencyRecord
from domain.parcel import ReturnParcel
from infrastructure.seam import fastforward_lock

if TYPE_CHECKING:
    from eventsourcing.application import Repository

T = TypeVar("T")
ParcelCommand = Callable[[ReturnParcel], Any]


@dataclass(frozen=True)
class ParcelScope:
    """Whose parcel it is: what a request checks before it may act on the parcel."""

    id: UUID
    seller_id: str


# The parcel loaded for this request, and whether it was read from the store (not cache).
_LOADED: ContextVar[tuple[ReturnParcel, bool] | None] = ContextVar("loaded_parcel",
                                                                   default=None)


class CommandCache:
    """Mixed into the ledger: where a command's aggregate comes from, and a second try."""

    repository: Repository[UUID]
    command_cache = True
    # The ledger's own (application/ledger.py):
    _get_parcel: Callable[..., ReturnParcel]
    _act_on: Callable[[ReturnParcel, ParcelCommand, int | None], CommandResult]

    @contextmanager
    def parcel_loaded(self, parcel_id: UUID) -> Iterator[ParcelScope]:
        """Whose parcel it is; the first command on it inside the block reuses this load
        (one load per command request: the seller-scope check and the command share it)."""
        loaded = self._parcel_for_command(parcel_id)
        token = _LOADED.set(loaded)
        try:
            yield ParcelScope(parcel_id, loaded[0].seller_id)
        finally:
            _LOADED.reset(token)

    @staticmethod
    def _take_loaded(parcel_id: Any) -> tuple[ReturnParcel, bool] | None:
        """The parcel loaded for this request, once (a second load reads the store again)."""
        loaded = _LOADED.get()
        if loaded is None or loaded[0].id != parcel_id:
            return None
        _LOADED.set(None)
        return loaded

    def _remember_saved(self, aggregates: Sequence[Any], handed_over: bool = False) -> None:
        """Hold what was saved: the next command on it reads only newer events (the library
        caches on save only without fast-forward, which several workers need). A copy,
        unless the saver handed the aggregates over (it no longer reads or changes them):
        commands always act on a copy taken from the cache, so the cached one only
        changes by the repository's fast-forward, under its lock."""
        cache = self.repository.cache
        if not self.command_cache or cache is None:
            return
        for aggregate in aggregates:
            if not isinstance(aggregate, IdempotencyRecord):  # read back only on a retry
                cache.put(aggregate.id, aggregate if handed_over else deepcopy(aggregate))

    def _parcel_for_command(self, parcel_id: UUID) -> tuple[ReturnParcel, bool]:
        """The parcel a command acts on, and whether it was just read from the store.
        Inside a save batch: the batch's own object (application/save_batch.py)."""
        batch = current_batch(self)
        if batch is not None:
            held_in_batch = batch.get(parcel_id)
            if isinstance(held_in_batch, ReturnParcel):
                return held_in_batch, True
            # The cached copy when there is one: a stale one makes the batch's flush
            # conflict, and its commands are decided again one by one, on the stored parcel.
            parcel = self._held_copy(parcel_id) or self._get_parcel(parcel_id)
            batch.add([parcel])
            return parcel, True
        held = self._held_copy(parcel_id)
        if held is not None:
            return held, False
        return self._get_parcel(parcel_id), True

    def _held_copy(self, parcel_id: UUID) -> ReturnParcel | None:
        """A copy of the parcel this process holds in its cache, if it holds it."""
        return self._read_held(parcel_id, ReturnParcel, deepcopy)

    def _read_held(self, aggregate_id: UUID, kind: type,
                   read: Callable[[Any], T]) -> T | None:
        """`read` of the aggregate of this kind this process holds in its cache, if any,
        under the lock the repository fast-forwards it under."""
        cache = self.repository.cache
        if not self.command_cache or cache is None:
            return None
        with fastforward_lock(self.repository, aggregate_id):
            try:
                held = cache.get(aggregate_id)
            except KeyError:
                return None
            return read(held) if isinstance(held, kind) else None

    def _get_copy(self, aggregate_id: UUID) -> Any:
        """The aggregate as stored now, as a copy of its own.

        The repository fast-forwards a cached aggregate in place and copies it after
        releasing its lock; a reader in another thread (deadlines timer, threaded
        server) must never copy one half-updated, so the copy is taken under that lock.
        The copy is cheap (domain/copying.py).
        """
        if not self.command_cache or self.repository.cache is None:
            return self.repository.get(aggregate_id)
        aggregate: Any = self.repository.get(aggregate_id, deepcopy_from_cache=False)
        with fastforward_lock(self.repository, aggregate_id):
            return deepcopy(aggregate)

    def _act(self, parcel_id: UUID, command: ParcelCommand,
             expected_version: int | None = None) -> CommandResult:
        """Load the parcel, check If-Match, run the command, save, answer; a parcel
        taken from the cache that did not lead to a save is decided again, read afresh."""
        loaded = self._take_loaded(parcel_id)
        parcel, fresh = loaded if loaded is not None else self._parcel_for_command(parcel_id)
        if not fresh:
            try:
                result = self._act_on(parcel, command, expected_version)
            except (DomainError, VersionConflictError):
                result = None
            if result is not None and result.position is not None:
                return result
            parcel = self._get_parcel(parcel_id)
        return self._act_on(parcel, command, expected_version)

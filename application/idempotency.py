"""Idempotent commands: a retry with the same key answers the first result, once."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

from application.dto import CommandResult, plain
from domain.address import ReturnAddress
from domain.errors import DomainError
from domain.idempotency import FirstAnswer, IdempotencyRecord, idempotency_record_id
from domain.money import Money
from domain.parcel import ReturnParcel
from infrastructure.idempotency_store import IdempotencyRow

T = TypeVar("T")


@dataclass(frozen=True)
class Idempotency:
    """A caller's key for one request, and the fingerprint of that request."""

    scope: str
    key: str
    fingerprint: str


@dataclass
class _Pending:
    idempotency: Idempotency
    after_position: int
    extra: dict[str, Any] = field(default_factory=dict)
    saved: bool = False  # the record was stored with the command's events


_PENDING: ContextVar[_Pending | None] = ContextVar("pending_idempotency", default=None)

# How stale the lower bound of the log head may get before the store is asked again.
HEAD_REFRESH_SECONDS = 1.0


_AS_IS = frozenset({str, int, float, bool, type(None)})


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names (None for any other type), looked up once per type."""
    try:
        return _FIELD_NAMES[cls]
    except KeyError:
        names = _FIELD_NAMES[cls] = _dataclass_fields(cls)
        return names


def _dataclass_fields(cls: type) -> tuple[str, ...] | None:
    if not dataclasses.is_dataclass(cls):
        return None
    return tuple(f.name for f in dataclasses.fields(cls))


def jsonable(value: Any) -> Any:
    """A command's answer as JSON-ready data: Money as a dict, decisions as objects."""
    if type(value) in _AS_IS:
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Money):
        return value.as_dict()
    names = _field_names(type(value))
    if names is not None:
        return {name: jsonable(getattr(value, name)) for name in names}
    return plain(value)


class IdempotentCommands:
    """Mixed into the ledger: the key's row is saved in the same transaction as the
    command's events (a row of the idempotency keys' table, not an event of its own)."""

    recorder: Any  # the ledger's (infrastructure/persistence.py LedgerRecorder)
    repository: Repository[UUID]
    mapper: Any  # the ledger's (its transcoder encodes the answers)
    # False on a store initialised before the keys' table existed (until `db init` runs
    # again): the key is then saved as an IdempotencyRecord aggregate, as it was.
    idempotency_rows = True
    # The ledger's own (application/addresses.py, application/customs.py):
    _address_view: Callable[[Any], Any]
    _customs_view: Callable[[Any], Any]

    def run_once(self, idempotency: Idempotency | None, command: Callable[[], T],
                 effects_outside: bool = False) -> T:
        """Run the command, or answer again what the first request with this key got.

        `effects_outside`: the command also writes outside its own transaction (it seals
        personal data in the key store), so a retry must not run it at all: the key is
        looked up first.
        """
        if idempotency is None:
            return command()
        if effects_outside:
            answer = self._answer_again(idempotency)
            if answer is not None:
                return answer
        # Otherwise optimistic: no look-up first. The record is inserted in the command's
        # own transaction, so a key already used makes that transaction fail as a whole
        # (the record's first version exists) and nothing is recorded twice; only then,
        # or when the command saved nothing, is the first answer read back.
        pending = _Pending(idempotency, self._log_head_bound())
        token = _PENDING.set(pending)
        try:
            result = command()
        except Exception as error:  # noqa: BLE001 - re-raised unless the key was used before
            return self._answer_instead(idempotency, error)
        finally:
            _PENDING.reset(token)
        if not pending.saved:  # nothing saved: a retry of a no-op answers the first result
            answer = self._answer_again(idempotency)
            if answer is not None:
                return answer
        return result

    def _answer_instead(self, idempotency: Idempotency, error: Exception) -> Any:
        """The command failed: the first answer if the key was used before (or by a
        concurrent twin that won), whatever the failure on this retry; else the error."""
        try:
            answer = self._answer_again(idempotency)  # 422 when the key was reused
        except DomainError:
            raise
        except Exception:  # noqa: BLE001 - the store failed too: tell the command's error
            raise error from None
        if answer is None:
            raise error
        return answer

    _head_seen = 0
    _head_read_at = float("-inf")

    def _log_head_bound(self) -> int:
        """A position no later than the log's head: the last one this process saw stored,
        re-read from the store at most once a second (a replay scans on from it)."""
        now = time.monotonic()
        if now - self._head_read_at >= HEAD_REFRESH_SECONDS:
            head = self.recorder.max_notification_id() or 0
            self._head_seen, self._head_read_at = max(self._head_seen, head), now
        return self._head_seen

    def _saved(self, recordings: list[Any]) -> None:
        """After a save: the last position stored is the next lower bound, for free, and a
        pending key's record went with the command's events."""
        ids = [r.notification.id for r in recordings if r.notification.id is not None]
        if ids:
            self._head_seen = max(self._head_seen, *ids)
        pending = _PENDING.get()
        if pending is not None:
            pending.saved = True

    def _note_extra(self, extra: dict[str, Any]) -> None:
        pending = _PENDING.get()
        if pending is not None:
            pending.extra = jsonable(extra)

    def _with_record(self, *aggregates: Any) -> tuple[tuple[Any, ...], list[IdempotencyRow]]:
        """The aggregates to save, and the row of the pending key (none without a key).
        On a store without the keys' table the record goes first, as an aggregate."""
        pending = _PENDING.get()
        if pending is None or not aggregates:
            return aggregates, []
        primary = aggregates[-1]
        idem = pending.idempotency
        result = {"id": str(primary.id), "version": primary.version, "extra": pending.extra}
        if not self.idempotency_rows:
            record = IdempotencyRecord(
                scope=idem.scope, key=idem.key, fingerprint=idem.fingerprint, result=result,
                after_position=pending.after_position)
            return (record, *aggregates), []
        # The ledger's own transcoder: the answer reads back as the events' data would.
        encoded = self.mapper.transcoder.encode(result).decode()
        return aggregates, [IdempotencyRow(
            idempotency_record_id(idem.scope, idem.key), idem.scope, idem.key,
            idem.fingerprint, encoded, pending.after_position)]

    def _first_answer(self, idempotency: Idempotency) -> FirstAnswer | None:
        """The key's row; else the record of a store that kept keys as events."""
        record_id = idempotency_record_id(idempotency.scope, idempotency.key)
        row = self.recorder.idempotency_row(record_id) if self.idempotency_rows else None
        if row is not None:
            result = self.mapper.transcoder.decode(row.result.encode())
            return FirstAnswer(row.key, row.fingerprint, result, row.after_position)
        try:
            record: IdempotencyRecord = self.repository.get(record_id)
        except AggregateNotFoundError:
            return None
        return record.first_answer()

    def _answer_again(self, idempotency: Idempotency) -> Any:
        first = self._first_answer(idempotency)
        if first is None:
            return None
        first.check(idempotency.fingerprint)
        result = first.result
        aggregate: Any = self.repository.get(
            UUID(result["id"]), version=result["version"])
        if isinstance(aggregate, ReturnParcel):
            position = self._position_of(aggregate.id, aggregate.version, first.after_position)
            return CommandResult(aggregate.id, aggregate.version, aggregate.status.value,
                                 position, result["extra"])
        if isinstance(aggregate, ReturnAddress):
            return self._address_view(aggregate)
        return self._customs_view(aggregate)

    def _position_of(self, originator_id: UUID, version: int, after: int) -> int | None:
        """Where the command's last event sits in the log: it was recorded after `after`."""
        start = after + 1
        while True:
            page = self.recorder.select_notifications(start, 500)
            for notification in page:
                if (str(notification.originator_id) == str(originator_id)
                        and notification.originator_version == version):
                    return notification.id
            if len(page) < 500:
                return None
            start = page[-1].id + 1

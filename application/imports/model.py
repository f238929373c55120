"""What an import reads and what it asks of the ledger: the contract between the source
formats (application/imports/formats/) and the import engine.

A format reads a file (or one pushed delivery) as source records and maps each record,
purely, to `Mapped`: the ledger commands it stands for, in the API's own vocabulary (the
command's path segment and its JSON body), the record's source identity (its idempotency
key) and the row of the mapping table that decided it. A record the mapping does not know
raises `UnmappedStatusError` (reported as unmapped, never guessed); one that cannot be
read raises `UnreadableRecordError`.
A known record that deliberately changes nothing maps to no commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Protocol


class UnreadableRecordError(ValueError):
    """A source record that cannot be read (a missing column, a bad time): why."""


class UnmappedStatusError(ValueError):
    """A source status the mapping table does not know: reported as unmapped."""


@dataclass(frozen=True)
class Target:
    """Which parcel a command is for: its id, or a tracking number (the parcel's own, or
    the return label's) on a platform (any platform when None), or a platform order."""

    parcel_id: str | None = None
    tracking_number: str | None = None
    platform: str | None = None
    order_id: str | None = None
    seller_id: str | None = None


@dataclass(frozen=True)
class LineCommand:
    """One ledger command, as the API takes it: `command` is the path segment under
    /v1/parcels/{id}/ (e.g. "delivery-attempts", "receipts"), or "parcels" to register
    one; `body` is the request body. `on_return_leg` is the command to run instead when
    the target's tracking number is the parcel's return label (a carrier's "Delivered"
    on the way back is a receipt, not a delivery)."""

    command: str
    target: Target
    body: dict[str, Any]
    occurred_at: datetime
    on_return_leg: str | None = None


@dataclass(frozen=True)
class Mapped:
    """A source record mapped: its identity, the mapping row applied, its commands."""

    source_key: str
    rule: str
    commands: tuple[LineCommand, ...] = field(default=())


@dataclass(frozen=True)
class SourceRecord:
    """A record as read from the file: where it was, its fields and its raw bytes."""

    line_no: int
    fields: dict[str, Any]
    raw: bytes


class Format(Protocol):
    """A source format: its name, the documentation it follows, how to read a file of
    it (records, or UnreadableRecordError for a record that cannot be read) and how to map one."""

    name: str
    source: str

    def read(self, stream: IO[bytes]) -> Iterator[SourceRecord | tuple[int, bytes, UnreadableRecordError]]:
        ...

    def map(self, record: SourceRecord) -> Mapped:
        ...


class CommandRefusedError(ValueError):
    """A command the API would refuse: the problem's type (a URN), its detail and the rule
    that broke, if one did. Raised by the command catalog the engine is given."""

    def __init__(self, type_: str, detail: str, rule: str | None = None) -> None:
        super().__init__(detail)
        self.type, self.detail, self.rule = type_, detail, rule


class CommandCatalog(Protocol):
    """The API's commands by name (interfaces/api/catalog.py), injected into the engine:
    `load` validates a body with the command's own request schema, `run` makes the ledger
    call, `refusal` turns a domain error into the problem the API would answer."""

    names: frozenset[str]

    def load(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        ...

    def run(self, ledger: Any, name: str, parcel_id: Any, loaded: dict[str, Any],
            actor: str) -> Any:
        ...

    def refusal(self, error: Exception) -> CommandRefusedError:
        ...

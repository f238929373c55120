"""The canonical status mapping: per source vocabulary, one table from each source status to
the ledger's commands and the state they lead to (docs/IMPORT_MAPPINGS.md is rendered from
these very tables, and a test keeps the two equal).

A status the table does not hold is unmapped (`UnmappedStatusError`), never guessed; a row
without steps is known and deliberately ignored (its note says why).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from application.imports.formats.tabular import rfc3339
from application.imports.model import LineCommand, Target, UnmappedStatusError


@dataclass(frozen=True)
class Step:
    """One ledger command a status stands for: the API path segment, the fixed part of its
    body, and the command to run instead on the return label's tracking number."""

    command: str
    body: Mapping[str, Any] = field(default_factory=dict)
    on_return_leg: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", MappingProxyType(dict(self.body)))

    def line(self, target: Target, occurred_at: datetime,
             extra: Mapping[str, Any] | None = None) -> LineCommand:
        """The command for one record: the fixed body, the record's own fields, its time."""
        body = {**self.body, **(extra or {}), "occurred_at": rfc3339(occurred_at)}
        return LineCommand(self.command, target, body, occurred_at, self.on_return_leg)

    def describe(self) -> str:
        """The step as the doc's table shows it."""
        fixed = ", ".join(f"{k} {v}" for k, v in self.body.items())
        text = f"`{self.command}`" + (f" ({fixed})" if fixed else "")
        if self.on_return_leg:
            text += f"; on the return label: `{self.on_return_leg}`"
        return text


@dataclass(frozen=True)
class Row:
    """A source status, what the source's documentation says it means, the steps it maps
    to, the parcel status they lead to, and the assumption (or why it is ignored)."""

    status: str
    meaning: str
    steps: tuple[Step, ...]
    leads_to: str
    note: str = ""

    @property
    def ignored(self) -> bool:
        """Known, and deliberately no command."""
        return not self.steps


@dataclass(frozen=True, eq=False)  # one table is one vocabulary: compared by identity
class StatusTable:
    """One vocabulary's table: its name, where it is documented, its rows."""

    vocabulary: str
    source: str
    rows: tuple[Row, ...]

    def __post_init__(self) -> None:
        seen = [r.status for r in self.rows]
        if len(seen) != len(set(seen)):
            raise ValueError(f"{self.vocabulary}: a status twice in its table")

    def row(self, status: str) -> Row:
        """The row for a source status, or UnmappedStatusError: never a guess."""
        for candidate in self.rows:
            if candidate.status == status:
                return candidate
        raise UnmappedStatusError(
            f"{self.vocabulary} status {status!r} is not in the mapping table "
            "(docs/IMPORT_MAPPINGS.md): reported as unmapped")

    def markdown(self) -> str:
        """The table as docs/IMPORT_MAPPINGS.md shows it."""
        lines = ["| source status | meaning (source's docs) | ledger command(s) | "
                 "resulting state | assumption / why ignored |",
                 "| --- | --- | --- | --- | --- |"]
        for r in self.rows:
            commands = "; then ".join(s.describe() for s in r.steps) or "ignored"
            lines.append(f"| `{r.status}` | {r.meaning} | {commands} | {r.leads_to} | "
                         f"{r.note} |")
        return "\n".join(lines)


def ignore(status: str, meaning: str, note: str) -> Row:
    """A known status that deliberately changes nothing."""
    return Row(status, meaning, (), "unchanged", note)


def rows(*groups: Iterable[Row]) -> tuple[Row, ...]:
    """The rows of a table, from groups of rows in the order the doc shows them."""
    return tuple(r for group in groups for r in group)

"""What an import looks like to its readers, and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.errors import DomainError, NotFoundError

# Every outcome a line can have, in the order the summary lists them.
OUTCOMES = ("applied", "already_applied", "waiting", "refused", "late", "held", "held_late",
            "unreadable", "unmapped", "ignored", "pending")


class ImportNotFoundError(NotFoundError):
    """No import has that id (or not one the caller's seller may see)."""

    def __init__(self, key: object) -> None:
        super().__init__(f"import {key} not found")


class ImportTooLargeError(DomainError):
    """The file is larger than the import size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the import limit of {limit} bytes: split "
                         "it into several files (each line is imported once, whichever "
                         "file it is in)")
        self.limit = limit


@dataclass(frozen=True)
class ImportView:
    """An import: what was read, how far it got, and its lines counted per outcome."""

    id: str
    format: str
    scope: str
    digest: str
    size: int
    file_name: str
    origin: str
    status: str
    started_at: str
    started_by: str
    key_id: str
    staged_lines: int
    finished_at: str | None
    failure: str | None
    counts: dict[str, int] = field(default_factory=dict)
    already: bool = False

    @classmethod
    def of(cls, row: dict[str, Any], counts: dict[str, int], already: bool = False
           ) -> ImportView:
        return cls(id=row["import_id"], format=row["format"], scope=row["scope"],
                   digest=row["digest"], size=int(row["size"]), file_name=row["file_name"],
                   origin=row["origin"], status=row["status"], started_at=row["started_at"],
                   started_by=row["started_by"], key_id=row["key_id"],
                   staged_lines=int(row["staged_lines"] or 0), finished_at=row["finished_at"],
                   failure=row["failure"], counts=counts, already=already)

    @property
    def done(self) -> bool:
        return self.status in ("done", "failed")

    def as_dict(self) -> dict[str, Any]:
        summary = {name: self.counts.get(name, 0) for name in OUTCOMES}
        return {"id": self.id, "format": self.format, "seller_scope": self.scope or None,
                "status": self.status, "sha256": self.digest, "size": self.size,
                "file_name": self.file_name, "origin": self.origin,
                "started_at": self.started_at, "started_by": self.started_by,
                "records_read": self.staged_lines, "finished_at": self.finished_at,
                "failure": self.failure, "summary": summary,
                "rows": sum(self.counts.values()), "already_accepted": self.already}


class RawRecordTamperedError(DomainError):
    """A stored raw record does not hash to the SHA-256 its row (and its events) hold."""

    def __init__(self, import_id: object, line_no: int) -> None:
        super().__init__(f"import {import_id} line {line_no}: the stored raw record does not "
                         "match its SHA-256 (the row was changed): not shown")

"""Bulk imports: a file of source records in, ledger commands out, an outcome per line.

`accept` copies the upload to the spool directory while taking its SHA-256 (past the
size limit it stops reading and refuses), and records the import; its id is derived from
the format, the seller scope and the content digest, so the same file twice is one
import. `run` (a background thread, the runner or `returns-ledger imports worker`) then
1. stages: reads the spooled file through its format, maps each record, and stores one
   row per command (or one per unreadable, unmapped or ignored line) with the raw record
   (sealed) and its SHA-256, a thousand lines per transaction, and how far it read;
2. applies: the staged commands per parcel in business-time order, each as the API would
   run it (the command catalog's schema and ledger call), once per source identity (the
   ledger's idempotency records, scope `import:<format>:<seller>`), one ledger transaction
   per command (or a hundred per batch); a command the parcel's state does not allow yet
   is held and tried again after the others; what stays held is `late` when the parcel
   has moved past the line's business time (a scan never moves a parcel backwards), else
   `waiting`. The waiting lines of other imports for the same parcels are taken in with
   the file's own, per parcel in business-time order (`_Applier._with_waiting`);
3. is done: the counts per outcome are read from the rows; then the waiting lines of the
   parcels the event log shows advanced (by this import, another, or an API command) are
   applied (`wake_waiting`, from a cursor in the store).
A crash anywhere resumes (`resume`): staging from the line it got to, applying from the
first row without an outcome; a command applied whose outcome was not yet written is
answered by its idempotency record and recognised as this import's by its events' source.
Memory stays flat: the file is streamed, rows are read and written a page at a time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import PersistenceError

from application.idempotency import Idempotency
from application.imports.formats.registry import UnknownFormatError, get_format
from application.imports.model import (
    CommandCatalog,
    CommandRefusedError,
    Format,
    LineCommand,
    SourceRecord,
    UnmappedStatusError,
    UnreadableRecordError,
)
from application.imports.provenance import stamping
from application.imports.targets import LABEL_ISSUED, REGISTERED, Targets
from application.imports.views import (
    ImportNotFoundError,
    ImportTooLargeError,
    ImportView,
    RawRecordTamperedError,
)
from domain.errors import DomainError, ParcelNotFoundError, TransitionError
from domain.idempotency import idempotency_record_id
from domain.parcel import parcel_id

IMPORT_NAMESPACE = uuid5(NAMESPACE_URL, "https://returns-ledger.invalid/import")
SPOOL_ENV = "IMPORT_SPOOL_DIR"
MAX_BYTES_ENV = "IMPORT_MAX_BYTES"
DEFAULT_MAX_BYTES = 1024 ** 3  # 1 GiB
STAGE_LINES = 1000  # lines staged per transaction
APPLY_PAGE = 500  # staged commands read at once
BATCH_LINES = 100  # commands saved per ledger transaction (outcomes written per batch)
HELD_PASSES = 3
HELD = ("held", "held_late")
WAITING = "waiting"  # the cursor of the event log read for waiting lines
WAKE_PAGE = 1000  # events read at once for waiting lines
WOKEN = "applied after waiting: its parcel advanced in a later import or command"
# Refusals that another step may lift: what `retry` applies again.
RETRYABLE = ("urn:returns-ledger:problem:parcel-not-found",
             "urn:returns-ledger:problem:invalid-transition")
COPY_CHUNK = 1024 * 1024
SAME_RAW = "same:"  # a row whose raw record is that of the row before it on its line
log = logging.getLogger("returns_ledger.imports")


def import_id(format_name: str, scope: str, digest: str) -> UUID:
    """The same file, in the same format, for the same seller scope: the same import."""
    return uuid5(IMPORT_NAMESPACE, f"{format_name}\n{scope}\n{digest}")


def max_bytes(env: Any) -> int:
    return int(env.get(MAX_BYTES_ENV) or DEFAULT_MAX_BYTES)


class ImportDesk:
    """Accepts, runs and reads imports on one ledger, with the API's command catalog."""

    def __init__(self, ledger: Any, catalog: CommandCatalog,
                 spool_dir: str | Path | None = None) -> None:
        self.ledger = ledger
        self.catalog = catalog
        self.store = ledger.recorder.imports
        self.stopping: Callable[[], bool] = lambda: False
        configured = spool_dir or ledger.env.get(SPOOL_ENV)
        if configured:
            self.spool = Path(configured)
        else:
            name = ledger.env.get("SQLITE_DBNAME") or ""
            base = Path(name).parent if name and name != ":memory:" else Path("var")
            self.spool = base / "import-spool"

    # -- accepting ----------------------------------------------------------------------
    def accept(self, stream: IO[bytes], format_name: str, scope: str, started_by: str,
               key_id: str, now: datetime, file_name: str = "import",
               origin: str = "upload", limit: int | None = None) -> ImportView:
        """Spool the file and record the import (or answer the same file's import)."""
        fmt = get_format(format_name)
        limit = max_bytes(self.ledger.env) if limit is None else limit
        self.spool.mkdir(parents=True, exist_ok=True)
        temporary = self.spool / f"upload-{os.getpid()}-{os.urandom(8).hex()}"
        try:
            digest, size = _copy(stream, temporary, limit)
            the_id = import_id(fmt.name, scope, digest)
            known = self.store.get_import(str(the_id))
            if known is not None:
                return self.get(the_id, already=True)
            os.replace(temporary, self._spooled(the_id))
        finally:
            temporary.unlink(missing_ok=True)
        added = self.store.add_import({
            "import_id": str(the_id), "format": fmt.name, "scope": scope, "digest": digest,
            "size": size, "file_name": _storable(file_name, 200), "origin": origin, "status": "accepted",
            "started_at": now.astimezone(UTC).isoformat(), "started_by": started_by,
            "key_id": key_id, "staged_lines": 0})
        return self.get(the_id, already=not added)

    def _spooled(self, the_id: UUID | str) -> Path:
        return self.spool / f"{the_id}.import"

    # -- reading ------------------------------------------------------------------------
    def get(self, the_id: UUID | str, already: bool = False) -> ImportView:
        row = self.store.get_import(str(the_id))
        if row is None:
            raise ImportNotFoundError(the_id)
        return ImportView.of(row, self.store.counts(str(the_id)), already)

    def list_imports(self, scope: str | None, offset: int = 0, limit: int = 50
                     ) -> tuple[list[ImportView], bool]:
        rows = self.store.list_imports(scope, offset, limit + 1)
        return ([ImportView.of(r, self.store.counts(r["import_id"])) for r in rows[:limit]],
                len(rows) > limit)

    def lines(self, the_id: UUID | str, after: tuple[int, int] = (-1, -1)
              ) -> Iterator[dict[str, Any]]:
        """Every record's outcome in file order after (record_no, part), streamed a page
        at a time (no raw record: see raw_record)."""
        for row in self.store.lines(str(the_id), after=after):
            yield {k: row[k] for k in ("record_no", "line_no", "part", "outcome", "command",
                                       "parcel_id", "version", "problem_type", "problem_rule",
                                       "detail", "rule", "source_key", "occurred_at",
                                       "raw_sha256")}

    def raw_record(self, the_id: UUID | str, line_no: int, record_no: int | None = None
                   ) -> bytes | None:
        """The raw record read at this line (the event's `source` names its line and
        record: a line may hold several), None once erased (LZ-1 crypto-shredding)."""
        line = self.store.get_line(str(the_id), line_no)
        at = next((i for i, r in enumerate(line)
                   if record_no is None or r["record_no"] == record_no), None)
        if at is None:
            raise ImportNotFoundError(f"{the_id} line {line_no}")
        while at > 0 and line[at]["raw"] == SAME_RAW:  # kept once, in the line's first row
            at -= 1
        kind, _, token = line[at]["raw"].partition(":")
        if kind == "plain":
            raw = base64.b64decode(token)
        else:
            opened = self.ledger.vault.open(_subject(the_id), {"raw": token})["raw"]
            if opened == "erased":
                return None
            raw = base64.b64decode(opened)
        if hashlib.sha256(raw).hexdigest() != line[at]["raw_sha256"]:
            raise RawRecordTamperedError(the_id, line_no)  # e.g. another line's moved here
        return raw

    def retry(self, the_id: UUID | str) -> int:
        """Apply again the lines refused for a parcel not registered yet or a state that
        did not allow them yet (e.g. the parcels were registered since): how many. Each
        still applies once (its idempotency key); a `late` line stays late. The import
        is then unfinished until it is run again (the caller submits it)."""
        view = self.get(the_id)
        if view.status != "done":
            return 0
        return int(self.store.reopen(str(the_id), RETRYABLE))

    # -- running ------------------------------------------------------------------------
    def resume(self, stopping: Callable[[], bool] = lambda: False) -> list[str]:
        """Run every import a crash (or a stop) left unfinished; their ids. `stopping`
        is asked between pages: a stop leaves the import to the next resume."""
        unfinished = self.store.unfinished()
        for the_id in unfinished:
            if stopping():
                break
            try:
                self.run(the_id, stopping)
            except UnknownFormatError as error:  # a format since removed: say so, go on
                self.store.set_status(the_id, "failed", failure=str(error),
                                      finished_at=_now())
            except PersistenceError:
                raise  # the store is away: every import waits for the next resume
            except Exception as error:
                log.exception("import %s stopped on an internal error", the_id)
                self.store.set_status(the_id, "failed", finished_at=_now(), failure=(
                    f"an internal error stopped the import ({type(error).__name__}); it "
                    "was logged. The lines with an outcome keep it; none is half applied"))
        if not stopping():  # a parcel advanced through the API: its waiting lines
            self.wake_waiting(stopping)
        return unfinished

    def run(self, the_id: UUID | str, stopping: Callable[[], bool] = lambda: False
            ) -> ImportView:
        try:
            self._run(the_id, stopping)
            self.wake_waiting(stopping)
        except _StoppedError:
            pass
        return self.get(the_id)

    def wake_waiting(self, stopping: Callable[[], bool] = lambda: False) -> int:
        """Apply again the waiting lines (of any import) whose parcel has advanced since
        the event log was last read for them: by a later import, or a command through the
        API. The log is read from the store's cursor, a page at a time; each page's
        parcels' waiting lines are applied in business-time order, tried again while a
        pass makes progress; what the parcel has moved past is then `late`, the rest
        still waits. The cursor moves once a page's lines have their outcomes, so a crash
        reads the page again (each line applies once: its idempotency record). How many
        lines were applied."""
        store, recorder = self.store, self.ledger.recorder
        if not store.any_waiting():
            if not store.unfinished():  # nothing can start waiting before this point
                store.set_cursor(WAITING, recorder.max_notification_id() or 0)
            return 0
        position = store.cursor(WAITING) or 0
        applied = 0
        while not stopping():
            page = list(recorder.select_notifications(position + 1, WAKE_PAGE))
            if not page:
                break
            rows = store.waiting_for(sorted(self._woken_keys(page)))
            if rows:
                applied += _Applier(self, None).wake(rows)
            position = page[-1].id
            store.set_cursor(WAITING, position)
            if len(page) < WAKE_PAGE:
                break
        return applied

    def _woken_keys(self, page: list[Any]) -> set[str]:
        """The parcels these events are about, as a waiting line may name them: the
        parcel's id, and for a registration its tracking number and order, for a return
        label its number (a line that named them before the parcel existed)."""
        keys: set[str] = set()
        for notification in page:
            keys.add(str(notification.originator_id))
            if notification.topic not in (REGISTERED, LABEL_ISSUED):
                continue
            try:
                event = self.ledger.mapper.to_domain_event(notification)
            except Exception:  # noqa: BLE001 - a damaged event is the audit's finding
                continue
            for value in (getattr(event, "tracking_number", None),
                          getattr(event, "order_id", None)):
                if value:
                    keys.add(_storable(f"~{value}", 1000))
        return keys

    def _run(self, the_id: UUID | str, stopping: Callable[[], bool]) -> ImportView:
        self.stopping = stopping
        row = self.store.get_import(str(the_id))
        if row is None:
            raise ImportNotFoundError(the_id)
        if row["status"] in ("done", "failed"):
            return self.get(the_id)
        fmt = get_format(row["format"])
        if row["status"] in ("accepted", "staging"):
            self.store.set_status(row["import_id"], "staging")
            failure = self._stage(row, fmt)
            if failure is not None:
                self.store.set_status(row["import_id"], "failed", failure=failure,
                                      finished_at=_now())
                self._spooled(row["import_id"]).unlink(missing_ok=True)
                return self.get(the_id)
        self.store.set_status(row["import_id"], "applying")
        _Applier(self, row).apply()
        self.store.set_status(row["import_id"], "done", finished_at=_now())
        self._spooled(row["import_id"]).unlink(missing_ok=True)
        return self.get(the_id)

    def _stage(self, row: dict[str, Any], fmt: Format) -> str | None:
        """Read, map and store the lines after those staged; a failure's reason, or None."""
        # Records are counted in the order the format reads them (a line may hold several:
        # a webhook's JSON document of checkpoints): a resume skips those staged.
        the_id, skip = row["import_id"], int(row["staged_lines"] or 0)
        raw_of = _RawCells(self._raw_writer(the_id))
        batch: list[dict[str, Any]] = []
        last, lines_in_batch = skip, 0
        try:
            with self._spooled(the_id).open("rb") as stream:
                for record_no, item in enumerate(fmt.read(stream), start=1):
                    if record_no <= skip:
                        continue
                    batch.extend({"record_no": record_no, **r}
                                 for r in self._rows_of(item, fmt, raw_of))
                    last, lines_in_batch = record_no, lines_in_batch + 1
                    if lines_in_batch >= STAGE_LINES:
                        self.store.stage(the_id, batch, last)
                        batch, lines_in_batch = [], 0
                        if self.stopping():
                            raise _StoppedError
        except FileNotFoundError:
            return "the spooled file is gone (the spool directory was cleared): upload again"
        except UnreadableRecordError as error:  # the file as a whole (its header, say)
            self.store.stage(the_id, batch, last)
            return str(error)
        except (PersistenceError, _StoppedError):
            raise  # the store is away, or a stop: staging resumes from the last line stored
        except Exception as error:
            log.exception("import %s could not be read", the_id)
            self.store.stage(the_id, batch, last)
            return f"the file could not be read past line {last} ({type(error).__name__})"
        self.store.stage(the_id, batch, last)
        return None

    def _raw_writer(self, the_id: str) -> Any:
        """Every raw record is sealed under the import's own data subject: a source's
        record may hold a buyer's name or address, whatever its format says."""
        seal = self.ledger.vault.sealer(_subject(the_id))
        return lambda raw: "sealed:" + seal("raw", base64.b64encode(raw).decode("ascii"))

    def _rows_of(self, item: SourceRecord | tuple[int, bytes, UnreadableRecordError],
                 fmt: Format, raw_of: _RawCells) -> list[dict[str, Any]]:
        number, raw = (item[0], item[1]) if isinstance(item, tuple) else (item.line_no,
                                                                          item.raw)
        sealed, digest = raw_of(number, raw)
        base = {"line_no": number, "part": 0, "group_key": "", "phase": 0,
                "occurred_at": "", "source_key": "", "rule": "", "command": "", "target": "{}",
                "body": "{}", "raw": SAME_RAW, "raw_sha256": digest}
        return [{**r, "raw": sealed} if index == 0 else r
                for index, r in enumerate(self._mapped_rows(item, fmt, base))]

    def _mapped_rows(self, item: SourceRecord | tuple[int, bytes, UnreadableRecordError],
                     fmt: Format, base: dict[str, Any]) -> list[dict[str, Any]]:
        number = base["line_no"]
        if isinstance(item, tuple):
            return [{**base, "outcome": "unreadable", "detail": _storable(str(item[2]))}]
        try:
            mapped = fmt.map(item)
            _check_storable(mapped.source_key, "its identity (`id`, the source's key)")
            if not mapped.commands:
                return [{**base, "outcome": "ignored", "rule": _storable(mapped.rule),
                         "source_key": mapped.source_key,
                         "detail": "the mapping deliberately records nothing for this record"}]
            many = len(mapped.commands) > 1
            return [{**base, "part": part, "outcome": "pending", "rule": _storable(mapped.rule),
                     "source_key": f"{mapped.source_key}#{part}" if many else mapped.source_key,
                     **_staged(command)} for part, command in enumerate(mapped.commands)]
        except UnmappedStatusError as error:
            return [{**base, "outcome": "unmapped", "detail": _storable(str(error))}]
        except UnreadableRecordError as error:
            return [{**base, "outcome": "unreadable", "detail": _storable(str(error))}]
        except RecursionError:
            return [{**base, "outcome": "unreadable",
                     "detail": "the record is nested too deep to be read"}]
        except Exception as error:
            log.exception("format %s could not map line %s", fmt.name, number)
            return [{**base, "outcome": "unreadable",
                     "detail": f"the record could not be mapped ({type(error).__name__})"}]


class _RawCells:
    """The `raw` cell of each record's first row: the raw bytes sealed, once per line. The
    records of one line (a webhook document's checkpoints) share its bytes: sealed in
    each record's row, a 1 MiB document of 10,000 checkpoints would be stored as 10 GB.
    The line's later rows say `same:` (see raw_record)."""

    def __init__(self, seal: Callable[[bytes], str]) -> None:
        self.seal = seal
        self.line, self.raw, self.digest = -1, b"", ""

    def __call__(self, line_no: int, raw: bytes) -> tuple[str, str]:
        if line_no == self.line and (raw is self.raw or raw == self.raw):
            return SAME_RAW, self.digest
        self.line, self.raw, self.digest = line_no, raw, hashlib.sha256(raw).hexdigest()
        return self.seal(raw), self.digest


def _storable(text: str, limit: int = 500) -> str:
    """Text every store keeps as it is (PostgreSQL's text refuses NUL, and no UTF-8 holds a
    lone surrogate, which a JSON escape can make): both are written as escapes."""
    text = text[:limit]
    if text.isascii() and "\x00" not in text:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _check_storable(text: str, what: str) -> None:
    """Text the row keeps, and the ledger runs, exactly as given: a NUL or a lone
    surrogate makes the record unreadable."""
    if text != _storable(text, len(text)):
        raise UnreadableRecordError(f"{what} holds a NUL or a lone surrogate (\\u0000, "
                                    "\\ud800-\\udfff): not text any store keeps")


def _staged(command: LineCommand) -> dict[str, Any]:
    _check_storable(command.command, "its command")
    when = command.occurred_at.astimezone(UTC)
    body = dict(command.body)
    body.setdefault("occurred_at", command.occurred_at.isoformat())
    t = command.target
    target = {k: v for k, v in (("parcel_id", t.parcel_id), ("tracking_number",
                                t.tracking_number), ("platform", t.platform),
                                ("order_id", t.order_id), ("seller_id", t.seller_id))
              if v is not None}
    if command.on_return_leg:
        target["on_return_leg"] = command.on_return_leg
    staged = {"group_key": _storable(_group_key(command), 1000),
              "phase": 0 if command.command == "parcels" else 1,
              "occurred_at": when.isoformat(), "command": command.command,
              "target": json.dumps(target, sort_keys=True),
              "body": json.dumps(body, sort_keys=True, default=str)}
    try:  # stored as ASCII JSON, but a lone surrogate would fail the ledger's save
        json.dumps([target, body], ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise UnreadableRecordError("a field holds a lone surrogate (\\ud800-\\udfff): "
                                    "not text any store keeps") from None
    return staged


def _group_key(command: LineCommand) -> str:
    """Which parcel, as far as the line says without asking the ledger: rows are applied
    per group in business-time order (a return label's number is a group of its own)."""
    target, body = command.target, command.body
    try:
        if command.command == "parcels":
            return str(parcel_id(str(body["platform"]), body.get("tracking_number") or None,
                                 str(body.get("order_id"))))
        if target.parcel_id:
            return str(UUID(target.parcel_id))
        if target.tracking_number and target.platform:
            return str(parcel_id(target.platform, target.tracking_number))
    except (KeyError, ValueError, TypeError):
        pass
    return f"~{target.tracking_number or target.order_id or ''}"


def _subject(the_id: UUID | str) -> str:
    return f"import:{the_id}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _copy(stream: IO[bytes], path: Path, limit: int) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as out:
        while True:
            chunk = stream.read(COPY_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise ImportTooLargeError(limit)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


class _Applier:
    """Applies one import's staged commands (see the module's description, step 2), and
    the waiting lines of other imports for the same parcels, each in its own import's
    context (seller scope, format, who started it: `_context`). With no import
    (`row` None) it applies woken waiting lines only (ImportDesk.wake_waiting)."""

    def __init__(self, desk: ImportDesk, row: dict[str, Any] | None,
                 targets: Targets | None = None) -> None:
        self.desk, self.row = desk, row or {}
        self.ledger, self.store, self.catalog = desk.ledger, desk.store, desk.catalog
        self.the_id = self.row.get("import_id")
        self.seller = None if self.row.get("scope", "") == "" else self.row["scope"]
        self.format = self.row.get("format", "")
        self.targets = targets or Targets(self.ledger)
        self._batch_targets: list[dict[str, Any]] = []
        self._contexts: dict[str, _Applier] = {self.the_id: self} if self.the_id else {}

    def _context(self, import_id: str) -> _Applier:
        """The applier of the import a row belongs to (this one, or a waiting row's)."""
        found = self._contexts.get(import_id)
        if found is None:
            row = self.store.get_import(import_id)
            if row is None:
                raise ImportNotFoundError(import_id)
            if len(self._contexts) >= 1000:  # memory stays flat
                self._contexts = {self.the_id: self} if self.the_id else {}
            found = self._contexts[import_id] = _Applier(self.desk, row, self.targets)
        return found

    def apply(self) -> None:
        self.targets.catch_up()
        if self.store.cursor(WAITING) is None:  # waiting lines start here
            self.store.set_cursor(WAITING, self.ledger.recorder.max_notification_id() or 0)
        adopting = self.store.any_waiting()
        while True:
            rows = self.store.pending(self.the_id, APPLY_PAGE)
            if not rows:
                break
            self._settle_all(self._with_waiting(rows) if adopting else rows)
            if self.desk.stopping():
                raise _StoppedError
        for _ in range(HELD_PASSES):  # a held line may be applicable now
            if not self._retry_held():
                break
        self.store.finish_held(self.the_id)  # what stays held waits, or is late

    def _with_waiting(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The page and the waiting lines of other imports for the page's parcels, merged
        per parcel in business-time order: a line that waited for its parcel, or for an
        earlier step, is applied where its business time puts it among this file's
        lines (an attempt that waited for the registration, before this file's failure).
        A parcel the page may not have seen to its end (the last of a full page) takes
        the waiting lines up to the page's last business time only."""
        group_of: dict[str, str] = {}
        for row in rows:
            group = row["group_key"]
            group_of.setdefault(group, group)
            if row["command"] == "parcels":  # lines that named it before it existed
                body = json.loads(row["body"])
                for value in (body.get("tracking_number"), body.get("order_id")):
                    if value:
                        group_of.setdefault(_storable(f"~{value}", 1000), group)
        last = rows[-1]
        open_group = last["group_key"] if len(rows) >= APPLY_PAGE else None
        adopted = []
        for waiting in self.store.waiting_for(list(group_of)):
            if waiting["import_id"] == self.the_id:
                continue
            group = group_of.get(waiting["group_key"]) or group_of.get(
                waiting["parcel_id"] or "")
            if group is None or (group == open_group
                                 and waiting["occurred_at"] > last["occurred_at"]):
                continue
            adopted.append({**waiting, "group_key": group})
        if not adopted:
            return rows
        return sorted([*rows, *adopted], key=lambda r: (
            r["group_key"], r["phase"], r["occurred_at"], r["import_id"] != self.the_id,
            r["record_no"], r["part"]))

    def wake(self, rows: list[dict[str, Any]]) -> int:
        """Apply these waiting lines (of any imports) in business-time order, again while
        a pass makes progress; what is still held then waits on, or is late once its
        parcel has moved past it. How many were applied."""
        applied, held = 0, rows
        still: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for _ in range(HELD_PASSES):
            outcomes = self._settle_all(held)
            applied += sum(1 for o in outcomes if o["outcome"] == "applied")
            still = [(r, o) for r, o in zip(held, outcomes, strict=True)
                     if o["outcome"] in HELD]
            progress = len(still) < len(held)
            held = [r for r, _ in still]
            if not held or not progress:
                break
        late = [(r, o) for r, o in still if o["outcome"] == "held_late"]
        for import_id in {r["import_id"] for r, _ in late}:
            self.store.settle(import_id, [{**o, "outcome": "late"} for r, o in late
                                          if r["import_id"] == import_id])
        return applied

    def _retry_held(self) -> int:
        applied, after = 0, None
        while True:
            rows = self.store.with_outcome(self.the_id, HELD, after, APPLY_PAGE)
            if not rows:
                return applied
            outcomes = self._settle_all(rows)
            applied += sum(1 for o in outcomes if o["outcome"] not in HELD)
            last = rows[-1]
            after = (last["occurred_at"], last["record_no"], last["part"])

    def _settle_all(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply rows BATCH_LINES at a time, each batch in one transaction, and write
        their outcomes (a waiting line of another import: in its import's rows, still
        `waiting` while held)."""
        outcomes: list[dict[str, Any]] = []
        for start in range(0, len(rows), BATCH_LINES):
            chunk = rows[start:start + BATCH_LINES]
            done = self._apply_batch(chunk)
            by_import: dict[str, list[dict[str, Any]]] = {}
            for row, outcome in zip(chunk, done, strict=True):
                if row["import_id"] != self.the_id:
                    if outcome["outcome"] in HELD:
                        outcome = {**outcome, "outcome": "waiting"}
                    elif outcome["outcome"] == "applied":
                        outcome = {**outcome, "detail": WOKEN}
                by_import.setdefault(row["import_id"], []).append(outcome)
            for import_id, settled in by_import.items():
                self.store.settle(import_id, settled)
            outcomes.extend(done)
        return outcomes

    def _apply_batch(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows' commands saved together (application/save_batch.py); a line whose
        key is known, or twice in the batch, is answered after it, one by one; a batch
        the store refuses (a version or key stored first elsewhere) or that a failed
        command spoiled is run again line by line, each its own transaction."""
        # An admin's import learns a line's seller from its parcel: its keys are looked
        # up as it runs (a key used before fails the batch, which runs line by line).
        contexts = [self._context(r["import_id"]) for r in rows]
        records = [idempotency_record_id(c.idem_scope(c.seller or ""), r["source_key"])
                   for r, c in zip(rows, contexts, strict=True)]
        self._batch_targets = [json.loads(r["target"]) for r in rows]
        known = self._known_keys(records)
        later, seen = [], set()
        results: dict[int, dict[str, Any]] = {}
        spoiled = False
        pending: dict[str, int] = {}  # events each parcel of the batch waits to record
        with self.ledger.batched() as batch:
            for index, row in enumerate(rows):
                record = records[index]
                if record in known or record in seen:
                    later.append(index)
                    continue
                seen.add(record)
                outcome = contexts[index].apply_row(row)
                results[index] = outcome
                pid = outcome["parcel_id"]
                parcel = batch.get(UUID(pid)) if pid else None
                now = len(parcel.pending_events) if parcel is not None else 0
                if outcome["outcome"] != "applied" and now != pending.get(pid or "", 0):
                    spoiled = True  # the failed command changed its parcel before failing
                    break
                if pid:
                    pending[pid] = now
        try:
            if spoiled:
                raise _SpoiledError
            self.ledger.flush(batch)
        except (_SpoiledError, DomainError):
            results, later = {}, list(range(len(rows)))
        for index in later:
            results[index] = contexts[index].apply_row(rows[index])
        return [{"record_no": r["record_no"], "part": r["part"], **results[i]}
                for i, r in enumerate(rows)]

    def _known_keys(self, records: list[UUID]) -> set[UUID]:
        """Which of these keys were used before (their lines are answered one by one).
        Keys are rows (a store initialised before them: aggregates, asked with the
        parcels the batch names in one query)."""
        if getattr(self.ledger, "idempotency_rows", False):
            self.targets.prefetch(self._batch_targets, [])
            return self.ledger.recorder.known_idempotency_rows(records)
        return self.targets.prefetch(self._batch_targets, records)

    def apply_row(self, row: dict[str, Any]) -> dict[str, Any]:
        target = json.loads(row["target"])
        body = json.loads(row["body"])
        name = row["command"]
        pid: UUID | None = None
        try:
            if name != "parcels":
                resolved = self.targets.resolve(target, self.seller)
                pid = resolved.parcel_id
                if resolved.return_leg and target.get("on_return_leg"):
                    name = target["on_return_leg"]
            loaded = self.catalog.load(name, body)
            return self._run(row, name, pid, loaded)
        except CommandRefusedError as error:
            return _refused(error, pid)
        except _OtherSellersParcelError:
            # Answered as a parcel that does not exist (held, then refused): the line
            # named it by its tracking number, which does not say whether, nor on which
            # platform, another seller has it.
            named = target.get("tracking_number") if not target.get("parcel_id") else None
            return {**_refused(self.catalog.refusal(ParcelNotFoundError(named or pid)),
                               None if named else pid), "outcome": "held"}
        except (TransitionError, ParcelNotFoundError) as error:
            # Held: its earlier step may come later in the file (tried again after the
            # others). `held_late`: the parcel has moved past the line's business time.
            late = isinstance(error, TransitionError) and pid is not None \
                and self._is_late(pid, row["occurred_at"])
            return {**_refused(self.catalog.refusal(error), pid),
                    "outcome": "held_late" if late else "held"}
        except DomainError as error:
            return _refused(self.catalog.refusal(error), pid)
        except PersistenceError:
            raise  # the store is away: the import stays unfinished and is resumed
        except Exception as error:
            log.exception("import %s line %s could not be applied", self.the_id,
                          row["line_no"])
            return _refused(CommandRefusedError(
                "urn:returns-ledger:problem:internal-error",
                f"the line could not be applied ({type(error).__name__}); it was logged"), pid)

    def _run(self, row: dict[str, Any], name: str, pid: UUID | None,
             loaded: dict[str, Any]) -> dict[str, Any]:
        if name == "parcels" and self.seller is not None and loaded["seller_id"] != self.seller:
            return _refused(CommandRefusedError(
                "urn:returns-ledger:problem:forbidden",
                "a key of one seller registers only that seller's parcels"), None)
        # The command as loaded (defaults filled in): the same command twice, however spelt.
        canonical = json.dumps(loaded, sort_keys=True, default=str)
        fingerprint = hashlib.sha256(f"{name}\n{pid}\n{canonical}".encode()).hexdigest()
        reference = {"import": self.the_id, "line": row["line_no"],
                     "record": row["record_no"], "sha256": row["raw_sha256"]}
        actor = self.row["started_by"]
        with stamping(reference) as stamp:
            if pid is None:
                idem = Idempotency(self.idem_scope(str(loaded["seller_id"])),
                                   row["source_key"], fingerprint)
                result = self.ledger.run_once(idem, lambda: self.catalog.run(
                    self.ledger, name, None, loaded, actor))
            else:
                with self.ledger.parcel_loaded(pid) as scope:
                    if self.seller is not None and scope.seller_id != self.seller:
                        raise _OtherSellersParcelError(pid)
                    idem = Idempotency(self.idem_scope(str(scope.seller_id)),
                                       row["source_key"], fingerprint)
                    result = self.ledger.run_once(idem, lambda: self.catalog.run(
                        self.ledger, name, pid, loaded, actor))
        applied = stamp.stamped or self._made_by_this_line(result.id, result.version, row)
        return {"outcome": "applied" if applied else "already_applied",
                "parcel_id": str(result.id), "version": result.version,
                "problem_type": None, "problem_rule": None, "detail": None}

    def idem_scope(self, seller: str) -> str:
        """A line's keys are its parcel's seller's, whoever imports it: the seller's ERP
        and an admin importing the same line apply it once; another seller's lines never
        reach these keys (they reach only that seller's parcels)."""
        return f"import:{self.format}:{seller}"

    def _made_by_this_line(self, aggregate_id: UUID, version: int,
                           row: dict[str, Any]) -> bool:
        """The event at this version came from this line of this import (applied before a
        crash); the same record again on another line of the file is already applied."""
        events = list(self.ledger.events.get(aggregate_id, gt=version - 1, lte=version))
        source = getattr(events[-1], "source", None) if events else None
        return isinstance(source, dict) and source.get("import") == self.the_id \
            and source.get("record") in (None, row["record_no"])

    def _is_late(self, pid: UUID, occurred_at: str) -> bool:
        """The parcel has an event later in business time than the line: it moved past it."""
        when = datetime.fromisoformat(occurred_at)
        return any(getattr(e, "occurred_at", when) > when for e in self.ledger.events.get(pid))


class _OtherSellersParcelError(ParcelNotFoundError):
    """The line's parcel is another seller's than the import's scope."""


class _StoppedError(Exception):
    """The worker is stopping: the import is left for the next resume."""


class _SpoiledError(Exception):
    """A command failed after changing its aggregate inside a batch."""


def _refused(error: CommandRefusedError, pid: UUID | None) -> dict[str, Any]:
    return {"outcome": "refused", "parcel_id": str(pid) if pid else None, "version": None,
            "problem_type": error.type, "problem_rule": error.rule,
            "detail": _storable(error.detail or "", 1000)}

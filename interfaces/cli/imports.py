"""`returns-ledger import FILE --format F` and `returns-ledger imports ...`: bulk imports."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from application.csv_export import write_csv
from application.imports.engine import ImportDesk
from application.imports.formats.registry import UnknownFormatError, get_format, names
from application.imports.intake import IntakeSecrets
from application.imports.views import OUTCOMES
from application.imports.worker import ImportWorker
from domain.errors import DomainError
from interfaces.api.catalog import ApiCommands
from interfaces.cli.store import open_ledger, run_worker

LINE_COLUMNS = ("record_no", "line_no", "part", "outcome", "command", "parcel_id", "version",
                "problem_type", "problem_rule", "detail", "rule", "source_key", "occurred_at",
                "raw_sha256")


def _desk(ledger: Any) -> ImportDesk:
    return ImportDesk(ledger, ApiCommands())


def _check_format(name: str) -> str:
    try:
        return get_format(name).name
    except UnknownFormatError as error:
        raise click.BadParameter(str(error)) from None


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "format_name", required=True,
              help="The file's format: canonical, or a source's (see `imports formats`).")
@click.option("--seller", default=None, help="Import into this seller's parcels only "
              "(default: any seller's, as an admin key would).")
@click.option("--actor", default="cli", show_default=True,
              help="Who the events record as having made the change.")
@click.option("--no-wait", is_flag=True, help="Only accept it: a worker "
              "(`returns-ledger imports worker`) runs it.")
def import_command(file: Path, format_name: str, seller: str | None, actor: str,
                   no_wait: bool) -> None:
    """Import FILE (CSV or JSON Lines) and print its summary; the same file again is the
    same import. Exits 1 when the import failed as a whole (its header, say)."""
    fmt = _check_format(format_name)
    ledger = open_ledger()
    try:
        desk = _desk(ledger)
        with file.open("rb") as stream:
            try:
                view = desk.accept(stream, fmt, seller or "", actor, "cli",
                                   datetime.now(UTC), file_name=file.name)
            except DomainError as error:
                raise click.ClickException(error.detail) from None
        if not no_wait:
            view = replace(desk.run(view.id), already=view.already)
        _summary(view)
        if view.status == "failed":
            sys.exit(1)
    finally:
        ledger.close()


@click.group()
def imports() -> None:
    """Bulk imports: their outcomes, the worker, the intake's secrets."""


@imports.command("formats")
def formats() -> None:
    """The formats an import reads, and the documentation each follows."""
    for name in names():
        click.echo(f"{name:<16} {get_format(name).source}")


@imports.command("show")
@click.argument("import_id")
@click.option("--csv", "as_csv", is_flag=True, help="The per-line outcomes as CSV.")
def show(import_id: str, as_csv: bool) -> None:
    """An import's summary, or its per-line outcomes as CSV."""
    ledger = open_ledger()
    try:
        desk = _desk(ledger)
        try:
            view = desk.get(import_id)
        except DomainError as error:
            raise click.ClickException(error.detail) from None
        if as_csv:
            write_csv(sys.stdout, desk.lines(import_id), LINE_COLUMNS)
        else:
            _summary(view)
    finally:
        ledger.close()


@imports.command("retry")
@click.argument("import_id")
def retry(import_id: str) -> None:
    """Apply again now the lines waiting (or refused) for a parcel not registered yet, or
    a state that did not allow them yet, then print the summary (each still applies
    once; waiting lines are also applied by themselves once their parcel advances)."""
    ledger = open_ledger()
    try:
        desk = _desk(ledger)
        try:
            count = desk.retry(import_id)
        except DomainError as error:
            raise click.ClickException(error.detail) from None
        click.echo(f"{count} lines to apply again")
        _summary(desk.run(import_id))
    finally:
        ledger.close()


@imports.command("raw")
@click.argument("import_id")
@click.argument("line_no", type=int)
@click.option("--record", "record_no", type=int, default=None,
              help="The record of that line (an event's source names it; default: the first).")
def raw(import_id: str, line_no: int, record_no: int | None) -> None:
    """The raw source record of one line as it was received (an auditor's question: what
    was the ledger told?), and its SHA-256; `erased` once its personal data is."""
    ledger = open_ledger()
    try:
        desk = _desk(ledger)
        try:
            record = desk.raw_record(import_id, line_no, record_no)
        except DomainError as error:
            raise click.ClickException(error.detail) from None
        if record is None:
            click.echo("erased")
            return
        sys.stdout.buffer.write(record + b"\n")
    finally:
        ledger.close()


@imports.command("worker")
@click.option("--once", is_flag=True, help="Finish the unfinished imports, then exit.")
@click.option("--poll", type=float, default=2.0, show_default=True,
              help="Seconds between looks for newly accepted imports.")
def worker(once: bool, poll: float) -> None:
    """Run accepted imports (when the web processes do not: IMPORTS_IN_PROCESS=no, the
    default on PostgreSQL). First resumes the imports a crash left unfinished."""
    def make(ledger: Any) -> tuple[ImportDesk, ImportWorker]:
        desk = _desk(ledger)
        return desk, ImportWorker(lambda: desk, poll=poll)

    run_worker(once, make, lambda desk: [f"{i} {desk.get(i).status}" for i in desk.resume()])


@imports.command("intake-secret")
@click.argument("source")
@click.option("--seller", required=True, help="The seller whose deliveries these are.")
@click.option("--rotate", is_flag=True, help="Revoke the source's other secrets of this "
              "seller (once the source signs with the new one).")
@click.option("--from-stdin", is_flag=True, help="Read the secret the source issued "
              "(e.g. `<app key>:<app secret>`) from stdin instead of making one.")
def intake_secret(source: str, seller: str, rotate: bool, from_stdin: bool) -> None:
    """Make (or rotate) the secret a source signs its pushes to /v1/intake/SOURCE with;
    printed once, kept sealed."""
    fmt = _check_format(source)
    given = sys.stdin.readline().strip() if from_stdin else None
    ledger = open_ledger()
    try:
        made = IntakeSecrets(ledger).create(fmt, seller, given or None, rotate=rotate)
        click.echo(f"intake secret {made.id} for {fmt}, seller {seller}")
        if not from_stdin:
            click.echo(f"secret: {made.secret}")
    finally:
        ledger.close()


def _summary(view: Any) -> None:
    again = " (the same file was imported already: that import)" if view.already else ""
    click.secho(f"import {view.id}{again}", bold=True)
    click.echo(f"  {view.file_name} ({view.format}), {view.size} bytes, sha256 {view.digest}")
    click.echo(f"  status {view.status}, {view.staged_lines} records read")
    if view.failure:
        click.echo(f"  failure: {view.failure}")
    for outcome in OUTCOMES:
        if view.counts.get(outcome):
            click.echo(f"  {outcome:<16} {view.counts[outcome]:>8}")

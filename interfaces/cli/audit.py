"""`returns-ledger audit`: replay history, the ledger digest, verification, offline bundles."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import click

from application.audit.bundle import verify_bundle, write_bundle
from application.audit.report import LedgerDigest, Verification
from application.audit.verification import LedgerAudit
from application.dto import plain
from application.idempotency import jsonable
from domain.errors import ParcelNotFoundError
from interfaces.cli.store import open_ledger


def _time(_ctx: Any, _param: Any, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("an ISO 8601 time with a zone, e.g. 2026-03-02T09:00Z") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give the time zone, e.g. 2026-03-02T09:00+00:00")
    return moment


def _digest_token(_ctx: Any, _param: Any, value: str | None) -> str | None:
    if value is not None:
        try:
            LedgerDigest.parse(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
    return value


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(jsonable(data), indent=2, ensure_ascii=False, sort_keys=True))


@click.group()
def audit() -> None:
    """Replay a parcel's history, and prove the stored events were not altered."""


@audit.command("history")
@click.argument("parcel_id", type=click.UUID)
@click.option("--as-of", "as_of", callback=_time, help="As recorded by then (inclusive).")
@click.option("--version", type=click.IntRange(min=1), help="Events up to this version.")
@click.option("--occurred-before", callback=_time,
              help="Business-time view: what had happened by then (inclusive).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history(parcel_id: UUID, as_of: datetime | None, version: int | None,
            occurred_before: datetime | None, as_json: bool) -> None:
    """A parcel's events and the state they add up to, as the ledger knew it."""
    ledger = open_ledger()
    try:
        result = ledger.get_parcel_history(parcel_id, recorded_before=as_of, version=version,
                                           occurred_before=occurred_before)
    except ParcelNotFoundError as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    if as_json:
        _echo_json({"id": parcel_id, "view": result.view, "recorded_before": as_of,
                    "version": version, "occurred_before": occurred_before,
                    "state": result.state, "events": list(result)})
        return
    for entry in result:
        rule = f"  [{entry.data['rule']}]" if entry.data.get("rule") else ""
        late = entry.late
        flag = (f"  LATE: recorded as v{late['recorded_as_version']} after "
                f"v{late['recorded_after_version']}, happened before "
                f"v{late['occurred_before_version']} {late['occurred_before_type']}"
                if late else "")
        click.echo(f"v{entry.version:<3} {entry.type:<22} recorded {entry.recorded_at.isoformat()}"
                   f"  occurred {entry.occurred_at.isoformat() if entry.occurred_at else '-'}"
                   f"  by {entry.actor or '-'}{rule}{flag}")
        if entry.data.get("facts"):
            click.echo(f"      facts: {json.dumps(plain(entry.data['facts']), ensure_ascii=False)}")
    state = result.state
    click.echo(f"state ({result.view} view): " +
               (f"{state.status} at version {state.version}"
                if state is not None and hasattr(state, "status")
                else "nothing known yet" if state is None else f"version {state.version}"))


@audit.command("digest")
@click.option("--json", "as_json", is_flag=True)
def digest(as_json: bool) -> None:
    """The running hash over every stored event, with its position: keep it somewhere safe."""
    ledger = open_ledger()
    try:
        result = LedgerAudit(ledger).digest()
    finally:
        ledger.close()
    if as_json:
        _echo_json(result.as_dict())
    else:
        click.echo(f"position {result.position}, {result.events} events")
        click.echo(result.token)


def _report(result: Verification, as_json: bool) -> None:
    if as_json:
        _echo_json(result.as_dict())
    elif result.ok:
        click.echo(f"ok: {result.scope}, {result.events} events verified"
                   + (", matches the digest given" if result.anchored else ""))
        if result.digest is not None:
            click.echo(f"digest now: {result.digest.token}")
        for note in result.notes:
            click.echo(f"note: {note}")
    else:
        breach = result.breach
        assert breach is not None
        where = ", ".join(f"{k} {v}" for k, v in (("aggregate", breach.originator_id),
                                                   ("version", breach.version),
                                                   ("position", breach.position)) if v)
        click.echo(f"BROKEN: {breach.reason}" + (f" at {where}" if where else ""))
        click.echo(f"  {breach.detail}")
    if not result.ok:
        sys.exit(1)


@audit.command("verify")
@click.argument("parcel_id", type=click.UUID, required=False)
@click.option("--all", "everything", is_flag=True, help="Every aggregate, along the log.")
@click.option("--against", callback=_digest_token,
              help="A digest POSITION:HEX taken earlier: detects a removed or rewritten tail.")
@click.option("--json", "as_json", is_flag=True)
def verify(parcel_id: UUID | None, everything: bool, against: str | None,
           as_json: bool) -> None:
    """Recompute the hash chains (exit status 1 when something was altered)."""
    if (parcel_id is not None) == (everything or against is not None):
        raise click.UsageError("give a PARCEL_ID, or --all (optionally with --against)")
    ledger = open_ledger()
    try:
        audit_ = LedgerAudit(ledger)
        result = (audit_.verify_parcel(parcel_id) if parcel_id is not None
                  else audit_.verify_all(against))
    except ParcelNotFoundError as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    _report(result, as_json)


@audit.command("export")
@click.option("--parcel", "parcel_id", type=click.UUID, help="One parcel's events.")
@click.option("--seller", help="Every aggregate of one seller.")
@click.option("--all", "everything", is_flag=True, help="Every stored event.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True)
def export(parcel_id: UUID | None, seller: str | None, everything: bool, out: str) -> None:
    """Write a self-contained JSON Lines bundle (docs/AUDIT_BUNDLE.md)."""
    if sum(x is not None and x is not False for x in (parcel_id, seller, everything)) != 1:
        raise click.UsageError("give exactly one of --parcel, --seller, --all")
    ledger = open_ledger()
    try:
        with open(out, "w", encoding="utf-8") as handle:
            result = write_bundle(LedgerAudit(ledger), handle, datetime.now(UTC),
                                  parcel=parcel_id, seller=seller)
    finally:
        ledger.close()
    click.echo(f"wrote {out}: digest at position {result.position} over {result.events} "
               "events")
    click.echo(result.token)


@audit.command("verify-bundle")
@click.argument("bundle", type=click.File("r", encoding="utf-8"))
@click.option("--digest", "trusted", callback=_digest_token,
              help="A digest POSITION:HEX from a source you trust (no database needed).")
@click.option("--json", "as_json", is_flag=True)
def verify_bundle_command(bundle: Any, trusted: str | None, as_json: bool) -> None:
    """Verify a bundle offline: chains, digest, and the digest you trust."""
    _report(verify_bundle(bundle, trusted), as_json)

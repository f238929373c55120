"""`returns-ledger backup DIR` and `returns-ledger restore DIR` (infrastructure/backup.py).

A restore refuses a store that holds data, then verifies every hash chain of what it
restored against the ledger digest the backup took, and prints the verdict (exit 1 when
broken): a restore proves it lost and changed nothing the backup had.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from application.audit.verification import LedgerAudit
from infrastructure.backup import BackupError, backup, restore
from interfaces.cli.store import open_ledger, settings_for_command


@click.command("backup")
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
def backup_command(destination: Path) -> None:
    """Copy the store (SQLite's online backup, or pg_dump) and its key files into a new
    DESTINATION directory, while the service runs."""
    settings = settings_for_command()
    ledger = open_ledger()
    try:
        digest = LedgerAudit(ledger).digest()
    finally:
        ledger.close()
    try:
        report = backup(settings.env, digest.token, digest.events, destination)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up to {destination}: at least {digest.events} events, "
               f"digest {digest.token}")
    for name in report.keys:
        click.echo(f"  key {name}")
    for missing in report.keys_not_included:
        click.echo(f"  not included: {missing}", err=True)
    click.echo("keep it as safe as the keys in it: it can read the sealed personal data")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore_command(source: Path) -> None:
    """Restore a backup into the configured store (it must hold no data), then verify
    every chain against the backup's digest. Stop the service's processes first."""
    settings = settings_for_command()
    try:
        manifest = restore(settings.env, source)
    except BackupError as error:
        raise click.ClickException(f"not restored: {error}") from None
    click.echo(f"restored {source} (taken {manifest['created_at']})")
    for missing in manifest["keys_not_included"]:
        click.echo(f"  not in the backup: {missing}", err=True)
    ledger = open_ledger()
    try:
        result = LedgerAudit(ledger).verify_all(manifest["digest"])
    finally:
        ledger.close()
    if result.ok:
        click.echo(f"verified: {result.events} events, every chain intact, matches the "
                   f"backup's digest {manifest['digest']}")
        return
    breach = result.breach
    assert breach is not None
    click.echo(f"BROKEN: {breach.reason}: {breach.detail}", err=True)
    sys.exit(1)

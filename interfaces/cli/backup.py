"""`returns-ledger backup DIR` and `returns-ledger restore DIR` (infrastructure/backup.py).

A backup signs an audit checkpoint first (the signing key goes into the backup with the
other key files). A restore refuses a store that holds data, then verifies what it restored
against that signed checkpoint (every event it covers is there, unchanged: a removed,
rewritten or inserted past shows) and every hash chain against the ledger digest the backup
took, and prints both verdicts (exit 1 when either fails): a restore proves it lost and
changed nothing the backup had.

The checkpoint's signature is checked with the audit signing key as restored (or
AUDIT_SIGNING_KEY), or with the public keys given with --key; with --against, against a
checkpoint kept outside the backup, which a backup rewritten by someone holding its key
cannot fake.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from application.audit.log import DEFAULT_SIGNING_KEY_FILE, AuditLog, load_signer
from application.audit.report import Verification
from application.audit.transparency import NoteVerifier
from application.audit.verification import LedgerAudit
from infrastructure.backup import BackupError, backup, restore
from interfaces.cli.store import open_ledger, settings_for_command


@click.command("backup")
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
def backup_command(destination: Path) -> None:
    """Sign an audit checkpoint, then copy the store (SQLite's online backup, or pg_dump)
    and its key files into a new DESTINATION directory, while the service runs."""
    settings = settings_for_command()
    ledger = open_ledger()
    try:
        checkpoint = _checkpoint(ledger)
        digest = LedgerAudit(ledger).digest()
    finally:
        ledger.close()
    try:
        report = backup(settings.env, digest.token, digest.events, destination, checkpoint)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up to {destination}: at least {digest.events} events, "
               f"digest {digest.token}")
    if checkpoint is not None:
        click.echo(f"  signed checkpoint of {checkpoint['size']} events (checkpoint.note), "
                   f"key {checkpoint['key']}: keep a copy of both outside the backup")
    for name in report.keys:
        click.echo(f"  key {name}")
    for missing in report.keys_not_included:
        click.echo(f"  not included: {missing}", err=True)
    click.echo("keep it as safe as the keys in it: it can read the sealed personal data")


def _checkpoint(ledger: Any) -> dict[str, Any] | None:
    """The latest signed checkpoint, taken now when the log grew ({"size", "note", "key"});
    None for an empty store (nothing to sign)."""
    if not ledger.recorder.max_notification_id():
        return None
    log = AuditLog(ledger)
    taken, _ = log.checkpoint(datetime.now(UTC))
    return {"size": taken.size, "note": log.note_with_cosignatures(taken),
            "key": log.signer.verifier.vkey, "created_at": taken.created_at}


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--against", "kept", type=click.File("r", encoding="utf-8"),
              help="A checkpoint kept outside the backup (a signed-note file) to verify the "
              "restored log against, instead of the backup's own.")
@click.option("--key", "keys", multiple=True, help="The log's public key NAME+ID+KEY the "
              "checkpoint must be signed with (repeat for rotated keys; default: the "
              "restored signing key).")
def restore_command(source: Path, kept: Any, keys: tuple[str, ...]) -> None:
    """Restore a backup into the configured store (it must hold no data), then verify the
    restored log against the last signed checkpoint and every chain against the backup's
    digest. Stop the service's processes first."""
    settings = settings_for_command()
    try:
        trusted = [NoteVerifier.parse(k) for k in keys]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--key") from None
    try:
        manifest = restore(settings.env, source)
    except BackupError as error:
        raise click.ClickException(f"not restored: {error}") from None
    click.echo(f"restored {source} (taken {manifest['created_at']})")
    for missing in manifest["keys_not_included"]:
        click.echo(f"  not in the backup: {missing}", err=True)
    note = kept.read() if kept is not None else (manifest.get("checkpoint") or {}).get("note")
    ledger = open_ledger()
    try:
        signed = _against_checkpoint(ledger, settings.env, note, trusted)
        chains = LedgerAudit(ledger).verify_all(manifest["digest"])
    finally:
        ledger.close()
    broken = signed is not None and not signed.ok
    if signed is not None and signed.ok:
        whose = "kept outside the backup" if kept is not None else "the backup's"
        click.echo(f"verified: {signed.anchor} ({whose}, signed by the log's key): "
                   f"{signed.notes[0]}")
    if chains.ok:
        click.echo(f"verified: {chains.events} events, every chain intact, matches the "
                   f"backup's digest {manifest['digest']}")
    for result in (signed, chains):
        if result is not None and not result.ok:
            assert result.breach is not None
            click.echo(f"BROKEN: {result.breach.reason}: {result.breach.detail}", err=True)
    if broken or not chains.ok:
        click.echo("the restored store is NOT what was backed up: do not start the service "
                   "on it", err=True)
        sys.exit(1)


def _against_checkpoint(ledger: Any, env: Mapping[str, str], note: str | None,
                        trusted: list[NoteVerifier]) -> Verification | None:
    """The restored log against the signed checkpoint (None, said on stderr, when the
    backup holds none: it was taken of an empty store or before backups signed one)."""
    if note is None:
        click.echo("  no signed checkpoint in this backup: verified against its digest only",
                   err=True)
        return None
    if not trusted:
        key_file = Path(env.get("AUDIT_SIGNING_KEY_FILE") or DEFAULT_SIGNING_KEY_FILE)
        if not env.get("AUDIT_SIGNING_KEY") and not key_file.exists():
            raise click.ClickException(
                f"restored, NOT verified: no audit signing key ({key_file} is not in the "
                "backup and AUDIT_SIGNING_KEY is not set) to check the checkpoint's "
                "signature; give the log's public key with --key and restore again")
        trusted = [load_signer(env).verifier]
    return AuditLog(ledger).verify_all(note, trusted)

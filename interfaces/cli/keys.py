"""`returns-ledger keys`: issue, list and revoke API keys."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import click

from domain.api_key import Role
from domain.errors import DomainError
from infrastructure.key_files import previous_file
from interfaces.cli.store import open_ledger, settings_for_command


@click.group()
def keys() -> None:
    """API keys (stored only as SHA-256 hashes)."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--seller", "seller_id", default=None,
              help="the one seller a client or finance key works for")
@click.option("--label", default=None, help="a note to recognise the key by")
@click.option("--owner", default=None,
              help="the person who holds the key (required for finance keys: AM-4 compares "
                   "people, so two keys of one owner are one person)")
def create(role: str, seller_id: str | None, label: str | None, owner: str | None) -> None:
    """Issue a key; it is printed once, alone on the last line."""
    ledger = open_ledger()
    try:
        issued = ledger.issue_api_key(role, seller_id, datetime.now(UTC), label,
                                      actor="cli", owner=owner)
    except DomainError as error:
        raise click.UsageError(error.detail) from None
    finally:
        ledger.close()
    scope = issued.key.seller_id or "all sellers"
    click.echo(f"key {issued.key.id} role={issued.key.role} seller={scope} "
               f"owner={issued.key.owner or 'unowned'}", err=True)
    click.echo("store it now: it is shown only once", err=True)
    click.echo(issued.token)


@keys.command("list")
def list_keys() -> None:
    """Every key: id, role, seller, owner, issued and revoked times, label (never the secret)."""
    ledger = open_ledger()
    try:
        for key in ledger.list_api_keys():
            revoked = key.revoked_at.isoformat() if key.revoked_at else "active"
            click.echo(f"{key.id}  {key.role:<8} {key.seller_id or '*':<20} "
                       f"{key.owner or 'unowned':<20} {key.issued_at.isoformat()}  {revoked}  "
                       f"{key.label or ''}".rstrip())
    finally:
        ledger.close()


@keys.command("revoke")
@click.argument("key_id", type=click.UUID)
def revoke(key_id: UUID) -> None:
    """Revoke a key: it opens nothing from now on."""
    ledger = open_ledger()
    try:
        key = ledger.revoke_api_key(key_id, datetime.now(UTC), actor="cli")
    except DomainError as error:
        raise click.ClickException(error.detail) from None
    finally:
        ledger.close()
    click.echo(f"revoked {key.id}")


@keys.command("rotate-web-secret")
def rotate_web_secret() -> None:
    """A new web session secret; sessions signed with the old one stay valid for one
    session lifetime (WEB_SESSION_HOURS). Then restart the API (`kill -HUP` gunicorn).

    With the secret in a key file (the embedded default) the file gets the new secret and
    the old one moves to `<file>.previous`. With SECRET_KEY in the environment, this prints
    a new secret and the steps (docs/OPERATIONS.md, "Keys").
    """
    settings = settings_for_command()
    new = secrets.token_urlsafe(48)
    if settings.web_secret_key:
        click.echo("SECRET_KEY is set in the environment: set it to the new secret below and "
                   "SECRET_KEY_PREVIOUS to the old one on every API host (rolling restart); "
                   "remove SECRET_KEY_PREVIOUS after WEB_SESSION_HOURS", err=True)
        click.echo(new)
        return
    path = Path(settings.web_secret_key_file)
    if not path.exists():
        raise click.ClickException(f"no web secret at {path} yet: nothing to rotate")
    old = path.read_text().strip()
    previous = previous_file(path)
    fd = os.open(previous, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(f"{datetime.now(UTC).isoformat()} {old}\n")
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(new + "\n")
    os.replace(scratch, path)  # whole or not at all
    click.echo(f"new web secret in {path}; the old one verifies sessions for "
               f"{settings.env.get('WEB_SESSION_HOURS') or 8} more hours ({previous})")
    click.echo("restart the API to use it: kill -HUP <gunicorn master pid>, or "
               "systemctl reload returns-ledger-api")

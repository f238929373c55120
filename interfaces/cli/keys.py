"""`returns-ledger keys`: issue, list and revoke API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import click

from domain.api_key import Role
from domain.errors import DomainError
from interfaces.cli.store import open_ledger


@click.group()
def keys() -> None:
    """API keys (stored only as SHA-256 hashes)."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--seller", "seller_id", default=None,
              help="the one seller a client or finance key works for")
@click.option("--label", default=None, help="a note to recognise the key by")
def create(role: str, seller_id: str | None, label: str | None) -> None:
    """Issue a key; it is printed once, alone on the last line."""
    ledger = open_ledger()
    try:
        issued = ledger.issue_api_key(role, seller_id, datetime.now(UTC), label,
                                      actor="cli")
    except DomainError as error:
        raise click.UsageError(error.detail) from None
    finally:
        ledger.close()
    scope = issued.key.seller_id or "all sellers"
    click.echo(f"key {issued.key.id} role={issued.key.role} seller={scope}", err=True)
    click.echo("store it now: it is shown only once", err=True)
    click.echo(issued.token)


@keys.command("list")
def list_keys() -> None:
    """Every key: id, role, seller, issued and revoked times (never the secret)."""
    ledger = open_ledger()
    try:
        for key in ledger.list_api_keys():
            revoked = key.revoked_at.isoformat() if key.revoked_at else "active"
            click.echo(f"{key.id}  {key.role:<8} {key.seller_id or '*':<20} "
                       f"{key.issued_at.isoformat()}  {revoked}  {key.label or ''}".rstrip())
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

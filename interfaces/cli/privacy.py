"""`returns-ledger privacy`: find a data subject and erase it (crypto-shredding)."""

from __future__ import annotations

import sys

import click

from interfaces.cli.store import open_ledger


@click.group()
def privacy() -> None:
    """Personal data: sealed per data subject, erasable by destroying the subject's key."""


@privacy.command("subject")
@click.option("--seller", required=True, help="The seller the identity was verified for.")
@click.option("--id-number", required=True, help="The person's ID card number (LZ-1).")
def subject(seller: str, id_number: str) -> None:
    """Print the subject id the ledger uses for a person (a pseudonym)."""
    ledger = open_ledger()
    try:
        click.echo(f"{seller}:{ledger.vault.pseudonym(seller, id_number)}")
    finally:
        ledger.close()


@privacy.command("erase")
@click.argument("subject_id")
def erase(subject_id: str) -> None:
    """Destroy the subject's key: its personal data reads as "erased" from now on."""
    ledger = open_ledger()
    try:
        destroyed = ledger.vault.erase(subject_id)
    finally:
        ledger.close()
    if not destroyed:
        click.echo(f"no key for {subject_id}: nothing sealed for it, or already erased")
        sys.exit(1)
    click.echo(f"erased {subject_id}: its key is destroyed; the events still verify")

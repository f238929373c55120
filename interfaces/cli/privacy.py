"""`returns-ledger privacy`: find a data subject and erase it (crypto-shredding)."""

from __future__ import annotations

import base64
import os
import sys

import click

from application.privacy import RotationError
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


@privacy.command("rotate-key")
@click.option("--begin", is_flag=True, help="Step 1, with the old key still PERSONAL_DATA_KEY: "
              "keep the pseudonym key in the key table and print a new master key.")
def rotate_key(begin: bool) -> None:
    """Rotate the personal-data master key without downtime (docs/OPERATIONS.md, "Keys").

    Without --begin (step 4): run with the new key as PERSONAL_DATA_KEY and the old one in
    PERSONAL_DATA_PREVIOUS_KEYS; re-wraps every subject key under the new key (again is
    harmless). The events and their hashes do not change.
    """
    ledger = open_ledger()
    try:
        if begin:
            stored = ledger.vault.store_pseudonym_key()
            click.echo("pseudonym key " + ("kept in the key table" if stored
                                           else "was kept already"))
            new = base64.urlsafe_b64encode(os.urandom(32)).decode()
            click.echo("a new master key (store it like the old one; shown once):", err=True)
            click.echo(new)
            return
        try:
            report = ledger.vault.rotate()
        except RotationError as error:
            raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    click.echo(f"re-wrapped {report.rewrapped} keys under the current master key; "
               f"{report.already_current} were already")
    click.echo("now remove PERSONAL_DATA_PREVIOUS_KEYS everywhere (rolling restart)")

"""`returns-ledger addresses` (LZ-1 reuse of a verified identity) and `returns-ledger customs`
(LZ-2: the returns needing customs data)."""

from __future__ import annotations

import json
from uuid import UUID

import click

from application.dto import plain
from application.idempotency import jsonable
from domain.errors import DomainError
from interfaces.cli.orders import when
from interfaces.cli.store import open_ledger, require_store
from projections.service import ViewStores


@click.group()
def addresses() -> None:
    """Sellers' return addresses (TT-1, LZ-1)."""


@addresses.command("reuse-real-name")
@click.argument("address_id")
@click.option("--from", "verified_address_id", required=True,
              help="An address of the same seller whose recipient is verified.")
@click.option("--at", "at", help="Business time (ISO 8601 with a zone); default: now.")
def reuse_real_name(address_id: str, verified_address_id: str, at: str | None) -> None:
    """LZ-1: verify ADDRESS_ID with the identity verified for another address."""
    ledger = open_ledger()
    try:
        view = ledger.reuse_real_name(UUID(address_id), UUID(verified_address_id), when(at),
                                      actor="cli")
    except DomainError as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    click.echo(json.dumps(plain(jsonable(view)), ensure_ascii=False, sort_keys=True))


@click.group()
def customs() -> None:
    """SKU customs information (LZ-2)."""


@customs.command("work-list")
@click.option("--seller", help="Only this seller's returns.")
def work_list(seller: str | None) -> None:
    """LZ-2: returns whose SKUs lack customs information, one line per parcel and SKU."""
    require_store()
    stores = ViewStores()
    try:
        rows = stores.view("deadlines").customs_worklist((seller,) if seller else None)
    finally:
        stores.close()
    for row in rows:
        click.echo(f"{row['parcel_id']}  {row['seller_id']}  order {row['order_id']}  "
                   f"sku {row['sku']}  routed {row['routed_at']}  [LZ-2]")
    click.echo(f"{len(rows)} SKUs of returns need customs information")

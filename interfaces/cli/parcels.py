"""`returns-ledger parcels`: RL-2 corrections from the command line, as over HTTP (void a
parcel registered by mistake, correct a field recorded wrongly). Times are business times;
a refusal is one line naming the field and the rule, exit status 1."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import click

from domain.errors import InvalidValueError
from domain.money import Money
from domain.parcel_corrections import CORRECTABLE, MONEY_FIELDS
from domain.values import Line
from interfaces.cli.orders import ACTOR, AT, _run, when


def _money(raw: Any) -> Money:
    if not isinstance(raw, dict) or set(raw) != {"amount", "currency"}:
        raise InvalidValueError("value", 'money is {"amount": "12.30", "currency": "MYR"}')
    return Money.of(raw["amount"], raw["currency"])


def value_of(field: str, raw: str) -> Any:
    """The command line's VALUE as the ledger takes it: JSON for money and lines (as in the
    API: {"amount", "currency"}, [{"sku", "quantity", "unit_price"}]), ISO 8601 with a zone
    for order_created_at, else the text."""
    if field == "order_created_at":
        return when(raw)
    if field not in MONEY_FIELDS and field != "lines":
        return raw
    try:
        data = json.loads(raw)
    except ValueError:
        raise click.BadParameter(f"{field} is given as JSON", param_hint="VALUE") from None
    try:
        if field in MONEY_FIELDS:
            return _money(data)
        if not isinstance(data, list) or not all(isinstance(line, dict) for line in data):
            raise InvalidValueError("value", "the lines: a list of {sku, quantity, unit_price}")
        return [Line(line.get("sku"), line.get("quantity"), _money(line.get("unit_price")))
                for line in data]
    except InvalidValueError as error:
        raise click.BadParameter(str(error), param_hint="VALUE") from None


@click.group()
def parcels() -> None:
    """Corrections of parcels (RL-2): voids and field corrections, as events."""


@parcels.command("void")
@click.argument("parcel_id", type=click.UUID)
@click.option("--reason", required=True, help="Why the parcel was registered by mistake.")
@AT
def void(parcel_id: UUID, reason: str, at: str | None) -> None:
    """RL-2: the parcel was registered by mistake; it ends and leaves every view (a parcel
    with refunds is not voided)."""
    _run(lambda ledger: ledger.void_parcel(parcel_id, reason, when(at), actor=ACTOR))


@parcels.command("correct")
@click.argument("parcel_id", type=click.UUID)
@click.argument("field", type=click.Choice(CORRECTABLE))
@click.argument("value")
@click.option("--reason", required=True, help="Why the recorded value was wrong.")
@AT
def correct(parcel_id: UUID, field: str, value: str, reason: str, at: str | None) -> None:
    """RL-2: the right VALUE of a FIELD recorded wrongly, by an event naming the one it
    corrects; held to RL-3 (and CD-2 for lines). Money and lines are JSON, e.g. lines:
    '[{"sku": "SKU-1", "quantity": 2, "unit_price": {"amount": "9.90", "currency": "MYR"}}]'."""
    parsed = value_of(field, value)
    _run(lambda ledger: ledger.correct_parcel(parcel_id, field, parsed, reason, when(at),
                                              actor=ACTOR))

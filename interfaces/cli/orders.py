"""`returns-ledger orders` and `returns-ledger questions`: the order stages (LZ-3, CD-1) and
Cdiscount buyer questions (CD-3) from the command line. Times are business times."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import click

from application.dto import plain
from application.idempotency import jsonable
from domain.errors import DomainError
from domain.money import Money
from interfaces.cli.store import open_ledger

ACTOR = "cli"


def when(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-03-20T09:00:00+00:00")
    return moment


def _run(command: Callable[[Any], Any]) -> None:
    """Run one ledger command; a refusal is an error message naming the rule, exit 1."""
    ledger = open_ledger()
    try:
        result = command(ledger)
    except DomainError as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    click.echo(json.dumps(plain(jsonable(result)), ensure_ascii=False, sort_keys=True))


AT = click.option("--at", "at", help="Business time (ISO 8601 with a zone); default: now.")


@click.group()
def orders() -> None:
    """Orders before the parcel: Lazada states (LZ-3), Cdiscount acceptance (CD-1)."""


@orders.command("create")
@click.option("--platform", type=click.Choice(["lazada", "cdiscount"]), required=True)
@click.option("--site", required=True)
@click.option("--seller", required=True)
@click.option("--order", "order_id", required=True)
@click.option("--created-at", required=True, help="When the payment was verified (LZ-3) or "
              "the order passed on (CD-1); the 48 hours count from it.")
@click.option("--commission", help="CD-1: the commission, e.g. 2.40 (in --currency).")
@click.option("--currency", default="EUR", show_default=True)
def create(platform: str, site: str, seller: str, order_id: str, created_at: str,
           commission: str | None, currency: str) -> None:
    """Record an order: pending (Lazada) or awaiting acceptance (Cdiscount)."""
    fee = Money.of(commission, currency) if commission else None
    _run(lambda led: led.create_order(platform=platform, site=site, seller_id=seller,
                                      order_id=order_id, created_at=when(created_at),
                                      commission=fee, actor=ACTOR))


def _order_command(name: str, doc: str, call: Callable[..., Any],
                   *options: Callable[[Any], Any]) -> None:
    def command(order_id: str, at: str | None, **extra: Any) -> None:
        _run(lambda led: call(led, UUID(order_id), when(at), **extra))

    command.__doc__ = doc
    for option in reversed(options):
        command = option(command)
    orders.command(name)(AT(click.argument("order_id")(command)))


REPORTED = click.option("--reported-by", default="system", show_default=True,
                        help="system, lgs, carrier, platform, or seller.")
_order_command("ready-to-ship", "LZ-3: set the pending order ready to ship (48 hours).",
               lambda led, oid, at: led.mark_ready_to_ship(oid, at, actor=ACTOR))
_order_command("ship", "LZ-3: shipped (set by the system at the destination's centre).",
               lambda led, oid, at, reported_by: led.record_order_shipped(
                   oid, at, reported_by, actor=ACTOR), REPORTED)
_order_command("deliver", "LZ-3: delivered, from the carrier's information.",
               lambda led, oid, at, reported_by: led.record_order_delivered(
                   oid, at, reported_by, actor=ACTOR), REPORTED)
_order_command("fail-delivery", "LZ-3: delivery failed (marked by the seller: not settled).",
               lambda led, oid, at, reported_by: led.record_order_delivery_failed(
                   oid, at, reported_by, actor=ACTOR), REPORTED)
_order_command("accept", "CD-1: accept the order within 48 hours; the buyer is charged.",
               lambda led, oid, at: led.accept_order(oid, at, actor=ACTOR))
_order_command("refuse", "CD-1: refuse the order; the commission is not refunded.",
               lambda led, oid, at, reason: led.refuse_order(oid, reason, at, actor=ACTOR),
               click.option("--reason", required=True))
_order_command("buyer-cancel", "CD-1: the buyer cancels the order.",
               lambda led, oid, at: led.buyer_cancels_order(oid, at, actor=ACTOR))
_order_command("answer-cancellation", "CD-1: accept or refuse the buyer's cancellation.",
               lambda led, oid, at, accept: led.answer_cancellation(oid, accept, at,
                                                                    actor=ACTOR),
               click.option("--accept/--refuse", required=True))


@orders.command("show")
@click.argument("order_id")
def show(order_id: str) -> None:
    """An order's stage and deadline."""
    _run(lambda led: led.get_order(UUID(order_id)))


@click.group()
def questions() -> None:
    """Cdiscount buyer questions (CD-3): answered in French within 48 hours."""


@questions.command("ask")
@click.option("--seller", required=True)
@click.option("--question", "question_id", required=True)
@click.option("--kind", type=click.Choice(["product", "order", "return_request"]),
              required=True)
@click.option("--order", "order_id")
@click.option("--language", required=True, help="The buyer's language (ISO 639-1).")
@AT
def ask(seller: str, question_id: str, kind: str, order_id: str | None, language: str,
        at: str | None) -> None:
    """Record that a buyer asked (no text is kept)."""
    _run(lambda led: led.ask_question(platform="cdiscount", seller_id=seller,
                                      question_id=question_id, kind=kind, asked_at=when(at),
                                      language=language, order_id=order_id, actor=ACTOR))


@questions.command("reply")
@click.argument("question_id")
@click.option("--language", default="fr", show_default=True)
@AT
def reply(question_id: str, language: str, at: str | None) -> None:
    """CD-3: the seller replied (late: escalated to a dispute)."""
    _run(lambda led: led.answer_question(UUID(question_id), language, when(at), actor=ACTOR))


@questions.command("close")
@click.argument("question_id")
@AT
def close(question_id: str, at: str | None) -> None:
    """CD-3: close an answered product question."""
    _run(lambda led: led.close_question(UUID(question_id), when(at), actor=ACTOR))


@questions.command("escalate")
@click.argument("question_id")
@AT
def escalate(question_id: str, at: str | None) -> None:
    """CD-3: the buyer is not satisfied with the reply: a dispute."""
    _run(lambda led: led.buyer_not_satisfied(UUID(question_id), when(at), actor=ACTOR))


@questions.command("show")
@click.argument("question_id")
def show_question(question_id: str) -> None:
    """A question's state and deadline."""
    _run(lambda led: led.get_question(UUID(question_id)))

"""The parcel commands by name: each one's request schema and its call on the ledger.

The name is the command's path segment under /v1/parcels/{id}/ ("parcels" registers one).
The endpoints run their command through this catalog, and so does a bulk import
(application/imports/), so a line of an import is validated by the same schema and
decided by the same ledger call as the request would be, and refused with the same
problem (type, rule, detail).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from marshmallow import Schema, ValidationError

from application.dto import CommandResult
from application.imports.model import CommandRefusedError
from domain.errors import DomainError
from domain.values import Line, RefundComponent
from interfaces.api import schemas as s
from interfaces.api.problems import TYPE_BASE, describe

# (ledger, parcel id, loaded body, actor, expected version) -> the command's result
Call = Callable[[Any, UUID, dict[str, Any], str, int | None], CommandResult]


@dataclass(frozen=True)
class Command:
    """One parcel command: the schema its body loads with, and the ledger call."""

    name: str
    schema: type[Schema]
    call: Call


def _register(led: Any, _: UUID, body: dict[str, Any], who: str, __: int | None) -> Any:
    lines = [Line(line["sku"], line["quantity"], line["unit_price"]) for line in body["lines"]]
    return led.register_parcel(**{**body, "lines": lines}, actor=who)


def _refund(led: Any, pid: UUID, body: dict[str, Any], who: str, v: int | None) -> Any:
    parts = [RefundComponent(c["kind"], c["amount"]) for c in body["components"]]
    return led.request_refund(pid, body["reference"], parts, body["occurred_at"], actor=who,
                              expected_version=v)


def _entries() -> list[Command]:
    return [
        Command("parcels", s.RegisterParcelRequest, _register),
        Command("delivery-attempts", s.RecordDeliveryAttemptRequest,
                lambda led, pid, b, who, v: led.record_delivery_attempt(
                    pid, b["reason"], b["occurred_at"], actor=who, expected_version=v)),
        Command("delivery-failures", s.RecordDeliveryFailureRequest,
                lambda led, pid, b, who, v: led.record_failed_delivery(
                    pid, b["reason"], b["occurred_at"], b["reported_by"], actor=who,
                    expected_version=v)),
        Command("deliveries", s.RecordDeliveryRequest,
                lambda led, pid, b, who, v: led.record_delivery(
                    pid, b["occurred_at"], actor=who, expected_version=v)),
        Command("return-requests", s.RequestReturnRequest,
                lambda led, pid, b, who, v: led.request_return(
                    pid, b["reason"], b["seller_fault"], b["occurred_at"], b["unconditional"],
                    b["return_shipping_cost"], actor=who, expected_version=v,
                    outside_window_accepted=b["outside_window_accepted"])),
        Command("routes", s.RouteReturnRequest,
                lambda led, pid, b, who, v: led.route_return(
                    pid, b["occurred_at"], b["remedy"], actor=who, expected_version=v)),
        Command("redelivery-requests", s.RequestRedeliveryRequest,
                lambda led, pid, b, who, v: led.request_redelivery(
                    pid, b["occurred_at"], actor=who, expected_version=v,
                    requested_by=b["requested_by"])),
        Command("return-labels", s.IssueReturnLabelRequest,
                lambda led, pid, b, who, v: led.issue_return_label(
                    pid, b["carrier"], b["tracking_number"], b["occurred_at"],
                    b["tracking_url"], actor=who, expected_version=v)),
        Command("return-failures", s.RecordReturnFailureRequest,
                lambda led, pid, b, who, v: led.record_return_failure(
                    pid, b["cause"], b["occurred_at"], actor=who, expected_version=v)),
        Command("receipts", s.RecordReceiptRequest,
                lambda led, pid, b, who, v: led.receive(
                    pid, b["occurred_at"], b["location"], b["received_by"], actor=who,
                    expected_version=v)),
        Command("inspections", s.RecordInspectionRequest,
                lambda led, pid, b, who, v: led.inspect(
                    pid, b["condition"], b["occurred_at"], b["restock"], actor=who,
                    expected_version=v)),
        Command("disposals", s.DisposeParcelRequest,
                lambda led, pid, b, who, v: led.dispose(
                    pid, b["kind"], b["occurred_at"], actor=who, expected_version=v)),
        Command("closures", s.CloseParcelRequest,
                lambda led, pid, b, who, v: led.close_parcel(
                    pid, b["occurred_at"], actor=who, expected_version=v)),
        Command("investigations", s.OpenInvestigationRequest,
                lambda led, pid, b, who, v: led.open_investigation(
                    pid, b["kind"], b["occurred_at"], actor=who, expected_version=v)),
        Command("refunds", s.RequestRefundRequest, _refund),
    ]


COMMANDS: dict[str, Command] = {c.name: c for c in _entries()}
_SCHEMAS: dict[str, Schema] = {}


def on_parcel_call(name: str, body: dict[str, Any], parcel_id: UUID
                   ) -> Callable[[Any, str, int | None], CommandResult]:
    """The endpoint's command: the catalog's call with this request's body and parcel."""
    call = COMMANDS[name].call
    return lambda led, who, version: call(led, parcel_id, body, who, version)


class ApiCommands:
    """The catalog as the import engine uses it (application/imports/engine.py)."""

    names = frozenset(COMMANDS)

    def load(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """The body loaded by the command's own request schema, or CommandRefusedError (422)."""
        if name not in COMMANDS:
            raise CommandRefusedError(TYPE_BASE + "unknown-command",
                          f"no command {name!r}: one of {', '.join(sorted(COMMANDS))}")
        schema = _SCHEMAS.get(name)
        if schema is None:
            schema = _SCHEMAS[name] = COMMANDS[name].schema()
        try:
            return schema.load(body)
        except ValidationError as error:
            raise CommandRefusedError(TYPE_BASE + "validation-error", "the request does not validate: "
                          + json.dumps(error.messages, sort_keys=True)) from None

    def run(self, ledger: Any, name: str, parcel_id: UUID | None, loaded: dict[str, Any],
            actor: str) -> CommandResult:
        return COMMANDS[name].call(ledger, parcel_id or UUID(int=0), loaded, actor, None)

    def refusal(self, error: Exception) -> CommandRefusedError:
        """The problem the API answers for this domain error."""
        if not isinstance(error, DomainError):
            raise TypeError(f"not a domain error: {error!r}")
        _, slug, detail, extra = describe(error)
        return CommandRefusedError(TYPE_BASE + slug, detail or "", extra.get("rule"))

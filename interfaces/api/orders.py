"""Orders before the parcel (LZ-3, CD-1) and Cdiscount buyer questions (CD-3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from application.dto import CommandResult
from application.idempotency import jsonable
from application.orders import OrderNotFoundError
from domain.messages import QuestionKind
from interfaces.api.auth import READ, WRITE, actor, caller, check_seller, requires, sees_all
from interfaces.api.commands import answer, etag, if_match, run
from interfaces.api.fields import Choice, Flag, MoneyField, MoneyResponse, Text, Timestamp, When
from interfaces.api.json_body import Blueprint
from interfaces.api.ledger import ledger
from interfaces.api.schemas import (
    COUNTRY,
    CommandRequest,
    CommandResponse,
    HistoryEventResponse,
)

blp = Blueprint("orders", __name__, url_prefix="/v1",
                description="Orders before shipping (LZ-3, CD-1) and buyer questions (CD-3)")

ORDER_PLATFORMS = ("lazada", "cdiscount")


# -- bodies ---------------------------------------------------------------------------
class CreateOrderRequest(Schema):
    platform = fields.String(required=True, validate=validate.OneOf(ORDER_PLATFORMS),
                             metadata={"example": "lazada"})
    site = fields.String(required=True, validate=COUNTRY, metadata={"example": "PH"})
    seller_id = Text(required=True, metadata={"example": "seller-ph-001"})
    order_id = Text(64, required=True, metadata={"example": "540123456789012"})
    created_at = When(required=True, metadata={
        "example": "2026-03-02T09:00:00+08:00",
        "description": "when the platform verified the payment (LZ-3) or passed the order "
                       "on (CD-1); the 48-hour deadline counts from it"})
    commission = MoneyField(load_default=None, metadata={"description": "CD-1: the "
                            "commission, kept on a refusal, refunded on an accepted "
                            "cancellation"})


class ReportedRequest(CommandRequest):
    reported_by = Text(50, load_default="system", metadata={
        "description": "LZ-3: system, lgs, carrier or platform; a seller may not set "
                       "shipped or delivered on Lazada"})


class DeliveryFailedRequest(CommandRequest):
    reported_by = Text(50, load_default="carrier", metadata={
        "description": "'seller' when the seller marks it: the order is then not settled"})


class RefuseOrderRequest(CommandRequest):
    reason = Text(required=True, metadata={"example": "out of stock"})


class AnswerCancellationRequest(CommandRequest):
    accept = Flag(required=True, metadata={"example": True})


class AskQuestionRequest(Schema):
    platform = fields.String(required=True, validate=validate.OneOf(("cdiscount",)),
                             metadata={"example": "cdiscount"})
    seller_id = Text(required=True, metadata={"example": "seller-fr-001"})
    question_id = Text(64, required=True, metadata={"example": "Q-2026-000123"})
    kind = Choice(QuestionKind, required=True, metadata={"example": "order"})
    order_id = Text(64, load_default=None, metadata={"example": "CD-2603020001"})
    asked_at = When(required=True, metadata={"example": "2026-03-02T09:00:00+01:00"})
    language = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z]{2}$", error="must be an ISO 639-1 code such as 'fr'"),
        metadata={"example": "fr"})


class AnswerQuestionRequest(CommandRequest):
    language = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z]{2}$", error="must be an ISO 639-1 code such as 'fr'"), metadata={
        "example": "fr",
        "description": "CD-3: the reply's language; Cdiscount buyers are answered in 'fr'"})


class OrderResponse(Schema):
    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    site = fields.String(required=True)
    seller_id = fields.String(required=True)
    order_id = fields.String(required=True)
    status = fields.String(required=True)
    created_at = Timestamp(required=True)
    due_at = Timestamp(allow_none=True, required=True)
    deadline_rule = fields.String(required=True)
    cancellation_requested = fields.Boolean(required=True)
    settled = fields.Boolean(allow_none=True, required=True)
    fined = fields.Boolean(required=True)
    commission = fields.Nested(MoneyResponse, allow_none=True, required=True)
    commission_refunded = fields.Boolean(allow_none=True, required=True)
    version = fields.Integer(required=True)


class QuestionResponse(Schema):
    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    seller_id = fields.String(required=True)
    question_id = fields.String(required=True)
    kind = fields.String(required=True)
    order_id = fields.String(allow_none=True, required=True)
    language = fields.String(required=True)
    status = fields.String(required=True)
    asked_at = Timestamp(required=True)
    due_at = Timestamp(allow_none=True, required=True)
    preferred_by = Timestamp(required=True)
    answered_at = Timestamp(allow_none=True, required=True)
    escalation = fields.String(allow_none=True, required=True)
    version = fields.Integer(required=True)


# -- helpers --------------------------------------------------------------------------
def _visible(view: Any, key: UUID, what: str) -> Any:
    if not sees_all() and view.seller_id != caller().seller_id:
        raise OrderNotFoundError(key, what)  # another seller's is a 404, like parcels
    return view


def _on(key: UUID, what: str, command: Callable[[Any, str, int | None], CommandResult],
        ) -> tuple[dict[str, Any], int, dict[str, str]]:
    get = ledger().get_order if what == "order" else ledger().get_question
    _visible(get(key), key, what)
    expected = if_match()
    result = run(lambda: command(ledger(), actor(), expected))
    return answer(result), 201, etag(result.version)


def _created(result: CommandResult, path: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    return answer(result), 201, {**etag(result.version), "Location": f"/v1/{path}/{result.id}"}


# -- orders ---------------------------------------------------------------------------
@blp.route("/orders")
class Orders(MethodView):
    @requires(WRITE)
    @blp.arguments(CreateOrderRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any]) -> Any:
        """An order exists: pending on Lazada (LZ-3), awaiting acceptance on Cdiscount (CD-1)."""
        check_seller(body["seller_id"])
        return _created(run(lambda: ledger().create_order(**body, actor=actor())), "orders")


@blp.route("/orders/<uuid:order_id>")
class OrderState(MethodView):
    @requires(READ)
    @blp.response(200, OrderResponse)
    def get(self, order_id: UUID) -> Any:
        """An order's stage, its deadline and what was decided."""
        view = _visible(ledger().get_order(order_id), order_id, "order")
        return jsonable(view), etag(view.version)


class StageHistoryResponse(Schema):
    id = fields.UUID(required=True)
    events = fields.List(fields.Nested(HistoryEventResponse), required=True)


def _history(key: UUID, what: str) -> Any:
    get = ledger().get_order if what == "order" else ledger().get_question
    version = _visible(get(key), key, what).version
    events = [{k: v for k, v in jsonable(e).items() if k != "late" or v}
              for e in ledger().get_parcel_history(key)]
    return {"id": str(key), "events": events}, etag(version)


@blp.route("/orders/<uuid:order_id>/history")
class OrderHistory(MethodView):
    @requires(READ)
    @blp.response(200, StageHistoryResponse)
    def get(self, order_id: UUID) -> Any:
        """Every event of the order, with its rules and facts."""
        return _history(order_id, "order")


@blp.route("/questions/<uuid:question_id>/history")
class QuestionHistory(MethodView):
    @requires(READ)
    @blp.response(200, StageHistoryResponse)
    def get(self, question_id: UUID) -> Any:
        """Every event of the buyer question (no message text is kept)."""
        return _history(question_id, "buyer question")


def _stage_command(collection: str, kind: str, path: str, schema: type[Schema], doc: str,
                   command: Callable[[Any, UUID, dict[str, Any], str, int | None],
                                     CommandResult]) -> None:
    """POST /{collection}/<id>/{path}: one command on an order or a buyer question."""
    class Command(MethodView):
        @requires(WRITE)
        @blp.arguments(schema())
        @blp.response(201, CommandResponse)
        def post(self, body: dict[str, Any], **ids: UUID) -> Any:
            (stage_id,) = ids.values()
            return _on(stage_id, kind, lambda led, who, version: command(
                led, stage_id, body, who, version))

    Command.post.__doc__ = doc
    name = collection.removesuffix("s").title()
    Command.__name__ = name + "".join(p.title() for p in path.split("-"))
    blp.route(f"/{collection}/<uuid:{name.lower()}_id>/{path}")(Command)


def _order_command(path: str, schema: type[Schema], doc: str,
                   command: Callable[[Any, UUID, dict[str, Any], str, int | None],
                                     CommandResult]) -> None:
    _stage_command("orders", "order", path, schema, doc, command)


_order_command("ready-to-ship", CommandRequest, "LZ-3: the seller sets it ready to ship "
               "within 48 hours of creation.",
               lambda led, oid, b, who, v: led.mark_ready_to_ship(
                   oid, b["occurred_at"], actor=who, expected_version=v))
_order_command("shipments", ReportedRequest, "LZ-3: shipped, set by the system at the "
               "destination's logistics centre (CD-1: the accepted order ships).",
               lambda led, oid, b, who, v: led.record_order_shipped(
                   oid, b["occurred_at"], b["reported_by"], actor=who, expected_version=v))
_order_command("deliveries", ReportedRequest, "LZ-3: delivered, from the carrier's "
               "information; settled in the next cycle.",
               lambda led, oid, b, who, v: led.record_order_delivered(
                   oid, b["occurred_at"], b["reported_by"], actor=who, expected_version=v))
_order_command("delivery-failures", DeliveryFailedRequest, "LZ-3: delivery failed; marked "
               "so by the seller, the order is not settled.",
               lambda led, oid, b, who, v: led.record_order_delivery_failed(
                   oid, b["occurred_at"], b["reported_by"], actor=who, expected_version=v))
_order_command("acceptance", CommandRequest, "CD-1: accept within 48 hours; the buyer is "
               "then charged.",
               lambda led, oid, b, who, v: led.accept_order(
                   oid, b["occurred_at"], actor=who, expected_version=v))
_order_command("refusal", RefuseOrderRequest, "CD-1: refuse; the acceptance rate drops and "
               "the commission is not refunded.",
               lambda led, oid, b, who, v: led.refuse_order(
                   oid, b["reason"], b["occurred_at"], actor=who, expected_version=v))
_order_command("buyer-cancellations", CommandRequest, "CD-1: the buyer cancels: at once "
               "before acceptance, else the seller answers.",
               lambda led, oid, b, who, v: led.buyer_cancels_order(
                   oid, b["occurred_at"], actor=who, expected_version=v))
_order_command("cancellation-answers", AnswerCancellationRequest, "CD-1: the seller accepts "
               "(commission refunded) or refuses the buyer's cancellation.",
               lambda led, oid, b, who, v: led.answer_cancellation(
                   oid, b["accept"], b["occurred_at"], actor=who, expected_version=v))


# -- buyer questions (CD-3) -----------------------------------------------------------
@blp.route("/questions")
class Questions(MethodView):
    @requires(WRITE)
    @blp.arguments(AskQuestionRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any]) -> Any:
        """CD-3: a buyer asked (no text is kept); the reply is due within 48 hours."""
        check_seller(body["seller_id"])
        return _created(run(lambda: ledger().ask_question(**body, actor=actor())),
                        "questions")


@blp.route("/questions/<uuid:question_id>")
class QuestionState(MethodView):
    @requires(READ)
    @blp.response(200, QuestionResponse)
    def get(self, question_id: UUID) -> Any:
        """A question's state and deadline."""
        view = _visible(ledger().get_question(question_id), question_id, "buyer question")
        return jsonable(view), etag(view.version)


def _question_command(path: str, schema: type[Schema], doc: str,
                      command: Callable[[Any, UUID, dict[str, Any], str, int | None],
                                        CommandResult]) -> None:
    _stage_command("questions", "question", path, schema, doc, command)


_question_command("replies", AnswerQuestionRequest, "CD-3: the seller's reply, in French; "
                  "after 48 hours it escalates to a dispute.",
                  lambda led, qid, b, who, v: led.answer_question(
                      qid, b["language"], b["occurred_at"], actor=who, expected_version=v))
_question_command("closures", CommandRequest, "CD-3: the seller closes an answered product "
                  "question.",
                  lambda led, qid, b, who, v: led.close_question(
                      qid, b["occurred_at"], actor=who, expected_version=v))
_question_command("escalations", CommandRequest, "CD-3: the buyer is not satisfied with the "
                  "reply: a dispute.",
                  lambda led, qid, b, who, v: led.buyer_not_satisfied(
                      qid, b["occurred_at"], actor=who, expected_version=v))

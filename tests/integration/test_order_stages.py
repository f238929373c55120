"""Order stages before the parcel: LZ-3 order states, CD-1 acceptance, CD-3 buyer questions,
their deadlines in business time and the automatic outcomes of the deadlines run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from domain.errors import InvalidValueError, RuleViolationError, TransitionError
from domain.money import Money
from domain.plausibility import ImplausibleValueError
from interfaces.cli import main
from projections.order_deadlines import settle_order_deadlines
from tests.integration.projection_support import (  # noqa: F401 - fixtures
    T0,
    app,
    catch_up,
    view,
    view_env,
)

HOUR = timedelta(hours=1)


def _lazada(app, suffix="1"):
    return app.create_order(platform="lazada", site="MY", seller_id="s1",
                            order_id=f"LZ-{suffix}", created_at=T0).id


def _cdiscount(app, suffix="1"):
    return app.create_order(platform="cdiscount", site="FR", seller_id="s1",
                            order_id=f"CD-{suffix}", created_at=T0,
                            commission=Money.of("2.40", "EUR")).id


def _types(app, aggregate_id):
    return [e.type for e in app.get_parcel_history(aggregate_id)]


# -- LZ-3 -------------------------------------------------------------------------------
def test_lz3_pending_order_walks_to_delivered_and_is_settled(memory_ledger):
    app = memory_ledger
    order = _lazada(app)
    assert app.get_order(order).status == "pending"
    assert app.get_order(order).due_at == T0 + 48 * HOUR
    app.mark_ready_to_ship(order, T0 + 47 * HOUR)
    app.record_order_shipped(order, T0 + 60 * HOUR, reported_by="lgs")
    app.record_order_delivered(order, T0 + 90 * HOUR, reported_by="carrier")
    view = app.get_order(order)
    assert (view.status, view.settled, view.due_at) == ("delivered", True, None)
    delivered = app.get_parcel_history(order)[-1]
    assert delivered.data["rules"] == ["LZ-3"]
    assert delivered.data["facts"]["settled"] == "next_cycle"


def test_lz3_ready_to_ship_after_48_hours_is_refused(memory_ledger):
    app = memory_ledger
    order = _lazada(app)
    with pytest.raises(RuleViolationError) as late:
        app.mark_ready_to_ship(order, T0 + 48 * HOUR + timedelta(seconds=1))
    assert late.value.rule == "LZ-3"
    app.mark_ready_to_ship(order, T0 + 48 * HOUR)  # the deadline itself is the seller's
    assert app.get_order(order).status == "ready_to_ship"


def test_lz3_shipped_and_delivered_are_not_set_by_the_seller(memory_ledger):
    app = memory_ledger
    order = _lazada(app)
    app.mark_ready_to_ship(order, T0 + HOUR)
    with pytest.raises(RuleViolationError) as shipped:
        app.record_order_shipped(order, T0 + 2 * HOUR, reported_by="seller")
    assert shipped.value.rule == "LZ-3"
    app.record_order_shipped(order, T0 + 2 * HOUR, reported_by="system")
    with pytest.raises(RuleViolationError) as delivered:
        app.record_order_delivered(order, T0 + 3 * HOUR, reported_by="seller")
    assert delivered.value.rule == "LZ-3"


def test_lz3_seller_marked_delivery_failed_is_not_settled_even_when_delivered(memory_ledger):
    app = memory_ledger
    order = _lazada(app)
    app.mark_ready_to_ship(order, T0 + HOUR)
    app.record_order_shipped(order, T0 + 2 * HOUR)
    app.record_order_delivered(order, T0 + 3 * HOUR)
    app.record_order_delivery_failed(order, T0 + 4 * HOUR, reported_by="seller")
    view = app.get_order(order)
    assert (view.status, view.settled) == ("delivery_failed", False)
    facts = app.get_parcel_history(order)[-1].data["facts"]
    assert facts == {"reported_by": "seller", "settled": "false", "marked_by_seller": "true",
                     "delivered_before": "true"}


def test_rl3_order_times_before_the_order_are_refused(memory_ledger):
    app = memory_ledger
    order = _lazada(app)
    with pytest.raises(ImplausibleValueError) as early:
        app.mark_ready_to_ship(order, T0 - HOUR)
    assert (early.value.rule, early.value.field) == ("RL-3", "occurred_at")


def test_lz3_order_stages_are_kept_for_lazada_and_cdiscount_only(memory_ledger):
    with pytest.raises(InvalidValueError) as refused:
        memory_ledger.create_order(platform="amazon", site="US", seller_id="s1",
                                   order_id="A-1", created_at=T0)
    assert refused.value.field == "platform"


# -- CD-1 -------------------------------------------------------------------------------
def test_cd1_accepted_order_charges_the_buyer(memory_ledger):
    app = memory_ledger
    order = _cdiscount(app)
    assert app.get_order(order).status == "awaiting_acceptance"
    app.accept_order(order, T0 + 47 * HOUR)
    accepted = app.get_parcel_history(order)[-1]
    assert (accepted.type, accepted.data["facts"]["buyer_charged"]) == ("OrderAccepted", "true")


def test_cd1_refusal_lowers_the_rate_and_keeps_the_commission(memory_ledger):
    app = memory_ledger
    order = _cdiscount(app)
    app.refuse_order(order, "out of stock", T0 + HOUR)
    view = app.get_order(order)
    assert (view.status, view.commission_refunded) == ("refused", False)
    facts = app.get_parcel_history(order)[-1].data["facts"]
    assert facts["acceptance_rate_lowered"] == "true"
    assert facts["commission_refunded"] == "false"
    with pytest.raises(TransitionError):
        app.accept_order(order, T0 + 2 * HOUR)


def test_cd1_acceptance_after_48_hours_is_refused(memory_ledger):
    app = memory_ledger
    order = _cdiscount(app)
    with pytest.raises(RuleViolationError) as late:
        app.accept_order(order, T0 + 49 * HOUR)
    assert late.value.rule == "CD-1"


def test_cd1_buyer_cancellation_before_acceptance_just_cancels(memory_ledger):
    app = memory_ledger
    order = _cdiscount(app)
    app.buyer_cancels_order(order, T0 + HOUR)
    assert app.get_order(order).status == "cancelled"
    assert app.get_parcel_history(order)[-1].data["facts"]["before_acceptance"] == "true"


def test_cd1_buyer_cancellation_after_acceptance_is_the_sellers_call(memory_ledger):
    app = memory_ledger
    kept, cancelled = _cdiscount(app, "kept"), _cdiscount(app, "gone")
    for order in (kept, cancelled):
        app.accept_order(order, T0 + HOUR)
        app.buyer_cancels_order(order, T0 + 2 * HOUR)
        assert app.get_order(order).cancellation_requested
    app.answer_cancellation(kept, False, T0 + 3 * HOUR)
    app.answer_cancellation(cancelled, True, T0 + 3 * HOUR)
    assert app.get_order(kept).status == "accepted"
    gone = app.get_order(cancelled)
    assert (gone.status, gone.commission_refunded) == ("cancelled", True)
    with pytest.raises(TransitionError):
        app.answer_cancellation(kept, True, T0 + 4 * HOUR)  # nothing asked any more


# -- CD-3 -------------------------------------------------------------------------------
def _question(app, kind="order", suffix="1"):
    return app.ask_question(platform="cdiscount", seller_id="s1", question_id=f"Q-{suffix}",
                            kind=kind, order_id="CD-1" if kind != "product" else None,
                            asked_at=T0, language="fr").id


def test_cd3_reply_in_french_within_24_hours_is_preferred(memory_ledger):
    app = memory_ledger
    question = _question(app)
    app.answer_question(question, "fr", T0 + 20 * HOUR)
    answered = app.get_parcel_history(question)[-1]
    assert answered.data["on_time"] and answered.data["within_preferred"]
    assert app.get_question(question).status == "answered"


def test_cd3_reply_not_in_french_is_refused(memory_ledger):
    app = memory_ledger
    question = _question(app)
    with pytest.raises(RuleViolationError) as refused:
        app.answer_question(question, "en", T0 + HOUR)
    assert refused.value.rule == "CD-3"


def test_cd3_late_reply_escalates_to_a_dispute(memory_ledger):
    app = memory_ledger
    question = _question(app)
    app.answer_question(question, "fr", T0 + 49 * HOUR)
    assert app.get_question(question).escalation == "late_reply"
    assert _types(app, question)[-2:] == ["QuestionAnswered", "QuestionEscalated"]


def test_cd3_unsatisfied_buyer_escalates_and_product_questions_close(memory_ledger):
    app = memory_ledger
    order_q, product_q = _question(app, "order", "o"), _question(app, "product", "p")
    for question in (order_q, product_q):
        app.answer_question(question, "fr", T0 + HOUR)
    with pytest.raises(RuleViolationError):
        app.close_question(order_q, T0 + 2 * HOUR)  # only product questions close
    app.buyer_not_satisfied(order_q, T0 + 2 * HOUR)
    app.close_question(product_q, T0 + 2 * HOUR)
    assert app.get_question(order_q).escalation == "buyer_not_satisfied"
    assert app.get_question(product_q).status == "closed"


def test_cd3_question_keeps_no_message_text(memory_ledger):
    app = memory_ledger
    question = _question(app)
    app.answer_question(question, "fr", T0 + HOUR)
    for entry in app.get_parcel_history(question):
        assert not {"text", "body", "message"} & set(entry.data)


# -- the deadlines run ------------------------------------------------------------------
def test_lz3_cd1_cd3_deadlines_run_cancels_and_escalates_once(view_env, app):
    pending, awaiting = _lazada(app), _cdiscount(app)
    ready, question = _lazada(app, "ready"), _question(app)
    app.mark_ready_to_ship(ready, T0 + HOUR)
    catch_up(view_env, app, ("deadlines",))
    deadlines = view(view_env, "deadlines")
    rows = {r["aggregate_id"]: r for r in deadlines.order_deadlines(T0 + 47 * HOUR)}
    assert set(rows) == {str(pending), str(awaiting), str(question)}
    assert {r["rule"] for r in rows.values()} == {"LZ-3", "CD-1", "CD-3"}
    assert not any(r["delayed"] for r in rows.values())
    late = T0 + 48 * HOUR + timedelta(seconds=1)
    assert all(r["delayed"] for r in deadlines.order_deadlines(late))  # LZ-3 "delayed"
    on_time = settle_order_deadlines(app, deadlines, T0 + 48 * HOUR)  # still the seller's
    assert (on_time.cancelled, on_time.escalated) == ([], [])
    report = settle_order_deadlines(app, deadlines, late)
    assert sorted(report.cancelled) == sorted([str(pending), str(awaiting)])
    assert report.escalated == [str(question)]
    lazada = app.get_order(pending)
    assert (lazada.status, lazada.fined) == ("cancelled", True)
    cancelled = app.get_parcel_history(pending)[-1]
    assert (cancelled.type, cancelled.actor, cancelled.occurred_at) == (
        "OrderCancelledAutomatically", "deadlines", late)
    assert cancelled.data["facts"]["fine_borne_by"] == "seller"
    assert app.get_parcel_history(awaiting)[-1].data["rule"] == "CD-1"
    assert app.get_question(question).escalation == "no_reply"
    versions = [app.get_order(pending).version, app.get_order(awaiting).version,
                app.get_question(question).version]
    again = settle_order_deadlines(app, deadlines, late + HOUR)  # the view lags: no-op
    assert (again.cancelled, again.escalated) == ([], [])
    assert versions == [app.get_order(pending).version, app.get_order(awaiting).version,
                        app.get_question(question).version]
    catch_up(view_env, app, ("deadlines",))
    assert deadlines.order_deadlines(late) == []


def test_lz3_order_set_ready_in_time_is_never_cancelled(view_env, app):
    order = _lazada(app)
    catch_up(view_env, app, ("deadlines",))
    app.mark_ready_to_ship(order, T0 + 10 * HOUR)  # the view has not seen it yet
    report = settle_order_deadlines(app, view(view_env, "deadlines"), T0 + 50 * HOUR)
    assert report.cancelled == [] and str(order) in report.skipped
    assert app.get_order(order).status == "ready_to_ship"


def test_lz3_deadlines_run_command_cancels_orders(view_env, app, monkeypatch):
    order = _lazada(app)
    for key, value in view_env.items():
        monkeypatch.setenv(key, value)
    done = CliRunner().invoke(main, ["deadlines", "run", "--catch-up", "--now",
                                     (T0 + 49 * HOUR).isoformat()])
    assert done.exit_code == 0, done.output
    assert f"cancelled order {order}" in done.output
    assert "1 orders cancelled" in done.output


def test_lz3_cd3_orders_and_questions_from_the_cli(view_env, app, monkeypatch):
    import json

    for key, value in view_env.items():
        monkeypatch.setenv(key, value)
    cli = CliRunner()
    made = cli.invoke(main, ["orders", "create", "--platform", "lazada", "--site", "MY",
                             "--seller", "s1", "--order", "LZ-CLI", "--created-at",
                             T0.isoformat()])
    assert made.exit_code == 0, made.output
    order = json.loads(made.output)["id"]
    late = cli.invoke(main, ["orders", "ready-to-ship", order, "--at",
                             (T0 + 49 * HOUR).isoformat()])
    assert late.exit_code == 1 and "LZ-3" in late.output
    ready = cli.invoke(main, ["orders", "ready-to-ship", order, "--at",
                              (T0 + HOUR).isoformat()])
    assert json.loads(ready.output)["status"] == "ready_to_ship"
    seller = cli.invoke(main, ["orders", "ship", order, "--reported-by", "seller", "--at",
                               (T0 + 2 * HOUR).isoformat()])
    assert seller.exit_code == 1 and "LZ-3" in seller.output
    shown = cli.invoke(main, ["orders", "show", order])
    assert json.loads(shown.output)["status"] == "ready_to_ship"
    asked = cli.invoke(main, ["questions", "ask", "--seller", "s1", "--question", "Q-CLI",
                              "--kind", "product", "--language", "fr", "--at",
                              T0.isoformat()])
    question = json.loads(asked.output)["id"]
    english = cli.invoke(main, ["questions", "reply", question, "--language", "en", "--at",
                                (T0 + HOUR).isoformat()])
    assert english.exit_code == 1 and "CD-3" in english.output
    replied = cli.invoke(main, ["questions", "reply", question, "--at",
                                (T0 + HOUR).isoformat()])
    assert json.loads(replied.output)["status"] == "answered"


def test_lz3_cd1_cd3_demo_walks_orders_through_their_deadlines(view_env, app, monkeypatch):
    for key, value in view_env.items():
        monkeypatch.setenv(key, value)
    shown = CliRunner().invoke(main, ["demo"])
    assert shown.exit_code == 0, shown.output
    for heading in ("lazada_order (LZ-3): order LZ-ORDER-LATE", "cdiscount_order (CD-1): "
                    "order CD-ORDER-LATE", "cdiscount_questions (CD-3): question Q-LATE"):
        assert heading in shown.output
    assert shown.output.count("OrderCancelledAutomatically") == 2
    assert "QuestionEscalated" in shown.output and '"fined": "true"' in shown.output


def test_lz1_lz2_reuse_and_work_list_from_the_cli(view_env, app, monkeypatch):
    import json

    from domain.values import Line
    from tests.integration.projection_support import ADDRESS

    for key, value in view_env.items():
        monkeypatch.setenv(key, value)
    verified, second = (app.register_return_address(
        seller_id="s1", platform="lazada", country="CN", address=ADDRESS,
        effective_from=T0 - 30 * HOUR, occurred_at=T0 - 30 * HOUR).id for _ in range(2))
    app.verify_real_name(verified, {"name": "Li Lei", "id_number": "110101199003074512",
                                    "document_front": "f", "document_back": "b"}, T0)
    cli = CliRunner()
    reused = cli.invoke(main, ["addresses", "reuse-real-name", str(second), "--from",
                               str(verified), "--at", T0.isoformat()])
    assert reused.exit_code == 0, reused.output
    assert json.loads(reused.output)["real_name_status"] == "verified"
    unverified = app.register_return_address(
        seller_id="s1", platform="lazada", country="CN", address=ADDRESS,
        effective_from=T0 + 100 * HOUR, occurred_at=T0).id  # not in force for the route
    refused = cli.invoke(main, ["addresses", "reuse-real-name", str(second), "--from",
                                str(unverified), "--at", T0.isoformat()])
    assert refused.exit_code == 1 and "LZ-1" in refused.output
    parcel = app.register_parcel(
        platform="lazada", site="PH", seller_id="s1", order_id="LZ-CLI-1",
        order_created_at=T0, tracking_number="LZ-CLI-1",
        lines=[Line("SKU-NEW", 1, Money.of("450.00", "PHP"))],
        amount_paid=Money.of("450.00", "PHP"), occurred_at=T0 + HOUR).id
    app.record_failed_delivery(parcel, "refused", T0 + 5 * HOUR)
    app.route_return(parcel, T0 + 6 * HOUR)
    listed = cli.invoke(main, ["customs", "work-list", "--seller", "s1"])
    assert listed.exit_code == 0, listed.output
    catch_up(view_env, app, ("deadlines",))
    listed = cli.invoke(main, ["customs", "work-list", "--seller", "s1"])
    assert f"{parcel}  s1  order LZ-CLI-1  sku SKU-NEW" in listed.output
    assert "1 SKUs of returns need customs information" in listed.output

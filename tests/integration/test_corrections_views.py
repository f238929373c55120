"""RL-2 in the views: a voided parcel leaves every view, a corrected field is shown."""

from __future__ import annotations

from projections.base import CORRECTED_COLUMNS
from projections.runners import VIEWS
from tests.integration.projection_support import (  # noqa: F401 - fixtures
    DAY,
    T0,
    app,
    catch_up,
    dump,
    tt_parcel,
    view,
    view_env,
)


def _rows_of(env, parcel) -> dict[str, int]:
    found = {}
    for name in VIEWS:
        for table, rows in dump(view(env, name)).items():
            found[f"{name}.{table}"] = sum(1 for r in rows if ("parcel_id", str(parcel)) in r)
    return found


def test_rl2_a_voided_parcel_leaves_every_view(view_env, app):
    held = tt_parcel(app, "void", site="TH", eligible_address=False)  # in every view
    kept = tt_parcel(app, "kept", site="TH", eligible_address=False)
    catch_up(view_env, app)
    assert sum(_rows_of(view_env, held).values()) > 0
    app.void_parcel(held, "registered twice by the ERP", T0 + 6 * DAY)
    catch_up(view_env, app)
    assert sum(_rows_of(view_env, held).values()) == 0, _rows_of(view_env, held)
    assert [r["parcel_id"] for r in view(view_env, "deadlines").holds()] == [str(kept)]


def test_rl2_voided_in_the_same_batch_as_its_registration_leaves_no_row(view_env, app):
    from domain.money import Money
    from domain.values import Line

    parcel = app.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="s1", order_id="O-BATCH",
        order_created_at=T0, tracking_number="T-BATCH",
        lines=[Line("SKU-1", 1, Money.of("10.00", "MYR"))],
        amount_paid=Money.of("10.00", "MYR"), occurred_at=T0 + DAY).id
    app.void_parcel(parcel, "test parcel", T0 + DAY)
    catch_up(view_env, app)
    assert sum(_rows_of(view_env, parcel).values()) == 0


def test_rl2_a_corrected_site_is_the_site_in_the_views(view_env, app):
    parcel = tt_parcel(app, "site", site="MY")
    app.correct_parcel(parcel, "site", "SG", "wrong site", T0 + 6 * DAY)
    catch_up(view_env, app)
    rows = [r for r in view(view_env, "deadlines").returns_in_transit()
            if r["parcel_id"] == str(parcel)]
    assert [r["site"] for r in rows] == ["SG"]


def test_rl2_a_corrected_order_store_or_site_is_what_every_view_shows(view_env, app):
    """Every view row that carries a corrected field shows the new value: the refunds
    view's order id is what finance reconciles against the platform's settlement."""
    from domain.money import Money
    from domain.values import Line, RefundComponent
    from tests.integration.projection_support import ADDRESS

    refunded = tt_parcel(app, "fix", site="MY")  # a free return: free_returns has a row
    app.request_refund(refunded, "R-FIX", [RefundComponent("item", Money.of("5.00", "MYR"))],
                       T0 + 6 * DAY)
    app.register_return_address(seller_id="seller-lz", platform="lazada", country="MY",
                                address=ADDRESS, effective_from=T0 - 30 * DAY,
                                occurred_at=T0 - 30 * DAY)
    customs = app.register_parcel(  # routed without customs data: on the LZ-2 work list
        platform="lazada", site="MY", seller_id="seller-lz", order_id="LZ-WRONG",
        order_created_at=T0, tracking_number="LZ-FIX",
        lines=[Line("SKU-NO-PROFILE", 1, Money.of("50.00", "MYR"))],
        amount_paid=Money.of("50.00", "MYR"), occurred_at=T0 + DAY).id
    app.record_failed_delivery(customs, "refused", T0 + 4 * DAY)
    app.route_return(customs, T0 + 5 * DAY)
    catch_up(view_env, app)
    for field, value in (("order_id", "ORDER-RIGHT"), ("store_id", "store-right"),
                         ("site", "SG")):
        app.correct_parcel(refunded, field, value, "typed wrongly", T0 + 7 * DAY)
    app.correct_parcel(customs, "order_id", "LZ-RIGHT", "typed wrongly", T0 + 7 * DAY)
    catch_up(view_env, app)
    expected = {str(refunded): {"order_id": "ORDER-RIGHT", "store_id": "store-right",
                                "site": "SG"},
                str(customs): {"order_id": "LZ-RIGHT", "site": "MY"}}
    seen: dict[str, set[str]] = {str(refunded): set(), str(customs): set()}
    for name in VIEWS:
        for table, rows in dump(view(view_env, name)).items():
            for row in rows:
                columns = dict(row)
                parcel = columns.get("parcel_id")
                if parcel not in expected:
                    continue
                for column, value in expected[parcel].items():
                    if column in columns:
                        assert columns[column] == value, (name, table, column, columns)
                        seen[parcel].add(f"{table}.{column}")
    kept = {f"{table}.{column}" for column, tables in CORRECTED_COLUMNS.items()
            for table in tables if column in ("order_id", "store_id", "site")}
    assert seen[str(refunded)] | seen[str(customs)] == kept  # every table, each checked
    assert "customs_worklist.order_id" in seen[str(customs)]


def _myr(amount: str):
    from domain.money import Money

    return Money.of(amount, "MYR")


def _goods_values(env, parcel) -> dict[str, str]:
    found = {}
    for name in VIEWS:
        for table, rows in dump(view(env, name)).items():
            for row in rows:
                columns = dict(row)
                if columns.get("parcel_id") == str(parcel) and "goods_value" in columns:
                    found[table] = columns["goods_value"]
    return found


def test_rl2_corrected_lines_are_the_goods_value_every_view_shows(view_env, app):
    """Every view row that keeps the goods value (the headers, and the amount at stake of
    a liability not yet a loss) shows the corrected lines' value; other parcels keep theirs."""
    from domain.values import Line

    failed = tt_parcel(app, "lines", site="MY")  # routed to the seller's address
    app.record_return_failure(failed, "carrier", T0 + 8 * DAY)  # a liability at stake
    other = tt_parcel(app, "other", site="MY")
    app.record_return_failure(other, "carrier", T0 + 8 * DAY)
    catch_up(view_env, app)
    stake = {r["parcel_id"]: r for r in view(view_env, "liabilities").list()}
    assert stake[str(failed)]["amount"]["amount"] == "100.00"
    app.correct_parcel(failed, "lines", [Line("SKU-1", 1, _myr("100.00")),
                                         Line("SKU-2", 3, _myr("10.00"))],
                       "the ERP dropped a line", T0 + 9 * DAY)
    catch_up(view_env, app)
    shown = _goods_values(view_env, failed)
    assert set(shown) == CORRECTED_COLUMNS["goods_value"]  # every table keeping it, checked
    assert set(shown.values()) == {"130.00"}, shown
    assert set(_goods_values(view_env, other).values()) == {"100.00"}
    stake = {r["parcel_id"]: r for r in view(view_env, "liabilities").list()}
    assert (stake[str(failed)]["amount"], stake[str(failed)]["basis"]) == (
        {"amount": "130.00", "currency": "MYR"}, "goods_value")
    assert stake[str(other)]["amount"]["amount"] == "100.00"


def test_rl2_lines_corrected_in_the_same_batch_as_the_registration_are_shown(view_env, app):
    from domain.values import Line

    parcel = app.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="s1", order_id="O-LINES",
        order_created_at=T0, tracking_number="T-LINES",
        lines=[Line("SKU-1", 1, _myr("10.00"))], amount_paid=_myr("10.00"),
        occurred_at=T0 + DAY).id
    app.correct_parcel(parcel, "lines", [Line("SKU-1", 2, _myr("10.00"))], "two mugs",
                       T0 + DAY)
    catch_up(view_env, app)
    shown = _goods_values(view_env, parcel)
    assert set(shown) == CORRECTED_COLUMNS["goods_value"]
    assert set(shown.values()) == {"20.00"}, shown


def test_lz2_corrected_lines_recompute_the_customs_work_list(view_env, app):
    """A listed return's corrected lines: SKUs it no longer has leave the list, new ones
    lacking customs data join it, SKUs with a profile do not; setting the profile clears."""
    from domain.money import Money
    from domain.values import Line
    from tests.integration.projection_support import ADDRESS

    def profile(sku: str) -> None:
        app.set_customs_profile(
            seller_id="seller-lz", sku=sku, hs_code="420292", declared_name_local="手机壳",
            declared_name_en="Phone case", declared_value=Money.of("3.50", "USD"),
            material="silicone", use="protects a phone", brand="NoBrand",
            occurred_at=T0 - DAY)

    app.register_return_address(seller_id="seller-lz", platform="lazada", country="MY",
                                address=ADDRESS, effective_from=T0 - 30 * DAY,
                                occurred_at=T0 - 30 * DAY)
    profile("SKU-KNOWN")
    parcel = app.register_parcel(
        platform="lazada", site="MY", seller_id="seller-lz", order_id="LZ-LINES",
        order_created_at=T0, tracking_number="LZ-LINES",
        lines=[Line("SKU-WRONG", 1, _myr("50.00"))], amount_paid=_myr("50.00"),
        occurred_at=T0 + DAY).id
    app.record_failed_delivery(parcel, "refused", T0 + 4 * DAY)
    app.route_return(parcel, T0 + 5 * DAY)
    catch_up(view_env, app)

    def listed() -> list[tuple[str, str]]:
        return [(r["sku"], r["routed_at"]) for r in view(view_env, "deadlines").customs_worklist()
                if r["parcel_id"] == str(parcel)]

    assert [sku for sku, _ in listed()] == ["SKU-WRONG"]
    app.correct_parcel(parcel, "lines", [Line("SKU-KNOWN", 1, _myr("20.00")),
                                         Line("SKU-NEW", 1, _myr("30.00"))],
                       "the ERP sent another order's lines", T0 + 6 * DAY)
    catch_up(view_env, app)
    assert listed() == [("SKU-NEW", (T0 + 6 * DAY).isoformat())]
    profile("SKU-NEW")
    catch_up(view_env, app)
    assert listed() == []


def test_rl2_rl3_cd2_lines_corrected_and_refused_from_the_cli(view_env, app, monkeypatch):
    """The CLI corrects as the API does; each refusal is one line naming field and rule."""
    import json

    from click.testing import CliRunner

    from domain.money import Money
    from domain.values import Line
    from interfaces.cli import main

    for key, value in view_env.items():
        monkeypatch.setenv(key, value)
    parcel = app.register_parcel(
        platform="cdiscount", site="FR", seller_id="s1", order_id="CD-CLI",
        order_created_at=T0, tracking_number=None,
        lines=[Line("SKU-1", 1, Money.of("15.00", "EUR"))], amount_paid=Money.of("15.00", "EUR"),
        occurred_at=T0 + DAY).id

    def lines(price: str, sku: str = "SKU-1") -> str:
        return json.dumps([{"sku": sku, "quantity": 1,
                            "unit_price": {"amount": price, "currency": "EUR"}}])

    def correct(value: str):
        return CliRunner().invoke(main, ["parcels", "correct", str(parcel), "lines", value,
                                         "--reason", "wrong lines", "--at",
                                         (T0 + 2 * DAY).isoformat()])

    dear = correct(lines("15.01"))
    assert dear.exit_code == 1 and "lines:" in dear.output and "(CD-2)" in dear.output
    low = correct(lines("14.00"))
    assert low.exit_code == 1 and "lines:" in low.output and "(RL-3)" in low.output
    bad = correct("[{\"sku\": \"SKU-1\"}]")
    assert bad.exit_code == 2 and "VALUE" in bad.output
    fixed = correct(lines("15.00", sku="SKU-RIGHT"))
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.output)["extra"]["corrects_version"] == 1
    app.close()  # read back what the CLI's own ledger saved
    from application.ledger import ReturnsLedger

    reread = ReturnsLedger(view_env)
    try:
        assert [line["sku"] for line in reread.get_parcel(parcel).lines] == ["SKU-RIGHT"]
    finally:
        reread.close()
    voided = CliRunner().invoke(main, ["parcels", "void", str(parcel), "--reason", "test",
                                       "--at", (T0 + 3 * DAY).isoformat()])
    assert voided.exit_code == 0 and json.loads(voided.output)["status"] == "voided"

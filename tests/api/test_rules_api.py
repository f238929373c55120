"""The rules over HTTP: CD-2 untracked parcels, LZ-1 reuse, the LZ-2 work list, and the
`rules` every decision cites in answers and histories."""

from __future__ import annotations

from typing import Any

from application.ledger import ReturnsLedger
from projections.runners import close_runner, projection_env, start_runner
from tests.api.conftest import ADDRESS, T0, bearer, day, money, parcel_body, post, register


def _catch_up(env: dict[str, str], ledger: ReturnsLedger) -> None:
    runner = start_runner("deadlines", projection_env(env))
    try:
        runner.wait(ledger.recorder.max_notification_id(), timeout=30)
    finally:
        assert close_runner(runner) is None


def _cdiscount(tracking: Any = "omit", price: str = "15.00", **extra: Any) -> dict[str, Any]:
    extra.setdefault("order_id", "CD-ORDER-1")
    body = parcel_body(platform="cdiscount", site="FR",
                       lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": money(price, "EUR")}],
                       amount_paid=money(price, "EUR"), **extra)
    if tracking == "omit":
        body.pop("tracking_number")
    else:
        body["tracking_number"] = tracking
    return body


# -- CD-2 ------------------------------------------------------------------------------
def test_cd2_untracked_cdiscount_parcel_by_ordinary_mail_registers_over_http(client, keys):
    omitted = client.post("/v1/parcels", json=_cdiscount(), headers=bearer(keys.client))
    assert omitted.status_code == 201, omitted.get_json()
    state = client.get(omitted.headers["Location"], headers=bearer(keys.client)).get_json()
    assert state["tracking_number"] is None
    null = client.post("/v1/parcels", json=_cdiscount(None, order_id="CD-ORDER-2"),
                       headers=bearer(keys.client))
    assert null.status_code == 201, null.get_json()


def test_cd2_tracking_still_required_above_15_eur_or_when_tracked(client, keys):
    dear = client.post("/v1/parcels", json=_cdiscount(None, price="15.01"),
                       headers=bearer(keys.client))
    assert dear.status_code == 409 and "CD-2" in dear.get_json()["detail"]
    tracked = client.post("/v1/parcels", json=_cdiscount(tracked_shipping=True),
                          headers=bearer(keys.client))
    assert tracked.status_code == 409 and "CD-2" in tracked.get_json()["detail"]
    blank = client.post("/v1/parcels", json=_cdiscount(""), headers=bearer(keys.client))
    assert blank.status_code == 422 and "tracking_number" in blank.get_json()["errors"]


def test_cd2_other_platforms_still_need_a_tracking_number(client, keys):
    body = parcel_body()
    body.pop("tracking_number")
    answer = client.post("/v1/parcels", json=body, headers=bearer(keys.client))
    assert answer.status_code == 422 and "tracking_number" in answer.get_json()["detail"]


# -- LZ-1 reuse -------------------------------------------------------------------------
def _cn_address(client, token, seller="s1"):
    body = {**ADDRESS, "seller_id": seller, "platform": "lazada", "country": "CN"}
    answer = post(client, token, "/v1/return-addresses", body)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def test_lz1_verified_identity_is_reused_for_another_address_over_http(client, keys):
    verified, second = _cn_address(client, keys.client), _cn_address(client, keys.client)
    post(client, keys.client, f"/v1/return-addresses/{verified}/real-name-verifications",
         {"name": "Li Lei", "id_number": "110101199003074512",
          "document_front": "front-ref", "document_back": "back-ref"})
    reused = post(client, keys.client, f"/v1/return-addresses/{second}/real-name-reuses",
                  {"verified_address_id": verified})
    assert reused.status_code == 201, reused.get_json()
    assert reused.get_json()["real_name_status"] == "verified"
    assert "110101199003074512" not in reused.get_data(True)


def test_lz1_unverified_or_another_sellers_identity_is_not_reused(client, keys):
    unverified, second = _cn_address(client, keys.client), _cn_address(client, keys.client)
    refused = post(client, keys.client, f"/v1/return-addresses/{second}/real-name-reuses",
                   {"verified_address_id": unverified})
    assert refused.status_code == 409 and "LZ-1" in refused.get_json()["detail"]
    foreign = _cn_address(client, keys.other_seller, "s2")
    hidden = post(client, keys.client, f"/v1/return-addresses/{second}/real-name-reuses",
                  {"verified_address_id": foreign})
    assert hidden.status_code == 404


# -- LZ-2 work list ---------------------------------------------------------------------
def test_lz2_work_list_lists_returns_needing_customs_data_until_the_profile_is_set(
        app, client, keys, sqlite_env):
    body = {**ADDRESS, "seller_id": "s1", "platform": "lazada", "country": "MY"}
    post(client, keys.client, "/v1/return-addresses", body)
    parcel = register(client, keys.client, tracking="LZ-CUSTOMS", platform="lazada")
    post(client, keys.client, f"/v1/parcels/{parcel}/delivery-failures",
         {"reason": "refused", "occurred_at": day(3)})
    routed = post(client, keys.client, f"/v1/parcels/{parcel}/routes", {"occurred_at": day(4)})
    assert routed.status_code == 201, routed.get_json()
    ledger = app.extensions["returns_ledger"].get()
    _catch_up(sqlite_env, ledger)
    listed = client.get("/v1/customs-work-list", headers=bearer(keys.client)).get_json()
    assert [(i["parcel_id"], i["sku"], i["rule"]) for i in listed["items"]] == [
        (parcel, "SKU-MUG", "LZ-2")]
    assert client.get("/v1/customs-work-list",
                      headers=bearer(keys.other_seller)).get_json()["items"] == []
    profile = {"seller_id": "s1", "sku": "SKU-MUG", "hs_code": "691200",
               "declared_name_local": "马克杯", "declared_name_en": "Mug",
               "declared_value": money("3.50", "USD"), "material": "ceramic",
               "use": "drinking", "brand": "NoBrand"}
    assert client.put("/v1/sku-customs-profiles", json=profile,
                      headers=bearer(keys.client)).status_code == 200
    _catch_up(sqlite_env, ledger)
    assert client.get("/v1/customs-work-list",
                      headers=bearer(keys.client)).get_json()["items"] == []


# -- rules in answers and histories ----------------------------------------------------
def test_tt1_tt3_route_answer_and_history_cite_every_rule(client, keys):
    post(client, keys.client, "/v1/return-addresses", ADDRESS)
    parcel = register(client, keys.client, order_created_at=T0)
    post(client, keys.client, f"/v1/parcels/{parcel}/delivery-failures",
         {"reason": "refused", "occurred_at": day(3)})
    routed = post(client, keys.client, f"/v1/parcels/{parcel}/routes", {"occurred_at": day(4)})
    decision = routed.get_json()["decision"]
    assert (decision["rule"], decision["rules"]) == ("TT-3", ["TT-1", "TT-3"])
    history = client.get(f"/v1/parcels/{parcel}/history", headers=bearer(keys.auditor))
    event = history.get_json()["events"][-1]
    assert (event["type"], event["data"]["rules"]) == ("ReturnRouted", ["TT-1", "TT-3"])


# -- RL-3 over HTTP ------------------------------------------------------------------------
def test_rl3_implausible_registrations_are_422_naming_the_field_and_the_rule(client, keys):
    for extra, field in (({"site": "ZZ"}, "site"),
                         ({"amount_paid": money("500.00")}, "amount_paid"),
                         ({"occurred_at": "2026-03-01T09:00:00+00:00"}, "occurred_at"),
                         ({"order_created_at": "2099-01-01T00:00:00+00:00",
                           "occurred_at": "2099-01-02T00:00:00+00:00"}, "occurred_at")):
        answer = client.post("/v1/parcels", json=parcel_body(**extra),
                             headers=bearer(keys.client))
        assert answer.status_code == 422, (extra, answer.get_json())
        problem = answer.get_json()
        assert problem["rule"] == "RL-3" and field in problem["errors"], problem
    lazada = client.post("/v1/parcels", json=parcel_body(platform="lazada", site="FR"),
                         headers=bearer(keys.client))
    assert lazada.status_code == 422 and lazada.get_json()["rule"] == "RL-3"
    parcel = register(client, keys.client, tracking="RL3-OK")
    early = post(client, keys.client, f"/v1/parcels/{parcel}/deliveries",
                 {"occurred_at": "2026-03-01T00:00:00+00:00"})
    assert early.status_code == 422 and early.get_json()["rule"] == "RL-3"


# -- RL-2 over HTTP ------------------------------------------------------------------------
def test_rl2_void_and_correction_over_http(client, keys):
    parcel = register(client, keys.client, tracking="RL2-VOID")
    voided = post(client, keys.client, f"/v1/parcels/{parcel}/voids",
                  {"reason": "test parcel", "occurred_at": day(2)})
    assert voided.status_code == 201 and voided.get_json()["status"] == "voided"
    again = post(client, keys.client, f"/v1/parcels/{parcel}/voids",
                 {"reason": "again", "occurred_at": day(2)})
    assert again.status_code == 409
    wrong = register(client, keys.client, tracking="RL2-FIX")
    fixed = post(client, keys.client, f"/v1/parcels/{wrong}/corrections",
                 {"field": "amount_paid", "value": money("30.00"), "reason": "voucher",
                  "occurred_at": day(2)})
    assert fixed.status_code == 201, fixed.get_json()
    assert fixed.get_json()["corrects_version"] == 1
    bad = post(client, keys.client, f"/v1/parcels/{wrong}/corrections",
               {"field": "site", "value": "FR", "reason": "no", "occurred_at": day(2)})
    assert bad.status_code == 422 and bad.get_json()["rule"] == "RL-3"
    history = client.get(f"/v1/parcels/{wrong}/history", headers=bearer(keys.auditor))
    last = history.get_json()["events"][-1]
    assert (last["type"], last["data"]["corrects_version"], last["data"]["previous"]) == (
        "FieldCorrected", 1, money("39.80"))


def test_rl2_refunded_parcel_is_not_voided_over_http(client, keys):
    parcel = register(client, keys.client, tracking="RL2-REFUND")
    post(client, keys.client, f"/v1/parcels/{parcel}/refunds", {
        "reference": "R-1", "occurred_at": day(3),
        "components": [{"kind": "item", "amount": money("5.00")}]})
    refused = post(client, keys.client, f"/v1/parcels/{parcel}/voids",
                   {"reason": "mistake", "occurred_at": day(4)})
    assert refused.status_code == 409 and refused.get_json()["rule"] == "RL-2"


def test_lz3_cd3_deadlines_report_lists_order_stages_and_delays(app, client, keys, sqlite_env):
    post(client, keys.client, "/v1/orders", {"platform": "lazada", "site": "MY",
                                             "seller_id": "s1", "order_id": "LZ-R",
                                             "created_at": T0})
    _catch_up(sqlite_env, app.extensions["returns_ledger"].get())
    report = client.get("/v1/reports/deadlines", query_string={
        "list": "order_deadlines", "now": "2026-03-04T10:00:00+00:00"},
        headers=bearer(keys.client)).get_json()
    assert [(r["order_id"], r["rule"], r["delayed"]) for r in report["order_deadlines"]] == [
        ("LZ-R", "LZ-3", True)]
    early = client.get("/v1/reports/deadlines", query_string={
        "list": "order_deadlines", "now": "2026-03-03T10:00:00+00:00"},
        headers=bearer(keys.client)).get_json()
    assert [r["delayed"] for r in early["order_deadlines"]] == [False]


# -- RL-2 corrected lines over HTTP (RL-3, CD-2 re-checked) ---------------------------------
def _lines(*lines: tuple[str, int, str], currency: str = "MYR") -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity, "unit_price": money(price, currency)}
            for sku, quantity, price in lines]


def _correct_lines(client, keys, parcel: str, lines: Any) -> Any:
    return post(client, keys.client, f"/v1/parcels/{parcel}/corrections",
                {"field": "lines", "value": lines, "reason": "the ERP sent the wrong lines",
                 "occurred_at": day(2)})


def test_rl2_lines_are_corrected_over_http(client, keys):
    parcel = register(client, keys.client, tracking="RL2-LINES")  # 2 x 19.90, paid 39.80
    fixed = _correct_lines(client, keys, parcel, _lines(("SKU-MUG", 2, "19.90"),
                                                        ("SKU-LID", 1, "5.00")))
    assert fixed.status_code == 201, fixed.get_json()
    assert fixed.get_json()["corrects_version"] == 1
    state = client.get(f"/v1/parcels/{parcel}", headers=bearer(keys.client)).get_json()
    assert [line["sku"] for line in state["lines"]] == ["SKU-MUG", "SKU-LID"]
    history = client.get(f"/v1/parcels/{parcel}/history", headers=bearer(keys.auditor))
    last = history.get_json()["events"][-1]
    assert (last["type"], last["data"]["field"], last["data"]["corrects_version"]) == (
        "FieldCorrected", "lines", 1)
    assert last["data"]["previous"] == _lines(("SKU-MUG", 2, "19.90"))


def test_rl3_corrected_lines_below_amount_paid_are_a_422_over_http(client, keys):
    parcel = register(client, keys.client, tracking="RL3-LINES")
    refused = _correct_lines(client, keys, parcel, _lines(("SKU-MUG", 1, "19.90")))
    body = refused.get_json()
    assert refused.status_code == 422, body
    assert (body["rule"], list(body["errors"])) == ("RL-3", ["lines"])
    malformed = _correct_lines(client, keys, parcel, [{"sku": "SKU-MUG", "quantity": 0,
                                                       "unit_price": money("19.90")}])
    assert malformed.status_code == 422
    empty = _correct_lines(client, keys, parcel, [])
    assert empty.status_code == 422 and "value" in empty.get_json()["errors"]


def test_cd2_corrected_lines_over_15_eur_of_an_untracked_parcel_are_a_422_over_http(
        client, keys):
    created = client.post("/v1/parcels", json=_cdiscount(order_id="CD-LINES"),
                          headers=bearer(keys.client))
    assert created.status_code == 201, created.get_json()
    parcel = created.get_json()["id"]
    refused = _correct_lines(client, keys, parcel, _lines(("SKU-1", 1, "15.01"),
                                                          currency="EUR"))
    body = refused.get_json()
    assert refused.status_code == 422, body
    assert (body["rule"], list(body["errors"]), body["facts"]["product_value"]) == (
        "CD-2", ["lines"], "15.01 EUR")
    allowed = _correct_lines(client, keys, parcel, _lines(("SKU-2", 1, "15.00"),
                                                          currency="EUR"))
    assert allowed.status_code == 201, allowed.get_json()


def test_rl2_lines_of_a_refunded_parcel_are_a_422_over_http(client, keys):
    parcel = register(client, keys.client, tracking="RL2-LINES-REFUND")
    post(client, keys.client, f"/v1/parcels/{parcel}/refunds", {
        "reference": "R-1", "occurred_at": day(2),
        "components": [{"kind": "item", "amount": money("5.00")}]})
    refused = _correct_lines(client, keys, parcel, _lines(("SKU-MUG", 3, "19.90")))
    body = refused.get_json()
    assert refused.status_code == 422, body
    assert (body["rule"], list(body["errors"])) == ("RL-2", ["lines"])


def test_lz2_corrected_lines_relist_the_work_list_over_http(app, client, keys, sqlite_env):
    body = {**ADDRESS, "seller_id": "s1", "platform": "lazada", "country": "MY"}
    post(client, keys.client, "/v1/return-addresses", body)
    parcel = register(client, keys.client, tracking="LZ-LINES", platform="lazada")
    post(client, keys.client, f"/v1/parcels/{parcel}/delivery-failures",
         {"reason": "refused", "occurred_at": day(3)})
    post(client, keys.client, f"/v1/parcels/{parcel}/routes", {"occurred_at": day(4)})
    fixed = post(client, keys.client, f"/v1/parcels/{parcel}/corrections",
                 {"field": "lines", "value": _lines(("SKU-CUP", 2, "19.90")),
                  "reason": "the ERP sent another SKU", "occurred_at": day(5)})
    assert fixed.status_code == 201, fixed.get_json()
    assert fixed.get_json()["corrects_version"] == 1
    _catch_up(sqlite_env, app.extensions["returns_ledger"].get())
    listed = client.get("/v1/customs-work-list", headers=bearer(keys.client)).get_json()
    assert [(i["parcel_id"], i["sku"], i["rule"]) for i in listed["items"]] == [
        (parcel, "SKU-CUP", "LZ-2")]  # SKU-MUG is no longer in the parcel

"""No CSV the service writes carries a cell a spreadsheet would evaluate (CSV injection).

Seller-controlled values: an order id `=1+2`, a store id `@SUM(1,1)`, a refund reference
`=cmd|' /C calc'!A0`, a settlement line whose reference is `+1+1` and order id `-2+3`.
Every CSV endpoint and CLI export is read back with the csv module: a hostile value comes
back prefixed with a single quote, and negative amounts stay plain numbers.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from application.csv_export import safe_cell
from interfaces.cli import main
from tests.api.conftest import NOW, Keys, bearer, day, money, post, register
from tests.conftest import TEST_PERSONAL_DATA_KEY
from tests.integration.projection_support import DAY, T0, catch_up, tt_parcel
from tests.web.conftest import signed_in

HOSTILE_ORDER = "=1+2"
HOSTILE_STORE = "@SUM(1,1)"
HOSTILE_REFERENCE = "=cmd|' /C calc'!A0"
SETTLEMENT = ("reference,currency,amount,order_id,kind\r\n"
              f"\"{HOSTILE_REFERENCE}\",MYR,25.10,x,item\r\n"
              "+1+1,MYR,3.00,-2+3,item\r\n")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def test_the_rule_for_one_cell() -> None:
    assert safe_cell("=1+2") == "'=1+2"
    assert safe_cell("@SUM(1,1)") == "'@SUM(1,1)"
    assert safe_cell("+1+1") == "'+1+1"
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("\t=1") == "'\t=1"
    assert safe_cell("\r=1") == "'\r=1"
    assert safe_cell("-4.90") == "-4.90" and safe_cell("12.30") == "12.30"
    assert safe_cell("-7") == "-7" and safe_cell(None) == "" and safe_cell(True) == "true"
    assert safe_cell("a=b") == "a=b"


def assert_safe(text: str) -> list[dict[str, str]]:
    """Every cell either a plain value or quoted text; the rows as dicts."""
    assert "\r\n" in text  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        for column, cell in row.items():
            if cell and cell.startswith(TRIGGERS):
                assert safe_cell(cell) == cell, (column, cell)  # a plain decimal only
    return rows


@pytest.fixture
def hostile(app: Flask, keys: Keys, sqlite_env: dict[str, str]) -> FlaskClient:
    client = app.test_client()
    parcel = register(client, keys.client, tracking="TT-EVIL", order_id=HOSTILE_ORDER,
                      store_id=HOSTILE_STORE)
    answer = post(client, keys.client, f"/v1/parcels/{parcel}/refunds", {
        "reference": HOSTILE_REFERENCE, "occurred_at": day(3),
        "components": [{"kind": "item", "amount": money("25.00")}]})
    assert answer.status_code == 201, answer.get_json()
    catch_up(sqlite_env, app.extensions["returns_ledger"].get(), ("refunds", "tracking"))
    return client


def test_refunds_csv_neutralises_seller_values(hostile: FlaskClient, keys: Keys) -> None:
    text = hostile.get("/v1/refunds?format=csv", headers=bearer(keys.finance)).data.decode()
    [row] = assert_safe(text)
    assert row["order_id"] == "'" + HOSTILE_ORDER
    assert row["reference"] == "'" + HOSTILE_REFERENCE
    assert row["amount"] == "25.00"


def test_parcel_report_csv_neutralises_seller_values(hostile: FlaskClient, keys: Keys) -> None:
    answer = hostile.get("/v1/reports/parcels?registered_from=2026-03-01T00:00:00Z"
                         "&registered_to=2026-03-20T00:00:00Z&format=csv&min_position=1",
                         headers=bearer(keys.client))
    assert answer.status_code == 200, answer.data
    rows = assert_safe(answer.data.decode())
    assert [(r["order_id"], r["store_id"]) for r in rows] == [
        ("'" + HOSTILE_ORDER, "'" + HOSTILE_STORE)]


def test_reconciliation_csv_neutralises_file_and_ledger_values(hostile: FlaskClient,
                                                               keys: Keys) -> None:
    started = hostile.post("/v1/reconciliations", data=SETTLEMENT,
                           headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert started.status_code in (201, 202), started.get_json()
    location = started.headers["Location"]
    for _ in range(100):
        answer = hostile.get(location, headers=bearer(keys.finance))
        if answer.get_json().get("status", "done") == "done":
            break
        time.sleep(0.05)
    text = hostile.get(location + "?format=csv", headers=bearer(keys.finance)).data.decode()
    rows = assert_safe(text)
    by_reference = {r["reference"]: r for r in rows}
    evil = by_reference["'" + HOSTILE_REFERENCE]
    assert evil["outcome"] == "amount_mismatch" and evil["difference"] == "0.10"
    assert evil["order_id"] == "'" + HOSTILE_ORDER
    plus = by_reference["'+1+1"]
    assert plus["order_id"] == "'-2+3" and plus["settled_amount"] == "3.00"


def test_web_csvs_neutralise_seller_values(hostile: FlaskClient, keys: Keys,
                                           app: Flask) -> None:
    web = signed_in(app, keys.finance)
    rows = assert_safe(web.get("/web/finance/refunds.csv").data.decode())
    assert rows[0]["order_id"] == "'" + HOSTILE_ORDER


@pytest.fixture
def cli_env(sqlite_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in {**sqlite_env, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}.items():
        monkeypatch.setenv(name, value)
    return sqlite_env


def test_cli_exports_neutralise_seller_values(hostile: FlaskClient, cli_env: dict[str, str],
                                              tmp_path: Path) -> None:
    runner = CliRunner()
    refunds = runner.invoke(main, ["finance", "refunds", "--csv"])
    assert refunds.exit_code == 0, refunds.output
    [row] = assert_safe(refunds.output.replace("\n", "\r\n").replace("\r\r\n", "\r\n"))
    assert row["reference"] == "'" + HOSTILE_REFERENCE
    settlement = tmp_path / "settlement.csv"
    settlement.write_text(SETTLEMENT, newline="")
    report = tmp_path / "report.csv"
    done = runner.invoke(main, ["finance", "reconcile", str(settlement), "--report",
                                str(report)])
    assert done.exit_code == 0, done.output
    rows = assert_safe(report.read_bytes().decode())
    assert {r["reference"] for r in rows} == {"'" + HOSTILE_REFERENCE, "'+1+1"}
    run_id = done.output.split("reconciliation ", 1)[1].split()[0]
    again = runner.invoke(main, ["finance", "report", run_id])
    assert again.exit_code == 0, again.output
    assert report.read_bytes().decode().replace("\r\n", "\n") in again.output.replace(
        "\r\n", "\n")


# A seller id and a key label are text someone typed too: a seller `+cmd|A0` reaches the
# totals (the only free text they carry) and a key's label the refunds' actor columns.
HOSTILE_SELLER = "+cmd|A0"
HOSTILE_LABEL = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def hostile_seller(app: Flask, keys: Keys, sqlite_env: dict[str, str]) -> FlaskClient:
    ledger = app.extensions["returns_ledger"].get()
    token = ledger.issue_api_key("client", HOSTILE_SELLER, NOW, label=HOSTILE_LABEL).token
    client = app.test_client()
    parcel = register(client, token, tracking="TT-EVIL-2", seller=HOSTILE_SELLER,
                      order_id="-1+1")
    answer = post(client, token, f"/v1/parcels/{parcel}/refunds", {
        "reference": "@R-2", "occurred_at": day(3),
        "components": [{"kind": "item", "amount": money("10.00")}]})
    assert answer.status_code == 201, answer.get_json()
    catch_up(sqlite_env, ledger, ("refunds", "tracking"))
    return client


def test_refunds_csv_neutralises_a_seller_id_and_a_key_label(hostile_seller: FlaskClient,
                                                             keys: Keys) -> None:
    text = hostile_seller.get("/v1/refunds?format=csv", headers=bearer(keys.admin))
    [row] = assert_safe(text.data.decode())
    assert (row["seller_id"], row["order_id"], row["reference"]) == (
        "'" + HOSTILE_SELLER, "'-1+1", "'@R-2")
    assert row["requested_by_owner"] == "unowned"
    assert row["requested_by_key_label"] == "'" + HOSTILE_LABEL


def test_totals_csv_neutralises_the_seller_id_over_http_web_and_cli(
        hostile_seller: FlaskClient, keys: Keys, app: Flask, cli_env: dict[str, str]) -> None:
    over_http = hostile_seller.get("/v1/refunds/totals?format=csv",
                                   headers=bearer(keys.auditor))
    on_the_web = signed_in(app, keys.auditor).get("/web/finance/refund-totals.csv")
    from_the_cli = CliRunner().invoke(main, ["finance", "refunds", "--totals", "--csv"])
    assert from_the_cli.exit_code == 0, from_the_cli.output
    for text in (over_http.data.decode(), on_the_web.data.decode(),
                 from_the_cli.output.replace("\n", "\r\n").replace("\r\r\n", "\r\n")):
        [row] = assert_safe(text)
        assert (row["seller_id"], row["amount"]) == ("'" + HOSTILE_SELLER, "10.00"), text


def test_web_reconciliation_csv_neutralises_file_and_ledger_values(hostile: FlaskClient,
                                                                   keys: Keys,
                                                                   app: Flask) -> None:
    started = hostile.post("/v1/reconciliations", data=SETTLEMENT,
                           headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert started.status_code == 202, started.get_json()
    location = started.headers["Location"]
    for _ in range(100):
        if hostile.get(location, headers=bearer(keys.finance)).get_json()["status"] != \
                "running":
            break
        time.sleep(0.05)
    run_id = location.rsplit("/", 1)[1]
    answer = signed_in(app, keys.finance).get(f"/web/finance/reconciliations/{run_id}.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = assert_safe(answer.data.decode())
    assert {r["reference"] for r in rows} == {"'" + HOSTILE_REFERENCE, "'+1+1"}
    assert {r["order_id"] for r in rows} == {"'" + HOSTILE_ORDER, "'-2+3"}


def test_every_view_report_csv_neutralises_the_seller_id(app: Flask, keys: Keys,
                                                          sqlite_env: dict[str, str]) -> None:
    """Free returns (TT-3), holds and expired holds (TT-2), liabilities and the LZ-4
    upload: each CSV carries the hostile seller id as text."""
    ledger = app.extensions["returns_ledger"].get()
    held = tt_parcel(ledger, "held", site="TH", eligible_address=False, seller=HOSTILE_SELLER)
    ledger.dispose(held, "destroyed", T0 + 20 * DAY)
    tt_parcel(ledger, "free", seller=HOSTILE_SELLER)
    tt_parcel(ledger, "hold", site="TH", eligible_address=False, seller=HOSTILE_SELLER)
    catch_up(sqlite_env, ledger)
    client, auditor = app.test_client(), bearer(keys.auditor)
    answers = {path: client.get(path, headers=auditor) for path in (
        "/v1/reports/free-returns?format=csv", "/v1/reports/deadlines?list=holds&format=csv",
        "/v1/reports/deadlines?list=expired_holds&now=2026-04-01T00:00:00Z&format=csv",
        "/v1/reports/deadlines?list=overdue_returns&now=2026-04-01T00:00:00Z&format=csv",
        "/v1/reports/liabilities?format=csv")}
    answers["upload"] = client.post(
        "/v1/reports/parcels/upload", data=b"tracking_number\r\nTN-free\r\n",
        headers=bearer(keys.admin, Accept="text/csv"), content_type="text/csv")
    for path, answer in answers.items():
        assert answer.status_code == 200 and answer.mimetype == "text/csv", (path, answer.data)
        rows = assert_safe(answer.data.decode())
        assert rows and {r["seller_id"] for r in rows} == {"'" + HOSTILE_SELLER}, (path, rows)

"""POST /v1/imports and GET /v1/imports/{id}: the canonical format end to end, on SQLite
and PostgreSQL; idempotency per line and per file; scopes; refusals as the API says them."""

from __future__ import annotations

import csv
import io
import time

from tests.api.conftest import bearer
from tests.imports.support import (
    TN,
    as_csv,
    as_jsonl,
    imported,
    lifecycle,
    registration,
    step,
    upload,
)


def _parcel(client, token: str, tn: str = TN) -> dict:
    answer = client.get(f"/v1/parcels?tracking_number={tn}", headers=bearer(token))
    [parcel] = answer.get_json()["items"]
    return parcel


def test_canonical_csv_import_applies_the_lifecycle_with_outcomes_per_line(client, keys):
    answer = upload(client, keys.client, as_csv(lifecycle()))
    assert answer.status_code == 202
    assert answer.headers["Location"].startswith("/v1/imports/")
    report = imported(client, keys.client, as_csv(lifecycle()))
    assert report["status"] == "done", report
    assert report["summary"]["applied"] == 6, report
    assert [line["outcome"] for line in report["lines"]] == ["applied"] * 6
    assert [line["version"] for line in report["lines"]] == [1, 2, 3, 4, 5, 6]
    parcel = _parcel(client, keys.client)
    assert parcel["status"] == "received" and parcel["attempts"] == 2
    history = client.get(f"/v1/parcels/{parcel['id']}/history", headers=bearer(keys.client))
    assert history.status_code == 200
    # The auditor's history shows where each event came from: the line and its raw hash.
    sources = [e["data"]["source"] for e in history.get_json()["events"]]
    assert [s["line"] for s in sources] == [2, 3, 4, 5, 6, 7]
    assert [s["sha256"] for s in sources] == [ln["raw_sha256"] for ln in report["lines"]]


def test_the_same_file_twice_is_one_import_and_changes_nothing(client, keys):
    first = imported(client, keys.client, as_csv(lifecycle()))
    again = upload(client, keys.client, as_csv(lifecycle()))
    assert again.status_code == 200
    assert again.get_json()["id"] == first["id"] and again.get_json()["already_accepted"]
    assert _parcel(client, keys.client)["version"] == 6


def test_overlapping_files_and_one_line_in_two_files_apply_once(client, keys):
    records = lifecycle()
    imported(client, keys.client, as_csv(records[:4]))
    second = imported(client, keys.client, as_jsonl(records[2:]), mimetype="application/x-ndjson")
    outcomes = {line["source_key"]: line["outcome"] for line in second["lines"]}
    assert outcomes[f"id:{records[2]['id']}"] == "already_applied"
    assert outcomes[f"id:{records[3]['id']}"] == "already_applied"
    assert second["summary"]["applied"] == 2
    assert _parcel(client, keys.client)["version"] == 6


def test_a_refused_line_carries_the_apis_problem_type_rule_and_detail(client, keys):
    bad = [registration(), step("delivery-failures", 3, reason="on holiday"),
           step("receipts", 4, location="seller"), step("disposals", 5, kind="destroy")]
    report = imported(client, keys.client, as_csv(
        bad, columns=("id", "command", "parcel_tracking_number", "parcel_platform",
                      "occurred_at", "platform", "site", "seller_id", "order_id",
                      "order_created_at", "tracking_number", "lines", "amount_paid", "reason",
                      "location", "kind")))
    by_command = {line["command"]: line for line in report["lines"]}
    failure = by_command["delivery-failures"]
    assert failure["outcome"] == "refused"
    assert failure["problem_type"] == "urn:returns-ledger:problem:validation-error"
    assert "reason" in failure["detail"]
    # The same command over the API: the same problem type.
    parcel = _parcel(client, keys.client)
    api = client.post(f"/v1/parcels/{parcel['id']}/receipts", json={"location": "seller"},
                      headers=bearer(keys.client))
    assert by_command["receipts"]["problem_type"] == api.get_json()["type"]
    # Not refused: the receipt waits for the route it follows (the parcel has not moved
    # past it).
    assert by_command["receipts"]["outcome"] == "waiting"


def test_a_seller_key_imports_only_into_its_own_parcels(client, keys):
    imported(client, keys.client, as_csv([registration()]))
    report = imported(client, keys.other_seller, as_csv([step("delivery-attempts", 2,
                                                               reason="x")]))
    [line] = report["lines"]
    assert line["outcome"] == "waiting"  # as for a parcel not registered yet
    assert line["problem_type"].endswith("parcel-not-found")
    other = imported(client, keys.other_seller, as_csv([registration(tn="TN-OTHER")]))
    assert other["lines"][0]["problem_type"].endswith("forbidden")
    listing = client.get("/v1/imports", headers=bearer(keys.other_seller)).get_json()
    assert {i["seller_scope"] for i in listing["imports"]} == {"s2"}
    assert client.get(f"/v1/imports/{report['id']}", headers=bearer(keys.client)
                      ).status_code == 404
    assert len(client.get("/v1/imports", headers=bearer(keys.admin)).get_json()["imports"]) == 3


def test_outcomes_as_csv_never_evaluate_a_formula_like_cell(client, keys):
    """A line's own values reach the start of a cell (an unknown command is echoed in the
    `command` column): the CSV writer neutralises them as every export's does."""
    hostile = [registration(), step("delivery-attempts", 2, line_id="=HYPERLINK(1)",
                                    reason="=1+2"),
               {**step("delivery-attempts", 3), "command": "=cmd|' /C calc'!A0"},
               {**step("delivery-attempts", 4), "command": "@SUM(1,1)"}]
    report = imported(client, keys.client, as_csv(hostile))
    answer = client.get(f"/v1/imports/{report['id']}?format=csv", headers=bearer(keys.client))
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[1]["source_key"] == "id:=HYPERLINK(1)"
    assert [r["command"] for r in rows[2:]] == ["'=cmd|' /C calc'!A0", "'@SUM(1,1)"]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r"))
                       for cell in row.values())


def test_an_unknown_format_and_a_json_body_are_refused_as_problems(client, keys):
    answer = client.post("/v1/imports?format=nope", data=b"x", content_type="text/csv",
                         headers=bearer(keys.client))
    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    answer = client.post("/v1/imports?format=canonical", data=b"x",
                         content_type="image/png", headers=bearer(keys.client))
    assert answer.status_code == 415
    assert client.post("/v1/imports?format=canonical", data=b"x", content_type="text/csv",
                       headers=bearer(keys.auditor)).status_code == 403


def test_multipart_upload_is_the_same_import_as_the_body(client, keys):
    data = as_csv(lifecycle())
    first = upload(client, keys.client, data).get_json()
    answer = client.post("/v1/imports?format=canonical", headers=bearer(keys.client),
                         data={"file": (io.BytesIO(data), "scans.csv")},
                         content_type="multipart/form-data")
    assert answer.status_code in (200, 202)
    assert answer.get_json()["id"] == first["id"]


def test_the_openapi_description_has_an_example_file_per_format(client, keys):
    from application.imports.formats.registry import names

    spec = client.get("/openapi.json").get_json()
    content = spec["paths"]["/v1/imports"]["post"]["requestBody"]["content"]
    assert "canonical" in content["text/csv"]["examples"]
    assert "canonical" in content["application/x-ndjson"]["examples"]
    shown = {name for media in content.values() for name in media.get("examples", {})}
    assert set(names()) <= shown
    # Each example is accepted as it is described, in its own media type (never a 415).
    for media, described in content.items():
        for name, example in described.get("examples", {}).items():
            answer = client.post(f"/v1/imports?format={name}", data=example["value"].encode(),
                                 content_type=media, headers=bearer(keys.client))
            assert answer.status_code in (200, 202), (name, media, answer.get_json())


def test_the_outcomes_are_read_a_page_at_a_time(client, keys):
    report = imported(client, keys.client, as_csv(lifecycle()))
    location = f"/v1/imports/{report['id']}"
    first = client.get(f"{location}?limit=4", headers=bearer(keys.client)).get_json()
    assert [ln["line_no"] for ln in first["lines"]] == [2, 3, 4, 5]
    assert first["next"] == "4.0"  # the 4th record, line 5
    rest = client.get(f"{location}?limit=4&after={first['next']}",
                      headers=bearer(keys.client)).get_json()
    assert [ln["line_no"] for ln in rest["lines"]] == [6, 7] and rest["next"] is None
    assert [ln["line_no"] for ln in client.get(f"{location}?after=5", headers=bearer(
        keys.client)).get_json()["lines"]] == [7]
    assert client.get(f"{location}?after=x", headers=bearer(keys.client)).status_code == 422


def test_lines_before_their_parcel_was_registered_wait_and_apply_once_it_is(client, keys):
    scans = lifecycle()[1:4]  # attempts and the failure, before the parcel is registered
    first = imported(client, keys.client, as_csv(scans))
    assert first["summary"]["waiting"] == 3 and first["status"] == "done"
    assert {ln["problem_type"] for ln in first["lines"]} == {
        "urn:returns-ledger:problem:parcel-not-found"}
    registered = imported(client, keys.client, as_csv([registration()]))
    assert registered["summary"]["applied"] == 1
    location = f"/v1/imports/{first['id']}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        again = client.get(location, headers=bearer(keys.client)).get_json()
        if again["summary"]["applied"] == 3:
            break
        time.sleep(0.05)
    assert again["summary"]["applied"] == 3 and again["summary"]["waiting"] == 0, again
    assert _parcel(client, keys.client)["version"] == 4
    # A retry finds nothing to do; another seller's key finds no such import.
    assert client.post(f"/v1/imports/{first['id']}/retries",
                       headers=bearer(keys.client)).status_code == 200
    assert client.post(f"/v1/imports/{first['id']}/retries",
                       headers=bearer(keys.other_seller)).status_code == 404

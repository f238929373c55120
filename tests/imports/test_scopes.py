"""A client key's import and another seller's parcels: a line naming one (by tracking
number, with or without its platform, by id, by platform order) is answered exactly as a
line naming a parcel that does not exist, so an import is no way to learn which tracking
numbers another seller has, nor on which platform; and nothing is recorded on it."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import bearer, parcel_body
from tests.imports.support import as_jsonl, imported

WHEN = "2026-03-05T09:00:00+00:00"


def _attempt(line_id: str, **target: str) -> dict[str, Any]:
    return {"id": line_id, "command": "delivery-attempts", "occurred_at": WHEN,
            "reason": "nobody home", **target}


def _answer(line: dict[str, Any]) -> tuple[Any, ...]:
    named = (line["detail"] or "").replace("TN-S2-1", "<tn>").replace("TN-NONE", "<tn>")
    return line["outcome"], line["problem_type"], line["parcel_id"], line["version"], named


def test_another_sellers_parcel_is_answered_as_one_that_does_not_exist(client, keys):
    made = client.post("/v1/parcels", json=parcel_body("TN-S2-1", seller="s2"),
                       headers=bearer(keys.other_seller))
    assert made.status_code == 201
    theirs = [_attempt("a", parcel_tracking_number="TN-S2-1"),
              _attempt("b", parcel_tracking_number="TN-S2-1", parcel_platform="tiktok_shop"),
              _attempt("c", parcel_order_id="O-TN-S2-1", parcel_platform="tiktok_shop")]
    nobodys = [_attempt("a", parcel_tracking_number="TN-NONE"),
               _attempt("b", parcel_tracking_number="TN-NONE", parcel_platform="tiktok_shop"),
               _attempt("c", parcel_order_id="O-TN-NONE", parcel_platform="tiktok_shop")]
    against = imported(client, keys.client, as_jsonl(theirs), mimetype="application/x-ndjson")
    control = imported(client, keys.client, as_jsonl(nobodys), mimetype="application/x-ndjson")
    assert [_answer(line) for line in against["lines"]] == [
        _answer(line) for line in control["lines"]], against["lines"]
    # Both wait, as for a parcel not registered yet: nothing says another seller has it.
    assert {line["outcome"] for line in against["lines"]} == {"waiting"}
    assert {line["parcel_id"] for line in against["lines"]} == {None}
    parcel = client.get(f"/v1/parcels/{made.get_json()['id']}",
                        headers=bearer(keys.other_seller)).get_json()
    assert parcel["attempts"] == 0 and parcel["version"] == 1


def test_a_tracking_number_another_seller_has_on_another_platform_finds_my_parcel(client,
                                                                                 keys):
    """A carrier does not know the marketplace, so a scan names its parcel by tracking
    number on any platform. Another seller registering my tracking number on a platform
    tried first must not take my scans (they wait, as for a parcel not found), and an admin's
    import must not apply one to whichever of the two comes first: it is ambiguous."""
    mine = client.post("/v1/parcels", json=parcel_body("TN-X", platform="lazada"),
                       headers=bearer(keys.client))
    squat = client.post("/v1/parcels", json=parcel_body("TN-X", seller="s2"),
                        headers=bearer(keys.other_seller))
    assert mine.status_code == squat.status_code == 201
    scan = [_attempt("x1", parcel_tracking_number="TN-X")]
    report = imported(client, keys.client, as_jsonl(scan), mimetype="application/x-ndjson")
    [line] = report["lines"]
    assert (line["outcome"], line["parcel_id"]) == ("applied", mine.get_json()["id"]), line
    by_admin = imported(client, keys.admin, as_jsonl(scan), mimetype="application/x-ndjson")
    [line] = by_admin["lines"]
    assert line["outcome"] == "refused" and "2 parcels" in line["detail"], line
    theirs = client.get(f"/v1/parcels/{squat.get_json()['id']}",
                        headers=bearer(keys.other_seller)).get_json()
    assert theirs["attempts"] == 0


def test_tt7_a_line_imported_by_its_seller_and_by_an_admin_applies_once(client, keys):
    """The seller's ERP uploads a file, an operator imports it again with an admin key (or
    `returns-ledger import` without --seller): a line's identity is its source record's,
    whoever imports it, so the attempt is counted once (TT-7 counts attempts)."""
    from tests.imports.support import TN, as_csv, registration, step

    imported(client, keys.client, as_csv([registration()]))
    scans = as_csv([step("delivery-attempts", 2, reason="nobody home", line_id="ln-2"),
                    step("delivery-attempts", 3, reason="shop closed", line_id="ln-3")])
    first = imported(client, keys.client, scans)
    assert [line["outcome"] for line in first["lines"]] == ["applied", "applied"]
    by_admin = imported(client, keys.admin, scans + b"\r\n")  # another file, the same lines
    assert [line["outcome"] for line in by_admin["lines"]] == ["already_applied"] * 2
    again = imported(client, keys.client, scans + b"\r\n\r\n")
    assert [line["outcome"] for line in again["lines"]] == ["already_applied"] * 2
    parcel = client.get(f"/v1/parcels?tracking_number={TN}", headers=bearer(keys.client))
    assert parcel.get_json()["items"][0]["attempts"] == 2


def test_an_admins_import_first_then_the_sellers_applies_once(client, keys):
    from tests.imports.support import TN, as_csv, registration, step

    imported(client, keys.admin, as_csv([registration()]))
    scans = as_csv([step("delivery-attempts", 2, reason="nobody home", line_id="ln-2")])
    assert imported(client, keys.admin, scans)["lines"][0]["outcome"] == "applied"
    by_seller = imported(client, keys.client, scans + b"\r\n")
    assert by_seller["lines"][0]["outcome"] == "already_applied"
    # ... and the registration itself, by the seller now: the same parcel, once
    again = imported(client, keys.client, as_csv([registration()]) + b"\r\n")
    assert again["lines"][0]["outcome"] == "already_applied", again["lines"]
    parcel = client.get(f"/v1/parcels?tracking_number={TN}", headers=bearer(keys.client))
    assert parcel.get_json()["items"][0]["attempts"] == 1

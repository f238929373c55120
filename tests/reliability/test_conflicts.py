"""Twenty clients refund the same parcel at once: never more than was paid (AM-3).

Different references, 5.00 each, on a parcel that cost 39.80: exactly seven fit. Each
client retries only a lost race (409 concurrent-update, or 412 with If-Match after reading
the parcel again) and a 503 (the reference makes that safe); a refund that no longer fits
is a 409 naming AM-3.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from decimal import Decimal

import pytest

from tests.reliability.live import SELLER, Live
from tests.reliability.load import lifecycle, money

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CLIENTS = 20
FITTING = 7  # 7 x 5.00 <= 39.80 < 8 x 5.00


def registered_parcel(live: Live) -> str:
    status, _, body = live.http().call("POST", "/v1/parcels",
                                       lifecycle(SELLER, f"CF{uuid.uuid4().hex[:10]}")[0][2])
    assert status == 201, body
    return body["id"]


def refund_race(live: Live, parcel: str, if_match: bool) -> list[tuple[int, dict, int]]:
    """(final status, final body, lost races) of each client."""
    start = threading.Barrier(CLIENTS)
    results: list[tuple[int, dict, int]] = [(0, {}, 0)] * CLIENTS

    def client(i: int) -> None:
        http = live.http()
        body = {"reference": f"RACE-{i}", "components": [{"kind": "item",
                                                          "amount": money("5.00")}]}
        lost = 0
        start.wait()
        for _ in range(200):
            headers = {}
            if if_match:
                _, got, _ = http.call("GET", f"/v1/parcels/{parcel}")
                headers["If-Match"] = got["etag"]
            status, _, answer = http.call("POST", f"/v1/parcels/{parcel}/refunds", body, headers)
            if not (status == 412 or answer.get("type", "").endswith(":concurrent-update")):
                break
            lost += 1
        results[i] = (status, answer, lost)
        http.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.mark.parametrize("if_match", [False, True], ids=["racing", "if-match"])
def test_am3_concurrent_refunds_never_exceed_what_was_paid(shared_live, if_match) -> None:
    parcel = registered_parcel(shared_live)
    results = refund_race(shared_live, parcel, if_match)
    outcomes = Counter((status, body.get("rule")) for status, body, _ in results)
    assert outcomes == {(201, None): FITTING, (409, "AM-3"): CLIENTS - FITTING}, outcomes
    for status, body, _ in results:
        if status == 409:
            assert body["type"].endswith(":rule-violation")
    state = shared_live.http().call("GET", f"/v1/parcels/{parcel}")[2]
    assert Decimal(state["refunded_total"]["amount"]) == FITTING * Decimal("5.00")
    history = shared_live.http(shared_live.admin).call(
        "GET", f"/v1/parcels/{parcel}/history")[2]["events"]
    issued = [e["data"]["reference"] for e in history if e["type"] == "RefundIssued"]
    winners = {f"RACE-{i}" for i, (status, _, _) in enumerate(results) if status == 201}
    assert sorted(issued) == sorted(winners)  # each winner once, no loser recorded

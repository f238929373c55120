"""Request streams of the HTTP bench: an ERP's day, per client.

Two parcel lifecycles in turn, every command with the client's API key and an
`Idempotency-Key`, reads of the parcel, its history and the views in between:

- a TikTok Shop parcel (MY) that fails delivery: register, two delivery attempts,
  failure, route back to the seller, receipt, inspection, closure (8 commands);
- a Cdiscount parcel (FR) the buyer sends back: register, delivery, return request,
  route, return label, receipt, inspection, refund, closure (9 commands);

and 4 reads per lifecycle: the parcel, its history, and two view reports (tracking
numbers, free returns, deadlines or liabilities). That is 17 commands to 8 reads
(68/32). The naive service gets the same sequence on its minimal aggregate: the first
command creates it, every other command touches it, every read gets it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from bench.web.loadgen import Request

Step = tuple[str, Callable[[Any], Request]]  # ("command" or "read", request of the parcel)
DAY0 = "2026-03-02T09:00:00+00:00"


def day(n: int) -> str:
    return f"2026-03-{2 + n:02d}T09:00:00+00:00"


def streams(lifecycles: list[Callable[[int], list[Step]]], reads: bool = True
            ) -> Iterator[Request]:
    """Lifecycles one after another (without their reads if `reads` is false); the first
    step's answer gives the parcel's id."""
    n = 0
    while True:
        current: Any = None
        for index, (kind, step) in enumerate(lifecycles[n % len(lifecycles)](n)):
            if kind == "read" and not reads:
                continue
            answer = yield step(current)
            if index == 0:
                status, body = answer if answer else (0, None)
                if status >= 300 or not isinstance(body, dict):
                    break  # could not create: start the next parcel
                current = body
        n += 1


def money(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def ledger_lifecycles(client: int, api_key: str, seller: str,
                      run_tag: str) -> list[Callable[[int], list[Step]]]:
    auth = {"Authorization": f"Bearer {api_key}"}

    def command(path: str, body: dict[str, Any]) -> Step:
        return ("command", lambda cur: (
            "POST", f"/v1/parcels/{cur['id']}/{path}" if path else "/v1/parcels", body,
            {**auth, "Idempotency-Key": str(uuid.uuid4())}))

    def read(path: Callable[[Any], str]) -> Step:
        return ("read", lambda cur: ("GET", path(cur), None, auth))

    parcel = read(lambda cur: f"/v1/parcels/{cur['id']}")
    history = read(lambda cur: f"/v1/parcels/{cur['id']}/history")

    def registration(n: int, platform: str, site: str, currency: str, **extra: Any
                     ) -> dict[str, Any]:
        return {"platform": platform, "site": site, "seller_id": seller,
                "order_id": f"ORDER-{run_tag}-{client}-{n}", "order_created_at": DAY0,
                "tracking_number": tracking(n),
                "lines": [{"sku": "SKU-MUG", "quantity": 2,
                           "unit_price": money("19.90", currency)}],
                "amount_paid": money("39.80", currency), "occurred_at": day(1), **extra}

    def tracking(n: int) -> str:
        return f"BN{run_tag}C{client:03d}N{n:07d}"

    def failed_delivery(n: int) -> list[Step]:
        return [command("", registration(n, "tiktok_shop", "MY", "MYR")),
                command("delivery-attempts", {"reason": "buyer not at home",
                                              "occurred_at": day(3)}),
                command("delivery-attempts", {"reason": "buyer not at home",
                                              "occurred_at": day(4)}),
                parcel,
                command("delivery-failures", {"reason": "unreachable", "occurred_at": day(5)}),
                command("routes", {"occurred_at": day(6)}),
                history,
                command("receipts", {"occurred_at": day(15), "location": "KL"}),
                read(lambda _: f"/v1/reports/parcels?tracking_numbers={tracking(n)}"),
                command("inspections", {"condition": "resellable", "occurred_at": day(15)}),
                command("closures", {"occurred_at": day(16)}),
                read(lambda _: f"/v1/reports/free-returns?seller_id={seller}&site=MY")]

    def buyer_return(n: int) -> list[Step]:
        return [command("", registration(n, "cdiscount", "FR", "EUR", tracked_shipping=True,
                                         tracking_url=f"https://t.example/{tracking(n)}",
                                         shipping_paid=money("4.90", "EUR"))),
                command("deliveries", {"occurred_at": day(3)}),
                parcel,
                command("return-requests", {"reason": "defective", "seller_fault": True,
                                            "occurred_at": day(6)}),
                command("routes", {"occurred_at": day(6)}),
                command("return-labels", {"carrier": "Colissimo",
                                          "tracking_number": f"R{tracking(n)}",
                                          "occurred_at": day(6)}),
                history,
                command("receipts", {"occurred_at": day(9)}),
                command("inspections", {"condition": "damaged", "occurred_at": day(9)}),
                read(lambda _: f"/v1/reports/deadlines?seller_id={seller}"
                               "&list=pending_refunds"),
                command("refunds", {"reference": f"REF-{tracking(n)}", "occurred_at": day(10),
                                    "components": [{"kind": "item",
                                                    "amount": money("39.80", "EUR")}]}),
                command("closures", {"occurred_at": day(11)}),
                read(lambda _: f"/v1/reports/liabilities?seller_id={seller}")]

    return [failed_delivery, buyer_return]


def ledger(client: int, api_key: str, seller: str, run_tag: str, reads: bool = True
           ) -> Iterator[Request]:
    return streams(ledger_lifecycles(client, api_key, seller, run_tag), reads)


def naive(client: int, run_tag: str = "", reads: bool = True) -> Iterator[Request]:
    """The ledger's sequence of commands and reads, on the naive service's aggregate."""
    shapes = [[kind for kind, _ in lifecycle(0)]
              for lifecycle in ledger_lifecycles(client, "-", "-", run_tag)]

    def lifecycle_of(shape: list[str]) -> Callable[[int], list[Step]]:
        def steps(n: int) -> list[Step]:
            name = f"thing-{run_tag}-{client}-{n}"
            out: list[Step] = [("command", lambda _: ("POST", "/things", {"name": name}, {}))]
            for kind in shape[1:]:
                out.append(("command", lambda cur: ("POST", f"/things/{cur['id']}/touches",
                                                    {"note": "touch"}, {}))
                           if kind == "command" else
                           ("read", lambda cur: ("GET", f"/things/{cur['id']}", None, {})))
            return out
        return steps

    return streams([lifecycle_of(shape) for shape in shapes], reads)


def bare_web(client: int) -> Iterator[Request]:
    """Every request the same JSON POST, of the size of a parcel registration."""
    body = {"platform": "tiktok_shop", "site": "MY", "seller_id": f"seller-{client}",
            "order_id": "ORDER-1", "tracking_number": "TTMY00000001",
            "lines": [{"sku": "SKU-MUG", "quantity": 2, "unit_price": "19.90"}]}
    while True:
        yield ("POST", "/echo", body, {})

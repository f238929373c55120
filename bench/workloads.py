"""Request streams of the HTTP bench: 70% commands, 30% queries, per client."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from bench.web.loadgen import Request

QUERY_SLOTS = frozenset({2, 5, 8})  # 3 of every 10 requests are queries


def mix(commands: Callable[[int], list[Callable[[Any], Request]]],
        queries: list[Callable[[Any], Request]],
        query_slots: frozenset[int] = QUERY_SLOTS) -> Iterator[Request]:
    """Commands of one parcel after another, a query on the newest parcel in 3 of 10 slots.

    Each command factory gets the id of its parcel (None for the first, which creates
    it); the answer of the creating command gives the id for the rest.
    """
    n, slot, query_index = 0, 0, 0
    current: Any = None
    while True:
        for step_index, step in enumerate(commands(n)):
            while slot % 10 in query_slots and current is not None:
                yield queries[query_index % len(queries)](current)
                query_index += 1
                slot += 1
            answer = yield step(current)
            slot += 1
            if step_index == 0:
                status, body = answer if answer else (0, None)
                if status >= 300 or not body:
                    break  # could not create: start the next parcel
                current = {**body, "_n": n}
        n += 1


def bare_web(client: int) -> Iterator[Request]:
    """Every request the same JSON POST, of the size of a parcel registration."""
    body = {"platform": "tiktok_shop", "site": "MY", "seller_id": f"seller-{client}",
            "order_id": "ORDER-1", "tracking_number": "TTMY00000001",
            "lines": [{"sku": "SKU-MUG", "quantity": 2, "unit_price": "19.90"}]}
    while True:
        yield ("POST", "/echo", body, {})


def naive(client: int, query_slots: frozenset[int] = QUERY_SLOTS) -> Iterator[Request]:
    """create, touch, touch the minimal aggregate; get it in 3 of 10 requests."""
    def commands(n: int) -> list[Callable[[Any], Request]]:
        name = f"thing-{client}-{n}"
        return [lambda _: ("POST", "/things", {"name": name}, {}),
                lambda cur: ("POST", f"/things/{cur['id']}/touches", {"note": "one"}, {}),
                lambda cur: ("POST", f"/things/{cur['id']}/touches", {"note": "two"}, {})]
    return mix(commands, [lambda cur: ("GET", f"/things/{cur['id']}", None, {})], query_slots)


def ledger(client: int, api_key: str, seller: str, run_tag: str,
           tracking_query: Callable[[str], str],
           query_slots: frozenset[int] = QUERY_SLOTS) -> Iterator[Request]:
    """register, fail delivery, route (with auth and idempotency keys); parcel, history
    and tracking-view queries in 3 of 10 requests."""
    auth = {"Authorization": f"Bearer {api_key}"}

    def tracking_of(n: int) -> str:
        return f"TTMY{run_tag}C{client:03d}N{n:07d}"

    def command(path: Callable[[Any], str], body: dict[str, Any]) -> Callable[[Any], Request]:
        return lambda cur: ("POST", path(cur), body,
                            {**auth, "Idempotency-Key": str(uuid.uuid4())})

    def commands(n: int) -> list[Callable[[Any], Request]]:
        tracking = tracking_of(n)
        register = {"platform": "tiktok_shop", "site": "MY", "seller_id": seller,
                    "order_id": f"ORDER-{client}-{n}",
                    "order_created_at": "2026-03-02T09:00:00+00:00",
                    "tracking_number": tracking,
                    "lines": [{"sku": "SKU-MUG", "quantity": 2,
                               "unit_price": {"amount": "19.90", "currency": "MYR"}}],
                    "amount_paid": {"amount": "39.80", "currency": "MYR"},
                    "occurred_at": "2026-03-03T09:00:00+00:00"}
        return [command(lambda _: "/v1/parcels", register),
                command(lambda cur: f"/v1/parcels/{cur['id']}/delivery-failures",
                        {"reason": "unreachable", "occurred_at": "2026-03-07T09:00:00+00:00"}),
                command(lambda cur: f"/v1/parcels/{cur['id']}/routes",
                        {"occurred_at": "2026-03-08T09:00:00+00:00"})]

    queries = [lambda cur: ("GET", f"/v1/parcels/{cur['id']}", None, auth),
               lambda cur: ("GET", f"/v1/parcels/{cur['id']}/history", None, auth),
               lambda cur: ("GET", tracking_query(tracking_of(cur["_n"])), None, auth)]
    return mix(commands, queries, query_slots)

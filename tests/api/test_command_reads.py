"""A parcel command over HTTP reads the parcel once and still keeps sellers apart."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Flask

from tests.api.conftest import Keys, bearer, day, post, register


def _count_parcel_reads(app: Flask, parcel: str) -> list[int]:
    """Wrap the recorder: count event reads of this parcel."""
    recorder = app.extensions["returns_ledger"].get().recorder
    original, reads = recorder.select_events, [0]

    def counting(originator_id: Any, *args: Any, **kwargs: Any) -> Any:
        if UUID(str(originator_id)) == UUID(parcel):
            reads[0] += 1
        return original(originator_id, *args, **kwargs)

    recorder.select_events = counting
    return reads


def test_a_command_reads_its_parcel_once_at_most(app: Flask, keys: Keys, client) -> None:
    """A parcel this process holds is not read again; one it does not hold, once."""
    parcel = register(client, keys.client)
    reads = _count_parcel_reads(app, parcel)
    attempt = {"reason": "buyer not at home", "occurred_at": day(3)}
    path = f"/v1/parcels/{parcel}/delivery-attempts"
    response = post(client, keys.client, path, attempt, **{"If-Match": '"1"'})
    assert response.status_code == 201 and response.get_json()["version"] == 2
    assert reads[0] == 0
    app.extensions["returns_ledger"].get().repository.cache.get(UUID(parcel), evict=True)
    response = post(client, keys.client, path, {**attempt, "occurred_at": day(4)})
    assert response.status_code == 201 and response.get_json()["version"] == 3
    assert reads[0] == 1


def test_a_parcel_changed_by_another_worker_is_decided_on_its_stored_state(
        store_app: Flask) -> None:
    """Two workers on one store: each holds the parcel in its cache, the other changes it.

    The stale copy must cost a retry, never a wrong answer: no 409 for a version the
    caller saw, no refusal of a step the stored state allows, the right If-Match."""
    from tests.api.conftest import issue_keys, make_app

    keys = issue_keys(store_app)
    other = make_app({k: v for k, v in store_app.extensions["returns_ledger"].settings.env.items()})
    try:
        one, two = store_app.test_client(), other.test_client()
        parcel = register(one, keys.client, tracking="TTMY-STALE")
        two_view = two.get(f"/v1/parcels/{parcel}", headers=bearer(keys.client)).get_json()
        assert two_view["version"] == 1  # worker two now holds version 1
        failed = post(one, keys.client, f"/v1/parcels/{parcel}/delivery-failures",
                      {"reason": "refused", "occurred_at": day(4)})
        assert failed.status_code == 201 and failed.get_json()["version"] == 2
        # Worker two's copy says "registered": routing needs the failure it has not seen.
        routed = post(two, keys.client, f"/v1/parcels/{parcel}/routes",
                      {"occurred_at": day(5)}, **{"If-Match": '"2"'})
        assert routed.status_code == 201, routed.get_json()
        routed_version = routed.get_json()["version"]
        assert routed_version > 2
        stale = post(one, keys.client, f"/v1/parcels/{parcel}/routes",
                     {"occurred_at": day(5)}, **{"If-Match": '"2"'})
        assert stale.status_code == 412  # worker one is behind too, and the caller is
        history = one.get(f"/v1/parcels/{parcel}/history",
                          headers=bearer(keys.client)).get_json()
        assert [e["version"] for e in history["events"]] == list(range(1, routed_version + 1))
    finally:
        other.extensions["returns_ledger"].close()


def test_the_shared_load_keeps_another_sellers_parcel_a_404(client, keys) -> None:
    parcel = register(client, keys.client)
    response = post(client, keys.other_seller, f"/v1/parcels/{parcel}/delivery-attempts",
                    {"reason": "buyer not at home", "occurred_at": day(3)})
    assert response.status_code == 404
    mine = post(client, keys.client, f"/v1/parcels/{parcel}/delivery-attempts",
                {"reason": "buyer not at home", "occurred_at": day(3)})
    assert mine.status_code == 201 and mine.get_json()["version"] == 2


def test_the_next_request_loads_afresh(client, keys) -> None:
    """A replayed command leaves no loaded parcel behind for the next request."""
    parcel = register(client, keys.client)
    base, body = f"/v1/parcels/{parcel}/delivery-attempts", {
        "reason": "buyer not at home", "occurred_at": day(3)}
    first = post(client, keys.client, base, body, **{"Idempotency-Key": "k-1"})
    again = post(client, keys.client, base, body, **{"Idempotency-Key": "k-1"})
    assert first.get_json() == again.get_json()
    second = post(client, keys.client, base, {**body, "occurred_at": day(4)})
    assert second.status_code == 201 and second.get_json()["version"] == 3
    stale = post(client, keys.client, base, {**body, "occurred_at": day(5)},
                 **{"If-Match": '"2"'})
    assert stale.status_code == 412


def test_idempotent_commands_do_not_read_the_log_head_each_time(app: Flask, keys: Keys,
                                                                client) -> None:
    """The lower bound a replay scans from comes from the positions this process stored."""
    ledger = app.extensions["returns_ledger"].get()
    parcels = [register(client, keys.client, tracking=f"TTMY-H{n}") for n in range(3)]
    original, heads = ledger.recorder.max_notification_id, [0]

    def counting() -> Any:
        heads[0] += 1
        return original()

    ledger.recorder.max_notification_id = counting
    body = {"reason": "buyer not at home", "occurred_at": day(3)}
    answers = [post(client, keys.client, f"/v1/parcels/{p}/delivery-attempts", body,
                    **{"Idempotency-Key": f"head-{p}"}) for p in parcels]
    assert heads[0] <= 1  # at most one refresh a second, not one per command
    for parcel, first in zip(parcels, answers, strict=True):
        again = post(client, keys.client, f"/v1/parcels/{parcel}/delivery-attempts", body,
                     **{"Idempotency-Key": f"head-{parcel}"})
        assert again.get_json() == first.get_json() and first.get_json()["position"] > 0


def test_a_new_idempotency_key_costs_no_read(app: Flask, keys: Keys, client) -> None:
    """The key's row is inserted with the command (its primary key is unique), not looked
    up first: only a key used before makes the save fail and the first answer be read."""
    from domain.idempotency import idempotency_record_id

    ledger = app.extensions["returns_ledger"].get()
    reads: list[UUID] = []

    def counting(original: Any) -> Any:
        def read(*args: Any, **kwargs: Any) -> Any:
            reads.append(UUID(str(args[0] if args else kwargs["originator_id"])))
            return original(*args, **kwargs)
        return read

    ledger.recorder.select_events = counting(ledger.recorder.select_events)
    ledger.recorder.idempotency_row = counting(ledger.recorder.idempotency_row)
    parcel = register(client, keys.client, tracking="TTMY-NEWKEY")
    body = {"reason": "buyer not at home", "occurred_at": day(3)}
    path = f"/v1/parcels/{parcel}/delivery-attempts"
    first = post(client, keys.client, path, body, **{"Idempotency-Key": "fresh-1"})
    record = idempotency_record_id(keys.ids["client"], "fresh-1")
    assert first.status_code == 201 and record not in reads
    again = post(client, keys.client, path, body, **{"Idempotency-Key": "fresh-1"})
    assert again.get_json() == first.get_json() and record in reads

"""The database goes away and comes back: 503 + Retry-After meanwhile, then service as usual.

PostgreSQL sits behind a TCP proxy that the test cuts (all connections closed, new ones
refused) and restores: the same outage as a server restart, without disturbing the shared
PostgreSQL server. Nothing is restarted afterwards: the same app and runners recover.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from interfaces.api import create_app
from projections.service import Runners
from tests.conftest import PG
from tests.reliability import checks
from tests.reliability.live import SELLER, init_store, service_env
from tests.reliability.load import lifecycle
from tests.reliability.proxy import TcpProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
def cut_able(pg_schemas: str) -> Iterator[tuple[TcpProxy, dict[str, str], dict[str, str]]]:
    with TcpProxy((PG["POSTGRES_HOST"], int(PG["POSTGRES_PORT"]))).running() as proxy:
        env, direct = service_env(pg_schemas, proxy.port)
        yield proxy, env, direct


def register_body(tracking: str) -> dict:
    return lifecycle(SELLER, tracking)[0][2]


def until_served(call, seconds: float = 60):
    """Call again, as a client honouring Retry-After would, until it is not a 503."""
    deadline = time.monotonic() + seconds
    while (answer := call()).status_code == 503 and time.monotonic() < deadline:
        time.sleep(1)
    return answer


@pytest.mark.slow
def test_api_answers_503_with_retry_after_while_the_database_is_down(cut_able) -> None:
    proxy, env, direct = cut_able
    _, client_key, _ = init_store(direct)
    app = create_app({**env, "TESTING": True})
    http = app.test_client()
    auth = {"Authorization": f"Bearer {client_key}"}
    first = http.post("/v1/parcels", json=register_body("OUT1"), headers=auth)
    assert first.status_code == 201, first.get_json()
    parcel = first.get_json()["id"]
    proxy.cut()
    try:  # each answer takes seconds: the library retries before giving up
        answers = [http.post(f"/v1/parcels/{parcel}/delivery-attempts",
                             json={"reason": "not at home"}, headers=auth),
                   http.get(f"/v1/parcels/{parcel}", headers=auth)]
    finally:
        proxy.restore()
    for answer in answers:
        assert answer.status_code == 503, answer.get_data(as_text=True)
        assert answer.mimetype == "application/problem+json"
        assert answer.headers["Retry-After"].isdigit()
        assert answer.get_json()["type"].endswith(":unavailable")
    # Back without a restart: the same app serves again, and the refused command did nothing.
    assert until_served(lambda: http.get("/readyz")).status_code == 200
    state = http.get(f"/v1/parcels/{parcel}", headers=auth).get_json()
    assert state["version"] == 1 and state["status"] == "registered"
    again = http.post("/v1/parcels", json=register_body("OUT2"), headers=auth)
    assert again.status_code == 201, again.get_json()
    app.extensions["returns_ledger"].close()


@pytest.mark.slow
def test_projection_runners_outlive_a_database_outage(cut_able) -> None:
    proxy, env, direct = cut_able
    _, client_key, _ = init_store(direct)
    app = create_app({**env, "TESTING": True})
    http = app.test_client()
    auth = {"Authorization": f"Bearer {client_key}"}
    runners = Runners(env, names=["tracking"], restart_delay=0.5).start()
    try:
        assert http.post("/v1/parcels", json=register_body("RUN1"), headers=auth).status_code == 201
        proxy.cut()
        time.sleep(3)  # the runner's connections die; restarting fails while it is down
        proxy.restore()
        assert http.post("/v1/parcels", json=register_body("RUN2"), headers=auth).status_code == 201
        head = app.extensions["returns_ledger"].get().recorder.max_notification_id()
        deadline = time.monotonic() + 30
        while (runners.positions().get("tracking") or (0, 0))[0] < head:
            assert time.monotonic() < deadline, runners.positions()
            time.sleep(0.2)
    finally:
        runners.stop()
        app.extensions["returns_ledger"].close()
    assert checks.positions(direct)["tracking"] >= head

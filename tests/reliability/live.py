"""The real service (gunicorn + projector) on PostgreSQL behind a proxy, with keys and an address."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from application.ledger import ReturnsLedger
from application.settings import load
from interfaces.cli.store import initialise
from tests.conftest import PG, TEST_PERSONAL_DATA_KEY, _pg_connect
from tests.reliability.load import Http
from tests.reliability.proxy import TcpProxy
from tests.reliability.service import Service

SELLER = "seller-rl"
OTHER_SELLER = "seller-other"
ADDRESS = {"seller_id": SELLER, "platform": "tiktok_shop", "country": "MY",
           "address": {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur",
                       "postcode": "50000"},
           "effective_from": "2026-01-01T00:00:00+08:00",
           "occurred_at": "2026-01-01T00:00:00+08:00"}


@dataclass
class Live:
    """A running service, its database proxy, its keys and where it logs."""

    service: Service
    proxy: TcpProxy
    env: dict[str, str]  # the service's view: PostgreSQL through the proxy
    direct_env: dict[str, str]  # the tests' view: PostgreSQL itself
    admin: str
    client: str
    other_client: str
    log_path: Path

    @property
    def port(self) -> int:
        return self.service.port

    def http(self, token: str | None = None, timeout: float = 40) -> Http:
        return Http(self.port, token or self.client, timeout)


def service_env(schema: str, proxy_port: int) -> tuple[dict[str, str], dict[str, str]]:
    """(through the proxy, direct): small pools, the PostgreSQL server is shared."""
    direct = {"PERSISTENCE_MODULE": "eventsourcing.postgres", **PG, "POSTGRES_SCHEMA": schema,
              "VIEWS_POSTGRES_SCHEMA": f"{schema}_views",
              "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY, "SECRET_KEY": "live-tests-web-secret",
              "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "2"}
    # Fail fast while the database is away: a 503 in seconds, not minutes.
    return {**direct, "POSTGRES_PORT": str(proxy_port), "POSTGRES_CONNECT_TIMEOUT": "1"}, direct


def init_store(env: dict[str, str]) -> tuple[str, str, str]:
    """`db init` and three keys (admin, the seller's client, another seller's client)."""
    initialise(load(env))  # what `db init` makes
    ledger = ReturnsLedger({**env, "CREATE_TABLE": "yes"})
    try:
        now = datetime.now(UTC)
        return tuple(ledger.issue_api_key(role, seller, now).token  # type: ignore[return-value]
                     for role, seller in [("admin", None), ("client", SELLER),
                                          ("client", OTHER_SELLER)])
    finally:
        ledger.close()


def start_live(schema: str, log_path: Path, workers: int = 2) -> Live:
    """db init, keys, gunicorn on a free port, the seller's return address."""
    proxy = TcpProxy((PG["POSTGRES_HOST"], int(PG["POSTGRES_PORT"]))).start()
    env, direct = service_env(schema, proxy.port)
    admin, client, other = init_store(direct)
    log = log_path.open("ab")
    service = Service(env, workers=workers, log=log)
    try:
        service.start()
        status, _, body = Http(service.port, admin, 30).call(
            "POST", "/v1/return-addresses", ADDRESS)
        assert status == 201, body
    except BaseException:
        service.stop()
        proxy.stop()
        raise
    return Live(service, proxy, env, direct, admin, client, other, log_path)


def stop_live(live: Live) -> None:
    live.service.stop()
    live.proxy.stop()


def problem_of(answer: Any) -> str:
    return answer.get("type", "") if isinstance(answer, dict) else ""


def connect(attempts: int = 20) -> Any:
    """An admin connection; the shared server may briefly have no free connection slot."""
    for attempt in range(attempts):
        try:
            return _pg_connect()
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")

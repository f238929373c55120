"""The running service (gunicorn on PostgreSQL): no key or identity data in any log line,
and no server version in the answers."""

from __future__ import annotations

import re

import pytest

from tests.reliability.live import SELLER

pytestmark = pytest.mark.postgres

IDENTITY = {"name": "Wang Xiaoming-Secret", "id_number": "110101199003074512",
            "document_front": "doc-front-8c1f2e", "document_back": "doc-back-8c1f2e"}


def test_lz1_identity_and_keys_never_reach_the_logs(shared_live) -> None:
    live = shared_live
    http = live.http(live.client)
    status, _, address = http.call("POST", "/v1/return-addresses", {
        "seller_id": SELLER, "platform": "lazada", "country": "CN", "seller_country": "CN",
        "address": {"lines": ["88 Jianguo Road"], "city": "Beijing", "postcode": "100022"},
        "effective_from": "2026-01-01T00:00:00+08:00"})
    assert status == 201, address
    status, _, verified = http.call(
        "POST", f"/v1/return-addresses/{address['id']}/real-name-verifications", IDENTITY)
    assert status == 201 and verified["real_name_status"] == "verified", verified
    assert not set(IDENTITY.values()) & set(map(str, verified.values()))
    # Every key in use, a wrong key, and an error that is logged.
    for token in (live.admin, live.other_client, live.client + "x"):
        live.http(token).call("GET", f"/v1/return-addresses?seller_id={SELLER}")
    live.http(live.client).call("POST", f"/v1/return-addresses/{address['id']}"
                                "/real-name-verifications", {**IDENTITY, "name": ""})
    text = live.log_path.read_text(encoding="utf-8", errors="replace")  # flushed per line
    assert '"message": "request"' in text and "real-name-verifications" in text
    for secret in [*IDENTITY.values(), live.admin, live.client, live.other_client,
                   *(t.split("_", 2)[2] for t in (live.admin, live.client, live.other_client))]:
        assert secret not in text


def test_answers_name_no_server_version_and_forbid_sniffing(shared_live) -> None:
    for path in ("/healthz", "/v1/parcels?tracking_number=X", "/nope"):
        status, headers, _ = shared_live.http().call("GET", path)
        assert headers["x-content-type-options"] == "nosniff", (path, headers)
        assert not re.search(r"\d", headers.get("server", "")), headers["server"]

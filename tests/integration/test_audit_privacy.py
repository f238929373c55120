"""LZ-1 identity data: a key per data subject; erasing destroys it and the history still verifies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.audit.verification import LedgerAudit
from application.ledger import ReturnsLedger
from application.privacy import ERASED
from infrastructure.subject_keys import KEY_TABLE
from tests.integration.audit_tampering import StoreTamperer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
IDENTITY = {"name": "Wang Fang", "id_number": "110101199003074514",
            "document_front": "front-scan-ref", "document_back": "back-scan-ref"}
CN = {"lines": ["88 Example Road"], "city": "Shenzhen", "postcode": "518000"}


def _verified_address(ledger: ReturnsLedger, seller: str = "seller-cn") -> tuple[str, str]:
    address = ledger.register_return_address(
        seller_id=seller, platform="lazada", country="CN", seller_country="CN", address=CN,
        effective_from=T0 - timedelta(days=10), occurred_at=T0 - timedelta(days=10))
    ledger.verify_real_name(address.id, IDENTITY, T0 - timedelta(days=9))
    return address.id, ledger.repository.get(address.id).subject_id


def _key_rows(store_env: dict[str, str], subject: str) -> list[tuple[bytes | None, str | None]]:
    tamper = StoreTamperer(store_env)
    table = (f'"{store_env["POSTGRES_SCHEMA"]}".{KEY_TABLE}' if tamper.postgres
             else KEY_TABLE)
    return tamper.run(f"SELECT wrapped_key, erased_at FROM {table} WHERE subject_id = ?",
                      (subject,))


def test_lz1_identity_is_sealed_under_a_key_of_its_own_subject(store_env) -> None:
    ledger = ReturnsLedger(store_env)
    try:
        address, subject = _verified_address(ledger)
        assert IDENTITY["id_number"] not in subject  # the subject id is a pseudonym
        assert subject == f"seller-cn:{ledger.vault.pseudonym('seller-cn', IDENTITY['id_number'])}"
        [(wrapped, erased_at)] = _key_rows(store_env, subject)
        assert wrapped and erased_at is None  # a wrapped key, in the table next to the events
        sealed = ledger.repository.get(address).sealed_identity
        assert ledger.vault.open(subject, sealed) == IDENTITY
        # Another person of the same seller has another key: erasing one leaves the other.
        other = ledger.vault.pseudonym("seller-cn", "other-person")
        other_sealed = ledger.vault.seal(f"seller-cn:{other}", {"name": "Li Lei"})
        ledger.vault.erase(subject)
        assert ledger.vault.open(f"seller-cn:{other}", other_sealed) == {"name": "Li Lei"}
    finally:
        ledger.close()


def test_lz1_erasure_destroys_the_key_and_history_still_verifies(store_env) -> None:
    ledger = ReturnsLedger(store_env)
    try:
        address, subject = _verified_address(ledger)
        taken = LedgerAudit(ledger).digest()
        [(key_before, _)] = _key_rows(store_env, subject)
        assert ledger.vault.erase(subject) is True
        assert ledger.vault.erase(subject) is False  # nothing left to destroy
        [(wrapped, erased_at)] = _key_rows(store_env, subject)
        assert wrapped is None and erased_at is not None
        if "SQLITE_DBNAME" in store_env:  # the old key bytes are overwritten in the file
            files = [Path(store_env["SQLITE_DBNAME"] + suffix) for suffix in ("", "-wal")]
            assert all(bytes(key_before) not in f.read_bytes() for f in files if f.exists())
    finally:
        ledger.close()

    again = ReturnsLedger(store_env)  # a fresh process: nothing cached anywhere
    try:
        sealed = again.repository.get(address).sealed_identity
        assert again.vault.open(subject, sealed) == {k: ERASED for k in IDENTITY}
        history = again.get_parcel_history(address)
        verified = history[-1]
        assert verified.type == "RealNameVerified"
        assert verified.data["sealed_identity"] == {k: ERASED for k in IDENTITY}
        audit = LedgerAudit(again)
        assert audit.verify_parcel(address).ok  # the hash is over the stored ciphertext
        assert audit.verify_all(taken.token).ok  # nothing in the event store changed
    finally:
        again.close()


def test_lz1_reused_identity_is_erased_everywhere_at_once(ledger) -> None:
    first, subject = _verified_address(ledger)
    second = ledger.register_return_address(
        seller_id="seller-cn", platform="lazada", country="CN", seller_country="CN",
        address=CN, effective_from=T0 - timedelta(days=5), occurred_at=T0 - timedelta(days=5))
    ledger.reuse_real_name(second.id, first, T0 - timedelta(days=5))
    ledger.vault.erase(subject)
    for address in (first, second.id):
        sealed = ledger.repository.get(address).sealed_identity
        assert set(ledger.vault.open(subject, sealed).values()) == {ERASED}


@pytest.fixture
def own_pg_database() -> Iterator[dict[str, str]]:
    """A database of its own: no other session's snapshot can keep an erased row alive."""
    from tests.conftest import PG, _pg_connect, require_postgres

    require_postgres()
    name = f"test_audit_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as conn:
        if not conn.execute("SELECT rolsuper FROM pg_roles "
                            "WHERE rolname = current_user").fetchone()[0]:
            pytest.skip("reading a table's file needs a PostgreSQL superuser")
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"PERSISTENCE_MODULE": "eventsourcing.postgres", **PG, "POSTGRES_DBNAME": name}
    finally:
        with _pg_connect() as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_lz1_erased_key_leaves_the_postgresql_table_file(own_pg_database) -> None:
    import psycopg

    from tests.conftest import TEST_PERSONAL_DATA_KEY

    env = {**own_pg_database, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}
    ledger = ReturnsLedger(env)
    try:
        for n in range(3):
            ledger.vault.seal(f"subject-{n}", {"name": f"person {n}"})
        key = ledger.vault.keys.get("subject-1")
        with psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                             dbname=env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                             password=env["POSTGRES_PASSWORD"] or None,
                             autocommit=True) as conn:

            def in_table_file() -> bool:
                conn.execute("CHECKPOINT")  # the table's pages, written to its file
                path = conn.execute("SELECT pg_relation_filepath(%s)",
                                    (f"public.{KEY_TABLE}",)).fetchone()[0]
                data = conn.execute("SELECT pg_read_binary_file(%s)", (path,)).fetchone()[0]
                return key in bytes(data)

            assert in_table_file()
            ledger.vault.erase("subject-1")
            # The old row version can be removed once every transaction running on the server
            # at the erasure has ended (other sessions, other databases): wait for that.
            after = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
            for _ in range(600):
                horizon = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())"
                                       "::text::bigint").fetchone()[0]
                if horizon > after:
                    break
                time.sleep(0.05)
            ledger.vault.keys.purge()
            assert not in_table_file()  # not only unreachable: the row version is gone
        sealed = ledger.vault.seal("subject-2", {"a": "b"})
        assert ledger.vault.open("subject-2", sealed) == {"a": "b"}
    finally:
        ledger.close()

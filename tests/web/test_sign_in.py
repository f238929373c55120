"""Sign-in, the session cookie, CSRF on every form that changes something, and key scope."""

from __future__ import annotations

import base64
import sqlite3
import zlib
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient

from infrastructure.web_sessions import SESSION_TABLE, session_hash
from interfaces.web import session as web_session
from tests.web.conftest import NOW, Seeded, csrf_of, signed_in


def test_pages_need_a_signed_in_key(seeded: Seeded) -> None:
    answer = seeded.app.test_client().get("/web/parcels?status=closed")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/web/sign-in?next=/web/parcels?status%3Dclosed"


@pytest.mark.parametrize("token", ["", "not-a-key", "rlk_00000000000000000000000000000000_x"])
def test_sign_in_refuses_an_unknown_key(seeded: Seeded, token: str) -> None:
    client = seeded.app.test_client()
    form = client.get("/web/sign-in").get_data(True)
    answer = client.post("/web/sign-in", data={"api_key": token, "csrf_token": csrf_of(form)})
    assert answer.status_code == 401
    assert "That API key was not accepted." in answer.get_data(True)
    assert client.get("/web/parcels").status_code == 302  # still signed out


def test_sign_in_refuses_a_revoked_key_and_revoking_signs_out(fresh: Seeded) -> None:
    issued = fresh.ledger.issue_api_key("auditor", None, NOW, label="short-lived")
    client = signed_in(fresh.app, issued.token)
    assert client.get("/web/parcels").status_code == 200
    fresh.ledger.revoke_api_key(issued.key.id, NOW)
    assert client.get("/web/parcels").status_code == 302  # checked again on every page
    form = client.get("/web/sign-in").get_data(True)
    answer = client.post("/web/sign-in", data={"api_key": issued.token,
                                               "csrf_token": csrf_of(form)})
    assert answer.status_code == 401


def test_session_cookie_is_secure_httponly_lax_and_holds_no_raw_key(seeded: Seeded) -> None:
    client = seeded.app.test_client()
    form = client.get("/web/sign-in").get_data(True)
    answer = client.post("/web/sign-in", data={"api_key": seeded.keys["auditor"],
                                               "csrf_token": csrf_of(form)})
    cookie = answer.headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/web"):
        assert attribute in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    clear = zlib.decompress(raw) if value.startswith(".") else raw
    assert seeded.keys["auditor"].encode() not in clear
    assert seeded.keys["auditor"].split("_", 2)[2].encode() not in clear  # not even the secret


def test_sign_in_ignores_a_next_page_off_this_site(seeded: Seeded) -> None:
    client = seeded.app.test_client()
    form = client.get("/web/sign-in").get_data(True)
    answer = client.post("/web/sign-in", data={"api_key": seeded.keys["auditor"],
                                               "next": "//evil.example/web/",
                                               "csrf_token": csrf_of(form)})
    assert answer.headers["Location"] == "/web/parcels"


def test_csrf_sign_in_without_the_form_token_is_refused(seeded: Seeded) -> None:
    client = seeded.app.test_client()
    client.get("/web/sign-in")
    answer = client.post("/web/sign-in", data={"api_key": seeded.keys["auditor"]})
    assert answer.status_code == 400
    assert "did not come from this site" in answer.get_data(True)
    assert client.get("/web/parcels").status_code == 302


@pytest.mark.parametrize("sent", [None, "", "forged-token"])
def test_csrf_sign_out_needs_the_session_token(seeded: Seeded, sent: str | None) -> None:
    client = signed_in(seeded.app, seeded.keys["auditor"])
    answer = client.post("/web/sign-out", data={} if sent is None else {"csrf_token": sent})
    assert answer.status_code == 400
    assert client.get("/web/parcels").status_code == 200  # still signed in


def test_csrf_token_of_another_session_is_refused(seeded: Seeded) -> None:
    mine = signed_in(seeded.app, seeded.keys["auditor"])
    theirs = signed_in(seeded.app, seeded.keys["admin"])
    stolen = csrf_of(theirs.get("/web/parcels").get_data(True))
    assert mine.post("/web/sign-out", data={"csrf_token": stolen}).status_code == 400
    token = csrf_of(mine.get("/web/parcels").get_data(True))
    answer = mine.post("/web/sign-out", data={"csrf_token": token})
    assert answer.status_code == 303
    assert mine.get("/web/parcels").status_code == 302


def test_csrf_reconciliation_upload_needs_the_token(fresh: Seeded) -> None:
    client = signed_in(fresh.app, fresh.keys["finance"])
    before = fresh.ledger.recorder.max_notification_id()
    answer = client.post("/web/finance/reconciliations", data={
        "settlement": (open("tests/fixtures/settlement_refunds.csv", "rb"), "s.csv")})
    assert answer.status_code == 400
    assert fresh.ledger.recorder.max_notification_id() == before  # nothing recorded


def test_seller_key_sees_its_own_parcel_and_404_for_another_sellers(seeded: Seeded) -> None:
    client = signed_in(seeded.app, seeded.keys["seller_tt"])
    assert client.get(f"/web/parcels/{seeded.parcels['tiktok_shop']}").status_code == 200
    other = client.get(f"/web/parcels/{seeded.parcels['tiktok_shop_hold']}")
    assert other.status_code == 404
    assert "TTTH0002" not in other.get_data(True)
    listed = client.get("/web/parcels?seller_id=seller-th").get_data(True)
    assert "TTTH0002" not in listed and "No parcel matches." in listed


@pytest.mark.parametrize("path", ["/web/free-returns", "/web/holds", "/web/liabilities"])
def test_seller_lists_hold_only_its_own_parcels(seeded: Seeded, path: str) -> None:
    page = signed_in(seeded.app, seeded.keys["seller_tt"]).get(path).get_data(True)
    assert "TTTH0002" not in page and "seller-th" not in page


def test_auditor_and_admin_see_every_seller(seeded: Seeded) -> None:
    for name in ("auditor", "admin"):
        page = signed_in(seeded.app, seeded.keys[name]).get("/web/parcels").get_data(True)
        for number in ("TTMY0001", "TTTH0002", "LZPH0001", "AMDE0001", "CDFR0001"):
            assert number in page


def test_finance_pages_are_not_for_client_keys(seeded: Seeded) -> None:
    client = signed_in(seeded.app, seeded.keys["seller_tt"])
    for path in ("/web/finance", "/web/finance/refunds.csv"):
        assert client.get(path).status_code == 403
    assert 'href="/web/finance"' not in client.get("/web/parcels").get_data(True)


def test_pages_send_a_strict_content_security_policy(seeded: Seeded) -> None:
    answer = signed_in(seeded.app, seeded.keys["auditor"]).get("/web/parcels")
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert "<script" not in answer.get_data(True)


COOKIE = "returns_ledger_web"


def copy_of_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE, path="/web")
    assert cookie is not None
    return cookie.value


def client_with(app: Flask, value: str) -> FlaskClient:
    """Another browser, holding a copy of a session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, value, path="/web")
    return other


def sign_out(client: FlaskClient) -> None:
    token = csrf_of(client.get("/web/parcels").get_data(True))
    assert client.post("/web/sign-out", data={"csrf_token": token}).status_code == 303


def test_sign_out_ends_the_session_on_the_server(seeded: Seeded) -> None:
    """A copy of the cookie taken before signing out opens nothing afterwards (it used to
    sign in for the rest of its 8 hours)."""
    client = signed_in(seeded.app, seeded.keys["auditor"])
    copied = copy_of_cookie(client)
    assert client_with(seeded.app, copied).get("/web/parcels").status_code == 200
    sign_out(client)
    replayed = client_with(seeded.app, copied).get("/web/parcels")
    assert replayed.status_code == 302
    assert replayed.headers["Location"].startswith("/web/sign-in")
    assert client.get("/web/parcels").status_code == 302


def test_session_expires_on_the_server_whatever_the_cookie_says(seeded: Seeded,
                                                              monkeypatch) -> None:
    client = signed_in(seeded.app, seeded.keys["auditor"])
    copied = copy_of_cookie(client)
    opened = web_session._now()
    lifetime = int(seeded.app.permanent_session_lifetime.total_seconds())
    monkeypatch.setattr(web_session, "_now", lambda: opened + lifetime - 5)
    assert client_with(seeded.app, copied).get("/web/parcels").status_code == 200
    monkeypatch.setattr(web_session, "_now", lambda: opened + lifetime + 1)
    assert client_with(seeded.app, copied).get("/web/parcels").status_code == 302


def test_revoking_a_key_ends_every_session_it_opened(fresh: Seeded) -> None:
    issued = fresh.ledger.issue_api_key("auditor", None, NOW, label="two browsers")
    laptop, phone = signed_in(fresh.app, issued.token), signed_in(fresh.app, issued.token)
    other = signed_in(fresh.app, fresh.keys["auditor"])
    store = fresh.ledger.recorder.web_sessions
    assert store.close_all_of(uuid4()) == 0
    fresh.ledger.revoke_api_key(issued.key.id, NOW)
    assert laptop.get("/web/parcels").status_code == 302  # its rows are deleted here
    assert store.close_all_of(issued.key.id) == 0  # the phone's row went too
    assert phone.get("/web/parcels").status_code == 302
    assert other.get("/web/parcels").status_code == 200  # another key's session lives on


def test_a_session_deleted_on_the_server_is_signed_out(fresh: Seeded) -> None:
    """The cookie is only a name for the server's row: without the row it opens nothing."""
    client = signed_in(fresh.app, fresh.keys["auditor"])
    store = fresh.ledger.recorder.web_sessions
    assert store.close_all_of(fresh.ledger.authenticate(fresh.keys["auditor"]).id) == 1
    assert client.get("/web/parcels").status_code == 302


def test_signing_in_again_opens_a_new_session_and_the_old_id_stays_closed(
        seeded: Seeded) -> None:
    client = signed_in(seeded.app, seeded.keys["auditor"])
    first = copy_of_cookie(client)
    sign_out(client)
    page = client.get("/web/sign-in").get_data(True)
    assert client.post("/web/sign-in", data={"api_key": seeded.keys["auditor"],
                                             "csrf_token": csrf_of(page)}).status_code == 303
    assert copy_of_cookie(client) != first
    assert client.get("/web/parcels").status_code == 200
    assert client_with(seeded.app, first).get("/web/parcels").status_code == 302


def test_the_session_table_holds_no_session_id_in_clear(fresh: Seeded) -> None:
    client = signed_in(fresh.app, fresh.keys["auditor"])
    with client.session_transaction("/web/parcels") as cookie_session:
        session_id = cookie_session[web_session.SESSION_ID]
    database = fresh.env["SQLITE_DBNAME"]
    with sqlite3.connect(database) as conn:
        rows = conn.execute(f"SELECT * FROM {SESSION_TABLE}").fetchall()
    assert rows and all(session_id not in str(row) for row in rows)
    assert any(session_hash(session_id) in row for row in rows)


@pytest.mark.parametrize("value", ["%ED%A0%80", "%C0%80", "%00", "x" * 5000])
def test_forms_answer_odd_bytes_with_a_page_never_a_500(seeded: Seeded, value: str) -> None:
    """Form and query values are decoded by the server (a lone surrogate's bytes are not
    UTF-8: they become U+FFFD), so no form can carry what the JSON parser refuses."""
    client = signed_in(seeded.app, seeded.keys["finance"])
    for path in (f"/web/parcels?tracking_number={value}", f"/web/finance?seller_id={value}",
                 f"/web/finance/reconciliations?id={value}"):
        assert client.get(path).status_code < 500, path
    page = seeded.app.test_client()
    form = page.get("/web/sign-in").get_data(True)
    answer = page.post("/web/sign-in", data=f"api_key={value}&csrf_token={csrf_of(form)}",
                       content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 401



@pytest.mark.parametrize("prefix", ["", "FLASK_"])
def test_session_hours_and_insecure_cookie_come_from_the_environment(
        sqlite_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """WEB_SESSION_HOURS and WEB_INSECURE_COOKIE are settings of the ledger (validated with
    the others); given without Flask's prefix they did nothing."""
    from datetime import timedelta

    from tests.api.conftest import serving

    with serving(sqlite_env) as app:  # the defaults
        assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=8)
        assert app.config["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv(f"{prefix}WEB_SESSION_HOURS", "2")  # as gunicorn's workers get them
    monkeypatch.setenv(f"{prefix}WEB_INSECURE_COOKIE", "yes")
    with serving(sqlite_env) as app:
        assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=2)
        assert app.config["SESSION_COOKIE_SECURE"] is False

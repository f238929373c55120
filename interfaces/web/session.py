"""The web session: a signed cookie holding the API key sealed (AES-GCM), and a CSRF token.

The raw key never travels in clear: the cookie (Flask's signed session, HttpOnly, Secure,
SameSite=Lax, path /web) carries it encrypted under a key derived from SECRET_KEY, and
every request checks it again with the ledger, so a revoked key signs the session out.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, Request, current_app, session
from flask.sessions import SecureCookieSessionInterface, SessionMixin

from application.settings import POSTGRES, Settings, SettingsError
from infrastructure.key_files import read_or_create

SEAL_INFO = b"returns-ledger web session: sealed api key"
CSRF_FIELD = "csrf_token"


def load_secret_key(config: Any, settings: Settings) -> str:
    """SECRET_KEY from the config or the settings, else a key file made on first run."""
    given = config.get("SECRET_KEY") or settings.web_secret_key
    if given:
        return str(given)
    if settings.persistence_module == POSTGRES:
        raise SettingsError("SECRET_KEY", "is required on PostgreSQL: every worker and host "
                            "must sign web sessions with the same secret; make one with: "
                            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'")
    path = Path(config.get("WEB_SECRET_KEY_FILE") or settings.web_secret_key_file)
    return read_or_create(path, lambda: secrets.token_urlsafe(48))


class WebOnlySessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session on the web pages only; the API never reads a cookie,
    so its requests skip unsigning one (a null session, which cannot be written)."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if not request.path.startswith(app.config["SESSION_COOKIE_PATH"]):
            return self.make_null_session(app)
        return super().open_session(app, request)


def configure(app: Flask) -> None:
    """The secret key and the session cookie's attributes (the API itself uses no cookie)."""
    app.config["SECRET_KEY"] = load_secret_key(app.config,
                                               app.extensions["returns_ledger_settings"])
    app.session_interface = WebOnlySessions()
    app.config.update(
        SESSION_COOKIE_NAME="returns_ledger_web",
        SESSION_COOKIE_PATH="/web",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not _truthy(app.config.get("WEB_INSECURE_COOKIE")),
        PERMANENT_SESSION_LIFETIME=timedelta(
            hours=float(app.config.get("WEB_SESSION_HOURS", 8))),
    )


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _cipher() -> AESGCM:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO).derive(secret)
    return AESGCM(key)


def seal(token: str) -> str:
    """The API key encrypted for the cookie."""
    nonce = os.urandom(12)
    sealed = nonce + _cipher().encrypt(nonce, token.encode(), SEAL_INFO)
    return base64.urlsafe_b64encode(sealed).decode("ascii")


def unseal(sealed: str) -> str | None:
    """The API key back from the cookie, or None when it does not open."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        return _cipher().decrypt(raw[:12], raw[12:], SEAL_INFO).decode()
    except (ValueError, InvalidTag, UnicodeError):
        return None


def sign_in(token: str) -> None:
    """A fresh session (no fixation) holding the sealed key and a new CSRF token."""
    session.clear()
    session.permanent = True
    session["key"] = seal(token)
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def signed_in_token() -> str | None:
    sealed = session.get("key")
    return unseal(sealed) if isinstance(sealed, str) else None


def sign_out() -> None:
    session.clear()


def csrf_token() -> str:
    """The session's CSRF token, made on first use (also before signing in)."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(session[CSRF_FIELD])


def csrf_ok(sent: str | None) -> bool:
    """The form's token is the session's own."""
    expected = session.get(CSRF_FIELD)
    return bool(sent and expected) and hmac.compare_digest(str(sent), str(expected))

"""The web session: a row on the server, and a signed cookie naming it, holding the API key
sealed (AES-GCM) and a CSRF token.

The raw key never travels in clear: the cookie (Flask's signed session, HttpOnly, Secure,
SameSite=Lax, path /web) carries it encrypted under a key derived from SECRET_KEY. The
session itself lives on the server (infrastructure/web_sessions.py, in the event store's
database): the cookie only names it by a random id. Every request needs both: the row, open
and not expired (WEB_SESSION_HOURS after sign-in, whatever the cookie says), and the key,
checked again with the ledger. Signing out deletes the row, so a copy of the cookie taken
before opens nothing; a revoked key closes its sessions on its next use.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, Request, current_app, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from application.access import ApiKeyView
from application.settings import POSTGRES, Settings, SettingsError
from infrastructure.key_files import previous_file, read_or_create
from infrastructure.persistence import WebSessions
from interfaces.api.ledger import ledger

SEAL_INFO = b"returns-ledger web session: sealed api key"
CSRF_FIELD = "csrf_token"
SESSION_ID = "sid"


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


def previous_secret_keys(config: Any, settings: Settings, hours: float) -> list[str]:
    """Secrets replaced by a rotation that still verify a session (its grace period: one
    session lifetime). SECRET_KEY_PREVIOUS (comma-separated; remove it after that long), or
    the key file's `.previous` entries younger than `hours`."""
    given = settings.env.get("SECRET_KEY_PREVIOUS") or ""
    previous = [key.strip() for key in given.split(",") if key.strip()]
    if config.get("SECRET_KEY") or settings.web_secret_key:
        return previous
    path = previous_file(Path(config.get("WEB_SECRET_KEY_FILE")
                              or settings.web_secret_key_file))
    if not path.exists():
        return previous
    oldest = datetime.now(UTC) - timedelta(hours=hours)
    for line in path.read_text().splitlines():
        when, _, secret = line.strip().partition(" ")
        try:
            replaced = datetime.fromisoformat(when)
        except ValueError:
            continue
        if secret and replaced >= oldest:
            previous.append(secret)
    return previous


class WebOnlySessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session on the web pages only; the API never reads a cookie,
    so its requests skip unsigning one (a null session, which cannot be written)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(app.config["SESSION_COOKIE_PATH"]):
            return self.make_null_session(app)
        return super().open_session(app, request)


def configure(app: Flask) -> None:
    """The secret key and the session cookie's attributes (the API itself uses no cookie)."""
    settings = app.extensions["returns_ledger_settings"]
    # WEB_SESSION_HOURS / WEB_INSECURE_COOKIE from the environment (validated with the
    # settings), or FLASK_-prefixed ones in Flask's config, which win.
    hours = float(app.config.get("WEB_SESSION_HOURS")
                  or settings.env.get("WEB_SESSION_HOURS") or 8)
    insecure = _truthy(app.config.get("WEB_INSECURE_COOKIE")
                       or settings.env.get("WEB_INSECURE_COOKIE"))
    # Flask verifies a session signed with any of these (a rotation's grace period).
    fallbacks = previous_secret_keys(app.config, app.extensions["returns_ledger_settings"],
                                     hours)
    app.config["SECRET_KEY"] = load_secret_key(app.config,
                                               app.extensions["returns_ledger_settings"])
    app.config["SECRET_KEY_FALLBACKS"] = fallbacks
    app.session_interface = WebOnlySessions()
    app.config.update(
        SESSION_COOKIE_NAME="returns_ledger_web",
        SESSION_COOKIE_PATH="/web",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not insecure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=hours),
        WEB_SESSION_HOURS=hours,
    )


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _cipher(secret_key: Any = None) -> AESGCM:
    secret = str(secret_key or current_app.config["SECRET_KEY"]).encode()
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
    except ValueError:
        return None
    secrets_ = [current_app.config["SECRET_KEY"],
                *current_app.config.get("SECRET_KEY_FALLBACKS", [])]
    for secret in secrets_:  # sealed under a secret a rotation replaced: still opens
        try:
            return _cipher(secret).decrypt(raw[:12], raw[12:], SEAL_INFO).decode()
        except (ValueError, InvalidTag, UnicodeError):
            continue
    return None


def sessions() -> WebSessions:
    """The session table beside the ledger's events (its recorder makes it with its own
    tables: infrastructure/persistence.py)."""
    return ledger().recorder.web_sessions


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


def sign_in(token: str, key: ApiKeyView) -> None:
    """A fresh session (no fixation): a new row on the server, the sealed key, a CSRF token."""
    session_id = secrets.token_urlsafe(32)
    now = _now()
    lifetime = current_app.permanent_session_lifetime
    sessions().open(session_id, key.id, now, now + int(lifetime.total_seconds()))
    session.clear()
    session.permanent = True
    session[SESSION_ID] = session_id
    session["key"] = seal(token)
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def signed_in() -> ApiKeyView | None:
    """The key of this request's session: its row open and unexpired, its key active and
    the one the session was opened with. Otherwise the session ends here."""
    session_id, sealed = session.get(SESSION_ID), session.get("key")
    if not isinstance(session_id, str) or not isinstance(sealed, str):
        return None
    token = unseal(sealed)
    key_id = sessions().key_of(session_id, _now())
    key = ledger().authenticate(token) if token and key_id else None
    if key is None or key.id != key_id:
        if key_id is not None and key is None and token:
            sessions().close_all_of(key_id)  # the key no longer opens anything
        sign_out()
        return None
    return key


def sign_out() -> None:
    """End the session on the server, then forget the cookie."""
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        sessions().close(session_id)
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

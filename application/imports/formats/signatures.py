"""Signature verification for the sources that push (`POST /v1/intake/{source}`): each
source's own documented scheme where it signs, ours where it does not.

| source | header(s) | signed message | digest | key |
| --- | --- | --- | --- | --- |
| `aftership` | `aftership-hmac-sha256` | the raw body | HMAC-SHA256, base64 | the webhook secret |
| `trackingmore` | `timestamp`, `signature` | the timestamp | HMAC-SHA256, hex | the v4 webhook secret |
| `tiktok_shop` | `Authorization` | app key + the raw body | HMAC-SHA256, hex | the app secret |
| `lazada` | `Authorization` | app key + the raw body | HMAC-SHA256, hex | the app secret |
| other | `X-Returns-Ledger-Signature` (`t=<unix>,v1=<hex>`) | `<t>.` + body | HMAC-SHA256, hex | its secret |

- The per-source secret is what the source gave: TikTok Shop and Lazada sign with two
  values, so their secret is written `<app key>:<app secret>`.
- Digests are compared in constant time (`hmac.compare_digest`); anything missing or
  malformed (no header, no secret, a header that is not base64 or hex) is `False`, never
  an exception.
- Replays: where the scheme signs a time (TrackingMore's `timestamp`, ours `t`) it must be
  within `TOLERANCE_SECONDS` of the ledger's clock. AfterShip, TikTok Shop and Lazada sign
  no time: a replayed delivery is refused by the import's idempotency instead (the same
  record applies once).
- Assumption: TrackingMore's page shows the computation, not its header names; they are
  taken to be `timestamp` and `signature`, the names of its example's inputs.
- TrackingMore signs only the timestamp, not the body (its documented example): a captured
  pair of headers authorises any body within the tolerance. Its intake URL should stay
  private and behind TLS; the docs say so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_SECONDS = 300
OUR_HEADER = "X-Returns-Ledger-Signature"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip() if isinstance(value, str) else None
    return None


def _digest(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _hex(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _fresh(stamp: str, now: float) -> bool:
    if not stamp.isdigit() or len(stamp) > 12:
        return False
    return abs(now - int(stamp)) <= TOLERANCE_SECONDS


def _aftership(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> bool:
    given = _header(headers, "aftership-hmac-sha256")
    if not given:
        return False
    try:
        signature = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(signature, _digest(secret.encode(), body))


def _trackingmore(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> bool:
    stamp, given = _header(headers, "timestamp"), _header(headers, "signature")
    if not stamp or not given or not _fresh(stamp, now):
        return False
    signature = _hex(given)
    return signature is not None and hmac.compare_digest(
        signature, _digest(secret.encode(), stamp.encode()))


def _app_key_and_body(headers: Mapping[str, str], body: bytes, secret: str,
                      now: float) -> bool:
    app_key, sep, app_secret = secret.partition(":")
    given = _header(headers, "Authorization")
    if not sep or not app_key or not app_secret or not given:
        return False
    signature = _hex(given)
    return signature is not None and hmac.compare_digest(
        signature, _digest(app_secret.encode(), app_key.encode() + body))


def _ours(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> bool:
    given = _header(headers, OUR_HEADER)
    if not given:
        return False
    parts: dict[str, str] = {}
    for part in given.split(","):
        name, _, value = part.strip().partition("=")
        parts[name] = value
    stamp, signature = parts.get("t", ""), _hex(parts.get("v1", ""))
    if signature is None or not _fresh(stamp, now):
        return False
    return hmac.compare_digest(signature, _digest(secret.encode(), stamp.encode() + b"." + body))


SCHEMES = {"aftership": _aftership, "trackingmore": _trackingmore,
           "tiktok_shop": _app_key_and_body, "lazada": _app_key_and_body}


def verify(source: str, headers: Mapping[str, str], body: bytes, secret: str,
           now: float | None = None) -> bool:
    """Whether a pushed delivery is signed by its source with this secret (and, where the
    scheme signs a time, signed just now: `now` is Unix seconds, the clock by default)."""
    if not secret or not isinstance(body, bytes | bytearray):
        return False
    scheme = SCHEMES.get(source, _ours)
    return scheme(headers, bytes(body), secret, time.time() if now is None else now)


def sign(body: bytes, secret: str, now: float | None = None) -> dict[str, str]:
    """Our scheme's header for a body, for a source that does not sign its own (a relay,
    an ERP): `X-Returns-Ledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`."""
    stamp = str(int(time.time() if now is None else now))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {OUR_HEADER: f"t={stamp},v1={mac}"}

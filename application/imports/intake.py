"""Pushed deliveries (`POST /v1/intake/{source}`): per-source secrets and who sent one.

A seller's source (a carrier aggregator's or a marketplace's webhook) gets a secret of its
own, sealed in the key store like webhook endpoint secrets (application/privacy.py) and
shown once. A delivery is accepted when it is signed with one of the source's active
secrets, in the source's own scheme where it signs (application/imports/formats/
signatures.py); the secret says whose it is, so the delivery is imported in that seller's
scope, as an import of its own (the same delivery twice is one import).
Rotation adds a new secret and, once the source uses it, revokes the others.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from application.imports.formats.registry import get_format

Verify = Callable[[str, Mapping[str, str], bytes, str], bool]
FALLBACK_HEADER = "X-Returns-Ledger-Signature"


def _fallback_verify(source: str, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>` within five minutes: the scheme of
    the sources that do not sign their own, used until their verification is installed."""
    given = next((v for k, v in headers.items() if k.lower() == FALLBACK_HEADER.lower()), "")
    parts = dict(p.strip().partition("=")[::2] for p in given.split(","))
    stamp, mac = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or len(stamp) > 12 or abs(time.time() - int(stamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), mac.lower())


def signature_verifier() -> Verify:
    """The sources' own schemes (signatures.verify) where installed, else the fallback."""
    name = "application.imports.formats.signatures"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return _fallback_verify
    return cast(Verify, module.verify)


@dataclass(frozen=True)
class IntakeSecret:
    """A source's secret for one seller: shown once, when made."""

    id: str
    source: str
    seller_id: str
    secret: str


class IntakeSecrets:
    """Make, rotate and check the per-source secrets of the push intake."""

    def __init__(self, ledger: Any, verify: Verify | None = None) -> None:
        self.ledger = ledger
        self.store = ledger.recorder.imports
        self.verify = verify or signature_verifier()

    def create(self, source: str, seller_id: str, secret: str | None = None,
               rotate: bool = False) -> IntakeSecret:
        """A new secret (given, e.g. the app secret a marketplace issued, or made here);
        `rotate`: the source's other secrets of this seller are revoked."""
        get_format(source)
        value = secret or secrets.token_urlsafe(32)
        secret_id = secrets.token_hex(8)
        sealed = self.ledger.vault.seal(f"intake:{secret_id}", {"secret": value})["secret"]
        now = datetime.now(UTC).isoformat()
        self.store.put_secret(secret_id, source, seller_id, sealed, now)
        if rotate:
            self.store.revoke_secrets(source, seller_id, now, keep=secret_id)
        return IntakeSecret(secret_id, source, seller_id, value)

    def revoke(self, source: str, seller_id: str) -> int:
        return self.store.revoke_secrets(source, seller_id, datetime.now(UTC).isoformat())

    def sender(self, source: str, headers: Mapping[str, str], body: bytes
               ) -> dict[str, str] | None:
        """{secret_id, seller_id} of the active secret the delivery is signed with, or None."""
        for row in self.store.secrets(source):
            subject = f"intake:{row['secret_id']}"
            value = self.ledger.vault.open(subject, {"secret": row["sealed"]})["secret"]
            if value != "erased" and self.verify(source, headers, body, value):
                return {"secret_id": row["secret_id"], "seller_id": row["seller_id"]}
        return None

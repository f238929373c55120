"""Personal data (LZ-1 identity documents) sealed before it reaches an event."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ENV = "PERSONAL_DATA_KEY"
DEFAULT_KEY_FILE = "var/personal-data.key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def load_master_key(env: Mapping[str, str]) -> bytes:
    """PERSONAL_DATA_KEY (32 bytes, URL-safe base64), or a key file made on first run."""
    raw = env.get(KEY_ENV)
    if not raw:
        path = Path(env.get("PERSONAL_DATA_KEY_FILE", DEFAULT_KEY_FILE))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(_b64(AESGCM.generate_key(bit_length=256)))
        raw = path.read_text().strip()
    key = _unb64(raw)
    if len(key) != 32:
        raise ValueError(f"{KEY_ENV} must be 32 bytes in URL-safe base64")
    return key


class PersonalDataVault:
    """Seals each field with AES-256-GCM under a key of its own data subject."""

    def __init__(self, master_key: bytes) -> None:
        self._master_key = master_key

    def _subject_key(self, subject_id: str) -> AESGCM:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=f"returns-ledger subject {subject_id}".encode()).derive(self._master_key)
        return AESGCM(key)

    def seal(self, subject_id: str, fields: Mapping[str, str]) -> dict[str, str]:
        """Ciphertext per field; the subject id is bound in as associated data."""
        aead = self._subject_key(subject_id)
        sealed = {}
        for name, value in fields.items():
            nonce = os.urandom(12)
            ciphertext = aead.encrypt(nonce, value.encode(), f"{subject_id}:{name}".encode())
            sealed[name] = _b64(nonce + ciphertext)
        return sealed

    def open(self, subject_id: str, sealed: Mapping[str, str]) -> dict[str, str]:
        """The plain fields back, for the few who may see them."""
        aead = self._subject_key(subject_id)
        opened = {}
        for name, token in sealed.items():
            blob = _unb64(token)
            opened[name] = aead.decrypt(blob[:12], blob[12:],
                                        f"{subject_id}:{name}".encode()).decode()
        return opened

"""Personal data (LZ-1 identity documents, buyer data) sealed under a key per data subject.

Each data subject gets a random AES-256 key, wrapped by the master key and kept in a key
store table next to the events. Erasing a subject destroys its key (crypto-shredding): the
ciphertext stays in the events, so the hash chain still verifies, but nobody can read it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.settings import MAKE_KEY
from domain.errors import DomainError
from infrastructure.key_files import read_or_create

if TYPE_CHECKING:
    from infrastructure.persistence import SubjectKeys

KEY_ENV = "PERSONAL_DATA_KEY"
DEFAULT_KEY_FILE = "var/personal-data.key"
ERASED = "erased"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def load_master_key(env: Mapping[str, str]) -> bytes:
    """PERSONAL_DATA_KEY (32 bytes, URL-safe base64), or a key file made on first run."""
    raw = env.get(KEY_ENV)
    if not raw:
        path = Path(env.get("PERSONAL_DATA_KEY_FILE") or DEFAULT_KEY_FILE)
        raw = read_or_create(path, lambda: _b64(AESGCM.generate_key(bit_length=256)))
    try:
        key = _unb64(raw)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError(f"{KEY_ENV} must be 32 bytes in URL-safe base64 ({MAKE_KEY})")
    return key


class SealedUnderAnotherKeyError(DomainError):
    """A data subject's key was wrapped by another personal-data master key."""

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"the personal data of subject {subject_id} was sealed under "
                         f"another {KEY_ENV}: every process and host of one store must use "
                         "the same key")
        self.subject_id = subject_id


class PersonalDataVault:
    """Seals each field with AES-256-GCM under a key of its own data subject."""

    def __init__(self, master_key: bytes, keys: SubjectKeys) -> None:
        self._master = AESGCM(master_key)
        self._pseudonym_key = hashlib.sha256(b"subject-id\x00" + master_key).digest()
        self.keys = keys

    def pseudonym(self, seller_id: str, id_number: str) -> str:
        """A stable pseudonym of a person for one seller; reveals nothing by itself."""
        mac = hmac.new(self._pseudonym_key, f"{seller_id}\x00{id_number}".encode(),
                       hashlib.sha256)
        return mac.hexdigest()[:32]

    def _subject_key(self, subject_id: str, create: bool) -> AESGCM | None:
        aad = f"subject-key:{subject_id}".encode()
        wrapped = self.keys.get(subject_id)
        if wrapped is None:
            if not create:
                return None
            key = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(12)
            self.keys.put(subject_id, nonce + self._master.encrypt(nonce, key, aad))
            return AESGCM(key)
        try:
            return AESGCM(self._master.decrypt(wrapped[:12], wrapped[12:], aad))
        except InvalidTag:
            raise SealedUnderAnotherKeyError(subject_id) from None

    def seal(self, subject_id: str, fields: Mapping[str, str]) -> dict[str, str]:
        """Ciphertext per field; the subject id and field name are bound in."""
        aead = self._subject_key(subject_id, create=True)
        assert aead is not None
        sealed = {}
        for name, value in fields.items():
            nonce = os.urandom(12)
            ciphertext = aead.encrypt(nonce, value.encode(), f"{subject_id}:{name}".encode())
            sealed[name] = _b64(nonce + ciphertext)
        return sealed

    def open(self, subject_id: str, sealed: Mapping[str, str]) -> dict[str, str]:
        """The plain fields back, or "erased" for each once the subject's key is gone."""
        aead = self._subject_key(subject_id, create=False)
        opened = {}
        for name, token in sealed.items():
            blob = _unb64(token)
            try:
                if aead is None:
                    raise InvalidTag
                opened[name] = aead.decrypt(blob[:12], blob[12:],
                                            f"{subject_id}:{name}".encode()).decode()
            except InvalidTag:  # erased, or sealed under a key erased before a new one
                opened[name] = ERASED
        return opened

    def is_erased(self, subject_id: str) -> bool:
        return self.keys.get(subject_id) is None

    def erase(self, subject_id: str) -> bool:
        """Crypto-shredding: destroy the subject's key; True when there was one."""
        return self.keys.destroy(subject_id)

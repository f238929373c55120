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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
PREVIOUS_KEYS_ENV = "PERSONAL_DATA_PREVIOUS_KEYS"
DEFAULT_KEY_FILE = "var/personal-data.key"
ERASED = "erased"
# The pseudonym key's row in the key table (no subject id looks like it: theirs are
# `seller:<32 hex>`). Written by a key rotation, so pseudonyms outlive the master key.
PSEUDONYM_ROW = "returns-ledger:pseudonym-key"


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


def previous_master_keys(env: Mapping[str, str]) -> list[bytes]:
    """PERSONAL_DATA_PREVIOUS_KEYS: master keys of before a rotation, comma-separated; they
    unwrap subject keys still wrapped under them, and never wrap a new one."""
    keys = []
    for number, raw in enumerate((env.get(PREVIOUS_KEYS_ENV) or "").split(","), start=1):
        if not raw.strip():
            continue
        try:
            key = _unb64(raw.strip())
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError(f"{PREVIOUS_KEYS_ENV}: key {number} is not 32 bytes in URL-safe "
                             "base64")
        keys.append(key)
    return keys


class RotationError(RuntimeError):
    """A master-key rotation step out of order (the pseudonym key not kept first)."""


@dataclass
class RotationReport:
    """What a master-key rotation did to the key table."""

    rewrapped: int = 0
    already_current: int = 0


def _derive_pseudonym_key(master_key: bytes) -> bytes:
    return hashlib.sha256(b"subject-id\x00" + master_key).digest()


class PersonalDataVault:
    """Seals each field with AES-256-GCM under a key of its own data subject.

    The subject keys are wrapped under the master key (PERSONAL_DATA_KEY). Keys wrapped
    under a previous master key (PERSONAL_DATA_PREVIOUS_KEYS) are unwrapped with it until
    `rotate()` re-wraps them, so a rotation needs no downtime. Pseudonyms use a key of their
    own: derived from the master key, until `store_pseudonym_key()` (the first step of a
    rotation) keeps it, wrapped, in the key table: a person's subject id stays the same.
    """

    def __init__(self, master_key: bytes, keys: SubjectKeys,
                 previous_keys: list[bytes] | None = None) -> None:
        self._master = AESGCM(master_key)
        self._previous = [AESGCM(key) for key in previous_keys or []]
        self._derived_pseudonym_key = _derive_pseudonym_key(master_key)
        self._pseudonym_key: bytes | None = None
        self.keys = keys

    def pseudonym(self, seller_id: str, id_number: str) -> str:
        """A stable pseudonym of a person for one seller; reveals nothing by itself."""
        mac = hmac.new(self._pseudonym(), f"{seller_id}\x00{id_number}".encode(),
                       hashlib.sha256)
        return mac.hexdigest()[:32]

    def _pseudonym(self) -> bytes:
        if self._pseudonym_key is None:
            stored = self._unwrap(PSEUDONYM_ROW)
            if stored is None and self._previous:
                raise RotationError(
                    "a master-key rotation is under way but the pseudonym key was not "
                    "kept: run `returns-ledger privacy rotate-key --begin` with the old "
                    "key as PERSONAL_DATA_KEY first")
            self._pseudonym_key = stored if stored is not None else self._derived_pseudonym_key
        return self._pseudonym_key

    def _wrap(self, subject_id: str, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._master.encrypt(nonce, key, f"subject-key:{subject_id}".encode())

    def _unwrap(self, subject_id: str) -> bytes | None:
        """The subject's key, unwrapped with the master key or a previous one; None when
        there is none (never made, or erased)."""
        wrapped = self.keys.get(subject_id)
        if wrapped is None:
            return None
        aad = f"subject-key:{subject_id}".encode()
        for master in (self._master, *self._previous):
            try:
                return master.decrypt(wrapped[:12], wrapped[12:], aad)
            except InvalidTag:
                continue
        raise SealedUnderAnotherKeyError(subject_id)  # none of KEY_ENV, PREVIOUS_KEYS_ENV

    def _subject_key(self, subject_id: str, create: bool) -> AESGCM | None:
        key = self._unwrap(subject_id)
        if key is None:
            if not create:
                return None
            key = AESGCM.generate_key(bit_length=256)
            self.keys.put(subject_id, self._wrap(subject_id, key))
        return AESGCM(key)

    def store_pseudonym_key(self) -> bool:
        """A rotation's first step, with the old key still current: keep the pseudonym key
        in the key table (wrapped); True when it was stored now."""
        if self.keys.get(PSEUDONYM_ROW) is not None:
            return False
        self.keys.put(PSEUDONYM_ROW, self._wrap(PSEUDONYM_ROW, self._derived_pseudonym_key))
        return True

    def rotate(self) -> RotationReport:
        """Re-wrap every subject key and the pseudonym key under the master key; run with the
        new key as PERSONAL_DATA_KEY and the old one in PERSONAL_DATA_PREVIOUS_KEYS. Safe to
        run again: a key wrapped under the master key already is left alone."""
        if self.keys.get(PSEUDONYM_ROW) is None:
            raise RotationError("the pseudonym key was not kept: run `returns-ledger privacy "
                                "rotate-key --begin` with the old key as PERSONAL_DATA_KEY")
        report = RotationReport()
        for subject_id, wrapped in self.keys.wrapped_keys():
            aad = f"subject-key:{subject_id}".encode()
            try:
                self._master.decrypt(wrapped[:12], wrapped[12:], aad)
            except InvalidTag:
                key = self._unwrap(subject_id)
                assert key is not None
                self.keys.rewrap(subject_id, wrapped, self._wrap(subject_id, key))
                report.rewrapped += 1
            else:
                report.already_current += 1
        return report

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

    def sealer(self, subject_id: str) -> Callable[[str, str], str]:
        """`seal` for many values of one subject, its key read once (an import's lines)."""
        aead = self._subject_key(subject_id, create=True)
        assert aead is not None

        def seal_one(name: str, value: str) -> str:
            nonce = os.urandom(12)
            return _b64(nonce + aead.encrypt(nonce, value.encode(),
                                             f"{subject_id}:{name}".encode()))

        return seal_one

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

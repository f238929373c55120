"""Key files made on first use (the embedded default): written whole, or not at all.

A reader never sees a half-written or empty file, and two processes starting at once
agree on one key: the key is written to a private temporary file, then linked into
place, which fails for the second process (it then reads the first one's key).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def previous_file(path: Path) -> Path:
    """Where `keys rotate-web-secret` keeps the secrets it replaced, one per line with the
    time it was replaced: `ISO-TIME SECRET`."""
    return path.with_name(f"{path.name}.previous")


class KeyFileError(ValueError):
    """A key file exists but holds no key."""


def _read(path: Path) -> str:
    text = path.read_text().strip()
    if not text:
        raise KeyFileError(f"the key file {path} is empty: restore it from your backup, "
                           "or remove it to make a new key (data sealed under the old "
                           "one can then not be read)")
    return text


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The key in `path`, made by `make()` and written atomically when there is none."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(scratch, path)
        except FileExistsError:  # another process made it first: its key is the key
            pass
    finally:
        scratch.unlink(missing_ok=True)
    return _read(path)

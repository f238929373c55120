"""A real service on a loopback port and headless Chromium from Debian's packages (Playwright)."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_missing: list[str] = []


def require_browser() -> Any:
    """Playwright's sync API; fails in CI, skips loudly elsewhere, when the browser is missing."""
    reason = None
    if not Path(CHROMIUM).exists():
        reason = (f"{CHROMIUM} is missing: `make browser` installs Debian's chromium "
                  "(as root, where apt-get exists)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        reason = reason or f"playwright is not installed ({error}): pip install -e '.[test]'"
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the browser tests are mandatory)", pytrace=False)
        _missing.append(reason)
        pytest.skip(reason)
    return sync_playwright


def missing_browser() -> list[str]:
    return _missing


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app on a free loopback port, in a thread, for as long as the block runs."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web-test-server",
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless Chromium profile; yields the browser context."""
    sync_playwright = require_browser()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1280, "height": 900}, accept_downloads=True)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save a screenshot under test-artifacts/web/ (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path

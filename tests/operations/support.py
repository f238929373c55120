"""Helpers for the operations tests: TT-2 held parcels on any start date, the CLI in env."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line

DAY = timedelta(days=1)
HOLD = 14 * DAY  # TT-2 default hold


def held_parcel(ledger: ReturnsLedger, suffix: str, start: datetime) -> tuple[UUID, datetime]:
    """A TikTok Shop parcel in Thailand (no return address: TT-2 holds it) routed on day 5
    after `start`; answers its id and the hold's end."""
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site="TH", seller_id=f"seller-{suffix}",
        order_id=f"ORDER-{suffix}", order_created_at=start, tracking_number=f"TN-{suffix}",
        lines=[Line("SKU-1", 1, Money.of("450.00", "THB"))],
        amount_paid=Money.of("450.00", "THB"), occurred_at=start + DAY).id
    ledger.record_delivery_attempt(parcel, "not at home", start + 3 * DAY)
    ledger.record_failed_delivery(parcel, "refused", start + 4 * DAY)
    ledger.route_return(parcel, start + 5 * DAY)
    return parcel, start + 5 * DAY + HOLD


CLI = str(Path(sys.executable).with_name("returns-ledger"))


class Process:
    """A child process whose output lines are collected by a thread, to wait for one."""

    def __init__(self, args: list[str], env: dict[str, str], **kwargs) -> None:
        self.popen = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, **kwargs)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def expect(self, text: str, timeout: float = 30.0, after: int = 0) -> int:
        """Wait for a line containing `text` (from line `after` on); answer its index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(after, len(self.lines)):
                if text in self.lines[index]:
                    return index
            if self.popen.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r}; output:\n" + "\n".join(self.lines))

    def stop(self, sig: int = 15, timeout: float = 30.0) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._reader.join(timeout=5)
        return self.popen.returncode

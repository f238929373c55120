"""Retries with the same Idempotency-Key: every command's effect exactly once.

Each command is sent two or three times: concurrently, after a client "timeout" that
abandoned the first copy unread, or one after the other. The full size (10,000 commands)
runs in bench/soak.py.
"""

from __future__ import annotations

import pytest

from tests.reliability.retries import RetryRun

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PARCELS = 20  # six commands each: 120 commands, about 300 requests


def test_each_command_sent_two_or_three_times_takes_effect_once(shared_live) -> None:
    report = RetryRun(shared_live, PARCELS, threads=6).run()
    assert report.unacknowledged == [], report.figures()
    assert report.disagreeing == [], report.disagreeing[:3]  # every copy: the same answer
    assert report.double_effects == [] and report.double_refunds == 0, report.double_effects[:3]
    assert report.requests >= 2 * report.commands and report.abandoned > 0
    assert report.statuses.get(500, 0) == 0, report.figures()

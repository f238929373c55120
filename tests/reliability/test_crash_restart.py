"""Crash and restart under load: every acknowledged command survives, exactly once.

A worker SIGKILLed, the projector SIGKILLed and restarted, PostgreSQL away for seconds
(a proxy cut: see RELIABILITY.md); afterwards the store holds each acknowledged command's
events exactly once, the views equal a rebuild, and the outage answered 503, never 500.
"""

from __future__ import annotations

import pytest

from tests.reliability.crash import crash_run

PARCELS = 120  # eight commands each: 960, enough to be in flight at the cut (bench/soak.py: full size)
# The library retries a failed statement 10 times, 0.2 s apart, each waiting up to the
# 1 s connect timeout (tests/reliability/live.py): a command rides out a cut of up to
# about 12 s and answers 201 after it. The cut is longer, so the outage must show 503s.
OUTAGE_SECONDS = 20.0


@pytest.mark.slow
@pytest.mark.postgres
def test_acknowledged_commands_survive_worker_projector_and_database_crashes(live) -> None:
    report = crash_run(live, PARCELS, threads=6, outage=OUTAGE_SECONDS, deadline=240)
    timeline = report.timeline
    assert report.gave_up == 0, (report.figures(), timeline)
    assert report.acknowledged == report.commands
    assert report.problems == [] and report.duplicates == 0, report.problems[:5]
    assert report.events_found == PARCELS * 9  # the refund records two events
    # The outage: 503 + Retry-After as problem+json, never a 500; recovered in place.
    assert report.statuses.get(500, 0) == 0 and report.bad_5xx == [], report.bad_5xx[:3]
    assert 503 in report.during_outage, (report.statuses, timeline)
    assert report.acked_after_restore > 0
    assert report.workers_replaced_after_kill and report.workers_unchanged_since
    # Projections: caught up after their own crash and the outage, equal to a rebuild.
    assert report.projector_exit == 0
    assert min(report.view_positions.values()) >= report.head
    assert report.views_equal_rebuild

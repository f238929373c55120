"""Property: a mapper is a pure function of its record. However a parcel's true scans are
interleaved, duplicated, delayed or written in another time zone, the source identities
and the commands they stand for are the same set, each keeping its business time (the
engine orders by it: TT-7's last attempt is the latest by business time)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from application.imports.formats import aftership
from application.imports.model import SourceRecord

HEADER = b"slug,tracking_number,checkpoint_time,tag,subtag\n"
SCANS = ["InTransit_002", "AttemptFail_002", "AttemptFail_001", "AttemptFail_003",
         "Exception_003", "Delivered_001", "Exception_011"]
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _truth(picks: list[tuple[int, int]]) -> list[tuple[str, datetime]]:
    return [(SCANS[kind], START + timedelta(hours=hours)) for kind, hours in picks]


def _file(scans: list[tuple[str, datetime, int]]) -> bytes:
    lines = []
    for status, moment, offset in scans:
        local = moment.astimezone(timezone(timedelta(hours=offset))).isoformat()
        lines.append(f"jt-express,JTMY1,{local},{status.split('_')[0]},{status}\n".encode())
    return HEADER + b"".join(lines)


def _mapped(data: bytes) -> dict[str, tuple]:
    out = {}
    for record in aftership.FORMAT.read(io.BytesIO(data)):
        assert isinstance(record, SourceRecord)
        mapped = aftership.FORMAT.map(record)
        out[mapped.source_key] = tuple((c.command, tuple(sorted(
            (k, v) for k, v in c.body.items() if k != "occurred_at")), c.occurred_at,
            c.on_return_leg) for c in mapped.commands)
    return out


@settings(max_examples=150, deadline=None)
@given(picks=st.lists(st.tuples(st.integers(0, len(SCANS) - 1), st.integers(0, 400)),
                      min_size=1, max_size=8, unique=True),
       shuffle=st.randoms(use_true_random=False),
       copies=st.lists(st.integers(1, 3), min_size=8, max_size=8),
       offsets=st.lists(st.sampled_from([0, 8, -5, 7]), min_size=24, max_size=24))
def test_tt7_interleaved_duplicated_and_rezoned_scans_map_to_the_same_commands(
        picks, shuffle, copies, offsets):
    truth = _truth(picks)
    once = _mapped(_file([(s, m, 8) for s, m in truth]))
    noisy = [(s, m) for (s, m), n in zip(truth, copies, strict=False) for _ in range(n)]
    shuffle.shuffle(noisy)
    replayed = _mapped(_file([(s, m, offsets[i % len(offsets)])
                              for i, (s, m) in enumerate(noisy)]))
    assert {k: [(c, b, t.astimezone(UTC), r) for c, b, t, r in v]
            for k, v in replayed.items()} == {
        k: [(c, b, t.astimezone(UTC), r) for c, b, t, r in v] for k, v in once.items()}

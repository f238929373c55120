"""A line that stands for several source records (a webhook document with several
checkpoints, a marketplace snapshot row with several stages): every record is staged and
applied (each its own `record_no`), and a stop (or a crash) between two
staging transactions inside such a line loses none of its records on resume."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from application.imports import engine
from application.imports.engine import ImportDesk
from tests.imports.conftest import run_import
from tests.imports.support import as_csv, registration

TN = "JTMY-MULTI-1"


def _webhook(tn: str, checkpoints: list[tuple[str, str, str]]) -> bytes:
    """An AfterShip tracking_update webhook (one document, pretty-printed as AfterShip
    sends it) with these (time, tag, subtag) checkpoints."""
    return json.dumps({
        "event": "tracking_update", "event_id": f"evt-{tn}", "msg": {
            "id": f"trk-{tn}", "slug": "jt-express", "tracking_number": tn,
            "tag": checkpoints[-1][1], "subtag": checkpoints[-1][2],
            "checkpoints": [{"slug": "jt-express", "checkpoint_time": t, "tag": tag,
                             "subtag": sub, "message": "scan"} for t, tag, sub in checkpoints]},
        "ts": 1772787900}, indent=2).encode()


SCANS = [("2026-03-04T10:00:00+08:00", "AttemptFail", "AttemptFail_002"),
         ("2026-03-05T10:00:00+08:00", "AttemptFail", "AttemptFail_001"),
         ("2026-03-06T16:45:00+08:00", "Exception", "Exception_003")]


def _aftership(desk: ImportDesk, data: bytes) -> str:
    view = desk.accept(io.BytesIO(data), "aftership", "s1", "tester", "key",
                       datetime.now(UTC))
    return str(view.id)


def test_tt7_every_checkpoint_of_one_webhook_document_is_staged_and_applied(desk):
    run_import(desk, as_csv([registration(TN)]))
    the_id = _aftership(desk, _webhook(TN, SCANS))
    report = desk.run(the_id)
    rows = list(desk.lines(the_id))
    assert [(r["line_no"], r["record_no"]) for r in rows] == [(1, 1), (1, 2), (1, 3)], rows
    assert [r["outcome"] for r in rows] == ["applied"] * 3, rows
    assert len({r["source_key"] for r in rows}) == 3
    assert report.counts == {"applied": 3}
    parcel = desk.ledger.find_parcel(TN, "tiktok_shop")
    assert parcel.attempts == 2 and parcel.status == "delivery_failed"
    # The raw record of each of the line's records is the whole document.
    assert desk.raw_record(the_id, 1) == desk.raw_record(the_id, 1, 3) == _webhook(TN, SCANS)


def test_the_same_checkpoints_in_another_document_are_already_applied(desk):
    """A source key is the checkpoint's identity, not its place in the document: the
    history resent in another order (with a new checkpoint first) applies only the new one."""
    run_import(desk, as_csv([registration(TN)]))
    desk.run(_aftership(desk, _webhook(TN, SCANS)))
    later = [("2026-03-03T10:00:00+08:00", "InTransit", "InTransit_002"), *SCANS[::-1]]
    again = _aftership(desk, _webhook(TN, later))
    desk.run(again)
    assert [r["outcome"] for r in desk.lines(again)] == [
        "ignored", "already_applied", "already_applied", "already_applied"]
    assert desk.ledger.find_parcel(TN, "tiktok_shop").attempts == 2


def test_a_stop_between_staging_transactions_inside_a_line_loses_none_of_its_records(
        desk, monkeypatch):
    """Two records per staging transaction, so the boundary falls inside the document's
    line; the worker stops there and a resume stages the rest of that line."""
    run_import(desk, as_csv([registration(TN)]))
    monkeypatch.setattr(engine, "STAGE_LINES", 2)
    the_id = _aftership(desk, _webhook(TN, SCANS))
    stopped = desk.run(the_id, stopping=lambda: True)
    assert stopped.status == "staging"
    assert [r["record_no"] for r in desk.lines(the_id)] == [1, 2]
    assert desk.resume() == [the_id]
    rows = list(desk.lines(the_id))
    assert [(r["record_no"], r["outcome"]) for r in rows] == [
        (1, "applied"), (2, "applied"), (3, "applied")], rows
    assert desk.ledger.find_parcel(TN, "tiktok_shop").status == "delivery_failed"


def test_a_crash_between_staging_transactions_inside_a_line_loses_none(desk, monkeypatch):
    """The store goes away after the first staging transaction (a crash there): the next
    run stages the line again from its start, keeping the rows already stored."""
    run_import(desk, as_csv([registration(TN)]))
    monkeypatch.setattr(engine, "STAGE_LINES", 2)
    the_id = _aftership(desk, _webhook(TN, SCANS))
    stage, calls = desk.store.stage, []

    def crashing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt("crash")  # neither a store error nor a stop
        return stage(*args, **kwargs)

    monkeypatch.setattr(desk.store, "stage", crashing)
    try:
        desk.run(the_id)
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(desk.store, "stage", stage)
    desk.resume()
    assert [(r["record_no"], r["outcome"]) for r in desk.lines(the_id)] == [
        (1, "applied"), (2, "applied"), (3, "applied")]


def test_a_long_document_seals_its_raw_record_once(desk):
    """A document of many checkpoints keeps its raw bytes once, not once per checkpoint
    (a 1 MiB webhook of 10,000 checkpoints would otherwise store 10 GB)."""
    scans = [(f"2026-03-04T{h:02d}:{m:02d}:00+08:00", "InTransit", "InTransit_002")
             for h in range(10) for m in range(60)]
    data = _webhook(TN, scans)
    the_id = _aftership(desk, data)
    desk.run(the_id)
    assert desk.get(the_id).counts == {"ignored": 600}
    stored = sum(len(r["raw"]) for r in desk.store.get_line(the_id, 1))
    assert stored < 3 * len(data), stored
    assert desk.raw_record(the_id, 1) == data


def test_lz1_an_erased_document_reads_erased_for_every_record_and_its_events_verify(desk):
    """The document's raw bytes are kept once: erasing the import's subject shreds them
    for each of the line's records; the hashes stay, in the rows and in the events."""
    import hashlib

    run_import(desk, as_csv([registration(TN)]))
    data = _webhook(TN, SCANS)
    the_id = _aftership(desk, data)
    desk.run(the_id)
    assert desk.ledger.vault.erase(f"import:{the_id}")
    assert [desk.raw_record(the_id, 1, n) for n in (1, 2, 3)] == [None, None, None]
    digest = hashlib.sha256(data).hexdigest()
    assert {r["raw_sha256"] for r in desk.lines(the_id)} == {digest}
    parcel = desk.ledger.find_parcel(TN, "tiktok_shop")
    sources = [e.source for e in desk.ledger.events.get(parcel.id) if e.source]
    assert [s["sha256"] for s in sources if s["import"] == the_id] == [digest] * 3
    if desk.ledger.env.get("PERSISTENCE_MODULE", "").endswith("popo"):
        return  # the audit reads a stored event table (SQLite, PostgreSQL)
    from application.audit.verification import LedgerAudit

    assert LedgerAudit(desk.ledger).verify_parcel(parcel.id).ok


def _edit_raw(desk, the_id: str, line_no: int, raw: str) -> None:
    """A database edited by hand: one line's stored raw record replaced."""
    desk.store._write("UPDATE {p}ledger_import_lines SET raw = ? WHERE import_id = ? AND "
                      "line_no = ? AND part = 0", [(raw, the_id, line_no)])


def test_a_raw_record_edited_by_hand_is_refused_not_shown_as_what_the_ledger_was_told(desk):
    """The row's (and the event's) SHA-256 is what the ledger was told: a raw record that
    does not hash to it, another line's sealed bytes moved onto this one or bytes written
    in the clear, is reported as tampered, never printed as the record."""
    import base64

    from application.imports.views import RawRecordTamperedError

    view = run_import(desk, as_csv([registration(TN), registration("TN-OTHER-2")]))
    the_id = str(view.id)
    line_3 = desk.store.get_line(the_id, 3)[0]["raw"]
    _edit_raw(desk, the_id, 2, line_3)
    try:
        desk.raw_record(the_id, 2)
    except RawRecordTamperedError as error:
        assert "line 2" in error.detail
    else:
        raise AssertionError("another line's raw record was shown as line 2's")
    _edit_raw(desk, the_id, 2, "plain:" + base64.b64encode(b"forged").decode())
    try:
        desk.raw_record(the_id, 2)
    except RawRecordTamperedError:
        pass
    else:
        raise AssertionError("a raw record written by hand was shown")
    assert desk.raw_record(the_id, 3) is not None  # the untouched line reads as it was

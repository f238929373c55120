"""The readers against bad files: wrong encoding, byte order marks, mixed line ends, missing
columns, formula-like cells, broken quoting and JSON, times without a zone; scans out of
order and twice (the mappers are pure and keep the business time for the engine)."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator

import pytest

from application.imports.formats import (
    aftership,
    amazon_returns,
    lazada,
    tiktok_shop,
    trackingmore,
)
from application.imports.model import SourceRecord, UnreadableRecordError

HEADER = b"slug,tracking_number,checkpoint_time,tag,subtag"


def read(format_, data: bytes) -> list:
    return list(format_.read(io.BytesIO(data)))


def good(found: list) -> list[SourceRecord]:
    return [r for r in found if isinstance(r, SourceRecord)]


def bad(found: list) -> list[tuple[int, bytes, UnreadableRecordError]]:
    return [r for r in found if not isinstance(r, SourceRecord)]


def scan(tracking: str = "JTMY1", when: str = "2026-03-04T10:00:00+08:00",
         tag: str = "AttemptFail", subtag: str = "AttemptFail_001") -> bytes:
    return f"jt-express,{tracking},{when},{tag},{subtag}".encode()


def test_bom_and_mixed_line_ends_are_read():
    data = (b"\xef\xbb\xbf" + HEADER + b"\r\n" + scan("A1") + b"\n" + scan("A2") + b"\r"
            + scan("A3") + b"\r\n")
    records = good(read(aftership.FORMAT, data))
    assert [r.fields["tracking_number"] for r in records] == ["A1", "A2", "A3"]
    assert [r.line_no for r in records] == [2, 3, 4]
    assert records[0].raw == scan("A1")  # the raw record, without its line end


def test_a_line_in_another_encoding_is_unreadable_alone():
    latin1 = "jt-express,JTMY9,2026-03-04T10:00:00+08:00,AttemptFail,Caf\xe9".encode("latin-1")
    found = read(aftership.FORMAT, HEADER + b"\n" + scan("A1") + b"\n" + latin1 + b"\n"
                 + scan("A3") + b"\n")
    assert [r.fields["tracking_number"] for r in good(found)] == ["A1", "A3"]
    [(line_no, raw, error)] = bad(found)
    assert line_no == 3 and raw == latin1 and "not UTF-8" in str(error)


def test_a_utf16_file_is_unreadable_not_a_crash():
    found = read(aftership.FORMAT, (HEADER + b"\n" + scan() + b"\n").decode().encode("utf-16"))
    assert found and not good(found)
    assert all("UTF-8" in str(error) for _, _, error in bad(found))


def test_missing_columns_make_every_row_unreadable_naming_them():
    found = read(aftership.FORMAT, b"slug,tracking_number,tag\njt,A1,Delivered\njt,A2,Delivered\n")
    assert not good(found) and len(bad(found)) == 2
    assert all("checkpoint_time, subtag" in str(e) for _, _, e in bad(found))


def test_more_values_than_columns_is_unreadable():
    found = read(aftership.FORMAT, HEADER + b"\n" + scan() + b",extra\n")
    [(_, _, error)] = bad(found)
    assert "6 values for 5 columns" in str(error)


@pytest.mark.parametrize("cell", ["=1+2", "+60123456", "-2+3", "@SUM(A1:A9)", "=HYPERLINK(\"x\")"])
def test_formula_like_tracking_numbers_are_refused_as_data(cell):
    """A formula in a tracking number is data: refused, never evaluated nor passed on."""
    quoted = cell.replace('"', '""')
    data = HEADER + b"\n" + f'jt-express,"{quoted}",2026-03-04T10:00:00+08:00,Delivered,\n'.encode()
    [record] = good(read(aftership.FORMAT, data))
    assert record.fields["tracking_number"] == cell  # read literally
    with pytest.raises(UnreadableRecordError, match="formula"):
        aftership.FORMAT.map(record)


def test_a_formula_in_a_free_text_column_never_reaches_a_command():
    data = (b"slug,tracking_number,checkpoint_time,tag,subtag,message\n"
            + scan() + b',"=cmd|\'/c calc\'!A1"\n')
    [record] = good(read(aftership.FORMAT, data))
    [command] = aftership.FORMAT.map(record).commands
    assert "=" not in str(command.body)


def test_a_quoted_field_may_hold_line_breaks():
    data = (b"slug,tracking_number,checkpoint_time,tag,subtag,message\n"
            + scan("A1") + b',"left at\r\nthe door"\n' + scan("A2") + b",ok\n")
    records = good(read(aftership.FORMAT, data))
    assert [r.line_no for r in records] == [2, 4]
    assert records[0].raw == scan("A1") + b',"left at\nthe door"'
    assert aftership.FORMAT.map(records[0]).commands[0].command == "delivery-attempts"


def test_a_quote_left_open_is_unreadable_at_the_end():
    found = read(aftership.FORMAT, HEADER + b"\n" + scan("A1") + b'"\n' + scan("A2") + b"\n")
    assert not good(found)
    [(line_no, _, error)] = bad(found)
    assert line_no == 2 and "quoted field" in str(error)


@pytest.mark.parametrize("when", ["2026-03-04T10:00:00", "2026-03-04", "04/03/2026 10:00",
                                  "1899-01-01T00:00:00+00:00", ""])
def test_a_time_without_zone_or_out_of_range_is_unreadable(when):
    [record] = good(read(aftership.FORMAT, HEADER + b"\n" + scan(when=when) + b"\n"))
    with pytest.raises(UnreadableRecordError, match="checkpoint_time"):
        aftership.FORMAT.map(record)


def test_a_subtag_of_another_tag_is_unreadable():
    [record] = good(read(aftership.FORMAT, HEADER + b"\n"
                         + scan(tag="Delivered", subtag="Exception_003") + b"\n"))
    with pytest.raises(UnreadableRecordError, match="does not belong"):
        aftership.FORMAT.map(record)


def test_empty_and_blank_files_have_no_records():
    assert read(aftership.FORMAT, b"") == []
    assert read(aftership.FORMAT, b"\r\n\n") == []
    assert read(aftership.FORMAT, HEADER + b"\n\n\n") == []


def test_tt7_out_of_order_and_duplicated_scans_carry_their_business_time():
    """The mapper is pure: a late scan keeps its own time (TT-7's last attempt is the
    latest by business time) and a duplicate, in any zone, has the same source identity."""
    lines = [scan("A1", "2026-03-06T10:00:00+08:00", "AttemptFail", "AttemptFail_003"),
             scan("A1", "2026-03-04T10:00:00+08:00"),
             scan("A1", "2026-03-04T02:00:00Z"),  # the same scan, written in UTC
             scan("A1", "2026-03-04T10:00:00+08:00")]
    mapped = [aftership.FORMAT.map(r)
              for r in good(read(aftership.FORMAT, HEADER + b"\n" + b"\n".join(lines)))]
    times = [m.commands[0].occurred_at for m in mapped]
    assert times[0] > times[1] == times[2] == times[3]
    assert mapped[1].source_key == mapped[2].source_key == mapped[3].source_key
    assert mapped[0].source_key != mapped[1].source_key


def test_the_same_checkpoint_from_another_carrier_or_status_is_another_record():
    base = aftership.FORMAT.map(good(read(aftership.FORMAT, HEADER + b"\n" + scan()))[0])
    other = b"dhl," + scan()[len(b"jt-express,"):]
    assert aftership.FORMAT.map(good(read(aftership.FORMAT, HEADER + b"\n" + other))[0]
                                ).source_key != base.source_key


def test_webhook_json_lines_with_a_broken_line_in_the_middle():
    delivery = (b'{"msg": {"slug": "jt", "tracking_number": "A1", "checkpoints": '
                b'[{"checkpoint_time": "2026-03-04T10:00:00+08:00", "tag": "Delivered", '
                b'"subtag": "Delivered_001"}]}}')
    found = read(aftership.FORMAT, delivery + b"\n{not json\n" + delivery + b"\n[1]\n")
    assert [r.line_no for r in good(found)] == [1, 3]
    assert [line for line, _, _ in bad(found)] == [2, 4]
    assert all(r.raw == delivery for r in good(found))


def test_a_pretty_printed_webhook_is_one_document():
    doc = (b'{\n  "msg": {\n    "slug": "jt", "tracking_number": "A1",\n    "checkpoints": [\n'
           b'      {"checkpoint_time": "2026-03-04T10:00:00+08:00", "tag": "Exception", '
           b'"subtag": "Exception_003"}\n    ]\n  }\n}\n')
    [record] = good(read(aftership.FORMAT, b"\xef\xbb\xbf" + doc))
    [command] = aftership.FORMAT.map(record).commands
    assert command.command == "delivery-failures" and command.body["reason"] == "refused"


def test_a_webhook_of_the_wrong_shape_is_unreadable():
    for body in (b'{"msg": {"checkpoints": "nope"}}', b'{"msg": []}', b'[1]'):
        found = read(aftership.FORMAT, body)
        assert not good(found) and len(bad(found)) == 1


def test_trackingmore_same_scan_in_both_legs_is_one_source_identity():
    with open("docs/examples/imports/trackingmore-webhook.json", "rb") as stream:
        keys = [trackingmore.FORMAT.map(r).source_key
                for r in good(list(trackingmore.FORMAT.read(stream)))]
    assert len(keys) == 3 and len(set(keys)) == 2


def test_an_open_file_reads_like_bytes_in_memory():
    with open("docs/examples/imports/aftership.csv", "rb") as stream:
        from_file = [r.fields for r in good(list(aftership.FORMAT.read(stream)))]
    with open("docs/examples/imports/aftership.csv", "rb") as stream:
        from_memory = [r.fields for r in good(read(aftership.FORMAT, stream.read()))]
    assert from_file == from_memory and len(from_file) == 6


def test_amazon_snapshot_of_a_later_day_repeats_only_known_stages():
    """The same RMA, Pending one day and delivered back the next: the stages already
    imported have the same identity (already applied), only the new ones are new."""
    header = (b"Order ID\tReturn request date\tReturn request status\tAmazon RMA ID\t"
              b"Tracking ID\tReturn carrier\tReturn delivery date\tLabel to be paid by\n")
    day1 = header + b"403-1\t2026-03-04T02:00:00+00:00\tPending\tRMA1\t\t\t\tCustomer\n"
    day2 = (header + b"403-1\t2026-03-04T02:00:00+00:00\tClosed\tRMA1\t1Z9\tUPS\t"
            b"2026-03-09T07:30:00+00:00\tCustomer\n")
    keys1 = [amazon_returns.FORMAT.map(r).source_key for r in good(read(
        amazon_returns.FORMAT, day1))]
    keys2 = [amazon_returns.FORMAT.map(r).source_key for r in good(read(
        amazon_returns.FORMAT, day2))]
    assert keys1 == keys2[:1] and len(keys2) == 4 and len(set(keys2)) == 4


def test_amazon_unknown_status_is_one_record_reported_unmapped():
    data = (b"Order ID\tReturn request date\tReturn request status\tAmazon RMA ID\n"
            b"403-1\t2026-03-04T02:00:00+00:00\tEscalated\tRMA1\n")
    [record] = good(read(amazon_returns.FORMAT, data))
    from application.imports.model import UnmappedStatusError
    with pytest.raises(UnmappedStatusError):
        amazon_returns.FORMAT.map(record)


def test_amazon_bad_money_and_currency_are_unreadable():
    header = (b"Order ID\tReturn request date\tReturn request status\tAmazon RMA ID\t"
              b"Label to be paid by\tLabel cost\tCurrency code\n")
    for cost, currency in ((b"seven", b"USD"), (b"7.50", b"XXX1")):
        data = header + b"403-1\t2026-03-04T02:00:00+00:00\tPending\tRMA1\tSeller\t" + \
            cost + b"\t" + currency + b"\n"
        [record] = good(read(amazon_returns.FORMAT, data))
        with pytest.raises(UnreadableRecordError):
            amazon_returns.FORMAT.map(record)


def test_amazon_yen_label_cost_has_no_decimals():
    data = (b"Order ID\tReturn request date\tReturn request status\tAmazon RMA ID\t"
            b"Label to be paid by\tLabel cost\tCurrency code\n"
            b"250-1\t2026-03-04T02:00:00+09:00\tPending\tRMA1\tSeller\t500\tJPY\n")
    [record] = good(read(amazon_returns.FORMAT, data))
    [command] = amazon_returns.FORMAT.map(record).commands
    assert command.body["return_shipping_cost"] == {"amount": "500", "currency": "JPY"}


def test_lazada_line_exported_again_later_repeats_only_known_statuses():
    header = (b"reverse_order_id,reverse_order_line_id,trade_order_id,request_type,"
              b"reverse_status,ofc_status,whqc_decision,return_order_line_gmt_create,"
              b"return_order_line_gmt_modified\n")
    day1 = header + b"9,19,29,RETURN,REQUEST_INITIATE,INITIAL,,1773104400,1773104400\n"
    day2 = header + b"9,19,29,RETURN,REQUEST_INITIATE,RETURN_RTM_DELIVERED," \
                    b"return_to_merchant,1773104400,1773550800\n"
    keys1 = [lazada.FORMAT.map(r).source_key for r in good(read(lazada.FORMAT, day1))]
    mapped2 = [lazada.FORMAT.map(r) for r in good(read(lazada.FORMAT, day2))]
    assert keys1[0] == mapped2[0].source_key
    # The QC's route comes before the receipt, at the same business time.
    assert [c.command for m in mapped2 for c in m.commands] == [
        "return-requests", "routes", "receipts"]


def test_lazada_push_of_another_message_type_is_unmapped():
    from application.imports.model import UnmappedStatusError
    [record] = good(read(lazada.FORMAT, b'{"message_type": 0, "data": {"reverse_order_id": 1,'
                         b' "reverse_order_line_id": 2, "trade_order_id": 3, '
                         b'"reverse_status": "unpaid", "status_update_time": 1773104400}}'))
    with pytest.raises(UnmappedStatusError, match="message_type 0"):
        lazada.FORMAT.map(record)


def test_lazada_milliseconds_and_seconds_are_the_same_instant():
    base = {"reverse_order_id": "9", "reverse_order_line_id": "19", "trade_order_id": "29",
            "request_type": "RETURN", "reverse_status": "REQUEST_INITIATE",
            "status_field": "reverse_status"}
    seconds = lazada.FORMAT.map(SourceRecord(2, {**base, "return_order_line_gmt_create":
                                                 "1773104400"}, b""))
    millis = lazada.FORMAT.map(SourceRecord(2, {**base, "return_order_line_gmt_create":
                                                "1773104400000"}, b""))
    assert seconds.commands[0].occurred_at == millis.commands[0].occurred_at


def test_tiktok_seller_fault_must_be_a_flag():
    data = (b"return_id,order_id,return_type,return_status,update_time,seller_fault\n"
            b"1,2,RETURN_AND_REFUND,RETURN_OR_REFUND_REQUEST_PENDING,1773104400,perhaps\n")
    [record] = good(read(tiktok_shop.FORMAT, data))
    with pytest.raises(UnreadableRecordError, match="seller_fault"):
        tiktok_shop.FORMAT.map(record)


class _Lines(io.RawIOBase):
    """A file of scans made as it is read: nothing of it is in memory beforehand."""

    def __init__(self, count: int) -> None:
        self.rows: Iterator[bytes] = (
            HEADER + b"\n" if i == 0 else scan(f"T{i}") + b"\n" for i in range(count))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = next(self.rows, b"")
        buffer[:len(chunk)] = chunk
        return len(chunk)


def _peak_reading(count_lines: int) -> int:
    tracemalloc.start()
    count = 0
    for record in aftership.FORMAT.read(io.BufferedReader(_Lines(count_lines))):
        aftership.FORMAT.map(record)
        count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == count_lines - 1
    return peak


def test_reading_stays_flat_however_long_the_file():
    """Scans read (and mapped) one at a time: ten times the lines is not ten times the
    memory."""
    small, large = _peak_reading(1_000), _peak_reading(10_000)
    assert large < small * 1.5 + 20_000


class _Unpeekable(io.RawIOBase):
    """A pipe-like stream: no peek, no seek."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.data.read(min(len(buffer), 7))
        buffer[:len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("wrap", [io.BytesIO, lambda d: io.BufferedReader(_Unpeekable(d)),
                                  _Unpeekable])
def test_any_binary_stream_reads_the_same(wrap):
    """A short header read ahead (64 bytes, here spanning two lines) is served again."""
    data = b"slug,tracking_number,checkpoint_time,tag,subtag\n" + scan("A1") + b"\n" + scan("A2")
    records = good(list(aftership.FORMAT.read(wrap(data))))
    assert [r.fields["tracking_number"] for r in records] == ["A1", "A2"]


def test_a_line_of_gigabytes_is_unreadable_alone_and_never_held(monkeypatch):
    """A line beyond the limit (8 MiB; 64 KiB here to keep the test quick) is one
    unreadable line, read past in bounded pieces; the lines after it are read."""
    from application.imports.formats import tabular
    monkeypatch.setattr(tabular, "MAX_LINE_BYTES", 64 * 1024)
    huge = b"jt-express," + b"9" * (5 * 1024 * 1024)
    data = HEADER + b"\n" + scan("A1") + b"\n" + huge + b"\n" + scan("A3") + b"\n"
    tracemalloc.start()
    found = list(aftership.FORMAT.read(io.BufferedReader(_Unpeekable(data), 4096)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [r.fields["tracking_number"] for r in good(found)] == ["A1", "A3"]
    [(line_no, raw, error)] = bad(found)
    assert line_no == 3 and len(raw) <= 256 and "longer than 65536 bytes" in str(error)
    assert peak < len(huge) // 2  # the 5 MiB line was never held whole


DELIVERY = (b'{"msg": {"slug": "jt", "tracking_number": "A1", "checkpoints": '
            b'[{"checkpoint_time": "2026-03-04T10:00:00+08:00", "tag": "Delivered", '
            b'"subtag": "Delivered_001"}]}}')


def test_json_lines_whose_first_line_is_broken_still_read_the_others():
    found = read(aftership.FORMAT, b'{"msg": {"slug": "jt",\n' + DELIVERY + b"\n" + DELIVERY)
    assert [r.line_no for r in good(found)] == [2, 3]
    [(line_no, _, error)] = bad(found)
    assert line_no == 1 and "not JSON" in str(error)


def test_a_broken_pretty_printed_document_is_one_unreadable_with_its_position():
    found = read(aftership.FORMAT, b'{\n  "msg": {\n    "slug": "jt",,\n  }\n}\n')
    [(line_no, raw, error)] = found
    assert line_no == 1 and raw.count(b"\n") == 4 and "line 3" in str(error)


def test_a_pretty_printed_document_after_blank_lines_is_one_document():
    doc = DELIVERY.replace(b', "checkpoints"', b',\n "checkpoints"')
    [record] = good(read(aftership.FORMAT, b"\n\r\n" + doc + b"\n"))
    assert aftership.FORMAT.map(record).commands[0].command == "deliveries"

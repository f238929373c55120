"""`python -m bench.settlement_fingerprint --lines N OUT.json`: what a reconciliation gives.

Reconciles varied settlement files (our layout: plain, with platform and seller columns
in another order, tab separated, with a byte order mark, LF line ends; references reused
on several parcels, split and doubled lines, odd amounts and currencies, blank and short
rows, formula-like cells) against varied ledger refunds, through FinanceDesk on a fresh
SQLite ledger, and writes per file: the SHA-256 of the report CSV's bytes, the counts,
totals, digest, lines read and ignored, the run id and ledger state. Run it on two
checkouts (the same N) and compare the two files: a change that keeps them equal keeps
every report byte-identical. CPU seconds per file are given beside (not compared).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from application.finance.reconciliations import FinanceDesk
from application.ledger import ReturnsLedger
from domain.reconciliation import LedgerRefund

AT = datetime(2026, 3, 31, tzinfo=UTC)
CURRENCIES = ["EUR", "EUR", "EUR", "MYR", "JPY", "USD"]
PLATFORMS = ["amazon", "lazada", "tiktok_shop"]


def ledger(n_lines):
    rows = []
    for n in range(n_lines + n_lines // 100):
        cur = CURRENCIES[n % 6]
        status = "issued"
        if n % 53 == 0:
            status = "failed"
        elif n % 71 == 0:
            status = "waiting_approval"
        elif n % 83 == 0:
            status = "reversed"
        ref = f"R-{n:07d}"
        if n % 997 == 0:
            ref = f"=R-{n:07d}"  # a formula-looking reference
        rows.append(LedgerRefund(ref, f"p-{n}", f"O-{n}" if n % 13 else "", f"seller-{n % 7}",
                                 PLATFORMS[n % 3], cur, 1000 + n % 50000 if cur != "JPY"
                                 else 10 + n % 5000, status))
        if n % 37 == 0:  # the same reference on another parcel (another platform/seller)
            rows.append(LedgerRefund(ref, f"q-{n}", f"O2-{n}", f"seller-{(n + 1) % 7}",
                                     PLATFORMS[(n + 1) % 3], cur, 1000 + n % 50000
                                     if cur != "JPY" else 10 + n % 5000,
                                     "issued" if n % 74 else "failed"))
        if n % 111 == 0:  # the same reference, same platform and seller: ambiguous
            rows.append(LedgerRefund(ref, f"s-{n}", f"O3-{n}", f"seller-{n % 7}",
                                     PLATFORMS[n % 3], cur, 500, "issued"))
    rows.sort(key=lambda r: (r.reference, r.parcel_id))
    return rows


def amount_text(units, cur):
    if cur == "JPY":
        return str(units)
    return f"{units // 100}.{units % 100:02d}"


ODD_AMOUNTS = ["12.345", "abc", "", " 7.10 ", "+5.00", "1e3", "5", "5.5", "-3.00", ".50",
               "1,234.50", "9999999999999999", "99999999999999.99", "\u00a012.30", "0.001",
               "-0.00", "١٠.٠٠", "12.3000", "007.05"]


def settlement(path, n_lines, variant):
    with path.open("w", newline="", encoding="utf-8") as out:
        if variant == "bom":
            out.write("\ufeff")
        delim = "\t" if variant == "tab" else ","
        w = csv.writer(out, delimiter=delim,
                       lineterminator="\n" if variant == "lf" else "\r\n")
        header = ["reference", "currency", "amount", "order_id", "kind"]
        if variant != "plain":
            header = ["kind", "seller_id", "reference", "amount", "currency", "platform",
                      "order_id", "extra"]
        w.writerow(header)
        n = 0
        while n < n_lines:
            cur = CURRENCIES[n % 6]
            units = 1000 + n % 50000 if cur != "JPY" else 10 + n % 5000
            ref = f"R-{n:07d}"
            if n % 997 == 0:
                ref = f"=R-{n:07d}"
            if n % 101 == 0:
                ref = f"X-{n:07d}"
            if n % 97 == 0:
                units -= 1
            if n % 89 == 0:
                cur = "USD" if cur != "USD" else "EUR"
            if n % 211 == 0:
                cur = cur.lower() if n % 2 else f" {cur} "
            amount = amount_text(units, cur.strip().upper())
            if n % 743 == 0:
                cur = "XXX" if n % 2 else "E"
            if n % 173 == 0:
                amount = ODD_AMOUNTS[(n // 173) % len(ODD_AMOUNTS)]
            if n % 401 == 0:
                ref = "" if n % 2 else "   "
            platform, seller = "", ""
            if n % 37 == 0:
                platform = PLATFORMS[n % 3] if n % 74 else ""
                seller = f"seller-{n % 7}" if n % 3 else ""
            if n % 333 == 0:
                platform = " " + PLATFORMS[(n + 2) % 3]
            order = f"O-{n}" if n % 17 else ""
            if n % 229 == 0:
                order = f'O,"{n}"\nx'
            kind = "item" if n % 19 else ""
            if n % 503 == 0 and variant != "plain":
                w.writerow(["", "", "", " ", "", "", "", ""])
                n += 1
                continue
            if n % 509 == 0 and variant != "plain":
                w.writerow([ref, cur])  # a short row
                n += 1
                continue
            rows = [(amount, kind)]
            if n % 50 == 0 and n + 1 < n_lines:
                code = cur.strip().upper() if cur != "XXX" else "EUR"
                rows = [(amount_text(max(units - 500, 0), code), "item"),
                        ("5.00" if code != "JPY" else "500", "shipping")]
            if n % 61 == 0:
                rows.append((amount, "item"))  # settled twice
            for i, (a, k) in enumerate(rows):
                o = "" if (i == 0 and n % 3 == 0) else order
                values = {"reference": ref, "currency": cur, "amount": a, "order_id": o,
                          "kind": k, "platform": platform, "seller_id": seller,
                          "extra": "x" if n % 5 else ""}
                w.writerow([values[h] for h in header])
            n += len(rows) if len(rows) > 1 else 1


def run(tree_out, work, n_lines):
    refunds = ledger(n_lines)
    summary = {}
    for variant in ("plain", "cols", "tab", "bom", "lf"):
        path = work / f"settlement-{variant}.csv"
        settlement(path, n_lines if variant in ("plain", "cols") else n_lines // 10, variant)
        led = ReturnsLedger({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                             "SQLITE_DBNAME": str(work / f"ledger-{variant}-{time.time_ns()}.db"),
                             "PERSONAL_DATA_KEY": "a" * 43 + "="})
        desk = FinanceDesk(led, lambda: iter(refunds), spool=work)
        cpu = time.process_time()
        with path.open("rb") as stream:
            result = desk.reconcile(stream, path.name, AT, "check")
        report = work / f"report-{variant}.csv"
        with report.open("w", newline="", encoding="utf-8") as out:
            desk.write_report(result.id, out)
        cpu = time.process_time() - cpu
        again = desk.reconcile(path.open("rb"), path.name, AT, "check")
        assert again.already_recorded and again.id == result.id
        summary[variant] = {
            "report_sha256": hashlib.sha256(report.read_bytes()).hexdigest(),
            "report_bytes": report.stat().st_size,
            "counts": result.counts, "totals": result.totals, "digest": result.digest,
            "lines_read": result.lines_read, "lines_ignored": result.lines_ignored,
            "ledger_refunds": result.ledger_refunds, "id": str(result.id),
            "ledger_state": result.ledger_state, "verify": desk.verify(result.id),
            "cpu_s": round(cpu, 2)}
        led.close()
    Path(tree_out).write_text(json.dumps(summary, indent=1, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.settlement_fingerprint",
                                     description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("out", help="where the JSON summary goes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="settlement-fingerprint-") as tmp:
        run(args.out, Path(tmp), args.lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

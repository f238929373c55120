"""Settlement files: our own columns, and the refund lines of TikTok Shop, Lazada and Amazon.

Every format is read as a stream of rows (csv module; comma or tab separated, detected
from the header line; a UTF-8 byte order mark is ignored). Each row becomes a refund line
(reference, currency, amount as a positive refund), `None` (not a refund line: orders,
fees, summary rows) or an `Unreadable` (a refund line the ledger cannot read).

Assumptions, documented in the README's "For finance" section:
- The platforms show a refund as a debit to the seller (a negative amount); we negate it,
  so a refund of 12.30 is 12.30 on both sides. Our own format takes the refund positive.
- Only the buyer-refund parts count (item price, shipping, return shipping); platform fees,
  commissions, taxes and promotions on the same refund are not in the ledger's refund.
"""

from __future__ import annotations

import csv
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, NamedTuple

from domain.errors import DomainError, InvalidValueError
from domain.money import MINOR_UNITS, parse_amount
from domain.reconciliation import minor

# Beyond this a settlement sum could leave SQLite's 64-bit integers: refuse the line.
MAX_LINE_MINOR = 10**15


class SettlementLine(NamedTuple):
    """One refund line of a settlement file, normalised to our columns."""

    line_no: int
    reference: str
    currency: str
    amount_minor: int
    order_id: str
    kind: str
    platform: str = ""
    seller_id: str = ""


class Unreadable(NamedTuple):
    """A refund line that could not be read, and why."""

    line_no: int
    reference: str
    detail: str


Row = dict[str, str]
Reader = Callable[[Row, "FormatState"], tuple[str, str, str, str, str] | None]


@dataclass
class FormatState:
    """What a format carries from row to row (Amazon gives the currency once)."""

    currency: str = ""


def _ours(row: Row, state: FormatState) -> tuple[str, str, str, str, str] | None:
    return (row.get("reference", ""), row.get("currency", ""), row.get("amount", ""),
            row.get("order_id", ""), row.get("kind", "") or "item")


AMAZON_KINDS = {"principal": "item", "shipping": "shipping",
                "returnshipping": "return_shipping", "return shipping": "return_shipping"}


def _amazon(row: Row, state: FormatState) -> tuple[str, str, str, str, str] | None:
    # Settlement report v2: the first row (the settlement summary) carries the currency.
    state.currency = row.get("currency", "").strip() or state.currency
    if row.get("transaction-type", "").strip().lower() != "refund":
        return None
    if row.get("amount-type", "").strip().lower() != "itemprice":
        return None  # ItemFees, Promotion, ItemWithheldTax: not the buyer's refund
    kind = AMAZON_KINDS.get(row.get("amount-description", "").strip().lower())
    if kind is None:
        return None  # Tax, ShippingTax, GiftWrap...: outside the ledger's components
    reference = row.get("adjustment-id", "").strip() or row.get("order-id", "")
    return reference, state.currency, _negated(row.get("amount", "")), \
        row.get("order-id", ""), kind


def _tiktok_shop(row: Row, state: FormatState) -> tuple[str, str, str, str, str] | None:
    if row.get("Type", "").strip().lower() != "refund":
        return None
    amount = row.get("Refund subtotal after seller discounts", "").strip() or row.get(
        "Total settlement amount", "")
    return (row.get("Order/adjustment ID", ""), row.get("Currency", "") or state.currency,
            _negated(amount), row.get("Order/adjustment ID", ""), "item")


def _lazada(row: Row, state: FormatState) -> tuple[str, str, str, str, str] | None:
    fee = row.get("Fee Name", "").strip().lower()
    if not fee.startswith("reversal"):
        return None
    kind = "item" if "item price" in fee else "shipping" if "shipping" in fee else None
    if kind is None:
        return None  # reversed commissions and fees
    return (row.get("Order Item No.", ""), row.get("Currency", "") or state.currency,
            _negated(row.get("Amount", "")), row.get("Order No.", ""), kind)


def _negated(raw: str) -> str:
    raw = raw.strip().replace(",", "")
    if raw.startswith("-"):
        return raw[1:]
    return f"-{raw}" if raw else raw


@dataclass(frozen=True)
class SettlementFormat:
    """A settlement file layout: the columns that identify it and how a row is read."""

    name: str
    required: frozenset[str]
    read: Reader
    platform: str = ""  # the platform whose file this is; ours: a `platform` column, if any


FORMATS = (
    SettlementFormat("returns_ledger", frozenset({"reference", "currency", "amount"}), _ours),
    SettlementFormat("amazon", frozenset({"transaction-type", "amount-type",
                                          "amount-description", "amount", "order-id"}),
                     _amazon, "amazon"),
    SettlementFormat("tiktok_shop", frozenset({"Order/adjustment ID", "Type"}), _tiktok_shop,
                     "tiktok_shop"),
    SettlementFormat("lazada", frozenset({"Fee Name", "Amount", "Order Item No."}), _lazada,
                     "lazada"),
)


class SettlementFormatError(DomainError):
    """The file is not a settlement layout the ledger knows."""


def detect(header: list[str]) -> SettlementFormat:
    """The format whose required columns the header has."""
    columns = {h.strip() for h in header}
    for candidate in FORMATS:
        if candidate.required <= columns:
            return candidate
    raise SettlementFormatError(
        "unknown settlement layout: expected the columns of one of "
        + "; ".join(f"{f.name} ({', '.join(sorted(f.required))})" for f in FORMATS))


class SettlementFile:
    """A settlement file read row by row: nothing but the current row is in memory."""

    def __init__(self, text: IO[str], currency: str | None = None) -> None:
        first = text.readline()
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        self.header = next(csv.reader([first], delimiter=delimiter), [])
        self.format = detect(self.header)
        self._rows = csv.reader(text, delimiter=delimiter)
        self._state = FormatState(currency or "")
        self.lines_read = 0
        self.lines_ignored = 0

    def __iter__(self) -> Iterator[SettlementLine | Unreadable]:
        if self.format.name == "returns_ledger":
            yield from self._ours()
            return
        names = [h.strip() for h in self.header]
        read, state, platform = self.format.read, self._state, self.format.platform
        for values in self._rows:
            self.lines_read += 1
            line_no = self.lines_read + 1  # the header is line 1
            if not any(v.strip() for v in values):
                self.lines_ignored += 1
                continue
            found = read(dict(zip(names, values, strict=False)), state)
            if found is None:
                self.lines_ignored += 1
                continue
            yield _normalise(line_no, *found, platform, "")

    def _ours(self) -> Iterator[SettlementLine | Unreadable]:
        """Our own layout, read by column position (the long files are ours: no dict per
        row); it may say where the refund was made (`platform`, `seller_id`)."""
        columns = self._our_columns()
        for values in self._rows:
            self.lines_read += 1
            if not any(v.strip() for v in values):
                self.lines_ignored += 1
                continue
            width = len(values)
            reference, currency, amount, order_id, kind, platform, seller = (
                values[i] if 0 <= i < width else "" for i in columns)
            yield _normalise(self.lines_read + 1, reference, currency, amount, order_id,
                             kind or "item", platform.strip(), seller.strip())

    def _our_columns(self) -> list[int]:
        names = [h.strip() for h in self.header]
        return [names.index(n) if n in names else -1 for n in (
            "reference", "currency", "amount", "order_id", "kind", "platform", "seller_id")]

    def batches(self, size: int) -> Iterator[tuple[list[Settled], list[Unreadable]]]:
        """The refund lines as iterating gives them, in batches of at most `size` readable
        ones (and the unreadable ones among them), each readable line as a `Settled` row.

        Our own layout (the long files) is read here by a loop of its own that decides a
        plain line (a reference, a known currency, an amount with exactly the currency's
        decimals) without a call per column; any other line goes the way iterating
        takes it. tests/property/test_report_comparison.py holds the two equal."""
        if self.format.name != "returns_ledger":
            yield from _batched(self, size)
            return
        columns = self._our_columns()
        need = max(columns) + 1
        pick = operator.itemgetter(*columns)
        exact = {c: _EXACT[p] for c, p in MINOR_UNITS.items() if p in _EXACT}
        good: list[Settled] = []
        bad: list[Unreadable] = []
        for values in self._rows:
            self.lines_read += 1
            line_no = self.lines_read + 1  # the header is line 1
            if len(values) >= need:
                values.append("")  # what an absent column (index -1) reads
                reference, currency, amount, order_id, kind, platform, seller = pick(values)
            else:
                reference, currency, amount, order_id, kind, platform, seller = (
                    values[i] if 0 <= i < len(values) else "" for i in columns)
            ref = reference.strip()
            if not ref:
                if not "".join(values).strip():  # a blank line
                    self.lines_ignored += 1
                    continue
                bad.append(Unreadable(line_no, "", "no refund reference"))
            else:
                code = currency.strip().upper()
                plain = exact.get(code)
                text = amount.strip()
                if plain is not None and plain(text) is not None:
                    units = int(text.replace(".", "", 1))
                    if -MAX_LINE_MINOR < units < MAX_LINE_MINOR:
                        good.append((ref, platform.strip(), seller.strip(), code, units,
                                     line_no, order_id.strip()))
                    else:
                        bad.append(Unreadable(line_no, ref, _BEYOND))
                else:
                    found = _normalise(line_no, reference, currency, amount, order_id,
                                       kind or "item", platform.strip(), seller.strip())
                    if isinstance(found, Unreadable):
                        bad.append(found)
                    else:
                        good.append(_settled(found))
            if len(good) >= size or len(bad) >= size:
                yield good, bad
                good, bad = [], []
        if good or bad:
            yield good, bad


# A refund line as the scratch database sums it: reference, platform, seller, currency,
# amount in minor units, line number, order id.
Settled = tuple[str, str, str, str, int, int, str]
# An amount with exactly the currency's decimals, per number of decimals (after strip()).
_EXACT = {0: re.compile(r"-?[0-9]{1,15}").fullmatch,
          2: re.compile(r"-?[0-9]{1,15}\.[0-9]{2}").fullmatch}
_BEYOND = "amount beyond what a refund line can be"


def _settled(line: SettlementLine) -> Settled:
    return (line.reference, line.platform, line.seller_id, line.currency, line.amount_minor,
            line.line_no, line.order_id)


def _batched(lines: Iterable[SettlementLine | Unreadable], size: int,
             ) -> Iterator[tuple[list[Settled], list[Unreadable]]]:
    good: list[Settled] = []
    bad: list[Unreadable] = []
    for line in lines:
        if isinstance(line, Unreadable):
            bad.append(line)
        else:
            good.append(_settled(line))
        if len(good) >= size or len(bad) >= size:
            yield good, bad
            good, bad = [], []
    if good or bad:
        yield good, bad


_PLAIN = re.compile(r"^(-?)([0-9]{1,15})(?:\.([0-9]{1,4}))?$")


def _units(amount: str, currency: str) -> int:
    """Minor units of a plain decimal string, without Decimal (the common case, fast);
    anything else through the exact Decimal path, which refuses what is not money."""
    plain = _PLAIN.match(amount.strip())
    places = MINOR_UNITS.get(currency)
    if plain is None or places is None or len(plain.group(3) or "") > places:
        return minor(parse_amount(amount), currency)
    sign, whole, fraction = plain.groups()
    units = int(whole) * 10 ** places + int((fraction or "").ljust(places, "0") or 0)
    return -units if sign else units


def _normalise(line_no: int, reference: str, currency: str, amount: str, order_id: str,
               kind: str, platform: str = "", seller_id: str = "",
               ) -> SettlementLine | Unreadable:
    reference = reference.strip()
    if not reference:
        return Unreadable(line_no, "", "no refund reference")
    currency = currency.strip().upper()
    try:
        units = _units(amount, currency)
    except InvalidValueError as error:
        return Unreadable(line_no, reference, error.detail)
    if abs(units) >= MAX_LINE_MINOR:
        return Unreadable(line_no, reference, _BEYOND)
    return SettlementLine(line_no, reference, currency, units, order_id.strip(), kind,
                          platform, seller_id)

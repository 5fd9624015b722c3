"""Invoice PDFs: an A4 page (more when the lines overflow, the table header repeated).

Drawn directly on reportlab's canvas (its layout engine, platypus, was 5× slower for the same page)
in DejaVu Sans, shipped in invoicing/fonts and embedded as a subset in every PDF, so names like
"Łódź", "Müller", "José" or "Ørsted" print as written and stay extractable as text.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from invoicing.party import Party

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"
WIDTH, HEIGHT = A4
LEFT, RIGHT, TOP, BOTTOM = 18 * mm, WIDTH - 18 * mm, HEIGHT - 16 * mm, 22 * mm
SIZE, LEADING = 8.5, 11.5
# Table columns: (title, right edge or left edge, aligned right?)
DESCRIPTION_WIDTH = 80 * mm
COLUMNS = (("Description", LEFT, False), ("Quantity", LEFT + 103 * mm, True), ("Unit price", LEFT + 128 * mm, True),
           ("Tax %", LEFT + 145 * mm, True), ("Amount", RIGHT, True))


@dataclass(frozen=True)
class PdfLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    amount: Decimal


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything printed on an invoice, already computed."""

    number: str
    seller: Party
    buyer: Party
    currency: str
    issue_date: date
    due_date: date
    lines: tuple[PdfLine, ...]
    taxes: tuple[tuple[Decimal, Decimal, Decimal], ...]  # (rate, base, tax)
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    notes: str = ""


@lru_cache(maxsize=1)
def register_fonts() -> None:
    """Register the embedded Unicode font once per process."""
    pdfmetrics.registerFont(TTFont(REGULAR, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))


def plain(value: Decimal) -> str:
    """A quantity, price or rate without trailing zeros: 2, 12.3456, 5.5."""
    return format(value.normalize(), "f")


def money(value: Decimal) -> str:
    return f"{value:,}"


class _Page:
    """A canvas with a cursor: text flows down, a new page starts when it reaches the bottom."""

    def __init__(self, canvas: Canvas, doc: InvoiceDocument, fonts: tuple[str, str]) -> None:
        self.canvas, self.doc, self.y = canvas, doc, TOP
        self.regular, self.bold = fonts

    def text(self, x: float, value: str, *, bold: bool = False, size: float = SIZE, right: bool = False) -> None:
        self.canvas.setFont(self.bold if bold else self.regular, size)
        (self.canvas.drawRightString if right else self.canvas.drawString)(x, self.y, value)

    def down(self, amount: float = LEADING) -> None:
        self.y -= amount

    def footer(self) -> None:
        self.canvas.setFont(self.regular, 7.5)
        self.canvas.drawRightString(RIGHT, 10 * mm, f"{self.doc.number} · page {self.canvas.getPageNumber()}")

    def new_page(self) -> None:
        self.footer()
        self.canvas.showPage()
        self.y = TOP

    def ensure(self, height: float, *, table_header: bool = False) -> None:
        if self.y - height < BOTTOM:
            self.new_page()
            if table_header:
                self.table_header()

    def table_header(self) -> None:
        for title, x, right in COLUMNS:
            self.text(x, title + (f" ({self.doc.currency})" if title == "Amount" else ""), bold=True, right=right)
        self.down(3)
        self.canvas.setLineWidth(0.8)
        self.canvas.line(LEFT, self.y, RIGHT, self.y)
        self.down(LEADING)


def _heading(page: _Page, doc: InvoiceDocument) -> None:
    page.text(LEFT, "Invoice", bold=True, size=18)
    page.text(RIGHT, f"Invoice {doc.number}", bold=True, right=True)
    page.down(LEADING)
    for value in (f"Issue date: {doc.issue_date.isoformat()}", f"Due date: {doc.due_date.isoformat()}",
                  f"Currency: {doc.currency}"):
        page.text(RIGHT, value, right=True)
        page.down(LEADING)
    page.down(LEADING)
    seller, buyer = ["From", *doc.seller.lines()], ["Bill to", *doc.buyer.lines()]
    for index in range(max(len(seller), len(buyer))):
        if index < len(seller):
            page.text(LEFT, seller[index], bold=index == 0)
        if index < len(buyer):
            page.text(LEFT + 92 * mm, buyer[index], bold=index == 0)
        page.down(LEADING)
    page.down(2 * LEADING)


def _line_rows(page: _Page, doc: InvoiceDocument) -> None:
    page.table_header()
    for line in doc.lines:
        wrapped = simpleSplit(line.description, page.regular, SIZE, DESCRIPTION_WIDTH) or [""]
        page.ensure(len(wrapped) * LEADING, table_header=True)
        cells = (plain(line.quantity), plain(line.unit_price), plain(line.tax_rate), money(line.amount))
        for (_title, x, _right), value in zip(COLUMNS[1:], cells, strict=True):
            page.text(x, value, right=True)
        for part in wrapped:
            page.text(LEFT, part)
            page.down(LEADING)
        page.down(1.5)


def _totals(page: _Page, doc: InvoiceDocument) -> None:
    rows = [("Subtotal", money(doc.subtotal), False)]
    rows += [(f"Tax {plain(rate)} % of {money(base)}", money(tax), False) for rate, base, tax in doc.taxes]
    rows += [("Total", f"{money(doc.total)} {doc.currency}", True)]
    page.ensure((len(rows) + 3) * LEADING)
    page.down(LEADING)
    label_x = RIGHT - 70 * mm
    for label, value, bold in rows:
        page.text(label_x, label, bold=bold)
        page.text(RIGHT, value, bold=bold, right=True)
        page.down(LEADING)
    page.down(LEADING)
    page.text(LEFT, f"Please pay {money(doc.total)} {doc.currency} by {doc.due_date.isoformat()}.")
    page.down(LEADING)


def _notes(page: _Page, doc: InvoiceDocument) -> None:
    if not doc.notes.strip():
        return
    page.down(LEADING)
    page.ensure(2 * LEADING)
    page.text(LEFT, "Notes", bold=True)
    page.down(LEADING)
    for paragraph in doc.notes.splitlines():
        for part in simpleSplit(paragraph, page.regular, SIZE, RIGHT - LEFT) or [""]:
            page.ensure(LEADING)
            page.text(LEFT, part)
            page.down(LEADING)


def render_invoice_pdf(doc: InvoiceDocument, fonts: tuple[str, str] = (REGULAR, BOLD)) -> bytes:
    """The invoice as PDF bytes (`fonts` exists for the benchmark's built-in-font baseline)."""
    register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"Invoice {doc.number}")
    canvas.setAuthor(doc.seller.name)
    page = _Page(canvas, doc, fonts)
    _heading(page, doc)
    _line_rows(page, doc)
    _totals(page, doc)
    _notes(page, doc)
    page.footer()
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()

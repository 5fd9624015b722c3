"""Gapless invoice numbers and the invoice PDF (text, Unicode names, page breaks, atomic writes)."""
from __future__ import annotations

import io
import threading
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from invoicing.files import write_atomically
from invoicing.money import LineItem, compute_totals
from invoicing.numbering import format_number, next_number
from invoicing.party import Party
from invoicing.pdf import InvoiceDocument, PdfLine, render_invoice_pdf
from jobs.db import Database


def take(db: Database, year: int) -> str:
    with db.transaction() as session:
        return next_number(session, year)


def test_numbers_count_up_per_year_with_six_digits(db: Database) -> None:
    assert [take(db, 2026) for _ in range(3)] == ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"]
    assert take(db, 2027) == "INV-2027-000001"
    assert take(db, 2026) == "INV-2026-000004"
    assert format_number(2026, 123456) == "INV-2026-123456"


def test_a_rolled_back_transaction_leaves_no_gap(db: Database) -> None:
    assert take(db, 2026) == "INV-2026-000001"
    with pytest.raises(RuntimeError), db.transaction() as session:
        assert next_number(session, 2026) == "INV-2026-000002"
        raise RuntimeError("the invoice could not be stored")
    assert take(db, 2026) == "INV-2026-000002"


def test_concurrent_writers_get_distinct_gapless_numbers(db: Database) -> None:
    taken: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            number = take(db, 2026)
            with lock:
                taken.append(number)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == [format_number(2026, n) for n in range(1, 81)]


def document(lines: int = 20, description: str = "Widget Łódź Müller José Ørsted") -> InvoiceDocument:
    items = [LineItem(f"{description} #{i}", Decimal("2"), Decimal("12.3456"), Decimal("21" if i % 2 else "10"))
             for i in range(lines)]
    totals = compute_totals("EUR", items)
    return InvoiceDocument(
        number="INV-2026-000042",
        seller=Party("Seller GmbH", "Hauptstr. 1\n10115 Berlin", "billing@seller.test", "DE123", "DE"),
        buyer=Party("Łódź Trading Sp. z o.o.", "ul. Piotrkowska 1\n90-001 Łódź", "ap@lodz.test", "PL555", "PL"),
        currency="EUR", issue_date=date(2026, 11, 23), due_date=date(2026, 12, 23),
        lines=tuple(PdfLine(i.description, i.quantity, i.unit_price, i.tax_rate, amount)
                    for i, amount in zip(items, totals.line_amounts, strict=True)),
        taxes=tuple((t.rate, t.base, t.tax) for t in totals.taxes),
        subtotal=totals.subtotal, tax_total=totals.tax_total, total=totals.total, notes="Thanks — danke — gracias",
    )


def pdf_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_the_pdf_shows_number_parties_lines_taxes_total_and_notes() -> None:
    doc = document()
    [text] = pdf_text(render_invoice_pdf(doc))
    for expected in ("INV-2026-000042", "Seller GmbH", "Łódź Trading Sp. z o.o.", "90-001 Łódź", "Ørsted",
                     "Issue date: 2026-11-23", "Due date: 2026-12-23", "Tax 10 % of 246.90", "Tax 21 % of 246.90",
                     "570.34 EUR", "Thanks — danke — gracias", "24.69"):
        assert expected in text, expected
    assert str(doc.total) == "570.34"


def test_overflowing_lines_continue_on_more_pages_with_the_header_repeated() -> None:
    pages = pdf_text(render_invoice_pdf(document(lines=120)))
    assert len(pages) >= 3
    assert all("Description" in page and "Unit price" in page for page in pages[:-1])
    assert all(f"page {n}" in page for n, page in enumerate(pages, start=1))
    assert "#119" in pages[-1] or "#119" in pages[-2]
    assert "Total" in pages[-1]


def test_long_descriptions_wrap_instead_of_running_off_the_page() -> None:
    doc = document(lines=3, description="A very long description " * 12)
    [text] = pdf_text(render_invoice_pdf(doc))
    assert text.count("description") == 36  # every word printed, wrapped over several lines
    assert max(len(line) for line in text.splitlines()) < 120


def test_write_atomically_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "invoices" / "2026" / "INV-2026-000042.pdf"
    write_atomically(target, b"first")
    write_atomically(target, b"second version")
    assert target.read_bytes() == b"second version"
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_notes_are_optional() -> None:
    [text] = pdf_text(render_invoice_pdf(replace(document(lines=1), notes="")))
    assert "Notes" not in text and "INV-2026-000042" in text

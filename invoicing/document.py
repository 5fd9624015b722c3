"""From a stored invoice to its printed document and PDF file."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from invoicing.amounts import exact
from invoicing.files import pdf_path, write_atomically
from invoicing.models import Invoice
from invoicing.party import Party
from invoicing.pdf import InvoiceDocument, PdfLine, render_invoice_pdf


def invoice_document(invoice: Invoice, seller: Party) -> InvoiceDocument:
    currency = invoice.currency
    return InvoiceDocument(
        number=invoice.number, seller=seller, buyer=Party.from_dict(invoice.customer),
        currency=currency, issue_date=invoice.issue_date, due_date=invoice.due_date,
        lines=tuple(PdfLine(line.description, Decimal(line.quantity).normalize(),
                            Decimal(line.unit_price).normalize(), Decimal(line.tax_rate).normalize(),
                            exact(line.amount, currency)) for line in invoice.lines),
        taxes=tuple((Decimal(t["rate"]), Decimal(t["base"]), Decimal(t["tax"])) for t in invoice.taxes),
        subtotal=exact(invoice.subtotal, currency), tax_total=exact(invoice.tax_total, currency),
        total=exact(invoice.total, currency), notes=invoice.notes or "",
    )


def invoice_pdf(invoice: Invoice, seller: Party) -> bytes:
    return render_invoice_pdf(invoice_document(invoice, seller))


def write_invoice_pdf(invoice: Invoice, invoice_dir: Path, seller: Party) -> Path:
    """Render and write the invoice's PDF (again, if an earlier attempt died before finishing it)."""
    path = pdf_path(invoice_dir, invoice)
    write_atomically(path, invoice_pdf(invoice, seller))
    return path

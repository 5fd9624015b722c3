"""An invoice's amounts as its currency writes them: for the job's result, the API and the PDF."""
from __future__ import annotations

from decimal import Decimal

from invoicing.models import Invoice
from invoicing.money import round_money


def exact(value: Decimal, currency: str) -> Decimal:
    """A stored amount back at its currency's precision (NUMERIC(18, 4) columns give 4 places)."""
    return round_money(Decimal(value), currency)


def invoice_amounts(invoice: Invoice) -> dict[str, str]:
    """Currency, subtotal, tax total and total, the amounts as decimal strings ("48.51")."""
    currency = invoice.currency
    return {"currency": currency, "subtotal": str(exact(invoice.subtotal, currency)),
            "tax_total": str(exact(invoice.tax_total, currency)), "total": str(exact(invoice.total, currency))}

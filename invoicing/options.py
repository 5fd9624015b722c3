"""What the invoicing jobs take from the settings."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from config.settings import Settings
from invoicing.party import Party


@dataclass(frozen=True)
class InvoicingOptions:
    seller: Party
    invoice_dir: Path
    due_days: int
    batch_tax_rate: Decimal = Decimal(0)

    @classmethod
    def from_settings(cls, settings: Settings) -> InvoicingOptions:
        seller = Party(name=settings.seller_name, address=settings.seller_address.replace("\\n", "\n"),
                       email=settings.seller_email, tax_id=settings.seller_tax_id, country=settings.seller_country)
        return cls(seller=seller, invoice_dir=settings.invoice_dir, due_days=settings.invoice_due_days,
                   batch_tax_rate=Decimal(str(settings.invoice_batch_tax_rate_pct)))

"""InvoiceRequest: one invoice to issue, validated by the API or the form and stored as the job's params."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from invoicing.money import LineItem
from invoicing.party import Party


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass(frozen=True)
class InvoiceRequest:
    customer: Party
    currency: str
    items: tuple[LineItem, ...]
    issue_date: date | None = None
    due_date: date | None = None
    due_days: int | None = None
    notes: str = ""
    send_email: bool = True
    order_keys: tuple[tuple[int, str], ...] = field(default=())  # orders billed (batch invoices)

    def to_dict(self) -> dict[str, Any]:
        """The job's params (JSON-safe; decimals and dates as strings)."""
        return {
            "customer": self.customer.to_dict(),
            "currency": self.currency,
            "items": [item.to_dict() for item in self.items],
            "issue_date": self.issue_date.isoformat() if self.issue_date else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "due_days": self.due_days,
            "notes": self.notes,
            "send_email": self.send_email,
        }

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> InvoiceRequest:
        return cls(
            customer=Party.from_dict(params["customer"]),
            currency=params["currency"],
            items=tuple(LineItem.from_dict(item) for item in params["items"]),
            issue_date=_date(params.get("issue_date")),
            due_date=_date(params.get("due_date")),
            due_days=params.get("due_days"),
            notes=params.get("notes") or "",
            send_email=bool(params.get("send_email", True)),
        )

    def dates(self, today: date, default_due_days: int) -> tuple[date, date]:
        """(issue date, due date): the given ones, else today and `default_due_days` after the issue date."""
        issue = self.issue_date or today
        if self.due_date is not None:
            return issue, self.due_date
        return issue, issue + timedelta(days=self.due_days if self.due_days is not None else default_due_days)

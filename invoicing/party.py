"""Party: who sells or is billed, as printed on an invoice and stored with it."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Party:
    name: str
    address: str = ""
    email: str = ""
    tax_id: str = ""
    country: str = ""

    def lines(self) -> list[str]:
        """The party's block on the invoice: name, address lines, country, tax id, email."""
        rows = [self.name, *(line for line in self.address.splitlines() if line.strip())]
        rows += [self.country] if self.country else []
        rows += [f"Tax id: {self.tax_id}"] if self.tax_id else []
        rows += [self.email] if self.email else []
        return rows

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Party:
        """The party of a stored dict (job params or an invoice's customer snapshot); missing parts are empty."""
        return cls(name=values["name"], address=values.get("address") or "", email=values.get("email") or "",
                   tax_id=values.get("tax_id") or "", country=values.get("country") or "")

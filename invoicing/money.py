"""Exact invoice arithmetic: Decimal only, amounts rounded half-up to the currency's ISO 4217 minor unit.

Line amount = round(quantity × unit price); tax per rate = round(sum of the line amounts at that
rate × rate / 100); total = subtotal + the taxes. Rounding happens exactly there and nowhere else.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from iso4217 import Currency

QUANTITY_PLACES = 3
UNIT_PRICE_PLACES = 4
HUNDRED = Decimal(100)
# Every amount (a line's, a tax, a total) stays below this: the NUMERIC(18, 4) columns hold 14 integer
# digits, and one bound for all keeps a PDF's columns readable. A total at or above it is refused.
MAX_AMOUNT = Decimal(10) ** 12


class MoneyError(ValueError):
    """An amount or currency the invoice arithmetic refuses; `field` names the input."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def minor_unit(currency: str) -> int:
    """Digits after the decimal point of `currency` (EUR 2, JPY 0, KWD 3), from the ISO 4217 table."""
    try:
        exponent = Currency(currency.upper()).exponent
    except ValueError:
        raise MoneyError("currency", f"{currency!r} is not an ISO 4217 currency code") from None
    if exponent is None:
        raise MoneyError("currency", f"{currency.upper()} has no minor unit and cannot be invoiced")
    return exponent


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP)


def places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@dataclass(frozen=True)
class LineItem:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal  # percent, 0 to 100

    def to_dict(self) -> dict[str, str]:
        """The line as JSON-safe strings (exact decimals)."""
        return {"description": self.description, "quantity": str(self.quantity), "unit_price": str(self.unit_price),
                "tax_rate": str(self.tax_rate)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LineItem:
        return cls(values["description"], Decimal(values["quantity"]), Decimal(values["unit_price"]),
                   Decimal(values["tax_rate"]))

    def check(self, index: int) -> None:
        where = f"items.{index}"
        if not self.quantity.is_finite() or self.quantity <= 0:
            raise MoneyError(f"{where}.quantity", "must be a number above 0")
        if places(self.quantity) > QUANTITY_PLACES:
            raise MoneyError(f"{where}.quantity", f"at most {QUANTITY_PLACES} decimals")
        if not self.unit_price.is_finite() or self.unit_price < 0:
            raise MoneyError(f"{where}.unit_price", "must be a number, 0 or more")
        if places(self.unit_price) > UNIT_PRICE_PLACES:
            raise MoneyError(f"{where}.unit_price", f"at most {UNIT_PRICE_PLACES} decimals")
        if not self.tax_rate.is_finite() or not Decimal(0) <= self.tax_rate <= HUNDRED:
            raise MoneyError(f"{where}.tax_rate", "must be between 0 and 100")


@dataclass(frozen=True)
class TaxLine:
    rate: Decimal
    base: Decimal  # the sum of the line amounts at this rate
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    currency: str
    line_amounts: tuple[Decimal, ...]
    subtotal: Decimal
    taxes: tuple[TaxLine, ...]  # by rate, ascending
    tax_total: Decimal
    total: Decimal


def compute_totals(currency: str, items: list[LineItem]) -> Totals:
    """The invoice's amounts; MoneyError naming the first bad input."""
    if not items:
        raise MoneyError("items", "an invoice needs at least one line")
    currency = currency.upper()
    minor_unit(currency)
    for index, item in enumerate(items):
        item.check(index)
    amounts = tuple(round_money(item.quantity * item.unit_price, currency) for item in items)
    bases: dict[Decimal, Decimal] = defaultdict(Decimal)
    for item, amount in zip(items, amounts, strict=True):
        bases[item.tax_rate.normalize()] += amount
    taxes = tuple(
        TaxLine(rate=rate, base=base, tax=round_money(base * rate / HUNDRED, currency))
        for rate, base in sorted(bases.items())
    )
    for index, amount in enumerate(amounts):
        if amount >= MAX_AMOUNT:
            raise MoneyError(f"items.{index}",
                             f"the line's amount (quantity × unit price) must stay below {MAX_AMOUNT:,}")
    subtotal = sum(amounts, Decimal(0))
    tax_total = sum((line.tax for line in taxes), Decimal(0))
    if subtotal + tax_total >= MAX_AMOUNT:
        raise MoneyError("items", f"the invoice's total with tax must stay below {MAX_AMOUNT:,}")
    zero = round_money(Decimal(0), currency)
    return Totals(currency=currency, line_amounts=amounts, subtotal=subtotal + zero, taxes=taxes,
                  tax_total=tax_total + zero, total=subtotal + tax_total + zero)

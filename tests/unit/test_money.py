"""Invoice arithmetic: known totals per currency, half-up rounding at the right places, and properties."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicing.money import LineItem, MoneyError, compute_totals, minor_unit, round_money


def item(quantity: str, unit_price: str, tax_rate: str = "0", description: str = "x") -> LineItem:
    return LineItem(description, Decimal(quantity), Decimal(unit_price), Decimal(tax_rate))


@pytest.mark.parametrize(("currency", "digits"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3), ("eur", 2)])
def test_minor_units_come_from_iso_4217(currency: str, digits: int) -> None:
    assert minor_unit(currency) == digits


@pytest.mark.parametrize(("currency", "reason"), [("ZZZ", "not an ISO 4217"), ("XXX", "no minor unit")])
def test_unknown_or_unit_less_currency_is_refused(currency: str, reason: str) -> None:
    with pytest.raises(MoneyError, match=reason) as raised:
        minor_unit(currency)
    assert raised.value.field == "currency"


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [("0.005", "EUR", "0.01"), ("0.0049", "EUR", "0.00"), ("2.5", "JPY", "3"), ("-2.5", "JPY", "-3"),
     ("1.0005", "KWD", "1.001"), ("12", "EUR", "12.00")],
)
def test_rounding_is_half_up_to_the_minor_unit(amount: str, currency: str, rounded: str) -> None:
    result = round_money(Decimal(amount), currency)
    assert result == Decimal(rounded) and str(result) == rounded


def test_a_known_eur_invoice() -> None:
    totals = compute_totals("EUR", [
        item("3", "12.50", "21"),        # 37.50
        item("1.5", "9.99", "21"),       # 14.985 -> 14.99
        item("2", "4.1234", "10"),       # 8.2468 -> 8.25
    ])
    assert totals.line_amounts == (Decimal("37.50"), Decimal("14.99"), Decimal("8.25"))
    assert totals.subtotal == Decimal("60.74")
    # 21 % of 52.49 = 11.0229 -> 11.02; 10 % of 8.25 = 0.825 -> 0.83 (half up)
    assert [(t.rate, t.base, t.tax) for t in totals.taxes] == [
        (Decimal("10"), Decimal("8.25"), Decimal("0.83")), (Decimal("21"), Decimal("52.49"), Decimal("11.02"))]
    assert (totals.tax_total, totals.total) == (Decimal("11.85"), Decimal("72.59"))
    assert str(totals.total) == "72.59"


def test_a_known_jpy_invoice_has_no_decimals() -> None:
    totals = compute_totals("JPY", [item("3", "333.5", "10"), item("1", "99", "8")])
    assert totals.line_amounts == (Decimal("1001"), Decimal("99"))  # 1000.5 -> 1001
    assert [t.tax for t in totals.taxes] == [Decimal("8"), Decimal("100")]  # 7.92 -> 8; 100.1 -> 100
    assert str(totals.total) == "1208"


def test_a_known_kwd_invoice_has_three_decimals() -> None:
    totals = compute_totals("KWD", [item("2", "1.2345", "5")])
    assert totals.line_amounts == (Decimal("2.469"),)
    assert totals.taxes[0].tax == Decimal("0.123")  # 0.12345 -> 0.123
    assert str(totals.total) == "2.592"


def test_tax_is_rounded_per_rate_not_per_line() -> None:
    # Three lines of 0.10 at 5 %: per line 0.005 -> 0.01 each (0.03); per rate 0.015 -> 0.02.
    totals = compute_totals("EUR", [item("1", "0.10", "5")] * 3)
    assert totals.tax_total == Decimal("0.02")


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        ([item("0", "1")], "items.0.quantity"),
        ([item("-1", "1")], "items.0.quantity"),
        ([item("1.0001", "1")], "items.0.quantity"),
        ([item("1", "1"), item("1", "-0.01")], "items.1.unit_price"),
        ([item("1", "0.00001")], "items.0.unit_price"),
        ([item("1", "1", "100.01")], "items.0.tax_rate"),
        ([item("1", "1", "-1")], "items.0.tax_rate"),
        ([LineItem("x", Decimal("NaN"), Decimal(1), Decimal(0))], "items.0.quantity"),
    ],
)
def test_bad_lines_are_refused_naming_the_field(items: list[LineItem], field: str) -> None:
    with pytest.raises(MoneyError) as raised:
        compute_totals("EUR", items)
    assert raised.value.field == field


CURRENCIES = st.sampled_from(["EUR", "USD", "JPY", "KWD", "GBP", "CHF", "BHD", "CLP"])
LINES = st.lists(
    st.builds(
        LineItem,
        description=st.just("line"),
        quantity=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("10000"), places=3),
        unit_price=st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=4),
        tax_rate=st.sampled_from([Decimal(r) for r in ("0", "4", "5.5", "7", "10", "19", "21", "25", "100")]),
    ),
    min_size=1, max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(currency=CURRENCIES, items=LINES)
def test_totals_add_up_exactly_for_random_invoices(currency: str, items: list[LineItem]) -> None:
    totals = compute_totals(currency, items)
    digits = minor_unit(currency)
    unit = Decimal(1).scaleb(-digits)
    for amount, line in zip(totals.line_amounts, items, strict=True):
        assert abs(amount - line.quantity * line.unit_price) <= unit / 2
        assert -amount.as_tuple().exponent == digits  # type: ignore[operator]
    assert totals.subtotal == sum(totals.line_amounts)
    assert sum(t.base for t in totals.taxes) == totals.subtotal
    for tax in totals.taxes:
        assert abs(tax.tax - tax.base * tax.rate / 100) <= unit / 2
    assert totals.tax_total == sum(t.tax for t in totals.taxes)
    assert totals.total == totals.subtotal + totals.tax_total
    assert -totals.total.as_tuple().exponent == digits  # type: ignore[operator]
    assert compute_totals(currency, list(reversed(items))).total == totals.total  # order does not matter

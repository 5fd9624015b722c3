"""check_chunk cleans and validates every cell column-wise; drop_duplicate_keys rejects keys seen before."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from etl.datasets import DATASETS
from etl.spec import DatasetSpec
from etl.validate import LINE, CellError, CheckedChunk, SeenKeys, check_chunk, drop_duplicate_keys

ORDERS = DATASETS["orders"]
CUSTOMERS = DATASETS["customers"]

ORDER = {
    "order_id": "5", "order_date": "2026-01-31", "customer_email": "alice@example.test", "sku": "SKU-1",
    "quantity": "2", "unit_price": "12.50", "currency": "EUR", "country": "DE",
}
CUSTOMER = {"customer_id": "7", "name": "Alice Müller", "email": "alice@example.test", "country": "DE",
            "tax_id": "DE123456789"}


def frame(spec: DatasetSpec, rows: list[dict[str, str | None]], first_line: int = 2) -> pl.DataFrame:
    """Text columns named as the spec's plus LINE, as the importer builds them from a block."""
    data = {name: [row.get(name) for row in rows] for name in spec.column_names}
    raw = pl.DataFrame(data, schema=dict.fromkeys(spec.column_names, pl.String))
    return raw.with_columns(pl.Series(LINE, range(first_line, first_line + len(rows)), dtype=pl.Int64))


def order(**cells: str | None) -> dict[str, str | None]:
    return {**ORDER, **cells}


def customer(**cells: str | None) -> dict[str, str | None]:
    return {**CUSTOMER, **cells}


def check_one(spec: DatasetSpec, row: dict[str, str | None]) -> CheckedChunk:
    return check_chunk(spec, frame(spec, [row]))


def accepted_value(spec: DatasetSpec, row: dict[str, str | None], column: str) -> object:
    checked = check_one(spec, row)
    assert checked.errors == [] and checked.rejected_rows == 0
    assert checked.valid.height == 1
    return checked.valid[column][0]


def rejection(spec: DatasetSpec, row: dict[str, str | None]) -> CellError:
    checked = check_one(spec, row)
    assert checked.valid.height == 0 and checked.rejected_rows == 1
    [error] = checked.errors
    return error


def test_a_good_order_is_accepted_with_typed_clean_columns() -> None:
    checked = check_one(ORDERS, ORDER)
    assert checked.errors == [] and checked.rejected_rows == 0
    assert checked.valid.columns == [LINE, *ORDERS.column_names]
    assert checked.valid.row(0) == (2, 5, dt.date(2026, 1, 31), "alice@example.test", "SKU-1", 2, "12.50", "EUR", "DE")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", dt.date(2026, 1, 31)),
        ("31/01/2026", dt.date(2026, 1, 31)),
        ("01/02/2026", dt.date(2026, 2, 1)),  # DD/MM, not MM/DD
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("  2026-01-31 ", dt.date(2026, 1, 31)),
    ],
)
def test_iso_and_day_month_year_dates_are_accepted(text: str, expected: dt.date) -> None:
    assert accepted_value(ORDERS, order(order_date=text), "order_date") == expected


@pytest.mark.parametrize("text", ["2026-02-30", "2025-02-29", "31/02/2026", "2026-13-01", "01/13/2026",
                                  "yesterday", "2026-01-31x", "20260131"])
def test_impossible_or_malformed_dates_are_rejected(text: str) -> None:
    error = rejection(ORDERS, order(order_date=text))
    assert (error.line, error.column, error.value) == (2, "order_date", text)
    assert error.reason == "not a date (YYYY-MM-DD or DD/MM/YYYY)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12,50", "12.50"), ("12.50", "12.50"), ("12", "12"), ("0", "0"), ("0,1234", "0.1234"), (" 3,5 ", "3.5")],
)
def test_decimal_accepts_comma_or_point_and_is_cleaned_to_a_point(text: str, expected: str) -> None:
    value = accepted_value(ORDERS, order(unit_price=text), "unit_price")
    assert value == expected
    assert Decimal(str(value)) == Decimal(expected)


@pytest.mark.parametrize("text", ["12.12345", "0,00001", "12.5.0", "1e5", "12 50", ".5", "5.", "twelve", "1.000,50"])
def test_decimal_with_more_than_four_decimals_or_bad_form_is_rejected(text: str) -> None:
    error = rejection(ORDERS, order(unit_price=text))
    assert (error.column, error.value) == ("unit_price", text)
    assert error.reason == "not a decimal number with at most 11 digits before and 4 after the separator ('.' or ',')"


@pytest.mark.parametrize("text", ["-0.01", "-12,50", "-1"])
def test_negative_unit_price_is_rejected(text: str) -> None:
    error = rejection(ORDERS, order(unit_price=text))
    assert (error.column, error.value, error.reason) == ("unit_price", text, "must be at least 0")


@pytest.mark.parametrize("text", ["0", "-3", "-0"])
def test_quantity_below_one_is_rejected(text: str) -> None:
    error = rejection(ORDERS, order(quantity=text))
    assert (error.column, error.value, error.reason) == ("quantity", text, "must be at least 1")


@pytest.mark.parametrize(("text", "expected"), [("1", 1), ("+7", 7), ("007", 7), (" 42 ", 42)])
def test_whole_numbers_are_accepted_as_integers(text: str, expected: int) -> None:
    assert accepted_value(ORDERS, order(quantity=text), "quantity") == expected


@pytest.mark.parametrize("text", ["1.5", "1,0", "abc", "5x", "1e3", "12345678901234567890"])
def test_non_integer_id_is_rejected(text: str) -> None:
    error = rejection(ORDERS, order(order_id=text))
    assert (error.column, error.value, error.reason) == ("order_id", text, "not a whole number")


@pytest.mark.parametrize(("column", "text"), [("quantity", "\u0663"), ("order_id", "\u0665"),
                                              ("unit_price", "\u0661\u0662")])
def test_non_ascii_digits_are_rejected(column: str, text: str) -> None:
    error = rejection(ORDERS, order(**{column: text}))
    assert (error.column, error.value) == (column, text)


def test_email_is_trimmed_and_lower_cased() -> None:
    assert accepted_value(ORDERS, order(customer_email="  Alice@Example.TEST "), "customer_email") == \
        "alice@example.test"


@pytest.mark.parametrize("text", ["alice", "alice@", "@example.test", "alice@example", "a b@example.test",
                                  "alice@@example.test"])
def test_bad_email_is_rejected(text: str) -> None:
    error = rejection(ORDERS, order(customer_email=text))
    assert (error.column, error.value, error.reason) == ("customer_email", text, "not an email address")


def test_email_longer_than_its_max_length_is_rejected() -> None:
    text = "a" * 249 + "@x.de"  # 254 characters, the column's size: accepted
    assert accepted_value(CUSTOMERS, customer(email=text), "email") == text
    error = rejection(CUSTOMERS, customer(email="a" + text))
    assert error.reason == "longer than 254 characters"


def test_a_quantity_beyond_the_columns_range_is_rejected() -> None:
    assert accepted_value(ORDERS, order(quantity="2147483647"), "quantity") == 2_147_483_647
    assert rejection(ORDERS, order(quantity="3000000000")).reason == "must be at most 2147483647"


def test_a_decimal_beyond_fifteen_significant_digits_is_rejected() -> None:
    assert accepted_value(ORDERS, order(unit_price="12345678901.2345"), "unit_price") == "12345678901.2345"
    assert rejection(ORDERS, order(unit_price="123456789012.5")).column == "unit_price"


@pytest.mark.parametrize(("text", "expected"), [("eur", "EUR"), ("EUR", "EUR"), (" usd ", "USD"), ("Chf", "CHF")])
def test_currency_is_upper_cased_and_accepted(text: str, expected: str) -> None:
    assert accepted_value(ORDERS, order(currency=text), "currency") == expected


@pytest.mark.parametrize("text", ["ZZZ", "EU", "EURO", "€"])
def test_unknown_currency_is_rejected(text: str) -> None:
    error = rejection(ORDERS, order(currency=text))
    assert (error.column, error.value, error.reason) == ("currency", text, "not an ISO 4217 currency code")


@pytest.mark.parametrize(("text", "expected"), [("de", "DE"), ("De", "DE"), (" fr ", "FR")])
def test_country_is_upper_cased_and_accepted(text: str, expected: str) -> None:
    assert accepted_value(CUSTOMERS, customer(country=text), "country") == expected
    assert accepted_value(ORDERS, order(country=text), "country") == expected


@pytest.mark.parametrize("text", ["XX", "DEU", "D", "Germany"])
def test_unknown_country_is_rejected(text: str) -> None:
    error = rejection(CUSTOMERS, customer(country=text))
    assert (error.column, error.value, error.reason) == ("country", text, "not an ISO 3166 two-letter country code")


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_optional_tax_id_may_be_empty_and_becomes_null(empty: str | None) -> None:
    assert accepted_value(CUSTOMERS, customer(tax_id=empty), "tax_id") is None


@pytest.mark.parametrize("column", ORDERS.column_names)
@pytest.mark.parametrize("empty", ["", "  ", None])
def test_every_required_orders_column_rejects_an_empty_cell(column: str, empty: str | None) -> None:
    error = rejection(ORDERS, order(**{column: empty}))
    assert (error.line, error.column, error.value) == (2, column, empty or "")
    assert error.reason == "required; the cell is empty"


def test_text_is_trimmed_and_longer_than_max_length_is_rejected() -> None:
    assert accepted_value(ORDERS, order(sku="  SKU-1  "), "sku") == "SKU-1"
    assert accepted_value(ORDERS, order(sku="S" * 64), "sku") == "S" * 64
    error = rejection(ORDERS, order(sku="S" * 65))
    assert (error.column, error.reason) == ("sku", "longer than 64 characters")
    assert accepted_value(CUSTOMERS, customer(tax_id="T" * 64), "tax_id") == "T" * 64
    error = rejection(CUSTOMERS, customer(tax_id="T" * 65))
    assert (error.column, error.reason) == ("tax_id", "longer than 64 characters")
    error = rejection(CUSTOMERS, customer(name="N" * 256))
    assert (error.column, error.reason) == ("name", "longer than 255 characters")


def test_a_row_with_two_bad_cells_gives_two_errors_and_one_rejected_row() -> None:
    rows = [order(), order(quantity="0", currency="ZZZ"), order(order_id="6")]
    checked = check_chunk(ORDERS, frame(ORDERS, rows, first_line=10))
    assert checked.rejected_rows == 1
    assert sorted(checked.errors, key=lambda error: error.column) == [
        CellError(line=11, column="currency", value="ZZZ", reason="not an ISO 4217 currency code"),
        CellError(line=11, column="quantity", value="0", reason="must be at least 1"),
    ]
    assert checked.valid[LINE].to_list() == [10, 12]
    assert checked.valid["order_id"].to_list() == [5, 6]


def test_good_and_bad_rows_of_a_chunk_are_split_with_their_lines() -> None:
    rows = [customer(customer_id=str(i), email=f"USER{i}@Example.test") for i in range(1, 6)]
    rows[1]["email"] = "nope"
    rows[3]["customer_id"] = "0"
    checked = check_chunk(CUSTOMERS, frame(CUSTOMERS, rows))
    assert checked.rejected_rows == 2
    assert {(error.line, error.column) for error in checked.errors} == {(3, "email"), (5, "customer_id")}
    assert checked.valid[LINE].to_list() == [2, 4, 6]
    assert checked.valid["email"].to_list() == ["user1@example.test", "user3@example.test", "user5@example.test"]


def test_an_empty_chunk_is_valid_and_empty() -> None:
    checked = check_chunk(ORDERS, frame(ORDERS, []))
    assert checked.valid.height == 0 and checked.errors == [] and checked.rejected_rows == 0


# drop_duplicate_keys


def checked_orders(rows: list[dict[str, str | None]], first_line: int = 2) -> CheckedChunk:
    checked = check_chunk(ORDERS, frame(ORDERS, rows, first_line))
    assert checked.rejected_rows == 0
    return checked


def test_a_key_repeated_in_one_chunk_rejects_the_later_row() -> None:
    rows = [order(unit_price="1"), order(order_id="6"), order(unit_price="2"), order(sku="SKU-2")]
    result = drop_duplicate_keys(ORDERS, checked_orders(rows), SeenKeys())
    assert result.rejected_rows == 1
    [error] = result.errors
    assert (error.line, error.column, error.value) == (4, "order_id,sku", "5,SKU-1")
    assert "duplicate key" in error.reason
    assert result.valid[LINE].to_list() == [2, 3, 5]
    assert result.valid.filter(pl.col("order_id") == 5, pl.col("sku") == "SKU-1")["unit_price"].to_list() == ["1"]


def test_same_order_id_with_another_sku_is_not_a_duplicate() -> None:
    rows = [order(sku="SKU-1"), order(sku="SKU-2"), order(order_id="6", sku="SKU-1")]
    seen = SeenKeys()
    result = drop_duplicate_keys(ORDERS, checked_orders(rows), seen)
    assert result.errors == [] and result.rejected_rows == 0 and result.valid.height == 3
    assert len(seen) == 3


def test_a_key_seen_in_an_earlier_chunk_is_rejected_in_a_later_one() -> None:
    seen = SeenKeys()
    first = drop_duplicate_keys(ORDERS, checked_orders([order(), order(order_id="6")], first_line=2), seen)
    assert first.rejected_rows == 0 and len(seen) == 2
    second = drop_duplicate_keys(ORDERS, checked_orders([order(order_id="7"), order(), order(order_id="6")],
                                                        first_line=4), seen)
    assert second.rejected_rows == 2
    assert [(error.line, error.column, error.value) for error in second.errors] == [
        (5, "order_id,sku", "5,SKU-1"), (6, "order_id,sku", "6,SKU-1")]
    assert all("duplicate key" in error.reason for error in second.errors)
    assert second.valid["order_id"].to_list() == [7]
    assert len(seen) == 3


def test_duplicates_add_to_the_cell_errors_and_rejected_rows_already_found() -> None:
    rows = [order(), order(quantity="0", sku="SKU-9"), order()]
    checked = check_chunk(ORDERS, frame(ORDERS, rows))
    result = drop_duplicate_keys(ORDERS, checked, SeenKeys())
    assert result.rejected_rows == 2
    assert [(error.line, error.column) for error in result.errors] == [(3, "quantity"), (4, "order_id,sku")]
    assert result.valid[LINE].to_list() == [2]


def test_customer_key_is_the_id_alone() -> None:
    rows = [customer(), customer(name="Other name", email="other@example.test")]
    result = drop_duplicate_keys(CUSTOMERS, check_chunk(CUSTOMERS, frame(CUSTOMERS, rows)), SeenKeys())
    [error] = result.errors
    assert (error.line, error.column, error.value) == (3, "customer_id", "7")


def test_seen_keys_on_uint64_arrays() -> None:
    seen = SeenKeys()
    assert len(seen) == 0
    probe = np.array([1, 2**64 - 1, 42], dtype=np.uint64)
    assert seen.seen(probe).tolist() == [False, False, False]
    seen.add(np.array([42, 7], dtype=np.uint64))
    seen.add(np.array([2**64 - 1], dtype=np.uint64))
    assert len(seen) == 3
    assert seen.seen(probe).tolist() == [False, True, True]
    assert seen.seen(np.array([0, 7, 8, 43], dtype=np.uint64)).tolist() == [False, True, False, False]
    assert seen.seen(np.array([], dtype=np.uint64)).tolist() == []

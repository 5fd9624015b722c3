"""Customers: one row per customer id."""
from etl.spec import Column, ColumnType, DatasetSpec

CUSTOMERS = DatasetSpec(
    name="customers",
    table="customers",
    description="customer_id, name, email, country, tax_id (optional), address (optional)",
    columns=(
        Column("customer_id", ColumnType.INTEGER, minimum=1),
        Column("name", ColumnType.TEXT),
        Column("email", ColumnType.EMAIL, max_length=254),
        Column("country", ColumnType.COUNTRY),
        Column("tax_id", ColumnType.TEXT, required=False, max_length=64),
        Column("address", ColumnType.TEXT, required=False, max_length=1000),
    ),
    key=("customer_id",),
    # Customer master data is loaded whole or not at all: a half-updated customer list would bill wrongly.
    all_or_nothing=True,
)

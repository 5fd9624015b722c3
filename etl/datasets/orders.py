"""Orders: one row per (order id, sku), the lines that invoices bill."""
from etl.spec import Column, ColumnType, DatasetSpec

ORDERS = DatasetSpec(
    name="orders",
    table="orders",
    description="order_id, order_date, customer_email, sku, quantity (>= 1), unit_price (>= 0), currency, country",
    columns=(
        Column("order_id", ColumnType.INTEGER, minimum=1),
        Column("order_date", ColumnType.DATE),
        Column("customer_email", ColumnType.EMAIL, max_length=254),
        Column("sku", ColumnType.TEXT, max_length=64),
        Column("quantity", ColumnType.INTEGER, minimum=1, maximum=2_147_483_647),
        Column("unit_price", ColumnType.DECIMAL, minimum=0, scale=4),
        Column("currency", ColumnType.CURRENCY),
        Column("country", ColumnType.COUNTRY),
    ),
    key=("order_id", "sku"),
    # The batch invoice job sets invoice_id on the lines it bills: those are never rewritten by an import.
    frozen_by="invoice_id",
    frozen_reason="this order line is already invoiced, and billed lines are not changed",
)

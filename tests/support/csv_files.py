"""Generated CSV files for imports: valid orders in bulk, and the exact bad rows a test expects to be rejected."""
from __future__ import annotations

import gzip
from pathlib import Path

ORDERS_HEADER = "order_id,order_date,customer_email,sku,quantity,unit_price,currency,country"
CUSTOMERS_HEADER = "customer_id,name,email,country,tax_id"
CURRENCIES = ("EUR", "USD", "GBP", "JPY", "KWD")
COUNTRIES = ("DE", "FR", "ES", "PL", "DK", "US", "GB")


def order_line(i: int) -> str:
    """A valid order row, deterministic in `i` (10 customers; order i has sku SKU-<i % 3>)."""
    day = 1 + i % 28
    return (f"{i},2026-{1 + i % 12:02d}-{day:02d},customer{i % 10}@example.test,SKU-{i % 3},{1 + i % 5},"
            f"{(i % 1000) + 0.25:.2f},{CURRENCIES[i % len(CURRENCIES)]},{COUNTRIES[i % len(COUNTRIES)]}")


def write_orders(path: Path, rows: int, *, start: int = 1, extra_lines: list[str] | None = None,
                 header: str = ORDERS_HEADER, compress: bool = False) -> Path:
    """`rows` valid orders (ids start..), then `extra_lines` as given; written in pieces, never whole in memory."""
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:  # type: ignore[operator]
        handle.write(header + "\n")
        batch: list[str] = []
        for i in range(start, start + rows):
            batch.append(order_line(i))
            if len(batch) == 10_000:
                handle.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            handle.write("\n".join(batch) + "\n")
        for line in extra_lines or []:
            handle.write(line + "\n")
    return path

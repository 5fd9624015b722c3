"""Gapless invoice numbers per year: INV-<year>-<6-digit sequence>.

The next number comes from one counter row per year, incremented by an upsert in the transaction
that stores the invoice. The row stays locked until that transaction ends (PostgreSQL row lock;
SQLite's write lock, taken at BEGIN), so concurrent workers queue for it; a transaction that rolls
back takes its increment with it. No number is used twice and none is skipped.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

SEQUENCE_DIGITS = 6


def format_number(year: int, sequence: int) -> str:
    return f"INV-{year}-{sequence:0{SEQUENCE_DIGITS}d}"


def next_number(session: Session, year: int) -> str:
    """Take the year's next number inside the caller's transaction."""
    sequence = session.execute(
        text("INSERT INTO invoice_counters (year, last_sequence) VALUES (:year, 1) "
             "ON CONFLICT (year) DO UPDATE SET last_sequence = invoice_counters.last_sequence + 1 "
             "RETURNING last_sequence"),
        {"year": year},
    ).scalar_one()
    return format_number(year, sequence)

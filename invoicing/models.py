"""Invoice, InvoiceLine and the yearly number counter."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, Numeric, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.db import Base, UTCDateTime, utcnow

AMOUNT = Numeric(18, 4)


class Customer(Base):
    """A customer as the ETL `customers` dataset loads it (etl/datasets/customers.py owns the columns)."""

    __tablename__ = "customers"

    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(254))
    country: Mapped[str] = mapped_column(String(2))
    tax_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)


class Order(Base):
    """An order line as the ETL `orders` dataset loads it (etl/datasets/orders.py owns the columns); a batch
    invoice links the lines it bills."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_invoice_date", "invoice_id", "order_date"),)

    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Byte-order collation on PostgreSQL: the key's btree compares bytes instead of locale rules (faster upserts).
    sku: Mapped[str] = mapped_column(String(64).with_variant(String(64, collation="C"), "postgresql"),
                                     primary_key=True)
    order_date: Mapped[date] = mapped_column(Date)
    customer_email: Mapped[str] = mapped_column(String(254))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(String(2))
    # No foreign key in the schema (migration 0004 adds the bare column); the batch job sets it.
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class InvoiceCounter(Base):
    """The last sequence number used in a year (see invoicing.numbering)."""

    __tablename__ = "invoice_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(Integer)


class Invoice(Base):
    """An issued invoice; created once per job (unique job_id), with a snapshot of its customer."""

    __tablename__ = "invoices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id", ondelete="RESTRICT"), unique=True)
    customer: Mapped[dict[str, Any]] = mapped_column(JSON)  # name, email, address, tax_id, country as billed
    customer_email: Mapped[str] = mapped_column(String(254), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date] = mapped_column(Date, index=True)
    due_date: Mapped[date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    subtotal: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_total: Mapped[Decimal] = mapped_column(AMOUNT)
    total: Mapped[Decimal] = mapped_column(AMOUNT)
    taxes: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # [{rate, base, tax}] as decimal strings
    pdf_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan")


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Numeric(15, 3))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

"""Invoice bodies (JSON and the form) and the invoice list's query string."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from accounts.addresses import AddressError, single_address
from etl.codes import country_codes
from invoicing.money import LineItem, MoneyError, compute_totals, minor_unit
from invoicing.party import Party
from invoicing.request import InvoiceRequest

EARLIEST_DATE = date(2000, 1, 1)
FUTURE_DAYS = 366  # an issue date or a batch period at most a year ahead
MAX_DUE_DAYS = 5 * 366
MAX_PERIOD_DAYS = 366


def sane_date(value: date | None) -> date | None:
    """A date between 2000-01-01 and a year from today (the invoices' dates, a batch's period)."""
    if value is None:
        return value
    latest = datetime.now(UTC).date() + timedelta(days=FUTURE_DAYS)
    if not EARLIEST_DATE <= value <= latest:
        raise ValueError(f"must be between {EARLIEST_DATE.isoformat()} and {latest.isoformat()}")
    return value


class CustomerBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=255)
    email: str = Field(max_length=254)
    address: str = Field("", max_length=1000)
    tax_id: str = Field("", max_length=64)
    country: str = Field("", max_length=2)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return single_address(value)
        except AddressError as error:
            raise ValueError(str(error)) from None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value and value.upper() not in country_codes():
            raise ValueError("not an ISO 3166 two-letter country code")
        return value.upper()


class ItemBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str = Field(min_length=1, max_length=500)
    quantity: Decimal = Field(gt=0, max_digits=15, decimal_places=3, allow_inf_nan=False)
    unit_price: Decimal = Field(ge=0, max_digits=15, decimal_places=4, allow_inf_nan=False)
    tax_rate: Decimal = Field(ge=0, le=100, decimal_places=4, allow_inf_nan=False)


def _currency(value: str) -> str:
    try:
        minor_unit(value)
    except MoneyError as error:
        raise ValueError(error.reason) from None
    return value.upper()


class InvoiceBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer: CustomerBody
    currency: str = Field(min_length=3, max_length=3)
    issue_date: date | None = None
    due_days: int | None = Field(None, ge=0, le=365)
    due_date: date | None = None
    items: list[ItemBody] = Field(min_length=1, max_length=1000)
    notes: str = Field("", max_length=2000)
    send_email: bool = True

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        return _currency(value)

    _issue_date = field_validator("issue_date")(sane_date)

    @field_validator("items")
    @classmethod
    def _amounts_fit(cls, items: list[ItemBody], info: ValidationInfo) -> list[ItemBody]:
        """The totals the job will compute must fit the invoice's columns (the job checks again)."""
        currency = info.data.get("currency")
        if currency:
            try:
                compute_totals(currency, [LineItem(i.description, i.quantity, i.unit_price, i.tax_rate) for i in items])
            except MoneyError as error:
                line = error.field.removeprefix("items.")
                raise ValueError(f"line {int(line) + 1}: {error.reason}" if line.isdigit() else error.reason) from None
        return items

    @field_validator("due_date")
    @classmethod
    def _due(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is None:
            return value
        if info.data.get("due_days") is not None:
            raise ValueError("give due_days or due_date, not both")
        issue = info.data.get("issue_date") or datetime.now(UTC).date()
        if value < issue:
            raise ValueError(f"is before the issue date {issue.isoformat()}")
        if (value - issue).days > MAX_DUE_DAYS:
            raise ValueError(f"must be at most {MAX_DUE_DAYS} days after the issue date")
        return value

    def to_request(self) -> InvoiceRequest:
        customer = self.customer
        return InvoiceRequest(
            customer=Party(name=customer.name, email=customer.email, address=customer.address,
                           tax_id=customer.tax_id, country=customer.country),
            currency=self.currency,
            items=tuple(LineItem(i.description, i.quantity, i.unit_price, i.tax_rate) for i in self.items),
            issue_date=self.issue_date, due_date=self.due_date, due_days=self.due_days, notes=self.notes,
            send_email=self.send_email,
        )


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period_start: date
    period_end: date
    send_email: bool = True

    _period_start = field_validator("period_start")(sane_date)

    @field_validator("period_end")
    @classmethod
    def _order(cls, value: date, info: ValidationInfo) -> date:
        sane_date(value)
        start = info.data.get("period_start")
        if start is not None and value < start:
            raise ValueError(f"is before period_start {start.isoformat()}")
        if start is not None and (value - start).days >= MAX_PERIOD_DAYS:
            raise ValueError(f"the period may span at most {MAX_PERIOD_DAYS} days")
        return value


class InvoiceListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str | None = Field(None, max_length=254)
    date_from: date | None = None
    date_to: date | None = None
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None

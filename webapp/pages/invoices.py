"""Pages for invoices: the new-invoice form (line items added and removed in the page) and the list."""
from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from pydantic import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from accounts.roles import Role
from invoicing.issue import issue_invoice
from webapp.access import requires
from webapp.api.invoices import issue_date_problem
from webapp.api.requests import query_args
from webapp.errors import validation_error
from webapp.queries import find_invoices
from webapp.rate_limits import submit_rate_limits
from webapp.schemas.invoices import InvoiceBody, InvoiceListQuery
from webapp.serializers import invoice_to_dict
from webapp.submit import submit

bp = Blueprint("invoice_pages", __name__)

BLANK_ROWS = 3
MAX_ROWS = 200
CUSTOMER_FIELDS = ("name", "email", "address", "tax_id", "country")
ITEM_FIELDS = ("description", "quantity", "unit_price", "tax_rate")
LIST_LIMIT = 50


# items-<index>-<field>: the index in ASCII digits, below MAX_ROWS (the page never numbers rows higher).
ITEM_FIELD_NAME = re.compile(r"items-([0-9]{1,3})-(" + "|".join(ITEM_FIELDS) + ")", re.ASCII)


class FormFieldsRefused(ValueError):
    """Item field names the form never produces (another digit script, a huge index, an unknown field)."""


def form_rows(form: MultiDict[str, str]) -> list[dict[str, str]]:
    """The line-item rows of the form, in order, without the ones left entirely blank."""
    indexes: set[int] = set()
    for key in form:
        if not key.startswith("items"):
            continue
        match = ITEM_FIELD_NAME.fullmatch(key)
        if match is None or int(match.group(1)) >= MAX_ROWS:
            raise FormFieldsRefused(f"field {key[:40]!r} is not items-<0 to {MAX_ROWS - 1}>-<{'|'.join(ITEM_FIELDS)}>")
        indexes.add(int(match.group(1)))
    rows = [{name: form.get(f"items-{i}-{name}", "").strip() for name in ITEM_FIELDS} for i in sorted(indexes)]
    return [row for row in rows if any(row.values())]


def form_payload(form: MultiDict[str, str], rows: list[dict[str, str]]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "customer": {name: form.get(f"customer-{name}", "").strip() for name in CUSTOMER_FIELDS},
        "currency": form.get("currency", "").strip(),
        "items": rows,
        "notes": form.get("notes", "").strip(),
        "send_email": form.get("send_email") == "on",
    }
    for name in ("issue_date", "due_date", "due_days"):
        if form.get(name, "").strip():
            payload[name] = form[name].strip()
    return payload


def field_errors(error: ValidationError) -> dict[str, str]:
    """Errors by form field name: customer.email -> customer-email, items.1.quantity -> items-1-quantity."""
    errors: dict[str, str] = {}
    for item in validation_error(error).fields:
        errors.setdefault(item["field"].replace(".", "-"), item["reason"])
    return errors


@bp.route("/invoices/new", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@submit_rate_limits
def new_invoice() -> Response | tuple[str, int]:
    values: dict[str, Any] = {"currency": "EUR", "send_email": True, "customer": {}, "notes": ""}
    rows: list[dict[str, str]] = []
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            rows = form_rows(request.form)
        except FormFieldsRefused as refused:
            rows, errors = [], {"items": str(refused)}
        values = form_payload(request.form, rows)
        try:
            body = InvoiceBody.model_validate(values)
        except ValidationError as error:
            errors = field_errors(error) | errors
        else:
            problem = issue_date_problem(body)
            if problem is not None:
                errors["issue_date"] = problem
        if not errors:
            job, _new = submit(issue_invoice, body.to_request().to_dict())
            return redirect(url_for("pages.job_page", job_id=str(job.id)), code=303)
    shown = rows + [dict.fromkeys(ITEM_FIELDS, "") for _ in range(max(BLANK_ROWS - len(rows), 1))]
    return render_template("invoice_new.html", values=values, rows=shown, errors=errors,
                           today=date.today().isoformat()), 422 if errors else 200


@bp.get("/invoices")
def list_invoices() -> str:
    query = query_args(InvoiceListQuery, drop_empty=True)
    page, next_cursor = find_invoices(query.model_copy(update={"limit": LIST_LIMIT}))
    return render_template("invoices.html", invoices=[invoice_to_dict(invoice) for invoice in page],
                           customer=query.customer or "", next_cursor=next_cursor)

"""A schedule's params for one period: `${placeholder}` strings replaced by dates of that period.

A monthly batch needs "the previous month" as dates, and those change every period, so a schedule's
params may hold strings such as "${previous_month_start}" (string.Template syntax; "$$" is a
literal "$"). Every placeholder is computed from the period's start in the schedule's own zone, so
the run of 1 March 02:00 Europe/Madrid bills 1 to 29 February in a leap year whatever UTC says.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from jobs.field_errors import FieldError


class ParamsError(FieldError):
    """A placeholder that does not exist or a malformed template; `field` names the param."""


def _previous_month_end(day: date) -> date:
    return day.replace(day=1) - timedelta(days=1)


PLACEHOLDERS: dict[str, Callable[[datetime], str]] = {
    "period_start": lambda local: local.isoformat(),
    "period_date": lambda local: local.date().isoformat(),
    "previous_day": lambda local: (local.date() - timedelta(days=1)).isoformat(),
    "previous_week_start": lambda local: (local.date() - timedelta(days=local.weekday() + 7)).isoformat(),
    "previous_week_end": lambda local: (local.date() - timedelta(days=local.weekday() + 1)).isoformat(),
    "previous_month_start": lambda local: _previous_month_end(local.date()).replace(day=1).isoformat(),
    "previous_month_end": lambda local: _previous_month_end(local.date()).isoformat(),
}


def render_params(params: dict[str, Any], period_start: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """`params` with every placeholder replaced for the period starting at `period_start` (aware)."""
    local = period_start.astimezone(zone)
    values = {name: compute(local) for name, compute in PLACEHOLDERS.items()}
    rendered = _render(params, values, "params")
    assert isinstance(rendered, dict)
    return rendered


def _render(value: Any, values: dict[str, str], field: str) -> Any:
    if isinstance(value, str):
        template = Template(value)
        if not template.is_valid():
            raise ParamsError(field, "a '$' starts a placeholder such as ${previous_month_start}; write $$ for '$'")
        unknown = set(template.get_identifiers()) - values.keys()
        if unknown:
            raise ParamsError(field, f"unknown placeholder {sorted(unknown)[0]!r}; known: {', '.join(PLACEHOLDERS)}")
        return template.substitute(values)
    if isinstance(value, dict):
        return {key: _render(item, values, f"{field}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, values, f"{field}.{index}") for index, item in enumerate(value)]
    return value

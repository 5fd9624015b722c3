"""A schedule's params for one period: placeholders computed in the schedule's zone, bad ones named."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from jobs.schedule_params import ParamsError, render_params

MADRID = ZoneInfo("Europe/Madrid")
EVERY = {name: "${" + name + "}" for name in ("period_date", "previous_day", "previous_week_start",
                                              "previous_week_end", "previous_month_start", "previous_month_end")}


def test_placeholders_are_dates_of_the_period_in_its_zone() -> None:
    # 23:30 UTC on Tuesday 31 December 2024 is already Wednesday 1 January 2025 in Madrid.
    assert render_params(EVERY, datetime(2024, 12, 31, 23, 30, tzinfo=UTC), MADRID) == {
        "period_date": "2025-01-01", "previous_day": "2024-12-31", "previous_week_start": "2024-12-23",
        "previous_week_end": "2024-12-29", "previous_month_start": "2024-12-01", "previous_month_end": "2024-12-31"}
    assert render_params(EVERY, datetime(2024, 12, 31, 23, 30, tzinfo=UTC), ZoneInfo("UTC"))["period_date"] == (
        "2024-12-31")


def test_nested_params_and_literals_keep_their_shape() -> None:
    params = {"n": 3, "flag": True, "items": [{"note": "from ${previous_month_start}"}], "cost": "$$10"}
    assert render_params(params, datetime(2023, 3, 1, 1, tzinfo=UTC), MADRID) == {
        "n": 3, "flag": True, "items": [{"note": "from 2023-02-01"}], "cost": "$10"}


@pytest.mark.parametrize(("params", "field"), [
    ({"period_start": "${last_month}"}, "params.period_start"),
    ({"items": [{"note": "ok"}, {"note": "costs $5"}]}, "params.items.1.note"),
])
def test_an_unknown_or_malformed_placeholder_names_its_param(params: dict[str, object], field: str) -> None:
    with pytest.raises(ParamsError) as error:
        render_params(params, datetime(2023, 3, 1, tzinfo=UTC), MADRID)
    assert error.value.field == field

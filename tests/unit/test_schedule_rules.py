"""Periods of a schedule across DST changes, month ends and leap days, computed in the schedule's zone."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.schedule_rules import RuleError, parse_rule


def local(rule: str, zone: str, since: datetime, until: datetime) -> list[str]:
    parsed = parse_rule(rule, zone)
    return [start.astimezone(parsed.zone).isoformat() for start in parsed.due(since, until)]


@pytest.mark.parametrize(("zone", "spring_day", "after"), [
    ("Europe/Madrid", 29, "2026-03-29T03:00:00+02:00"),
    ("Europe/London", 29, "2026-03-29T02:30:00+01:00"),  # London skips 01:00-02:00: 02:30 exists
    ("America/New_York", 8, "2026-03-08T03:00:00-04:00"),
])
def test_a_time_skipped_by_spring_forward_runs_once_at_the_next_valid_instant(
    zone: str, spring_day: int, after: str
) -> None:
    runs = local("30 2 * * *", zone, datetime(2026, 3, spring_day - 1, 12, tzinfo=UTC),
                 datetime(2026, 3, spring_day + 1, 12, tzinfo=UTC))
    days = [run[:10] for run in runs]
    assert days == sorted(set(days))  # once a day, none doubled or lost
    assert after in runs


@pytest.mark.parametrize(("zone", "fall_day"), [("Europe/Madrid", 25), ("America/New_York", None)])
def test_a_time_repeated_by_fall_back_runs_once_the_first_time(zone: str, fall_day: int | None) -> None:
    month, day = (10, fall_day) if fall_day else (11, 1)
    hour = "30 2 * * *" if zone == "Europe/Madrid" else "30 1 * * *"
    runs = local(hour, zone, datetime(2026, month, day - 1 if day > 1 else 1, 0, tzinfo=UTC),
                 datetime(2026, month, day + 1, 23, tzinfo=UTC))
    that_day = [run for run in runs if run.startswith(f"2026-{month:02d}-{day:02d}")]
    assert len(that_day) == 1
    summer = "+02:00" if zone == "Europe/Madrid" else "-04:00"
    assert that_day[0].endswith(summer)  # the first of the two, still on summer time


def test_the_31st_runs_only_in_months_that_have_it_and_29_february_only_in_leap_years() -> None:
    runs = parse_rule("0 9 31 * *", "Europe/Madrid").next_runs(datetime(2026, 1, 1, tzinfo=UTC), 7)
    assert [run.month for run in runs] == [1, 3, 5, 7, 8, 10, 12]
    leap = parse_rule("0 9 29 2 *", "UTC").next_runs(datetime(2026, 1, 1, tzinfo=UTC), 2)
    assert leap == [datetime(2028, 2, 29, 9, tzinfo=UTC), datetime(2032, 2, 29, 9, tzinfo=UTC)]
    # A downtime of a year looks back 40 days at most (older periods are not listed one by one).
    recent = local("0 9 31 * *", "UTC", datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert recent == ["2025-12-31T09:00:00+00:00"]


def test_interval_periods_are_aligned_so_every_scheduler_computes_the_same() -> None:
    one = parse_rule("every 10 seconds", "UTC").due(datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC),
                                                    datetime(2026, 1, 1, 0, 0, 31, tzinfo=UTC))
    other = parse_rule("every 10 s", "Europe/Madrid").due(datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC),
                                                          datetime(2026, 1, 1, 0, 0, 31, tzinfo=UTC))
    assert one == other == [datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in (10, 20, 30)]


def test_a_long_downtime_lists_a_bounded_number_of_periods() -> None:
    due = parse_rule("every 1 second", "UTC").due(datetime(2020, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert len(due) == 1000 and due[-1] == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("rule", "zone", "field"), [
    ("61 * * * *", "UTC", "rule"), ("* * *", "UTC", "rule"), ("every 0 seconds", "UTC", "rule"),
    ("daily", "UTC", "rule"), ("0 3 * * *", "Mars/Olympus", "timezone"), ("0 3 * * *", "../etc/passwd", "timezone"),
])
def test_bad_rules_and_zones_name_the_field(rule: str, zone: str, field: str) -> None:
    with pytest.raises(RuleError) as raised:
        parse_rule(rule, zone)
    assert raised.value.field == field

"""When a schedule's periods start: a 5-field cron expression in an IANA zone, or "every N seconds/minutes".

Cron rules are computed by `cronsim` in the schedule's zone (Celery's own crontab skips or doubles
runs across DST changes): a time that does not exist on the day clocks spring forward runs at the
next valid instant, and a time that happens twice on the day they fall back runs once, the first
time. Interval rules count from the Unix epoch in UTC, so every scheduler computes the same periods
whenever it starts. Every period comes back as an aware UTC datetime.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from jobs.field_errors import FieldError

INTERVAL = re.compile(r"every\s+(\d{1,6})\s*(s|sec|secs|seconds?|m|min|mins|minutes?)", re.IGNORECASE)
MIN_INTERVAL_S = 1
# A scheduler that was down for long looks back at most this many periods (the older are not listed).
MAX_LOOKBACK = 1000
MAX_CRON_LOOKBACK = timedelta(days=40)


class RuleError(FieldError):
    """A rule or zone that cannot be scheduled; `field` names the input."""


@dataclass(frozen=True)
class Rule:
    text: str
    zone: ZoneInfo
    interval_s: int | None  # None: a cron expression

    def after(self, moment: datetime) -> Iterator[datetime]:
        """Period starts strictly after `moment`, in order, as UTC."""
        if self.interval_s is not None:
            step = self.interval_s
            current = (int(moment.timestamp()) // step + 1) * step
            while True:
                yield datetime.fromtimestamp(current, UTC)
                current += step
        for start in CronSim(self.text, moment.astimezone(self.zone)):
            yield start.astimezone(UTC)

    def due(self, since: datetime, now: datetime) -> list[datetime]:
        """Period starts in (since, now], at most the last MAX_LOOKBACK of them."""
        if self.interval_s is not None and (now - since).total_seconds() / self.interval_s > MAX_LOOKBACK:
            since = now - timedelta(seconds=self.interval_s * MAX_LOOKBACK)
        since = max(since, now - MAX_CRON_LOOKBACK)  # a cron rule is walked period by period
        found: list[datetime] = []
        for start in self.after(since):
            if start > now:
                break
            found.append(start)
            if len(found) > MAX_LOOKBACK:
                found.pop(0)
        return found

    def next_runs(self, now: datetime, count: int = 5) -> list[datetime]:
        runs = []
        for start in self.after(now):
            runs.append(start)
            if len(runs) == count:
                break
        return runs


def parse_rule(text: str, zone: str) -> Rule:
    """The rule, checked; RuleError naming `rule` or `timezone` otherwise."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError("timezone", f"{zone!r} is not an IANA time zone such as Europe/Madrid") from None
    text = " ".join(text.split())
    interval = INTERVAL.fullmatch(text)
    if interval is not None:
        amount = int(interval.group(1)) * (60 if interval.group(2).lower().startswith("m") else 1)
        if amount < MIN_INTERVAL_S:
            raise RuleError("rule", f"an interval must be at least {MIN_INTERVAL_S} s")
        return Rule(text=text, zone=tz, interval_s=amount)
    try:
        CronSim(text, datetime.now(tz))
    except CronSimError as error:
        raise RuleError("rule", f"not a 5-field cron expression or 'every N seconds|minutes': {error}") from None
    if len(text.split()) != 5:
        raise RuleError("rule", "a cron expression has 5 fields: minute hour day-of-month month day-of-week")
    return Rule(text=text, zone=tz, interval_s=None)

"""The shortest gap between two runs of a cron schedule: a pure function of the expression and zone.

params.py checks `schedule.scrape_cache_expiration_s` against it. A check that measured the gap
after "now" gave the same params.yaml a different verdict at different times of day ("0 9,17 * * *"
has gaps of 8 h and 16 h), so nothing here reads the clock:

- wall-clock gaps are exact over one whole Gregorian calendar cycle (400 years, 146,097 days:
  weekdays, month lengths and leap days all repeat after it). The days a schedule fires on are
  decided by cronsim's own day matching (so `L`, `W`, `5#2` mean what Prefect's schedule means),
  once per kind of month (its number, length and first weekday);
- in a zone with daylight saving time, the real gaps around each offset change of a fixed window
  of years (REFERENCE_YEARS) are measured with cronsim, which moves a skipped local time to the next
  real one as cron does; elsewhere a real gap equals its wall-clock gap.

Not run directly; tests/unit/test_schedule_params.py checks it.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

CYCLE_YEARS = 400  # the Gregorian calendar repeats exactly after 400 years (146,097 days)
CYCLE_START = 2001  # any fixed year works; fixed so that examples in messages never change
REFERENCE_YEARS = range(2001, 2029)  # 28 years: every weekday/leap-year alignment of DST rules
MARGIN = timedelta(hours=3)  # longer than any DST shift (at most 2 h anywhere since 1970)
DAY_MIN = 24 * 60


class Gap(NamedTuple):
    """The shortest time between two consecutive runs, with one place it occurs (for messages)."""

    seconds: int
    start: datetime  # one run (naive wall clock, or aware in the schedule's zone)
    end: datetime  # the next run

    def describe(self) -> str:
        """e.g. '8 h 0 min (28800 s), e.g. from Mon 2001-01-01 09:00 to Mon 2001-01-01 17:00'"""
        hours, minutes = divmod(self.seconds // 60, 60)
        when = "%a %Y-%m-%d %H:%M"
        return (
            f"{hours} h {minutes} min ({self.seconds} s), e.g. from {self.start:{when}} "
            f"to {self.end:{when}}"
        )


def parse(expr: str) -> CronSim:
    """The parsed 5-field cron expression (minute hour day-of-month month day-of-week).

    Raises:
        CronSimError: not 5 fields, or a field cronsim cannot read.
    """
    if len(expr.split()) != 5:  # cronsim also takes a 6th (seconds) field; Prefect's cron does not
        raise CronSimError(f"{len(expr.split())} fields, not 5")
    return CronSim(expr, datetime(CYCLE_START, 1, 1))


def shortest_gap(expr: str, timezone: str) -> Gap:
    """The shortest time between two consecutive runs of `expr` read in `timezone`, ever.

    Args:
        expr: a 5-field cron expression.
        timezone: an IANA zone name (the schedule's `timezone`).

    Returns:
        The shortest gap in seconds and one pair of runs that has it.

    Raises:
        CronSimError: `expr` is not a 5-field cron expression, or it never fires.
    """
    wall = _wall_gap(expr)
    zone = ZoneInfo(timezone)
    gaps = [wall] + [_gap_around(expr, zone, t) for t in _offset_changes(zone)]
    return min(gaps, key=lambda g: g.seconds)


@cache
def _cycle(expr: str) -> tuple[list[int], list[int]]:
    """(minutes after midnight it fires at, ordinals of the days of one cycle it fires on)."""
    sim = parse(expr)
    times = sorted(h * 60 + m for h in sim.hours for m in sim.minutes)
    days: list[int] = []
    by_kind: dict[tuple[int, int, int], list[int]] = {}
    for year in range(CYCLE_START, CYCLE_START + CYCLE_YEARS):
        for month in sorted(sim.months):
            first_weekday, length = calendar.monthrange(year, month)
            kind = (month, first_weekday, length)  # all that cronsim's day matching depends on
            if kind not in by_kind:
                by_kind[kind] = [
                    d for d in range(1, length + 1) if sim.match_day(date(year, month, d))
                ]
            start = date(year, month, 1).toordinal() - 1
            days += [start + d for d in by_kind[kind]]
    if not days:
        raise CronSimError("it never fires (no date matches its day and month fields)")
    return times, days


def _day_pairs(days: list[int]) -> list[tuple[int, int]]:
    """Each firing day with the next one; the cycle wraps around exactly."""
    length = date(CYCLE_START + CYCLE_YEARS, 1, 1).toordinal() - date(CYCLE_START, 1, 1).toordinal()
    return list(zip(days, [*days[1:], days[0] + length], strict=True))


def _wall_gap(expr: str) -> Gap:
    """The shortest wall-clock gap over one calendar cycle (exact: calendar arithmetic)."""
    times, days = _cycle(expr)
    # The run after a day's last one is the first run of the next firing day.
    day, after = min(_day_pairs(days), key=lambda pair: pair[1] - pair[0])
    across = (after - day) * DAY_MIN - (times[-1] - times[0])
    pairs = [(across, (day, times[-1]), (after, times[0]))]
    pairs += [(b - a, (days[0], a), (days[0], b)) for a, b in zip(times, times[1:], strict=False)]
    minutes, (d0, t0), (d1, t1) = min(pairs, key=lambda p: p[0])

    def at(ordinal: int, minute: int) -> datetime:
        return datetime.combine(date.fromordinal(ordinal), time()) + timedelta(minutes=minute)

    return Gap(minutes * 60, at(d0, t0), at(d1, t1))


@cache
def _offset_changes(zone: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC instants in REFERENCE_YEARS at which `zone`'s UTC offset changes (DST)."""
    found: list[datetime] = []
    step = timedelta(days=1)
    moment = datetime(REFERENCE_YEARS.start, 1, 1, tzinfo=UTC)
    end = datetime(REFERENCE_YEARS.stop, 1, 1, tzinfo=UTC)
    while moment < end:
        if moment.astimezone(zone).utcoffset() != (moment + step).astimezone(zone).utcoffset():
            lo, hi = moment, moment + step
            while hi - lo > timedelta(minutes=1):  # bisect to the minute
                mid = lo + (hi - lo) / 2
                same = mid.astimezone(zone).utcoffset() == lo.astimezone(zone).utcoffset()
                lo, hi = (mid, hi) if same else (lo, mid)
            found.append(hi)
        moment += step
    return tuple(found)


@cache
def _longest_wall_gap(expr: str) -> timedelta:
    """The longest wall-clock gap over one cycle (how far back the run before an instant lies)."""
    times, days = _cycle(expr)
    within = [b - a for a, b in zip(times, times[1:], strict=False)]
    across = max(b - a for a, b in _day_pairs(days)) * DAY_MIN - (times[-1] - times[0])
    return timedelta(minutes=max([across, *within]))


def _gap_around(expr: str, zone: ZoneInfo, change: datetime) -> Gap:
    """The shortest real gap between runs near one offset change, measured with cronsim (which
    moves a skipped local time to the next real one, and runs a repeated one once, as cron)."""
    runs = CronSim(expr, (change - _longest_wall_gap(expr) - MARGIN).astimezone(zone))
    previous, best = next(runs), None
    while previous <= change + MARGIN:
        current = next(runs)
        gap = Gap(int(current.timestamp() - previous.timestamp()), previous, current)
        best = gap if best is None or gap.seconds < best.seconds else best
        previous = current
    assert best is not None  # the first run is more than MARGIN before the change
    return best

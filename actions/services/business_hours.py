"""Promised reply times: count working hours only, and say the result the way a person would.

Rules this module keeps:
- a deadline counts only time inside the owner's working hours (their time zone, "HH:MM" start and
  end, ISO weekdays 1 = Monday … 7 = Sunday); evenings, nights and days off do not count;
- all arithmetic is done on UTC instants, and local windows are built with :mod:`zoneinfo`, so a
  daylight-saving change never adds or loses an hour (a 25-hour Sunday really has 25 hours);
- a request is a timezone-aware instant; naive datetimes are refused rather than guessed at;
- deadlines are rounded *up* to the whole minute, so the phrase a customer hears ("by 1:05 PM")
  is never earlier than the time actually computed;
- the reply-time target comes from the ``reply_target`` policy row (what the policy text tells
  customers), falling back to the ``GOLDEN_RULE_REPLY_TARGET_HOURS`` setting when the row is missing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.store.models import Policy, Staff

UTC = dt.timezone.utc
REPLY_TARGET_POLICY = "reply_target"
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
# A year of days is more than any real schedule needs to find its next working window.
_MAX_DAYS_SEARCHED = 366 * 2

# Customer-facing names for the zones a US shop is likely to use; other zones fall back to the city.
_ZONE_NAMES = {
    "America/Chicago": "Central Time",
    "US/Central": "Central Time",
    "America/New_York": "Eastern Time",
    "US/Eastern": "Eastern Time",
    "America/Denver": "Mountain Time",
    "America/Phoenix": "Mountain Time",
    "US/Mountain": "Mountain Time",
    "America/Los_Angeles": "Pacific Time",
    "US/Pacific": "Pacific Time",
    "UTC": "UTC",
    "Etc/UTC": "UTC",
}


class InvalidWorkingHours(ValueError):
    """A staff schedule that cannot be used to compute a deadline."""


def _parse_hhmm(value: str, what: str) -> dt.timedelta:
    """"09:30" → 9 h 30 min after midnight; "24:00" is allowed as an end (end of day)."""
    match = _HHMM.match((value or "").strip())
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise InvalidWorkingHours(f"{what} {value!r} is not a time like 09:00")
    return dt.timedelta(hours=int(match.group(1)), minutes=int(match.group(2)))


@dataclass(frozen=True)
class WorkingHours:
    """One person's weekly working window, in their own time zone.

    ``start`` and ``end`` are offsets from local midnight (``end`` may be 24:00); the window is the
    same on every day in ``days`` (ISO weekdays). Shifts that cross midnight are not supported.
    """

    timezone: str
    start: dt.timedelta
    end: dt.timedelta
    days: frozenset[int]

    @classmethod
    def parse(cls, timezone: str, start: str, end: str, days: str) -> WorkingHours:
        """Build from the store's text columns; raises :class:`InvalidWorkingHours` with the reason."""
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidWorkingHours(f"unknown time zone {timezone!r}") from exc
        start_at = _parse_hhmm(start, "work start")
        end_at = _parse_hhmm(end, "work end")
        if start_at >= end_at:
            raise InvalidWorkingHours(f"work start {start} is not before work end {end}")
        try:
            weekdays = frozenset(int(part) for part in (days or "").split(",") if part.strip())
        except ValueError as exc:
            raise InvalidWorkingHours(f"work days {days!r} are not ISO weekday numbers") from exc
        if not weekdays or not weekdays <= set(range(1, 8)):
            raise InvalidWorkingHours(f"work days {days!r} must list ISO weekdays 1–7")
        return cls(timezone=timezone, start=start_at, end=end_at, days=weekdays)

    @classmethod
    def of(cls, staff: Staff) -> WorkingHours:
        """The working hours stored on a staff row."""
        return cls.parse(staff.timezone, staff.work_start, staff.work_end, staff.work_days)

    def window_on(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """The UTC start and end of work on local date ``day``, or ``None`` on a day off."""
        if day.isoweekday() not in self.days:
            return None
        zone = ZoneInfo(self.timezone)
        midnight = dt.datetime.combine(day, dt.time(0))
        # Local wall-clock times resolved by zoneinfo, then converted: the UTC difference is the
        # real length of the shift even on a daylight-saving day.
        start = (midnight + self.start).replace(tzinfo=zone).astimezone(UTC)
        end = (midnight + self.end).replace(tzinfo=zone).astimezone(UTC)
        return start, end


def _require_aware(moment: dt.datetime, what: str) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime (UTC), got a naive one")
    return moment.astimezone(UTC)


def _ceil_minute(moment: dt.datetime) -> dt.datetime:
    floored = moment.replace(second=0, microsecond=0)
    return floored if floored == moment else floored + dt.timedelta(minutes=1)


def promised_reply_time(requested_at: dt.datetime, hours: WorkingHours, target_hours: float) -> dt.datetime:
    """The instant (aware, UTC) by which ``target_hours`` of ``hours``' working time have passed.

    Time before ``requested_at`` never counts; a request outside working hours starts counting at
    the next window (Friday 18:00 + 4 h → Monday 13:00, Friday 15:00 + 4 h → Monday 11:00 with
    09:00–17:00 on weekdays). A deadline that lands exactly on the end of a window stays there.
    """
    if target_hours <= 0:
        raise ValueError(f"the reply-time target must be positive, got {target_hours}")
    cursor = _require_aware(requested_at, "requested_at")
    remaining = dt.timedelta(hours=target_hours)
    # Windows never cross local midnight, so nothing before the request's local date can be open.
    day = cursor.astimezone(ZoneInfo(hours.timezone)).date()
    for _ in range(_MAX_DAYS_SEARCHED):
        window = hours.window_on(day)
        day += dt.timedelta(days=1)
        if window is None:
            continue
        start, end = window
        begin = max(cursor, start)
        if begin >= end:
            continue
        available = end - begin
        if available >= remaining:
            return _ceil_minute(begin + remaining)
        remaining -= available
        cursor = end
    raise InvalidWorkingHours("no working time found in the schedule")  # unreachable with valid days


def reply_target_hours(session: Session, default: float) -> float:
    """The reply-time target in working hours: the ``reply_target`` policy value, else ``default``."""
    value = session.scalar(select(Policy.value).where(Policy.key == REPLY_TARGET_POLICY))
    return float(value) if value and value > 0 else float(default)


def zone_label(timezone: str) -> str:
    """"America/Chicago" → "Central Time"; an unlisted zone → "<City> time" ("Berlin time")."""
    if timezone in _ZONE_NAMES:
        return _ZONE_NAMES[timezone]
    city = timezone.rsplit("/", 1)[-1].replace("_", " ")
    return f"{city} time"


def clock_time(moment: dt.datetime) -> str:
    """13:05 → "1:05 PM" (no leading zero, which strftime cannot do portably)."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def by_when_phrase(deadline: dt.datetime, now: dt.datetime, timezone: str) -> str:
    """How a customer hears a deadline, in the store's time zone.

    Same local day as ``now`` → "by 1:00 PM Central Time today"; next day → "... tomorrow
    (Tuesday, November 24)"; otherwise "by Monday, November 30 at 1:00 PM Central Time", with the
    year added only when it differs from the current one.
    """
    zone = ZoneInfo(timezone)
    local = _require_aware(deadline, "deadline").astimezone(zone)
    today = _require_aware(now, "now").astimezone(zone).date()
    at = f"{clock_time(local)} {zone_label(timezone)}"
    date_words = f"{local:%A, %B} {local.day}"
    if local.date() == today:
        return f"by {at} today"
    if local.date() == today + dt.timedelta(days=1):
        return f"by {at} tomorrow ({date_words})"
    if local.year != today.year:
        date_words += f", {local.year}"
    return f"by {date_words} at {at}"

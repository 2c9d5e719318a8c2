"""Recurring tasks: RRULE parsing and expansion in the community's wall-clock time.

Pure tests of ``volunteer_hub.recurrence``: no database, no clock.
"""

from __future__ import annotations

import calendar
import sys
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as dateutil_rrule
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from volunteer_hub.recurrence import (
    HORIZON,
    MAX_OCCURRENCES,
    RecurrenceError,
    cached_expansion,
    calendar_shift,
    check_rule,
    expand,
    next_start,
    occurs_at,
    utc_rule,
)

SHANGHAI = "Asia/Shanghai"
SH = ZoneInfo(SHANGHAI)
BERLIN = "Europe/Berlin"
BE = ZoneInfo(BERLIN)

TWO_HOURS = timedelta(hours=2)
# The silver patrol (story 3): first walk Thursday 2026-12-03, 19:00-21:00 local.
PATROL_FIRST = datetime(2026, 12, 3, 19, 0, tzinfo=SH)
PATROL_RULE = "FREQ=WEEKLY;BYDAY=TU,TH"
DECEMBER = (datetime(2026, 12, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH))

INVALID = "Must be a valid RRULE (RFC 5545)."
SINGLE_LINE = "Must be a single RRULE line without DTSTART."
AT_MOST_DAILY = "The rule may repeat at most daily."


def local_starts(pairs: list[tuple[datetime, datetime]], zone: ZoneInfo = SH) -> list[datetime]:
    return [s.astimezone(zone) for s, _ in pairs]


# --- one-off tasks ------------------------------------------------------------------


def test_one_off_inside_window_yields_its_single_occurrence():
    start = datetime(2026, 12, 5, 9, 30, tzinfo=SH)
    pairs = expand(start, timedelta(hours=3), None, SHANGHAI, *DECEMBER)
    assert pairs == [(start, start + timedelta(hours=3))]


def test_one_off_outside_window_yields_nothing():
    start = datetime(2027, 1, 5, 9, 30, tzinfo=SH)
    assert expand(start, TWO_HOURS, None, SHANGHAI, *DECEMBER) == []
    before = datetime(2026, 11, 30, 9, 30, tzinfo=SH)
    assert expand(before, TWO_HOURS, None, SHANGHAI, *DECEMBER) == []


def test_one_off_window_start_inclusive_end_exclusive():
    start = datetime(2026, 12, 5, 9, 30, tzinfo=SH)
    assert expand(start, TWO_HOURS, None, SHANGHAI, start, start + timedelta(days=1)) == [
        (start, start + TWO_HOURS)
    ]
    assert expand(start, TWO_HOURS, None, SHANGHAI, start - timedelta(days=1), start) == []


# --- weekly rules in local wall-clock time -------------------------------------------


def test_weekly_tuesday_thursday_over_a_month_stays_at_19_local():
    pairs = expand(PATROL_FIRST, TWO_HOURS, PATROL_RULE, SHANGHAI, *DECEMBER)
    starts = local_starts(pairs)
    assert [s.date() for s in starts] == [
        date(2026, 12, d) for d in (3, 8, 10, 15, 17, 22, 24, 29, 31)
    ]
    assert all(s.time() == time(19, 0) for s in starts)
    assert all(s.weekday() in (1, 3) for s in starts)  # Tuesday, Thursday
    # 19:00 in Shanghai is 11:00 UTC, every time.
    assert all(s.astimezone(UTC).time() == time(11, 0) for s, _ in pairs)
    assert all(e - s == TWO_HOURS for s, e in pairs)
    assert all(e.astimezone(SH).time() == time(21, 0) for _, e in pairs)


def test_first_start_given_in_utc_still_repeats_local_wall_clock():
    first_utc = PATROL_FIRST.astimezone(UTC)  # as read back from the database
    pairs = expand(first_utc, TWO_HOURS, PATROL_RULE, SHANGHAI, *DECEMBER)
    assert local_starts(pairs) == local_starts(
        expand(PATROL_FIRST, TWO_HOURS, PATROL_RULE, SHANGHAI, *DECEMBER)
    )
    assert len(pairs) == 9


def test_expand_returns_utc_datetimes_as_documented():
    """The docstring promises UTC-aware datetimes; stores compare them as such."""
    pairs = expand(PATROL_FIRST, TWO_HOURS, PATROL_RULE, SHANGHAI, *DECEMBER)
    assert pairs
    for s, e in pairs:
        assert s.utcoffset() == timedelta(0)
        assert e.utcoffset() == timedelta(0)


def test_rrule_prefix_is_accepted():
    with_prefix = expand(PATROL_FIRST, TWO_HOURS, "RRULE:" + PATROL_RULE, SHANGHAI, *DECEMBER)
    lower = expand(PATROL_FIRST, TWO_HOURS, "rrule:freq=weekly;byday=tu,th", SHANGHAI, *DECEMBER)
    plain = expand(PATROL_FIRST, TWO_HOURS, PATROL_RULE, SHANGHAI, *DECEMBER)
    assert with_prefix == plain == lower
    assert len(plain) == 9


def test_count_limits_the_occurrences_from_the_first_start():
    rule = PATROL_RULE + ";COUNT=3"
    pairs = expand(PATROL_FIRST, TWO_HOURS, rule, SHANGHAI, *DECEMBER)
    assert [s.date() for s in local_starts(pairs)] == [
        date(2026, 12, 3),
        date(2026, 12, 8),
        date(2026, 12, 10),
    ]
    # COUNT is counted from the first start, not from the window's start.
    later = expand(
        PATROL_FIRST,
        TWO_HOURS,
        rule,
        SHANGHAI,
        datetime(2026, 12, 9, tzinfo=SH),
        datetime(2027, 1, 1, tzinfo=SH),
    )
    assert [s.date() for s in local_starts(later)] == [date(2026, 12, 10)]


def test_until_in_utc_with_z():
    # 2026-12-15T11:00Z is exactly 19:00 in Shanghai: that occurrence is included.
    pairs = expand(
        PATROL_FIRST, TWO_HOURS, PATROL_RULE + ";UNTIL=20261215T110000Z", SHANGHAI, *DECEMBER
    )
    assert [s.date() for s in local_starts(pairs)][-1] == date(2026, 12, 15)
    assert len(pairs) == 4
    # One second earlier, the 15th is gone.
    pairs = expand(
        PATROL_FIRST, TWO_HOURS, PATROL_RULE + ";UNTIL=20261215T105959Z", SHANGHAI, *DECEMBER
    )
    assert [s.date() for s in local_starts(pairs)][-1] == date(2026, 12, 10)


def test_floating_date_until_is_local_end_of_day_inclusive():
    pairs = expand(PATROL_FIRST, TWO_HOURS, PATROL_RULE + ";UNTIL=20261215", SHANGHAI, *DECEMBER)
    assert [s.date() for s in local_starts(pairs)] == [
        date(2026, 12, 3),
        date(2026, 12, 8),
        date(2026, 12, 10),
        date(2026, 12, 15),
    ]


def test_floating_date_until_in_a_western_zone_is_that_zones_day():
    # UNTIL=20261203 ends at 23:59:59 on the 3rd in Berlin (22:59:59 UTC). 00:30 on the
    # 4th in Berlin is still the 3rd in UTC (23:30Z), and must not be included.
    first = datetime(2026, 12, 1, 0, 30, tzinfo=BE)
    pairs = expand(
        first,
        TWO_HOURS,
        "FREQ=DAILY;UNTIL=20261203",
        BERLIN,
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert [s.astimezone(BE).date() for s, _ in pairs] == [
        date(2026, 12, 1),
        date(2026, 12, 2),
        date(2026, 12, 3),
    ]


def test_floating_datetime_until_is_local_time():
    pairs = expand(
        PATROL_FIRST, TWO_HOURS, PATROL_RULE + ";UNTIL=20261215T190000", SHANGHAI, *DECEMBER
    )
    assert [s.date() for s in local_starts(pairs)][-1] == date(2026, 12, 15)
    pairs = expand(
        PATROL_FIRST, TWO_HOURS, PATROL_RULE + ";UNTIL=20261215T185959", SHANGHAI, *DECEMBER
    )
    assert [s.date() for s in local_starts(pairs)][-1] == date(2026, 12, 10)


def test_window_start_inclusive_end_exclusive():
    tuesday = datetime(2026, 12, 8, 19, 0, tzinfo=SH)
    thursday = datetime(2026, 12, 10, 19, 0, tzinfo=SH)
    pairs = expand(PATROL_FIRST, TWO_HOURS, PATROL_RULE, SHANGHAI, tuesday, thursday)
    assert local_starts(pairs) == [tuesday]
    # Just after the start: the Tuesday is gone, and the Thursday is still out.
    assert (
        expand(
            PATROL_FIRST, TWO_HOURS, PATROL_RULE, SHANGHAI, tuesday + timedelta(seconds=1), thursday
        )
        == []
    )
    # The window may be given in any zone: only the instants matter.
    pairs = expand(
        PATROL_FIRST,
        TWO_HOURS,
        PATROL_RULE,
        SHANGHAI,
        tuesday.astimezone(UTC),
        (thursday + timedelta(seconds=1)).astimezone(UTC),
    )
    assert local_starts(pairs) == [tuesday, thursday]


def test_window_before_the_first_start_yields_nothing():
    assert (
        expand(
            PATROL_FIRST,
            TWO_HOURS,
            PATROL_RULE,
            SHANGHAI,
            datetime(2026, 11, 1, tzinfo=SH),
            PATROL_FIRST,
        )
        == []
    )


# --- another zone across a DST change ---------------------------------------------


def test_berlin_task_keeps_local_wall_clock_across_the_march_2027_dst_change():
    # Summer time starts in Europe on Sunday 2027-03-28 (02:00 → 03:00).
    first = datetime(2027, 3, 25, 19, 0, tzinfo=BE)
    pairs = expand(
        first.astimezone(UTC),
        TWO_HOURS,
        "FREQ=DAILY;COUNT=6",
        BERLIN,
        datetime(2027, 3, 1, tzinfo=UTC),
        datetime(2027, 5, 1, tzinfo=UTC),
    )
    assert [s.astimezone(BE).date() for s, _ in pairs] == [
        date(2027, 3, d) for d in (25, 26, 27, 28, 29, 30)
    ]
    assert all(s.astimezone(BE).time() == time(19, 0) for s, _ in pairs)
    assert all(e.astimezone(BE).time() == time(21, 0) for _, e in pairs)
    utc_hours = [s.astimezone(UTC).hour for s, _ in pairs]
    assert utc_hours == [18, 18, 18, 17, 17, 17]


def test_berlin_weekly_rule_across_dst_and_occurs_at():
    first = datetime(2027, 3, 23, 19, 0, tzinfo=BE)  # a Tuesday, winter time
    rule = "FREQ=WEEKLY;BYDAY=TU"
    after_change = datetime(2027, 3, 30, 19, 0, tzinfo=BE)  # summer time
    assert after_change.astimezone(UTC).hour == 17
    assert occurs_at(first, rule, BERLIN, after_change)
    assert occurs_at(first, rule, BERLIN, after_change.astimezone(UTC))
    # The same UTC time as the first week (18:00 UTC = 20:00 local) is not an occurrence.
    assert not occurs_at(first, rule, BERLIN, datetime(2027, 3, 30, 18, 0, tzinfo=UTC))


# --- occurs_at -------------------------------------------------------------------------


def test_occurs_at_recurring():
    assert occurs_at(PATROL_FIRST, PATROL_RULE, SHANGHAI, PATROL_FIRST)
    assert occurs_at(PATROL_FIRST, PATROL_RULE, SHANGHAI, datetime(2026, 12, 8, 19, tzinfo=SH))
    # The same instant expressed in UTC.
    assert occurs_at(PATROL_FIRST, PATROL_RULE, SHANGHAI, datetime(2026, 12, 8, 11, tzinfo=UTC))
    # A Wednesday, a minute late, a second late, before the first start.
    assert not occurs_at(PATROL_FIRST, PATROL_RULE, SHANGHAI, datetime(2026, 12, 9, 19, tzinfo=SH))
    assert not occurs_at(
        PATROL_FIRST, PATROL_RULE, SHANGHAI, datetime(2026, 12, 8, 19, 1, tzinfo=SH)
    )
    assert not occurs_at(
        PATROL_FIRST, PATROL_RULE, SHANGHAI, datetime(2026, 12, 8, 19, 0, 1, tzinfo=SH)
    )
    assert not occurs_at(PATROL_FIRST, PATROL_RULE, SHANGHAI, datetime(2026, 12, 1, 19, tzinfo=SH))


def test_occurs_at_respects_count_and_until():
    assert occurs_at(
        PATROL_FIRST, PATROL_RULE + ";COUNT=3", SHANGHAI, datetime(2026, 12, 10, 19, tzinfo=SH)
    )
    assert not occurs_at(
        PATROL_FIRST, PATROL_RULE + ";COUNT=3", SHANGHAI, datetime(2026, 12, 15, 19, tzinfo=SH)
    )
    assert occurs_at(
        PATROL_FIRST,
        PATROL_RULE + ";UNTIL=20261215",
        SHANGHAI,
        datetime(2026, 12, 15, 19, tzinfo=SH),
    )
    assert not occurs_at(
        PATROL_FIRST,
        PATROL_RULE + ";UNTIL=20261215",
        SHANGHAI,
        datetime(2026, 12, 17, 19, tzinfo=SH),
    )


def test_occurs_at_one_off():
    start = datetime(2026, 12, 5, 9, 30, tzinfo=SH)
    assert occurs_at(start, None, SHANGHAI, start)
    assert occurs_at(start, None, SHANGHAI, start.astimezone(UTC))
    assert not occurs_at(start, None, SHANGHAI, start + timedelta(minutes=1))
    assert not occurs_at(start, None, SHANGHAI, start + timedelta(days=7))


# --- refused rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "msgid"),
    [
        ("FREQ=HOURLY", AT_MOST_DAILY),
        ("FREQ=MINUTELY;INTERVAL=30", AT_MOST_DAILY),
        ("FREQ=SECONDLY", AT_MOST_DAILY),
        ("DTSTART:20261203T190000\nRRULE:FREQ=WEEKLY", SINGLE_LINE),
        ("FREQ=WEEKLY;DTSTART=20261203T190000", SINGLE_LINE),
        ("RRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY", SINGLE_LINE),
        ("FREQ=WEEKLY;BYDAY=TU\nEXDATE:20261208T190000", SINGLE_LINE),
        ("   ", SINGLE_LINE),
        ("RRULE:", SINGLE_LINE),
        ("garbage", INVALID),
        ("每周二四", INVALID),
        ("FOO=BAR", INVALID),
        ("BYDAY=TU,TH", INVALID),  # no FREQ
        ("FREQ=FORTNIGHTLY", INVALID),
        ("FREQ=WEEKLY;BYDAY=TU,XX", INVALID),
        ("FREQ=WEEKLY;BYDAY=MONDAY", INVALID),
        ("FREQ=WEEKLY;COUNT=many", INVALID),
        ("FREQ=WEEKLY;UNTIL=2026121", INVALID),
        ("FREQ=WEEKLY;UNTIL=20261345", INVALID),
    ],
)
def test_refused_rules_raise_recurrence_error_with_msgid(rule, msgid):
    with pytest.raises(RecurrenceError) as info:
        check_rule(rule, PATROL_FIRST, SHANGHAI)
    assert info.value.msgid == msgid
    assert isinstance(info.value, ValueError)
    # Stored before the checks existed, the same rule breaks no read: it expands to nothing.
    assert expand(PATROL_FIRST, TWO_HOURS, rule, SHANGHAI, *DECEMBER) == []
    assert not occurs_at(PATROL_FIRST, rule, SHANGHAI, PATROL_FIRST)


@pytest.mark.parametrize(
    "rule",
    [
        # A daily rule with BYHOUR/BYMINUTE/BYSECOND repeats several times a day:
        # finer than daily, which the module says it refuses.
        "FREQ=DAILY;BYHOUR=1,2,3",
        "FREQ=WEEKLY;BYDAY=TU;BYMINUTE=0,15,30,45",
        "FREQ=DAILY;BYSECOND=0,1,2",
    ],
)
def test_sub_daily_repetition_through_by_rules_is_refused(rule):
    with pytest.raises(RecurrenceError) as info:
        check_rule(rule, PATROL_FIRST, SHANGHAI)
    assert info.value.msgid == AT_MOST_DAILY


def test_interval_zero_is_refused():
    # RFC 5545: INTERVAL is a positive integer. Zero would repeat the same start forever.
    with pytest.raises(RecurrenceError) as info:
        check_rule("FREQ=DAILY;INTERVAL=0", PATROL_FIRST, SHANGHAI)
    assert info.value.msgid == "INTERVAL must be a whole number from 1 to {max}."


def test_check_rule_accepts_a_good_rule_and_normalises_it():
    rule = check_rule("RRULE:FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4", PATROL_FIRST, SHANGHAI)
    assert rule == "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4"
    pairs = expand(PATROL_FIRST, TWO_HOURS, rule, SHANGHAI, *DECEMBER)
    assert [s.astimezone(SH).date() for s, _ in pairs] == [
        date(2026, 12, 3),
        date(2026, 12, 8),
        date(2026, 12, 10),
        date(2026, 12, 15),
    ]


# --- issue 10: rules are checked, and every expansion is bounded ------------------------------

NEVER = "The rule has no occurrence within two years of the first start."
UNTIL_RANGE = "UNTIL must be a date between {low} and {high}."


@pytest.mark.parametrize(
    ("rule", "msgid"),
    [
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", NEVER),  # 30 February
        ("FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31", NEVER),
        ("FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=2,4,6,9,11", NEVER),
        ("FREQ=WEEKLY;BYDAY=MO;BYMONTHDAY=99", NEVER),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6", NEVER),
        ("FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29", NEVER),  # 2026, 2030: never leap
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", NEVER),  # next in 2044
        ("FREQ=DAILY;COUNT=0", "COUNT must be a whole number from 1 to {max}."),
        ("FREQ=DAILY;COUNT=1001", "COUNT must be a whole number from 1 to {max}."),
        ("FREQ=DAILY;COUNT=" + "9" * 5000, INVALID),
        ("FREQ=DAILY;INTERVAL=101", "INTERVAL must be a whole number from 1 to {max}."),
        ("FREQ=DAILY;INTERVAL=²", INVALID),  # a digit to str.isdigit, not to int()
        ("FREQ=DAILY;COUNT=3;UNTIL=20270101", "A rule may end with COUNT or with UNTIL, not both."),
        ("FREQ=DAILY;UNTIL=20261202", "UNTIL must not be before the first start."),
        ("FREQ=WEEKLY;UNTIL=00010101", UNTIL_RANGE),
        ("FREQ=WEEKLY;UNTIL=00010101T000000Z", UNTIL_RANGE),
        ("FREQ=WEEKLY;UNTIL=99991231T235959", UNTIL_RANGE),
        ("FREQ=WEEKLY;UNTIL=99991231", UNTIL_RANGE),
        ("FREQ=WEEKLY;UNTIL=00000101", INVALID),
        ("FREQ=WEEKLY;UNTIL=２０２７０１０１", INVALID),
        ("FREQ=YEARLY;BYEASTER=0", INVALID),  # dateutil's own part, not RFC 5545
        ("FREQ=WEEKLY;FREQ=DAILY", INVALID),
        ("FREQ=WEEKLY;BYDAY=", INVALID),
        ("FREQ=WEEKLY;;BYDAY=TU", INVALID),
    ],
)
def test_rules_without_a_use_are_refused_with_a_reason(rule, msgid):
    with pytest.raises(RecurrenceError) as info:
        check_rule(rule, PATROL_FIRST, SHANGHAI)
    assert info.value.msgid == msgid
    assert expand(PATROL_FIRST, TWO_HOURS, rule, SHANGHAI, *DECEMBER) == []
    assert next_start(PATROL_FIRST, rule, SHANGHAI, PATROL_FIRST) is None


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",  # 2028-02-29: within two years
        "FREQ=DAILY;COUNT=1",
        "FREQ=DAILY;COUNT=1000",
        "FREQ=WEEKLY;INTERVAL=100",
        "FREQ=WEEKLY;UNTIL=20261203",  # the first start's own day: one occurrence
        "FREQ=WEEKLY;UNTIL=22001231T235959Z",
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    ],
)
def test_rules_with_an_occurrence_within_two_years_are_accepted(rule):
    assert check_rule(rule, PATROL_FIRST, SHANGHAI) == rule


@pytest.mark.parametrize(
    "rule",
    [
        PATROL_RULE,
        "FREQ=DAILY;INTERVAL=3",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA;WKST=SU",
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=2",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=YEARLY;BYWEEKNO=53;BYDAY=TH",
        "FREQ=DAILY;COUNT=40",
        "FREQ=WEEKLY;BYDAY=SU;UNTIL=20290101",
    ],
)
@pytest.mark.parametrize(("zone", "first"), [(SHANGHAI, PATROL_FIRST), (BERLIN, None)])
def test_bounded_expansion_agrees_with_dateutil(rule, zone, first):
    """The moved copy that bounds dateutil's walk gives dateutil's own answer: across leap
    days, a year of 53 weeks and Berlin's daylight saving changes."""
    tz = ZoneInfo(zone)
    first = first or datetime(2026, 12, 5, 10, 30, tzinfo=tz)
    reference = rrulestr(utc_rule(rule, zone), dtstart=first.astimezone(tz))
    low = first
    while low < first + timedelta(days=1500):
        high = low + timedelta(days=300)
        want = [d.astimezone(UTC) for d in reference.between(low, high, inc=True) if d < high]
        got = [s for s, _ in expand(first, TWO_HOURS, rule, zone, low, high)]
        assert got == want, (rule, low)
        low = high


KEPT_RULES = [
    PATROL_RULE,
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA;WKST=SU",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=DAILY;COUNT=40",
    "FREQ=WEEKLY;BYDAY=SU;UNTIL=20270301",
]


@settings(max_examples=300, deadline=None)
@given(
    rule=st.sampled_from(KEPT_RULES),
    zone=st.sampled_from([SHANGHAI, BERLIN, "Asia/Kolkata"]),  # Kolkata: a half-hour offset
    first_minutes=st.integers(0, 60 * 24 * 60),
    offset_seconds=st.integers(-86_400 * 30, 86_400 * 400),
    length_seconds=st.one_of(
        st.integers(0, 86_400 * 7 * 10),  # a read's window: weeks
        st.integers(HORIZON.days * 86_400 - 7_200, HORIZON.days * 86_400 + 7_200),  # its edge
    ),
)
def test_kept_walks_answer_exactly_what_a_fresh_walk_does(
    rule, zone, first_minutes, offset_seconds, length_seconds
):
    """Whatever the window, ``expand`` (which keeps the walk of the hours around it) and
    ``cached_expansion`` (which only looks it up) answer dateutil's own occurrences,
    before and after the walk is kept; windows at the horizon and long ones are walked
    exactly."""
    tz = ZoneInfo(zone)
    first = datetime(2026, 12, 1, 7, 15, tzinfo=tz) + timedelta(minutes=first_minutes)
    low = first + timedelta(seconds=offset_seconds, microseconds=offset_seconds % 997)
    high = low + timedelta(seconds=length_seconds)
    reference = rrulestr(utc_rule(rule, zone), dtstart=first.astimezone(tz))
    cut = min(high, low + HORIZON)
    local = [d for d in reference.between(low, cut, inc=True) if d < cut][:MAX_OCCURRENCES]
    want = [d.astimezone(UTC) for d in local]
    # Two hours of wall-clock time: one or three in UTC across a daylight-saving change.
    ends = [(d + TWO_HOURS).astimezone(UTC) for d in local]
    looked_up = cached_expansion(first, TWO_HOURS, rule, zone, low, high)
    assert looked_up is None or [s for s, _ in looked_up] == want
    walked = expand(first, TWO_HOURS, rule, zone, low, high)
    assert [s for s, _ in walked] == want
    assert [e for _, e in walked] == ends
    again = cached_expansion(first, TWO_HOURS, rule, zone, low, high)
    if len(want) < 100 and length_seconds < 86_400 * 7 * 10 + 1:
        assert again == walked  # kept: the next read of the same hours walks nothing
    else:
        assert again is None or again == walked


def test_a_window_as_long_as_the_horizon_is_walked_exactly():
    """The hours around such a window begin before it, so their walk would stop before the
    window's own horizon: an occurrence 10 minutes inside that horizon must still come."""
    monthly = "FREQ=MONTHLY"
    first = datetime(2027, 1, 10, 9, 0, tzinfo=SH)
    last = first.replace(year=2029)  # an occurrence
    low = last - HORIZON + timedelta(minutes=10)  # 50 minutes past an hour
    pairs = expand(first, TWO_HOURS, monthly, SHANGHAI, low, low + HORIZON + timedelta(days=1))
    assert pairs[-1][0] == last.astimezone(UTC)


def test_a_read_within_the_same_hour_walks_nothing():
    low = datetime(2027, 3, 2, 1, 20, 5, tzinfo=UTC)
    high = low + timedelta(weeks=8)
    with DateutilWalk() as walk:
        first = expand(PATROL_FIRST, TWO_HOURS, PATROL_RULE, SHANGHAI, low, high)
    assert walk.periods > 0 and len(first) == 16
    later = low + timedelta(minutes=30)  # the same hours: 01:00 to 02:00 eight weeks on
    with DateutilWalk() as walk:
        kept = cached_expansion(
            PATROL_FIRST, TWO_HOURS, PATROL_RULE, SHANGHAI, later, later + timedelta(weeks=8)
        )
    assert walk.periods == 0
    assert kept == first  # the patrol walks at 11:00 UTC: the half hour moves none of them
    # Other hours are another walk: nothing is answered without it.
    other = low + timedelta(hours=5)
    assert cached_expansion(PATROL_FIRST, TWO_HOURS, PATROL_RULE, SHANGHAI, other, high) is None


@pytest.mark.parametrize("first_year", [2000, 2026, 2099, 2100, 2150, 2200])
@pytest.mark.parametrize("span", [0, 1, 2, 5, 30])
def test_calendar_shift_keeps_the_calendar_and_ends_near_the_year_9999(first_year, span):
    last_year = first_year + span
    shift = calendar_shift(first_year, last_year)
    for year in range(first_year, last_year + 1):
        assert calendar.isleap(year) == calendar.isleap(year + shift)
        for month in (1, 2, 3, 12):
            assert date(year, month, 1).weekday() == date(year + shift, month, 1).weekday()
    holds_century = any(y % 100 == 0 and y % 400 for y in range(first_year, last_year + 1))
    assert 9999 - (last_year + shift) <= (400 if holds_century else 28)


class DateutilWalk:
    """Counts the periods (months or years) dateutil's iterator builds, in every thread:
    what a walk of a rule costs, counted rather than timed."""

    def __init__(self) -> None:
        self.periods = 0

    def _profile(self, frame, event, arg) -> None:
        code = frame.f_code
        if event == "call" and code.co_name == "rebuild" and code.co_filename == RRULE_FILE:
            self.periods += 1

    def __enter__(self) -> DateutilWalk:
        threading.setprofile(self._profile)
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(None)
        threading.setprofile(None)


RRULE_FILE = dateutil_rrule.__file__


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    ],
)
def test_a_rule_that_never_matches_is_walked_a_few_decades_at_most(rule):
    first = datetime(2026, 12, 3, 19, 0, tzinfo=SH)
    if rule.startswith("FREQ=YEARLY"):  # (the finer ones take seconds under the profiler)
        with DateutilWalk() as plain:  # what every read did before: walk to the year 9999
            assert rrulestr(rule, dtstart=first).after(first) is None
        assert plain.periods >= 7900  # a year at a time, 2026 to 9999 (a month: 12 times)

    with DateutilWalk() as walk:
        with pytest.raises(RecurrenceError):
            check_rule(rule, first, SHANGHAI)
        for _ in range(20):  # reads of a row stored before the checks
            assert expand(first, TWO_HOURS, rule, SHANGHAI, *DECEMBER) == []
            assert next_start(first, rule, SHANGHAI, first) is None
            assert not occurs_at(first, rule, SHANGHAI, first)
    # Two walks (the check, and the verdict remembered for reads), each within 30 years.
    assert walk.periods <= 2 * 31 * 12


def test_next_start_looks_two_years_ahead_at_most():
    # 29 February on a Monday: 2044 after 2028's is refused at creation; stored, it has none.
    leap_monday = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=TU"  # 2028-02-29 is a Tuesday
    assert check_rule(leap_monday, PATROL_FIRST, SHANGHAI)
    found = next_start(PATROL_FIRST, leap_monday, SHANGHAI, PATROL_FIRST)
    assert found == datetime(2028, 2, 29, 19, 0, tzinfo=SH)
    # The next is in 2056, beyond two years from any moment after 2028: none is looked for.
    assert next_start(PATROL_FIRST, leap_monday, SHANGHAI, found) is None


def test_a_window_is_cut_at_the_horizon_and_the_count():
    daily = "FREQ=DAILY"
    far = PATROL_FIRST + timedelta(days=5000)
    pairs = expand(PATROL_FIRST, TWO_HOURS, daily, SHANGHAI, PATROL_FIRST, far)
    assert len(pairs) == HORIZON.days <= MAX_OCCURRENCES  # a day a time for two years
    weekly = expand(PATROL_FIRST, TWO_HOURS, "FREQ=WEEKLY", SHANGHAI, PATROL_FIRST, far)
    assert weekly[-1][0] < PATROL_FIRST + HORIZON <= weekly[-1][0] + timedelta(weeks=1)


def test_a_rule_older_than_a_century_is_not_walked():
    ancient = datetime(1900, 1, 1, 19, 0, tzinfo=SH)  # a row no form could have made
    with DateutilWalk() as walk:
        assert expand(ancient, TWO_HOURS, "FREQ=DAILY", SHANGHAI, *DECEMBER) == []
    assert walk.periods <= 2 * 31 * 12


@pytest.mark.parametrize(
    "first",
    [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 20, tzinfo=UTC)],
)
def test_a_stored_first_start_at_the_ends_of_the_calendar_expands_to_nothing(first):
    # In New York, the first is before the year 1 and the second after 9999: no overflow.
    for zone in ("America/New_York", "Pacific/Kiritimati"):
        assert expand(first, TWO_HOURS, "FREQ=DAILY", zone, *DECEMBER) == []
        assert next_start(first, "FREQ=DAILY", zone, PATROL_FIRST) is None
        assert not occurs_at(first, "FREQ=DAILY", zone, PATROL_FIRST)

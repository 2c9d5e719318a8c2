"""The demo community behind ``vhub demo``: six weeks of life in 幸福里社区.

Everything is made by the public service functions, so every rule holds and the trail
(留痕) is real: nothing is written to a table directly. The past is lived on a simulated
clock: a second Hub, sharing the caller's settings and plugins, whose clock the builder
moves forward event by event, from six weeks ago up to the present. Tasks are created
before their first shift, signups happen before each occurrence starts, volunteers
check in from an hour before the start and check out at the end, wishes expire in a
nightly run, and escalations turn yellow 72 hours after blue.

Deterministic: the same seed gives the same people (names, phones, ages, teams), the
same wishes and the same shifts. The timeline is anchored to the caller's clock (six
weeks before today), so timestamps move with the date while the content stays.

The parts: ``content`` (names, texts, teams, wishes and shifts, as data), ``people``
(everyone, drawn from the seed), ``plan`` (who does what and when, from the seed),
``clock`` (the simulated clock and its timeline), ``builder`` (writing it all through the
services), ``summary`` (logins and counts) and ``reset`` (room for a fresh demo).
"""

from volunteer_hub.demo.builder import build_demo
from volunteer_hub.demo.content import DEMO_PASSWORD, MIN_PEOPLE, SILVER_PATROL_RRULE, TEAM_ORDER
from volunteer_hub.demo.people import PlannedPerson, plan_people
from volunteer_hub.demo.reset import reset_database
from volunteer_hub.demo.summary import DemoLogin, DemoSummary

__all__ = [
    "DEMO_PASSWORD",
    "MIN_PEOPLE",
    "SILVER_PATROL_RRULE",
    "TEAM_ORDER",
    "DemoLogin",
    "DemoSummary",
    "PlannedPerson",
    "build_demo",
    "plan_people",
    "reset_database",
]

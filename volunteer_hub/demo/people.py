"""Everyone in the demo community, drawn from the seed alone: no database, no clock.

Every draw comes from one generator seeded with the seed (and Faker seeded with it), in
a fixed order: change the order and the same seed gives other people.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from faker import Faker
from pydantic_core import PydanticCustomError

from volunteer_hub.demo.content import (
    BUILDINGS_PER_GRID,
    MIN_PEOPLE,
    PHONE_PREFIXES,
    RECRUIT_AGES,
    SKILLS,
    TEAM_ORDER,
    WORK_UNITS,
)
from volunteer_hub.errors import InvalidInput
from volunteer_hub.validation import normalize_phone


@dataclass
class PlannedPerson:
    key: str  # "admin", "staff-1", "grid-2", "wang", "li", "parent", "p-17"
    kind: str  # admin, staff, grid_worker, resident, or the team kind they were recruited for
    name: str
    phone: str
    female: bool
    age: int
    birthday_offset: int  # days since the last birthday: the birth date follows today
    grid: int | None  # index of the grid they live in
    address: str | None
    skills: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()  # team kinds to join; the first is the one recruited for
    qualification: str | None = None  # declared when joining the first team
    qualification_days: int | None = None  # valid for this many days from today
    stays_pending: bool = False  # staff have not checked the qualification yet
    work_unit: str | None = None
    party_branch: str | None = None
    registered_by_grid_worker: bool = False  # 代办: the grid worker registered them

    def birth_date(self, today: date) -> date:
        return today - relativedelta(years=self.age) - timedelta(days=self.birthday_offset)


def team_sizes(people: int) -> dict[str, int]:
    """How many people each team recruits for a community of ``people``."""
    return {
        "silver_patrol": max(10, round(people * 0.07)),
        "psychology": max(4, round(people * 0.025)),
        "anti_fraud": max(4, round(people * 0.05)),
        "party_vanguard": max(4, round(people * 0.06)),
        "elderly_care": max(5, round(people * 0.07)),
        "legal_aid": max(2, round(people * 0.015)),
        "repair": max(3, round(people * 0.04)),
    }


def grid_count(people: int) -> int:
    return 4 if people < 120 else 5 if people < 240 else 6


def plan_people(seed: int, people: int) -> list[PlannedPerson]:
    """Everyone in the demo, from the seed alone: no database, no clock."""
    if people < MIN_PEOPLE:
        raise InvalidInput.for_field("people", "Must be at least {ge}.", ge=MIN_PEOPLE)
    return _PeopleDraw(seed, grid_count(people)).everyone(people)


def draw_phone(rng: random.Random, taken: set[str]) -> str:
    """A valid, unused mainland mobile number from the seeded generator."""
    while True:
        phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if phone in taken:
            continue
        try:
            normalize_phone(phone)
        except PydanticCustomError:
            continue
        taken.add(phone)
        return phone


class _PeopleDraw:
    """Draws people from one seeded generator (and Faker's names), never twice the same."""

    def __init__(self, seed: int, grids: int) -> None:
        self.rng = random.Random(f"{seed}:people")
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.grids = grids
        self.names: set[str] = set()
        self.phones: set[str] = set()
        self.counter = itertools.count(1)

    def everyone(self, people: int) -> list[PlannedPerson]:
        plan = self.officials(people)
        sizes = team_sizes(people)
        for kind in TEAM_ORDER:
            plan += [self.recruit(kind, i, sizes[kind]) for i in range(sizes[kind])]
        plan += [self.resident(i) for i in range(people - len(plan))]
        return plan

    def officials(self, people: int) -> list[PlannedPerson]:
        """The administrator, the staff (社区工作者) and one grid worker per grid."""
        plan = [self.person("admin", "admin", 30, 45, grid=None)]
        staff = 3 if people < 200 else 4
        plan += [self.person(f"staff-{i + 1}", "staff", 26, 48, grid=None) for i in range(staff)]
        plan += [
            self.person(f"grid-{g + 1}", "grid_worker", 28, 55, grid=g) for g in range(self.grids)
        ]
        return plan

    def recruit(self, kind: str, index: int, size: int) -> PlannedPerson:
        """Someone recruited for a team of ``kind``: the first one leads it."""
        rng = self.rng
        key = f"p-{next(self.counter)}"
        extra: dict[str, Any] = {"skills": SKILLS[kind][: rng.randint(1, 2)]}
        joins = [kind]
        if kind == "silver_patrol":
            if rng.random() < 0.3:
                joins.append("anti_fraud")
        elif kind == "psychology":
            extra |= {"qualification": "counsellor", "qualification_days": rng.randint(300, 1000)}
            # The last applicant still waits for staff to check the certificate.
            extra["stays_pending"] = index == size - 1
        elif kind == "anti_fraud":
            if rng.random() < 0.5:
                extra["qualification"] = "anti_fraud_training"
        elif kind == "party_vanguard":
            extra |= self.party_membership()
            if rng.random() < 0.4:
                joins.append(rng.choice(("anti_fraud", "repair", "elderly_care")))
            if index == 1:  # Mr. Li of story 5 (the first recruit leads the team)
                key = "li"
                extra |= {"female": False, "age": 42, "name": self.name(False, "李")}
                extra |= {"work_unit": "区税务局", "party_branch": "区税务局机关第二党支部"}
        elif kind == "elderly_care":
            if rng.random() < 0.3:
                extra |= {"qualification": "first_aid", "qualification_days": rng.randint(200, 700)}
            if rng.random() < 0.2:
                joins.append("anti_fraud")
        elif kind == "legal_aid":
            extra |= {"qualification": "lawyer", "qualification_days": rng.randint(200, 500)}
        lo, hi = RECRUIT_AGES[kind]
        return self.person(key, kind, lo, hi, teams=tuple(joins), **extra)

    def party_membership(self) -> dict[str, str]:
        """An in-service party member's work unit and branch (在职党员)."""
        unit, branch = WORK_UNITS[self.rng.randrange(len(WORK_UNITS))]
        if self.rng.random() < 0.3:
            unit = self.fake.company()
            branch = f"{unit}党支部"
        return {"work_unit": unit, "party_branch": branch}

    def resident(self, index: int) -> PlannedPerson:
        if index == 0:  # Ms. Wang of story 1: 82, lives alone in the first grid
            return self.person(
                "wang",
                "resident",
                82,
                82,
                grid=0,
                female=True,
                name=self.name(True, "王"),
                registered_by_grid_worker=True,
            )
        if index == 1:  # the parent of story 2
            return self.person("parent", "resident", 38, 45)
        elderly = index % 3 == 2
        p = self.person(f"p-{next(self.counter)}", "resident", *((65, 92) if elderly else (18, 58)))
        p.registered_by_grid_worker = p.age >= 75
        return p

    def person(
        self, key: str, kind: str, lo: int, hi: int, *, grid: int | None = -1, **kw: Any
    ) -> PlannedPerson:
        """One person aged ``lo`` to ``hi``; ``grid=-1``: living in a grid drawn at random."""
        rng = self.rng
        female = kw.pop("female", rng.random() < 0.55)  # drawn even when given: keeps the order
        age = kw.pop("age", None) or rng.randint(lo, hi)
        home = rng.randrange(self.grids) if grid == -1 else grid
        return PlannedPerson(
            key=key,
            kind=kind,
            name=kw.pop("name", None) or self.name(female),
            phone=draw_phone(rng, self.phones),
            female=female,
            age=age,
            birthday_offset=rng.randint(1, 360),
            grid=home,
            address=self.address(home) if home is not None else None,
            **kw,
        )

    def name(self, female: bool, surname: str | None = None) -> str:
        fake = self.fake
        while True:
            if surname:
                given = fake.first_name_female() if female else fake.first_name_male()
                candidate = surname + given
            else:
                candidate = fake.name_female() if female else fake.name_male()
            if candidate not in self.names:
                self.names.add(candidate)
                return candidate

    def address(self, grid: int) -> str:
        rng = self.rng
        building = grid * BUILDINGS_PER_GRID + rng.randint(1, BUILDINGS_PER_GRID)
        return (
            f"幸福里小区{building}号楼{rng.randint(1, 3)}单元"
            f"{rng.randint(1, 6)}{rng.randint(1, 4):02d}室"
        )


@dataclass(frozen=True)
class Cast:
    """The planned people by role, as the schedule and the builder look them up."""

    people: list[PlannedPerson]

    @property
    def by_key(self) -> dict[str, PlannedPerson]:
        return {p.key: p for p in self.people}

    @property
    def staff(self) -> list[str]:
        return [p.key for p in self.people if p.kind == "staff"]

    @property
    def grid_workers(self) -> dict[int | None, str]:
        """The grid worker's key for each grid index."""
        return {p.grid: p.key for p in self.people if p.kind == "grid_worker"}

    @property
    def residents(self) -> list[str]:
        return [p.key for p in self.people if p.kind == "resident"]

    def leader(self, kind: str) -> PlannedPerson:
        """The first recruit of a team kind, who leads the team."""
        return next(p for p in self.people if p.kind == kind)

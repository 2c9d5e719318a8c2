"""What happens in the demo community, and when: deterministic for a seed.

The first days (registering, forming teams) are lists of timed steps. From day 4 the
``Schedule`` puts six weeks of shifts, wishes and nightly runs on the timeline, anchored
to the caller's present; each event names an action of the builder (``Actions``), which
writes it through the services when the clock reaches it.

Every random draw comes from a generator seeded with the seed and a fixed label, in a
fixed order: change the order and the same seed gives another community.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from volunteer_hub.demo.clock import Calendar, Timeline, next_weekday, spread
from volunteer_hub.demo.content import (
    CANCEL_REASONS,
    DOOR_TO_DOOR,
    EVERYDAY,
    EVERYDAY_TARGETS,
    LUKEWARM_THANKS,
    PARTY_CLEANUP,
    RECURRING_SHIFTS,
    SCAM_WARNING,
    SCRIPTS,
    TEXTS,
    THANKS,
    WANG_THANKS,
    WANG_VISIT,
    WASTE_SORTING,
    ShiftSpec,
    WishScript,
    WishText,
)
from volunteer_hub.demo.people import Cast, PlannedPerson
from volunteer_hub.models import Escalation, WishStatus
from volunteer_hub.recurrence import expand

# --- the first days: registering and forming teams -----------------------------------


def official_arrivals(cast: Cast, cal: Calendar) -> list[tuple[datetime, PlannedPerson]]:
    """Day 0: the administrator registers the staff and grid workers, one after another."""
    officials = [p for p in cast.people if p.kind in ("staff", "grid_worker")]
    start, end = cal.at(cal.day0, 8, 40), cal.at(cal.day0, 9, 50)
    return list(zip(spread(start, end, len(officials)), officials, strict=True))


def resident_arrivals(seed: int, cast: Cast, cal: Calendar) -> list[tuple[datetime, PlannedPerson]]:
    """Days 0 to 2: everyone else comes to register, in a seeded order."""
    others = [p for p in cast.people if p.kind not in ("admin", "staff", "grid_worker")]
    random.Random(f"{seed}:arrivals").shuffle(others)
    start, end = cal.at(cal.day0, 10, 0), cal.at(cal.day0 + timedelta(days=2), 12, 0)
    return list(zip(spread(start, end, len(others)), others, strict=True))


def team_steps(seed: int, cast: Cast, cal: Calendar) -> list[tuple[datetime, PlannedPerson, str]]:
    """Days 2 and 3: party members report (``"report"``) and people join teams (a kind)."""
    steps: list[tuple[PlannedPerson, str]] = []
    for p in cast.people:
        if p.work_unit:
            steps.append((p, "report"))
        steps += [(p, kind) for kind in p.teams]
    random.Random(f"{seed}:joins").shuffle(steps)
    start = cal.at(cal.day0 + timedelta(days=2), 15, 0)
    end = cal.at(cal.day0 + timedelta(days=3), 21, 0)
    return [
        (when, p, what)
        for when, (p, what) in zip(spread(start, end, len(steps)), steps, strict=True)
    ]


# --- day 4 onwards: what the timeline runs ----------------------------------------------


@dataclass
class ShiftRun:
    """One task as planned; the builder fills in what the services gave back."""

    spec: ShiftSpec
    creator: str
    first_start: datetime
    task_id: int | None = None
    signups: dict[tuple[datetime, str], int] = field(default_factory=dict)


@dataclass
class WishRun:
    """One wish as planned; the builder fills in what the services gave back.

    ``rng`` is the wish's own generator: the builder draws from it too (which staff
    member reviews, which proposal claims), so its draws stay in the plan's order.
    """

    script: WishScript
    rng: random.Random
    resident: str
    poster: str
    needed_by: date | None = None
    wish_id: int | None = None
    claimer: int | None = None


class Actions(Protocol):
    """What the builder does when the clock reaches a planned event."""

    async def create_task(self, run: ShiftRun) -> None: ...
    async def sign_up(self, run: ShiftRun, start: datetime, key: str) -> None: ...
    async def cancel_signup(self, run: ShiftRun, start: datetime, key: str) -> None: ...
    async def check_in(self, run: ShiftRun, start: datetime, key: str) -> None: ...
    async def check_out(self, run: ShiftRun, start: datetime, key: str) -> None: ...
    async def post(self, run: WishRun, text: WishText) -> None: ...
    async def review(self, run: WishRun, reject_reason: str | None) -> None: ...
    async def escalate(self, run: WishRun, level: Escalation, referral: str) -> None: ...
    async def claim(self, run: WishRun) -> None: ...
    async def fulfil(self, run: WishRun, text: WishText, hours: Decimal) -> None: ...
    async def confirm(self, run: WishRun, rating: int, thanks: str) -> None: ...
    async def cancel(self, run: WishRun, reason: str) -> None: ...
    async def expire(self) -> None: ...


class Schedule:
    """Puts six weeks of shifts, wishes and nightly runs on a timeline.

    ``members`` are the team members by kind once the teams are formed (a plugin's rule
    may have refused some), so the schedule is made after the teams.
    """

    def __init__(
        self,
        seed: int,
        cast: Cast,
        members: dict[str, list[str]],
        cal: Calendar,
        timeline: Timeline,
        actions: Actions,
    ) -> None:
        self.seed = seed
        self.cast = cast
        self.by_key = cast.by_key
        self.staff = cast.staff
        self.members = members
        self.cal = cal
        self.now = cal.now
        self.timeline = timeline
        self.actions = actions

    def everything(self) -> None:
        self.shifts()
        self.wishes()
        self.nightly_runs()

    # --- shifts ------------------------------------------------------------------------

    def shifts(self) -> None:
        begin = self.cal.day0 + timedelta(days=4)
        for index, spec in enumerate(RECURRING_SHIFTS):
            self._recurring(index, spec, begin)
        for spec, start, created in self._one_offs():
            self._one_off(spec, start, created)

    def _recurring(self, index: int, spec: ShiftSpec, begin: date) -> None:
        """A weekly task created on day 4, filled occurrence by occurrence."""
        leader = self.cast.leader(spec.team_kind).key
        created = self.cal.at(begin, 10, 10 * index)
        first_day = begin + timedelta(days=1)
        while first_day.weekday() not in spec.weekdays:
            first_day += timedelta(days=1)
        run = ShiftRun(
            spec,
            creator=leader if spec.created_by_leader else self.staff[index % len(self.staff)],
            first_start=self.cal.at(first_day, spec.start.hour, spec.start.minute),
        )
        self.timeline.at(created, self.actions.create_task, run)
        upcoming = 0
        for n, start in enumerate(self._occurrence_starts(run)):
            rng = random.Random(f"{self.seed}:{spec.key}:{n}")
            pool = self.members[spec.team_kind]
            count = _signup_count(spec, rng, coming=start > self.now, upcoming=upcoming)
            if count is None:
                break
            upcoming += start > self.now
            chosen = rng.sample(pool, min(count, len(pool)))
            self._occurrence(run, rng, created, start, chosen)

    def _occurrence_starts(self, run: ShiftRun) -> list[datetime]:
        """Every start from the first up to two weeks ahead."""
        spec = run.spec
        until = self.now + timedelta(days=15)
        expanded = expand(
            run.first_start, timedelta(0), spec.rrule, self.cal.zone.key, run.first_start, until
        )
        return [start.astimezone(UTC) for start, _ in expanded]

    def _one_offs(self) -> tuple[tuple[ShiftSpec, datetime, datetime], ...]:
        """(spec, start, when staff create it): two past, two coming."""
        cal, now = self.cal, self.now
        anti_fraud_day = next_weekday(cal.day0 + timedelta(days=14), 5)
        party_day = next_weekday(cal.day0 + timedelta(days=21), 5)
        warning_day = cal.today + timedelta(days=2)
        sorting_day = next_weekday(cal.today + timedelta(days=3), 5)
        return (
            (
                DOOR_TO_DOOR,
                cal.at(anti_fraud_day, 9, 0),
                cal.at(anti_fraud_day - timedelta(days=3), 15, 0),
            ),
            (PARTY_CLEANUP, cal.at(party_day, 8, 30), cal.at(party_day - timedelta(days=5), 16, 0)),
            (SCAM_WARNING, cal.at(warning_day, 9, 0), now - timedelta(hours=20)),
            (WASTE_SORTING, cal.at(sorting_day, 9, 0), now - timedelta(days=3)),
        )

    def _one_off(self, spec: ShiftSpec, start: datetime, created: datetime) -> None:
        run = ShiftRun(spec, creator=self.staff[0], first_start=start)
        self.timeline.at(created, self.actions.create_task, run)
        rng = random.Random(f"{self.seed}:{spec.key}")
        if spec.team_kind is None:
            pool, count = self.cast.residents, rng.randint(4, 8)
        else:
            pool = self.members[spec.team_kind]
            count = rng.randint(*spec.past_fill) if start <= self.now else rng.randint(3, 6)
        chosen = rng.sample(pool, min(count, len(pool)))
        if spec.key == "party_cleanup" and "li" in pool and "li" not in chosen:
            chosen[0] = "li"  # Mr. Li serves, and sees his yearly progress
        self._occurrence(run, rng, created, start, chosen)

    def _occurrence(
        self,
        run: ShiftRun,
        rng: random.Random,
        created: datetime,
        start: datetime,
        people: list[str],
    ) -> None:
        """Signups before the start, maybe a cancellation, then check-in and check-out."""
        first = max(created + timedelta(minutes=10), start - timedelta(days=3))
        last = min(start - timedelta(hours=2), self.now - timedelta(minutes=5))
        if start > self.now:  # signups for coming shifts happen in the last few days
            first = max(first, self.now - timedelta(days=2, hours=12))
        if last <= first or not people:
            return
        times = sorted(first + (last - first) * rng.random() for _ in people)
        for when, key in zip(times, people, strict=True):
            self.timeline.at(when, self.actions.sign_up, run, start, key)
        self._maybe_drop_out(run, rng, start, people, after=times[-1])
        if start <= self.now:
            self._attendance(run, rng, start, people)

    def _maybe_drop_out(
        self, run: ShiftRun, rng: random.Random, start: datetime, people: list[str], after: datetime
    ) -> None:
        """Someone drops out now and then; on an overbooked coming shift, always, so that
        the first on the waiting list is seen to be promoted."""
        capacity = run.spec.capacity
        overbooked = start > self.now and len(people) > capacity
        if len(people) > 1 and (overbooked or rng.random() < 0.3):
            quitter = rng.choice(people[:capacity])
            first = after + timedelta(minutes=1)
            last = min(start - timedelta(minutes=30), self.now - timedelta(minutes=2))
            if last > first:
                when = first + (last - first) * rng.random()
                self.timeline.at(when, self.actions.cancel_signup, run, start, quitter)

    def _attendance(
        self, run: ShiftRun, rng: random.Random, start: datetime, people: list[str]
    ) -> None:
        """Most come, a few late; most stay to the end, a few leave early."""
        end = start + run.spec.duration
        for key in people:
            if rng.random() >= 0.9:
                continue  # did not turn up
            late = rng.random() < 0.1
            check_in = start + timedelta(
                minutes=rng.uniform(5, 25) if late else -rng.uniform(5, 40)
            )
            early = rng.random() < 0.1
            check_out = end + timedelta(
                minutes=-rng.uniform(15, 40) if early else rng.uniform(0, 15)
            )
            self.timeline.at(check_in, self.actions.check_in, run, start, key)
            self.timeline.at(check_out, self.actions.check_out, run, start, key)

    # --- wishes ------------------------------------------------------------------------

    def wishes(self) -> None:
        self._wang()
        for index, script in enumerate(self._scripts()):
            self._wish(index, script)

    def _scripts(self) -> list[WishScript]:
        """The storied wishes, then everyday ones for larger demos in a stable mix."""
        scripts = list(SCRIPTS)
        rng = random.Random(f"{self.seed}:everyday")
        extra = max(0, len(self.cast.people) // 5 - len(scripts))
        # Each ending gets its share; the rest end confirmed.
        shares = {target: int(weight * extra) for target, weight, _ in EVERYDAY_TARGETS}
        shares[WishStatus.CONFIRMED] += extra - sum(shares.values())
        for target, _, span in EVERYDAY_TARGETS:
            for _ in range(shares[target]):
                scripts.append(WishScript(rng.choice(EVERYDAY), target, rng.uniform(*span)))
        return scripts

    def _wang(self) -> None:
        """Story 1: Ms. Wang, 82, needs someone to walk her to the hospital on Thursday."""
        cal, timeline, actions = self.cal, self.timeline, self.actions
        grid_worker = self.cast.grid_workers[self.by_key["wang"].grid]
        past_visit = cal.today - timedelta(days=7)
        while past_visit.weekday() != 3:
            past_visit -= timedelta(days=1)
        run = WishRun(
            WishScript("wang", WishStatus.CONFIRMED, 0, resident="wang"),
            random.Random(f"{self.seed}:wang"),
            resident="wang",
            poster=grid_worker,
            needed_by=past_visit,
        )
        posted = cal.at(past_visit - timedelta(days=3), 10, 15)
        timeline.at(posted, actions.post, run, WANG_VISIT)
        timeline.at(posted + timedelta(hours=1, minutes=30), actions.review, run, None)
        timeline.at(posted + timedelta(hours=5), actions.claim, run)
        timeline.at(cal.at(past_visit, 11, 40), actions.fulfil, run, WANG_VISIT, Decimal(3))
        timeline.at(cal.at(past_visit, 16, 30), actions.confirm, run, 5, WANG_THANKS)
        # Her next visit: posted yesterday, approved, waiting for a volunteer.
        next_visit = cal.today + timedelta(days=(3 - cal.today.weekday()) % 7 or 7)
        upcoming = WishRun(
            WishScript("wang", WishStatus.OPEN, 0, resident="wang"),
            random.Random(f"{self.seed}:wang-next"),
            resident="wang",
            poster=grid_worker,
            needed_by=next_visit,
        )
        posted = self.now - timedelta(hours=22)
        timeline.at(posted, actions.post, upcoming, WANG_VISIT)
        timeline.at(posted + timedelta(hours=2), actions.review, upcoming, None)

    def _wish(self, index: int, script: WishScript) -> None:
        """One wish's story: posted, then each step towards its status, in time order."""
        rng = random.Random(f"{self.seed}:wish:{index}")
        resident = script.resident or self._pick_resident(rng, TEXTS[script.text].who)
        run = WishRun(script, rng, resident=resident, poster=self._poster(rng, resident))
        steps = _steps(script, rng)
        posted = self._posting_time(script.days_ago, rng)
        times = self._step_times(posted, steps)
        run.needed_by = self._needed_by(script, rng, posted, times)
        self._put_steps(run, posted, times)

    def _poster(self, rng: random.Random, resident: str) -> str:
        """Who posts it: the grid worker for the very old (代办), now and then staff."""
        if self.by_key[resident].age >= 75:
            return self.cast.grid_workers[self.by_key[resident].grid]
        if rng.random() < 0.1:  # a phone call to the office: staff post it
            return rng.choice(self.staff)
        return resident

    def _step_times(
        self, posted: datetime, steps: list[tuple[str, float]]
    ) -> list[tuple[str, datetime]]:
        """The steps' moments, squeezed to fit before the present when they would not."""
        total = sum(hours for _, hours in steps)
        room = (self.now - timedelta(minutes=10) - posted).total_seconds() / 3600
        scale = min(1.0, 0.95 * room / total) if total else 1.0
        when, times = posted, []
        for step, hours in steps:
            when += timedelta(hours=hours * scale)
            times.append((step, when))
        return times

    def _needed_by(
        self,
        script: WishScript,
        rng: random.Random,
        posted: datetime,
        times: list[tuple[str, datetime]],
    ) -> date | None:
        """A due date that fits the wish's ending (an expired wish's has passed)."""
        target, cal = script.target, self.cal
        if target in (WishStatus.FULFILLED, WishStatus.CONFIRMED):
            done = dict(times)["fulfil"]
            if rng.random() < 0.25:
                return None
            return cal.local_date(done) + timedelta(days=rng.randint(0, 2))
        if target in (WishStatus.OPEN, WishStatus.SUBMITTED, WishStatus.CLAIMED):
            far = rng.random() < 0.3 or script.escalations
            return None if far else cal.today + timedelta(days=rng.randint(2, 9))
        if target is WishStatus.CANCELLED and not script.escalations:
            last = times[-1][1] if times else posted
            return cal.local_date(last) + timedelta(days=rng.randint(1, 3))
        if target is WishStatus.EXPIRED:
            return cal.local_date(posted) + timedelta(days=rng.randint(1, 2))
        return None

    def _put_steps(self, run: WishRun, posted: datetime, times: list[tuple[str, datetime]]) -> None:
        script, rng, timeline, actions = run.script, run.rng, self.timeline, self.actions
        text = TEXTS[script.text]
        timeline.at(posted, actions.post, run, text)
        escalations = iter(script.escalations)
        for step, at in times:
            if step == "review":
                reason = script.reason if script.target is WishStatus.REJECTED else None
                timeline.at(at, actions.review, run, reason)
            elif step == "escalate":
                level, _, referral = next(escalations)
                timeline.at(at, actions.escalate, run, level, referral)
            elif step == "claim":
                timeline.at(at, actions.claim, run)
            elif step == "fulfil":
                hours = Decimal(rng.choice(("0.5", "1", "1", "1.5", "2", "2", "3")))
                timeline.at(at, actions.fulfil, run, text, hours)
            elif step == "confirm":
                rating = rng.choice((5, 5, 5, 5, 4, 4, 3))
                thanks = rng.choice(THANKS if rating > 3 else LUKEWARM_THANKS)
                timeline.at(at, actions.confirm, run, rating, thanks)
            elif step == "cancel":
                timeline.at(at, actions.cancel, run, script.reason or rng.choice(CANCEL_REASONS))

    def _pick_resident(self, rng: random.Random, who: str) -> str:
        def fits(key: str) -> bool:
            age = self.by_key[key].age
            return {"elderly": age >= 65, "adult": 25 <= age < 65}.get(who, True)

        residents = self.cast.residents
        return rng.choice([k for k in residents if fits(k)] or residents)

    def _posting_time(self, days_ago: float, rng: random.Random) -> datetime:
        """About ``days_ago`` before now; on earlier days, at some hour of the daytime."""
        when = self.now - timedelta(days=days_ago)
        if days_ago >= 1:
            when = self.cal.at(self.cal.local_date(when), rng.randint(7, 20), rng.randint(0, 59))
        return self._daytime(when, rng)

    def _daytime(self, when: datetime, rng: random.Random) -> datetime:
        """Move a posting time into waking hours (07:00-22:00) of the same day, if it stays past."""
        local = when.astimezone(self.cal.zone)
        if 7 <= local.hour < 22:
            return when
        hour = 7 if local.hour < 7 else 21
        moved = self.cal.at(local.date(), hour, rng.randint(0, 59))
        return moved if moved < self.now - timedelta(minutes=30) else when

    # --- nights ------------------------------------------------------------------------

    def nightly_runs(self) -> None:
        """The worker's nightly expiry of overdue wishes, at 00:05 each night."""
        day = self.cal.day0 + timedelta(days=5)
        while day <= self.cal.today:
            self.timeline.at(self.cal.at(day, 0, 5), self.actions.expire)
            day += timedelta(days=1)


def _signup_count(
    spec: ShiftSpec, rng: random.Random, *, coming: bool, upcoming: int
) -> int | None:
    """How many sign up for an occurrence: past ones as they filled, the next one or two
    coming (overbooked for a task with a waiting list); None: no more occurrences."""
    if not coming:
        return rng.randint(*spec.past_fill)
    if upcoming == 0:
        return spec.capacity + rng.randint(2, 3) if spec.overbook else rng.randint(1, spec.capacity)
    if upcoming == 1 and spec.overbook:
        return rng.randint(2, 4)
    return None


def _steps(script: WishScript, rng: random.Random) -> list[tuple[str, float]]:
    """The steps after posting, each as (step, hours after the previous one)."""
    target = script.target
    steps: list[tuple[str, float]] = []
    if script.reviewed and target is not WishStatus.SUBMITTED:
        steps.append(("review", rng.uniform(1, 20)))
    steps += [("escalate", hours) for _, hours, _ in script.escalations]
    if target in (WishStatus.CLAIMED, WishStatus.FULFILLED, WishStatus.CONFIRMED) or (
        script.claimed_first
    ):
        steps.append(("claim", rng.uniform(0.5, 30)))
    if target in (WishStatus.FULFILLED, WishStatus.CONFIRMED):
        steps.append(("fulfil", rng.uniform(3, 60)))
    if target is WishStatus.CONFIRMED:
        steps.append(("confirm", rng.uniform(1, 30)))
    if target is WishStatus.CANCELLED:
        steps.append(("cancel", rng.uniform(2, 40)))
    return steps

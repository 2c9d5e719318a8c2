"""Writes the planned community through the public service functions, on the demo's clock.

Every change goes through a service, so every rule holds and the trail (留痕) is real.
The builder reads models only to find free phones and names (``--keep``), to see where a
signup stands, and to count what was built: no service answers those for a script.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from volunteer_hub.demo.clock import Calendar, SimClock, Timeline, simulated_hub, spread
from volunteer_hub.demo.content import (
    BUILDINGS_PER_GRID,
    COMMUNITY_NAME,
    DEMO_PASSWORD,
    NUMERALS,
    SIMULATED_DAYS,
    TEAM_ORDER,
    TIMEZONE,
    WishText,
)
from volunteer_hub.demo.people import Cast, PlannedPerson, draw_phone, plan_people
from volunteer_hub.demo.plan import (
    Schedule,
    ShiftRun,
    WishRun,
    official_arrivals,
    resident_arrivals,
    team_steps,
)
from volunteer_hub.demo.summary import DemoSummary, count_records, logins, print_counts
from volunteer_hub.errors import RuleViolation
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import localize
from volunteer_hub.models import (
    Community,
    Escalation,
    MembershipStatus,
    Person,
    Role,
    Signup,
    SignupStatus,
)
from volunteer_hub.services import matching, tasks, teams, wishes
from volunteer_hub.services import people as people_service
from volunteer_hub.services.access import Actor, load_actor


async def build_demo(
    hub: Hub, *, seed: int = 1, people: int = 300, console: Console | None = None
) -> DemoSummary:
    """Build one realistic community with six weeks of history; return how to log in.

    Runs inside an active database context. Everything goes through the services, on a
    simulated clock that ends at ``hub.now()``.
    """
    cast = Cast(plan_people(seed, people))
    builder = Builder(hub, seed=seed, cast=cast, console=console or Console(quiet=True))
    return await builder.build()


class Builder:
    """Builds the community: the first days step by step, then the timeline's events.

    Its public methods after ``build`` are the actions the schedule names (plan.Actions).
    """

    def __init__(self, hub: Hub, *, seed: int, cast: Cast, console: Console):
        self.hub = hub
        self.seed = seed
        self.cast = cast
        self.by_key = cast.by_key
        self.staff = cast.staff
        self.grid_workers = cast.grid_workers
        self.console = console
        self.cal = Calendar(hub.now(), ZoneInfo(TIMEZONE), SIMULATED_DAYS)
        self.clock = SimClock(self.cal.at(self.cal.day0, 8, 30))
        self.sim = simulated_hub(hub, self.clock)
        self.ids: dict[str, int] = {}  # planned person's key → person id
        self.phones: dict[str, str] = {}
        self.grids: list[int] = []
        self.team_ids: dict[str, int] = {}
        self.members: dict[str, list[str]] = {kind: [] for kind in TEAM_ORDER}
        self.memberships: dict[tuple[str, str], int] = {}  # (person key, team kind) → id
        self.refused = 0  # steps a plugin's rule refused
        self.admin: Actor
        self.community: Community

    async def _actor(self, key: str) -> Actor:
        return await load_actor(self.ids[key])

    # --- the whole build ----------------------------------------------------------------

    async def build(self) -> DemoSummary:
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console) as progress:
            await self._found_community()
            await self._register_everyone(progress)
            await self._form_teams(progress)
            await self._live_six_weeks(progress)
        counts = await count_records(
            self.community.id,
            grids=len(self.grids),
            teams=len(self.team_ids),
            refused=self.refused,
        )
        print_counts(self.console, self.community.name, counts)
        return DemoSummary(
            community=self.community.name,
            community_id=self.community.id,
            password=DEMO_PASSWORD,
            logins=logins(self.cast, self.phones, self.hub.team_kinds()),
            counts=counts,
        )

    async def _live_six_weeks(self, progress: Progress) -> None:
        timeline = Timeline(self.clock, until=self.cal.now - timedelta(minutes=1))
        Schedule(self.seed, self.cast, self.members, self.cal, timeline, self).everything()
        step = progress.add_task(
            "模拟六周社区生活 Six weeks of community life", total=len(timeline)
        )
        await timeline.run(lambda: progress.advance(step))

    # --- day 0 to 2: the community, its grids, staff and residents -------------------------

    async def _found_community(self) -> None:
        admin_plan = self.by_key["admin"]
        admin = await people_service.create_admin(
            self.sim,
            name=admin_plan.name,
            phone=await self._free_phone(admin_plan),
            password=DEMO_PASSWORD,
        )
        self.ids["admin"] = admin.id
        self.admin = admin_actor = await self._actor("admin")
        self.clock.move_to(self.cal.at(self.cal.day0, 8, 35))
        self.community = await people_service.create_community(
            self.sim, admin_actor, {"name": await self._free_community_name(), "timezone": TIMEZONE}
        )
        for g in range(len(self.grid_workers)):
            first = g * BUILDINGS_PER_GRID + 1
            name = f"第{NUMERALS[g]}网格（{first}—{first + BUILDINGS_PER_GRID - 1}号楼）"
            grid = await people_service.create_grid(
                self.sim, admin_actor, self.community.id, {"name": name}
            )
            self.grids.append(grid.id)

    async def _register_everyone(self, progress: Progress) -> None:
        """Staff and grid workers first (by the administrator), then everyone else, in
        the order they came to register over two days."""
        task = progress.add_task("登记居民 Registering residents", total=len(self.cast.people) - 1)
        for when, p in official_arrivals(self.cast, self.cal):
            self.clock.move_to(when)
            await self._register(p, await self._actor("admin"))
            role = Role.STAFF if p.kind == "staff" else Role.GRID_WORKER
            grid_id = self.grids[p.grid] if role is Role.GRID_WORKER else None
            await people_service.assign_role(
                self.sim, self.admin, self.community.id, self.ids[p.key], role, grid_id=grid_id
            )
            progress.advance(task)
        for when, p in resident_arrivals(self.seed, self.cast, self.cal):
            self.clock.move_to(when)
            helper = None
            if p.registered_by_grid_worker:  # 代办: the grid worker registers them
                helper = await self._actor(self.grid_workers[p.grid])
            await self._register(p, helper)
            progress.advance(task)

    async def _register(self, p: PlannedPerson, actor: Actor | None) -> None:
        person = await people_service.register(
            self.sim,
            {
                "name": p.name,
                "phone": await self._free_phone(p),
                "password": DEMO_PASSWORD,
                "community_id": self.community.id,
                "grid_id": self.grids[p.grid] if p.grid is not None else None,
                "birth_date": p.birth_date(self.cal.today),
                "address": p.address,
                "skills": list(p.skills),
            },
            actor=actor,
        )
        self.ids[p.key] = person.id

    async def _free_phone(self, p: PlannedPerson) -> str:
        """The planned phone, unless the database (``--keep``) already has it."""
        phone = p.phone
        if await Person.exists(phone=phone):
            rng = random.Random(f"{self.seed}:phone:{p.key}")
            taken = set(self.phones.values())
            while True:
                phone = draw_phone(rng, taken)
                if not await Person.exists(phone=phone):
                    break
        self.phones[p.key] = phone
        return phone

    async def _free_community_name(self) -> str:
        name, n = COMMUNITY_NAME, 1
        while await Community.exists(name=name):
            n += 1
            name = f"{COMMUNITY_NAME}（演示{n}）"
        return name

    # --- day 2 to 4: teams, party members reporting, qualifications checked ------------------

    async def _form_teams(self, progress: Progress) -> None:
        await self._create_teams()
        steps = team_steps(self.seed, self.cast, self.cal)
        task = progress.add_task("组建志愿服务队 Forming teams", total=len(steps))
        for when, p, what in steps:
            self.clock.move_to(when)
            await self._join(p, what)
            progress.advance(task)
        await self._check_certificates(progress, task, len(steps))

    async def _create_teams(self) -> None:
        self.clock.move_to(self.cal.at(self.cal.day0 + timedelta(days=2), 14, 0))
        staff = await self._actor(self.staff[0])
        kinds = self.hub.team_kinds()
        for kind in TEAM_ORDER:
            data = {
                "name": localize(kinds[kind].name, "zh-CN"),
                "kind": kind,
                "leader_id": self.ids[self.cast.leader(kind).key],
            }
            team = await teams.create_team(self.sim, staff, self.community.id, data)
            self.team_ids[kind] = team.id
            self.clock.move_to(self.clock() + timedelta(minutes=5))

    async def _check_certificates(self, progress: Progress, task: Any, done: int) -> None:
        """Day 4 morning: staff check the declared certificates (one applicant still waits)."""
        staff = await self._actor(self.staff[0])
        pending = [
            p
            for p in self.cast.people
            if p.qualification and not p.stays_pending and (p.key, p.teams[0]) in self.memberships
        ]
        progress.update(task, total=done + len(pending))
        day4 = self.cal.day0 + timedelta(days=4)
        times = spread(self.cal.at(day4, 9, 0), self.cal.at(day4, 9, 55), len(pending))
        for when, p in zip(times, pending, strict=True):
            self.clock.move_to(when)
            await teams.approve_membership(self.sim, staff, self.memberships[(p.key, p.teams[0])])
            self.members[p.teams[0]].append(p.key)
            progress.advance(task)

    async def _join(self, p: PlannedPerson, what: str) -> None:
        if what == "report":
            await self._report_as_party_member(p)
        else:
            await self._join_team(p, what)

    async def _report_as_party_member(self, p: PlannedPerson) -> None:
        """在职党员到社区报到, which staff accept."""
        data = {
            "community_id": self.community.id,
            "work_unit": p.work_unit,
            "party_branch": p.party_branch,
        }
        report = await teams.file_party_report(self.sim, await self._actor(p.key), data)
        await teams.accept_party_report(self.sim, await self._actor(self.staff[0]), report.id)

    async def _join_team(self, p: PlannedPerson, kind: str) -> None:
        actor = await self._actor(p.key)
        staff = await self._actor(self.staff[0])
        data: dict[str, Any] = {}
        if kind == p.teams[0] and p.qualification:
            days = p.qualification_days
            expires = self.cal.today + timedelta(days=days) if days else None
            data["qualifications"] = [{"kind": p.qualification, "expires_on": expires}]
        try:
            membership = await teams.join_team(self.sim, actor, self.team_ids[kind], data)
        except RuleViolation:
            self.refused += 1
            return
        self.memberships[(p.key, kind)] = membership.id
        if membership.status is MembershipStatus.PENDING and "qualifications" not in data:
            # Staff know the neighbours who sign up: a new volunteer is approved (once) at once;
            # declared certificates wait for the check on day 4.
            membership = await teams.approve_membership(self.sim, staff, membership.id)
        if membership.status is MembershipStatus.ACTIVE:
            self.members[kind].append(p.key)

    # --- the timeline's actions: shifts ----------------------------------------------------

    async def create_task(self, run: ShiftRun) -> None:
        spec = run.spec
        data = {
            "title": spec.title,
            "description": spec.description,
            "team_id": self.team_ids[spec.team_kind] if spec.team_kind else None,
            "starts_at": run.first_start,
            "ends_at": run.first_start + spec.duration,
            "capacity": spec.capacity,
            "rrule": spec.rrule,
            "location": spec.location,
        }
        task = await tasks.create_task(
            self.sim, await self._actor(run.creator), self.community.id, data
        )
        run.task_id = task.id

    async def sign_up(self, run: ShiftRun, start: datetime, key: str) -> None:
        try:
            signup = await tasks.sign_up(
                self.sim, await self._actor(key), run.task_id, {"occurrence_start": start}
            )
        except RuleViolation:
            self.refused += 1
            return
        run.signups[(start, key)] = signup.id

    async def _signup_status(self, run: ShiftRun, start: datetime, key: str) -> SignupStatus | None:
        signup_id = run.signups.get((start, key))
        if signup_id is None:
            return None
        return (await Signup.get(id=signup_id)).status

    async def cancel_signup(self, run: ShiftRun, start: datetime, key: str) -> None:
        if await self._signup_status(run, start, key) is SignupStatus.CONFIRMED:
            await tasks.cancel_signup(self.sim, await self._actor(key), run.signups[(start, key)])

    async def check_in(self, run: ShiftRun, start: datetime, key: str) -> None:
        # Waitlisted people stay home; promoted ones come.
        if await self._signup_status(run, start, key) is SignupStatus.CONFIRMED:
            await tasks.check_in(self.sim, await self._actor(key), run.signups[(start, key)])

    async def check_out(self, run: ShiftRun, start: datetime, key: str) -> None:
        if await self._signup_status(run, start, key) is SignupStatus.CHECKED_IN:
            await tasks.check_out(self.sim, await self._actor(key), run.signups[(start, key)])

    # --- the timeline's actions: wishes ----------------------------------------------------

    async def post(self, run: WishRun, text: WishText) -> None:
        data: dict[str, Any] = {
            "title": text.title,
            "description": text.description,
            "category": text.category,
            "needed_by": run.needed_by,
        }
        if run.poster != run.resident:
            data["on_behalf_of"] = self.ids[run.resident]
        try:
            wish = await wishes.post(
                self.sim, await self._actor(run.poster), self.community.id, data
            )
        except RuleViolation:  # an admission-list plugin refuses it
            self.refused += 1
            return
        run.wish_id = wish.id

    async def review(self, run: WishRun, reject_reason: str | None) -> None:
        if run.wish_id is None:
            return
        decision = (
            {"decision": "reject", "reason": reject_reason}
            if reject_reason
            else {"decision": "approve"}
        )
        staff = await self._actor(run.rng.choice(self.staff))
        await wishes.review(self.sim, staff, run.wish_id, decision)

    async def escalate(self, run: WishRun, level: Escalation, referral: str) -> None:
        if run.wish_id is None:
            return
        staff = await self._actor(run.rng.choice(self.staff))
        await wishes.escalate(self.sim, staff, run.wish_id, {"level": level, "referral": referral})

    async def claim(self, run: WishRun) -> None:
        """Staff ask for proposals (精准对接); one of the first three claims it."""
        if run.wish_id is None:
            return
        staff = await self._actor(run.rng.choice(self.staff))
        proposals = await matching.candidates(self.sim, staff, run.wish_id, limit=3)
        if not proposals:
            return
        chosen = run.rng.choice(proposals)
        await wishes.claim(self.sim, await load_actor(chosen.person_id), run.wish_id)
        run.claimer = chosen.person_id

    async def fulfil(self, run: WishRun, text: WishText, hours: Decimal) -> None:
        if run.claimer is None:
            return
        await wishes.fulfil(
            self.sim,
            await load_actor(run.claimer),
            run.wish_id,
            {"note": text.note, "hours": hours},
        )

    async def confirm(self, run: WishRun, rating: int, thanks: str) -> None:
        if run.claimer is None:
            return
        # The grid worker or staff who posted it confirm for the resident.
        claimer = await Person.get(id=run.claimer)
        await wishes.confirm(
            self.sim,
            await self._actor(run.poster),
            run.wish_id,
            {"rating": rating, "thanks": thanks.format(v=claimer.name)},
        )

    async def cancel(self, run: WishRun, reason: str) -> None:
        if run.wish_id is None:
            return
        who = run.rng.choice(self.staff) if run.script.escalations else run.poster
        await wishes.cancel(self.sim, await self._actor(who), run.wish_id, {"reason": reason})

    async def expire(self) -> None:
        """The worker's nightly run: overdue wishes expire."""
        await wishes.expire_overdue(self.sim, self.community.id)

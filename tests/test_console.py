"""The administration console (issue 12, point 3): grids in natural order, renaming them,
the people search, roles revoked, deactivation, community settings and teams' leaders;
first through the services, then the pages through a cookie-keeping client.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest

from tests.factories import PASSWORD, World
from tests.pages_support import csrf, log_in
from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)
from volunteer_hub.models import (
    ApiToken,
    AuditEntry,
    ChannelConfig,
    Community,
    Grid,
    Notification,
    Person,
    Role,
    RoleAssignment,
    Signup,
    SignupStatus,
    Wish,
    WishStatus,
)
from volunteer_hub.services import (
    auth,
    console,
    emergency,
    matching,
    people,
    tasks,
    teams,
    wishes,
)
from volunteer_hub.services.access import load_actor
from volunteer_hub.testing import web_client


@pytest.fixture
async def w(hub):
    return await World(hub).build()


# --- grids in natural order ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (
            ["第三网格", "第十一网格", "第二网格", "第十网格", "第一网格"],
            ["第一网格", "第二网格", "第三网格", "第十网格", "第十一网格"],
        ),
        (["10号楼", "2号楼", "一号楼"], ["一号楼", "2号楼", "10号楼"]),
        (
            ["第二十一网格", "第一百网格", "第九十九网格"],
            ["第二十一网格", "第九十九网格", "第一百网格"],
        ),
        (["北区", "东区", "万万亿", ""], ["", "万万亿", "东区", "北区"]),  # text: as text
    ],
)
def test_natural_key_counts_chinese_numerals(names, expected):
    assert sorted(names, key=people.natural_key) == expected


async def test_grids_are_listed_in_natural_order_everywhere(w):
    for name in ("第三网格", "第十一网格", "第十网格"):
        await people.create_grid(w.hub, w.staff, w.id, {"name": name})
    expected = ["第一网格", "第二网格", "第三网格", "第十网格", "第十一网格"]
    assert [g.name for g in await people.list_grids(w.id)] == expected
    views = await people.grid_views(w.staff, w.id)
    assert [g.name for g in views] == expected
    assert views[0].workers == ((w.grid_worker.id, "网格员"),)
    assert views[1].workers == ()
    # The call-out and emergency forms offer them in the same order.
    offered = await emergency.choices(w.hub, w.staff, w.id)
    assert [name for _, name in offered.grids] == expected


async def test_renaming_a_grid_is_audited_and_refused_for_others(w):
    other = await World(w.hub).build_other(w)
    renamed = await people.rename_grid(w.hub, w.staff, w.grid.id, {"name": "幸福一网格"})
    assert renamed.name == "幸福一网格"
    assert (await Grid.get(id=w.grid.id)).name == "幸福一网格"
    entry = await AuditEntry.filter(action="grid.updated").first()
    assert entry.before == {"name": "第一网格"} and entry.after == {"name": "幸福一网格"}
    with pytest.raises(Conflict):
        await people.rename_grid(w.hub, w.staff, w.grid.id, {"name": "第二网格"})
    with pytest.raises(NotFound):  # another community's staff: not visible
        await people.rename_grid(w.hub, other.staff, w.grid.id, {"name": "别的"})
    with pytest.raises(NotFound):
        await people.rename_grid(w.hub, w.grid_worker, w.grid.id, {"name": "别的"})
    with pytest.raises(InvalidInput) as bad:
        await people.rename_grid(w.hub, w.staff, w.grid.id, {"name": ""})
    assert bad.value.fields == ["name"]
    assert (await Grid.get(id=w.grid.id)).name == "幸福一网格"


# --- community settings ----------------------------------------------------------------------


async def test_settings_store_dispatch_per_category_quiet_hours_and_zone(w):
    changed = await people.update_community(
        w.hub,
        w.staff,
        w.id,
        {
            "manual_dispatch_categories": ["repair", "legal", "repair"],
            "quiet_start": "21:30",
            "quiet_end": "08:00",
            "timezone": "Asia/Urumqi",
            "approve_volunteers": False,
        },
    )
    view = people.community_view(changed)
    assert view.manual_dispatch_categories == ("legal", "repair")
    assert (view.quiet_start, view.quiet_end, view.timezone) == ("21:30", "08:00", "Asia/Urumqi")
    assert view.approve_volunteers is False
    entry = await AuditEntry.filter(action="community.updated").order_by("-id").first()
    assert entry.after["manual_dispatch_categories"] == ["legal", "repair"]
    settings = await console.community_settings(w.hub, w.staff, w.id)
    manual = {c.code for c in settings.categories if c.manual}
    assert manual == {"legal", "repair"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"manual_dispatch_categories": ["no_such_category"]}, "manual_dispatch_categories"),
        ({"manual_dispatch_categories": ["Repair!"]}, "manual_dispatch_categories.0"),
        ({"quiet_start": "25:00"}, "quiet_start"),
        ({"quiet_end": "7:00"}, "quiet_end"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
async def test_bad_settings_name_the_field_and_write_nothing(w, data, field):
    with pytest.raises(InvalidInput) as bad:
        await people.update_community(w.hub, w.staff, w.id, {"quiet_start": "20:00", **data})
    assert bad.value.fields == [field]
    stored = await Community.get(id=w.id)
    assert (stored.quiet_start, stored.manual_dispatch_categories) == ("22:00", [])


async def test_settings_are_for_the_communitys_staff(w):
    other = await World(w.hub).build_other(w)
    for actor in (other.staff, w.grid_worker):
        with pytest.raises(PermissionDenied):
            await people.update_community(w.hub, actor, w.id, {"quiet_start": "20:00"})
        with pytest.raises(PermissionDenied):
            await console.community_settings(w.hub, actor, w.id)


# --- people: search, roles, deactivation ----------------------------------------------------


async def test_search_by_name_or_the_phones_last_digits_and_by_role(w):
    wang = await w.person("王奶奶")
    wang_phone = (await wang.load_person()).phone
    found = await people.search_people(w.staff, w.id, {"q": "王"})
    assert [p.name for p in found] == ["王奶奶"]
    assert found[0].phone == wang_phone and found[0].phone_full
    by_phone = await people.search_people(w.staff, w.id, {"q": wang_phone[-4:]})
    assert wang.id in {p.id for p in by_phone}
    staff_only = await people.search_people(w.staff, w.id, {"role": "staff"})
    assert [p.id for p in staff_only] == [w.staff.id]
    assert "staff" in staff_only[0].roles and "resident" in staff_only[0].roles
    with pytest.raises(InvalidInput) as bad:
        await people.search_people(w.staff, w.id, {"q": "123"})
    assert bad.value.fields == ["q"]
    with pytest.raises(InvalidInput):
        await people.search_people(w.staff, w.id, {"role": "mayor"})


async def test_search_masks_phones_the_viewer_may_not_see(w):
    """Staff of another community made staff here too: their phone is theirs and their
    community's; staff of this community see it masked."""
    other = await World(w.hub).build_other(w)
    await people.assign_role(w.hub, w.admin, w.id, other.staff.id, "staff")
    found = await people.search_people(w.staff, w.id, {"role": "staff"})
    outsider = next(p for p in found if p.id == other.staff.id)
    phone = (await other.staff.load_person()).phone
    assert not outsider.phone_full and outsider.phone != phone and "****" in outsider.phone
    with pytest.raises(PermissionDenied):
        await people.search_people(w.grid_worker, w.id, {"q": "王"})
    elsewhere = await other.person("和平里干部", roles=[Role.STAFF])
    assert await people.search_people(elsewhere, other.id, {})
    with pytest.raises(PermissionDenied):
        await people.search_people(elsewhere, w.id, {})


async def test_revoking_a_role_is_audited_and_takes_effect(w):
    await people.assign_role(
        w.hub, w.staff, w.id, w.grid_worker.id, "grid_worker", grid_id=w.other_grid.id
    )
    await people.revoke_role(
        w.hub, w.staff, w.id, w.grid_worker.id, "grid_worker", grid_id=w.other_grid.id
    )
    actor = await load_actor(w.grid_worker.id)
    assert actor.grids_worked(w.id) == {w.grid.id}
    await people.revoke_role(w.hub, w.staff, w.id, w.grid_worker.id, "grid_worker")
    assert not (await load_actor(w.grid_worker.id)).is_grid_worker(w.id)
    entries = await AuditEntry.filter(action="role.revoked").order_by("id")
    assert [e.before["grid_id"] for e in entries] == [w.other_grid.id, w.grid.id]
    with pytest.raises(NotFound):
        await people.revoke_role(w.hub, w.staff, w.id, w.grid_worker.id, "grid_worker")
    with pytest.raises(Conflict):  # nobody revokes their own staff role by a slip
        await people.revoke_role(w.hub, w.staff, w.id, w.staff.id, "staff")
    with pytest.raises(InvalidInput):
        await people.revoke_role(w.hub, w.staff, w.id, w.staff.id, "resident")
    with pytest.raises(PermissionDenied):
        await people.revoke_role(w.hub, w.grid_worker, w.id, w.staff.id, "staff")
    await people.revoke_role(w.hub, w.admin, w.id, w.staff.id, "staff")
    assert not (await load_actor(w.staff.id)).is_staff(w.id)


async def test_deactivation_refuses_login_revokes_tokens_and_keeps_history(w, hub):
    volunteer = await w.volunteer("小李", team=await w.team("repair"))
    phone = (await volunteer.load_person()).phone
    login = await auth.login(hub, phone, PASSWORD, "203.0.113.7")
    await auth.actor_for_token(hub, login.token)

    detail = await people.deactivate_person(hub, w.staff, volunteer.id)

    assert detail.person.active is False
    assert not (await Person.get(id=volunteer.id)).active
    with pytest.raises(NotAuthenticated):
        await auth.actor_for_token(hub, login.token)
    assert not await ApiToken.filter(person_id=volunteer.id, revoked_at__isnull=True).exists()
    with pytest.raises(NotAuthenticated) as refused:  # the same answer as a wrong password
        await auth.login(hub, phone, PASSWORD, "203.0.113.7")
    with pytest.raises(NotAuthenticated) as wrong:
        await auth.login(hub, phone, "not-the-password", "203.0.113.7")
    assert refused.value.as_dict("en") == wrong.value.as_dict("en")
    assert await RoleAssignment.exists(person_id=volunteer.id)  # history kept
    entry = await AuditEntry.get(action="person.deactivated")
    assert entry.after == {"active": False, "tokens_revoked": 1}
    # Deactivating twice changes nothing; reactivating lets them in again.
    await people.deactivate_person(hub, w.staff, volunteer.id)
    assert await AuditEntry.filter(action="person.deactivated").count() == 1
    await people.reactivate_person(hub, w.staff, volunteer.id)
    assert (await auth.login(hub, phone, PASSWORD, "203.0.113.8")).person.id == volunteer.id


async def test_a_deactivated_volunteer_is_no_candidate(w, hub):
    team = await w.team("repair")
    active = await w.volunteer("小张", team=team)
    gone = await w.volunteer("小李", team=team)
    resident = await w.person("王奶奶")
    wish = await wishes.post(
        hub, resident, w.id, {"title": "修水龙头", "description": "漏水", "category": "repair"}
    )
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    before = {c.person_id for c in await matching.candidates(hub, w.staff, wish.id)}
    assert {active.id, gone.id} <= before
    await people.deactivate_person(hub, w.staff, gone.id)
    after = {c.person_id for c in await matching.candidates(hub, w.staff, wish.id)}
    assert active.id in after and gone.id not in after


async def test_a_deactivated_volunteers_wishes_and_places_go_to_others(w, hub):
    """Nobody waits on someone who can no longer log in: in the deactivation's
    transaction their claimed wish opens again and is offered to the next volunteer, and
    their place on a shift ahead goes to the first on the waiting list."""
    team = await w.team("repair")
    gone = await w.volunteer("小李", team=team)
    next_one = await w.volunteer("小张", team=team)
    waiting = await w.volunteer("小赵", team=team)
    resident = await w.person("王奶奶")
    wish = await wishes.post(
        hub, resident, w.id, {"title": "修水龙头", "description": "漏水", "category": "repair"}
    )
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    await wishes.claim(hub, gone, wish.id)
    start = hub.now() + timedelta(days=2)
    task = await tasks.create_task(
        hub,
        w.staff,
        w.id,
        {
            "title": "维修日",
            "team_id": team.id,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "capacity": 1,
        },
    )
    held = await tasks.sign_up(hub, gone, task.id, {})
    queued = await tasks.sign_up(hub, waiting, task.id, {})
    assert (held.status, queued.status) == (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED)

    await console.deactivate_person(hub, w.staff, gone.id)

    reopened = await Wish.get(id=wish.id)
    assert (reopened.status, reopened.claimer_id) == (WishStatus.OPEN, None)
    handed = await AuditEntry.get(action="wish.handed_back", entity_id=wish.id)
    assert handed.actor_id == w.staff.id
    invited = await AuditEntry.filter(action="wish.invited", entity_id=wish.id).order_by("id")
    # Dispatch asks the others (up to three), never the one deactivated.
    assert [e.after["person_id"] for e in invited] == [next_one.id, waiting.id]
    assert await Notification.exists(person_id=resident.id, event="wish.handed_back")
    assert (await Signup.get(id=held.id)).status is SignupStatus.CANCELLED
    assert (await Signup.get(id=queued.id)).status is SignupStatus.CONFIRMED
    assert await Notification.exists(person_id=waiting.id, event="signup.promoted")
    # The deactivation itself stays one entry; a second one releases nothing more.
    await console.deactivate_person(hub, w.staff, gone.id)
    assert await AuditEntry.filter(action="wish.handed_back").count() == 1


async def test_who_may_deactivate_whom(w, hub):
    other = await World(w.hub).build_other(w)
    resident = await w.person("王奶奶")
    with pytest.raises(NotFound):  # another community's staff do not see the person
        await people.deactivate_person(hub, other.staff, resident.id)
    with pytest.raises(NotFound):
        await people.deactivate_person(hub, w.grid_worker, resident.id)
    with pytest.raises(Conflict):
        await people.deactivate_person(hub, w.staff, w.staff.id)
    with pytest.raises(NotFound):  # staff cannot lock an administrator out
        await people.deactivate_person(hub, w.staff, w.admin.id)
    admin_too = await w.person("兼任管理员")
    await RoleAssignment.create(person_id=admin_too.id, community_id=None, role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        await people.deactivate_person(hub, w.staff, admin_too.id)
    assert (await Person.get(id=resident.id)).active


async def test_person_detail_shows_roles_and_teams(w, hub):
    team = await w.team("repair", "便民维修队")
    volunteer = await w.volunteer("小李", team=team)
    await teams.update_team(hub, w.staff, team.id, {"leader_id": volunteer.id})
    detail = await people.person_detail(w.staff, volunteer.id)
    assert detail.person.name == "小李" and detail.person.phone_full
    assert {r.role.value for r in detail.roles} >= {"resident", "volunteer"}
    assert [(t.team_name, t.leads) for t in detail.teams] == [("便民维修队", True)]


# --- teams ----------------------------------------------------------------------------------


async def test_team_leader_is_set_changed_and_removed(w, hub):
    team = await w.team("repair", "便民维修队")
    li = await w.volunteer("小李", team=team)
    zhang = await w.volunteer("小张", team=team)
    other = await World(w.hub).build_other(w)
    await teams.update_team(hub, w.staff, team.id, {"leader_id": li.id})
    changed = await teams.update_team(
        hub, w.staff, team.id, {"leader_id": zhang.id, "name": "维修队"}
    )
    assert (changed.leader_id, changed.name) == (zhang.id, "维修队")
    views = await console.team_views(w.staff, w.id)
    assert [(t.name, t.leader_name, t.members) for t in views] == [("维修队", "小张", 2)]
    removed = await teams.update_team(hub, w.staff, team.id, {"no_leader": True})
    assert removed.leader_id is None
    entries = await AuditEntry.filter(action="team.updated").order_by("id")
    assert [e.after for e in entries] == [
        {"leader_id": li.id},
        {"name": "维修队", "leader_id": zhang.id},
        {"leader_id": None},
    ]
    with pytest.raises(InvalidInput) as bad:  # a leader from elsewhere
        await teams.update_team(hub, w.staff, team.id, {"leader_id": other.staff.id})
    assert bad.value.fields == ["leader_id"]
    with pytest.raises(NotFound):
        await teams.update_team(hub, other.staff, team.id, {"name": "x"})


# --- plugins and channels ------------------------------------------------------------------


async def test_plugin_lines_for_admins_and_staff(w, hub):
    lines = console.plugin_lines(hub, w.admin, None)
    assert "volunteer_hub.default_plugins.catalog" in {p.name for p in lines}
    staff_view = console.plugin_lines(hub, w.staff, w.id)
    assert all(p.error is None for p in staff_view)
    with pytest.raises(PermissionDenied):
        console.plugin_lines(hub, w.staff, None)
    with pytest.raises(PermissionDenied):
        console.plugin_lines(hub, w.grid_worker, w.id)


async def test_configuring_a_channel_keeps_a_secret_left_empty(w, hub):
    first = await console.configure_channel(
        hub, w.staff, w.id, "webhook", "短信网关", {"url": "http://127.0.0.1:9/sms?key=s3"}, True
    )
    assert first.settings["url"] != "http://127.0.0.1:9/sms?key=s3"  # masked
    renamed = await console.configure_channel(hub, w.staff, w.id, "webhook", "短信", {}, False)
    assert renamed.name == "短信" and renamed.enabled is False
    forms = await console.channel_forms(hub, w.staff, w.id)
    webhook = next(f for f in forms if f.code == "webhook")
    assert webhook.configured is not None and ("url", "password", True, True) in webhook.fields
    config = await ChannelConfig.get(community_id=w.id, code="webhook")
    assert hub.box.open(config.secret)["url"] == "http://127.0.0.1:9/sms?key=s3"


# --- the pages ---------------------------------------------------------------------------------

CONSOLE_PAGES = (
    "/staff/community",
    "/staff/grids",
    "/staff/people",
    "/staff/teams",
    "/staff/channels",
    "/admin/plugins",
)


async def switch_to(browser: httpx.AsyncClient, phone: str) -> None:
    browser.cookies.clear()
    assert (await log_in(browser, phone)).status_code == 303


async def phone_of(actor) -> str:
    return (await actor.load_person()).phone


async def submit(browser: httpx.AsyncClient, page: str, action: str, data: dict) -> httpx.Response:
    opened = await browser.get(page)
    assert opened.status_code == 200, opened.text
    return await browser.post(action, data={**data, "csrf_token": csrf(opened.text)})


def assert_csp_safe(html: str) -> None:
    assert " style=" not in html and "<style" not in html and "<script>" not in html


@pytest.mark.parametrize("path", CONSOLE_PAGES)
async def test_console_pages_are_for_the_communitys_staff(w, browser, path):
    volunteer = await w.volunteer("小李", team=await w.team("repair"))
    other = await World(w.hub).build_other(w)
    assert (await browser.get(path)).status_code == 303  # logged out: to the login page

    await log_in(browser, await phone_of(volunteer))
    assert (await browser.get(path)).status_code == 403
    await switch_to(browser, await phone_of(w.grid_worker))
    assert (await browser.get(path)).status_code == 403

    await switch_to(browser, await phone_of(other.staff))
    assert (await browser.get(path)).status_code == 200  # their own community
    assert (await browser.get(f"{path}?community={w.id}")).status_code == 403

    await switch_to(browser, await phone_of(w.staff))
    own = await browser.get(path)
    assert own.status_code == 200 and 'aria-current="page"' in own.text
    assert_csp_safe(own.text)
    assert (await browser.get(f"{path}?community=abc")).status_code == 404
    assert (await browser.get(f"{path}?community=99999")).status_code == 404

    await switch_to(browser, await phone_of(w.admin))
    assert (await browser.get(f"{path}?community={other.id}")).status_code == 200


@pytest.mark.parametrize(
    ("path", "form"),
    [
        (
            "/staff/community",
            {"quiet_start": "21:00", "quiet_end": "07:00", "timezone": "Asia/Shanghai"},
        ),
        ("/staff/grids", {"name": "第九网格"}),
        ("/staff/teams", {"name": "新队", "kind": "repair"}),
        ("/staff/channels", {"code": "webhook", "name": "短信", "s_url": "http://127.0.0.1:9/x"}),
    ],
)
async def test_console_forms_refuse_other_communities_staff(w, browser, path, form):
    other = await World(w.hub).build_other(w)
    await log_in(browser, await phone_of(other.staff))
    refused = await submit(browser, path, f"{path}?community={w.id}", form)
    assert refused.status_code == 403
    # Without the CSRF token nothing is even read.
    await switch_to(browser, await phone_of(w.staff))
    assert (await browser.post(f"{path}?community={w.id}", data=form)).status_code == 403


async def test_an_admin_starts_at_the_communities_and_creates_one(w, browser):
    await log_in(browser, await phone_of(w.admin))
    browser.headers["Accept-Language"] = "en"
    home = await browser.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/admin/communities"
    listed = await browser.get("/admin/communities")
    assert f'href="/staff?community={w.id}"' in listed.text and "幸福里社区" in listed.text
    assert_csp_safe(listed.text)

    bad = await submit(
        browser, "/admin/communities", "/admin/communities", {"name": "", "timezone": "Mars/X"}
    )
    assert bad.status_code == 422
    assert 'id="e-name"' in bad.text and 'id="e-timezone"' in bad.text
    created = await submit(
        browser,
        "/admin/communities",
        "/admin/communities",
        {"name": "和谐里社区", "timezone": "Asia/Urumqi"},
    )
    assert created.status_code == 303
    stored = await Community.get(name="和谐里社区")
    assert stored.timezone == "Asia/Urumqi"
    assert "Community created" in (await browser.get(created.headers["location"])).text
    duplicate = await submit(
        browser, "/admin/communities", "/admin/communities", {"name": "和谐里社区"}
    )
    assert duplicate.status_code == 409 and "exists already" in duplicate.text

    await switch_to(browser, await phone_of(w.staff))
    assert (await browser.get("/")).headers["location"] == "/staff"
    assert (await browser.get("/admin/communities")).status_code == 403


async def test_a_resident_keeps_the_resident_home(w, browser):
    resident = await w.person("王奶奶")
    await log_in(browser, await phone_of(resident))
    assert (await browser.get("/")).status_code == 200


async def test_settings_page_saves_dispatch_and_quiet_hours_in_chinese(w, browser):
    await log_in(browser, await phone_of(w.staff))
    path = f"/staff/community?community={w.id}"
    opened = await browser.get(path)
    assert '<html lang="zh-CN"' in opened.text and "社区设置" in opened.text
    saved = await browser.post(
        path,
        data={
            "csrf_token": csrf(opened.text),
            "manual": ["repair", "legal"],
            "quiet_start": "21:30",
            "quiet_end": "07:30",
            "timezone": "Asia/Shanghai",
        },
    )
    assert saved.status_code == 303
    stored = await Community.get(id=w.id)
    assert stored.manual_dispatch_categories == ["legal", "repair"]
    assert (stored.quiet_start, stored.approve_volunteers) == ("21:30", False)
    shown = await browser.get(saved.headers["location"])
    assert re.search(r'value="repair" checked', shown.text)
    bad = await browser.post(
        path,
        data={"csrf_token": csrf(opened.text), "quiet_start": "9pm", "quiet_end": "07:30"},
    )
    assert bad.status_code == 422 and 'id="e-quiet_start"' in bad.text
    assert (await Community.get(id=w.id)).quiet_start == "21:30"


async def test_grids_page_lists_in_natural_order_creates_and_renames(w, browser):
    for name in ("第十一网格", "第三网格", "第十网格"):
        await people.create_grid(w.hub, w.staff, w.id, {"name": name})
    await log_in(browser, await phone_of(w.staff))
    browser.headers["Accept-Language"] = "en"
    path = f"/staff/grids?community={w.id}"
    page = await browser.get(path)
    names = re.findall(r'<h3 id="g\d+-h">([^<]+)</h3>', page.text)
    assert names == ["第一网格", "第二网格", "第三网格", "第十网格", "第十一网格"]
    assert f'href="/staff/people/{w.grid_worker.id}?community={w.id}">网格员</a>' in page.text
    created = await submit(browser, path, path, {"name": "第四网格"})
    assert created.status_code == 303
    clash = await submit(
        browser, path, f"/staff/grids/{w.grid.id}/rename?community={w.id}", {"name": "第二网格"}
    )
    assert clash.status_code == 409 and "exists already" in clash.text
    renamed = await submit(
        browser,
        path,
        f"/staff/grids/{w.grid.id}/rename?community={w.id}",
        {"name": "第一网格（东）"},
    )
    assert renamed.status_code == 303
    assert (await Grid.get(id=w.grid.id)).name == "第一网格（东）"


async def test_people_page_searches_and_masks(w, browser):
    wang = await w.person("王奶奶")
    phone = await phone_of(wang)
    await log_in(browser, await phone_of(w.staff))
    browser.headers["Accept-Language"] = "en"
    found = await browser.get(f"/staff/people?community={w.id}&q={phone[-4:]}")
    assert found.status_code == 200 and "王奶奶" in found.text and phone in found.text
    by_name = await browser.get(f"/staff/people?community={w.id}&q=王")
    assert f'href="/staff/people/{wang.id}?community={w.id}"' in by_name.text
    short = await browser.get(f"/staff/people?community={w.id}&q=12")
    assert short.status_code == 422 and "at least 4 digits" in short.text
    staff = await browser.get(f"/staff/people?community={w.id}&role=staff")
    assert "社区干部" in staff.text and "王奶奶" not in staff.text
    assert (await browser.get(f"/staff/people?community={w.id}&role=king")).status_code == 422


async def test_person_page_gives_and_takes_roles_and_deactivates(w, browser, hub):
    volunteer = await w.volunteer("小李", team=await w.team("repair"))
    phone = await phone_of(volunteer)
    await log_in(browser, await phone_of(w.staff))
    browser.headers["Accept-Language"] = "en"
    path = f"/staff/people/{volunteer.id}?community={w.id}"
    page = await browser.get(path)
    assert page.status_code == 200 and phone in page.text
    assert f'href="/people/{volunteer.id}/channels"' in page.text
    assert f'action="/staff/people/{volunteer.id}/reset-code"' in page.text
    assert_csp_safe(page.text)

    missing_grid = await submit(
        browser,
        path,
        f"/staff/people/{volunteer.id}/roles?community={w.id}",
        {"role": "grid_worker"},
    )
    assert missing_grid.status_code == 422 and 'id="e-grid_id"' in missing_grid.text
    given_role = await submit(
        browser,
        path,
        f"/staff/people/{volunteer.id}/roles?community={w.id}",
        {"role": "grid_worker", "grid_id": str(w.other_grid.id)},
    )
    assert given_role.status_code == 303
    assert (await load_actor(volunteer.id)).grids_worked(w.id) == {w.other_grid.id}
    taken = await submit(
        browser,
        path,
        f"/staff/people/{volunteer.id}/revoke?community={w.id}",
        {"role": "grid_worker", "grid_id": str(w.other_grid.id)},
    )
    assert taken.status_code == 303
    assert not (await load_actor(volunteer.id)).is_grid_worker(w.id)

    # Their own browser is logged in; deactivation logs it out.
    async with web_client(hub, client=("203.0.113.10", 50002)) as elsewhere:
        await _logged_out_by_deactivation(browser, elsewhere, w, volunteer.id, phone, path)

    own = await submit(
        browser,
        f"/staff/people/{w.staff.id}?community={w.id}",
        f"/staff/people/{w.staff.id}/deactivate?community={w.id}",
        {},
    )
    assert own.status_code == 409 and "cannot deactivate yourself" in own.text
    other = await World(w.hub).build_other(w)
    assert (
        await browser.get(f"/staff/people/{other.staff.id}?community={w.id}")
    ).status_code == 404


async def _logged_out_by_deactivation(browser, elsewhere, w, person_id, phone, path):
    """``elsewhere``: the person's own browser, logged out by their deactivation."""
    await log_in(elsewhere, phone)
    assert (await elsewhere.get("/schedule")).status_code == 200
    gone = await submit(browser, path, f"/staff/people/{person_id}/deactivate?community={w.id}", {})
    assert gone.status_code == 303
    assert "Deactivated" in (await browser.get(gone.headers["location"])).text
    assert (await elsewhere.get("/schedule")).status_code == 303  # to the login page
    elsewhere.cookies.clear()
    refused = await log_in(elsewhere, phone)
    assert refused.status_code == 401
    back = await submit(browser, path, f"/staff/people/{person_id}/reactivate?community={w.id}", {})
    assert back.status_code == 303
    assert (await log_in(elsewhere, phone)).status_code == 303


async def test_teams_page_creates_a_team_and_changes_its_leader(w, browser):
    li = await w.volunteer("小李")
    await log_in(browser, await phone_of(w.staff))
    browser.headers["Accept-Language"] = "en"
    path = f"/staff/teams?community={w.id}"
    bad = await submit(browser, path, path, {"name": "反诈队", "kind": "astrology"})
    assert bad.status_code == 422 and 'id="e-kind"' in bad.text
    created = await submit(browser, path, path, {"name": "反诈队", "kind": "anti_fraud"})
    assert created.status_code == 303
    team = await teams.get_team((await console.team_views(w.staff, w.id))[0].id)
    changed = await submit(
        browser, path, f"/staff/teams/{team.id}/change?community={w.id}", {"leader_id": str(li.id)}
    )
    assert changed.status_code == 303
    listed = await browser.get(path)
    assert f'href="/staff/people/{li.id}?community={w.id}">小李</a>' in listed.text
    removed = await submit(
        browser, path, f"/staff/teams/{team.id}/change?community={w.id}", {"leader_id": "none"}
    )
    assert removed.status_code == 303
    assert (await teams.get_team(team.id)).leader_id is None


async def test_channels_page_configures_without_showing_secrets(w, browser):
    await log_in(browser, await phone_of(w.staff))
    browser.headers["Accept-Language"] = "en"
    path = f"/staff/channels?community={w.id}"
    bad = await submit(browser, path, path, {"code": "webhook", "name": "短信", "s_url": "ftp://x"})
    assert bad.status_code == 422 and 'id="webhook-url-e"' in bad.text
    assert "ftp://x" not in bad.text  # a secret is never shown back, not even typed
    saved = await submit(
        browser,
        path,
        path,
        {
            "code": "webhook",
            "name": "短信",
            "s_url": "http://127.0.0.1:9/s?key=t0p",
            "enabled": "on",
        },
    )
    assert saved.status_code == 303
    shown = await browser.get(path)
    assert "t0p" not in shown.text and "Stored. Leave empty to keep it." in shown.text
    kept = await submit(
        browser, path, path, {"code": "webhook", "name": "短信网关", "enabled": "on"}
    )
    assert kept.status_code == 303
    config = await ChannelConfig.get(community_id=w.id, code="webhook")
    assert config.name == "短信网关" and "t0p" in w.hub.box.open(config.secret)["url"]
    assert (await submit(browser, path, path, {"code": "pigeon", "name": "x"})).status_code == 404


async def test_plugins_page_for_admins_and_staff(w, browser):
    await log_in(browser, await phone_of(w.admin))
    browser.headers["Accept-Language"] = "en"
    page = await browser.get("/admin/plugins")
    assert page.status_code == 200 and "volunteer_hub.default_plugins.catalog" in page.text
    await switch_to(browser, await phone_of(w.staff))
    staff_view = await browser.get("/admin/plugins")
    assert staff_view.status_code == 200 and "read-only" in staff_view.text


async def test_deactivation_over_the_api_stops_the_token_and_the_login(w, api):
    volunteer = await w.volunteer("小李")
    phone = await phone_of(volunteer)
    staff = await api.post(
        "/api/v1/auth/login", json={"phone": await phone_of(w.staff), "password": PASSWORD}
    )
    own = await api.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD})
    staff_auth = {"Authorization": f"Bearer {staff.json()['token']}"}
    own_auth = {"Authorization": f"Bearer {own.json()['token']}"}
    assert (await api.get("/api/v1/me", headers=own_auth)).status_code == 200

    found = await api.get(
        f"/api/v1/communities/{w.id}/people", params={"q": phone[-4:]}, headers=staff_auth
    )
    assert found.status_code == 200
    assert [(p["id"], p["phone"], p["active"]) for p in found.json()["items"]] == [
        (volunteer.id, phone, True)
    ]
    gone = await api.post(f"/api/v1/people/{volunteer.id}/deactivate", headers=staff_auth)
    assert gone.status_code == 200 and gone.json()["active"] is False

    assert (await api.get("/api/v1/me", headers=own_auth)).status_code == 401
    refused = await api.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD})
    unknown = await api.post(
        "/api/v1/auth/login", json={"phone": "13999999999", "password": PASSWORD}
    )
    assert refused.status_code == unknown.status_code == 401
    assert refused.json() == unknown.json()  # no account enumeration
    back = await api.post(f"/api/v1/people/{volunteer.id}/reactivate", headers=staff_auth)
    assert back.status_code == 200 and back.json()["active"] is True
    assert (await api.get("/api/v1/me", headers=own_auth)).status_code == 401  # stays revoked


async def test_staff_of_another_community_than_their_home_start_in_its_console(w, browser):
    other = await World(w.hub).build_other(w)
    helper = await other.person("和平里居民")
    await people.assign_role(w.hub, w.admin, w.id, helper.id, "staff")
    await log_in(browser, await phone_of(helper))
    home = await browser.get("/")
    assert home.headers["location"] == f"/staff?community={w.id}"
    assert (await browser.get(home.headers["location"])).status_code == 200


async def test_concurrent_deactivations_record_it_once(w, hub):
    volunteer = await w.volunteer("小李")
    await asyncio.gather(
        *(people.deactivate_person(hub, actor, volunteer.id) for actor in (w.staff, w.admin) * 3)
    )
    assert await AuditEntry.filter(action="person.deactivated").count() == 1
    assert not (await Person.get(id=volunteer.id)).active

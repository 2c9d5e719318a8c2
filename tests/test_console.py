"""The administration console (issue 12, point 3): grids in natural order, renaming them,
the people search, roles revoked, deactivation, community settings and teams' leaders;
first through the services, then the pages through a cookie-keeping client.
"""

from __future__ import annotations

import re

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
    Person,
    Role,
    RoleAssignment,
)
from volunteer_hub.services import auth, console, matching, people, teams, wishes
from volunteer_hub.services.access import load_actor


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

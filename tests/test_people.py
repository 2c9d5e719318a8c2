"""People, communities, grids, roles, login and visibility, on the real databases."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from tests.factories import PASSWORD, World, id_number, next_phone
from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)
from volunteer_hub.models import (
    AuditEntry,
    Community,
    Grid,
    Person,
    Role,
    RoleAssignment,
)
from volunteer_hub.services import people
from volunteer_hub.services.access import load_actor
from volunteer_hub.services.uow import unit_of_work

ID_WITH_X = "11010519600517019X"  # born 1960-05-17, check digit X
COUNTED = (Community, Grid, Person, RoleAssignment, AuditEntry)


async def table_counts() -> dict[str, int]:
    return {model.__name__: await model.all().count() for model in COUNTED}


def person_data(w: World, **overrides) -> dict:
    data = {
        "name": "张阿姨",
        "phone": next_phone(),
        "password": PASSWORD,
        "community_id": w.community.id,
    }
    return data | overrides


async def other_community(w: World, name: str = "和平里社区") -> Community:
    return await people.create_community(w.hub, w.admin, {"name": name})


# --- registration -----------------------------------------------------------------------


async def test_register_makes_a_resident_and_keeps_no_raw_id_number(hub):
    w = await World(hub).build()
    phone = next_phone()
    person = await people.register(
        hub,
        person_data(
            w,
            phone="+86 " + phone,
            id_number=ID_WITH_X.lower(),
            grid_id=w.grid.id,
            skills=["理发", "修电脑"],
        ),
    )
    row = await Person.get(id=person.id)
    assert row.phone == phone
    assert row.community_id == w.community.id
    assert row.grid_id == w.grid.id
    assert row.birth_date == date(1960, 5, 17)  # from the ID number
    assert row.id_number_last4 == "019X"
    assert row.id_number_hash == hub.id_key.digest(ID_WITH_X)
    assert row.skills == ["理发", "修电脑"]
    assert hub.passwords.verify(row.password_hash, PASSWORD)
    assert PASSWORD not in row.password_hash

    actor = await load_actor(person.id)
    assert actor.roles_in(w.community.id) == ["resident"]

    # The raw ID number is in no column of the person nor in any audit entry.
    stored = await Person.filter(id=person.id).values()
    audit = await AuditEntry.all().values()
    for text in (str(stored), str(audit)):
        assert ID_WITH_X not in text.upper()
    assert phone not in str(audit)  # the audit trail has the masked phone only
    (entry,) = [
        a for a in audit if a["action"] == "person.registered" and a["entity_id"] == person.id
    ]
    assert entry["entity_id"] == person.id
    assert entry["actor_id"] == person.id  # registered themselves
    assert entry["community_id"] == w.community.id
    assert entry["before"] is None
    assert entry["after"]["phone"] == phone[:3] + "****" + phone[-4:]
    assert entry["after"]["birth_date"] == "1960-05-17"


async def test_register_keeps_a_given_birth_date_without_id_number(hub):
    w = await World(hub).build()
    person = await people.register(hub, person_data(w, birth_date="1950-03-04"))
    row = await Person.get(id=person.id)
    assert row.birth_date == date(1950, 3, 4)
    assert row.id_number_hash is None and row.id_number_last4 is None


async def test_register_by_staff_records_the_staff_member(hub):
    w = await World(hub).build()
    person = await people.register(hub, person_data(w), actor=w.staff)
    entry = await AuditEntry.get(action="person.registered", entity_id=person.id)
    assert entry.actor_id == w.staff.id


async def test_register_duplicate_phone_is_a_conflict(hub):
    w = await World(hub).build()
    phone = next_phone()
    await people.register(hub, person_data(w, phone=phone))
    before = await table_counts()
    with pytest.raises(Conflict) as caught:
        await people.register(hub, person_data(w, name="另一个人", phone=f"+86 {phone}"))
    assert caught.value.code == "phone_taken"
    assert await table_counts() == before


async def test_register_duplicate_id_number_is_a_conflict(hub):
    w = await World(hub).build()
    await people.register(hub, person_data(w, id_number=ID_WITH_X))
    before = await table_counts()
    with pytest.raises(Conflict) as caught:
        await people.register(hub, person_data(w, id_number=ID_WITH_X.lower()))
    assert caught.value.code == "id_number_taken"
    assert await table_counts() == before


async def test_register_in_an_unknown_community_names_community_id(hub):
    w = await World(hub).build()
    before = await table_counts()
    with pytest.raises(InvalidInput) as caught:
        await people.register(hub, person_data(w, community_id=w.community.id + 999))
    assert caught.value.code == "validation_error"
    assert caught.value.fields == ["community_id"]
    assert await table_counts() == before


async def test_register_with_a_grid_of_another_community_names_grid_id(hub):
    w = await World(hub).build()
    other = await other_community(w)
    foreign_grid = await people.create_grid(hub, w.admin, other.id, {"name": "外网格"})
    before = await table_counts()
    for grid_id in (foreign_grid.id, foreign_grid.id + 999):
        with pytest.raises(InvalidInput) as caught:
            await people.register(hub, person_data(w, grid_id=grid_id))
        assert caught.value.fields == ["grid_id"]
    assert await table_counts() == before


async def test_register_bad_input_names_the_field_and_writes_nothing(hub):
    w = await World(hub).build()
    before = await table_counts()
    cases = {
        "phone": {"phone": "010-12345678"},
        "password": {"password": "password1"},
        "id_number": {"id_number": ID_WITH_X[:-1] + "1"},
        "name": {"name": "   "},
        "nickname": {"nickname": "小张"},
    }
    for field, overrides in cases.items():
        with pytest.raises(InvalidInput) as caught:
            await people.register(hub, person_data(w, **overrides))
        assert caught.value.fields == [field], field
    assert await table_counts() == before


async def test_register_birth_date_contradicting_id_number_names_birth_date(hub):
    w = await World(hub).build()
    before = await table_counts()
    with pytest.raises(InvalidInput) as caught:
        await people.register(hub, person_data(w, id_number=ID_WITH_X, birth_date="1961-05-17"))
    assert caught.value.fields == ["birth_date"]
    assert await table_counts() == before


async def test_concurrent_registrations_of_one_phone_make_one_person(hub):
    w = await World(hub).build()
    phone = next_phone()
    before = await table_counts()
    results = await asyncio.gather(
        *[people.register(hub, person_data(w, name=f"居民{i}", phone=phone)) for i in range(20)],
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, Person)]
    refused = [r for r in results if not isinstance(r, Person)]
    assert len(made) == 1
    assert len(refused) == 19
    assert all(isinstance(r, Conflict) and r.code == "phone_taken" for r in refused), refused
    assert await Person.filter(phone=phone).count() == 1
    after = await table_counts()
    assert after["Person"] == before["Person"] + 1
    assert after["RoleAssignment"] == before["RoleAssignment"] + 1
    assert after["AuditEntry"] == before["AuditEntry"] + 1


async def test_concurrent_registrations_of_one_id_number_say_id_number_taken(hub):
    w = await World(hub).build()
    results = await asyncio.gather(
        *[people.register(hub, person_data(w, id_number=ID_WITH_X)) for _ in range(10)],
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, Person)]
    refused = [r for r in results if not isinstance(r, Person)]
    assert len(made) == 1
    assert await Person.filter(id_number_last4="019X").count() == 1
    # Each refusal names the ID number, not the (different, free) phone numbers.
    assert [getattr(r, "code", r) for r in refused] == ["id_number_taken"] * 9


# --- administrators and communities --------------------------------------------------------


async def test_create_admin(hub):
    before = await table_counts()
    phone = next_phone()
    admin = await people.create_admin(hub, name="管理员", phone=phone, password=PASSWORD)
    row = await Person.get(id=admin.id)
    assert row.community_id is None and row.phone == phone
    actor = await load_actor(admin.id)
    assert actor.is_admin
    assert actor.roles_in(None) == ["admin"]
    entry = await AuditEntry.get(action="person.admin_created")
    assert entry.actor_id is None and entry.entity_id == admin.id
    assert phone not in str(entry.after)
    after = await table_counts()
    assert after["Person"] == before["Person"] + 1
    assert after["AuditEntry"] == before["AuditEntry"] + 1


async def test_create_admin_refuses_a_taken_phone_and_a_weak_password(hub):
    phone = next_phone()
    await people.create_admin(hub, name="管理员", phone=phone, password=PASSWORD)
    before = await table_counts()
    with pytest.raises(Conflict) as caught:
        await people.create_admin(hub, name="又一个", phone=phone, password=PASSWORD)
    assert caught.value.code == "phone_taken"
    with pytest.raises(InvalidInput) as caught:
        await people.create_admin(hub, name="又一个", phone=next_phone(), password="12345678")
    assert caught.value.fields == ["password"]
    assert await table_counts() == before


async def test_create_community_by_admin(hub):
    w = await World(hub).build()
    community = await people.create_community(
        hub, w.admin, {"name": "  和平里社区 ", "timezone": "Asia/Urumqi"}
    )
    row = await Community.get(id=community.id)
    assert (row.name, row.timezone) == ("和平里社区", "Asia/Urumqi")
    assert w.community.timezone == "Asia/Shanghai"  # the default
    entry = await AuditEntry.get(action="community.created", entity_id=community.id)
    assert entry.actor_id == w.admin.id
    assert entry.community_id == community.id
    assert entry.after == {"name": "和平里社区", "timezone": "Asia/Urumqi"}


async def test_create_community_refused_for_staff(hub):
    w = await World(hub).build()
    before = await table_counts()
    for actor in (w.staff, w.grid_worker):
        with pytest.raises(PermissionDenied) as caught:
            await people.create_community(hub, actor, {"name": "和平里社区"})
        assert caught.value.code == "forbidden"
    assert await table_counts() == before


async def test_create_community_bad_input(hub):
    w = await World(hub).build()
    before = await table_counts()
    for data, field in [
        ({"name": "和平里社区", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "和平里社区", "timezone": "../../etc/passwd"}, "timezone"),
        ({"name": ""}, "name"),
        ({"name": "和平\n里"}, "name"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            await people.create_community(hub, w.admin, data)
        assert caught.value.fields == [field], data
    with pytest.raises(Conflict) as caught:
        await people.create_community(hub, w.admin, {"name": w.community.name})
    assert caught.value.code == "community_exists"
    assert await table_counts() == before


async def test_concurrent_community_creation_with_one_name_makes_one(hub):
    w = await World(hub).build()
    results = await asyncio.gather(
        *[people.create_community(hub, w.admin, {"name": "和平里社区"}) for _ in range(10)],
        return_exceptions=True,
    )
    assert sum(isinstance(r, Community) for r in results) == 1
    assert await Community.filter(name="和平里社区").count() == 1
    refused = [r for r in results if not isinstance(r, Community)]
    assert [getattr(r, "code", repr(r)) for r in refused] == ["community_exists"] * 9


# --- grids ----------------------------------------------------------------------------------


async def test_create_grid_by_staff_of_the_community(hub):
    w = await World(hub).build()
    grid = await people.create_grid(hub, w.staff, w.community.id, {"name": "第三网格"})
    assert (grid.community_id, grid.name) == (w.community.id, "第三网格")
    entry = await AuditEntry.get(action="grid.created", entity_id=grid.id)
    assert entry.actor_id == w.staff.id and entry.after == {"name": "第三网格"}


async def test_create_grid_refused_outside_ones_community(hub):
    w = await World(hub).build()
    other = await other_community(w)
    other_staff = await w.person("外社区干部", community=other, roles=[Role.STAFF])
    resident = await w.person()
    before = await table_counts()
    for actor in (other_staff, w.grid_worker, resident):
        with pytest.raises(PermissionDenied):
            await people.create_grid(hub, actor, w.community.id, {"name": "第三网格"})
    with pytest.raises(Conflict) as caught:
        await people.create_grid(hub, w.staff, w.community.id, {"name": w.grid.name})
    assert caught.value.code == "grid_exists"
    with pytest.raises(NotFound) as caught:
        await people.create_grid(hub, w.staff, w.community.id + 999, {"name": "第三网格"})
    assert caught.value.code == "community_not_found"
    assert await table_counts() == before
    # The other community's staff can make a grid of the same name at home.
    assert await people.create_grid(hub, other_staff, other.id, {"name": "第三网格"})


async def test_concurrent_grid_creation_with_one_name_makes_one(hub):
    w = await World(hub).build()
    results = await asyncio.gather(
        *[
            people.create_grid(hub, w.staff, w.community.id, {"name": "第三网格"})
            for _ in range(10)
        ],
        return_exceptions=True,
    )
    assert sum(isinstance(r, Grid) for r in results) == 1
    assert await Grid.filter(name="第三网格").count() == 1
    refused = [r for r in results if not isinstance(r, Grid)]
    assert [getattr(r, "code", repr(r)) for r in refused] == ["grid_exists"] * 9


# --- roles ------------------------------------------------------------------------------------


async def test_assign_staff_and_grid_worker(hub):
    w = await World(hub).build()
    person = await w.person("小刘")
    await people.assign_role(hub, w.staff, w.community.id, person.id, "staff")
    await people.assign_role(
        hub, w.staff, w.community.id, person.id, Role.GRID_WORKER, grid_id=w.other_grid.id
    )
    actor = await load_actor(person.id)
    assert actor.is_staff(w.community.id)
    assert actor.grids_worked(w.community.id) == {w.other_grid.id}
    assert actor.roles_in(w.community.id) == ["grid_worker", "resident", "staff"]
    entries = await AuditEntry.filter(action="role.assigned", actor_id=w.staff.id).order_by("id")
    assert [e.after for e in entries] == [
        {"person_id": person.id, "role": "staff", "grid_id": None},
        {"person_id": person.id, "role": "grid_worker", "grid_id": w.other_grid.id},
    ]
    # Assigning the same role again changes nothing.
    before = await table_counts()
    await people.assign_role(hub, w.staff, w.community.id, person.id, "staff")
    assert await table_counts() == before


async def test_assign_role_bad_input(hub):
    w = await World(hub).build()
    other = await other_community(w)
    foreign_grid = await people.create_grid(hub, w.admin, other.id, {"name": "外网格"})
    person = await w.person("小刘")
    before = await table_counts()
    cases = [
        (("janitor",), {}, "role"),
        (("admin",), {}, "role"),
        (("resident",), {}, "role"),
        (("grid_worker",), {}, "grid_id"),
        (("grid_worker",), {"grid_id": foreign_grid.id}, "grid_id"),
    ]
    for args, kwargs, field in cases:
        with pytest.raises(InvalidInput) as caught:
            await people.assign_role(hub, w.staff, w.community.id, person.id, *args, **kwargs)
        assert caught.value.fields == [field], args
    with pytest.raises(InvalidInput) as caught:
        await people.assign_role(hub, w.staff, w.community.id, person.id + 999, "staff")
    assert caught.value.fields == ["person_id"]
    assert await table_counts() == before


async def test_assign_role_refused_for_others(hub):
    w = await World(hub).build()
    other = await other_community(w)
    other_staff = await w.person("外社区干部", community=other, roles=[Role.STAFF])
    person = await w.person("小刘")
    before = await table_counts()
    for actor in (other_staff, w.grid_worker, person):
        with pytest.raises(PermissionDenied):
            await people.assign_role(hub, actor, w.community.id, person.id, "staff")
    assert await table_counts() == before
    # An admin acts as staff of every community.
    await people.assign_role(hub, w.admin, other.id, person.id, "staff")
    assert (await load_actor(person.id)).is_staff(other.id)


# --- login ----------------------------------------------------------------------------------


async def test_authenticate(hub):
    w = await World(hub).build()
    phone = next_phone()
    person = await people.register(hub, person_data(w, phone=phone))
    assert (await people.authenticate(hub, phone, PASSWORD)).id == person.id
    spaced = f"+86 {phone[:3]} {phone[3:]}"
    assert (await people.authenticate(hub, spaced, PASSWORD)).id == person.id

    errors = []
    for login_phone, password in [
        (phone, PASSWORD + "x"),  # wrong password
        (next_phone(), PASSWORD),  # unknown phone
        ("010-12345678", PASSWORD),  # not even a mobile number
        (phone, ""),
    ]:
        with pytest.raises(NotAuthenticated) as caught:
            await people.authenticate(hub, login_phone, password)
        errors.append(caught.value)
    assert {e.code for e in errors} == {"invalid_credentials"}
    assert {e.kind for e in errors} == {"unauthenticated"}
    assert len({str(e) for e in errors}) == 1
    assert len({e.msgid for e in errors}) == 1
    assert all(e.details == () for e in errors)


# --- who sees a person -------------------------------------------------------------------------


async def test_who_sees_a_person(hub):
    w = await World(hub).build()
    other = await other_community(w)
    other_staff = await w.person("外社区干部", community=other, roles=[Role.STAFF])
    resident = await w.person("王奶奶")
    neighbour = await w.person("邻居")

    for viewer in (resident, w.staff, w.admin):
        assert people.can_see_person(viewer, resident.person)
        assert (await people.get_person(viewer, resident.id)).id == resident.id
    for viewer in (other_staff, neighbour):
        assert not people.can_see_person(viewer, resident.person)
        with pytest.raises(NotFound) as caught:
            await people.get_person(viewer, resident.id)
        assert caught.value.code == "person_not_found"
    # A person who does not exist looks the same as one you may not see.
    with pytest.raises(NotFound) as caught:
        await people.get_person(w.admin, resident.id + 999)
    assert caught.value.code == "person_not_found"


# --- the audit trail ---------------------------------------------------------------------------


async def test_audit_entry_is_written_in_the_change_transaction(hub):
    w = await World(hub).build()
    before = await table_counts()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with unit_of_work(hub, w.admin.id) as uow:
            community = await Community.create(name="短命社区")
            await uow.record(
                "community.created", community, community_id=community.id, after={"name": "x"}
            )
            assert await AuditEntry.filter(entity_id=community.id).exists()
            raise Boom
    # The row and its audit entry went together.
    assert await table_counts() == before
    assert not await Community.exists(name="短命社区")


async def test_audit_entries_are_append_only(hub):
    w = await World(hub).build()
    entry = await AuditEntry.filter(actor_id=w.admin.id).first()
    assert entry is not None
    entry.action = "tampered"
    with pytest.raises(Exception, match="append-only"):
        await entry.save()
    with pytest.raises(Exception, match="append-only"):
        await entry.delete()
    assert (await AuditEntry.get(id=entry.id)).action != "tampered"


async def test_audit_trail_records_who_did_what(hub):
    w = await World(hub).build()
    person = await w.person("小刘")
    await people.assign_role(hub, w.staff, w.community.id, person.id, "staff")
    rows = (
        await AuditEntry.all()
        .order_by("id")
        .values("actor_id", "action", "entity_type", "community_id")
    )
    assert rows[0] == {
        "actor_id": None,
        "action": "person.admin_created",
        "entity_type": "person",
        "community_id": None,
    }
    assert {
        "actor_id": w.admin.id,
        "action": "grid.created",
        "entity_type": "grid",
        "community_id": w.community.id,
    } in rows
    assert rows[-2] == {
        "actor_id": person.id,
        "action": "person.registered",
        "entity_type": "person",
        "community_id": w.community.id,
    }
    assert rows[-1] == {
        "actor_id": w.staff.id,
        "action": "role.assigned",
        "entity_type": "role_assignment",
        "community_id": w.community.id,
    }
    assert all(e["created_at"] == hub.now() for e in await AuditEntry.all().values("created_at"))


def test_id_number_helper_matches_the_constant():
    # The constant above is a real, valid number (guards against typos in the fixture data).
    assert id_number(date(1960, 5, 17), seq="019") == ID_WITH_X

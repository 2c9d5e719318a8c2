"""Domain events: services publish, subscribers listen inside the transaction, plugins after.

The in-transaction dispatch (``volunteer_hub.events``) on a real database, the one
direction between services and notifications, and the list of event names that the
``vh_domain_event`` docstring and every ``record(...)`` in the code are held to.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import volunteer_hub
from tests.factories import World
from volunteer_hub import hookspecs
from volunteer_hub.events import EVENT_NAMES, EventDispatch, PendingEvent
from volunteer_hub.hub import Hub
from volunteer_hub.models import AuditEntry, Community, Notification
from volunteer_hub.notifications.planner import BATCH_PLANS, PLANS
from volunteer_hub.services import wishes
from volunteer_hub.services.uow import unit_of_work

PACKAGE = Path(volunteer_hub.__file__).parent
ERRAND = {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"}


class Recorder:
    """A plugin that notes what ``vh_domain_event`` brings, and whether it had committed."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    @volunteer_hub.hookimpl
    async def vh_domain_event(self, event):
        self.seen.append((event.name, await Community.exists(id=event.entity_id)))


# --- the dispatch, on a real database -------------------------------------------------------


async def test_subscribers_write_in_the_transaction_and_plugins_hear_after_commit(hub):
    w = await World(hub).build()
    inside: list[tuple[str, bool]] = []

    async def subscriber(context: Hub, pending: PendingEvent) -> None:
        assert context is hub
        inside.append((pending.event.name, await Community.exists(id=pending.event.entity_id)))
        await AuditEntry.create(  # a row of its own, which must commit with the change
            community_id=pending.event.entity_id,
            action="community.updated",
            entity_type="community",
            entity_id=pending.event.entity_id,
            created_at=hub.now(),
        )

    hub.events.subscribe("community.created", subscriber)
    recorder = Recorder()
    hub.plugins.register(recorder, "test-recorder")
    try:
        async with unit_of_work(hub, w.admin.id) as uow:
            community = await Community.create(name="新社区")
            await uow.record("community.created", community, community_id=community.id)
            assert inside == []  # not yet: at the end of the change, before commit
            assert recorder.seen == []
    finally:
        hub.plugins.unregister("test-recorder")
    assert inside == [("community.created", True)]
    assert recorder.seen == [("community.created", True)]
    assert await AuditEntry.filter(entity_id=community.id, action="community.updated").exists()


async def test_a_failing_subscriber_undoes_the_change_and_plugins_hear_nothing(hub):
    w = await World(hub).build()
    wrote: list[int] = []

    async def writes(context: Hub, pending: PendingEvent) -> None:
        await AuditEntry.create(
            action="community.updated",
            entity_type="community",
            entity_id=pending.event.entity_id,
            created_at=hub.now(),
        )
        wrote.append(pending.event.entity_id)

    async def fails(context: Hub, pending: PendingEvent) -> None:
        raise RuntimeError("the disk is full")

    hub.events.subscribe("community.created", writes)
    hub.events.subscribe("community.created", fails)
    recorder = Recorder()
    hub.plugins.register(recorder, "test-recorder")
    before = await AuditEntry.all().count()
    try:
        with pytest.raises(RuntimeError):
            async with unit_of_work(hub, w.admin.id) as uow:
                community = await Community.create(name="短命社区")
                await uow.record("community.created", community, community_id=community.id)
    finally:
        hub.plugins.unregister("test-recorder")
    assert len(wrote) == 1  # the first subscriber ran, in order, and its row went too
    assert await AuditEntry.all().count() == before
    assert not await Community.exists(name="短命社区")
    assert recorder.seen == []


async def test_a_batch_subscriber_hears_each_run_of_one_event_at_once(hub):
    """``subscribe_batch``: consecutive events of one name come in one call, in order; the
    same events still reach a per-event subscriber one by one, and plugins one by one."""
    w = await World(hub).build()
    heard: list[tuple[str, object]] = []

    async def batch(context: Hub, run) -> None:
        heard.append(("batch", [p.event.data["name"] for p in run]))

    async def single(context: Hub, pending: PendingEvent) -> None:
        heard.append(("single", pending.event.data["name"]))

    hub.events.subscribe_batch("community.created", batch)
    hub.events.subscribe("community.created", single)
    recorder = Recorder()
    hub.plugins.register(recorder, "test-recorder")
    try:
        async with unit_of_work(hub, w.admin.id) as uow:
            for name in ("甲社区", "乙社区"):
                community = await Community.create(name=name)
                await uow.record(
                    "community.created", community, community_id=community.id, after={"name": name}
                )
            await uow.record(
                "community.updated", community, community_id=community.id, after={"name": "乙社区"}
            )
            community = await Community.create(name="丙社区")
            await uow.record(
                "community.created", community, community_id=community.id, after={"name": "丙社区"}
            )
    finally:
        hub.plugins.unregister("test-recorder")
    assert heard == [
        ("batch", ["甲社区", "乙社区"]),
        ("single", "甲社区"),
        ("single", "乙社区"),
        ("batch", ["丙社区"]),
        ("single", "丙社区"),
    ]
    assert [name for name, _ in recorder.seen] == [
        "community.created",
        "community.created",
        "community.updated",
        "community.created",
    ]


async def test_a_secret_goes_to_subscribers_only(hub):
    w = await World(hub).build()
    secrets_seen: list[object] = []
    published: list[str] = []

    async def subscriber(context: Hub, pending: PendingEvent) -> None:
        secrets_seen.append(dict(pending.secret))
        assert "s3cr3t-value" not in repr(pending)  # out of any log line that shows it

    class Listener:
        @volunteer_hub.hookimpl
        def vh_domain_event(self, event):
            published.append(repr(event))

    hub.events.subscribe("community.created", subscriber)
    hub.plugins.register(Listener(), "test-listener")
    try:
        async with unit_of_work(hub, w.admin.id) as uow:
            community = await Community.create(name="新社区")
            await uow.record(
                "community.created",
                community,
                community_id=community.id,
                after={"name": community.name},
                secret={"token": "s3cr3t-value"},
            )
    finally:
        hub.plugins.unregister("test-listener")
    assert secrets_seen == [{"token": "s3cr3t-value"}]
    assert len(published) == 1 and "s3cr3t-value" not in published[0]
    entry = await AuditEntry.get(entity_id=community.id, action="community.created")
    assert "s3cr3t-value" not in str(entry.after)


async def test_an_unknown_event_name_is_refused(hub):
    w = await World(hub).build()
    with pytest.raises(ValueError, match="community.renamed"):
        async with unit_of_work(hub, w.admin.id) as uow:
            community = await Community.create(name="新社区")
            await uow.record("community.renamed", community, community_id=community.id)
    assert not await Community.exists(name="新社区")
    with pytest.raises(ValueError):
        EventDispatch().subscribe("wish.teleported", lambda context, pending: None)


async def test_only_a_composed_hub_plans_notifications(hub):
    """``build_hub`` (the ``hub`` fixture) subscribes the notifications; ``Hub.create``
    alone plans none, and its changes go through all the same."""
    bare = Hub.create(hub.settings, clock=hub.clock)
    assert bare.events.subscribers("wish.approved") == []
    assert len(hub.events.subscribers("wish.approved")) == 1
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    for which, expected in ((bare, 0), (hub, 1)):
        wish = await wishes.post(which, resident, w.community.id, ERRAND)
        await wishes.review(which, w.staff, wish.id, {"decision": "approve"})
        notes = await Notification.filter(entity_type="wish", entity_id=wish.id).count()
        assert notes == expected, which is hub


# --- one direction, one list -----------------------------------------------------------------


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


ABOVE_SERVICES = ("volunteer_hub.notifications", "volunteer_hub.bootstrap", "volunteer_hub.web")
ABOVE_HUB = (*ABOVE_SERVICES, "volunteer_hub.services", "volunteer_hub.cli")


@pytest.mark.parametrize(
    "path",
    sorted((PACKAGE / "services").glob("*.py")),
    ids=lambda p: p.name,
)
def test_services_import_nothing_above_them(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path) if m.startswith(ABOVE_SERVICES))
    assert bad == [], f"{path.name} imports {bad}: publish an event instead"


@pytest.mark.parametrize("name", ["hub.py", "events.py"])
def test_the_hub_and_the_dispatch_import_nothing_above_them(name: str) -> None:
    bad = sorted(m for m in imported_modules(PACKAGE / name) if m.startswith(ABOVE_HUB))
    assert bad == []


def recorded_names() -> dict[str, list[str]]:
    """Each ``.record(name, ...)`` in the package: the name (a string, a module constant,
    or an f-string's fixed start followed by ``*``) → where."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and node.args
            ):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                name = arg.value
            elif isinstance(arg, ast.Name) and arg.id in constants:
                name = constants[arg.id]
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                name = f"{arg.values[0].value}*"
            else:  # passed through (``_transition(..., action)``): checked when called
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            found.setdefault(name, []).append(where)
    return found


def test_every_recorded_event_is_in_the_list() -> None:
    found = recorded_names()
    assert len(found) > 30  # the scan sees the services
    unknown = {
        name: where
        for name, where in found.items()
        if not (
            any(n.startswith(name[:-1]) for n in EVENT_NAMES)
            if name.endswith("*")
            else name in EVENT_NAMES
        )
    }
    assert unknown == {}, "add these to volunteer_hub.events.EVENT_NAMES and vh_domain_event"


def test_the_vh_domain_event_docstring_lists_exactly_the_events() -> None:
    doc = inspect.getdoc(hookspecs.vh_domain_event) or ""
    listed = re.findall(r"``([a-z0-9_]+\.[a-z0-9_]+)``", doc)
    assert len(listed) == len(set(listed)), "an event is listed twice"
    assert sorted(listed) == sorted(EVENT_NAMES)
    assert len(EVENT_NAMES) == len(set(EVENT_NAMES))


def test_every_plan_is_for_an_event_that_exists() -> None:
    assert sorted(set(PLANS) - set(EVENT_NAMES)) == []
    assert sorted(set(BATCH_PLANS) - set(EVENT_NAMES)) == []
    assert set(PLANS) & set(BATCH_PLANS) == set()  # one plan per event
